//! `verify --aws` decided offline: every check is a pure function of what IAM returned (a
//! recorded read state, documents URL-encoded as IAM returns them) and what the bundle wants,
//! so `cargo test` fails when a check is broken. Also: `extraPolicyArns` from input to
//! rendered file, and a verify that cannot read AWS (exit 3, each cause said once).

use crate::support::*;
use aws_sdk_iam::primitives::DateTime;
use aws_sdk_iam::types::Role;
use irsagen::aws::verify::decide;
use irsagen::aws::{Desired, IamState, Identity, PolicyState, RoleState};
use irsagen::overrides::PresetOverrides;
use irsagen::report::{Check, Status};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

const HOST: &str = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
const ACCOUNT: &str = "123456789012";
const EBS: Option<&str> = Some("ebs-csi-driver");
const EBS_SUBJECT: &str = "system:serviceaccount:kube-system:ebs-csi-controller-sa";
const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

/// IAM returns documents percent-encoded as RFC 3986 says: everything but `A-Za-z0-9-._~`.
const IAM_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A document as GetRole / GetPolicyVersion return it. IAM keeps the text it was sent, so the
/// encoded form keeps the spaces of a pretty-printed document.
fn iam_encoded(doc: &Value) -> String {
    utf8_percent_encode(&serde_json::to_string_pretty(doc).unwrap(), IAM_ENCODE).to_string()
}

/// A role as GetRole returns it, with its trust policy as IAM returns it (`encoded_trust`).
fn sdk_role(name: &str, encoded_trust: String) -> Role {
    Role::builder()
        .path("/")
        .role_name(name)
        .role_id("AROAEXAMPLE")
        .arn(format!("arn:aws:iam::{ACCOUNT}:role/{name}"))
        .create_date(DateTime::from_secs(1_700_000_000))
        .assume_role_policy_document(encoded_trust)
        .build()
        .unwrap()
}

/// A policy's default version as GetPolicy and GetPolicyVersion return it.
fn policy_state(version: &str, encoded_document: String) -> PolicyState {
    PolicyState {
        tags: Default::default(),
        default_version: version.into(),
        document: encoded_document,
        versions: Vec::new(),
    }
}

fn provider() -> String {
    format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}")
}

/// The guide's bundle as verify wants it, with overrides for ebs-csi-driver.
fn desired_with(ebs: PresetOverrides) -> Desired {
    let selection: Vec<(String, PresetOverrides)> = guide_selection()
        .into_iter()
        .map(|(p, o)| {
            if p == "ebs-csi-driver" {
                (p, ebs.clone())
            } else {
                (p, o)
            }
        })
        .collect();
    let bundle = render(&guide_inputs(), &selection).expect("renders");
    Desired::from_bundle(&bundle, "verify --aws").expect("desired state")
}

fn desired() -> Desired {
    desired_with(PresetOverrides::default())
}

/// The read state of an account where `apply --aws` ran and nobody changed anything since.
fn applied(d: &Desired) -> IamState {
    IamState {
        caller: Identity {
            account: ACCOUNT.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/ci"),
            user_id: "AIDAEXAMPLE".into(),
        },
        oidc_client_ids: Some(vec!["sts.amazonaws.com".into()]),
        policies: d
            .policies
            .iter()
            .map(|p| (p.arn.clone(), policy_state("v1", iam_encoded(&p.document))))
            .collect(),
        roles: d
            .roles
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    RoleState {
                        role: sdk_role(&r.name, iam_encoded(&r.trust)),
                        attached: r.attachments().map(str::to_string).collect(),
                        inline: Vec::new(),
                    },
                )
            })
            .collect(),
        missing_extra_policies: Vec::new(),
    }
}

fn ebs_role<'a>(d: &Desired, live: &'a mut IamState) -> &'a mut RoleState {
    let name = &d.roles.iter().find(|r| r.preset == "ebs-csi-driver").unwrap().name;
    live.roles.get_mut(name).unwrap()
}

/// Replaces the ebs-csi-driver role's trust policy.
fn with_trust(d: &Desired, trust: Value) -> IamState {
    let mut live = applied(d);
    ebs_role(d, &mut live).role.assume_role_policy_document = Some(iam_encoded(&trust));
    live
}

