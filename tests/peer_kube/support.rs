//! Shared setup: the peer's kubeconfig, unique names, bundles rendered through the library, and
//! an admin client for arranging and inspecting the cluster behind irsagen's back.

use irsagen::bundle::Bundle;
use irsagen::context::{ClusterInputs, Context};
use irsagen::kube::KubeOptions;
use irsagen::overrides::PresetOverrides;
use irsagen::render::Renderer;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
pub const ROLE_ARN: &str = "eks.amazonaws.com/role-arn";
pub const PRESETS: [&str; 3] = ["cluster-autoscaler", "ebs-csi-driver", "efs-csi-driver"];

/// Fails (never skips) when the suite was not started by scripts/kube-peer.
pub fn require_peer() {
    let peer = std::env::var("IRSAGEN_KUBE_PEER").unwrap_or_default();
    let kubeconfig = std::env::var("KUBECONFIG").unwrap_or_default();
    assert!(
        peer == "1" && !kubeconfig.is_empty(),
        "the kube peer suite needs a real API server: run `scripts/kube-peer run -- cargo test --features peer-tests --test peer_kube` \
         (IRSAGEN_KUBE_PEER={peer:?}, KUBECONFIG={kubeconfig:?})"
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A name no other test (or earlier run) uses: `prefix-<pid+time+counter in hex>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    let mix = (t as u64) ^ ((std::process::id() as u64) << 40);
    format!("{prefix}-{:06x}{n}", mix & 0xff_ffff)
}

/// The current context of the peer's kubeconfig (irsagen-admin).
pub fn admin() -> KubeOptions {
    KubeOptions::default()
}

/// Another context of the peer's kubeconfig.
pub fn context(name: &str) -> KubeOptions {
    KubeOptions {
        context: Some(name.into()),
        ..Default::default()
    }
}

/// Overrides putting a preset's ServiceAccount into `ns`.
pub fn in_ns(ns: &str) -> PresetOverrides {
    PresetOverrides {
        namespace: Some(ns.into()),
        ..Default::default()
    }
}

/// Renders a bundle for cluster `cluster` through the library, as `irsagen render` does.
pub fn bundle(cluster: &str, selection: &[(&str, PresetOverrides)]) -> Bundle {
    let ctx = Context::new(&ClusterInputs {
        cluster: Some(cluster.into()),
        region: Some(REGION.into()),
        account: Some(ACCOUNT.into()),
        partition: None,
        oidc_issuer: Some(ISSUER.into()),
        tags: Default::default(),
        kubernetes_version: None,
    })
    .expect("context");
    let selection: Vec<(String, PresetOverrides)> = selection.iter().map(|(p, o)| (p.to_string(), o.clone())).collect();
    Renderer::new(None, None)
        .expect("renderer")
        .render(&ctx, &selection)
        .expect("render")
}

/// The three guide presets, all in `ns`.
pub fn guide_bundle(cluster: &str, ns: &str) -> Bundle {
    let sel: Vec<(&str, PresetOverrides)> = PRESETS.iter().map(|p| (*p, in_ns(ns))).collect();
    bundle(cluster, &sel)
}

/// Role ARN irsagen derives for a ServiceAccount (when the name needs no hashing).
pub fn role_arn(cluster: &str, ns: &str, sa: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/irsa-{cluster}-{ns}-{sa}")
}

/// One test's world: its namespace(s), cluster name and an admin client.
pub struct World {
    pub ns: String,
    pub cluster: String,
    pub client: kube::Client,
    namespaces: Vec<String>,
}

impl World {
    /// Creates a fresh namespace for the test (`create_ns` false: only picks the name).
    pub async fn new(tag: &str, create_ns: bool) -> World {
        require_peer();
        let client = kube::Client::try_default().await.expect("admin client from KUBECONFIG");
        let ns = unique(tag);
        let mut w = World {
            cluster: unique("c"),
            ns: ns.clone(),
            client,
            namespaces: vec![ns.clone()],
        };
        if create_ns {
            w.create_namespace(&ns).await;
        }
        w
    }

    /// Creates one more namespace, deleted with the others.
    pub async fn create_namespace(&mut self, ns: &str) {
        let obj: Namespace =
            serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})).unwrap();
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &obj)
            .await
            .expect("create namespace");
        if !self.namespaces.iter().any(|n| n == ns) {
            self.namespaces.push(ns.to_string());
        }
    }

    /// Deletes the test's namespaces (they stay Terminating: there is no namespace controller).
    pub async fn cleanup(self) {
        let api = Api::<Namespace>::all(self.client.clone());
        for ns in &self.namespaces {
            let _ = api.delete(ns, &DeleteParams::default()).await;
        }
    }

    pub fn sas(&self, ns: &str) -> Api<ServiceAccount> {
        Api::namespaced(self.client.clone(), ns)
    }

    pub async fn sa(&self, ns: &str, name: &str) -> Option<ServiceAccount> {
        self.sas(ns).get_opt(name).await.expect("get sa")
    }

    pub async fn namespace_exists(&self, ns: &str) -> bool {
        Api::<Namespace>::all(self.client.clone())
            .get_opt(ns)
            .await
            .expect("get ns")
            .is_some()
    }

    /// Server-side applies a ServiceAccount as another field manager (Helm, kubectl, …).
    pub async fn apply_sa_as(
        &self,
        manager: &str,
        ns: &str,
        name: &str,
        labels: serde_json::Value,
        annotations: serde_json::Value,
    ) {
        let obj = json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations}});
        self.sas(ns)
            .patch(name, &PatchParams::apply(manager), &Patch::Apply(&obj))
            .await
            .expect("apply sa as other manager");
    }

    /// Sets (or with `None` removes) the role-arn annotation with a plain merge patch.
    pub async fn set_role_arn(&self, ns: &str, name: &str, arn: Option<&str>) {
        let patch = json!({"metadata": {"annotations": {ROLE_ARN: arn}}});
        self.sas(ns)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("merge patch sa");
    }

    pub fn deployments(&self, ns: &str) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Creates a Deployment the way `kubectl apply -k` would (pods never run: no nodes).
    pub async fn create_deployment(&self, ns: &str, name: &str, service_account: Option<&str>) {
        let mut spec = json!({"containers": [{"name": "controller", "image": "registry.k8s.io/pause:3.10"}]});
        if let Some(sa) = service_account {
            spec["serviceAccountName"] = json!(sa);
        }
        let obj: Deployment = serde_json::from_value(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}))
        .unwrap();
        let pp = PostParams {
            field_manager: Some("kubectl-client-side-apply".into()),
            ..Default::default()
        };
        self.deployments(ns).create(&pp, &obj).await.expect("create deployment");
    }

    pub async fn deployment_sa(&self, ns: &str, name: &str) -> Option<String> {
        let d = self.deployments(ns).get(name).await.expect("get deployment");
        d.spec
            .and_then(|s| s.template.spec)
            .and_then(|s| s.service_account_name)
    }
}

/// The test pod of `preset` in the cluster is the bundle's `test-pod.yaml`: same namespace and
/// name, ServiceAccount, and per container the same name, image, command and args.
pub async fn assert_pod_as_rendered(w: &World, b: &Bundle, preset: &str) {
    let path = irsagen::bundle::layout::test_pod(preset);
    let d = irsagen::kube::objects::Desired::from_artifact(b.get(&path).expect("test pod rendered")).unwrap();
    let want: Pod = serde_json::from_value(d.json()).expect("rendered test pod is a Pod");
    let ns = d.ns().expect("namespaced");
    let live = Api::<Pod>::namespaced(w.client.clone(), ns)
        .get(d.name())
        .await
        .unwrap_or_else(|e| panic!("test pod {ns}/{} created: {e}", d.name()));
    let (want, live) = (want.spec.expect("rendered spec"), live.spec.expect("live spec"));
    assert!(want.service_account_name.is_some(), "{path} names its ServiceAccount");
    assert_eq!(
        live.service_account_name, want.service_account_name,
        "serviceAccountName of {path}"
    );
    let shape = |s: &k8s_openapi::api::core::v1::PodSpec| -> Vec<_> {
        s.containers
            .iter()
            .map(|c| (c.name.clone(), c.image.clone(), c.command.clone(), c.args.clone()))
            .collect()
    };
    assert!(
        want.containers.iter().all(|c| c.image.is_some() && c.command.is_some()),
        "{path} sets image and command"
    );
    assert_eq!(shape(&live), shape(&want), "containers of {path}");
}

/// The `resourceVersion` of a ServiceAccount.
pub fn rv(sa: &ServiceAccount) -> String {
    sa.metadata.resource_version.clone().unwrap_or_default()
}

/// The role-arn annotation of a ServiceAccount.
pub fn arn_of(sa: &ServiceAccount) -> Option<String> {
    sa.metadata.annotations.as_ref().and_then(|a| a.get(ROLE_ARN)).cloned()
}
