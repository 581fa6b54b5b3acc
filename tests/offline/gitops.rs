//! GitOps outputs: `render --kubernetes-only` (the stream the Argo CD plugin emits), the plugin
//! definition run exactly as written, the repo-server sidecar patch, and the pre-commit hook
//! definition (the hook itself runs under the real pre-commit tool in scripts/pre-commit-peer).

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn yaml(rel: &str) -> Value {
    let text = std::fs::read_to_string(repo_file(rel)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn stream(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("not a YAML stream: {e}\n{text}"))
}

/// (kind, namespace/name) of every object of a stream.
fn objects(docs: &[Value]) -> Vec<(String, String)> {
    docs.iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or_default().to_string(),
                format!(
                    "{}/{}",
                    d["metadata"]["namespace"].as_str().unwrap_or_default(),
                    d["metadata"]["name"].as_str().unwrap_or_default()
                ),
            )
        })
        .collect()
}

#[test]
fn kubernetes_only_is_exactly_the_service_accounts() {
    let o = render_cmd(&["--kubernetes-only"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let docs = stream(&text);
    assert_eq!(
        objects(&docs),
        [
            ("ServiceAccount".into(), "kube-system/cluster-autoscaler".into()),
            ("ServiceAccount".into(), "kube-system/ebs-csi-controller-sa".into()),
            ("ServiceAccount".into(), "kube-system/efs-csi-controller-sa".into()),
        ]
    );
    // The same documents as the rendered files, byte for byte, one per `---`.
    let bundle = guide_bundle();
    let want: String = bundle
        .of_kind(irsagen::bundle::ArtifactKind::ServiceAccount)
        .map(|a| format!("---\n{}", a.content))
        .collect();
    assert_eq!(text, want);
    for d in &docs {
        assert!(
            d["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
                .as_str()
                .is_some_and(|a| a.starts_with("arn:aws:iam::123456789012:role/")),
            "{d}"
        );
    }
}

#[test]
fn kubernetes_only_of_one_preset_and_not_with_out_dir() {
    let o = render_cmd(&["--kubernetes-only", "--preset", "ebs-csi-driver"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let docs = stream(&String::from_utf8(o.stdout).unwrap());
    assert_eq!(
        objects(&docs),
        [("ServiceAccount".into(), "kube-system/ebs-csi-controller-sa".into())]
    );
    let t = tempfile::tempdir().unwrap();
    let o = render_cmd(&["--kubernetes-only", "--out-dir", t.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--out-dir"));
}

const CONFIG: &str = "cluster: smallest-cluster
region: us-east-1
account: \"123456789012\"
oidcIssuer: https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
presets: {cluster-autoscaler: {}, efs-csi-driver: {}}
";

/// Runs the plugin's generate command as written in plugin.yaml, in `dir`, with the built
/// irsagen first on PATH, and the Application's plugin env as Argo CD passes it.
fn run_generate(dir: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let plugin = yaml("deploy/argocd/plugin.yaml");
    let generate = &plugin["spec"]["generate"];
    let command: Vec<&str> = generate["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let args: Vec<&str> = generate["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_irsagen")).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut c = std::process::Command::new(command[0]);
    c.args(&command[1..])
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("AWS_PROFILE");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn argocd_plugin_generate_command_runs_as_written() {
    let plugin = yaml("deploy/argocd/plugin.yaml");
    assert_eq!(plugin["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(plugin["kind"], "ConfigManagementPlugin");
    assert_eq!(plugin["metadata"]["name"], "irsagen");
    assert_eq!(plugin["spec"]["discover"]["fileName"], "./irsagen.yaml");

    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("irsagen.yaml"), CONFIG).unwrap();
    let o = run_generate(t.path(), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        objects(&stream(&text)),
        [
            ("ServiceAccount".into(), "kube-system/cluster-autoscaler".into()),
            ("ServiceAccount".into(), "kube-system/efs-csi-controller-sa".into()),
        ]
    );
    // The same stream as the CLI gives for the config.
    let direct = irsagen()
        .current_dir(t.path())
        .args(["render", "--config", "irsagen.yaml", "--kubernetes-only"])
        .output()
        .unwrap();
    assert_eq!(text.as_bytes(), direct.stdout);
    assert!(
        std::fs::read_dir(t.path()).unwrap().count() == 1,
        "generate writes nothing into the Application's folder"
    );
}

#[test]
fn argocd_plugin_env_picks_the_config_file_and_the_cluster() {
    let t = tempfile::tempdir().unwrap();
    let two = "region: us-east-1
account: \"123456789012\"
presets: {ebs-csi-driver: {}}
clusters:
  blue: {}
  green: {}
";
    std::fs::write(t.path().join("fleet.yaml"), two).unwrap();
    let o = run_generate(
        t.path(),
        &[
            ("ARGOCD_ENV_IRSAGEN_CONFIG", "fleet.yaml"),
            ("ARGOCD_ENV_IRSAGEN_CLUSTER", "green"),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("role/irsa-green-kube-system-ebs-csi-controller-sa"),
        "{text}"
    );
    // Without a config file the render fails, and Argo CD shows the message.
    let empty = tempfile::tempdir().unwrap();
    let o = run_generate(empty.path(), &[]);
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty());
}

#[test]
fn argocd_sidecar_patch_mounts_the_plugin_where_cmp_server_reads_it() {
    let patch = yaml("deploy/argocd/repo-server-patch.yaml");
    assert_eq!(patch["kind"], "Deployment");
    assert_eq!(patch["metadata"]["name"], "argocd-repo-server");
    let spec = &patch["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    assert_eq!(c["command"][0], "/var/run/argocd/argocd-cmp-server");
    let mounts: Vec<(&str, &str)> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["mountPath"].as_str().unwrap()))
        .collect();
    for want in [
        ("var-files", "/var/run/argocd"),
        ("plugins", "/home/argocd/cmp-server/plugins"),
        ("irsagen-plugin", "/home/argocd/cmp-server/config/plugin.yaml"),
    ] {
        assert!(mounts.contains(&want), "{want:?} not in {mounts:?}");
    }
    // The ConfigMap volume is the one the README's `kubectl create configmap` makes.
    let volumes = spec["volumes"].as_array().unwrap();
    let cm = volumes.iter().find(|v| v["name"] == "irsagen-plugin").unwrap();
    assert_eq!(cm["configMap"]["name"], "irsagen-plugin");
    let readme = std::fs::read_to_string(repo_file("README.md")).unwrap();
    assert!(
        readme.contains(
            "kubectl -n argocd create configmap irsagen-plugin --from-file=plugin.yaml=deploy/argocd/plugin.yaml"
        ),
        "README shows how to install the plugin"
    );
}

#[test]
fn pre_commit_hook_runs_render_check_with_its_documented_args() {
    let hooks = yaml(".pre-commit-hooks.yaml");
    let hooks = hooks.as_array().unwrap();
    assert_eq!(hooks.len(), 1);
    let h = &hooks[0];
    assert_eq!(h["id"], "irsagen-check");
    assert_eq!(h["entry"], "irsagen render --check");
    assert_eq!(h["language"], "system");
    assert_eq!(h["pass_filenames"], false);
    let args: Vec<&str> = h["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(args, ["--config", "irsagen.yaml", "--out-dir", "rendered"]);
    // entry + args is a command the CLI accepts: in a folder in sync it exits 0.
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("irsagen.yaml"), CONFIG).unwrap();
    let run = |extra: &[&str]| {
        irsagen()
            .current_dir(t.path())
            .args(["render", "--config", "irsagen.yaml", "--out-dir", "rendered"])
            .args(extra)
            .output()
            .unwrap()
    };
    assert!(run(&[]).status.success());
    let mut cmd: Vec<&str> = h["entry"].as_str().unwrap().split(' ').skip(1).collect();
    cmd.extend(&args);
    let o = irsagen().current_dir(t.path()).args(&cmd).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}