/// The rendered statement with another `Condition`.
fn statement(condition: Value) -> Value {
    json!({
        "Effect": "Allow",
        "Principal": {"Federated": provider()},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition,
    })
}

fn trust(statements: Vec<Value>) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The rendered ebs-csi-driver statement, as a value to combine with others.
fn rendered_statement() -> Value {
    statement(json!({"StringEquals": {format!("{HOST}:sub"): EBS_SUBJECT, format!("{HOST}:aud"): "sts.amazonaws.com"}}))
}

/// Asserts exactly these checks fail (as `(preset, name)`, in report order); returns them.
fn failing(checks: &[Check], want: &[(Option<&str>, &str)]) -> Vec<Check> {
    let got: Vec<(Option<&str>, &str)> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| (c.preset.as_deref(), c.name.as_str()))
        .collect();
    assert_eq!(got, want, "{}", irsagen::report::to_text(checks));
    checks.iter().filter(|c| c.status == Status::Fail).cloned().collect()
}

fn detail<'a>(checks: &'a [Check], preset: Option<&str>, name: &str) -> &'a str {
    &checks
        .iter()
        .find(|c| c.preset.as_deref() == preset && c.name == name)
        .unwrap_or_else(|| panic!("no check {preset:?}/{name}"))
        .detail
}

#[test]
fn an_applied_account_passes_every_check_in_a_stable_order() {
    let d = desired();
    let checks = decide(&d, &applied(&d));
    failing(&checks, &[]);
    let names: Vec<(Option<&str>, &str)> = checks
        .iter()
        .filter(|c| c.preset.as_deref() != Some("cluster-autoscaler") && c.preset.as_deref() != Some("efs-csi-driver"))
        .map(|c| (c.preset.as_deref(), c.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (None, "account"),
            (None, "oidc-provider"),
            (EBS, "role-exists"),
            (EBS, "trust-provider"),
            (EBS, "trust-subject"),
            (EBS, "trust-audience"),
            (EBS, "trust-statements"),
            (EBS, "policy-attached"),
            (EBS, "policy-extra"),
            (EBS, "policy-document"),
        ]
    );
    assert_eq!(checks.len(), 2 + 3 * 8);
}

#[test]
fn a_recorded_get_role_document_decodes() {
    // GetRole's AssumeRolePolicyDocument for the guide's ebs-csi-driver role, exactly as IAM
    // returns it (percent-encoded, `:` and `/` included).
    let recorded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Federated%22%3A%22arn%3Aaws%3Aiam%3A%3A123456789012%3Aoidc-provider%2Foidc.eks.us-east-1.amazonaws.com%2Fid%2FEXAMPLED539D4633E53DE1B71EXAMPLE%22%7D%2C%22Action%22%3A%22sts%3AAssumeRoleWithWebIdentity%22%2C%22Condition%22%3A%7B%22StringEquals%22%3A%7B%22oidc.eks.us-east-1.amazonaws.com%2Fid%2FEXAMPLED539D4633E53DE1B71EXAMPLE%3Asub%22%3A%22system%3Aserviceaccount%3Akube-system%3Aebs-csi-controller-sa%22%2C%22oidc.eks.us-east-1.amazonaws.com%2Fid%2FEXAMPLED539D4633E53DE1B71EXAMPLE%3Aaud%22%3A%22sts.amazonaws.com%22%7D%7D%7D%5D%7D";
    let d = desired();
    let mut live = applied(&d);
    ebs_role(&d, &mut live).role.assume_role_policy_document = Some(recorded.into());
    failing(&decide(&d, &live), &[]);
    // The same with the subject changed inside the encoded text: the checks see through it.
    ebs_role(&d, &mut live).role.assume_role_policy_document =
        Some(recorded.replace("kube-system%3Aebs", "default%3Aebs"));
    let checks = decide(&d, &live);
    failing(&checks, &[(EBS, "trust-subject"), (EBS, "trust-statements")]);
    assert!(detail(&checks, EBS, "trust-subject").contains("expected exactly"));
}

