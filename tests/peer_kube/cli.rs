//! The binary: `apply --kube --yes`, `--dry-run`, `verify --kube -o json` with `--context`, exit codes.

use crate::support::*;
use std::process::{Command, Output};

fn irsagen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_irsagen"))
        .args(args)
        .output()
        .expect("run irsagen")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn cli_apply_and_verify_with_context() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let w = rt.block_on(World::new("cli", true));
    let sets: Vec<String> = PRESETS.iter().map(|p| format!("{p}.namespace={}", w.ns)).collect();
    let mut common = vec![
        "--cluster",
        &w.cluster,
        "--region",
        REGION,
        "--account",
        ACCOUNT,
        "--oidc-issuer",
        ISSUER,
    ];
    for s in &sets {
        common.extend(["--set", s.as_str()]);
    }
    let with = |head: &[&str], tail: &[&str]| -> Vec<String> {
        head.iter().chain(&common).chain(tail).map(|s| s.to_string()).collect()
    };
    let run = |args: Vec<String>| irsagen(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // Dry run: plan and server dry run, nothing created.
    let o = run(with(&["apply", "--kube", "--dry-run"], &["--context", "irsagen-admin"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains(&format!("kube: create ServiceAccount {}/cluster-autoscaler", w.ns))
            && out.contains("kube: dry run, nothing changed"),
        "{}",
        text(&o)
    );
    assert!(rt.block_on(w.sa(&w.ns, "cluster-autoscaler")).is_none());

    // Without a terminal and without --yes, apply refuses.
    let o = run(with(&["apply", "--kube"], &[]));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--yes"), "{}", text(&o));

    let o = run(with(&["apply", "--kube", "--yes"], &["--context", "irsagen-admin"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains(&format!("kube: created ServiceAccount {}/efs-csi-controller-sa", w.ns)),
        "{}",
        text(&o)
    );
    assert!(
        out.contains("kube: skipped: Deployment") && out.contains("API requests"),
        "{}",
        text(&o)
    );

    let o = run(with(&["apply", "--kube", "--yes"], &[]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("kube: no changes"),
        "{}",
        text(&o)
    );

    let o = run(with(
        &["verify", "--kube", "-o", "json"],
        &["--context", "irsagen-admin"],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json report");
    assert_eq!(v["failed"], 0, "{}", text(&o));
    assert_eq!(v["passed"], 6, "{}", text(&o));
    assert!(v["checks"].as_array().unwrap().iter().all(|c| c["scope"] == "kube"));

    // A failing check: exit 1, the FAIL in the JSON.
    rt.block_on(w.set_role_arn(&w.ns, "cluster-autoscaler", None));
    let o = run(with(&["verify", "--kube", "-o", "json"], &[]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json report");
    assert_eq!(v["failed"], 1, "{}", text(&o));

    // Another context: the 403 names verb, resource and user; exit 3.
    let o = run(with(
        &["verify", "--kube", "-o", "json"],
        &["--context", "irsagen-nobody"],
    ));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    // With -o json the error is the JSON document on stdout.
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json error");
    assert_eq!(v["exitCode"], 3, "{}", text(&o));
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("RBAC denied `list serviceaccounts` at cluster scope for user irsagen-nobody"),
        "{}",
        text(&o)
    );
    let o = run(with(
        &["apply", "--kube", "--yes"],
        &["--context", "irsagen-unreachable"],
    ));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot reach the Kubernetes API server at https://127.0.0.1:"),
        "{}",
        text(&o)
    );
    rt.block_on(w.cleanup());
}
