//! Fleets (`--all`) and applying exactly what was reviewed (`--from DIR`), through the CLI:
//! a fleet render equals one render per cluster, a bad cluster stops every write, `--check` and
//! `--prune` work per cluster folder and touch nothing else, and `--from` refuses a folder that
//! is not exactly its recorded render (hand edit, other version) before any AWS or cluster call.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Output;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Two accounts, three clusters; the second with per-cluster overrides of several kinds, so the
/// manifest's recorded overrides are exercised by `--from`.
const FLEET: &str = r#"account: "123456789012"
presets: {cluster-autoscaler: {}, ebs-csi-driver: {}, efs-csi-driver: {}}
clusters:
  alpha:
    region: us-east-1
    oidcIssuer: https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
  beta:
    region: eu-west-1
    account: "210987654321"
    oidcIssuer: https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLEBETA000000000000000000000
    kubernetesVersion: "1.31"
    tags: {Environment: staging}
    presets:
      cluster-autoscaler: {releaseNamespace: smallest, policyVariant: least-privilege}
      ebs-csi-driver: {extraPolicyArns: ["arn:aws:iam::210987654321:policy/ebs-kms-key-use"]}
  gamma:
    region: eu-west-1
    replacePresets: true
    presets: {ebs-csi-driver: {}}
"#;

fn setup(config: &str) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("irsagen.yaml"), config).unwrap();
    let out = t.path().join("rendered");
    (t, out)
}

fn run(dir: &Path, args: &[&str]) -> Output {
    irsagen().args(args).current_dir(dir).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}\n{}", text(&o.stdout), text(&o.stderr));
}

const ALL: [&str; 6] = ["render", "--config", "irsagen.yaml", "--all", "--out-dir", "rendered"];

