//! apply: from empty, idempotent re-apply (zero writes), dry run, drift, the 5-version limit,
//! ownership (refusal and --adopt), and the OIDC issuer requirement.

use crate::support::*;
use irsagen::aws::{self, Change, MAX_POLICY_VERSIONS, ResourceKind};
use irsagen::report::Status;
use serde_json::json;

/// Local (customer-managed) policy names in the account.
async fn local_policies(iam: &aws_sdk_iam::Client) -> Vec<String> {
    let out = iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .unwrap();
    out.policies()
        .iter()
        .filter_map(|p| p.policy_name().map(str::to_string))
        .collect()
}

#[test]
fn apply_from_empty_then_verify_passes_and_reapply_writes_nothing() {
    peer_test(async {
        let bundle = guide_bundle();
        let (plan, report) = apply(&bundle, false).await;
        assert_eq!(
            plan.items.len(),
            7,
            "provider + 3 policies + 3 roles:\n{}",
            plan.to_text()
        );
        assert!(
            plan.items.iter().all(|i| i.change == Change::Create),
            "{}",
            plan.to_text()
        );
        assert_eq!(plan.stats.writes, 0, "plan never writes");
        // provider, 3 policies, 3 roles, 3 attachments.
        assert_eq!(report.stats.writes, 10, "{report:?}");
        assert_eq!(report.done.len(), 10);
        assert!(
            report.to_text().contains("10 API calls (10 writes)"),
            "{}",
            report.to_text()
        );

        let started = std::time::Instant::now();
        let (checks, vstats) = aws::verify_with_stats(&opts(), &bundle).await.unwrap();
        let verify_time = started.elapsed();
        assert_failing(&checks, &[]);
        assert_eq!(checks.len(), 2 + 3 * 8, "{}", irsagen::report::to_text(&checks));
        assert_eq!(vstats.writes, 0);

        let again = aws::plan(&opts(), &bundle, false).await.unwrap();
        assert!(again.is_empty(), "{}", again.to_text());
        assert_eq!(again.stats.writes, 0);
        assert!(again.calls().is_empty());
        let exec = aws::execute_report(&opts(), &again).await.unwrap();
        assert_eq!(exec.stats.calls, 0, "executing an empty plan makes no call at all");
        eprintln!(
            "MEASURE three presets: apply-from-empty plan {} + execute {}; re-apply plan {}; verify {} in {:?}",
            plan.stats, report.stats, again.stats, vstats, verify_time
        );

        // Everything carries irsagen's tags.
        let iam = iam().await;
        let role = iam
            .get_role()
            .role_name(role_of(&bundle, "ebs-csi-driver"))
            .send()
            .await
            .unwrap()
            .role
            .unwrap();
        let tags: Vec<(String, String)> = role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        for want in [
            ("managed-by", "irsagen"),
            ("irsagen:cluster", CLUSTER),
            ("irsagen:preset", "ebs-csi-driver"),
        ] {
            assert!(tags.contains(&(want.0.into(), want.1.into())), "{tags:?}");
        }
        let pol = iam
            .get_policy()
            .policy_arn(policy_of(&bundle, "ebs-csi-driver"))
            .send()
            .await
            .unwrap()
            .policy
            .unwrap();
        assert!(
            pol.tags()
                .iter()
                .any(|t| t.key() == "managed-by" && t.value() == "irsagen")
        );
    });
}

