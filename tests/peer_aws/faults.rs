//! apply and whoami through scripts/aws-fault-proxy in front of moto: lost answers, IAM's
//! eventual consistency, a silent server, and a failed claim of an adopted role. Each test
//! checks that its fault really happened (the proxy's log) and the end state in moto.

use crate::support::*;
use irsagen::aws::{self, Change};
use serde_json::json;

const CA: &str = "cluster-autoscaler";

#[test]
fn lost_answers_of_creates_are_re_read_and_apply_finishes_in_one_run() {
    peer_test(async {
        let bundle = render(&inputs(), &[CA]);
        let role = role_of(&bundle, CA);
        let policy = policy_of(&bundle, CA);
        // Each create takes effect in moto, its answer is dropped, the SDK retries and meets
        // EntityAlreadyExists; the attach is dropped too (retrying it is harmless).
        let proxy = FaultProxy::start(&[
            "--drop",
            "CreateOpenIDConnectProvider:1",
            "--drop",
            "CreatePolicy:1",
            "--drop",
            "CreateRole:1",
            "--drop",
            "AttachRolePolicy:1",
        ]);
        let plan = aws::plan(&proxy.opts(), &bundle, false).await.expect("plan");
        assert_eq!(plan.calls().len(), 4, "{}", plan.to_text());
        let report = aws::execute_report(&proxy.opts(), &plan)
            .await
            .expect("one run finishes despite the lost answers");
        for action in [
            "CreateOpenIDConnectProvider",
            "CreatePolicy",
            "CreateRole",
            "AttachRolePolicy",
        ] {
            assert_eq!(proxy.count(&format!("{action} drop")), 1, "{:#?}", proxy.log());
            assert_eq!(proxy.count(&format!("{action} forward")), 1, "{:#?}", proxy.log());
        }
        let lost = "(its answer was lost; IAM shows it done)";
        assert_eq!(
            report.done,
            vec![
                format!("iam:CreateOpenIDConnectProvider {ISSUER} {lost}"),
                format!("iam:CreatePolicy AmazonEKSClusterAutoscalerPolicy {lost}"),
                format!("iam:CreateRole {role} {lost}"),
                format!("iam:AttachRolePolicy {role} {policy}"),
            ]
        );
        // 4 writes, each sent twice; one re-read per create (GetOpenIDConnectProvider;
        // GetPolicy + GetPolicyVersion; GetRole).
        assert_eq!((report.stats.writes, report.stats.calls), (8, 12), "{report:?}");

        // The end state, read from moto directly: exactly one of each, as rendered.
        let iam = iam().await;
        assert_eq!(role_names(&iam).await, vec![role.clone()]);
        assert_eq!(attached(&iam, &role).await, vec![policy.clone()]);
        let versions = iam.list_policy_versions().policy_arn(&policy).send().await.unwrap();
        assert_eq!(versions.versions().len(), 1);
        assert!(aws::plan(&opts(), &bundle, false).await.unwrap().is_empty());
        assert_failing(&verify(&bundle).await, &[]);
    });
}

