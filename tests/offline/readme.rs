//! The README's own examples, executed as written: the quick start's render, the `render`
//! section's command, the config file example and the multi-cluster example. Blocks are found
//! by the `<!-- readme-test: NAME -->` comment on the line before their fence, so editing the
//! prose around them never breaks this test, and editing a block is tested.

use crate::support::*;
use std::path::Path;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The fenced block after `<!-- readme-test: NAME -->`.
fn block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- readme-test: {name} -->");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README.md has no `{marker}`"))
        .1;
    let mut lines = after.lines().skip(1);
    let fence = lines.next().unwrap_or_default();
    assert!(
        fence.starts_with("```"),
        "`{marker}` is not followed by a fenced block: {fence}"
    );
    lines
        .take_while(|l| !l.starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The shell commands of a block: comments dropped, `\` continuations joined.
fn commands(block: &str) -> Vec<String> {
    block
        .replace("\\\n", " ")
        .lines()
        .map(|l| l.split(" #").next().unwrap_or_default().trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Runs `irsagen ARGS…` (the README's words, split on spaces) in `dir`; stdout on success.
fn run_in(dir: &Path, words: &[&str]) -> String {
    assert!(
        words.iter().all(|w| !w.contains(['"', '\'', '$', '`', '*'])),
        "the test splits on spaces only; quote-free commands keep it honest: {words:?}"
    );
    let o = irsagen().args(words).current_dir(dir).output().unwrap();
    assert!(o.status.success(), "{words:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn policies(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("iam"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const ALL: [&str; 3] = ["cluster-autoscaler", "ebs-csi-driver", "efs-csi-driver"];

#[test]
fn readme_quick_start_renders() {
    let cmds = commands(&block(&readme(), "quick-start"));
    let render = cmds
        .iter()
        .find_map(|c| c.strip_prefix("cargo run --release -- "))
        .expect("the quick start runs `cargo run --release -- render …`");
    // `cargo run --release --` runs the binary this suite was built with, with these words.
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), &render.split_whitespace().collect::<Vec<_>>());
    let out = dir.path().join("rendered");
    assert_eq!(policies(&out), ALL);
    assert!(out.join("eksctl/cluster-config.yaml").is_file());
    assert!(out.join("setup-irsa.sh").is_file());
    assert!(
        cmds.contains(&"cargo test".to_string()),
        "and says how to run the tests"
    );
}

#[test]
fn readme_render_section_command_renders() {
    let cmds = commands(&block(&readme(), "render"));
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    let words: Vec<&str> = cmds[0].split_whitespace().collect();
    assert_eq!(words[0], "irsagen");
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), &words[1..]);
    let out = dir.path().join("rendered");
    assert_eq!(policies(&out), ALL);
    let trust = std::fs::read_to_string(out.join("iam/cluster-autoscaler/trust-policy.json")).unwrap();
    assert!(trust.contains("oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"));
    let ca = std::fs::read_to_string(out.join("eksctl/cluster-config.yaml")).unwrap();
    assert!(
        ca.contains("Environment") && ca.contains("production"),
        "the --set tag reaches eksctl"
    );
}

/// Writes the block `config` as `irsagen.yaml` and runs every command of `command`.
fn config_example(config: &str, command: &str) -> tempfile::TempDir {
    let text = readme();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("irsagen.yaml"), block(&text, config)).unwrap();
    let cmds = commands(&block(&text, command));
    assert!(!cmds.is_empty());
    for c in cmds {
        let words: Vec<&str> = c.split_whitespace().collect();
        assert_eq!(words[0], "irsagen", "{c}");
        run_in(dir.path(), &words[1..]);
    }
    dir
}

#[test]
fn readme_config_file_example_renders() {
    let dir = config_example("config", "config-command");
    let out = dir.path().join("rendered");
    assert_eq!(
        policies(&out),
        ALL,
        "`ebs-csi-driver:` alone selects it with its defaults"
    );
    let helm = std::fs::read_to_string(out.join("helm/cluster-autoscaler-values.yaml")).unwrap();
    assert!(
        helm.contains("irsa-smallest-cluster-smallest-cluster-autoscaler"),
        "{helm}"
    );
    assert!(
        !out.join("kubernetes/cluster-autoscaler/serviceaccount.yaml").exists(),
        "serviceAccountCreatedBy: helm"
    );
    let eksctl = std::fs::read_to_string(out.join("eksctl/cluster-config.yaml")).unwrap();
    assert!(eksctl.contains("Application") && eksctl.contains("smallest-self-host"));
}

#[test]
fn readme_multi_cluster_example_renders_every_preset() {
    let dir = config_example("multi-cluster", "multi-cluster-command");
    let out = dir.path().join("rendered/smallest-staging");
    assert_eq!(
        policies(&out),
        ALL,
        "the entry's preset override does not drop the other presets"
    );
    let eksctl = std::fs::read_to_string(out.join("eksctl/cluster-config.yaml")).unwrap();
    assert!(eksctl.contains("eu-west-1"));
    assert!(eksctl.contains("arn:aws:iam::210987654321:role/irsa-smallest-staging-kube-system-ebs-csi-controller-sa"));
    assert!(eksctl.contains("irsa-smallest-staging-smallest-cluster-autoscaler"));

    // The example's other entries, as the prose describes them.
    let run = |cluster: &str| {
        let sub = format!("rendered/{cluster}");
        run_in(
            dir.path(),
            &[
                "render",
                "--config",
                "irsagen.yaml",
                "--cluster",
                cluster,
                "--out-dir",
                &sub,
            ],
        );
        policies(&dir.path().join(sub))
    };
    assert_eq!(run("smallest-dev"), ["ebs-csi-driver"], "replacePresets: true");
    assert_eq!(run("smallest-cluster"), ALL);
    assert!(
        dir.path()
            .join("rendered/smallest-cluster/iam/ebs-csi-driver/trust-policy.json")
            .is_file()
    );
}

