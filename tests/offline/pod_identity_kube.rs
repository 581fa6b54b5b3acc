//! Pod Identity on the cluster side, offline: apply --kube leaves the role-arn annotation out and
//! removes only irsagen's own, and the verify decisions (leftover annotation, pods admitted
//! before the binding, the exec test's variables). The peer suite covers the API path.

use crate::support::*;
use irsagen::bundle::Bundle;
use irsagen::identity::{IdentityMode, Mechanism};
use irsagen::kube::credentials::{self, PodCredentials, SaPod};
use irsagen::kube::decide::{self, Observed, Wanted};
use irsagen::kube::{ApplyFlags, ExecCaller, exec_caller, exec_env_check};
use irsagen::overrides::PresetOverrides;
use irsagen::report::Status;
use kube::api::DynamicObject;
use serde_json::json;

const ROLE_ARN: &str = "eks.amazonaws.com/role-arn";

/// The mode is another change's flag: tests set the field the flag sets.
fn autoscaler(mode: IdentityMode) -> Bundle {
    let sel = vec![("cluster-autoscaler".to_string(), PresetOverrides::default())];
    let mut b = render(&guide_inputs(), &sel).unwrap();
    b.components[0].identity_mode = mode;
    b
}

/// The live ServiceAccount with the annotation, set by `manager`.
fn live_sa(manager: &str, role: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "cluster-autoscaler", "namespace": "kube-system",
            "uid": "0b6c3d4e-0000-4000-8000-000000000001", "resourceVersion": "4711",
            "annotations": {ROLE_ARN: role},
            "managedFields": [{"manager": manager, "operation": "Apply", "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:annotations": {format!("f:{ROLE_ARN}"): {}}}}}]}
    }))
    .unwrap()
}

fn observed(o: DynamicObject) -> Observed {
    Observed {
        namespaces: ["kube-system".to_string()].into(),
        objects: [("ServiceAccount kube-system/cluster-autoscaler".to_string(), o)].into(),
    }
}

#[test]
fn pod_identity_mode_applies_no_annotation_and_both_keeps_it() {
    let role = autoscaler(IdentityMode::Irsa).components[0].role_arn.clone();
    let w = Wanted::from_bundle(&autoscaler(IdentityMode::PodIdentity), ApplyFlags::default()).unwrap();
    assert_eq!(w.service_accounts.len(), 1);
    assert_eq!(w.service_accounts[0].role_arn(), None);
    for mode in [IdentityMode::Both, IdentityMode::Irsa] {
        let w = Wanted::from_bundle(&autoscaler(mode), ApplyFlags::default()).unwrap();
        assert_eq!(w.service_accounts[0].role_arn(), Some(role.as_str()), "{mode}");
    }
}

#[test]
fn leftover_annotation_is_removed_only_when_irsagen_set_it() {
    let b = autoscaler(IdentityMode::PodIdentity);
    let role = b.components[0].role_arn.clone();
    let w = Wanted::from_bundle(&b, ApplyFlags::default()).unwrap();
    // irsagen's: the apply (without the field) removes it; no --force needed.
    let ours = live_sa("irsagen", &role);
    assert!(decide::annotation_is_ours(&ours));
    let d = decide::decide(&w, &observed(ours), ApplyFlags::default()).unwrap();
    assert_eq!(d.steps.len(), 1);
    assert!(!d.steps[0].force);
    assert_eq!(
        d.steps[0].note.as_deref(),
        Some(format!("removes {ROLE_ARN}={role}: Pod Identity only").as_str())
    );
    assert!(d.skipped.is_empty());
    // Someone else's (kubectl, eksctl): left, with a note naming the command; never an error.
    let theirs = live_sa("kubectl-annotate", &role);
    assert!(!decide::annotation_is_ours(&theirs));
    for force in [false, true] {
        let flags = ApplyFlags {
            force,
            ..Default::default()
        };
        let d = decide::decide(&w, &observed(theirs.clone()), flags).unwrap();
        assert!(!d.steps[0].force && d.steps[0].note.is_none(), "{:?}", d.steps[0]);
        assert_eq!(d.skipped.len(), 1);
        let n = &d.skipped[0];
        assert!(
            n.contains("irsagen does not remove it")
                && n.contains("kubectl annotate sa cluster-autoscaler -n kube-system eks.amazonaws.com/role-arn-")
                && n.contains("restart the pods"),
            "{n}"
        );
    }
}

