//! The CLI surface, snapshotted: help, presets, schema, exit codes.

use crate::support::*;
use insta_cmd::assert_cmd_snapshot;

#[test]
fn help_texts() {
    insta_settings().bind(|| {
        assert_cmd_snapshot!("cli_help", irsagen().arg("--help"));
        assert_cmd_snapshot!("cli_render_help", irsagen().args(["render", "--help"]));
        assert_cmd_snapshot!("cli_apply_help", irsagen().args(["apply", "--help"]));
        assert_cmd_snapshot!("cli_verify_help", irsagen().args(["verify", "--help"]));
    });
}

#[test]
fn presets_list_and_show() {
    insta_settings().bind(|| {
        assert_cmd_snapshot!("cli_presets", irsagen().arg("presets"));
        assert_cmd_snapshot!(
            "cli_presets_show_cluster_autoscaler",
            irsagen().args(["presets", "show", "cluster-autoscaler"])
        );
        assert_cmd_snapshot!("cli_presets_show_unknown", irsagen().args(["presets", "show", "nope"]));
    });
}

#[test]
fn schema_is_json_and_rejects_unknown_keys() {
    let o = irsagen().arg("schema").output().unwrap();
    assert!(o.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    let v = jsonschema::validator_for(&schema).unwrap();
    assert!(v.is_valid(&serde_json::json!({"cluster": "c", "presets": {"cluster-autoscaler": {"namespace": "x"}}})));
    assert!(!v.is_valid(&serde_json::json!({"clustr": "c"})));
    assert!(!v.is_valid(&serde_json::json!({"presets": {"cluster-autoscaler": {"namespac": "x"}}})));
}

#[test]
fn config_file_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irsagen.yaml");
    std::fs::write(
        &cfg,
        "cluster: from-file\nregion: us-east-1\naccount: \"012345678901\"\ntags:\n  Environment: production\npresets:\n  cluster-autoscaler:\n    namespace: smallest\n  ebs-csi-driver: {}\n",
    )
    .unwrap();
    let o = irsagen()
        .args(["render", "--config", cfg.to_str().unwrap(), "--cluster", "from-flag"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8(o.stdout).unwrap();
    assert!(
        s.contains("irsa-from-flag-smallest-cluster-autoscaler"),
        "flag wins over file"
    );
    assert!(
        s.contains("arn:aws:iam::012345678901:"),
        "quoted account keeps its leading zero"
    );
    assert!(s.contains("\"Environment\": \"production\""));
    assert!(s.contains("==== iam/ebs-csi-driver/policy.json"));
    assert!(
        !s.contains("==== iam/efs-csi-driver/policy.json"),
        "the file's presets map selects presets"
    );
}

#[test]
fn missing_required_inputs() {
    insta_settings().bind(|| {
        assert_cmd_snapshot!(
            "cli_missing_account",
            irsagen().args(["render", "--cluster", "c", "--region", "us-east-1"])
        );
    });
}

#[test]
fn completions_are_generated() {
    let o = irsagen().args(["completions", "bash"]).output().unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("irsagen"));
}

#[test]
fn apply_without_confirmation_and_without_a_terminal_is_refused_before_any_call() {
    // Bad input is refused before any network use: exit 2, not an AWS error.
    let o = irsagen()
        .args([
            "apply",
            "--aws",
            "--cluster",
            "c",
            "--region",
            "us-east-1",
            "--account",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = irsagen()
        .args([
            "render",
            "--cluster",
            "bad name",
            "--region",
            "us-east-1",
            "--account",
            "auto",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "auto values are resolved only after offline validation"
    );
}

#[test]
fn several_clusters_in_one_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irsagen.yaml");
    std::fs::write(
        &cfg,
        r#"account: "111111111111"
tags: {Application: smallest-self-host}
presets:
  cluster-autoscaler: {tags: {Team: platform}}
  ebs-csi-driver: {}
clusters:
  prod:
    region: us-east-1
  staging:
    region: eu-west-1
    account: "222222222222"
    tags: {Environment: staging}
    presets:
      cluster-autoscaler: {namespace: smallest}
"#,
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let run = |extra: &[&str]| {
        irsagen()
            .args(["render", "--config", cfg])
            .args(extra)
            .output()
            .unwrap()
    };

    let o = run(&["--cluster", "staging"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8(o.stdout).unwrap();
    assert!(s.contains("region: \"eu-west-1\""), "the entry's region");
    assert!(
        s.contains("arn:aws:iam::222222222222:role/irsa-staging-smallest-cluster-autoscaler"),
        "entry account and preset override"
    );
    assert!(
        s.contains("\"Team\": \"platform\""),
        "top-level preset overrides merge under the entry's"
    );
    assert!(s.contains("\"Environment\": \"staging\"") && s.contains("\"Application\": \"smallest-self-host\""));
    assert!(
        !s.contains("==== iam/ebs-csi-driver"),
        "the entry's presets map selects the presets"
    );

    let s = String::from_utf8(run(&["--cluster", "prod"]).stdout).unwrap();
    assert!(s.contains("arn:aws:iam::111111111111:role/irsa-prod-kube-system-cluster-autoscaler"));
    assert!(
        s.contains("==== iam/ebs-csi-driver/policy.json"),
        "without its own presets the top-level selection applies"
    );

    for (extra, want) in [
        (&[][..], "several clusters (prod, staging)"),
        (
            &["--cluster", "dev"][..],
            "`dev`: is not in the config file's clusters (prod, staging)",
        ),
    ] {
        let o = run(extra);
        assert_eq!(o.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(want),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
