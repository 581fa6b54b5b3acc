//! EKS Pod Identity, the AWS side: plan, apply and verify of associations and the agent addon.
//!
//! NOT tested against a server: moto has no Pod Identity or addon API. The SDK path runs against
//! recorded responses (tests/fixtures/eks/, shapes from the EKS API reference, see SOURCE.md)
//! served by `StaticReplayClient`, so the SDK's real serializers and deserializers handle raw
//! HTTP; each test then checks the requests irsagen sent (path, query, JSON body, method). The
//! decisions are also tested alone, from read states built in the test. The replay helpers live
//! in tests/shared/eks_replay.rs (the moto suite's Pod Identity test uses them too).

use crate::eks_replay::*;
use irsagen::aws::CallStats;
use irsagen::aws::Change;
use irsagen::aws::pod_identity::{
    self, DesiredAssociation, EksOp, LiveAddon, LiveAssociation, PodIdentityState, request_token, verify_decide,
};
use irsagen::report::Status;
use serde_json::json;
use std::collections::BTreeMap;

pub(crate) const ROLE: &str = "arn:aws:iam::123456789012:role/smallest-cluster-cluster-autoscaler";
const OLD_ROLE: &str = "arn:aws:iam::123456789012:role/old-autoscaler-role";
const FOREIGN_ROLE: &str = "arn:aws:iam::123456789012:role/platform-autoscaler";

/// The agent is required in the one cluster.
fn agent() -> Vec<String> {
    vec![CLUSTER.to_string()]
}

/// The agent is required nowhere.
const NO_AGENT: &[String] = &[];

fn desired() -> DesiredAssociation {
    DesiredAssociation {
        preset: "cluster-autoscaler".into(),
        cluster: CLUSTER.into(),
        namespace: "kube-system".into(),
        service_account: "cluster-autoscaler".into(),
        role_arn: ROLE.into(),
        tags: BTreeMap::from([("irsagen:preset".to_string(), "cluster-autoscaler".to_string())]),
    }
}

fn writes(stats: CallStats) -> usize {
    stats.writes
}

/// The token the plan put on its first op of `kind`.
fn token_of(plan: &pod_identity::PodIdentityPlan, create_addon: bool) -> String {
    plan.items
        .iter()
        .flat_map(|i| &i.ops)
        .find_map(|op| match op {
            EksOp::CreateAddon { token, .. } if create_addon => Some(token.clone()),
            EksOp::CreateAssociation { token, .. } if !create_addon => Some(token.clone()),
            _ => None,
        })
        .expect("the op is planned")
}

#[tokio::test]
async fn first_apply_creates_the_agent_and_the_association() {
    let d = [desired()];
    // Plan: the agent is absent (404), no association for the ServiceAccount.
    let (clients, http, expects) = replay(vec![addon_absent(), list("list-associations-empty.json")]).await;
    let plan = pod_identity::plan_associations(&clients, &d, &agent(), false)
        .await
        .unwrap();
    assert_sent(&http, &expects);
    assert_eq!(plan.stats, CallStats { calls: 2, writes: 0 });
    assert_eq!(
        plan.calls(),
        vec![
            "eks:CreateAddon smallest-cluster/eks-pod-identity-agent".to_string(),
            format!("eks:CreatePodIdentityAssociation smallest-cluster/kube-system/cluster-autoscaler {ROLE}"),
        ]
    );
    let text = plan.to_text();
    assert!(
        text.contains("+ addon         smallest-cluster/eks-pod-identity-agent: create"),
        "{text}"
    );
    assert!(
        text.contains("+ association   smallest-cluster/kube-system/cluster-autoscaler [cluster-autoscaler]: create"),
        "{text}"
    );
    assert!(
        text.ends_with("eks plan: 2 to create, 0 to update, 0 unchanged; the plan made 2 API calls (0 writes)\n"),
        "{text}"
    );

    // Execute: the two creates, each with its deterministic token and the ownership tag.
    let addon_token = token_of(&plan, true);
    let assoc_token = token_of(&plan, false);
    let (clients, http, expects) = replay(vec![
        {
            let e = post(
                &format!("/clusters/{CLUSTER}/addons"),
                json!({"addonName": "eks-pod-identity-agent", "clientRequestToken": addon_token, "tags": {"managed-by": "irsagen"}}),
            );
            let ev = ok(&e, "create-addon.json");
            (e, ev)
        },
        {
            let e = post(
                &format!("/clusters/{CLUSTER}/pod-identity-associations"),
                json!({
                    "clientRequestToken": assoc_token,
                    "namespace": "kube-system",
                    "roleArn": ROLE,
                    "serviceAccount": "cluster-autoscaler",
                    "tags": {"managed-by": "irsagen", "irsagen:preset": "cluster-autoscaler"}
                }),
            );
            let ev = ok(&e, "create-association.json");
            (e, ev)
        },
    ])
    .await;
    let report = pod_identity::execute(&clients, &plan).await.unwrap();
    assert_sent(&http, &expects);
    assert_eq!(report.done.len(), 2, "{:?}", report.done);
    assert_eq!(writes(report.stats), 2);
    assert_eq!(
        clients.log.actions(),
        vec!["eks:CreateAddon", "eks:CreatePodIdentityAssociation"]
    );
}

