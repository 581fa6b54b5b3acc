//! The AWS plan's decisions, offline: recorded read states (shaped like the SDK's output: its
//! `Role` with a URL-encoded trust policy, its `PolicyVersion`s) against the guide bundle.
//! The moto suite (tests/peer_aws) covers the SDK path; these cover every decision.

use crate::support::*;
use aws_sdk_iam::primitives::DateTime;
use aws_sdk_iam::types::{PolicyVersion, Role, Tag};
use irsagen::aws::{
    self, Change, Desired, Identity, MAX_POLICY_VERSIONS, Plan, PolicyState, ReadState, ResourceKind, RoleState,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const ACCOUNT: &str = "123456789012";
const PROVIDER: &str =
    "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
const CA_ROLE: &str = "irsa-smallest-cluster-kube-system-cluster-autoscaler";
const CA_POLICY: &str = "arn:aws:iam::123456789012:policy/AmazonEKSClusterAutoscalerPolicy";

fn desired() -> Desired {
    Desired::from_bundle(&guide_bundle(), "apply --aws").expect("the guide bundle is applicable")
}

fn caller(account: &str) -> Identity {
    Identity {
        account: account.into(),
        arn: format!("arn:aws:iam::{account}:user/ci"),
        user_id: "AIDAEXAMPLE".into(),
    }
}

/// IAM with nothing of the bundle in it.
fn empty() -> ReadState {
    ReadState {
        caller: caller(ACCOUNT),
        oidc_client_ids: None,
        policies: BTreeMap::new(),
        roles: BTreeMap::new(),
        missing_extra_policies: Vec::new(),
    }
}

/// A document as IAM returns it: URL-encoded JSON.
fn encoded(doc: &Value) -> String {
    percent_encoding::utf8_percent_encode(&doc.to_string(), percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A role as GetRole returns it from real AWS: the trust policy URL-encoded.
fn sdk_role(name: &str, trust: &Value, tags: &BTreeMap<String, String>) -> Role {
    let encoded = encoded(trust);
    let mut b = Role::builder()
        .path("/")
        .role_name(name)
        .role_id("AROAEXAMPLE")
        .arn(format!("arn:aws:iam::{ACCOUNT}:role/{name}"))
        .create_date(DateTime::from_secs(1_700_000_000))
        .assume_role_policy_document(encoded);
    for (k, v) in tags {
        b = b.tags(Tag::builder().key(k).value(v).build().unwrap());
    }
    b.build().unwrap()
}

fn version(id: &str, secs: i64, default: bool) -> PolicyVersion {
    PolicyVersion::builder()
        .version_id(id)
        .is_default_version(default)
        .create_date(DateTime::from_secs(secs))
        .build()
}

/// IAM after a successful apply: everything as rendered, tagged and attached.
fn converged(d: &Desired) -> ReadState {
    let mut s = empty();
    s.oidc_client_ids = Some(vec!["sts.amazonaws.com".into()]);
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
        s.roles.insert(
            r.name.clone(),
            RoleState {
                role: sdk_role(&r.name, &r.trust, &r.tags),
                attached: r.attachments().map(str::to_string).collect(),
                inline: Vec::new(),
            },
        );
    }
    s
}

fn plan(d: &Desired, s: &ReadState, adopt: bool) -> Plan {
    aws::decide(d, s, adopt).unwrap_or_else(|e| panic!("plans: {e}"))
}

fn refusal(d: &Desired, s: &ReadState, adopt: bool) -> String {
    let e = aws::decide(d, s, adopt).expect_err("refused");
    assert_eq!(e.exit_code(), 3, "{e}");
    e.to_string()
}

fn item<'a>(p: &'a Plan, kind: ResourceKind, name: &str) -> &'a irsagen::aws::PlanItem {
    p.items
        .iter()
        .find(|i| i.kind == kind && i.name == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in\n{}", p.to_text()))
}

fn role_mut<'a>(s: &'a mut ReadState, name: &str) -> &'a mut RoleState {
    s.roles.get_mut(name).unwrap()
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn drifted_policy() -> Value {
    json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"autoscaling:*","Resource":"*"}]})
}