#[test]
fn cli_apply_twice_then_verify_json() {
    peer_test(async {
        let mut args = vec!["apply", "--aws", "--yes"];
        args.extend(guide_args());
        let first = irsagen(&args);
        assert!(first.status.success(), "{}", text(&first));
        let s = String::from_utf8_lossy(&first.stdout);
        assert!(s.contains("aws plan: 7 to create") && s.contains("(10 writes)"), "{s}");

        let second = irsagen(&args);
        assert!(second.status.success(), "{}", text(&second));
        let s = String::from_utf8_lossy(&second.stdout);
        assert!(
            s.contains("7 unchanged") && s.contains("(0 writes)") && s.contains("aws: no changes"),
            "{s}"
        );
        assert!(!s.contains("done "), "{s}");

        let mut vargs = vec!["verify", "--aws", "-o", "json"];
        vargs.extend(guide_args());
        let v = irsagen(&vargs);
        assert!(v.status.success(), "{}", text(&v));
        let report: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
        assert_eq!(report["failed"], 0);
        assert_eq!(report["passed"], 26);
        assert!(
            report["checks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["scope"] == "aws" && c["status"] == "PASS")
        );
    });
}

#[test]
fn dry_run_changes_nothing() {
    peer_test(async {
        let mut args = vec!["apply", "--aws", "--dry-run"];
        args.extend(guide_args());
        let out = irsagen(&args);
        assert!(out.status.success(), "{}", text(&out));
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(
            s.contains("aws: dry run, nothing changed") && s.contains("(0 writes)"),
            "{s}"
        );
        // The plan shows the exact documents it would create.
        assert!(s.contains("+ role") && s.contains("+        \"Federated\""), "{s}");
        let iam = iam().await;
        assert!(role_names(&iam).await.is_empty());
        assert!(local_policies(&iam).await.is_empty());
        assert!(
            iam.list_open_id_connect_providers()
                .send()
                .await
                .unwrap()
                .open_id_connect_provider_list()
                .is_empty()
        );
    });
}

#[test]
fn drift_in_a_policy_version_and_a_trust_policy_is_planned_and_fixed() {
    peer_test(async {
        let bundle = guide_bundle();
        apply(&bundle, false).await;
        let iam = iam().await;
        let policy = policy_of(&bundle, "cluster-autoscaler");
        let role = role_of(&bundle, "efs-csi-driver");
        let drifted =
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"autoscaling:*","Resource":"*"}]});
        iam.create_policy_version()
            .policy_arn(&policy)
            .policy_document(drifted.to_string())
            .set_as_default(true)
            .send()
            .await
            .unwrap();
        let loose = trust_with(json!({
            "StringLike": {format!("{HOST}:sub"): "system:serviceaccount:kube-system:*"},
            "StringEquals": {format!("{HOST}:aud"): "sts.amazonaws.com"},
        }));
        iam.update_assume_role_policy()
            .role_name(&role)
            .policy_document(loose)
            .send()
            .await
            .unwrap();

        let plan = aws::plan(&opts(), &bundle, false).await.unwrap();
        let text = plan.to_text();
        let p = plan
            .items
            .iter()
            .find(|i| i.kind == ResourceKind::Policy && i.name == policy)
            .unwrap();
        assert_eq!(p.change, Change::Update, "{text}");
        let d = p.diff.as_deref().unwrap();
        assert!(
            d.contains("-      \"Action\": \"autoscaling:*\"") && d.contains("autoscaling:DescribeAutoScalingGroups"),
            "{d}"
        );
        assert_eq!(
            p.calls(),
            vec![format!("iam:CreatePolicyVersion {policy} (set as default)")]
        );
        let r = plan
            .items
            .iter()
            .find(|i| i.kind == ResourceKind::Role && i.name == role)
            .unwrap();
        assert_eq!(r.change, Change::Update, "{text}");
        assert!(r.diff.as_deref().unwrap().contains("-        \"StringLike\""), "{text}");
        assert_eq!(r.calls(), vec![format!("iam:UpdateAssumeRolePolicy {role}")]);
        assert_eq!(
            plan.items.iter().filter(|i| i.change != Change::NoChange).count(),
            2,
            "{text}"
        );

        let checks = verify(&bundle).await;
        assert_failing(
            &checks,
            &[
                (Some("cluster-autoscaler"), "policy-document"),
                (Some("efs-csi-driver"), "trust-subject"),
                (Some("efs-csi-driver"), "trust-statements"),
            ],
        );

        let report = aws::execute_report(&opts(), &plan).await.unwrap();
        assert_eq!(report.stats.writes, 2);
        assert!(aws::plan(&opts(), &bundle, false).await.unwrap().is_empty());
        assert_failing(&verify(&bundle).await, &[]);
        let comp = bundle
            .components
            .iter()
            .find(|c| c.preset == "cluster-autoscaler")
            .unwrap();
        assert_eq!(default_document(&iam, &policy).await, comp.policy_document);
    });
}