#[test]
fn equivalent_forms_of_the_rendered_statement_pass() {
    let d = desired();
    let mut single = rendered_statement();
    single["Action"] = json!(["sts:AssumeRoleWithWebIdentity"]);
    single["Sid"] = json!("irsa");
    single["Principal"]["Federated"] = json!([provider()]);
    for doc in [
        // `Statement` as a single object (legal IAM) reads like a one-element list.
        json!({"Version": "2012-10-17", "Statement": rendered_statement()}),
        trust(vec![single]),
        trust(vec![rendered_statement(), rendered_statement()]),
        // Condition keys are case-insensitive in IAM.
        trust(vec![statement(
            json!({"StringEquals": {format!("{HOST}:SUB"): EBS_SUBJECT, format!("{HOST}:aud"): "sts.amazonaws.com"}}),
        )]),
    ] {
        failing(&decide(&d, &with_trust(&d, doc.clone())), &[]);
    }
}

#[test]
fn aud_only_trust_fails_the_subject_check() {
    let d = desired();
    let checks = decide(
        &d,
        &with_trust(
            &d,
            trust(vec![statement(
                json!({"StringEquals": {format!("{HOST}:aud"): "sts.amazonaws.com"}}),
            )]),
        ),
    );
    let f = failing(&checks, &[(EBS, "trust-subject"), (EBS, "trust-statements")]);
    assert!(f[0].detail.contains("aud-only trust"), "{}", f[0].detail);
    assert!(f[0].advice.as_deref().unwrap().contains(EBS_SUBJECT));
}

#[test]
fn wildcard_and_wrong_subjects_fail() {
    let d = desired();
    let aud = "sts.amazonaws.com";
    for (cond, want) in [
        (
            json!({"StringLike": {format!("{HOST}:sub"): "system:serviceaccount:kube-system:*"}, "StringEquals": {format!("{HOST}:aud"): aud}}),
            "wildcard subject",
        ),
        // StringLike is the wildcard operator, even without a wildcard character.
        (
            json!({"StringLike": {format!("{HOST}:sub"): EBS_SUBJECT}, "StringEquals": {format!("{HOST}:aud"): aud}}),
            "wildcard subject",
        ),
        (
            json!({"StringEquals": {format!("{HOST}:sub"): "*", format!("{HOST}:aud"): aud}}),
            "wildcard subject",
        ),
        (
            json!({"StringEquals": {format!("{HOST}:sub"): "system:serviceaccount:kube-system:ebs-csi-controller-s?", format!("{HOST}:aud"): aud}}),
            "wildcard subject",
        ),
        (
            json!({"StringEquals": {format!("{HOST}:sub"): [EBS_SUBJECT, "system:serviceaccount:default:x"], format!("{HOST}:aud"): aud}}),
            "expected exactly",
        ),
        (
            json!({"StringEquals": {format!("{HOST}:sub"): "system:serviceaccount:default:ebs-csi-controller-sa", format!("{HOST}:aud"): aud}}),
            "expected exactly",
        ),
        (
            json!({"StringNotEquals": {format!("{HOST}:sub"): "system:serviceaccount:default:x"}, "StringEquals": {format!("{HOST}:aud"): aud}}),
            "uses StringNotEquals",
        ),
    ] {
        let checks = decide(&d, &with_trust(&d, trust(vec![statement(cond.clone())])));
        failing(&checks, &[(EBS, "trust-subject"), (EBS, "trust-statements")]);
        let got = detail(&checks, EBS, "trust-subject");
        assert!(got.contains(want), "{cond}: {got}");
    }
}

#[test]
fn a_loose_second_statement_for_the_provider_fails_the_subject_check() {
    // One loose statement next to the right one still opens the role to the whole cluster.
    let d = desired();
    let loose = statement(json!({"StringEquals": {format!("{HOST}:aud"): "sts.amazonaws.com"}}));
    let checks = decide(&d, &with_trust(&d, trust(vec![rendered_statement(), loose])));
    failing(&checks, &[(EBS, "trust-subject"), (EBS, "trust-statements")]);
    assert!(detail(&checks, EBS, "trust-statements").starts_with("1 of 2 statements"));
}