#[test]
fn from_empty_everything_is_created_in_order() {
    let d = desired();
    let p = plan(&d, &empty(), false);
    assert_eq!(p.items.len(), 7);
    assert!(p.items.iter().all(|i| i.change == Change::Create && !i.adopting));
    let calls = p.calls();
    assert_eq!(calls.len(), 10, "{calls:#?}");
    assert_eq!(
        calls[0],
        "iam:CreateOpenIDConnectProvider https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    );
    assert_eq!(calls[1], "iam:CreatePolicy AmazonEKSClusterAutoscalerPolicy");
    assert_eq!(calls[4], format!("iam:CreateRole {CA_ROLE}"));
    assert_eq!(calls[5], format!("iam:AttachRolePolicy {CA_ROLE} {CA_POLICY}"));
    let text = p.to_text();
    assert!(
        text.ends_with("aws plan: 7 to create, 0 to update, 0 unchanged; the plan made 0 API calls (0 writes)\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("+ role          {CA_ROLE} [cluster-autoscaler]: create\n")),
        "{text}"
    );
    assert!(text.contains(&format!("    + attach {CA_POLICY}\n")), "{text}");
    // The whole rendered document is shown as added.
    let role = item(&p, ResourceKind::Role, CA_ROLE);
    let diff = role.diff.as_deref().unwrap();
    assert!(diff.starts_with("--- /dev/null\n+++ "), "{diff}");
    assert!(
        diff.contains("+        \"Federated\": \"arn:aws:iam::123456789012:oidc-provider/"),
        "{diff}"
    );
    let provider = item(&p, ResourceKind::OidcProvider, PROVIDER);
    assert_eq!(
        provider.notes,
        vec![format!("+ register issuer {ISSUER} with client id sts.amazonaws.com")]
    );
}

#[test]
fn converged_state_plans_nothing() {
    let d = desired();
    let p = plan(&d, &converged(&d), false);
    assert!(p.is_empty(), "{}", p.to_text());
    assert!(p.calls().is_empty());
    assert!(p.items.iter().all(|i| i.notes.is_empty() && i.diff.is_none()));
    let text = p.to_text();
    assert!(
        text.ends_with("aws plan: 0 to create, 0 to update, 7 unchanged; the plan made 0 API calls (0 writes)\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("  role          {CA_ROLE} [cluster-autoscaler]: no change\n")),
        "{text}"
    );
    assert!(
        text.starts_with(&format!("  oidc-provider {PROVIDER}: no change\n")),
        "{text}"
    );
    // A plan is also "empty" when adopt is given and everything is irsagen's already.
    assert!(plan(&d, &converged(&d), true).is_empty());
}

#[test]
fn credentials_for_another_account_are_refused_before_anything_else() {
    let d = desired();
    let mut s = converged(&d);
    s.caller = caller("111111111111");
    // Even with an unmanaged role, the account is what is reported.
    role_mut(&mut s, CA_ROLE).role = sdk_role(CA_ROLE, &d.roles[0].trust, &BTreeMap::new());
    let msg = refusal(&d, &s, true);
    assert!(
        msg.starts_with("the credentials are for account 111111111111 (arn:aws:iam::111111111111:user/ci)")
            && msg.contains("rendered for account 123456789012 (--account)")
            && msg.contains("nothing was changed"),
        "{msg}"
    );
    assert!(!msg.contains("--adopt"), "{msg}");
}

#[test]
fn an_unmanaged_role_is_refused_without_adopt_and_claimed_first_with_it() {
    let d = desired();
    let mut s = converged(&d);
    let foreign_trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]});
    *role_mut(&mut s, CA_ROLE) = RoleState {
        role: sdk_role(CA_ROLE, &foreign_trust, &tags(&[("Team", "ops")])),
        attached: vec!["arn:aws:iam::123456789012:policy/SomeoneElses".into()],
        inline: Vec::new(),
    };
    let msg = refusal(&d, &s, false);
    assert!(
        msg.contains(&format!(
            "role `{CA_ROLE}` exists without the tag managed-by=irsagen (preset cluster-autoscaler)"
        )) && msg.contains("Pass --adopt")
            && msg.contains("nothing was changed"),
        "{msg}"
    );

    let p = plan(&d, &s, true);
    let r = item(&p, ResourceKind::Role, CA_ROLE);
    assert_eq!(r.change, Change::Update);
    assert!(r.adopting);
    assert_eq!(
        r.calls(),
        vec![
            format!(
                "iam:TagRole {CA_ROLE} irsagen:cluster=smallest-cluster,irsagen:preset=cluster-autoscaler,\
                 irsagen:service-account=kube-system/cluster-autoscaler,managed-by=irsagen"
            ),
            format!("iam:UpdateAssumeRolePolicy {CA_ROLE}"),
            format!("iam:AttachRolePolicy {CA_ROLE} {CA_POLICY}"),
        ],
        "claim first, change second"
    );
    assert!(
        r.notes[0].starts_with("~ adopt: it exists without the tag managed-by=irsagen"),
        "{:?}",
        r.notes
    );
    assert!(
        r.notes.contains(&"+ tag managed-by=irsagen".to_string()),
        "{:?}",
        r.notes
    );
    // The foreign attachment and the foreign tag are left alone.
    assert!(
        !r.calls()
            .iter()
            .any(|c| c.contains("SomeoneElses") || c.contains("Team"))
    );
    // Only that role changes.
    assert_eq!(p.items.iter().filter(|i| i.change != Change::NoChange).count(), 1);
    assert_eq!(p.items.iter().filter(|i| i.adopting).count(), 1);
}

