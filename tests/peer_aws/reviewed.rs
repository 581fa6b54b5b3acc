//! `apply --from DIR` and `--all` against moto: applying a reviewed folder makes exactly the
//! writes a normal apply of the same inputs makes (same plan, and a normal apply afterwards has
//! nothing left to do), and a fleet apply reports per cluster.

use crate::support::*;

/// Renders the guide's cluster into a temp folder, as a reviewer would see it.
fn reviewed_folder() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("rendered");
    let mut args = vec!["render", "--out-dir", out.to_str().unwrap()];
    args.extend(guide_args());
    let o = irsagen(&args);
    assert!(o.status.success(), "{}", text(&o));
    t
}

#[test]
fn apply_from_a_reviewed_folder_makes_the_same_writes_as_a_normal_apply() {
    peer_test(async {
        let t = reviewed_folder();
        let dir = t.path().join("rendered");
        let dir = dir.to_str().unwrap();

        let mut normal = vec!["apply", "--aws", "--dry-run"];
        normal.extend(guide_args());
        let planned = irsagen(&normal);
        assert!(planned.status.success(), "{}", text(&planned));
        let from_plan = irsagen(&["apply", "--aws", "--dry-run", "--from", dir]);
        assert!(from_plan.status.success(), "{}", text(&from_plan));
        assert_eq!(from_plan.stdout, planned.stdout, "the same plan");

        let applied = irsagen(&["apply", "--aws", "--yes", "--from", dir]);
        assert!(applied.status.success(), "{}", text(&applied));
        let s = String::from_utf8_lossy(&applied.stdout);
        assert!(s.contains("aws plan: 7 to create") && s.contains("(10 writes)"), "{s}");

        // A normal apply of the same inputs finds nothing left to do.
        let mut again = vec!["apply", "--aws", "--yes"];
        again.extend(guide_args());
        let again = irsagen(&again);
        assert!(again.status.success(), "{}", text(&again));
        let s = String::from_utf8_lossy(&again.stdout);
        assert!(s.contains("aws: no changes") && s.contains("(0 writes)"), "{s}");

        let v = irsagen(&["verify", "--aws", "--from", dir, "-o", "json"]);
        assert!(v.status.success(), "{}", text(&v));
        let report: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
        assert_eq!(report["failed"], 0);
        assert_eq!(report["passed"], 26);
    });
}

#[test]
fn apply_all_applies_every_cluster_of_the_config_under_its_header() {
    peer_test(async {
        let t = tempfile::tempdir().unwrap();
        let config = t.path().join("irsagen.yaml");
        std::fs::write(
            &config,
            format!(
                "account: \"{ACCOUNT}\"\nregion: us-east-1\noidcIssuer: {ISSUER}\npresets: {{ebs-csi-driver: {{}}}}\nclusters: {{one: {{}}, two: {{}}}}\n"
            ),
        )
        .unwrap();
        let config = config.to_str().unwrap();
        let o = irsagen(&["apply", "--config", config, "--all", "--aws", "--yes"]);
        assert!(o.status.success(), "{}", text(&o));
        let s = String::from_utf8_lossy(&o.stdout);
        let one = s.find("=== cluster one (account 123456789012, us-east-1,").expect(&s);
        let two = s.find("=== cluster two (account 123456789012, us-east-1,").expect(&s);
        assert!(one < two);
        assert!(s.ends_with("fleet: 2 of 2 clusters succeeded\n"), "{s}");
        let roles = role_names(&iam().await).await;
        for c in ["one", "two"] {
            assert!(
                roles.contains(&format!("irsa-{c}-kube-system-ebs-csi-controller-sa")),
                "{roles:?}"
            );
        }
        let v = irsagen(&["verify", "--config", config, "--all", "--aws"]);
        assert!(v.status.success(), "{}", text(&v));
        assert!(String::from_utf8_lossy(&v.stdout).ends_with("fleet: 2 of 2 clusters succeeded\n"));
    });
}