#[test]
fn leftover_annotation_fails_verify_in_pod_identity_mode() {
    let b = autoscaler(IdentityMode::PodIdentity);
    let c = &b.components[0];
    let fail = credentials::annotation_check(c, Some(&c.role_arn));
    assert_eq!(fail.status, Status::Fail);
    assert!(fail.detail.contains("it takes precedence"), "{}", fail.detail);
    assert!(
        fail.advice
            .as_deref()
            .unwrap()
            .contains("remove it and restart the pods")
    );
    assert_eq!(credentials::annotation_check(c, None).status, Status::Pass);
}

fn pod(name: &str, vars: &[&str]) -> SaPod {
    SaPod {
        name: name.into(),
        creds: PodCredentials::from_names(vars.iter().copied()),
    }
}

#[test]
fn pods_without_credentials_are_reported_with_restart_them() {
    let b = autoscaler(IdentityMode::Both);
    let c = &b.components[0];
    assert!(credentials::pods_check(c, IdentityMode::Both, &[]).is_none());
    let ok = credentials::pods_check(c, IdentityMode::Both, &[pod("a", &["AWS_ROLE_ARN"])]).unwrap();
    assert_eq!(ok.status, Status::Pass);
    let pods = [
        pod("a", &["AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI"]),
        pod("old", &["HOME"]),
    ];
    let bad = credentials::pods_check(c, IdentityMode::Both, &pods).unwrap();
    assert_eq!(bad.status, Status::Fail);
    assert!(
        bad.detail.contains("pod(s) old run as kube-system/cluster-autoscaler"),
        "{}",
        bad.detail
    );
    assert!(
        !bad.detail.contains("a,") && !bad.detail.contains("still use IRSA"),
        "{}",
        bad.detail
    );
    assert!(bad.advice.as_deref().unwrap().starts_with("restart them"));
    // pod-identity: a pod still on IRSA fails too; one on Pod Identity alone passes.
    let pi = [pod("a", &["AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI"])];
    let bad = credentials::pods_check(c, IdentityMode::PodIdentity, &pi).unwrap();
    assert_eq!(bad.status, Status::Fail);
    assert!(bad.detail.contains("pod(s) a still use IRSA"), "{}", bad.detail);
    let good = [pod("b", &["AWS_CONTAINER_CREDENTIALS_FULL_URI"])];
    let ok = credentials::pods_check(c, IdentityMode::PodIdentity, &good).unwrap();
    assert_eq!(ok.status, Status::Pass);
}

#[test]
fn exec_test_wants_the_variable_of_the_mechanism_in_use() {
    let irsa = PodCredentials::from_names(["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]);
    let pi = PodCredentials::from_names(["AWS_CONTAINER_CREDENTIALS_FULL_URI"]);
    let both = PodCredentials::from_names(["AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI"]);
    let none = PodCredentials::default();
    assert_eq!(exec_env_check(IdentityMode::Irsa, irsa), Ok(Mechanism::Irsa));
    assert_eq!(
        exec_env_check(IdentityMode::PodIdentity, pi),
        Ok(Mechanism::PodIdentity)
    );
    // In `both` the SDK takes IRSA's variables first.
    assert_eq!(exec_env_check(IdentityMode::Both, both), Ok(Mechanism::Irsa));
    let e = exec_env_check(IdentityMode::PodIdentity, none).unwrap_err();
    assert!(
        e.contains("no AWS_CONTAINER_CREDENTIALS_FULL_URI") && e.contains("association"),
        "{e}"
    );
    let e = exec_env_check(IdentityMode::Irsa, none).unwrap_err();
    assert!(e.contains("no AWS_ROLE_ARN") && e.contains("annotated"), "{e}");
    let e = exec_env_check(IdentityMode::PodIdentity, both).unwrap_err();
    assert!(
        e.contains("take precedence") && e.contains("remove the role-arn annotation"),
        "{e}"
    );
}

#[test]
fn exec_test_checks_each_variable_in_each_mode() {
    // Either IRSA variable alone is IRSA (the webhook sets both; a hand-made pod may not).
    for name in ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"] {
        let c = PodCredentials::from_names([name, "AWS_REGION"]);
        assert_eq!(exec_env_check(IdentityMode::Irsa, c), Ok(Mechanism::Irsa), "{name}");
        assert_eq!(exec_env_check(IdentityMode::Both, c), Ok(Mechanism::Irsa), "{name}");
        let e = exec_env_check(IdentityMode::PodIdentity, c).unwrap_err();
        assert!(e.contains("AWS_CONTAINER_CREDENTIALS_FULL_URI missing"), "{e}");
        assert!(e.contains("uses IRSA credentials, not Pod Identity"), "{e}");
    }
    // Pod Identity's variable alone: right in pod-identity, wrong where IRSA is in use, and the
    // message says what is missing and what to do (not to remove an annotation that is not there).
    let pi = PodCredentials::from_names([
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    ]);
    for mode in [IdentityMode::Irsa, IdentityMode::Both] {
        let e = exec_env_check(mode, pi).unwrap_err();
        assert!(
            e.contains("uses Pod Identity credentials, not IRSA") && e.contains("AWS_ROLE_ARN missing"),
            "{mode}: {e}"
        );
        assert!(
            e.contains("annotate the ServiceAccount") && !e.contains("remove"),
            "{mode}: {e}"
        );
    }
    // Unrelated variables are no credentials.
    let other = PodCredentials::from_names(["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_STS_REGIONAL_ENDPOINTS"]);
    assert_eq!(other, PodCredentials::default());
    // Read from the pod: init containers count, as the webhook injects into them too.
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "metadata": {"name": "t"},
        "spec": {
            "initContainers": [{"name": "i", "env": [{"name": "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value": "http://169.254.170.23/v1/credentials"}]}],
            "containers": [{"name": "c", "env": [{"name": "AWS_REGION", "value": "us-east-1"}]}]
        }
    }))
    .unwrap();
    assert_eq!(
        exec_env_check(IdentityMode::PodIdentity, PodCredentials::of(&pod)),
        Ok(Mechanism::PodIdentity)
    );
}

