//! A preset with several customer managed policies (`policy.additional`) against moto: the
//! karpenter preset's six upstream policies are created and attached, verify passes, re-apply
//! writes nothing, and verify fails when one of the additional policies is detached by hand.

use crate::support::*;
use irsagen::bundle::Bundle;
use irsagen::context::Context;
use irsagen::overrides::PresetOverrides;
use irsagen::parameters::ParamValue;
use irsagen::render::Renderer;

/// The karpenter preset for the guide's cluster with its parameters' examples.
fn karpenter() -> Bundle {
    let r = Renderer::new(None, None).unwrap();
    let preset = &r.catalog.get("karpenter").unwrap().preset;
    let parameters = preset
        .parameters
        .iter()
        .filter(|(_, d)| d.required)
        .map(|(k, d)| (k.clone(), ParamValue::One(d.example.clone())))
        .collect();
    let o = PresetOverrides {
        parameters,
        ..Default::default()
    };
    r.render(&Context::new(&inputs()).unwrap(), &[("karpenter".into(), o)])
        .expect("renders")
}

#[test]
fn apply_creates_and_attaches_each_policy_verify_passes_and_fails_when_one_is_detached() {
    peer_test(async {
        let iam = iam().await;
        let bundle = karpenter();
        let c = &bundle.components[0];
        assert_eq!(c.additional_policies.len(), 5);
        assert_eq!(c.policy_arns.len(), 6);
        let role = role_of(&bundle, "karpenter");

        let (plan, report) = apply(&bundle, false).await;
        for arn in &c.policy_arns {
            let name = arn.rsplit('/').next().unwrap();
            assert!(
                report
                    .done
                    .iter()
                    .any(|d| d.starts_with("iam:CreatePolicy ") && d.contains(name)),
                "{name}: {}",
                report.to_text()
            );
            assert!(
                report.done.contains(&format!("iam:AttachRolePolicy {role} {arn}")),
                "{arn}: {}",
                plan.to_text()
            );
        }
        let mut got = attached(&iam, &role).await;
        let mut want = c.policy_arns.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        // Each policy's default version is the rendered file's document.
        for a in &c.additional_policies {
            assert_eq!(default_document(&iam, &a.arn).await, a.document, "{}", a.name);
        }

        let checks = verify(&bundle).await;
        assert_failing(&checks, &[]);
        let documents = checks
            .iter()
            .filter(|k| k.preset.as_deref() == Some("karpenter") && k.name == "policy-document")
            .count();
        assert_eq!(documents, 6);

        // A second apply changes nothing.
        let again = irsagen::aws::plan(&opts(), &bundle, false).await.unwrap();
        assert!(again.is_empty(), "{}", again.to_text());
        let exec = irsagen::aws::execute_report(&opts(), &again).await.unwrap();
        assert_eq!(exec.stats.writes, 0);

        // One of the additional policies detached by hand: verify fails and names it.
        let detached = &c.additional_policies[2].arn;
        iam.detach_role_policy()
            .role_name(&role)
            .policy_arn(detached)
            .send()
            .await
            .unwrap();
        let checks = verify(&bundle).await;
        let f = assert_failing(&checks, &[(Some("karpenter"), "policy-attached")]);
        assert!(f[0].detail.contains(detached.as_str()), "{}", f[0].detail);
        // Re-apply attaches it again, and nothing else.
        let (_, report) = apply(&bundle, false).await;
        assert_eq!(report.done, [format!("iam:AttachRolePolicy {role} {detached}")]);
        assert_failing(&verify(&bundle).await, &[]);

        // An additional policy's document edited out of band: verify fails on its document.
        let a = &c.additional_policies[0];
        let edited = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]});
        iam.create_policy_version()
            .policy_arn(&a.arn)
            .policy_document(edited.to_string())
            .set_as_default(true)
            .send()
            .await
            .unwrap();
        let checks = verify(&bundle).await;
        let f = assert_failing(&checks, &[(Some("karpenter"), "policy-document")]);
        assert!(
            f[0].detail.contains(&a.name) || f[0].detail.contains(&a.arn),
            "{}",
            f[0].detail
        );
    });
}