#[test]
fn every_unmanaged_resource_is_named_in_one_refusal() {
    let d = desired();
    let mut s = converged(&d);
    s.policies.get_mut(CA_POLICY).unwrap().tags = BTreeMap::new();
    let ebs = d.roles[1].name.clone();
    let mut someone = d.roles[1].tags.clone();
    someone.insert("managed-by".into(), "someone".into());
    role_mut(&mut s, &ebs).role = sdk_role(&ebs, &d.roles[1].trust, &someone);
    let msg = refusal(&d, &s, false);
    assert!(
        msg.contains(&format!(
            "policy `AmazonEKSClusterAutoscalerPolicy` ({CA_POLICY}) exists without the tag managed-by=irsagen (preset cluster-autoscaler)"
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "role `{ebs}` is managed by someone (tag managed-by=someone), not irsagen (preset ebs-csi-driver)"
        )),
        "{msg}"
    );
    let p = plan(&d, &s, true);
    let pol = item(&p, ResourceKind::Policy, CA_POLICY);
    assert!(pol.adopting);
    assert_eq!(
        pol.calls(),
        vec![format!(
            "iam:TagPolicy {CA_POLICY} irsagen:preset=cluster-autoscaler,managed-by=irsagen"
        )]
    );
    let role = item(&p, ResourceKind::Role, &ebs);
    assert_eq!(role.calls(), vec![format!("iam:TagRole {ebs} managed-by=irsagen")]);
    assert!(
        role.notes
            .contains(&"~ tag managed-by=irsagen (was managed-by=someone)".to_string()),
        "{:?}",
        role.notes
    );
}

