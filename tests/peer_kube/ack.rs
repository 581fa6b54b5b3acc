//! `render --format ack` against the real kube-apiserver: the pinned ACK CRDs
//! (reference/ack/) are installed by server-side apply and waited for until Established, then
//! every rendered ACK resource of the guide's cluster (irsa and pod-identity modes) is
//! server-side applied with strict field validation, so the API server validates each one
//! against its CRD's schema; what it stored is read back. A resource with a wrong field type or
//! an unknown field is rejected, so the test can fail.

use crate::support::*;
use ::kube::Api;
use ::kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use irsagen::ack::{self, Format};
use irsagen::bundle::{ArtifactKind, Bundle};
use irsagen::context::{ClusterInputs, Context};
use irsagen::identity::IdentityMode;
use irsagen::overrides::PresetOverrides;
use irsagen::render::Renderer;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;
use std::time::{Duration, Instant};

const MANAGER: &str = "irsagen-peer-test";

/// Installs the three pinned CRDs (idempotent: server-side apply) and waits until each is
/// Established.
async fn install_crds(client: &::kube::Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for text in ack::crds::ALL {
        let value: Value = serde_saphyr::from_str(text).expect("pinned CRD is YAML");
        let crd: CustomResourceDefinition = serde_json::from_value(value).expect("pinned CRD is a CRD");
        let name = crd.metadata.name.clone().unwrap();
        api.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("server-side apply of CRD {name}: {e}"));
        let start = Instant::now();
        loop {
            let got = api.get(&name).await.expect("read CRD back");
            let established = got
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "CRD {name} never became Established"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The guide's three presets for `cluster` in `ns`, in `mode`, as ACK resources.
fn ack_bundle(cluster: &str, ns: &str, mode: IdentityMode) -> Bundle {
    let ctx = Context::new(&ClusterInputs {
        cluster: Some(cluster.into()),
        region: Some(REGION.into()),
        account: Some(ACCOUNT.into()),
        oidc_issuer: Some(ISSUER.into()),
        ..Default::default()
    })
    .expect("context");
    let selection: Vec<(String, PresetOverrides)> = PRESETS
        .iter()
        .map(|p| {
            (
                p.to_string(),
                PresetOverrides {
                    identity_mode: Some(mode),
                    ..in_ns(ns)
                },
            )
        })
        .collect();
    Renderer::new(None, None)
        .expect("renderer")
        .with_format(Format::Ack)
        .render(&ctx, &selection)
        .expect("ACK bundle")
}

fn api_of(client: &::kube::Client, obj: &DynamicObject) -> Api<DynamicObject> {
    let types = obj.types.as_ref().expect("typed object");
    let (group, version) = types.api_version.split_once('/').expect("group/version");
    let plural = match types.kind.as_str() {
        "Role" => "roles",
        "Policy" => "policies",
        "PodIdentityAssociation" => "podidentityassociations",
        k => panic!("unexpected kind {k}"),
    };
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, &types.kind), plural);
    Api::namespaced_with(
        client.clone(),
        obj.metadata.namespace.as_deref().expect("namespaced"),
        &ar,
    )
}