#[test]
fn lost_answers_at_the_version_limit_are_re_read() {
    peer_test(async {
        let bundle = render(&inputs(), &["ebs-csi-driver"]);
        apply(&bundle, false).await;
        let iam = iam().await;
        let arn = policy_of(&bundle, "ebs-csi-driver");
        for i in 2..=5 {
            let doc = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":format!("ec2:DescribeVolume{i}"),"Resource":"*"}]});
            iam.create_policy_version()
                .policy_arn(&arn)
                .policy_document(doc.to_string())
                .set_as_default(true)
                .send()
                .await
                .unwrap();
        }
        // The delete's retry meets NoSuchEntity (already gone); the create's retry meets
        // LimitExceeded (the version it made fills the fifth slot).
        let proxy = FaultProxy::start(&["--drop", "DeletePolicyVersion:1", "--drop", "CreatePolicyVersion:1"]);
        let plan = aws::plan(&proxy.opts(), &bundle, false).await.unwrap();
        assert_eq!(
            plan.calls(),
            vec![
                format!("iam:DeletePolicyVersion {arn} v1"),
                format!("iam:CreatePolicyVersion {arn} (set as default)")
            ]
        );
        let report = aws::execute_report(&proxy.opts(), &plan)
            .await
            .expect("finishes in one run");
        assert_eq!(proxy.count("DeletePolicyVersion drop"), 1, "{:#?}", proxy.log());
        assert_eq!(proxy.count("CreatePolicyVersion drop"), 1, "{:#?}", proxy.log());
        assert_eq!(
            report.done,
            vec![
                format!("iam:DeletePolicyVersion {arn} v1 (already gone)"),
                format!("iam:CreatePolicyVersion {arn} (set as default) (its answer was lost; IAM shows it done)"),
            ]
        );
        let versions = iam.list_policy_versions().policy_arn(&arn).send().await.unwrap();
        let mut ids: Vec<&str> = versions.versions().iter().filter_map(|v| v.version_id()).collect();
        ids.sort_unstable();
        assert_eq!(ids, vec!["v2", "v3", "v4", "v5", "v6"]);
        assert_eq!(default_document(&iam, &arn).await, bundle.components[0].policy_document);
        assert!(aws::plan(&opts(), &bundle, false).await.unwrap().is_empty());
    });
}

#[test]
fn a_role_not_visible_yet_after_its_creation_is_waited_for() {
    peer_test(async {
        let bundle = render(&inputs(), &[CA]);
        let role = role_of(&bundle, CA);
        let policy = policy_of(&bundle, CA);
        // IAM's eventual consistency, as the attach right after CreateRole sees it.
        let proxy = FaultProxy::start(&["--error", "AttachRolePolicy:NoSuchEntity:404:2"]);
        let (plan, report) = {
            let plan = aws::plan(&proxy.opts(), &bundle, false).await.unwrap();
            let report = aws::execute_report(&proxy.opts(), &plan).await.expect("waits it out");
            (plan, report)
        };
        assert_eq!(plan.calls().len(), 4);
        assert_eq!(proxy.count("AttachRolePolicy error"), 2, "{:#?}", proxy.log());
        assert_eq!(proxy.count("AttachRolePolicy forward"), 1, "{:#?}", proxy.log());
        assert_eq!(
            report.done.last().unwrap(),
            &format!("iam:AttachRolePolicy {role} {policy} (visible after 2 retries)")
        );
        assert_eq!(attached(&iam().await, &role).await, vec![policy]);
        assert_failing(&verify(&bundle).await, &[]);
    });
}

#[test]
fn no_such_entity_on_something_this_run_did_not_create_is_not_retried() {
    peer_test(async {
        let bundle = render(&inputs(), &[CA]);
        apply(&bundle, false).await;
        let iam = iam().await;
        let role = role_of(&bundle, CA);
        let policy = policy_of(&bundle, CA);
        iam.detach_role_policy()
            .role_name(&role)
            .policy_arn(&policy)
            .send()
            .await
            .unwrap();
        let proxy = FaultProxy::start(&["--error", "AttachRolePolicy:NoSuchEntity:404"]);
        let plan = aws::plan(&proxy.opts(), &bundle, false).await.unwrap();
        let err = aws::execute_report(&proxy.opts(), &plan)
            .await
            .expect_err("fails")
            .to_string();
        assert_eq!(proxy.count("AttachRolePolicy error"), 1, "{:#?}", proxy.log());
        assert!(
            err.contains("FAILED iam:AttachRolePolicy") && err.contains("NoSuchEntity"),
            "{err}"
        );
        assert!(attached(&iam, &role).await.is_empty());
    });
}