#[tokio::test]
async fn re_apply_after_apply_plans_nothing_and_writes_nothing() {
    let d = [desired()];
    let (clients, http, expects) = replay(vec![
        addon_active(),
        list("list-associations-one.json"),
        describe("describe-association-ours.json"),
    ])
    .await;
    let plan = pod_identity::plan_associations(&clients, &d, &agent(), false)
        .await
        .unwrap();
    assert!(plan.is_empty(), "{}", plan.to_text());
    assert!(plan.calls().is_empty());
    assert_eq!(plan.items.len(), 2);
    assert!(plan.items.iter().all(|i| i.change == Change::NoChange));
    let report = pod_identity::execute(&clients, &plan).await.unwrap();
    assert!(report.done.is_empty());
    // Three reads, no write, and execute sent nothing (the replay has no answer left to give).
    assert_sent(&http, &expects);
    assert_eq!(clients.log.stats(), CallStats { calls: 3, writes: 0 });
    assert_eq!(
        clients.log.actions(),
        vec![
            "eks:DescribeAddon",
            "eks:ListPodIdentityAssociations",
            "eks:DescribePodIdentityAssociation"
        ]
    );
}

#[tokio::test]
async fn role_drift_on_our_association_is_updated() {
    let d = [desired()];
    let (clients, _http, _e) = replay(vec![
        addon_active(),
        list("list-associations-one.json"),
        describe("describe-association-drift.json"),
    ])
    .await;
    let plan = pod_identity::plan_associations(&clients, &d, &agent(), false)
        .await
        .unwrap();
    assert_eq!(
        plan.calls(),
        vec![format!(
            "eks:UpdatePodIdentityAssociation smallest-cluster {ASSOC_ID} {ROLE}"
        )]
    );
    assert!(
        plan.to_text()
            .contains(&format!("~ point it at role {ROLE} (was {OLD_ROLE})"))
    );
    let token = request_token(&["UpdatePodIdentityAssociation", CLUSTER, ASSOC_ID, ROLE]);
    let (clients, http, expects) = replay(vec![{
        let e = post(
            &format!("/clusters/{CLUSTER}/pod-identity-associations/{ASSOC_ID}"),
            json!({"clientRequestToken": token, "roleArn": ROLE}),
        );
        let ev = ok(&e, "update-association.json");
        (e, ev)
    }])
    .await;
    let report = pod_identity::execute(&clients, &plan).await.unwrap();
    assert_sent(&http, &expects);
    assert_eq!(writes(report.stats), 1);
}

#[tokio::test]
async fn foreign_association_is_refused_without_adopt_and_claimed_first_with_it() {
    let d = [desired()];
    let reads = || {
        vec![
            list("list-associations-one.json"),
            describe("describe-association-foreign.json"),
        ]
    };
    let (clients, http, expects) = replay(reads()).await;
    let err = pod_identity::plan_associations(&clients, &d, NO_AGENT, false)
        .await
        .unwrap_err()
        .to_string();
    assert_sent(&http, &expects);
    assert_eq!(clients.log.stats().writes, 0);
    for part in [
        ASSOC_ID,
        "kube-system/cluster-autoscaler",
        FOREIGN_ROLE,
        "--adopt",
        "without the tag managed-by=irsagen",
        "nothing was changed",
    ] {
        assert!(err.contains(part), "missing {part:?} in: {err}");
    }

    let (clients, _http, _e) = replay(reads()).await;
    let plan = pod_identity::plan_associations(&clients, &d, NO_AGENT, true)
        .await
        .unwrap();
    assert!(plan.items[0].adopting);
    let calls = plan.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].starts_with(&format!("eks:TagResource {ASSOC_ARN} ")),
        "{calls:?}"
    );
    assert!(calls[1].starts_with("eks:UpdatePodIdentityAssociation"), "{calls:?}");
    let token = request_token(&["UpdatePodIdentityAssociation", CLUSTER, ASSOC_ID, ROLE]);
    let encoded_arn = ASSOC_ARN.replace(':', "%3A").replace('/', "%2F");
    let (clients, http, expects) = replay(vec![
        {
            let e = post(
                &format!("/tags/{encoded_arn}"),
                json!({"tags": {"managed-by": "irsagen", "irsagen:preset": "cluster-autoscaler"}}),
            );
            let ev = ok(&e, "tag-resource.json");
            (e, ev)
        },
        {
            let e = post(
                &format!("/clusters/{CLUSTER}/pod-identity-associations/{ASSOC_ID}"),
                json!({"clientRequestToken": token, "roleArn": ROLE}),
            );
            let ev = ok(&e, "update-association.json");
            (e, ev)
        },
    ])
    .await;
    pod_identity::execute(&clients, &plan).await.unwrap();
    assert_sent(&http, &expects);
    assert_eq!(
        clients.log.actions(),
        vec!["eks:TagResource", "eks:UpdatePodIdentityAssociation"]
    );
}