#[test]
fn another_clusters_provider_and_a_missing_or_wrong_audience_fail() {
    let d = desired();
    let other = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/OTHER");
    let mut s = rendered_statement();
    s["Principal"]["Federated"] = json!(other);
    let checks = decide(&d, &with_trust(&d, trust(vec![s])));
    failing(
        &checks,
        &[
            (EBS, "trust-provider"),
            (EBS, "trust-subject"),
            (EBS, "trust-audience"),
            (EBS, "trust-statements"),
        ],
    );
    assert!(detail(&checks, EBS, "trust-provider").contains("id/OTHER"));

    for (cond, want) in [
        (
            json!({"StringEquals": {format!("{HOST}:sub"): EBS_SUBJECT}}),
            ":aud` condition",
        ),
        (
            json!({"StringEquals": {format!("{HOST}:sub"): EBS_SUBJECT, format!("{HOST}:aud"): "other"}}),
            "= [other], expected StringEquals sts.amazonaws.com",
        ),
        (
            json!({"StringEquals": {format!("{HOST}:sub"): EBS_SUBJECT}, "StringLike": {format!("{HOST}:aud"): "sts.amazonaws.com"}}),
            "StringLike",
        ),
    ] {
        let checks = decide(&d, &with_trust(&d, trust(vec![statement(cond.clone())])));
        failing(&checks, &[(EBS, "trust-audience"), (EBS, "trust-statements")]);
        let got = detail(&checks, EBS, "trust-audience");
        assert!(got.contains(want), "{cond}: {got}");
    }
}

#[test]
fn every_statement_irsagen_did_not_render_fails_and_is_named() {
    let d = desired();
    let other_provider = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/SECOND");
    for (extra, names) in [
        (
            json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}),
            r#"to Principal {"AWS":"*"}"#,
        ),
        (
            json!({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}),
            r#"to Principal "*""#,
        ),
        (
            json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"}),
            "arn:aws:iam::999999999999:root",
        ),
        (
            json!({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}),
            r#"{"Service":"ec2.amazonaws.com"}"#,
        ),
        (
            json!({"Effect": "Allow", "Principal": {"Federated": other_provider}, "Action": "sts:AssumeRoleWithWebIdentity",
                   "Condition": {"StringEquals": {"oidc.eks.eu-west-1.amazonaws.com/id/SECOND:sub": EBS_SUBJECT}}}),
            "id/SECOND",
        ),
        (
            json!({"Sid": "AllButOne", "Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::999999999999:user/x"}, "Action": "sts:AssumeRole"}),
            "(Sid `AllButOne`): Allow \"sts:AssumeRole\" to everyone but NotPrincipal",
        ),
        // Strict: even a Deny is a statement nobody reviewed.
        (
            json!({"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:TagSession"}),
            "Deny \"sts:TagSession\"",
        ),
    ] {
        let checks = decide(&d, &with_trust(&d, trust(vec![rendered_statement(), extra.clone()])));
        let f = failing(&checks, &[(EBS, "trust-statements")]);
        assert!(
            f[0].detail
                .starts_with("1 of 2 statements are not ones irsagen rendered: Statement[1]"),
            "{extra}: {}",
            f[0].detail
        );
        assert!(
            f[0].detail.contains(names),
            "{extra}: expected `{names}` in {}",
            f[0].detail
        );
        assert!(f[0].advice.as_deref().unwrap().contains("irsagen apply --aws"));
    }
}

#[test]
fn a_long_extra_statement_is_cut_in_the_message() {
    let d = desired();
    let many: Vec<String> = (0..200).map(|i| format!("arn:aws:iam::{ACCOUNT}:user/u{i}")).collect();
    let extra = json!({"Effect": "Allow", "Principal": {"AWS": many}, "Action": "sts:AssumeRole"});
    let checks = decide(&d, &with_trust(&d, trust(vec![rendered_statement(), extra])));
    let got = detail(&checks, EBS, "trust-statements");
    assert!(got.ends_with('…') && got.chars().count() < 500, "{got}");
}