#[test]
fn roles_of_eksctl_and_cloudformation_are_not_irsagens() {
    let d = desired();
    let r = &d.roles[0];
    // eksctl's path tags its roles managed-by=eksctl.
    let mut s = converged(&d);
    let mut eksctl_tags = r.tags.clone();
    eksctl_tags.insert("managed-by".into(), "eksctl".into());
    role_mut(&mut s, CA_ROLE).role = sdk_role(CA_ROLE, &r.trust, &eksctl_tags);
    let msg = refusal(&d, &s, false);
    assert!(msg.contains("is managed by eksctl (tag managed-by=eksctl)"), "{msg}");

    // A stack-owned role is not irsagen's even when tagged managed-by=irsagen (older bundles did).
    let mut stack_tags = r.tags.clone();
    let stack = "eksctl-smallest-cluster-addon-iamserviceaccount-kube-system-cluster-autoscaler";
    stack_tags.insert(aws::STACK_TAG.into(), stack.into());
    role_mut(&mut s, CA_ROLE).role = sdk_role(CA_ROLE, &r.trust, &stack_tags);
    let msg = refusal(&d, &s, false);
    assert!(
        msg.contains(&format!("is owned by the CloudFormation stack `{stack}`"))
            && msg.contains("makes the stack drift")
            && msg.contains("--adopt"),
        "{msg}"
    );
    let p = plan(&d, &s, true);
    let item = item(&p, ResourceKind::Role, CA_ROLE);
    assert!(item.adopting);
    assert!(item.notes[0].contains("makes the stack drift"), "{:?}", item.notes);
    // Nothing to change but the adoption itself: already tagged, same trust, attached.
    assert!(item.calls().is_empty());
    assert_eq!(item.change, Change::NoChange);

    assert_eq!(aws::not_ours(&tags(&[("managed-by", "irsagen")])), None);
    assert!(aws::not_ours(&tags(&[("Managed-By", "irsagen")])).is_some());
    assert!(aws::not_ours(&tags(&[("managed-by", "Irsagen")])).is_some());
}

#[test]
fn a_drifted_policy_version_is_planned_as_a_new_default_with_a_diff() {
    let d = desired();
    let mut s = converged(&d);
    let live = s.policies.get_mut(CA_POLICY).unwrap();
    live.document = encoded(&drifted_policy());
    live.default_version = "v2".into();
    live.versions = vec![version("v1", 100, false), version("v2", 200, true)];
    let p = plan(&d, &s, false);
    let pol = item(&p, ResourceKind::Policy, CA_POLICY);
    assert_eq!(pol.change, Change::Update);
    assert_eq!(
        pol.calls(),
        vec![format!("iam:CreatePolicyVersion {CA_POLICY} (set as default)")]
    );
    assert_eq!(pol.notes, vec!["~ new default version replacing v2".to_string()]);
    let diff = pol.diff.as_deref().unwrap();
    assert!(
        diff.starts_with(
            "--- AmazonEKSClusterAutoscalerPolicy (live default v2)\n+++ AmazonEKSClusterAutoscalerPolicy (rendered)\n"
        ),
        "{diff}"
    );
    assert!(
        diff.contains("-      \"Action\": \"autoscaling:*\",")
            && diff.contains("+        \"autoscaling:DescribeAutoScalingGroups\","),
        "{diff}"
    );
    assert!(
        p.to_text()
            .ends_with("aws plan: 0 to create, 1 to update, 6 unchanged; the plan made 0 API calls (0 writes)\n")
    );
}

#[test]
fn at_five_versions_the_oldest_non_default_is_deleted_first() {
    let d = desired();
    let mut s = converged(&d);
    let live = s.policies.get_mut(CA_POLICY).unwrap();
    live.document = encoded(&drifted_policy());
    live.default_version = "v1".into();
    // Four versions: room for a fifth, nothing is deleted.
    live.versions = vec![
        version("v1", 100, true),
        version("v2", 200, false),
        version("v3", 300, false),
        version("v4", 400, false),
    ];
    let p = plan(&d, &s, false);
    assert_eq!(
        item(&p, ResourceKind::Policy, CA_POLICY).calls(),
        vec![format!("iam:CreatePolicyVersion {CA_POLICY} (set as default)")]
    );
    // Five: the oldest is the default (kept), so the oldest non-default goes.
    let live = s.policies.get_mut(CA_POLICY).unwrap();
    live.versions.push(version("v5", 500, false));
    assert_eq!(live.versions.len(), MAX_POLICY_VERSIONS);
    let p = plan(&d, &s, false);
    let pol = item(&p, ResourceKind::Policy, CA_POLICY);
    assert_eq!(
        pol.calls(),
        vec![
            format!("iam:DeletePolicyVersion {CA_POLICY} v2"),
            format!("iam:CreatePolicyVersion {CA_POLICY} (set as default)"),
        ]
    );
    assert_eq!(
        pol.notes,
        vec![
            "- delete the oldest non-default version v2 (IAM keeps at most 5)".to_string(),
            "~ new default version replacing v1".to_string(),
        ]
    );
}