#[test]
fn a_fleet_render_writes_each_cluster_as_its_own_render_would() {
    let (t, out) = setup(FLEET);
    let o = run(t.path(), &ALL);
    ok(&o);
    assert!(text(&o.stderr).contains("fleet: 3 clusters;"), "{}", text(&o.stderr));
    for c in ["alpha", "beta", "gamma"] {
        let single = t.path().join("single").join(c);
        let s = single.to_str().unwrap();
        ok(&run(
            t.path(),
            &["render", "--config", "irsagen.yaml", "--cluster", c, "--out-dir", s],
        ));
        let strip = |dir: &Path| -> Vec<(PathBuf, Vec<u8>)> {
            tree(dir)
                .into_iter()
                .map(|(p, b)| (p.strip_prefix(dir).unwrap().to_path_buf(), b))
                .filter(|(p, _)| !p.starts_with(".irsagen-lock") && p != Path::new(".irsagen.lock"))
                .collect()
        };
        let fleet_files = strip(&out.join(c));
        assert_eq!(fleet_files, strip(&single), "cluster {c}");
        assert!(
            fleet_files
                .iter()
                .any(|(p, _)| p == Path::new(".irsagen-manifest.json"))
        );
    }
    assert!(!out.join("gamma/iam/cluster-autoscaler").exists(), "replacePresets");
    // The manifest records what `--from` renders again from.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("beta/.irsagen-manifest.json")).unwrap()).unwrap();
    assert_eq!(m["inputs"]["kubernetesVersion"], "1.31");
    assert_eq!(
        m["inputs"]["overrides"]["cluster-autoscaler"],
        serde_json::json!({"releaseNamespace": "smallest", "policyVariant": "least-privilege"})
    );
    assert_eq!(m["inputs"]["overrides"]["efs-csi-driver"], serde_json::json!({}));
    let o = run(t.path(), &[&ALL[..], &["--check"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

#[test]
fn one_bad_cluster_stops_every_write_and_is_named() {
    let bad = FLEET.replace("  gamma:\n    region: eu-west-1", "  gamma:\n    region: mars-east-1");
    let (t, out) = setup(&bad);
    let o = run(t.path(), &ALL);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("error: cluster `gamma`: invalid --region `mars-east-1`"),
        "{err}"
    );
    assert!(!out.exists(), "no folder is created, not even the good clusters'");

    // Over an existing fleet folder: nothing changes either.
    let (t, out) = setup(FLEET);
    ok(&run(t.path(), &ALL));
    let before = tree(&out);
    std::fs::write(
        t.path().join("irsagen.yaml"),
        bad.replace("Environment: staging", "Environment: prod"),
    )
    .unwrap();
    assert_eq!(run(t.path(), &ALL).status.code(), Some(2));
    assert_eq!(tree(&out), before);
}

#[test]
fn the_fleet_is_validated_as_a_whole() {
    // One role name for two clusters of one account: IAM names are account-wide.
    let shared = "account: \"123456789012\"\nregion: us-east-1\npresets: {ebs-csi-driver: {roleName: ebs-role}}\nclusters: {one: {}, two: {presets: {ebs-csi-driver: {roleName: EBS-Role}}}}\n";
    let (t, out) = setup(shared);
    let o = run(t.path(), &ALL);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o.stderr),
        "error: invalid clusters.two.presets.ebs-csi-driver.roleName `EBS-Role`: is also cluster `one`'s role (preset `ebs-csi-driver`) in account 123456789012; IAM role names are unique per account, ignoring case: give one of them another roleName, or share the role: both presets list the other cluster in `trustClusters` (same ServiceAccount, policies and tags), so both render the same trust\n"
    );
    assert!(!out.exists());
    // In two accounts the same name is fine.
    let two_accounts = shared.replace("two: {presets", "two: {account: \"210987654321\", presets");
    let (t, _) = setup(&two_accounts);
    ok(&run(t.path(), &ALL));

    // One policy name, two documents, one account: the least-privilege document names its
    // cluster (its default name carries the cluster's; a shared policyName does not).
    let policies = "account: \"123456789012\"\nregion: us-east-1\npresets: {cluster-autoscaler: {policyVariant: least-privilege, policyName: shared-ca}}\nclusters: {one: {}, two: {}}\n";
    let (t, _) = setup(policies);
    let o = run(t.path(), &ALL);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).starts_with("error: invalid clusters.two.presets.cluster-autoscaler.policyName `shared-ca`: "),
        "{}",
        text(&o.stderr)
    );
    assert!(text(&o.stderr).contains("is also cluster `one`'s policy (preset `cluster-autoscaler`) in account 123456789012, with a different document or tags"));
    // A policyName per cluster resolves it.
    let (t, _) = setup(&policies.replace(
        "two: {}",
        "two: {presets: {cluster-autoscaler: {policyName: two-autoscaler}}}",
    ));
    ok(&run(t.path(), &ALL));

    // Two clusters whose folders are one on a case-insensitive file system.
    let case = "account: \"123456789012\"\nregion: us-east-1\nclusters: {prod: {}, Prod: {}}\n";
    let (t, _) = setup(case);
    let o = run(t.path(), &ALL);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o.stderr),
        "error: invalid clusters.prod `prod`: and cluster `Prod` differ only in letter case: their folders DIR/prod/ and DIR/Prod/ are one folder on a case-insensitive file system (macOS, Windows); rename one\n"
    );

    // --all needs `clusters:`.
    let (t, _) = setup("cluster: a\nregion: us-east-1\naccount: \"123456789012\"\n");
    let o = run(t.path(), &ALL);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).starts_with("error: invalid --all `irsagen.yaml`: the config file has no `clusters:` entries")
    );
}

#[test]
fn check_over_the_fleet_names_the_drifted_cluster_only() {
    let (t, out) = setup(FLEET);
    ok(&run(t.path(), &ALL));
    let p = out.join("beta/iam/ebs-csi-driver/policy.json");
    let edited = std::fs::read_to_string(&p).unwrap().replacen("ec2:", "ec2:X", 1);
    std::fs::write(&p, edited).unwrap();
    let o = run(t.path(), &[&ALL[..], &["--check"]].concat());
    assert_eq!(o.status.code(), Some(1));
    let diff = text(&o.stdout);
    assert!(diff.starts_with("# cluster beta ("), "{diff}");
    assert!(diff.contains("--- a/iam/ebs-csi-driver/policy.json"), "{diff}");
    assert!(
        !diff.contains("# cluster alpha") && !diff.contains("# cluster gamma"),
        "{diff}"
    );
    assert!(
        text(&o.stderr).starts_with("error: 1 rendered file(s) differ from rendered; run `"),
        "{}",
        text(&o.stderr)
    );
    ok(&run(t.path(), &ALL));
    assert_eq!(run(t.path(), &[&ALL[..], &["--check"]].concat()).status.code(), Some(0));
}