const EXEC_ROLE: &str = "arn:aws:iam::123456789012:role/irsa-smallest-cluster-kube-system-cluster-autoscaler";

fn caller(arn: &str) -> String {
    json!({"UserId": "AROAEXAMPLE:session", "Account": "123456789012", "Arn": arn}).to_string()
}

#[test]
fn exec_test_wants_a_session_of_the_role_in_its_account() {
    // IRSA's session (the SDK names it) and Pod Identity's (EKS names it after the pod) pass alike.
    for session in ["botocore-session-1733140800", "eks-smallest-cl-test-pod-0a1b2c3d-4e5f"] {
        let arn = format!(
            "arn:aws:sts::123456789012:assumed-role/irsa-smallest-cluster-kube-system-cluster-autoscaler/{session}"
        );
        assert_eq!(exec_caller(&caller(&arn), EXEC_ROLE), ExecCaller::Role(arn));
    }
    // A role path is not part of the session ARN.
    let with_path = "arn:aws:iam::123456789012:role/platform/eks/irsa-x";
    let arn = "arn:aws:sts::123456789012:assumed-role/irsa-x/s";
    assert_eq!(exec_caller(&caller(arn), with_path), ExecCaller::Role(arn.into()));
    // Everything else is someone else: the node's role (no binding reached the SDK), a role whose
    // name only starts the same, the same name in another account or partition, no session, a user.
    for arn in [
        "arn:aws:sts::123456789012:assumed-role/eksctl-smallest-cluster-nodegroup-NodeInstanceRole/i-0abc",
        "arn:aws:sts::123456789012:assumed-role/irsa-smallest-cluster-kube-system-cluster-autoscaler-old/s",
        "arn:aws:sts::210987654321:assumed-role/irsa-smallest-cluster-kube-system-cluster-autoscaler/s",
        "arn:aws-cn:sts::123456789012:assumed-role/irsa-smallest-cluster-kube-system-cluster-autoscaler/s",
        "arn:aws:sts::123456789012:assumed-role/irsa-smallest-cluster-kube-system-cluster-autoscaler/",
        "arn:aws:iam::123456789012:user/ci",
    ] {
        assert_eq!(
            exec_caller(&caller(arn), EXEC_ROLE),
            ExecCaller::Other(arn.into()),
            "{arn}"
        );
    }
    // No answer: the CLI failed (its error on stderr, nothing on stdout), or printed no Arn.
    for out in [
        "",
        "Unable to locate credentials",
        r#"{"Account":"123456789012"}"#,
        "[]",
    ] {
        assert_eq!(exec_caller(out, EXEC_ROLE), ExecCaller::NoAnswer, "{out}");
    }
}