#[test]
fn extra_permissions_fail_and_are_named() {
    let d = desired();
    let mut live = applied(&d);
    let role = ebs_role(&d, &mut live);
    role.attached.push(ADMIN.into());
    let checks = decide(&d, &live);
    let f = failing(&checks, &[(EBS, "policy-extra")]);
    assert!(
        f[0].detail.contains(&format!("not in the bundle: [{ADMIN}]")),
        "{}",
        f[0].detail
    );
    let advice = f[0].advice.as_deref().unwrap();
    assert!(
        advice.contains("aws iam detach-role-policy") && advice.contains("--set ebs-csi-driver.extraPolicyArns=ARN"),
        "{advice}"
    );

    let role = ebs_role(&d, &mut live);
    role.attached.pop();
    role.inline = vec!["allow-everything".into()];
    let checks = decide(&d, &live);
    let f = failing(&checks, &[(EBS, "policy-extra")]);
    assert!(
        f[0].detail.contains("inline policies: [allow-everything]"),
        "{}",
        f[0].detail
    );
    assert!(!f[0].detail.contains("managed"), "{}", f[0].detail);
}

#[test]
fn declared_extra_policies_pass_and_must_be_attached() {
    let d = desired_with(PresetOverrides {
        extra_policy_arns: Some(vec![ADMIN.into()]),
        ..Default::default()
    });
    let r = d.roles.iter().find(|r| r.preset == "ebs-csi-driver").unwrap();
    assert_eq!(r.attachments().collect::<Vec<_>>(), [r.policy_arns[0].as_str(), ADMIN]);
    let mut live = applied(&d);
    let checks = decide(&d, &live);
    failing(&checks, &[]);
    assert!(detail(&checks, EBS, "policy-attached").contains("and 1 declared extra policies attached"));
    // Declared on ebs-csi-driver only: on another role the same policy is still extra.
    let other = &d.roles.iter().find(|r| r.preset == "efs-csi-driver").unwrap().name;
    live.roles.get_mut(other).unwrap().attached.push(ADMIN.into());
    failing(&decide(&d, &live), &[(Some("efs-csi-driver"), "policy-extra")]);

    let mut live = applied(&d);
    ebs_role(&d, &mut live).attached.retain(|a| a != ADMIN);
    let checks = decide(&d, &live);
    let f = failing(&checks, &[(EBS, "policy-attached")]);
    assert!(
        f[0].detail.starts_with(&format!("{ADMIN} not attached")),
        "{}",
        f[0].detail
    );
    assert!(
        f[0].advice
            .as_deref()
            .unwrap()
            .contains(&format!("--policy-arn {ADMIN}"))
    );
}

#[test]
fn a_detached_policy_fails() {
    let d = desired();
    let mut live = applied(&d);
    ebs_role(&d, &mut live).attached.clear();
    let f = failing(&decide(&d, &live), &[(EBS, "policy-attached")]);
    assert!(f[0].detail.contains("not attached (attached: [])"), "{}", f[0].detail);
}

#[test]
fn a_missing_role_fails_every_role_check() {
    let d = desired();
    let mut live = applied(&d);
    let name = d.roles[1].name.clone();
    live.roles.remove(&name);
    let checks = decide(&d, &live);
    failing(
        &checks,
        &[
            (EBS, "role-exists"),
            (EBS, "trust-provider"),
            (EBS, "trust-subject"),
            (EBS, "trust-audience"),
            (EBS, "trust-statements"),
            (EBS, "policy-attached"),
            (EBS, "policy-extra"),
        ],
    );
    assert!(detail(&checks, EBS, "policy-extra").contains(&format!("role {name} does not exist")));
}

#[test]
fn a_trust_policy_that_is_not_json_fails_the_trust_checks() {
    let d = desired();
    let mut live = applied(&d);
    ebs_role(&d, &mut live).role.assume_role_policy_document = Some("%7Bnot json".into());
    let checks = decide(&d, &live);
    failing(
        &checks,
        &[
            (EBS, "trust-provider"),
            (EBS, "trust-subject"),
            (EBS, "trust-audience"),
            (EBS, "trust-statements"),
        ],
    );
    assert!(detail(&checks, EBS, "trust-statements").contains("is not JSON"));
}