#[test]
fn five_policy_versions_make_room_by_deleting_the_oldest_non_default() {
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
                .set_as_default(i == 3)
                .send()
                .await
                .unwrap();
        }
        let versions = iam.list_policy_versions().policy_arn(&arn).send().await.unwrap();
        assert_eq!(versions.versions().len(), MAX_POLICY_VERSIONS);

        let plan = aws::plan(&opts(), &bundle, false).await.unwrap();
        assert_eq!(
            plan.calls(),
            vec![
                format!("iam:DeletePolicyVersion {arn} v1"),
                format!("iam:CreatePolicyVersion {arn} (set as default)")
            ],
            "{}",
            plan.to_text()
        );
        aws::execute_report(&opts(), &plan)
            .await
            .expect("apply succeeds with 5 versions");

        let versions = iam.list_policy_versions().policy_arn(&arn).send().await.unwrap();
        let mut ids: Vec<&str> = versions.versions().iter().filter_map(|v| v.version_id()).collect();
        ids.sort_unstable();
        // v1 (the oldest non-default) went, v3 (the old default) stayed, v6 is the new default.
        assert_eq!(ids, vec!["v2", "v3", "v4", "v5", "v6"]);
        let default: Vec<&str> = versions
            .versions()
            .iter()
            .filter(|v| v.is_default_version())
            .filter_map(|v| v.version_id())
            .collect();
        assert_eq!(default, vec!["v6"]);
        assert_eq!(default_document(&iam, &arn).await, bundle.components[0].policy_document);
        assert!(aws::plan(&opts(), &bundle, false).await.unwrap().is_empty());
    });
}

#[test]
fn an_unmanaged_role_is_refused_until_adopt() {
    peer_test(async {
        let bundle = guide_bundle();
        let iam = iam().await;
        let role = role_of(&bundle, "cluster-autoscaler");
        let foreign_trust = trust_with(json!({"StringEquals": {format!("{HOST}:aud"): "sts.amazonaws.com"}}));
        iam.create_role()
            .role_name(&role)
            .assume_role_policy_document(&foreign_trust)
            .send()
            .await
            .unwrap();
        let foreign = create_policy(
            &iam,
            "SomeoneElses",
            &json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}),
        )
        .await;
        iam.attach_role_policy()
            .role_name(&role)
            .policy_arn(&foreign)
            .send()
            .await
            .unwrap();

        let mut args = vec!["apply", "--aws", "--yes"];
        args.extend(guide_args());
        let out = irsagen(&args);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("role `{role}`")) && err.contains("--adopt") && err.contains("managed-by=irsagen"),
            "{err}"
        );
        // Nothing changed: no policy or provider was created, the role is as it was.
        assert_eq!(local_policies(&iam).await, vec!["SomeoneElses".to_string()]);
        assert!(
            iam.list_open_id_connect_providers()
                .send()
                .await
                .unwrap()
                .open_id_connect_provider_list()
                .is_empty()
        );
        let live = iam.get_role().role_name(&role).send().await.unwrap().role.unwrap();
        assert!(live.tags().is_empty());
        let live_trust = aws::decode_document(live.assume_role_policy_document().unwrap(), "t").unwrap();
        assert_eq!(
            live_trust,
            serde_json::from_str::<serde_json::Value>(&foreign_trust).unwrap()
        );

        args.push("--adopt");
        let out = irsagen(&args);
        assert!(out.status.success(), "{}", text(&out));
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(
            s.contains("~ adopt: it exists without the tag managed-by=irsagen; irsagen claims it first"),
            "{s}"
        );
        let live = iam.get_role().role_name(&role).send().await.unwrap().role.unwrap();
        assert!(
            live.tags()
                .iter()
                .any(|t| t.key() == "managed-by" && t.value() == "irsagen")
        );
        // The foreign attachment is left alone.
        let attached = iam.list_attached_role_policies().role_name(&role).send().await.unwrap();
        let arns: Vec<&str> = attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
            .collect();
        assert!(
            arns.contains(&foreign.as_str()) && arns.contains(&policy_of(&bundle, "cluster-autoscaler").as_str()),
            "{arns:?}"
        );
        // ... and verify reports it: a permission beyond the bundle, named.
        let checks = verify(&bundle).await;
        let f = assert_failing(&checks, &[(Some("cluster-autoscaler"), "policy-extra")]);
        assert!(f[0].detail.contains(&foreign), "{}", f[0].detail);
        // Now managed: a plain apply is a no-op.
        assert!(aws::plan(&opts(), &bundle, false).await.unwrap().is_empty());
    });
}