#[tokio::test]
async fn every_page_of_the_list_is_read() {
    let d = [desired()];
    let token = "eyJleHBpcmF0aW9uIjp7InNlY29uZHMiOjE3MzMyMjcyMDB9LCJsYXN0RXZhbHVhdGVkS2V5Ijp7ImlkIjoiYS0wcmptZ3hxM3RkeW5iem14ZiJ9fQ==";
    let page2 = get(&format!("{LIST}&nextToken={}", token.replace('=', "%3D")));
    let page2_answer = ok(&page2, "list-associations-one.json");
    let (clients, http, expects) = replay(vec![
        list("list-associations-page1.json"),
        (page2, page2_answer),
        describe("describe-association-ours.json"),
    ])
    .await;
    let plan = pod_identity::plan_associations(&clients, &d, NO_AGENT, false)
        .await
        .unwrap();
    assert_sent(&http, &expects);
    // Found on the second page: no create.
    assert!(plan.is_empty(), "{}", plan.to_text());
}

#[tokio::test]
async fn access_denied_on_a_read_is_an_error_never_absent() {
    let d = [desired()];
    let e = get(LIST);
    let denied = error(&e, 403, "AccessDeniedException", "error-access-denied.json");
    let (clients, http, expects) = replay(vec![addon_active(), (e, denied)]).await;
    let err = pod_identity::plan_associations(&clients, &d, &agent(), false)
        .await
        .unwrap_err();
    assert_sent(&http, &expects);
    assert_eq!(err.exit_code(), 3);
    let msg = err.to_string();
    assert!(
        msg.starts_with("access denied") && msg.contains("eks:ListPodIdentityAssociations"),
        "{msg}"
    );
    // The addon read too: denied is not "not installed".
    let e = get(ADDON);
    let denied = error(&e, 403, "AccessDeniedException", "error-access-denied.json");
    let (clients, _http, _e) = replay(vec![(e, denied)]).await;
    let msg = pod_identity::plan_associations(&clients, &d, &agent(), false)
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("eks:DescribeAddon"), "{msg}");
    assert_eq!(clients.log.stats().writes, 0);
}

#[tokio::test]
async fn a_create_that_finds_the_association_re_reads_and_continues_when_it_is_ours() {
    let d = [desired()];
    let (clients, _http, _e) = replay(vec![list("list-associations-empty.json")]).await;
    let plan = pod_identity::plan_associations(&clients, &d, NO_AGENT, false)
        .await
        .unwrap();
    let create = |fixture_name: &'static str| {
        let e = post(
            &format!("/clusters/{CLUSTER}/pod-identity-associations"),
            json!({
                "clientRequestToken": token_of(&plan, false),
                "namespace": "kube-system",
                "roleArn": ROLE,
                "serviceAccount": "cluster-autoscaler",
                "tags": {"managed-by": "irsagen", "irsagen:preset": "cluster-autoscaler"}
            }),
        );
        let ev = error(&e, 409, "ResourceInUseException", fixture_name);
        (e, ev)
    };
    // Its answer was lost and a retry met the association it had made: done.
    let (clients, http, expects) = replay(vec![
        create("error-association-in-use.json"),
        list("list-associations-one.json"),
        describe("describe-association-ours.json"),
    ])
    .await;
    let report = pod_identity::execute(&clients, &plan).await.unwrap();
    assert_sent(&http, &expects);
    assert!(report.done[0].contains("exists already"), "{:?}", report.done);
    // Someone else's association took the ServiceAccount meanwhile: the error stands.
    let (clients, _http, _e) = replay(vec![
        create("error-association-in-use.json"),
        list("list-associations-one.json"),
        describe("describe-association-foreign.json"),
    ])
    .await;
    let msg = pod_identity::execute(&clients, &plan).await.unwrap_err().to_string();
    assert!(
        msg.contains("apply stopped part-way") && msg.contains("ResourceInUseException") && msg.contains(FOREIGN_ROLE),
        "{msg}"
    );
}