#[test]
fn prune_over_the_fleet_leaves_other_clusters_and_user_files_alone() {
    let (t, out) = setup(FLEET);
    ok(&run(t.path(), &ALL));
    // The user's own files, a folder of a cluster not in the config, and a file in a cluster folder.
    std::fs::write(out.join("alpha/NOTES.md"), "mine\n").unwrap();
    std::fs::create_dir_all(out.join("retired/iam")).unwrap();
    std::fs::write(out.join("retired/iam/keep.json"), "{}\n").unwrap();
    std::fs::write(out.join("fleet-notes.txt"), "mine\n").unwrap();
    let beta_before = tree(&out.join("beta"));
    // alpha drops the EFS driver.
    let fewer = FLEET.replace(
        "  alpha:\n    region: us-east-1\n",
        "  alpha:\n    region: us-east-1\n    replacePresets: true\n    presets: {cluster-autoscaler: {}, ebs-csi-driver: {}}\n",
    );
    std::fs::write(t.path().join("irsagen.yaml"), fewer).unwrap();
    let o = run(t.path(), &ALL);
    ok(&o);
    assert!(text(&o.stderr).contains("extra "), "{}", text(&o.stderr));
    assert!(
        out.join("alpha/iam/efs-csi-driver/policy.json").exists(),
        "kept without --prune"
    );
    let o = run(t.path(), &[&ALL[..], &["--check"]].concat());
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains(" --prune`"), "{}", text(&o.stderr));

    let o = run(t.path(), &[&ALL[..], &["--prune"]].concat());
    ok(&o);
    assert!(!out.join("alpha/iam/efs-csi-driver").exists());
    assert!(!out.join("alpha/kubernetes/efs-csi-driver").exists());
    assert_eq!(std::fs::read_to_string(out.join("alpha/NOTES.md")).unwrap(), "mine\n");
    assert_eq!(
        std::fs::read_to_string(out.join("retired/iam/keep.json")).unwrap(),
        "{}\n"
    );
    assert_eq!(std::fs::read_to_string(out.join("fleet-notes.txt")).unwrap(), "mine\n");
    assert_eq!(
        tree(&out.join("beta")),
        beta_before,
        "another cluster's folder is not touched"
    );
    assert_eq!(run(t.path(), &[&ALL[..], &["--check"]].concat()).status.code(), Some(0));
}

#[cfg(unix)]
#[test]
fn a_symlinked_cluster_folder_is_refused_before_any_write() {
    let (t, out) = setup(FLEET);
    let elsewhere = t.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("gamma")).unwrap();
    let o = run(t.path(), &ALL);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).starts_with("error: refusing to write `"),
        "{}",
        text(&o.stderr)
    );
    assert!(!out.join("alpha").exists(), "nothing written");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

/// Renders alpha alone into `rendered/alpha` (a single-cluster folder for `--from`).
fn single(t: &Path) -> PathBuf {
    ok(&run(
        t,
        &[
            "render",
            "--config",
            "irsagen.yaml",
            "--cluster",
            "beta",
            "--out-dir",
            "reviewed",
        ],
    ));
    t.join("reviewed")
}