#[test]
fn an_unmanaged_policy_is_refused_until_adopt() {
    peer_test(async {
        let bundle = render(&inputs(), &["efs-csi-driver"]);
        let comp = &bundle.components[0];
        let iam = iam().await;
        iam.create_policy()
            .policy_name(&comp.policy_name)
            .policy_document(comp.policy_document.to_string())
            .send()
            .await
            .unwrap();
        let err = aws::plan(&opts(), &bundle, false).await.expect_err("refused");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("policy `{}`", comp.policy_name)) && msg.contains("--adopt"),
            "{msg}"
        );
        assert_eq!(err.exit_code(), 3);
        assert!(role_names(&iam).await.is_empty());

        let (plan, report) = apply(&bundle, true).await;
        let p = plan.items.iter().find(|i| i.kind == ResourceKind::Policy).unwrap();
        assert_eq!(p.change, Change::Update, "{}", plan.to_text());
        assert_eq!(
            p.calls(),
            vec![format!(
                "iam:TagPolicy {} irsagen:preset=efs-csi-driver,managed-by=irsagen",
                comp.policy_arn
            )],
            "the document matched; only the claim"
        );
        // The provider, the claim, the role and its attachment: exactly the plan's calls.
        assert_eq!(plan.calls().len(), 4, "{}", plan.to_text());
        assert_eq!(report.stats.writes, 4, "{report:?}");
        assert_eq!(report.done, plan.calls());
        assert!(aws::plan(&opts(), &bundle, false).await.unwrap().is_empty());
    });
}

#[test]
fn apply_and_verify_need_the_oidc_issuer() {
    peer_test(async {
        let mut no_issuer = inputs();
        no_issuer.oidc_issuer = None;
        let bundle = render(&no_issuer, &["cluster-autoscaler"]);
        let err = aws::plan(&opts(), &bundle, false).await.expect_err("needs the issuer");
        assert!(err.to_string().contains("--oidc-issuer"), "{err}");
        assert!(aws::verify(&opts(), &bundle).await.is_err());
        // The guide's flags without the issuer.
        let args: Vec<&str> = ["apply", "--aws", "--yes"]
            .into_iter()
            .chain(guide_args()[..6].iter().copied())
            .collect();
        let out = irsagen(&args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--oidc-issuer auto"),
            "{}",
            text(&out)
        );
    });
}

#[test]
fn a_provider_without_the_sts_client_id_is_planned_for_the_client_id() {
    peer_test(async {
        let iam = iam().await;
        iam.create_open_id_connect_provider()
            .url(ISSUER)
            .client_id_list("something-else")
            .send()
            .await
            .unwrap();
        let bundle = render(&inputs(), &["cluster-autoscaler"]);
        let checks = verify(&bundle).await;
        let c = check(&checks, None, "oidc-provider");
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.advice
                .as_deref()
                .unwrap()
                .contains("add-client-id-to-open-id-connect-provider")
        );
        let plan = aws::plan(&opts(), &bundle, false).await.unwrap();
        assert_eq!(plan.items[0].change, Change::Update, "{}", plan.to_text());
        assert_eq!(
            plan.items[0].calls(),
            vec![format!(
                "iam:AddClientIDToOpenIDConnectProvider {} sts.amazonaws.com",
                provider_arn()
            )]
        );
        // moto 5.2 does not implement AddClientIDToOpenIDConnectProvider (HTTP 500), so the
        // execute half is a partial-failure check: the error names the call and what is left.
        let err = aws::execute_report(&opts(), &plan)
            .await
            .expect_err("moto lacks the action")
            .to_string();
        assert!(
            err.contains("FAILED iam:AddClientIDToOpenIDConnectProvider")
                && err.contains("3 more change(s) not attempted"),
            "{err}"
        );
    });
}

#[test]
fn a_partial_failure_reports_what_was_done_and_a_rerun_converges() {
    peer_test(async {
        let bundle = render(&inputs(), &["cluster-autoscaler"]);
        let plan = aws::plan(&opts(), &bundle, false).await.unwrap();
        // Between plan and execute someone creates the policy: CreatePolicy fails mid-way.
        let comp = &bundle.components[0];
        let iam = iam().await;
        iam.create_policy()
            .policy_name(&comp.policy_name)
            .policy_document(comp.policy_document.to_string())
            .send()
            .await
            .unwrap();
        let err = aws::execute_report(&opts(), &plan)
            .await
            .expect_err("CreatePolicy conflicts");
        assert_eq!(err.exit_code(), 3);
        let msg = err.to_string();
        assert!(msg.contains("apply stopped part-way"), "{msg}");
        assert!(msg.contains("done iam:CreateOpenIDConnectProvider"), "{msg}");
        assert!(
            msg.contains("FAILED iam:CreatePolicy AmazonEKSClusterAutoscalerPolicy")
                && msg.contains("EntityAlreadyExists"),
            "{msg}"
        );
        assert!(
            msg.contains("2 more change(s) not attempted") && msg.contains("re-run `irsagen apply --aws`"),
            "{msg}"
        );
        // The policy is not irsagen's, so the re-run needs --adopt; then it converges.
        let (again, _) = apply(&bundle, true).await;
        assert_eq!(
            again.items[0].change,
            Change::NoChange,
            "the provider was created by the first run:\n{}",
            again.to_text()
        );
        assert!(aws::plan(&opts(), &bundle, false).await.unwrap().is_empty());
        assert_failing(&verify(&bundle).await, &[]);
    });
}

