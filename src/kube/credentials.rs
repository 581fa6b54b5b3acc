//! Which mechanism a pod's AWS SDK uses, read from the environment the EKS webhook injected at
//! admission, and the cluster checks of a ServiceAccount bound through EKS Pod Identity. Pure
//! functions over API objects, so every decision is tested without a cluster.
//!
//! The webhook injects at pod creation only: a pod admitted before the binding existed carries no
//! credential variable, and nothing reports it (the webhook skips it silently). Such pods are a
//! FAIL, not a warning: the report has two levels, and a pod without credentials is broken for
//! the workload until restarted.

use crate::component::Component;
use crate::identity::{IdentityMode, Mechanism, ROLE_ARN_ANNOTATION};
use crate::report::Check;
use k8s_openapi::api::core::v1::Pod;

/// IRSA's variables: the SDK's web-identity provider reads them.
pub const IRSA_VARS: [&str; 2] = ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"];

/// Pod Identity's variable: the SDK's container provider reads it.
pub const POD_IDENTITY_VAR: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";

const SCOPE: &str = "kube";

/// The credential variables one pod carries (in any of its containers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodCredentials {
    /// `AWS_ROLE_ARN` or `AWS_WEB_IDENTITY_TOKEN_FILE`.
    pub irsa: bool,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub pod_identity: bool,
}

impl PodCredentials {
    /// From the names of the variables of a pod's containers.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut c = PodCredentials::default();
        for n in names {
            c.irsa |= IRSA_VARS.contains(&n);
            c.pod_identity |= n == POD_IDENTITY_VAR;
        }
        c
    }

    /// From a pod's containers (init containers too: they call AWS as well).
    pub fn of(pod: &Pod) -> Self {
        let spec = pod.spec.as_ref();
        let containers = spec
            .map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()))
            .into_iter()
            .flatten();
        let names: Vec<&str> = containers
            .flat_map(|c| c.env.iter().flatten().map(|e| e.name.as_str()))
            .collect();
        Self::from_names(names)
    }

    /// The mechanism the SDK picks: the default chain tries web identity before the container
    /// provider, so with both sets the pod is on IRSA.
    pub fn mechanism(self) -> Option<Mechanism> {
        if self.irsa {
            Some(Mechanism::Irsa)
        } else if self.pod_identity {
            Some(Mechanism::PodIdentity)
        } else {
            None
        }
    }
}

/// A pod that runs as the ServiceAccount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaPod {
    /// Pod name.
    pub name: String,
    /// Its credential variables.
    pub creds: PodCredentials,
}

