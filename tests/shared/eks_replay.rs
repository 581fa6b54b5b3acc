//! Recorded EKS answers for the Pod Identity and addon calls, shared by the offline suite and
//! the moto suite (`#[path]`-included by both: moto has no Pod Identity or addon API, so
//! neither suite can test this half against a server). The responses are the hand-written
//! fixtures of tests/fixtures/eks/ (shapes from the EKS API reference, see SOURCE.md), served
//! by `StaticReplayClient`, so the SDK's real serializers and deserializers handle raw HTTP.
//!
//! Each suite uses a part of these helpers; the rest would be dead code in that suite.
#![allow(dead_code)]

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_eks::config::{Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use irsagen::aws::Clients;
use serde_json::Value;
use std::time::Duration;

pub(crate) const ENDPOINT: &str = "https://eks.us-east-1.amazonaws.com";
pub(crate) const CLUSTER: &str = "smallest-cluster";
pub(crate) const ASSOC_ID: &str = "a-0rjmgxq3tdynbzmxf";

pub(crate) const ASSOC_ARN: &str =
    "arn:aws:eks:us-east-1:123456789012:podidentityassociation/smallest-cluster/a-0rjmgxq3tdynbzmxf";
pub(crate) const LIST: &str =
    "/clusters/smallest-cluster/pod-identity-associations?namespace=kube-system&serviceAccount=cluster-autoscaler";
pub(crate) const ADDON: &str = "/clusters/smallest-cluster/addons/eks-pod-identity-agent";

pub(crate) fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/eks/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A request irsagen is expected to send: method, path with query, JSON body (if any).
pub(crate) struct Expect {
    pub(crate) method: &'static str,
    pub(crate) path: String,
    pub(crate) body: Option<Value>,
}

pub(crate) fn get(path: &str) -> Expect {
    Expect {
        method: "GET",
        path: path.to_string(),
        body: None,
    }
}

pub(crate) fn post(path: &str, body: Value) -> Expect {
    Expect {
        method: "POST",
        path: path.to_string(),
        body: Some(body),
    }
}

pub(crate) fn request(e: &Expect) -> http::Request<SdkBody> {
    let body = match &e.body {
        Some(v) => SdkBody::from(v.to_string()),
        None => SdkBody::empty(),
    };
    http::Request::builder()
        .method(e.method)
        .uri(format!("{ENDPOINT}{}", e.path))
        .body(body)
        .unwrap()
}

/// EKS's answer 200 with the fixture as body.
pub(crate) fn ok(e: &Expect, fixture_name: &str) -> ReplayEvent {
    respond(e, 200, None, fixture_name)
}

/// EKS's error answer: status, `x-amzn-ErrorType` as EKS sends it, the fixture as body.
pub(crate) fn error(e: &Expect, status: u16, code: &str, fixture_name: &str) -> ReplayEvent {
    respond(e, status, Some(code), fixture_name)
}

fn respond(e: &Expect, status: u16, code: Option<&str>, fixture_name: &str) -> ReplayEvent {
    let mut resp = http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", "0d9a4c7e-6f1b-4f57-8a4e-2c1b9d3e5f60");
    if let Some(code) = code {
        resp = resp.header(
            "x-amzn-errortype",
            format!("{code}:http://internal.amazon.com/coral/com.amazonaws.eks.v20171101/"),
        );
    }
    ReplayEvent::new(request(e), resp.body(SdkBody::from(fixture(fixture_name))).unwrap())
}

/// An SDK config whose HTTP answers come from `events`, in order; nothing of the machine's AWS
/// setup (environment, files, `AWS_ENDPOINT_URL`) is read, so requests go to [`ENDPOINT`].
pub(crate) async fn replay_config(
    events: Vec<(Expect, ReplayEvent)>,
) -> (aws_types::SdkConfig, StaticReplayClient, Vec<Expect>) {
    let (expects, events): (Vec<Expect>, Vec<ReplayEvent>) = events.into_iter().unzip();
    let http = StaticReplayClient::new(events);
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .empty_test_environment()
        .credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"))
        .region(Region::new("us-east-1"))
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .http_client(http.clone())
        .load()
        .await;
    (sdk, http, expects)
}

/// Clients whose EKS answers (and IAM's and STS's) come from `events`, in order, with
/// irsagen's call counter.
pub(crate) async fn replay(events: Vec<(Expect, ReplayEvent)>) -> (Clients, StaticReplayClient, Vec<Expect>) {
    let (sdk, http, expects) = replay_config(events).await;
    (Clients::from_sdk_config(&sdk), http, expects)
}

/// Every expected request was sent, in order, with that method, path and JSON body, and
/// nothing else was sent.
pub(crate) fn assert_sent(http: &StaticReplayClient, expects: &[Expect]) {
    http.assert_requests_match(&[]);
    let methods: Vec<String> = http.actual_requests().map(|r| r.method().to_string()).collect();
    let want: Vec<&str> = expects.iter().map(|e| e.method).collect();
    assert_eq!(methods, want);
}

pub(crate) fn addon_absent() -> (Expect, ReplayEvent) {
    let e = get(ADDON);
    let ev = error(&e, 404, "ResourceNotFoundException", "error-addon-not-found.json");
    (e, ev)
}

pub(crate) fn addon_active() -> (Expect, ReplayEvent) {
    let e = get(ADDON);
    let ev = ok(&e, "describe-addon-active.json");
    (e, ev)
}

pub(crate) fn list(fixture_name: &str) -> (Expect, ReplayEvent) {
    let e = get(LIST);
    let ev = ok(&e, fixture_name);
    (e, ev)
}

pub(crate) fn describe(fixture_name: &str) -> (Expect, ReplayEvent) {
    let e = get(&format!("/clusters/{CLUSTER}/pod-identity-associations/{ASSOC_ID}"));
    let ev = ok(&e, fixture_name);
    (e, ev)
}
