//! The IAM half of `apply --aws` / `verify --aws` in `pod-identity` mode, offline: no preset
//! uses IRSA, so no OIDC issuer is needed, apply does not create the cluster's OIDC provider and
//! verify does not check it. `both` and `irsa` still need the issuer and the provider. Decided
//! from recorded read states; the moto suite (tests/peer_aws/pod_identity.rs) runs the SDK path.

use crate::support::*;
use aws_sdk_iam::primitives::DateTime;
use aws_sdk_iam::types::Role;
use irsagen::aws::{self, Desired, IamState, Identity, PolicyState, ResourceKind, RoleState};
use irsagen::identity::IdentityMode;
use irsagen::overrides::PresetOverrides;
use irsagen::report::Status;
use std::collections::BTreeMap;

const ACCOUNT: &str = "123456789012";

/// The guide's presets, each in `modes[i]` (the last one repeats).
fn selection(modes: &[IdentityMode]) -> Vec<(String, PresetOverrides)> {
    guide_selection()
        .into_iter()
        .enumerate()
        .map(|(i, (p, _))| {
            let m = modes[i.min(modes.len() - 1)];
            (
                p,
                PresetOverrides {
                    identity_mode: Some(m),
                    ..Default::default()
                },
            )
        })
        .collect()
}

fn desired(modes: &[IdentityMode], issuer: bool) -> irsagen::Result<Desired> {
    let mut inputs = guide_inputs();
    if !issuer {
        inputs.oidc_issuer = None;
    }
    let bundle = render(&inputs, &selection(modes)).expect("renders");
    Desired::from_bundle(&bundle, "apply --aws")
}

fn caller() -> Identity {
    Identity {
        account: ACCOUNT.into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:user/ci"),
        user_id: "AIDAEXAMPLE".into(),
    }
}

/// IAM holding nothing of the bundle, and no OIDC provider.
fn empty() -> IamState {
    IamState {
        caller: caller(),
        oidc_client_ids: None,
        policies: BTreeMap::new(),
        roles: BTreeMap::new(),
        missing_extra_policies: Vec::new(),
    }
}