/// `apply --from reviewed --aws --dry-run` against an endpoint where nothing listens: an intact
/// folder gets as far as the first AWS call.
fn apply_from(t: &Path, dir: &str) -> Output {
    irsagen()
        .args(["apply", "--from", dir, "--aws", "--dry-run", "--timeout", "2"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .current_dir(t)
        .output()
        .unwrap()
}

#[test]
fn from_an_intact_folder_reaches_the_apply_stage() {
    let (t, _) = setup(FLEET);
    single(t.path());
    let o = apply_from(t.path(), "reviewed");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(!err.contains("refusing"), "{err}");
    assert!(err.contains("127.0.0.1:1"), "the AWS call was made: {err}");
    // A folder that is no render at all.
    std::fs::create_dir_all(t.path().join("empty")).unwrap();
    let o = apply_from(t.path(), "empty");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o.stderr),
        "error: refusing to apply from `empty`: it has no .irsagen-manifest.json, so it is not a folder `irsagen render --out-dir` wrote; render it first and review it\n"
    );
}

#[test]
fn from_refuses_a_hand_edited_folder_and_shows_the_edit() {
    let (t, _) = setup(FLEET);
    let dir = single(t.path());
    let p = dir.join("iam/ebs-csi-driver/policy.json");
    let edited = std::fs::read_to_string(&p).unwrap().replacen("ec2:", "ec2:X", 1);
    std::fs::write(&p, edited).unwrap();
    for action in ["apply", "verify"] {
        let o = irsagen()
            .args([action, "--from", "reviewed", "--aws"])
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
            .current_dir(t.path())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert_eq!(
            text(&o.stderr),
            format!(
                "error: refusing to {action} from `reviewed`: 1 file(s) differ from what irsagen {VERSION} renders from the inputs its manifest records (edited by hand, or not pruned); the difference is shown above. Render the folder again (`irsagen render … --out-dir DIR`, with --prune for extra files), review it, then {action}\n"
            )
        );
        let diff = text(&o.stdout);
        assert!(
            diff.starts_with("--- a/iam/ebs-csi-driver/policy.json\n+++ b/iam/ebs-csi-driver/policy.json\n"),
            "{diff}"
        );
        assert!(diff.contains("\n-") && diff.contains("\"ec2:X"), "{diff}");
    }
}

#[test]
fn from_refuses_a_folder_of_another_version() {
    let (t, _) = setup(FLEET);
    let dir = single(t.path());
    let m = dir.join(".irsagen-manifest.json");
    let text_m = std::fs::read_to_string(&m).unwrap();
    let old = format!("\"irsagen\": \"{VERSION}\"");
    assert!(text_m.contains(&old));
    std::fs::write(&m, text_m.replace(&old, "\"irsagen\": \"0.0.9\"")).unwrap();
    let o = apply_from(t.path(), "reviewed");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o.stderr),
        format!(
            "error: refusing to apply from `reviewed`: it was rendered by irsagen 0.0.9 and this is irsagen {VERSION}; render it again with this version and review the difference, or apply it with irsagen 0.0.9\n"
        )
    );
    let diff = text(&o.stdout);
    assert!(
        diff.contains("-  \"irsagen\": \"0.0.9\",\n+  \"irsagen\": \""),
        "{diff}"
    );
}