#[test]
fn a_silent_server_times_out_naming_the_call_and_the_endpoint() {
    peer_test(async {
        // Reads and the first writes pass; CreateRole is accepted and never answered.
        let proxy = FaultProxy::start(&["--silent", "CreateRole"]);
        let mut args = vec!["apply", "--aws", "--yes", "--timeout", "2", "--preset", CA];
        args.extend(guide_args());
        let out = proxy.irsagen(&args);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        let role = format!("irsa-{CLUSTER}-kube-system-cluster-autoscaler");
        assert!(
            err.contains(&format!(
                "FAILED iam:CreateRole {role}: iam:CreateRole on `{role}` timed out: {} did not answer within 2 s (--timeout)",
                proxy.url
            )),
            "{err}"
        );
        assert!(
            err.contains("done iam:CreatePolicy AmazonEKSClusterAutoscalerPolicy"),
            "{err}"
        );
        assert!(
            !err.contains("DispatchFailure") && !err.contains("TimeoutError {"),
            "{err}"
        );
        // The budget covers the retries: one attempt, not five.
        assert_eq!(proxy.count("CreateRole silent"), 1, "{:#?}", proxy.log());
        let iam = iam().await;
        assert!(role_names(&iam).await.is_empty());
        // A re-run against a server that answers finishes the job.
        let bundle = render(&inputs(), &[CA]);
        let (plan, _) = apply(&bundle, false).await;
        assert_eq!(
            plan.items.iter().map(|i| i.change).collect::<Vec<_>>(),
            vec![Change::NoChange, Change::NoChange, Change::Create]
        );
        assert_failing(&verify(&bundle).await, &[]);

        // whoami: the same for STS.
        let silent = FaultProxy::start(&["--silent", "*"]);
        let out = silent.irsagen(&["whoami", "--timeout", "1"]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "sts:GetCallerIdentity timed out: {} did not answer within 1 s (--timeout)",
                silent.url
            )),
            "{err}"
        );
    });
}

#[test]
fn a_failed_claim_changes_nothing_of_the_foreign_role_and_names_adopt() {
    peer_test(async {
        let bundle = render(&inputs(), &[CA]);
        let role = role_of(&bundle, CA);
        let iam = iam().await;
        let foreign_trust = trust_with(json!({"StringEquals": {format!("{HOST}:aud"): "sts.amazonaws.com"}}));
        iam.create_role()
            .role_name(&role)
            .assume_role_policy_document(&foreign_trust)
            .send()
            .await
            .unwrap();
        let proxy = FaultProxy::start(&["--error", "TagRole:AccessDenied:403"]);
        let mut args = vec!["apply", "--aws", "--yes", "--adopt", "--preset", CA];
        args.extend(guide_args());
        let out = proxy.irsagen(&args);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("FAILED iam:TagRole {role}")), "{err}");
        assert!(
            err.contains(&format!(
                "re-run with --adopt (`irsagen apply --aws --adopt`): role `{role}` is not claimed yet"
            )),
            "{err}"
        );
        assert!(err.contains("2 more change(s) not attempted"), "{err}");
        assert_eq!(proxy.count("TagRole error"), 1, "{:#?}", proxy.log());
        // Nothing of the foreign role changed: no tag, same trust, nothing attached.
        assert!(role_tags(&iam, &role).await.is_empty());
        assert_eq!(
            role_trust(&iam, &role).await,
            serde_json::from_str::<serde_json::Value>(&foreign_trust).unwrap()
        );
        assert!(attached(&iam, &role).await.is_empty());
        drop(proxy);

        // Without --adopt the re-run refuses, and says --adopt; with it, it converges.
        let plain: Vec<&str> = args.iter().copied().filter(|a| *a != "--adopt").collect();
        let out = irsagen(&plain);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Pass --adopt"),
            "{}",
            text(&out)
        );
        let out = irsagen(&args);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            role_tags(&iam, &role)
                .await
                .contains(&("managed-by".into(), "irsagen".into()))
        );
        assert_failing(&verify(&bundle).await, &[]);
    });
}
