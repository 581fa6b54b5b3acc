//! The rendered setup script: valid bash, shellcheck-clean in every variant, every policy read
//! from its file, an honest header, tools checked before anything runs, and the EFS driver's
//! install source (a snapshot per variant).

use crate::support::*;
use irsagen::overrides::PresetOverrides;
use std::path::Path;
use std::process::Command;

fn script_path(extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    // `output()`, not `status()`: the child's "wrote …" lines stay out of the test log.
    let o = render_cmd(&["--out-dir", out.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (t, out.join("setup-irsa.sh"))
}

fn efs_with(source: &str) -> irsagen::bundle::Bundle {
    let o = PresetOverrides {
        install_source: Some(source.into()),
        ..Default::default()
    };
    render(&guide_inputs(), &[("efs-csi-driver".into(), o)]).unwrap()
}

fn shellcheck(p: &Path) {
    match Command::new("shellcheck").arg("--version").output() {
        Ok(_) => {}
        // CI installs shellcheck (.ci/run), so there its absence is a failure, not a skip.
        Err(_) if std::env::var_os("CI").is_some() => panic!("shellcheck is not installed"),
        Err(_) => {
            eprintln!("SKIPPED: shellcheck not installed (apt-get install shellcheck); CI runs this check");
            return;
        }
    }
    let o = Command::new("shellcheck")
        .arg("-s")
        .arg("bash")
        .arg(p)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}: {}",
        p.display(),
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn parses_as_bash() {
    let (_t, p) = script_path(&[]);
    let o = Command::new("bash").arg("-n").arg(&p).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn is_shellcheck_clean_in_every_variant() {
    for extra in [
        &[][..],
        &["--set", "efs-csi-driver.installSource=ref:release-2.1"],
        &["--set", "efs-csi-driver.installSource=path:./efs overlay"],
        &["--set", "efs-csi-driver.installSource=addon"],
        &[
            "--set",
            "cluster-autoscaler.serviceAccountCreatedBy=helm",
            "--set",
            "cluster-autoscaler.chartLayout=standalone",
        ],
        &["--mode", "pod-identity"],
        &["--mode", "both"],
        &[
            "--mode",
            "pod-identity",
            "--set",
            "efs-csi-driver.installSource=addon",
            "--set",
            "cluster-autoscaler.podIdentityTrust=unscoped",
            "--set",
            "cluster-autoscaler.disableSessionTags=true",
        ],
    ] {
        let (_t, p) = script_path(extra);
        shellcheck(&p);
    }
}

#[test]
fn no_second_copy_of_any_document() {
    let b = guide_bundle();
    let script = &b.get("setup-irsa.sh").unwrap().content;
    assert!(
        !script.contains("\"Statement\""),
        "the script must read policies from the rendered files"
    );
    for c in &b.components {
        assert!(script.contains(&format!("iam/{}/policy.json", c.preset)));
    }
    assert!(script.starts_with("#!/usr/bin/env bash\n"));
    assert!(script.contains("set -euo pipefail"));
}

#[test]
fn header_lists_every_requirement_and_who_builds_the_trust_policies() {
    let b = guide_bundle();
    let script = &b.get("setup-irsa.sh").unwrap().content;
    let header: String = script
        .lines()
        .take_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "aws (CLI v1 or v2), eksctl, kubectl",
        "jq",
        "network access to the cluster's OIDC issuer",
        "git and network access to github.com (efs-csi-driver",
        "trust policies are built by eksctl",
        "equivalent to iam/<preset>/trust-policy.json",
        "managed-by=eksctl",
        "--check",
        "umbrella chart",
        "chartLayout=standalone",
    ] {
        assert!(header.contains(needle), "header lacks `{needle}`:\n{header}");
    }
    // Each tool is checked before anything runs.
    for tool in ["aws", "eksctl", "kubectl", "jq", "git"] {
        assert!(script.contains(&format!("\nneed {tool} ")), "no check for {tool}");
    }
    // Without a GitHub overlay, git is neither listed nor checked.
    for source in ["path:./overlay", "addon"] {
        let s = efs_with(source).get("setup-irsa.sh").unwrap().content.clone();
        assert!(!s.contains("github.com"), "{source}: {s}");
        assert!(!s.contains("\nneed git "), "{source}");
    }
    // A standalone chart needs no umbrella warning.
    let o = PresetOverrides {
        chart_layout: Some(irsagen::overrides::ChartLayout::Standalone),
        ..Default::default()
    };
    let b = render(&guide_inputs(), &[("cluster-autoscaler".into(), o)]).unwrap();
    assert!(!b.get("setup-irsa.sh").unwrap().content.contains("umbrella"));
    assert!(!b.get("README.md").unwrap().content.contains("umbrella chart"));
}

/// A PATH with `dirname` only (the script's first line needs it): every missing tool is named,
/// the script stops with status 1, and nothing after the checks runs.
#[test]
fn missing_tools_are_named_before_anything_runs() {
    let (t, p) = script_path(&[]);
    let bin = t.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let dirname = Command::new("bash")
        .args(["-c", "command -v dirname"])
        .output()
        .unwrap();
    let dirname = String::from_utf8(dirname.stdout).unwrap();
    std::os::unix::fs::symlink(dirname.trim(), bin.join("dirname")).unwrap();
    let bash = Command::new("bash").args(["-c", "command -v bash"]).output().unwrap();
    let o = Command::new(String::from_utf8(bash.stdout).unwrap().trim())
        .arg(&p)
        .env_clear()
        .env("PATH", &bin)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for tool in ["aws", "eksctl", "kubectl", "jq", "git"] {
        assert!(
            err.contains(&format!("error: '{tool}' is not installed or not on PATH")),
            "{err}"
        );
    }
    assert!(!err.contains("command not found"), "nothing past the checks ran: {err}");
    assert!(o.stdout.is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn an_unknown_argument_is_a_usage_error() {
    let (_t, p) = script_path(&[]);
    let o = Command::new("bash").arg(&p).arg("--bogus").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("usage:"));
}

#[test]
fn eksctl_roles_are_tagged_managed_by_eksctl() {
    let b = guide_bundle();
    let cfg = &b.get("eksctl/cluster-config.yaml").unwrap().content;
    assert_eq!(cfg.matches("managed-by: eksctl").count(), 3, "{cfg}");
    assert!(!cfg.contains("managed-by: irsagen"), "{cfg}");
    let script = &b.get("setup-irsa.sh").unwrap().content;
    let tag_flags: Vec<&str> = script
        .lines()
        .filter(|l| l.trim_start().starts_with("--tags="))
        .collect();
    assert_eq!(tag_flags.len(), 3, "{script}");
    assert!(
        tag_flags.iter().all(|l| l.contains("managed-by=eksctl")),
        "{tag_flags:#?}"
    );
    assert!(
        script.contains(r#""managed-by":"eksctl""#),
        "the tag check wants eksctl too"
    );
    // The policies stay irsagen's: the script creates them with aws, no stack owns them.
    assert!(script.contains(r#"{"Key":"managed-by","Value":"irsagen"}"#));
}

#[test]
fn efs_install_source_variants() {
    let guide = efs_with("guide");
    let s = &guide.get("setup-irsa.sh").unwrap().content;
    assert!(s.contains(
        "kubectl apply -k 'github.com/kubernetes-sigs/aws-efs-csi-driver/deploy/kubernetes/overlays/stable/?ref=release-1.7'\n"
    ));
    assert!(s.contains("ensure_controller"));
    assert_eq!(
        efs_with("guide").to_stream(),
        render(
            &guide_inputs(),
            &[("efs-csi-driver".into(), PresetOverrides::default())]
        )
        .unwrap()
        .to_stream(),
        "guide is the default"
    );

    let newer = efs_with("ref:release-2.1");
    let s = &newer.get("setup-irsa.sh").unwrap().content;
    assert!(s.contains("overlays/stable/?ref=release-2.1'\n") && !s.contains("release-1.7"));

    let local = efs_with("path:../efs-overlay");
    assert!(
        local
            .get("setup-irsa.sh")
            .unwrap()
            .content
            .contains("kubectl apply -k ../efs-overlay\n")
    );

    let addon = efs_with("addon");
    let s = &addon.get("setup-irsa.sh").unwrap().content;
    let arn = &addon.components[0].role_arn;
    assert!(s.contains(&format!("ensure_addon aws-efs-csi-driver {arn}")), "{s}");
    assert!(
        !s.lines()
            .any(|l| l.starts_with("kubectl apply -k") || l.starts_with("ensure_controller ")),
        "{s}"
    );
    assert!(
        addon
            .get("kubernetes/efs-csi-driver/efs-csi-controller-patch.yaml")
            .is_none()
    );
    let cfg = &addon.get("eksctl/cluster-config.yaml").unwrap().content;
    assert!(
        cfg.contains(&format!(
            "  - name: \"aws-efs-csi-driver\"\n    serviceAccountRoleARN: \"{arn}\""
        )),
        "{cfg}"
    );

    insta_settings().bind(|| {
        for (name, b) in [
            ("efs_install_ref", &newer),
            ("efs_install_path", &local),
            ("efs_install_addon", &addon),
        ] {
            insta::with_settings!({ description => format!("efs-csi-driver alone, {name}") }, {
                insta::assert_snapshot!(format!("variant_{name}"), b.to_stream());
            });
        }
    });
}

#[test]
fn presets_show_names_the_install_sources() {
    let o = irsagen().args(["presets", "show", "efs-csi-driver"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(
        out.contains(
            "(installSource: `guide`, `ref:<git ref>`, `path:<directory>` or `addon`; `guide` is the default)"
        ),
        "{out}"
    );
}

#[test]
fn bad_install_source_is_refused_with_field_value_and_rule() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    for (value, rule) in [
        (
            "efs-csi-driver.installSource=latest",
            "must be one of `guide`, `ref:<git ref>`",
        ),
        ("efs-csi-driver.installSource=ref:a..b", "without `..`"),
        (
            "ebs-csi-driver.installSource=addon",
            "only applies to presets installed with kubectl apply -k",
        ),
    ] {
        let o = render_cmd(&["--out-dir", out.to_str().unwrap(), "--set", value])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{value}: {err}");
        let preset = value.split('.').next().unwrap();
        assert!(
            err.contains(&format!("presets.{preset}.installSource")),
            "{value}: {err}"
        );
        assert!(err.contains(value.split_once('=').unwrap().1), "{value}: {err}");
        assert!(err.contains(rule), "{value}: {err}");
        assert!(!out.exists(), "nothing written");
    }
}
