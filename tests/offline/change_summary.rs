//! The change summary of `render --check -o markdown|json`: exact findings and Markdown for
//! each kind of change, widenings flagged, a fixed order, and the CLI end to end.

use crate::support::*;
use irsagen::change_summary::{self, Change, ClusterChanges, Documents, Finding, RoleStatus, Side};
use std::path::Path;

const POLICY: &str = "iam/app/policy.json";
const TRUST: &str = "iam/app/trust-policy.json";
const SA: &str = "kubernetes/app/serviceaccount.yaml";

fn policy(statements: &str) -> String {
    format!(r#"{{"Version": "2012-10-17", "Statement": {statements}}}"#)
}

/// One file of preset `app` before and after.
fn one(path: &str, old: &str, new: &str) -> ClusterChanges {
    let mut d = Documents::default();
    d.old.insert(path.into(), Side::Text(old.into()));
    d.new.insert(path.into(), new.into());
    d.roles.insert("app".into(), "irsa-app".into());
    change_summary::summarize("c1", "out", &d, false)
}

fn findings(c: &ClusterChanges) -> Vec<(bool, Change)> {
    assert_eq!(c.roles.len(), 1, "{c:?}");
    c.roles[0]
        .findings
        .iter()
        .map(|f| (f.widens, f.change.clone()))
        .collect()
}

/// The Markdown lines of the findings (the part after the role heading and file name).
fn lines(c: &ClusterChanges) -> Vec<String> {
    change_summary::to_markdown(std::slice::from_ref(c))
        .lines()
        .filter(|l| l.starts_with("- "))
        .map(str::to_string)
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn an_added_action_is_flagged_and_a_removed_one_is_not() {
    let old = policy(r#"[{"Effect": "Allow", "Action": ["s3:GetObject", "s3:DeleteObject"], "Resource": "*"}]"#);
    let new = policy(r#"[{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}]"#);
    let c = one(POLICY, &old, &new);
    assert_eq!(
        findings(&c),
        vec![
            (
                true,
                Change::ActionAdded {
                    action: "s3:PutObject".into()
                }
            ),
            (
                false,
                Change::ActionRemoved {
                    action: "s3:DeleteObject".into()
                }
            ),
        ]
    );
    assert_eq!(c.widenings, 1);
    assert_eq!(
        lines(&c),
        [
            "- **widens access**: IAM action added: `s3:PutObject`",
            "- IAM action removed: `s3:DeleteObject`",
        ]
    );
}

#[test]
fn an_action_an_old_wildcard_already_allowed_does_not_widen() {
    let old = policy(r#"[{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]"#);
    let new = policy(r#"[{"Effect": "Allow", "Action": "S3:GetObject", "Resource": "arn:aws:s3:::b/*"}]"#);
    let c = one(POLICY, &old, &new);
    assert_eq!(
        findings(&c),
        vec![
            (
                false,
                Change::ActionAdded {
                    action: "S3:GetObject".into()
                }
            ),
            (
                false,
                Change::ActionRemoved {
                    action: "s3:Get*".into()
                }
            ),
        ]
    );
    assert_eq!(c.widenings, 0);
}

#[test]
fn a_resource_narrowed_to_an_arn() {
    let old = policy(r#"{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}"#);
    let new = policy(
        r#"[{"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}]"#,
    );
    let c = one(POLICY, &old, &new);
    assert_eq!(
        findings(&c),
        vec![(
            false,
            Change::Resources {
                actions: s(&["s3:GetObject", "s3:PutObject"]),
                added: s(&["arn:aws:s3:::b/*"]),
                removed: s(&["*"]),
            }
        )]
    );
    assert_eq!(
        lines(&c),
        ["- resources narrowed for `s3:GetObject`, `s3:PutObject`; removed `*`; added `arn:aws:s3:::b/*`"]
    );
}

#[test]
fn a_star_resource_is_flagged() {
    let old = policy(r#"[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]"#);
    let new = policy(r#"[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::b/*", "*"]}]"#);
    let c = one(POLICY, &old, &new);
    assert_eq!(
        findings(&c),
        vec![(
            true,
            Change::Resources {
                actions: s(&["s3:GetObject"]),
                added: s(&["*"]),
                removed: vec![],
            }
        )]
    );
    assert_eq!(
        lines(&c),
        ["- **widens access**: resources widened for `s3:GetObject`; added `*`"]
    );
}

#[test]
fn a_broader_wildcard_is_flagged_and_a_narrower_one_is_not() {
    let a = policy(r#"[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/team/*"}]"#);
    let b = policy(r#"[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]"#);
    assert_eq!(one(POLICY, &a, &b).widenings, 1);
    assert_eq!(one(POLICY, &b, &a).widenings, 0);
}

#[test]
fn a_dropped_condition_is_flagged() {
    let cond = r#"{"StringEquals": {"aws:ResourceTag/owner": "me"}}"#;
    let with = policy(&format!(
        r#"[{{"Effect": "Allow", "Action": "ec2:DeleteVolume", "Resource": "*", "Condition": {cond}}}]"#
    ));
    let without = policy(r#"[{"Effect": "Allow", "Action": "ec2:DeleteVolume", "Resource": "*"}]"#);
    let c = one(POLICY, &with, &without);
    assert_eq!(
        findings(&c),
        vec![(
            true,
            Change::Conditions {
                actions: s(&["ec2:DeleteVolume"]),
                added: s(&["{}"]),
                removed: s(&[r#"{"StringEquals":{"aws:ResourceTag/owner":"me"}}"#]),
            }
        )]
    );
    assert_eq!(one(POLICY, &without, &with).widenings, 0, "adding a condition narrows");
}

#[test]
fn not_action_not_resource_and_a_dropped_deny_count_as_widening() {
    let base = policy(r#"[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]"#);
    let not_action = policy(
        r#"[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]"#,
    );
    let not_resource = policy(
        r#"[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, {"Effect": "Allow", "Action": "s3:PutObject", "NotResource": "arn:aws:s3:::secret/*"}]"#,
    );
    let deny = policy(
        r#"[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::secret/*"}]"#,
    );
    let c = one(POLICY, &base, &not_action);
    assert_eq!(
        findings(&c),
        vec![(
            true,
            Change::StatementAdded {
                statement: r#"{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}"#.into()
            }
        )]
    );
    assert_eq!(one(POLICY, &base, &not_resource).widenings, 1);
    assert_eq!(one(POLICY, &deny, &base).widenings, 1, "removing a Deny widens");
    assert_eq!(one(POLICY, &base, &deny).widenings, 0, "adding a Deny narrows");
    assert_eq!(one(POLICY, &not_action, &base).widenings, 0);
}

fn trust(sub: &str, aud: &str) -> String {
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
          "Principal": {{"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.example/id/X"}},
          "Action": "sts:AssumeRoleWithWebIdentity",
          "Condition": {{"StringEquals": {{"oidc.example/id/X:sub": "{sub}", "oidc.example/id/X:aud": "{aud}"}}}}}}]}}"#
    )
}

#[test]
fn a_changed_trust_subject_is_one_added_flagged_and_one_removed() {
    let old = trust("system:serviceaccount:kube-system:a", "sts.amazonaws.com");
    let new = trust("system:serviceaccount:kube-system:b", "sts.amazonaws.com");
    let c = one(TRUST, &old, &new);
    assert_eq!(
        findings(&c),
        vec![
            (
                true,
                Change::SubjectAdded {
                    subject: "system:serviceaccount:kube-system:b".into()
                }
            ),
            (
                false,
                Change::SubjectRemoved {
                    subject: "system:serviceaccount:kube-system:a".into()
                }
            ),
        ]
    );
    assert_eq!(
        lines(&c),
        [
            "- **widens access**: trust subject added: `system:serviceaccount:kube-system:b`",
            "- trust subject removed: `system:serviceaccount:kube-system:a`",
        ]
    );
    // A dropped restriction (another audience) is flagged too.
    let c = one(TRUST, &old, &trust("system:serviceaccount:kube-system:a", "other"));
    assert_eq!(c.widenings, 1);
    assert_eq!(
        lines(&c),
        [
            "- trust condition added: `StringEquals oidc.example/id/X:aud = other`",
            "- **widens access**: trust condition removed: `StringEquals oidc.example/id/X:aud = sts.amazonaws.com`",
        ]
    );
}

#[test]
fn a_new_principal_and_a_wildcard_subject_are_flagged() {
    let old = trust("system:serviceaccount:ns:a", "sts.amazonaws.com");
    let new = old.replace(
        r#""Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.example/id/X""#,
        r#""Federated": ["arn:aws:iam::123456789012:oidc-provider/oidc.example/id/X", "arn:aws:iam::123456789012:oidc-provider/oidc.example/id/Y"]"#,
    );
    let c = one(TRUST, &old, &new);
    assert_eq!(
        findings(&c),
        vec![(
            true,
            Change::PrincipalAdded {
                principal: "Federated:arn:aws:iam::123456789012:oidc-provider/oidc.example/id/Y".into()
            }
        )]
    );
    let like = old
        .replace("StringEquals", "StringLike")
        .replace("system:serviceaccount:ns:a", "system:serviceaccount:ns:*");
    let c = one(TRUST, &old, &like);
    assert!(
        findings(&c).contains(&(
            true,
            Change::SubjectAdded {
                subject: "system:serviceaccount:ns:* (StringLike)".into()
            }
        )),
        "{c:?}"
    );
}

#[test]
fn a_service_account_annotation_change_names_the_key_path() {
    let sa = |arn: &str| {
        format!(
            "# comment\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app\n  namespace: ns\n  annotations:\n    eks.amazonaws.com/role-arn: \"{arn}\"\n"
        )
    };
    let c = one(
        SA,
        &sa("arn:aws:iam::123456789012:role/old"),
        &sa("arn:aws:iam::123456789012:role/new"),
    );
    assert_eq!(
        findings(&c),
        vec![(
            false,
            Change::ValueChanged {
                key: r#"metadata.annotations["eks.amazonaws.com/role-arn"]"#.into(),
                from: "arn:aws:iam::123456789012:role/old".into(),
                to: "arn:aws:iam::123456789012:role/new".into(),
            }
        )]
    );
    assert_eq!(
        lines(&c),
        [
            "- `metadata.annotations[\"eks.amazonaws.com/role-arn\"]`: `arn:aws:iam::123456789012:role/old` → `arn:aws:iam::123456789012:role/new`"
        ]
    );
    // Comments only: a change of bytes, not of the document.
    let c = one(SA, &sa("x"), &sa("x").replace("# comment", "# other comment"));
    assert_eq!(lines(&c), ["- changed in comments or layout only"]);
}

/// A folder rendered without one preset (old) and the guide bundle (new): the render creates it.
fn guide_docs_without(preset: &str) -> Documents {
    let selection: Vec<_> = guide_selection().into_iter().filter(|(p, _)| p != preset).collect();
    let before = render(&guide_inputs(), &selection).unwrap();
    let mut d = Documents::from_bundle(&guide_bundle());
    for a in &before.artifacts {
        d.old.insert(a.path.clone(), Side::Text(a.content.clone()));
    }
    d
}

#[test]
fn a_role_created_lists_what_it_grants_and_a_deleted_one_what_it_took() {
    let d = guide_docs_without("efs-csi-driver");
    let c = change_summary::summarize("smallest-cluster", "rendered", &d, false);
    let roles: Vec<(&str, RoleStatus)> = c.roles.iter().map(|r| (r.preset.as_str(), r.status)).collect();
    // The other presets' files are the same; the eksctl config, README and script list it too.
    assert_eq!(roles, [("efs-csi-driver", RoleStatus::Created)]);
    let r = &c.roles[0];
    assert_eq!(
        r.role.as_deref(),
        Some("irsa-smallest-cluster-kube-system-efs-csi-controller-sa")
    );
    assert!(r.findings.iter().any(|f| f.widens
        && f.change
            == Change::SubjectAdded {
                subject: "system:serviceaccount:kube-system:efs-csi-controller-sa".into()
            }));
    assert!(r.findings.iter().any(|f| f.widens
        && f.change
            == Change::ActionAdded {
                action: "elasticfilesystem:CreateAccessPoint".into()
            }));
    let cluster_files: Vec<&str> = c.cluster_files.iter().map(|f| f.file.as_str()).collect();
    assert!(
        cluster_files.contains(&"eksctl/cluster-config.yaml"),
        "{cluster_files:?}"
    );

    // The other way round: the folder has it, the render does not.
    let mut back = Documents::default();
    for (p, side) in &d.old {
        if let Side::Text(t) = side {
            back.new.insert(p.clone(), t.clone());
        }
    }
    for (p, t) in &d.new {
        back.old.insert(p.clone(), Side::Text(t.clone()));
    }
    let c = change_summary::summarize("smallest-cluster", "rendered", &back, false);
    assert_eq!(c.roles.len(), 1);
    let r = &c.roles[0];
    assert_eq!((r.preset.as_str(), r.status), ("efs-csi-driver", RoleStatus::Deleted));
    // Named from the old ServiceAccount annotation: the render no longer knows it.
    assert_eq!(
        r.role.as_deref(),
        Some("irsa-smallest-cluster-kube-system-efs-csi-controller-sa")
    );
    assert!(r.findings.iter().all(|f| !f.widens), "{:?}", r.findings);
    assert!(r.findings.contains(&Finding {
        file: "kubernetes/efs-csi-driver/serviceaccount.yaml".into(),
        widens: false,
        change: Change::FileRemoved,
    }));
}

#[test]
fn the_same_documents_in_another_order_give_no_findings_and_the_same_bytes() {
    let a = policy(
        r#"[{"Effect": "Allow", "Action": ["b:B", "a:A"], "Resource": "*"}, {"Effect": "Allow", "Action": "c:C", "Resource": ["y", "x"]}]"#,
    );
    let b = policy(
        r#"[{"Effect": "Allow", "Action": "c:C", "Resource": ["x", "y"]}, {"Effect": "Allow", "Action": ["a:A", "b:B"], "Resource": ["*"]}]"#,
    );
    let c = one(POLICY, &a, &b);
    assert_eq!(lines(&c), ["- changed in comments or layout only"]);
    // Findings come sorted whatever the order in the files.
    let many = policy(r#"[{"Effect": "Allow", "Action": ["z:Z", "m:M", "a:A"], "Resource": "*"}]"#);
    let none = policy(r#"[{"Effect": "Allow", "Action": "q:Q", "Resource": "*"}]"#);
    let first = change_summary::to_markdown(&[one(POLICY, &none, &many)]);
    let again = change_summary::to_markdown(&[one(POLICY, &none, &many)]);
    assert_eq!(first, again);
    let added: Vec<&str> = first.lines().filter(|l| l.contains("action added")).collect();
    assert_eq!(
        added,
        [
            "- **widens access**: IAM action added: `a:A`",
            "- **widens access**: IAM action added: `m:M`",
            "- **widens access**: IAM action added: `z:Z`",
        ]
    );
}

#[test]
fn a_hand_edited_file_that_does_not_parse_is_flagged_not_guessed() {
    let c = one(POLICY, "{not json", &policy("[]"));
    assert_eq!(c.widenings, 1);
    assert!(
        matches!(&c.roles[0].findings[0].change, Change::Unreadable { message } if message.starts_with("not valid JSON"))
    );
}

#[test]
fn json_has_the_documented_shape() {
    let old = policy(r#"[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]"#);
    let new = policy(r#"[{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}]"#);
    let mut c = one(POLICY, &old, &new);
    c.diff = "DIFF\n".into();
    let v: serde_json::Value = serde_json::from_str(&change_summary::to_json(&[c])).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "upToDate": false,
            "widenings": 1,
            "clusters": [{
                "cluster": "c1",
                "dir": "out",
                "upToDate": false,
                "widenings": 1,
                "roles": [{
                    "preset": "app",
                    "role": "irsa-app",
                    "status": "changed",
                    "findings": [{
                        "file": "iam/app/policy.json",
                        "widens": true,
                        "change": "action-added",
                        "action": "s3:PutObject"
                    }]
                }],
                "clusterFiles": [],
                "diff": "DIFF\n"
            }]
        })
    );
}

// ---- the CLI ----

fn check_args(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--out-dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    render_cmd(&args).output().unwrap()
}

/// A rendered folder with one action widened to a wildcard and a ServiceAccount re-pointed.
fn edited_folder() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("rendered");
    assert!(check_args(&out, &[]).status.success());
    let p = out.join("iam/cluster-autoscaler/policy.json");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("\"eks:DescribeNodegroup\"", "\"ec2:DescribeRegions\"");
    std::fs::write(&p, text).unwrap();
    let p = out.join("kubernetes/ebs-csi-driver/serviceaccount.yaml");
    let text = std::fs::read_to_string(&p).unwrap().replace("role/irsa-", "role/old-");
    std::fs::write(&p, text).unwrap();
    std::fs::remove_file(out.join("iam/efs-csi-driver/trust-policy.json")).unwrap();
    (t, out)
}

#[test]
fn cli_markdown_summary_above_the_diffs_exit_1() {
    let (_t, out) = edited_folder();
    let before = tree(&out);
    let o = check_args(&out, &["--check", "-o", "markdown"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(tree(&out), before, "--check wrote something");
    let stdout = String::from_utf8(o.stdout)
        .unwrap()
        .replace(out.to_str().unwrap(), "[DIR]");
    let summary_end = stdout.find("<details>").expect("diffs follow the summary");
    assert!(stdout[summary_end..].contains("--- a/iam/cluster-autoscaler/policy.json"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("3 rendered file(s) differ"), "{stderr}");
    assert!(!stderr.contains(" -o ") && !stderr.contains("markdown"), "{stderr}");
    insta_settings().bind(|| insta::assert_snapshot!("change_summary_markdown", stdout));
}

#[test]
fn cli_json_summary_is_one_document_on_stdout() {
    let (_t, out) = edited_folder();
    let o = check_args(&out, &["--check", "--output", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
    assert_eq!(v["upToDate"], false);
    assert_eq!(v["widenings"], 4, "{v:#}");
    let c = &v["clusters"][0];
    assert_eq!(c["cluster"], "smallest-cluster");
    assert!(
        c["diff"]
            .as_str()
            .unwrap()
            .contains("+++ b/iam/efs-csi-driver/trust-policy.json")
    );
    // The error object goes to stderr, so stdout stays one document.
    let err: serde_json::Value = serde_json::from_slice(&o.stderr).expect("stderr is the error object");
    assert_eq!(err["exitCode"], 1);
}

#[test]
fn cli_summary_of_a_folder_in_sync_exits_0() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("rendered");
    assert!(check_args(&out, &[]).status.success());
    let o = check_args(&out, &["--check", "-o", "markdown"]);
    assert_eq!(o.status.code(), Some(0));
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert!(
        stdout.contains("No changes: every rendered folder is up to date."),
        "{stdout}"
    );
    assert!(!stdout.contains("<details>"));
    let o = check_args(&out, &["--check", "-o", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["upToDate"], true);
}

#[test]
fn cli_output_needs_check() {
    let t = tempfile::tempdir().unwrap();
    let o = check_args(&t.path().join("r"), &["-o", "markdown"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--check"));
    assert!(!t.path().join("r").exists(), "nothing written");
}

#[test]
fn a_helm_values_change_is_filed_under_its_preset_role() {
    let bundle = guide_bundle();
    let mut d = Documents::from_bundle(&bundle);
    let values = "helm/cluster-autoscaler-values.yaml";
    for (p, text) in &d.new {
        let old = if p == values {
            text.replace("awsRegion: \"us-east-1\"", "awsRegion: \"us-west-2\"")
        } else {
            text.clone()
        };
        d.old.insert(p.clone(), Side::Text(old));
    }
    let c = change_summary::summarize("smallest-cluster", "rendered", &d, false);
    assert_eq!(c.roles.len(), 1, "{c:?}");
    assert_eq!(c.roles[0].preset, "cluster-autoscaler");
    assert_eq!(
        c.roles[0].findings,
        [Finding {
            file: values.into(),
            widens: false,
            change: Change::ValueChanged {
                key: "cluster-autoscaler.awsRegion".into(),
                from: "us-west-2".into(),
                to: "us-east-1".into(),
            },
        }]
    );
    assert!(c.cluster_files.is_empty());
}

#[test]
fn cli_json_bad_input_is_a_json_error_on_stdout_and_nothing_else() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("rendered");
    let o = irsagen()
        .args(["render", "--cluster", "c", "--region", "us-east-1", "--account", "12"])
        .args(["--out-dir", out.to_str().unwrap(), "--check", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
    assert_eq!(v["exitCode"], 2);
    assert!(v["error"].as_str().unwrap().contains("account"), "{v}");
    assert!(!out.exists());
}