#[test]
fn the_version_to_delete_is_the_oldest_then_the_lowest_number() {
    // By date first, whatever the numbers say.
    let by_date = [
        version("v3", 100, false),
        version("v4", 50, false),
        version("v5", 300, true),
        version("v6", 400, false),
        version("v7", 500, false),
    ];
    assert_eq!(aws::version_to_delete(&by_date), Some("v4"));
    // Equal dates: the lowest version number, compared as numbers (v9 before v10).
    let tie = [
        version("v10", 100, false),
        version("v9", 100, false),
        version("v11", 100, false),
        version("v12", 100, true),
        version("v13", 200, false),
    ];
    assert_eq!(aws::version_to_delete(&tie), Some("v9"));
    // Sub-second precision counts.
    let nanos = [
        PolicyVersion::builder()
            .version_id("v1")
            .is_default_version(false)
            .create_date(DateTime::from_secs_and_nanos(100, 500))
            .build(),
        PolicyVersion::builder()
            .version_id("v2")
            .is_default_version(false)
            .create_date(DateTime::from_secs_and_nanos(100, 400))
            .build(),
        version("v3", 300, true),
        version("v4", 400, false),
        version("v5", 500, false),
    ];
    assert_eq!(aws::version_to_delete(&nanos), Some("v2"));
    // Below the limit nothing is deleted; one past it still deletes one.
    assert_eq!(aws::version_to_delete(&by_date[..4]), None);
    let mut six = by_date.to_vec();
    six.push(version("v8", 10, false));
    assert_eq!(aws::version_to_delete(&six), Some("v8"));
    // All default (impossible in IAM, but never delete the default).
    assert_eq!(aws::version_to_delete(&[version("v1", 1, true)]), None);
}

#[test]
fn a_drifted_trust_policy_is_planned_as_an_update_with_a_diff() {
    let d = desired();
    let mut s = converged(&d);
    let r = &d.roles[2];
    let mut loose = r.trust.clone();
    let cond = &mut loose["Statement"][0]["Condition"];
    let sub = cond["StringEquals"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| k.ends_with(":sub"))
        .unwrap()
        .clone();
    cond["StringEquals"].as_object_mut().unwrap().remove(&sub);
    cond["StringLike"] = json!({ sub.clone(): "system:serviceaccount:kube-system:*" });
    role_mut(&mut s, &r.name).role = sdk_role(&r.name, &loose, &r.tags);
    let p = plan(&d, &s, false);
    let it = item(&p, ResourceKind::Role, &r.name);
    assert_eq!(it.change, Change::Update);
    assert_eq!(it.calls(), vec![format!("iam:UpdateAssumeRolePolicy {}", r.name)]);
    assert_eq!(it.notes, vec!["~ replace the trust policy".to_string()]);
    let diff = it.diff.as_deref().unwrap();
    assert!(
        diff.starts_with(&format!(
            "--- {} trust policy (live)\n+++ {} trust policy (rendered)\n",
            r.name, r.name
        )),
        "{diff}"
    );
    assert!(diff.contains("-        \"StringLike\": {"), "{diff}");
    assert_eq!(p.items.iter().filter(|i| i.change == Change::Update).count(), 1);
}

#[test]
fn a_trust_policy_returned_as_plain_json_is_the_same_document() {
    // moto returns documents unencoded; real IAM URL-encodes them. Both mean the same.
    let d = desired();
    let mut s = converged(&d);
    let r = &d.roles[0];
    let mut role = sdk_role(&r.name, &r.trust, &r.tags);
    role.assume_role_policy_document = Some(r.trust.to_string());
    role_mut(&mut s, &r.name).role = role;
    assert!(plan(&d, &s, false).is_empty());
    // An undecodable document is an error, not "no change".
    let mut role = sdk_role(&r.name, &r.trust, &r.tags);
    role.assume_role_policy_document = Some("%7Bnot json".into());
    role_mut(&mut s, &r.name).role = role;
    assert!(aws::decide(&d, &s, false).is_err());
}

