//! `render --out-dir` and `--check`: clean → 0; stale, missing or extra → 1 with a diff;
//! `--quiet` → 1 and nothing printed; `--prune` removes what is no longer rendered.

use crate::support::*;
use std::path::Path;

fn out_arg(dir: &Path) -> Vec<String> {
    vec!["--out-dir".into(), dir.to_str().unwrap().into()]
}

fn run(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = out_arg(dir);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    render_cmd(&refs).output().unwrap()
}

fn fresh() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("rendered");
    let o = run(&out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (t, out)
}

#[test]
fn writes_the_documented_layout() {
    let (_t, out) = fresh();
    let files: Vec<String> = tree(&out)
        .into_iter()
        .map(|(p, _)| p.strip_prefix(&out).unwrap().to_string_lossy().into_owned())
        .collect();
    for f in [
        "README.md",
        "setup-irsa.sh",
        "eksctl/cluster-config.yaml",
        "helm/cluster-autoscaler-values.yaml",
        "iam/cluster-autoscaler/policy.json",
        "iam/cluster-autoscaler/trust-policy.json",
        "kubernetes/efs-csi-driver/efs-csi-controller-patch.yaml",
        "kubernetes/ebs-csi-driver/serviceaccount.yaml",
        "kubernetes/ebs-csi-driver/test-pod.yaml",
    ] {
        assert!(files.contains(&f.to_string()), "{f} missing from {files:?}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("setup-irsa.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "setup-irsa.sh is executable");
    }
}

#[test]
fn clean_dir_checks_ok_and_a_rewrite_touches_nothing() {
    let (_t, out) = fresh();
    let o = run(&out, &["--check"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let mtime = std::fs::metadata(out.join("README.md")).unwrap().modified().unwrap();
    let o = run(&out, &[]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("0 written"));
    assert_eq!(
        std::fs::metadata(out.join("README.md")).unwrap().modified().unwrap(),
        mtime
    );
}

#[test]
fn stale_file_gives_exit_1_and_a_unified_diff() {
    let (_t, out) = fresh();
    let p = out.join("iam/cluster-autoscaler/policy.json");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("eks:DescribeNodegroup", "eks:DescribeCluster");
    std::fs::write(&p, text).unwrap();
    let before = tree(&out);
    let o = run(&out, &["--check"]);
    assert_eq!(o.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("--- a/iam/cluster-autoscaler/policy.json"), "{stdout}");
    assert!(stdout.contains("-        \"eks:DescribeCluster\""), "{stdout}");
    assert!(stdout.contains("+        \"eks:DescribeNodegroup\""), "{stdout}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("1 rendered file(s) differ") && stderr.contains("run `"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("--check"),
        "the regenerate command must not contain --check: {stderr}"
    );
    assert_eq!(tree(&out), before, "--check wrote something");
}

#[test]
fn missing_file_gives_exit_1() {
    let (_t, out) = fresh();
    std::fs::remove_file(out.join("setup-irsa.sh")).unwrap();
    let o = run(&out, &["--check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("+++ b/setup-irsa.sh"));
}

#[test]
fn extra_file_gives_exit_1_and_prune_removes_it() {
    let (_t, out) = fresh();
    let two = ["--preset", "cluster-autoscaler", "--preset", "ebs-csi-driver"];
    let o = run(&out, &[&two[..], &["--check"]].concat());
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("--- a/iam/efs-csi-driver/policy.json"));
    let o = run(&out, &two);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("extra"),
        "a plain render reports the extra file"
    );
    assert!(
        out.join("iam/efs-csi-driver/policy.json").exists(),
        "without --prune it stays"
    );
    let o = run(&out, &[&two[..], &["--prune"]].concat());
    assert!(o.status.success());
    assert!(
        !out.join("iam/efs-csi-driver").exists(),
        "--prune removes the file and its empty folder"
    );
    assert_eq!(run(&out, &[&two[..], &["--check"]].concat()).status.code(), Some(0));
}

#[test]
fn a_file_irsagen_did_not_write_is_never_extra() {
    let (_t, out) = fresh();
    std::fs::create_dir_all(out.join("iam/old-preset")).unwrap();
    std::fs::write(out.join("iam/old-preset/policy.json"), "{}\n").unwrap();
    assert_eq!(run(&out, &["--check"]).status.code(), Some(0));
    let o = run(&out, &["--prune"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("0 extra, 0 removed"));
    assert!(out.join("iam/old-preset/policy.json").exists());
}

/// The command `--check` suggests, taken from its message.
fn suggested(stderr: &str) -> String {
    let start = stderr.find("run `").expect("a suggested command") + 5;
    let end = stderr[start..].find("` to regenerate").expect("end of the command") + start;
    stderr[start..end].to_string()
}

#[test]
fn check_suggests_prune_when_a_file_must_go_and_the_suggestion_works() {
    let (_t, out) = fresh();
    let two = ["--preset", "cluster-autoscaler", "--preset", "ebs-csi-driver"];
    let o = run(&out, &[&two[..], &["--check"]].concat());
    assert_eq!(o.status.code(), Some(1));
    let cmd = suggested(&String::from_utf8_lossy(&o.stderr));
    assert!(cmd.ends_with(" --prune"), "{cmd}");
    let status = std::process::Command::new("sh").arg("-c").arg(&cmd).output().unwrap();
    assert!(
        status.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(run(&out, &[&two[..], &["--check"]].concat()).status.code(), Some(0));

    // Nothing to remove: no --prune in the suggestion.
    std::fs::write(out.join("README.md"), "edited\n").unwrap();
    let o = run(&out, &[&two[..], &["--check"]].concat());
    let cmd = suggested(&String::from_utf8_lossy(&o.stderr));
    assert!(!cmd.contains("--prune"), "{cmd}");
}

#[test]
fn quiet_check_prints_nothing() {
    let (_t, out) = fresh();
    std::fs::write(out.join("README.md"), "changed\n").unwrap();
    let o = run(&out, &["--check", "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty() && o.stderr.is_empty());
}

#[test]
fn changed_inputs_are_caught_by_check() {
    let (_t, out) = fresh();
    let o = run(&out, &["--check", "--set", "cluster-autoscaler.roleName=ca-role"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ca-role"));
}
