//! Shared helpers: the guide's cluster, rendering through the library, and the CLI binary.

use irsagen::bundle::Bundle;
use irsagen::context::{ClusterInputs, Context};
use irsagen::identity::IdentityMode;
use irsagen::overrides::PresetOverrides;
use irsagen::render::Renderer;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The issuer used throughout the tests (AWS's documented example id).
pub const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

/// The guide's cluster: smallest-cluster in us-east-1, an example account, issuer known.
pub fn guide_inputs() -> ClusterInputs {
    ClusterInputs {
        cluster: Some("smallest-cluster".into()),
        region: Some("us-east-1".into()),
        account: Some("123456789012".into()),
        partition: None,
        oidc_issuer: Some(ISSUER.into()),
        tags: Default::default(),
        kubernetes_version: None,
    }
}

/// The guide's three presets, no overrides.
pub fn guide_selection() -> Vec<(String, PresetOverrides)> {
    irsagen::preset::DEFAULT_PRESETS
        .iter()
        .map(|p| (p.to_string(), PresetOverrides::default()))
        .collect()
}

/// Renders through the library.
pub fn render(inputs: &ClusterInputs, selection: &[(String, PresetOverrides)]) -> irsagen::Result<Bundle> {
    let ctx = Context::new(inputs)?;
    Renderer::new(None, None)?.render(&ctx, selection)
}

/// The guide bundle.
pub fn guide_bundle() -> Bundle {
    render(&guide_inputs(), &guide_selection()).expect("the guide bundle renders")
}

/// The `irsagen` binary, with a clean environment for AWS variables.
pub fn irsagen() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_irsagen"));
    for v in ["AWS_PROFILE", "AWS_ENDPOINT_URL", "KUBECONFIG"] {
        c.env_remove(v);
    }
    c
}

/// Flags for the guide's cluster.
pub const GUIDE_ARGS: [&str; 8] = [
    "--cluster",
    "smallest-cluster",
    "--region",
    "us-east-1",
    "--account",
    "123456789012",
    "--oidc-issuer",
    ISSUER,
];

/// `render` with the guide's flags plus `extra`.
pub fn render_cmd(extra: &[&str]) -> Command {
    let mut c = irsagen();
    c.arg("render").args(GUIDE_ARGS).args(extra);
    c
}

/// insta settings: snapshots in the top-level snapshots/ folder, no module prefix.
pub fn insta_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

/// Every file below `dir` with its bytes, sorted: to prove a failed run changed nothing.
pub fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Path to a fixture file.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// Git's id of a file's bytes (`git hash-object`): SHA-1 of `blob <len>\0<bytes>`.
pub fn git_blob_id(bytes: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The identity modes a preset is rendered in by the catalogue tests and snapshots: IRSA always;
/// Pod Identity and both where the preset declares `mechanisms.podIdentity`. The guide's presets
/// declare no mechanisms and keep rendering in every mode, as they did before the catalogue.
pub fn supported_modes(p: &irsagen::preset::Preset) -> Vec<IdentityMode> {
    use irsagen::identity::Mechanism;
    if p.mechanisms.is_none() || p.supports(Mechanism::PodIdentity) {
        vec![IdentityMode::Irsa, IdentityMode::PodIdentity, IdentityMode::Both]
    } else {
        vec![IdentityMode::Irsa]
    }
}

/// Overrides that render preset `p` in `mode`: each REQUIRED parameter set to its declared
/// example (the value `irsagen presets show` prints), optional ones left unset, so the output is
/// upstream's document with only what the preset cannot render without.
pub fn example_overrides(p: &irsagen::preset::Preset, mode: IdentityMode) -> PresetOverrides {
    let parameters = p
        .parameters
        .iter()
        .filter(|(_, d)| d.required)
        .map(|(k, d)| (k.clone(), irsagen::parameters::ParamValue::One(d.example.clone())))
        .collect();
    PresetOverrides {
        identity_mode: (mode != IdentityMode::Irsa).then_some(mode),
        parameters,
        ..Default::default()
    }
}