#[test]
fn a_missing_attachment_is_added_and_foreign_ones_are_left_alone() {
    let d = desired();
    let mut s = converged(&d);
    let foreign = "arn:aws:iam::aws:policy/AdministratorAccess".to_string();
    role_mut(&mut s, CA_ROLE).attached = vec![foreign.clone()];
    let p = plan(&d, &s, false);
    let r = item(&p, ResourceKind::Role, CA_ROLE);
    assert_eq!(r.change, Change::Update);
    assert_eq!(r.calls(), vec![format!("iam:AttachRolePolicy {CA_ROLE} {CA_POLICY}")]);
    assert_eq!(r.notes, vec![format!("+ attach {CA_POLICY}")]);
    // Ours plus a foreign one: nothing to do (verify reports the extra permission).
    role_mut(&mut s, CA_ROLE).attached = vec![foreign, CA_POLICY.to_string()];
    assert!(plan(&d, &s, false).is_empty());
}

#[test]
fn tags_are_added_or_changed_and_foreign_tags_kept() {
    let mut inputs = guide_inputs();
    inputs.tags = tags(&[("Team", "ml"), ("Environment", "production")]);
    let d = Desired::from_bundle(&render(&inputs, &guide_selection()).unwrap(), "apply --aws").unwrap();
    let mut s = converged(&d);
    let r = &d.roles[0];
    let mut live = r.tags.clone();
    live.remove("Team");
    live.insert("Environment".into(), "staging".into());
    live.insert("CostCenter".into(), "42".into());
    role_mut(&mut s, CA_ROLE).role = sdk_role(CA_ROLE, &r.trust, &live);
    let p = plan(&d, &s, false);
    let it = item(&p, ResourceKind::Role, CA_ROLE);
    assert_eq!(it.change, Change::Update);
    assert_eq!(
        it.calls(),
        vec![format!("iam:TagRole {CA_ROLE} Environment=production,Team=ml")]
    );
    assert_eq!(
        it.notes,
        vec![
            "~ tag Environment=production (was Environment=staging)".to_string(),
            "+ tag Team=ml".to_string()
        ]
    );
    let text = p.to_text();
    assert!(
        text.contains("    + tag Team=ml\n"),
        "an added tag reads as an addition:\n{text}"
    );
    assert!(!text.contains("- tag"), "{text}");
    // Policies carry the user's tags too: a policy without them is tagged.
    let pol = &d.policies[0];
    if pol.tags.contains_key("Team") {
        let mut s2 = converged(&d);
        s2.policies.get_mut(&pol.arn).unwrap().tags.remove("Team");
        let p2 = plan(&d, &s2, false);
        assert_eq!(
            item(&p2, ResourceKind::Policy, &pol.arn).calls(),
            vec![format!("iam:TagPolicy {} Team=ml", pol.arn)]
        );
    }
}

#[test]
fn tags_come_before_the_other_changes_of_a_resource() {
    let d = desired();
    let mut s = converged(&d);
    let r = &d.roles[0];
    let mut live = r.tags.clone();
    live.remove("irsagen:preset");
    role_mut(&mut s, CA_ROLE).role = sdk_role(CA_ROLE, &drifted_policy(), &live);
    role_mut(&mut s, CA_ROLE).attached.clear();
    let p = plan(&d, &s, false);
    let calls = item(&p, ResourceKind::Role, CA_ROLE).calls();
    assert_eq!(
        calls,
        vec![
            format!("iam:TagRole {CA_ROLE} irsagen:preset=cluster-autoscaler"),
            format!("iam:UpdateAssumeRolePolicy {CA_ROLE}"),
            format!("iam:AttachRolePolicy {CA_ROLE} {CA_POLICY}"),
        ]
    );
    assert!(!item(&p, ResourceKind::Role, CA_ROLE).adopting, "managed: no adoption");
}