/// Server-side apply with strict field validation (unknown or duplicate fields are errors).
async fn apply(client: &::kube::Client, obj: &DynamicObject) -> ::kube::Result<DynamicObject> {
    let name = obj.metadata.name.clone().expect("named");
    let params = PatchParams::apply(MANAGER).force().validation_strict();
    // Right after Established the new types may not be served yet for a moment.
    let start = Instant::now();
    loop {
        match api_of(client, obj).patch(&name, &params, &Patch::Apply(obj)).await {
            Err(::kube::Error::Api(s)) if s.code == 404 && start.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}

fn objects(b: &Bundle) -> Vec<(String, DynamicObject)> {
    b.of_kind(ArtifactKind::AckResource)
        .map(|a| {
            let v: Value = serde_saphyr::from_str(&a.content).expect("YAML");
            (a.path.clone(), serde_json::from_value(v).expect("a Kubernetes object"))
        })
        .collect()
}

#[tokio::test]
async fn every_rendered_ack_resource_is_accepted_by_the_api_server_against_the_pinned_crds() {
    let w = World::new("ack", true).await;
    install_crds(&w.client).await;
    let mut kinds = std::collections::BTreeSet::new();
    for mode in [IdentityMode::Irsa, IdentityMode::PodIdentity] {
        let b = ack_bundle(&w.cluster, &w.ns, mode);
        let objs = objects(&b);
        assert!(objs.len() >= 6, "{} resources", objs.len());
        for (path, obj) in objs {
            let stored = apply(&w.client, &obj)
                .await
                .unwrap_or_else(|e| panic!("{path} ({mode}) refused by the API server: {e}"));
            // What the server kept is what was rendered: nothing pruned as unknown.
            assert_eq!(stored.data["spec"], obj.data["spec"], "{path} ({mode})");
            kinds.insert(obj.types.unwrap().kind);
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["PodIdentityAssociation", "Policy", "Role"]
    );
    w.cleanup().await;
}

#[tokio::test]
async fn the_api_server_rejects_a_resource_that_breaks_the_crd_schema() {
    let w = World::new("ackbad", true).await;
    install_crds(&w.client).await;
    let b = ack_bundle(&w.cluster, &w.ns, IdentityMode::PodIdentity);
    let objs = objects(&b);
    let role = objs
        .iter()
        .find(|(p, _)| p.ends_with("role.yaml"))
        .map(|(_, o)| o.clone())
        .unwrap();
    let assoc = objs
        .iter()
        .find(|(p, _)| p.ends_with("pod-identity-association.yaml"))
        .map(|(_, o)| o.clone())
        .unwrap();
    // Server-side apply refuses a type mismatch while building the typed patch (500, "expected
    // list"), a schema violation as Invalid (422), strict validation's unknown field as 400 or 422:
    // every message names the field.
    let rejected = |r: ::kube::Result<DynamicObject>, what: &str, field: &str| match r {
        Err(::kube::Error::Api(s)) => assert!(
            matches!(s.code, 400 | 422 | 500) && s.message.contains(field),
            "{what}: {s:?}"
        ),
        other => panic!("{what} was accepted: {other:?}"),
    };
    // A list where the CRD says string: `policies` is an array of strings.
    let mut bad = role.clone();
    bad.metadata.name = Some("wrong-type".into());
    bad.data["spec"]["policies"] = serde_json::json!("arn:aws:iam::aws:policy/AdministratorAccess");
    rejected(
        apply(&w.client, &bad).await,
        "spec.policies as a string",
        "spec.policies",
    );
    // An integer where the CRD says string.
    let mut bad = assoc.clone();
    bad.metadata.name = Some("wrong-type".into());
    bad.data["spec"]["serviceAccount"] = serde_json::json!(7);
    rejected(
        apply(&w.client, &bad).await,
        "spec.serviceAccount as a number",
        "spec.serviceAccount",
    );
    // A field the CRD does not know (strict field validation).
    let mut bad = role.clone();
    bad.metadata.name = Some("unknown-field".into());
    bad.data["spec"]["assumeRolePolicy"] = serde_json::json!("{}");
    rejected(
        apply(&w.client, &bad).await,
        "unknown spec.assumeRolePolicy",
        "assumeRolePolicy",
    );
    // A required field missing.
    let mut bad = role;
    bad.metadata.name = Some("missing-field".into());
    bad.data["spec"]
        .as_object_mut()
        .unwrap()
        .remove("assumeRolePolicyDocument");
    rejected(
        apply(&w.client, &bad).await,
        "no spec.assumeRolePolicyDocument",
        "spec.assumeRolePolicyDocument",
    );
    w.cleanup().await;
}
