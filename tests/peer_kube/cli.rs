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
        out.contains(&format!("kube: + create ServiceAccount {}/cluster-autoscaler", w.ns))
            && out.contains("kube: dry run, nothing changed"),
        "{}",
        text(&o)
    );
    assert!(rt.block_on(w.sa(&w.ns, "cluster-autoscaler")).is_none());

    // Without a terminal and without --yes, apply refuses after the plan, and creates nothing.
    let o = run(with(&["apply", "--kube"], &[]));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains(&format!("kube: + create ServiceAccount {}/cluster-autoscaler", w.ns))
            && String::from_utf8_lossy(&o.stderr).contains("without confirmation: no terminal to ask on; pass --yes"),
        "{}",
        text(&o)
    );
    assert!(rt.block_on(w.sa(&w.ns, "cluster-autoscaler")).is_none());

    let o = run(with(&["apply", "--kube", "--yes"], &["--context", "irsagen-admin"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains(&format!("kube: created ServiceAccount {}/efs-csi-controller-sa", w.ns)),
        "{}",
        text(&o)
    );
    assert!(
        out.contains(&format!("kube: note: skipped Deployment {}/efs-csi-controller", w.ns))
            && out.contains("3 created, 0 updated; 11 API requests (plan 8, apply 3)"),
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

    // A subset verify (--preset) passes beside the other two presets' ServiceAccounts.
    let ebs_set = format!("ebs-csi-driver.namespace={}", w.ns);
    let subset: Vec<String> = [
        "verify",
        "--kube",
        "-o",
        "json",
        "--preset",
        "ebs-csi-driver",
        "--set",
        &ebs_set,
    ]
    .iter()
    .chain(&common[..8])
    .map(|s| s.to_string())
    .collect();
    let o = run(subset);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json report");
    assert_eq!(
        (v["passed"].as_u64(), v["failed"].as_u64()),
        (Some(2), Some(0)),
        "{}",
        text(&o)
    );

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
    // An unreachable cluster is an environment failure (3), for apply and for verify (not 1,
    // which means drift).
    for cmd in [
        &["apply", "--kube", "--yes"][..],
        &["verify", "--kube"][..],
        &["verify", "--kube", "--exec-test"][..],
    ] {
        let o = run(with(cmd, &["--context", "irsagen-unreachable"]));
        assert_eq!(o.status.code(), Some(3), "{cmd:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("cannot reach the Kubernetes API server at https://127.0.0.1:"),
            "{cmd:?}: {}",
            text(&o)
        );
    }
    rt.block_on(w.cleanup());
}