#[test]
fn the_oidc_provider_is_created_completed_or_left_alone() {
    let d = desired();
    let mut s = converged(&d);
    s.oidc_client_ids = Some(vec!["something-else".into()]);
    let p = plan(&d, &s, false);
    let o = item(&p, ResourceKind::OidcProvider, PROVIDER);
    assert_eq!(o.change, Change::Update);
    assert_eq!(
        o.calls(),
        vec![format!(
            "iam:AddClientIDToOpenIDConnectProvider {PROVIDER} sts.amazonaws.com"
        )]
    );
    assert_eq!(o.notes, vec!["+ add client id sts.amazonaws.com".to_string()]);
    s.oidc_client_ids = Some(vec!["something-else".into(), "sts.amazonaws.com".into()]);
    assert!(plan(&d, &s, false).is_empty());
    s.oidc_client_ids = None;
    let p = plan(&d, &s, false);
    assert_eq!(item(&p, ResourceKind::OidcProvider, PROVIDER).change, Change::Create);
    assert_eq!(p.calls().len(), 1);
}

#[test]
fn the_plan_text_counts_and_marks_every_kind_of_change() {
    let d = desired();
    let mut s = converged(&d);
    s.oidc_client_ids = None; // create
    s.roles.remove(&d.roles[1].name); // create
    s.policies.get_mut(CA_POLICY).unwrap().document = encoded(&drifted_policy()); // update
    role_mut(&mut s, CA_ROLE).attached.clear(); // update
    let p = plan(&d, &s, false);
    let text = p.to_text();
    let heads: Vec<&str> = text.lines().filter(|l| !l.starts_with("    ")).collect();
    assert_eq!(
        heads,
        vec![
            format!("+ oidc-provider {PROVIDER}: create").as_str(),
            format!("~ policy        {CA_POLICY} [cluster-autoscaler]: update").as_str(),
            "  policy        arn:aws:iam::123456789012:policy/AmazonEKS_EBS_CSI_Driver_Policy [ebs-csi-driver]: no change",
            "  policy        arn:aws:iam::123456789012:policy/AmazonEKS_EFS_CSI_Driver_Policy [efs-csi-driver]: no change",
            format!("~ role          {CA_ROLE} [cluster-autoscaler]: update").as_str(),
            "+ role          irsa-smallest-cluster-kube-system-ebs-csi-controller-sa [ebs-csi-driver]: create",
            "  role          irsa-smallest-cluster-kube-system-efs-csi-controller-sa [efs-csi-driver]: no change",
            "aws plan: 2 to create, 2 to update, 3 unchanged; the plan made 0 API calls (0 writes)",
        ]
    );
    assert!(!p.is_empty());
    assert_eq!(p.calls().len(), 5, "{:#?}", p.calls());
}

/// A 127.0.0.1 port where nothing listens (no network leaves the machine).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn the_timeout_flag_takes_1_to_3600_seconds() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    for (value, accepted) in [("0", false), ("1", true), ("3600", true), ("3601", false), ("x", false)] {
        let out = irsagen()
            .args(["whoami", "--timeout", value])
            .env("AWS_ENDPOINT_URL", &url)
            .env("AWS_ACCESS_KEY_ID", "offline-dummy")
            .env("AWS_SECRET_ACCESS_KEY", "offline-dummy")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/nonexistent/irsagen-config")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/irsagen-credentials")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if accepted {
            // Parsed, then the call fails at once on the closed port: an environment failure.
            assert_eq!(out.status.code(), Some(3), "--timeout {value}: {err}");
            assert!(err.contains(&format!("{url} refused the connection")), "{err}");
        } else {
            assert_eq!(out.status.code(), Some(2), "--timeout {value}: {err}");
            assert!(err.contains("--timeout"), "{err}");
        }
    }
}

#[test]
fn an_unknown_profile_is_bad_input_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config"), "[profile dev]\nregion = us-east-1\n").unwrap();
    std::fs::write(
        dir.path().join("credentials"),
        "[ci]\naws_access_key_id = a\naws_secret_access_key = b\n",
    )
    .unwrap();
    let out = irsagen()
        .args(["whoami", "--profile", "prod"])
        .env("AWS_CONFIG_FILE", dir.path().join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("credentials"))
        .env("AWS_ACCESS_KEY_ID", "offline-dummy")
        .env("AWS_SECRET_ACCESS_KEY", "offline-dummy")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", closed_port()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid --profile `prod`: no such profile") && err.contains("known profiles: ci, dev"),
        "{err}"
    );
}