#[tokio::test]
async fn verify_fails_on_another_role_and_on_a_degraded_agent() {
    let d = [desired()];
    let (clients, http, expects) = replay(vec![
        addon_active(),
        list("list-associations-one.json"),
        describe("describe-association-drift.json"),
    ])
    .await;
    let (checks, stats) = pod_identity::verify(&clients, &d, &agent()).await.unwrap();
    assert_sent(&http, &expects);
    assert_eq!(stats.writes, 0);
    assert_eq!(checks.len(), 2);
    assert_eq!(
        (checks[0].name.as_str(), checks[0].status),
        ("pod-identity-agent", Status::Pass)
    );
    assert_eq!(checks[1].name, "pod-identity-association");
    assert_eq!(checks[1].status, Status::Fail);
    assert!(
        checks[1].detail.contains(OLD_ROLE) && checks[1].detail.contains(ROLE),
        "{}",
        checks[1].detail
    );

    let e = get(ADDON);
    let degraded = ok(&e, "describe-addon-degraded.json");
    let (clients, _http, _e) = replay(vec![
        (e, degraded),
        list("list-associations-one.json"),
        describe("describe-association-ours.json"),
    ])
    .await;
    let (checks, _) = pod_identity::verify(&clients, &d, &agent()).await.unwrap();
    assert_eq!(checks[0].status, Status::Fail);
    assert!(
        checks[0].detail.contains("DEGRADED") && checks[0].detail.contains("InsufficientNumberOfReplicas"),
        "{}",
        checks[0].detail
    );
    assert_eq!(checks[1].status, Status::Pass);
}

// ---- the decisions alone, from read states built here ----

fn ours(role: &str) -> LiveAssociation {
    LiveAssociation {
        id: ASSOC_ID.into(),
        arn: ASSOC_ARN.into(),
        role_arn: role.into(),
        tags: BTreeMap::from([
            ("managed-by".to_string(), "irsagen".to_string()),
            ("irsagen:preset".to_string(), "cluster-autoscaler".to_string()),
        ]),
        owner_arn: None,
        target_role_arn: None,
    }
}

fn state(assoc: Option<LiveAssociation>, addon: Option<&str>) -> PodIdentityState {
    PodIdentityState {
        associations: BTreeMap::from([(desired().key(), assoc)]),
        addons: BTreeMap::from([(
            CLUSTER.to_string(),
            addon.map(|s| LiveAddon {
                status: s.into(),
                version: Some("v1.3.4-eksbuild.1".into()),
                issues: Vec::new(),
            }),
        )]),
    }
}

#[test]
fn our_association_with_other_tag_values_is_only_retagged() {
    let mut live = ours(ROLE);
    live.tags.insert("irsagen:preset".into(), "old".into());
    let items = pod_identity::decide(&[desired()], &agent(), &state(Some(live), Some("ACTIVE")), false).unwrap();
    assert_eq!(items[1].change, Change::Update);
    assert_eq!(
        items[1].notes,
        vec!["~ tag irsagen:preset=cluster-autoscaler (was irsagen:preset=old)"]
    );
    assert_eq!(
        items[1].calls(),
        vec![format!("eks:TagResource {ASSOC_ARN} irsagen:preset=cluster-autoscaler")]
    );
}

#[test]
fn an_addon_owned_association_is_refused_even_with_adopt() {
    let mut live = ours(OLD_ROLE);
    live.tags.clear();
    live.owner_arn = Some("arn:aws:eks:us-east-1:123456789012:addon/smallest-cluster/aws-ebs-csi-driver/x".into());
    for adopt in [false, true] {
        let msg = pod_identity::decide(&[desired()], NO_AGENT, &state(Some(live.clone()), None), adopt)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("ownerArn") && msg.contains("aws-ebs-csi-driver"), "{msg}");
        // --adopt cannot help, so the message does not offer it as the way out.
        assert!(!msg.contains("Pass --adopt"), "{msg}");
    }
}