#[test]
fn provider_account_and_policy_document_checks() {
    let d = desired();
    let mut live = applied(&d);
    live.oidc_client_ids = None;
    let f = failing(&decide(&d, &live), &[(None, "oidc-provider")]);
    assert!(f[0].detail.contains("is not registered"));

    live.oidc_client_ids = Some(vec!["something-else".into()]);
    let f = failing(&decide(&d, &live), &[(None, "oidc-provider")]);
    assert!(
        f[0].advice
            .as_deref()
            .unwrap()
            .contains("add-client-id-to-open-id-connect-provider")
    );

    let mut live = applied(&d);
    live.caller.account = "111111111111".into();
    let f = failing(&decide(&d, &live), &[(None, "account")]);
    assert!(
        f[0].detail
            .contains("account 111111111111, the bundle is for 123456789012")
    );

    let mut live = applied(&d);
    let arn = d.policies[1].arn.clone();
    live.policies.insert(
        arn.clone(),
        policy_state(
            "v2",
            iam_encoded(
                &json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}),
            ),
        ),
    );
    let f = failing(&decide(&d, &live), &[(EBS, "policy-document")]);
    assert!(f[0].detail.contains("default version v2 differs"), "{}", f[0].detail);
    assert!(f[0].advice.as_deref().unwrap().contains("--version-id v2"));

    // One field changed: one line out, one line in; the diff's `---`/`+++` headers not counted.
    let mut drifted = d.policies[1].document.clone();
    drifted["Statement"][0]["Effect"] = json!("Deny");
    live.policies.get_mut(&arn).unwrap().document = iam_encoded(&drifted);
    let f = failing(&decide(&d, &live), &[(EBS, "policy-document")]);
    assert!(
        f[0].detail
            .ends_with("differs from the rendered document (2 changed lines)"),
        "{}",
        f[0].detail
    );

    live.policies.remove(&arn);
    let f = failing(&decide(&d, &live), &[(EBS, "policy-document")]);
    assert!(f[0].detail.contains("does not exist"));
}

// ---- extraPolicyArns: from input to the rendered eksctl config and setup script ----------

fn render_with(sets: &[&str]) -> std::process::Output {
    let mut c = render_cmd(&["--preset", "ebs-csi-driver"]);
    for s in sets {
        c.args(["--set", s]);
    }
    c.output().unwrap()
}

