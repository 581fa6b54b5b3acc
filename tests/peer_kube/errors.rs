//! Context selection and the errors of the environment: RBAC denial, unreachable server,
//! unknown context, explicit --kubeconfig.

use crate::support::*;
use irsagen::kube::{self, ApplyFlags, KubeOptions};

#[tokio::test]
async fn rbac_denial_names_verb_resource_and_user() {
    let w = World::new("rbac", true).await;
    let b = guide_bundle(&w.cluster, &w.ns);
    let err = kube::verify(&context("irsagen-nobody"), &b, false)
        .await
        .expect_err("403");
    assert_eq!(err.exit_code(), 3);
    let msg = err.to_string();
    assert!(
        msg.contains("RBAC denied `list serviceaccounts` at cluster scope for user irsagen-nobody"),
        "{msg}"
    );
    let err = kube::plan(&context("irsagen-nobody"), &b, ApplyFlags::default())
        .await
        .expect_err("403");
    let msg = err.to_string();
    assert!(
        msg.contains("RBAC denied `get namespaces` at cluster scope for user irsagen-nobody"),
        "{msg}"
    );
    w.cleanup().await;
}

#[tokio::test]
async fn unreachable_server_is_named() {
    require_peer();
    let b = guide_bundle(&unique("c"), "kube-system");
    let err = kube::verify(&context("irsagen-unreachable"), &b, false)
        .await
        .expect_err("unreachable");
    assert_eq!(err.exit_code(), 3);
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot reach the Kubernetes API server at https://127.0.0.1:"),
        "{msg}"
    );
    assert!(
        msg.contains("context `irsagen-unreachable`") && msg.contains("Connection refused"),
        "{msg}"
    );
    let err = kube::plan(&context("irsagen-unreachable"), &b, ApplyFlags::default())
        .await
        .expect_err("unreachable");
    assert!(
        err.to_string().starts_with("cannot reach the Kubernetes API server"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_context_and_explicit_kubeconfig() {
    let w = World::new("ctx", true).await;
    let b = guide_bundle(&w.cluster, &w.ns);
    let err = kube::verify(&context("no-such-context"), &b, false)
        .await
        .expect_err("unknown context");
    let msg = err.to_string();
    assert!(
        msg.contains("context `no-such-context` is not in the kubeconfig") && msg.contains("irsagen-admin"),
        "{msg}"
    );

    // --kubeconfig wins over KUBECONFIG: a missing file is an error naming it...
    let missing = KubeOptions {
        kubeconfig: Some("/nonexistent/kubeconfig".into()),
        context: None,
    };
    let msg = kube::verify(&missing, &b, false)
        .await
        .expect_err("missing file")
        .to_string();
    assert!(msg.contains("/nonexistent/kubeconfig"), "{msg}");
    // ...and the peer's file given explicitly, with an explicit context, works.
    let explicit = KubeOptions {
        kubeconfig: Some(std::env::var("KUBECONFIG").unwrap().into()),
        context: Some("irsagen-admin".into()),
    };
    let checks = kube::verify(&explicit, &b, false)
        .await
        .expect("verify with --kubeconfig --context");
    assert_eq!(checks.len(), 3); // three missing ServiceAccounts
    w.cleanup().await;
}