/// The pods of `pods` running as `sa` (by `spec.serviceAccountName`, `default` when unset).
pub fn pods_of(pods: &[Pod], sa: &str) -> Vec<SaPod> {
    let mut out: Vec<SaPod> = pods
        .iter()
        .filter(|p| {
            let runs_as = p.spec.as_ref().and_then(|s| s.service_account_name.as_deref());
            runs_as.unwrap_or("default") == sa
        })
        .map(|p| SaPod {
            name: p.metadata.name.clone().unwrap_or_default(),
            creds: PodCredentials::of(p),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// `sa-role-arn` for a component bound through Pod Identity only: the IRSA annotation must be
/// absent, since the webhook then injects the web-identity variables, which the SDK takes first.
pub fn annotation_check(c: &Component, annotation: Option<&str>) -> Check {
    let sa = &c.service_account;
    let p = Some(c.preset.as_str());
    match annotation {
        None => Check::pass(
            SCOPE,
            p,
            "sa-role-arn",
            format!("ServiceAccount {sa} has no {ROLE_ARN_ANNOTATION} annotation: its pods use Pod Identity"),
        ),
        Some(a) => Check::fail(
            SCOPE,
            p,
            "sa-role-arn",
            format!(
                "ServiceAccount {sa} still carries {ROLE_ARN_ANNOTATION}={a} in pod-identity mode: it takes precedence over \
                 Pod Identity"
            ),
            format!(
                "remove it and restart the pods: irsagen apply --kube (when irsagen set it), or kubectl annotate sa {} -n {} \
                 {ROLE_ARN_ANNOTATION}-; then kubectl rollout restart the workloads in {}",
                sa.name, sa.namespace, sa.namespace
            ),
        ),
    }
}

/// `pods-credentials`: every pod running as the ServiceAccount carries the variables of the
/// mechanism the mode gives it. `None` without pods (nothing to check). In `pod-identity` a pod
/// still on IRSA fails too (it was admitted while the annotation was there).
pub fn pods_check(c: &Component, mode: IdentityMode, pods: &[SaPod]) -> Option<Check> {
    if pods.is_empty() {
        return None;
    }
    let sa = &c.service_account;
    let p = Some(c.preset.as_str());
    let names =
        |f: &dyn Fn(&SaPod) -> bool| -> Vec<&str> { pods.iter().filter(|x| f(x)).map(|x| x.name.as_str()).collect() };
    let bare = names(&|x| x.creds.mechanism().is_none());
    let on_irsa = if mode == IdentityMode::PodIdentity {
        names(&|x| x.creds.mechanism() == Some(Mechanism::Irsa))
    } else {
        Vec::new()
    };
    if bare.is_empty() && on_irsa.is_empty() {
        return Some(Check::pass(
            SCOPE,
            p,
            "pods-credentials",
            format!("{} pod(s) running as {sa} carry credential variables", pods.len()),
        ));
    }
    let mut detail = Vec::new();
    if !bare.is_empty() {
        detail.push(format!(
            "pod(s) {} run as {sa} with neither {} nor {POD_IDENTITY_VAR}: they were admitted before the binding existed \
             (the webhook skipped them silently)",
            bare.join(", "),
            IRSA_VARS.join("/"),
        ));
    }
    if !on_irsa.is_empty() {
        detail.push(format!(
            "pod(s) {} still use IRSA ({} set; the SDK takes it before Pod Identity)",
            on_irsa.join(", "),
            IRSA_VARS[0]
        ));
    }
    Some(Check::fail(
        SCOPE,
        p,
        "pods-credentials",
        detail.join("; "),
        format!(
            "restart them (kubectl rollout restart the Deployment/DaemonSet that owns them, or delete the pods) in namespace {}",
            sa.namespace
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(names: &[&str]) -> PodCredentials {
        PodCredentials::from_names(names.iter().copied())
    }

    #[test]
    fn web_identity_wins_over_the_container_provider() {
        assert_eq!(creds(&[]).mechanism(), None);
        assert_eq!(creds(&["HOME", "AWS_REGION"]).mechanism(), None);
        assert_eq!(creds(&["AWS_ROLE_ARN"]).mechanism(), Some(Mechanism::Irsa));
        assert_eq!(
            creds(&["AWS_WEB_IDENTITY_TOKEN_FILE"]).mechanism(),
            Some(Mechanism::Irsa)
        );
        assert_eq!(
            creds(&["AWS_CONTAINER_CREDENTIALS_FULL_URI"]).mechanism(),
            Some(Mechanism::PodIdentity)
        );
        let both = creds(&["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ROLE_ARN"]);
        assert!(both.irsa && both.pod_identity);
        assert_eq!(both.mechanism(), Some(Mechanism::Irsa));
        // A near miss is not the variable.
        assert_eq!(creds(&["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]).mechanism(), None);
    }

    #[test]
    fn pods_are_matched_by_service_account_and_read_from_every_container() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "b"},
            "spec": {"serviceAccountName": "sa",
                "initContainers": [{"name": "i", "env": [{"name": "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value": "x"}]}],
                "containers": [{"name": "c"}]}
        }))
        .unwrap();
        let other: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "a"}, "spec": {"containers": [{"name": "c"}]}
        }))
        .unwrap();
        let pods = [pod, other];
        let got = pods_of(&pods, "sa");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "b");
        assert_eq!(got[0].creds.mechanism(), Some(Mechanism::PodIdentity));
        // No serviceAccountName: the pod runs as `default`.
        assert_eq!(pods_of(&pods, "default")[0].name, "a");
    }
}