#[test]
fn apply_and_verify_all_report_per_cluster() {
    let (t, _) = setup(FLEET);
    // A kubeconfig without the clusters' contexts: every cluster fails at its kube stage, and
    // each failure is reported under its header, the others still run.
    let kc = t.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\ncurrent-context: \"\"\n",
    )
    .unwrap();
    let kc = kc.to_str().unwrap();
    let o = run(
        t.path(),
        &[
            "apply",
            "--config",
            "irsagen.yaml",
            "--all",
            "--kube",
            "--kubeconfig",
            kc,
            "--yes",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    for (c, acct, region) in [
        ("alpha", "123456789012", "us-east-1"),
        ("beta", "210987654321", "eu-west-1"),
        ("gamma", "123456789012", "eu-west-1"),
    ] {
        assert!(
            out.contains(&format!(
                "=== cluster {c} (account {acct}, {region}, kube context arn:aws:eks:{region}:{acct}:cluster/{c}) ===\n"
            )),
            "{out}"
        );
        assert!(
            text(&o.stderr).contains(&format!("error: cluster `{c}`: ")),
            "{}",
            text(&o.stderr)
        );
    }
    assert!(
        out.ends_with("fleet: 0 of 3 clusters succeeded; failed: alpha, beta, gamma\n"),
        "{out}"
    );

    // verify --all --from a fleet folder with one cluster edited: refused, naming the cluster,
    // before any cluster is verified.
    ok(&run(t.path(), &ALL));
    let p = t
        .path()
        .join("rendered/gamma/kubernetes/ebs-csi-driver/serviceaccount.yaml");
    std::fs::write(
        &p,
        std::fs::read_to_string(&p)
            .unwrap()
            .replace("ebs-csi-controller-sa", "other-sa"),
    )
    .unwrap();
    let o = run(
        t.path(),
        &["verify", "--all", "--from", "rendered", "--kube", "--kubeconfig", kc],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr)
            .starts_with("error: cluster `gamma`: refusing to verify from `rendered/gamma`: 1 file(s) differ"),
        "{}",
        text(&o.stderr)
    );
    assert!(!text(&o.stdout).contains("=== cluster"), "{}", text(&o.stdout));
    // Intact again: each cluster is verified under its header, from the folder.
    ok(&run(t.path(), &ALL));
    let o = run(
        t.path(),
        &[
            "verify",
            "--all",
            "--from",
            "rendered",
            "--kube",
            "--kubeconfig",
            kc,
            "-o",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
    assert_eq!(v["failedClusters"], serde_json::json!(["alpha", "beta", "gamma"]));
    assert_eq!(v["clusters"]["beta"]["exitCode"], 3);
    assert!(
        v["clusters"]["beta"]["error"]
            .as_str()
            .unwrap()
            .starts_with("cluster `beta`: ")
    );
}

/// A fleet render prints each cluster's component warnings as a single render does, naming the
/// cluster.
#[test]
fn a_fleet_render_prints_each_clusters_warnings_with_its_name() {
    let unscoped = FLEET.replace(
        "    presets: {ebs-csi-driver: {}}",
        "    presets: {ebs-csi-driver: {identityMode: pod-identity, podIdentityTrust: unscoped}}",
    );
    assert_ne!(unscoped, FLEET);
    let (t, _) = setup(&unscoped);
    let o = run(t.path(), &ALL);
    ok(&o);
    let err = text(&o.stderr);
    assert!(
        err.contains("warning: cluster gamma: preset ebs-csi-driver: role ")
            && err.contains("(podIdentityTrust: unscoped)"),
        "{err}"
    );
    assert_eq!(err.matches("warning: ").count(), 1, "{err}");
}

/// A cluster taken out of `clusters:` leaves its folder: a render names it and leaves it alone,
/// `--check` calls the tree stale until it is removed; a user's own folder (no manifest) and a
/// symlink are not taken for one.
#[test]
fn a_cluster_removed_from_the_fleet_is_reported_and_its_folder_left_alone() {
    let (t, out) = setup(FLEET);
    ok(&run(t.path(), &ALL));
    let without_gamma = &FLEET[..FLEET.find("  gamma:").unwrap()];
    std::fs::write(t.path().join("irsagen.yaml"), without_gamma).unwrap();
    std::fs::create_dir_all(out.join("my-notes")).unwrap();
    std::fs::write(out.join("my-notes/todo.txt"), "mine\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(out.join("gamma"), out.join("zeta")).unwrap();
    let o = run(t.path(), &ALL);
    ok(&o);
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "note: {} holds an irsagen render of cluster gamma, which is no longer in `clusters:`",
            Path::new("rendered").join("gamma").display()
        )),
        "{err}"
    );
    assert_eq!(err.matches("note: ").count(), 1, "{err}");
    assert!(out.join("gamma/.irsagen-manifest.json").is_file(), "left alone");
    let o = run(t.path(), &[&ALL[..], &["--check"]].concat());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    // The diff (on stdout) names the folder.
    let diff = text(&o.stdout);
    assert!(
        diff.contains("# cluster gamma (") && diff.contains("no longer in `clusters:`"),
        "{diff}"
    );
    std::fs::remove_dir_all(out.join("gamma")).unwrap();
    let o = run(t.path(), &[&ALL[..], &["--check"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}{}", text(&o.stdout), text(&o.stderr));
}
