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

/// Runs `prog args… file` when `prog` is installed: `Some(passed)`, else `None`.
fn syntax_check(prog: &str, args: &[&str], file: &std::path::Path) -> Option<bool> {
    let o = std::process::Command::new(prog).args(args).arg(file).output().ok()?;
    assert!(
        o.status.success(),
        "{prog} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some(true)
}

#[test]
fn completions_are_valid_scripts_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _irsagen"),
        ("zsh", "#compdef irsagen"),
        ("fish", "complete -c irsagen"),
        ("elvish", "set edit:completion:arg-completer[irsagen]"),
        (
            "powershell",
            "Register-ArgumentCompleter -Native -CommandName 'irsagen'",
        ),
    ] {
        let o = irsagen().args(["completions", shell]).output().unwrap();
        assert!(o.status.success(), "{shell}");
        let script = String::from_utf8(o.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: `{marker}` missing");
        // Every subcommand and a few of render's flags are offered.
        for word in [
            "render",
            "presets",
            "schema",
            "whoami",
            "apply",
            "verify",
            "completions",
            "out-dir",
            "oidc-issuer",
        ] {
            assert!(script.contains(word), "{shell}: `{word}` missing");
        }
        let file = dir.path().join(format!("irsagen.{shell}"));
        std::fs::write(&file, &script).unwrap();
        let checked = match shell {
            // bash is always there (the setup script's tests need it too): a hard check.
            "bash" => Some(syntax_check("bash", &["-n"], &file).expect("bash is installed")),
            "zsh" => syntax_check("zsh", &["-n"], &file),
            "fish" => syntax_check("fish", &["--no-execute"], &file),
            _ => None,
        };
        assert!(checked.unwrap_or(true));
    }
}

#[test]
fn bad_input_is_refused_before_any_call() {
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
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid --account `1`"));
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
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "auto values are resolved only after offline validation"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid --cluster `bad name`"));
}

#[test]
fn with_output_json_errors_are_json_too() {
    for (bad, want) in [
        (["--account", "1"], "invalid --account `1`"),
        (["--cluster", "a\u{1b}b"], "invalid --cluster `a\\u{1b}b`"),
    ] {
        let o = irsagen()
            .args([
                "verify",
                "--aws",
                "-o",
                "json",
                "--cluster",
                "c",
                "--region",
                "us-east-1",
                "--account",
                "123456789012",
            ])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
        assert_eq!(v["exitCode"], 2);
        assert!(v["error"].as_str().unwrap().starts_with(want), "{v}");
        assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // Text stays text.
    let o = irsagen()
        .args([
            "verify",
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
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("error: invalid --account `1`"));
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
        s.contains("==== iam/ebs-csi-driver/policy.json"),
        "the entry's presets are added to the top-level ones"
    );
    assert!(!s.contains("==== iam/efs-csi-driver"), "only what either level selects");

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

/// Renders `config` for `cluster`, returning the preset names and the stream.
fn render_config(config: &str, cluster: &str) -> (Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irsagen.yaml");
    std::fs::write(&cfg, config).unwrap();
    let o = irsagen()
        .args(["render", "--config", cfg.to_str().unwrap(), "--cluster", cluster])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8(o.stdout).unwrap();
    let presets = s
        .lines()
        .filter_map(|l| l.strip_prefix("==== iam/")?.strip_suffix("/policy.json ===="))
        .map(str::to_string)
        .collect();
    (presets, s)
}

#[test]
fn cluster_entries_add_presets_or_replace_them_explicitly() {
    let base = "account: \"123456789012\"\npresets: {cluster-autoscaler: {tags: {Team: platform}}, ebs-csi-driver: {}, efs-csi-driver: {}}\nclusters:\n";
    let all = ["cluster-autoscaler", "ebs-csi-driver", "efs-csi-driver"];

    // The README's case: an entry that overrides one preset keeps the other two.
    let (p, s) = render_config(
        &format!(
            "{base}  staging:\n    region: eu-west-1\n    presets: {{cluster-autoscaler: {{releaseNamespace: smallest}}}}\n"
        ),
        "staging",
    );
    assert_eq!(p, all);
    assert!(
        s.contains("role/irsa-staging-smallest-cluster-autoscaler"),
        "the entry's override"
    );
    assert!(s.contains("\"Team\": \"platform\""), "over the top-level one");

    // An entry can add a preset the top level does not select.
    let (p, _) = render_config(
        "presets: {ebs-csi-driver: {}}\nclusters:\n  c: {region: us-east-1, account: \"123456789012\", presets: {efs-csi-driver: {}}}\n",
        "c",
    );
    assert_eq!(p, ["ebs-csi-driver", "efs-csi-driver"]);

    // replacePresets: the entry's map is the whole selection; top-level overrides still apply.
    let (p, s) = render_config(
        &format!(
            "{base}  small:\n    region: us-east-1\n    replacePresets: true\n    presets: {{cluster-autoscaler: {{}}}}\n"
        ),
        "small",
    );
    assert_eq!(p, ["cluster-autoscaler"]);
    assert!(s.contains("\"Team\": \"platform\""));

    // replacePresets without presets, and replacing with nothing, are refused.
    for (entry, want) in [
        (
            "{region: us-east-1, replacePresets: true}",
            "invalid clusters.x.replacePresets `true`",
        ),
        (
            "{region: us-east-1, replacePresets: true, presets: {}}",
            "no presets selected",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("irsagen.yaml");
        std::fs::write(&cfg, format!("{base}  x: {entry}\n")).unwrap();
        let o = irsagen()
            .args(["render", "--config", cfg.to_str().unwrap(), "--cluster", "x"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(want),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn a_preset_without_overrides_may_be_written_bare() {
    let (p, bare) = render_config(
        "region: us-east-1\naccount: \"123456789012\"\npresets:\n  ebs-csi-driver:\n  efs-csi-driver: ~\n",
        "c",
    );
    assert_eq!(p, ["ebs-csi-driver", "efs-csi-driver"]);
    let (_, braces) = render_config(
        "region: us-east-1\naccount: \"123456789012\"\npresets:\n  ebs-csi-driver: {}\n  efs-csi-driver: {}\n",
        "c",
    );
    assert_eq!(bare, braces, "`name:` means the same as `name: {{}}`");
    // The schema says so too, so editors accept it.
    let o = irsagen().arg("schema").output().unwrap();
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    assert!(v.is_valid(&serde_json::json!({"presets": {"ebs-csi-driver": null}})));
    assert!(v.is_valid(
        &serde_json::json!({"clusters": {"c": {"replacePresets": true, "presets": {"ebs-csi-driver": null}}}})
    ));
    assert!(!v.is_valid(&serde_json::json!({"presets": {"ebs-csi-driver": 1}})));
}

#[test]
fn several_clusters_without_a_choice_say_how_to_choose() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irsagen.yaml");
    std::fs::write(&cfg, "clusters: {a: {}, b: {}}\n").unwrap();
    let o = irsagen()
        .args(["render", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: --cluster is required: the config file holds several clusters (a, b); pass --cluster NAME or set `cluster:` in irsagen.yaml"),
        "{err}"
    );
}