#[test]
fn extra_policy_arns_are_rendered_in_the_eksctl_config_and_the_script() {
    let own = "arn:aws:iam::123456789012:policy/AmazonEKS_EBS_CSI_Driver_Policy";
    let extra = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy";
    let mine = "arn:aws:iam::123456789012:policy/team/a/kms-use";
    let out = render_with(&[&format!("ebs-csi-driver.extraPolicyArns={extra},{mine}")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains(&format!(
            "attachPolicyARNs:\n        - \"{own}\"\n        - \"{extra}\"\n        - \"{mine}\"\n"
        )),
        "{s}"
    );
    assert!(
        s.contains(&format!(
            "--attach-policy-arn={own} \\\n    --attach-policy-arn={extra} \\\n    --attach-policy-arn={mine} \\\n"
        )),
        "{s}"
    );

    // The same from the config file; an empty --set list clears it again.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irsagen.yaml");
    std::fs::write(
        &cfg,
        format!("presets:\n  ebs-csi-driver:\n    extraPolicyArns: [{extra}]\n"),
    )
    .unwrap();
    let mut c = irsagen();
    c.arg("render").args(GUIDE_ARGS).arg("--config").arg(&cfg);
    let from_file = c.output().unwrap();
    assert!(
        from_file.status.success(),
        "{}",
        String::from_utf8_lossy(&from_file.stderr)
    );
    assert!(
        String::from_utf8_lossy(&from_file.stdout).contains(&format!("        - \"{own}\"\n        - \"{extra}\"\n"))
    );
    let mut c = irsagen();
    c.arg("render")
        .args(GUIDE_ARGS)
        .arg("--config")
        .arg(&cfg)
        .args(["--set", "ebs-csi-driver.extraPolicyArns="]);
    let cleared = String::from_utf8_lossy(&c.output().unwrap().stdout).to_string();
    assert!(
        !cleared.contains(extra) && cleared.contains(&format!("        - \"{own}\"\n      # managed-by: eksctl")),
        "{cleared}"
    );
}

#[test]
fn bad_extra_policy_arns_are_refused_with_field_value_and_rule() {
    let field = "presets.ebs-csi-driver.extraPolicyArns";
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let name128 = "n".repeat(128);
    let path512 = format!("{}/", "p".repeat(510)); // IAM path `/ppp…p/`: exactly 512
    for good in [
        format!("arn:aws:iam::aws:policy/{name128}"),
        format!("arn:aws:iam::210987654321:policy/{path512}name"),
        "arn:aws:iam::aws:policy/a+b=c.d@f_g-h".to_string(),
    ] {
        let o = render_with(&[&format!("ebs-csi-driver.extraPolicyArns={good}")]);
        assert!(o.status.success(), "{good}: {}", String::from_utf8_lossy(&o.stderr));
    }
    for (bad, rule) in [
        (format!("arn:aws:iam::aws:policy/{name128}n"), "name 1-128"),
        (
            // IAM path `/` + 511 + `/`: one past the limit.
            format!("arn:aws:iam::210987654321:policy/{}/name", "p".repeat(511)),
            "path at most 512",
        ),
        (
            "arn:aws-cn:iam::aws:policy/ReadOnlyAccess".to_string(),
            "partition `aws`",
        ),
        (
            "arn:aws:iam::12345678901:policy/p".to_string(),
            "12-digit account or aws",
        ),
        ("arn:aws:iam::AWS:policy/p".to_string(), "12-digit account or aws"),
        ("arn:aws:iam::aws:role/p".to_string(), ":policy/"),
        ("arn:aws:iam::aws:policy/".to_string(), "name 1-128"),
        ("arn:aws:iam::aws:policy/a//b".to_string(), "path parts"),
        ("arn:aws:iam::aws:policy/a b".to_string(), "`_+=,.@-`"),
        ("arn:aws:iam::aws:policy/$(id)".to_string(), "`_+=,.@-`"),
        ("arn:aws:s3:::bucket".to_string(), "managed policy ARN"),
        (
            "arn:aws:iam::123456789012:policy/AmazonEKS_EBS_CSI_Driver_Policy".to_string(),
            "is the preset's own policy",
        ),
        (format!("{ADMIN},{ADMIN}"), "is listed twice"),
    ] {
        let mut c = render_cmd(&["--preset", "ebs-csi-driver", "--out-dir", out.to_str().unwrap()]);
        c.args(["--set", &format!("ebs-csi-driver.extraPolicyArns={bad}")]);
        let o = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bad}: {stderr}");
        // Messages cut values after 200 characters (error.rs): compare the part that is shown.
        let value: String = bad.split(',').next().unwrap().chars().take(200).collect();
        assert!(
            stderr.contains(&format!("invalid {field} `{value}")) && stderr.contains(rule),
            "{bad}: expected field, value and `{rule}` in: {stderr}"
        );
        assert!(!out.exists(), "{bad}: refused input wrote files");
    }
}