/// The CI example that posts the change summary: valid YAML, and its irsagen command asks for
/// the Markdown summary of `--check` and tolerates only exit 1 (differences).
#[test]
fn ci_summary_example_is_a_workflow_running_check_markdown() {
    let text = block(&readme(), "ci-summary");
    let wf: serde_json::Value = serde_saphyr::from_str(&text).expect("the example is YAML");
    assert_eq!(wf["permissions"]["pull-requests"], "write");
    let steps = wf["jobs"]["summary"]["steps"].as_array().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    let render = runs
        .iter()
        .find(|r| r.contains("irsagen render"))
        .expect("a render step");
    assert!(
        render.contains("--check -o markdown") && render.contains("--out-dir"),
        "{render}"
    );
    assert!(render.contains("[ \"$status\" -le 1 ]"), "{render}");
    assert!(
        runs.iter()
            .any(|r| r.contains("gh pr comment") && r.contains("--body-file summary.md"))
    );
}

#[test]
fn readme_fleet_example_renders_every_cluster_and_checks_clean() {
    let dir = config_example("multi-cluster", "fleet-command");
    for c in ["smallest-cluster", "smallest-staging", "smallest-dev"] {
        assert!(
            dir.path()
                .join("rendered")
                .join(c)
                .join(".irsagen-manifest.json")
                .is_file(),
            "{c}"
        );
    }
    assert_eq!(policies(&dir.path().join("rendered/smallest-dev")), ["ebs-csi-driver"]);
}

/// The migration example: both renders, in order, into one folder; each a complete bundle.
#[test]
fn readme_migration_example_renders_both_stages() {
    let cmds = commands(&block(&readme(), "migration"));
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    let dir = tempfile::tempdir().unwrap();
    for (cmd, pod_identity_only) in cmds.iter().zip([false, true]) {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        assert_eq!(words[0], "irsagen");
        run_in(dir.path(), &words[1..]);
        let trust = std::fs::read_to_string(dir.path().join("rendered/iam/ebs-csi-driver/trust-policy.json")).unwrap();
        assert!(trust.contains("pods.eks.amazonaws.com"), "{trust}");
        assert_eq!(
            !trust.contains("AssumeRoleWithWebIdentity"),
            pod_identity_only,
            "{trust}"
        );
    }
}

/// The catalogue table under "Presets" is the one `irsagen presets --markdown` writes from the
/// built-in presets. Regenerate it with that command (there is deliberately no env var that
/// makes this test rewrite the README).
#[test]
fn readme_presets_table_matches_the_catalogue() {
    let expected = irsagen::preset_listing::markdown_table(&irsagen::preset::Catalog::embedded().unwrap());
    let text = readme();
    let Some(actual) = irsagen::preset_listing::table_in(&text) else {
        panic!(
            "README.md has no `{}` … `{}` section; add one holding:\n{expected}",
            irsagen::preset_listing::TABLE_START,
            irsagen::preset_listing::TABLE_END
        );
    };
    assert!(
        actual == expected,
        "README.md's presets table is stale; replace it (between the markers) with the output of \
         `cargo run -- presets --markdown`:\n{expected}"
    );
    // And the CLI prints that same table.
    let o = irsagen().args(["presets", "--markdown"]).output().unwrap();
    assert!(o.status.success());
    assert_eq!(String::from_utf8(o.stdout).unwrap(), expected);
}

#[test]
fn readme_shared_trust_example_renders_one_role_for_both_clusters() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("irsagen.yaml"), block(&readme(), "shared-trust")).unwrap();
    run_in(
        t.path(),
        &["render", "--config", "irsagen.yaml", "--all", "--out-dir", "out"],
    );
    let trust = |c: &str| {
        std::fs::read_to_string(t.path().join(format!("out/{c}/iam/ebs-csi-driver/trust-policy.json"))).unwrap()
    };
    assert_eq!(trust("blue"), trust("green"));
    let v: serde_json::Value = serde_json::from_str(&trust("blue")).unwrap();
    assert_eq!(v["Statement"].as_array().unwrap().len(), 2);
}

#[test]
fn readme_ack_example_renders_ack_resources() {
    let cmds = commands(&block(&readme(), "ack"));
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert!(cmds[1].starts_with("kubectl apply -f rendered/ack/"), "{cmds:?}");
    let t = tempfile::tempdir().unwrap();
    let words: Vec<&str> = cmds[0].split_whitespace().skip(1).collect();
    run_in(t.path(), &words);
    for p in ["role", "policy"] {
        let f = t.path().join(format!("rendered/ack/ebs-csi-driver/{p}.yaml"));
        assert!(f.is_file(), "{}", f.display());
    }
    assert!(!t.path().join("rendered/setup-irsa.sh").exists());
}