#[test]
fn credentials_for_another_account_are_refused() {
    peer_test(async {
        let mut other = inputs();
        other.account = Some("111111111111".into());
        let bundle = render(&other, &["cluster-autoscaler"]);
        let err = aws::plan(&opts(), &bundle, false)
            .await
            .expect_err("wrong account")
            .to_string();
        assert!(
            err.contains("account 123456789012") && err.contains("account 111111111111 (--account)"),
            "{err}"
        );
        let checks = verify(&bundle).await;
        let c = check(&checks, None, "account");
        assert_eq!(c.status, Status::Fail);
        assert!(c.advice.as_deref().unwrap().contains("--account auto"));
        assert!(iam().await.list_roles().send().await.unwrap().roles().is_empty());
    });
}

#[test]
fn apply_without_yes_and_without_a_terminal_reaches_the_confirmation_and_is_refused_there() {
    peer_test(async {
        // Valid inputs and credentials: the plan is made and shown, then the confirmation
        // cannot be asked (stdin is not a terminal) and nothing is written.
        let mut args = vec!["apply", "--aws"];
        args.extend(guide_args());
        let out = run_bounded(std::process::Command::new(env!("CARGO_BIN_EXE_irsagen")).args(&args));
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("aws plan: 7 to create, 0 to update, 0 unchanged"),
            "the plan was made: {stdout}"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(
                "refusing to apply these AWS changes without confirmation: no terminal to ask on; pass --yes"
            ),
            "{stderr}"
        );
        assert!(!stdout.contains("done "), "{stdout}");
        let iam = iam().await;
        assert!(role_names(&iam).await.is_empty());
        assert!(local_policies(&iam).await.is_empty());
        assert!(
            iam.list_open_id_connect_providers()
                .send()
                .await
                .unwrap()
                .open_id_connect_provider_list()
                .is_empty()
        );
    });
}

#[test]
fn a_role_owned_by_a_cloudformation_stack_is_refused_until_adopt_and_the_stack_named() {
    peer_test(async {
        let bundle = render(&inputs(), &["cluster-autoscaler"]);
        let role = role_of(&bundle, "cluster-autoscaler");
        let stack = format!("eksctl-{CLUSTER}-addon-iamserviceaccount-kube-system-cluster-autoscaler");
        let iam = iam().await;
        // As eksctl leaves it: the rendered trust, tagged by the stack (and managed-by=eksctl).
        let trust = bundle
            .get("iam/cluster-autoscaler/trust-policy.json")
            .unwrap()
            .content
            .clone();
        iam.create_role()
            .role_name(&role)
            .assume_role_policy_document(&trust)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(aws::STACK_TAG)
                    .value(&stack)
                    .build()
                    .unwrap(),
            )
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("managed-by")
                    .value("eksctl")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let mut args = vec!["apply", "--aws", "--yes", "--preset", "cluster-autoscaler"];
        args.extend(guide_args());
        let out = irsagen(&args);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("role `{role}` is owned by the CloudFormation stack `{stack}`"))
                && err.contains("makes the stack drift")
                && err.contains("--adopt"),
            "{err}"
        );
        assert!(local_policies(&iam).await.is_empty(), "nothing was changed");
        assert_eq!(role_tags(&iam, &role).await.len(), 2);

        args.push("--adopt");
        let out = irsagen(&args);
        assert!(out.status.success(), "{}", text(&out));
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains("~ adopt: it is owned by the CloudFormation stack"), "{s}");
        let tags = role_tags(&iam, &role).await;
        assert!(tags.contains(&(aws::STACK_TAG.to_string(), stack.clone())), "{tags:?}");
        assert!(
            tags.contains(&("managed-by".to_string(), "irsagen".to_string())),
            "{tags:?}"
        );
        assert_eq!(
            attached(&iam, &role).await,
            vec![policy_of(&bundle, "cluster-autoscaler")]
        );
        // Still the stack's: every later run needs --adopt again, and says why.
        let err = aws::plan(&opts(), &bundle, false)
            .await
            .expect_err("stack-owned")
            .to_string();
        assert!(err.contains("makes the stack drift"), "{err}");
        assert!(aws::plan(&opts(), &bundle, true).await.unwrap().calls().is_empty());
    });
}