#[test]
fn at_most_nineteen_extra_policies_the_preset_own_makes_twenty() {
    let arns = |n: usize| {
        (0..n)
            .map(|i| format!("arn:aws:iam::aws:policy/p{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let ok = render_with(&[&format!("ebs-csi-driver.extraPolicyArns={}", arns(19))]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let over = render_with(&[&format!("ebs-csi-driver.extraPolicyArns={}", arns(20))]);
    let stderr = String::from_utf8_lossy(&over.stderr);
    assert_eq!(over.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("invalid presets.ebs-csi-driver.extraPolicyArns `20`") && stderr.contains("at most 20"),
        "{stderr}"
    );
}

// ---- a verify that cannot read AWS: exit 3, each cause said once ------------------------

/// `verify --aws` for the guide's cluster against `endpoint`, with dummy keys and nothing
/// else from the machine's AWS setup.
fn verify_against(endpoint: &str) -> std::process::Output {
    let mut c = irsagen();
    c.args(["verify", "--aws"])
        .args(GUIDE_ARGS)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_SESSION_TOKEN");
    c.output().unwrap()
}

#[test]
fn verify_that_cannot_reach_aws_is_an_environment_failure_said_once() {
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = verify_against(&format!("http://127.0.0.1:{port}"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    // One error, from the first call (STS); no IAM read was even tried.
    assert!(stderr.starts_with("error: verify --aws checked nothing: "), "{stderr}");
    assert_eq!(stderr.matches("sts:GetCallerIdentity").count(), 1, "{stderr}");
    assert!(!stderr.contains("iam:"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("FAIL"),
        "no check line for an environment failure"
    );
}

/// A stand-in for AWS on 127.0.0.1 that answers STS GetCallerIdentity and refuses every IAM
/// call with AccessDenied, as IAM does for a caller without the read permissions.
fn access_denied_server() -> (String, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.to_ascii_lowercase();
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let body = String::from_utf8_lossy(&body);
            let (status, xml) = if body.contains("Action=GetCallerIdentity") {
                (
                    "200 OK",
                    format!(
                        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>\
                         <Arn>arn:aws:iam::{ACCOUNT}:user/reader</Arn><UserId>AIDAEXAMPLE</UserId><Account>{ACCOUNT}</Account>\
                         </GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
                    ),
                )
            } else if body.contains("Action=") {
                (
                    "403 Forbidden",
                    "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
                     <Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/reader is not authorized</Message>\
                     </Error><RequestId>1</RequestId></ErrorResponse>"
                        .to_string(),
                )
            } else {
                return; // the test's "stop" request
            };
            let mut s = stream;
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                xml.len()
            );
        }
    });
    (url, handle)
}

#[test]
fn access_denied_on_every_iam_read_is_one_line_per_missing_permission() {
    let (url, server) = access_denied_server();
    let o = verify_against(&url);
    // Stop the server: a request without an action.
    let mut s = std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    std::io::Write::write_all(&mut s, b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").unwrap();
    server.join().unwrap();

    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("verify --aws could not read IAM, so nothing was checked"),
        "{stderr}"
    );
    // The guide's bundle reads 1 provider, 3 policies and 3 roles (3 reads each): five kinds
    // of call, each refused; one line per call, never one per resource.
    let causes: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  - ")).collect();
    assert_eq!(causes.len(), 5, "{stderr}");
    for action in [
        "iam:GetOpenIDConnectProvider",
        "iam:GetPolicy ",
        "iam:GetRole ",
        "iam:ListAttachedRolePolicies",
        "iam:ListRolePolicies",
    ] {
        let lines: Vec<&&str> = causes.iter().filter(|l| l.contains(action)).collect();
        assert_eq!(lines.len(), 1, "{action} said once in: {stderr}");
        assert!(lines[0].contains("AccessDenied"), "{}", lines[0]);
        // Three policies or roles, one line: the first named, the other two counted.
        assert_eq!(
            lines[0].ends_with("(2 more call(s) failed the same way)"),
            action != "iam:GetOpenIDConnectProvider",
            "{}",
            lines[0]
        );
    }
    assert!(!String::from_utf8_lossy(&o.stdout).contains("FAIL"));
}

/// ebs-csi-driver in `pod-identity` mode: its trust names only `pods.eks.amazonaws.com`.
fn pod_identity_ebs() -> Desired {
    desired_with(PresetOverrides {
        identity_mode: Some(irsagen::identity::IdentityMode::PodIdentity),
        ..Default::default()
    })
}

#[test]
fn pod_identity_trust_is_checked_as_rendered_not_for_an_oidc_provider() {
    let d = pod_identity_ebs();
    let ebs = d.roles.iter().find(|r| r.preset == "ebs-csi-driver").unwrap();
    assert!(!ebs.irsa);
    let checks = decide(&d, &applied(&d));
    failing(&checks, &[]);
    assert_eq!(
        detail(&checks, EBS, "trust-pod-identity"),
        "the rendered Pod Identity statement is there as rendered"
    );
    assert!(
        !checks
            .iter()
            .any(|c| c.preset.as_deref() == EBS && c.name == "trust-provider"),
        "no IRSA provider check in pod-identity mode"
    );
}

#[test]
fn a_pod_identity_trust_without_its_session_tag_scope_fails() {
    let d = pod_identity_ebs();
    let ebs = d.roles.iter().find(|r| r.preset == "ebs-csi-driver").unwrap();
    let mut loose = irsagen::policy_doc::statements(&ebs.trust)[0].clone();
    loose.as_object_mut().unwrap().remove("Condition");
    let checks = decide(&d, &with_trust(&d, trust(vec![loose])));
    let failed = failing(&checks, &[(EBS, "trust-pod-identity"), (EBS, "trust-statements")]);
    assert!(
        failed[0].detail.contains("rendered statements missing or changed"),
        "{}",
        failed[0].detail
    );
}