fn encoded(doc: &serde_json::Value) -> String {
    percent_encoding::utf8_percent_encode(&doc.to_string(), percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// IAM after an apply of `d`, still without any OIDC provider.
fn applied_without_provider(d: &Desired) -> IamState {
    let mut s = empty();
    for p in &d.policies {
        s.policies.insert(
            p.arn.clone(),
            PolicyState {
                tags: p.tags.clone(),
                default_version: "v1".into(),
                document: encoded(&p.document),
                versions: Vec::new(),
            },
        );
    }
    for r in &d.roles {
        let role = Role::builder()
            .path("/")
            .role_name(&r.name)
            .role_id("AROAEXAMPLE")
            .arn(format!("arn:aws:iam::{ACCOUNT}:role/{}", r.name))
            .create_date(DateTime::from_secs(1_700_000_000))
            .assume_role_policy_document(encoded(&r.trust))
            .set_tags(Some(
                r.tags
                    .iter()
                    .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().unwrap())
                    .collect(),
            ))
            .build()
            .unwrap();
        s.roles.insert(
            r.name.clone(),
            RoleState {
                role,
                attached: r.attachments().map(str::to_string).collect(),
                inline: Vec::new(),
            },
        );
    }
    s
}

#[test]
fn pod_identity_needs_no_issuer_and_wants_no_provider() {
    use IdentityMode::*;
    let d = desired(&[PodIdentity], false).expect("no issuer needed");
    assert!(d.oidc.is_none());
    assert_eq!(d.roles.len(), 3);
    assert!(d.roles.iter().all(|r| !r.irsa));
    // An issuer given anyway changes nothing: no role trusts the provider.
    assert!(desired(&[PodIdentity], true).unwrap().oidc.is_none());
    // Any preset using IRSA (both, irsa, or one preset overridden) needs it, named by flag.
    for modes in [
        &[Both][..],
        &[Irsa],
        &[PodIdentity, Irsa, PodIdentity],
        &[PodIdentity, Both],
    ] {
        let e = desired(modes, false).expect_err("issuer required").to_string();
        assert!(e.contains("--oidc-issuer") && e.contains("auto"), "{modes:?}: {e}");
        assert!(desired(modes, true).unwrap().oidc.is_some(), "{modes:?}");
    }
}

#[test]
fn apply_in_pod_identity_never_plans_the_oidc_provider() {
    let d = desired(&[IdentityMode::PodIdentity], false).unwrap();
    let plan = aws::decide(&d, &empty(), false).unwrap();
    assert!(
        plan.items.iter().all(|i| i.kind != ResourceKind::OidcProvider),
        "{}",
        plan.to_text()
    );
    let calls = plan.calls();
    assert!(calls.iter().all(|c| !c.contains("OpenIDConnectProvider")), "{calls:?}");
    // The roles and policies are created as in IRSA mode.
    assert_eq!(calls.iter().filter(|c| c.starts_with("iam:CreateRole ")).count(), 3);
    assert_eq!(calls.iter().filter(|c| c.starts_with("iam:CreatePolicy ")).count(), 3);
    // Re-apply against what the first one made, still without a provider: nothing to do.
    let again = aws::decide(&d, &applied_without_provider(&d), false).unwrap();
    assert!(again.is_empty(), "{}", again.to_text());

    // `both` in the same account: the provider is created first.
    let d = desired(&[IdentityMode::Both], true).unwrap();
    let plan = aws::decide(&d, &empty(), false).unwrap();
    assert_eq!(plan.items[0].kind, ResourceKind::OidcProvider);
    assert!(plan.calls()[0].starts_with("iam:CreateOpenIDConnectProvider https://oidc.eks."));
}

#[test]
fn verify_in_pod_identity_does_not_check_the_oidc_provider() {
    let d = desired(&[IdentityMode::PodIdentity], false).unwrap();
    let checks = aws::verify::decide(&d, &applied_without_provider(&d));
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| format!("{:?} {}: {}", c.preset, c.name, c.detail))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(checks.iter().all(|c| c.name != "oidc-provider"));
    assert_eq!(checks.iter().filter(|c| c.name == "trust-pod-identity").count(), 3);

    // In `both` the same account (no provider) fails the provider check, and only that.
    let d = desired(&[IdentityMode::Both], true).unwrap();
    let checks = aws::verify::decide(&d, &applied_without_provider(&d));
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["oidc-provider"]);
}

/// `apply --aws` / `verify --aws` in `mode` without --oidc-issuer, against a closed port.
fn without_issuer(command: &str, mode: &str) -> std::process::Output {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = irsagen();
    c.arg(command).arg("--aws");
    if command == "apply" {
        c.arg("--dry-run");
    }
    c.args(&GUIDE_ARGS[..6])
        .args(["--mode", mode])
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_SESSION_TOKEN");
    c.output().unwrap()
}

#[test]
fn the_cli_asks_for_the_issuer_only_where_a_preset_uses_irsa() {
    assert!(!GUIDE_ARGS[..6].contains(&"--oidc-issuer"));
    for command in ["apply", "verify"] {
        // pod-identity goes on to AWS (which is not there: exit 3, not the input error).
        let o = without_issuer(command, "pod-identity");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{command}: {stderr}");
        assert!(!stderr.contains("--oidc-issuer"), "{command}: {stderr}");
        assert!(stderr.contains("sts:GetCallerIdentity"), "{command}: {stderr}");
        for mode in ["both", "irsa"] {
            let o = without_issuer(command, mode);
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{command} {mode}: {stderr}");
            assert!(stderr.contains("--oidc-issuer"), "{command} {mode}: {stderr}");
        }
    }
}