#[test]
fn every_refused_association_is_named_in_one_error() {
    let mut other = desired();
    other.service_account = "ebs-csi-controller-sa".into();
    other.preset = "ebs-csi-driver".into();
    let mut foreign = ours(FOREIGN_ROLE);
    foreign.tags = BTreeMap::from([("managed-by".to_string(), "terraform".to_string())]);
    let mut s = state(Some(foreign.clone()), None);
    let mut f2 = foreign;
    f2.id = "a-1xyz".into();
    s.associations.insert(other.key(), Some(f2));
    let msg = pod_identity::decide(&[desired(), other], NO_AGENT, &s, false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(ASSOC_ID) && msg.contains("a-1xyz") && msg.contains("managed by terraform"),
        "{msg}"
    );
    assert!(msg.contains("Pass --adopt"), "{msg}");
}

#[test]
fn the_agent_is_planned_once_per_cluster_and_only_when_required() {
    let mut other = desired();
    other.service_account = "ebs-csi-controller-sa".into();
    let s = PodIdentityState {
        associations: BTreeMap::from([(desired().key(), None), (other.key(), None)]),
        addons: BTreeMap::from([(CLUSTER.to_string(), None)]),
    };
    // The same cluster named twice (two associations' clusters) still gets one addon item.
    let twice = [CLUSTER.to_string(), CLUSTER.to_string()];
    let items = pod_identity::decide(&[desired(), other.clone()], &twice, &s, false).unwrap();
    let addons = items.iter().filter(|i| i.kind.to_string() == "addon").count();
    assert_eq!((addons, items.len()), (1, 3));
    let items = pod_identity::decide(&[desired(), other], NO_AGENT, &s, false).unwrap();
    assert_eq!(items.len(), 2);
    // An addon in any status is left as it is: verify reports it.
    let items = pod_identity::decide(
        &[desired()],
        &agent(),
        &state(Some(ours(ROLE)), Some("DEGRADED")),
        false,
    )
    .unwrap();
    assert!(items.iter().all(|i| i.change == Change::NoChange));
}

#[test]
fn tokens_are_the_same_for_the_same_request_and_differ_otherwise() {
    let s = state(None, None);
    let a = pod_identity::decide(&[desired()], &agent(), &s, false).unwrap();
    let b = pod_identity::decide(&[desired()], &agent(), &s, false).unwrap();
    assert_eq!(a[0].ops, b[0].ops);
    assert_eq!(a[1].ops, b[1].ops);
    let mut other_role = desired();
    other_role.role_arn = OLD_ROLE.into();
    let c = pod_identity::decide(&[other_role], NO_AGENT, &s, false).unwrap();
    assert_ne!(a[1].ops, c[0].ops);
    let t = request_token(&["x"]);
    assert!(t.starts_with("irsagen-") && t.len() == 40, "{t}");
    // Length-prefixed: moving a character between parts changes the token.
    assert_ne!(request_token(&["ab", "c"]), request_token(&["a", "bc"]));
}

#[test]
fn verify_agent_statuses_and_association_states() {
    let d = [desired()];
    let check = |s: PodIdentityState| verify_decide(&d, &agent(), &s);
    let c = check(state(Some(ours(ROLE)), Some("ACTIVE")));
    assert!(c.iter().all(|c| c.status == Status::Pass), "{c:?}");
    for status in [
        "CREATING",
        "UPDATING",
        "DEGRADED",
        "CREATE_FAILED",
        "UPDATE_FAILED",
        "DELETING",
        "DELETE_FAILED",
    ] {
        let c = check(state(Some(ours(ROLE)), Some(status)));
        assert_eq!(c[0].status, Status::Fail, "{status}");
        assert!(c[0].detail.contains(status));
        // In progress: try again later; anything else: look at the health issues.
        let advice = c[0].advice.as_deref().unwrap_or_default();
        let in_progress = matches!(status, "CREATING" | "UPDATING");
        assert_eq!(advice.contains("run verify again"), in_progress, "{status}: {advice}");
        assert_eq!(advice.contains("health issues"), !in_progress, "{status}: {advice}");
    }
    let c = check(state(Some(ours(ROLE)), None));
    assert_eq!(c[0].status, Status::Fail);
    assert!(c[0].detail.contains("not installed"), "{}", c[0].detail);
    let c = check(state(None, Some("ACTIVE")));
    assert_eq!(c[1].status, Status::Fail);
    assert!(c[1].detail.contains("no Pod Identity association"), "{}", c[1].detail);
    let mut chained = ours(ROLE);
    chained.target_role_arn = Some("arn:aws:iam::210987654321:role/elsewhere".into());
    let c = check(state(Some(chained), Some("ACTIVE")));
    assert_eq!(c[1].status, Status::Fail);
    assert!(c[1].detail.contains("elsewhere"), "{}", c[1].detail);
    // Without the agent requirement, only the association is checked.
    assert_eq!(verify_decide(&d, NO_AGENT, &state(Some(ours(ROLE)), None)).len(), 1);
}
