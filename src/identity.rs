//! The identity binding: "ServiceAccount `ns/name` in cluster C gets role R", and everything a
//! mechanism derives from it. For IRSA that is the audience, the `sub`/`aud` condition keys, the
//! trust policy and the ServiceAccount annotation; for EKS Pod Identity the association. The
//! values are computed here once (the trust policy lands on the component, like the permission
//! policy): templates serialize them, `bundle_check`, `aws/` and `kube/` compare against them and
//! never build them again, so a new mechanism is added here, in the templates and in the two
//! adapters.

use crate::component::ServiceAccountRef;
use crate::context::OidcProvider;
use crate::error::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The audience EKS puts in projected ServiceAccount tokens for IRSA, and the client id the
/// IAM OIDC provider must list.
pub const AUDIENCE: &str = "sts.amazonaws.com";

/// The ServiceAccount annotation the EKS pod identity webhook reads for IRSA.
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// The IRSA trust action.
pub const IRSA_ACTION: &str = "sts:AssumeRoleWithWebIdentity";

/// IAM policy language version every document irsagen renders uses.
pub const POLICY_VERSION: &str = "2012-10-17";

/// How a pod gets its role's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mechanism {
    /// IAM Roles for Service Accounts: OIDC web identity, the role-arn annotation.
    Irsa,
    /// EKS Pod Identity: the `pods.eks.amazonaws.com` principal and an association.
    PodIdentity,
}

/// Which mechanisms a cluster (or a preset) uses: `irsa`, `pod-identity`, or `both` during a
/// migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityMode {
    /// Today's output.
    #[default]
    Irsa,
    /// EKS Pod Identity only.
    PodIdentity,
    /// Both, for a migration from IRSA to Pod Identity.
    Both,
}

impl IdentityMode {
    /// Every accepted spelling, for messages.
    pub const NAMES: [&'static str; 3] = ["irsa", "pod-identity", "both"];

    /// The mechanisms this mode binds with, IRSA first.
    pub fn mechanisms(self) -> &'static [Mechanism] {
        match self {
            IdentityMode::Irsa => &[Mechanism::Irsa],
            IdentityMode::PodIdentity => &[Mechanism::PodIdentity],
            IdentityMode::Both => &[Mechanism::Irsa, Mechanism::PodIdentity],
        }
    }

    /// Whether `m` is one of [`Self::mechanisms`].
    pub fn uses(self, m: Mechanism) -> bool {
        self.mechanisms().contains(&m)
    }

    /// Parses a mode given in `field`; the error names the field, the value and the choices.
    pub fn parse(field: &str, value: &str) -> Result<Self> {
        match value {
            "irsa" => Ok(IdentityMode::Irsa),
            "pod-identity" => Ok(IdentityMode::PodIdentity),
            "both" => Ok(IdentityMode::Both),
            _ => Err(Error::invalid(
                field,
                value,
                format!("must be one of {}", Self::NAMES.join(", ")),
            )),
        }
    }

    /// The spelling [`Self::parse`] takes.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityMode::Irsa => "irsa",
            IdentityMode::PodIdentity => "pod-identity",
            IdentityMode::Both => "both",
        }
    }
}

impl std::fmt::Display for IdentityMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for IdentityMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse("mode", s)
    }
}

/// The IRSA condition keys of one OIDC provider: `<host_path>:sub` and `<host_path>:aud`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionKeys {
    /// Compared with the token's subject, `system:serviceaccount:<ns>:<name>`.
    pub sub: String,
    /// Compared with the token's audience, [`AUDIENCE`].
    pub aud: String,
}

impl ConditionKeys {
    /// The keys of `provider`.
    pub fn of(provider: &OidcProvider) -> Self {
        ConditionKeys {
            sub: format!("{}:sub", provider.host_path),
            aud: format!("{}:aud", provider.host_path),
        }
    }
}

/// The one IRSA trust statement irsagen renders: this cluster's provider, the exact subject and
/// the audience, with StringEquals.
pub fn irsa_statement(provider: &OidcProvider, subject: &str) -> Value {
    let keys = ConditionKeys::of(provider);
    json!({
        "Effect": "Allow",
        "Principal": {"Federated": provider.provider_arn},
        "Action": IRSA_ACTION,
        "Condition": {"StringEquals": {
            keys.sub: subject,
            keys.aud: AUDIENCE,
        }}
    })
}

/// The service principal EKS Pod Identity assumes roles as.
pub const POD_IDENTITY_PRINCIPAL: &str = "pods.eks.amazonaws.com";

/// The EKS addon that runs the Pod Identity agent on every node.
pub const POD_IDENTITY_AGENT_ADDON: &str = "eks-pod-identity-agent";

/// The actions a Pod Identity trust allows: the agent assumes the role and tags the session.
pub const POD_IDENTITY_ACTIONS: [&str; 2] = ["sts:AssumeRole", "sts:TagSession"];

/// Global condition key: the account of the EKS cluster whose agent asks (set by the service,
/// so it holds with session tags disabled too).
pub const SOURCE_ACCOUNT_KEY: &str = "aws:SourceAccount";

/// The session tags EKS sets on a Pod Identity session ("Enable or disable session tags" in the
/// EKS user guide), as trust-policy condition keys. The scoped trust conditions on these.
pub mod session_tag {
    /// The cluster's ARN.
    pub const CLUSTER_ARN: &str = "aws:RequestTag/eks-cluster-arn";
    /// The pod's namespace.
    pub const NAMESPACE: &str = "aws:RequestTag/kubernetes-namespace";
    /// The pod's ServiceAccount.
    pub const SERVICE_ACCOUNT: &str = "aws:RequestTag/kubernetes-service-account";
}

/// How far a Pod Identity trust reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PodIdentityTrust {
    /// This account, cluster, namespace and ServiceAccount (the session tags EKS sets).
    #[default]
    Scoped,
    /// Any cluster's Pod Identity in this account: for a role shared by clusters. eksctl and
    /// the EKS console build this form; any association in the account can then use the role.
    Unscoped,
}

impl PodIdentityTrust {
    /// Every accepted spelling, for messages.
    pub const NAMES: [&'static str; 2] = ["scoped", "unscoped"];

    /// Parses `value` given in `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self> {
        match value {
            "scoped" => Ok(PodIdentityTrust::Scoped),
            "unscoped" => Ok(PodIdentityTrust::Unscoped),
            _ => Err(Error::invalid(
                field,
                value,
                format!("must be one of {}", Self::NAMES.join(", ")),
            )),
        }
    }
}

/// What a Pod Identity trust statement names: the account, the cluster and the ServiceAccount.
#[derive(Debug, Clone, Copy)]
pub struct PodIdentityScope<'a> {
    /// The cluster's account.
    pub account: &'a str,
    /// `arn:<partition>:eks:<region>:<account>:cluster/<name>`.
    pub cluster_arn: &'a str,
    /// The ServiceAccount the pods run as.
    pub service_account: &'a ServiceAccountRef,
    /// Scoped (default) or unscoped.
    pub trust: PodIdentityTrust,
}

/// The Pod Identity trust statement: `pods.eks.amazonaws.com` may assume and tag, from this
/// account; scoped, only for sessions EKS tagged with this cluster, namespace and ServiceAccount.
pub fn pod_identity_statement(scope: &PodIdentityScope<'_>) -> Value {
    let mut equals = serde_json::Map::new();
    equals.insert(SOURCE_ACCOUNT_KEY.into(), json!(scope.account));
    if scope.trust == PodIdentityTrust::Scoped {
        equals.insert(session_tag::CLUSTER_ARN.into(), json!(scope.cluster_arn));
        equals.insert(session_tag::NAMESPACE.into(), json!(scope.service_account.namespace));
        equals.insert(session_tag::SERVICE_ACCOUNT.into(), json!(scope.service_account.name));
    }
    json!({
        "Effect": "Allow",
        "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
        "Action": POD_IDENTITY_ACTIONS,
        "Condition": {"StringEquals": equals},
    })
}

/// The role's trust policy for `mode`: IRSA's statement first, then Pod Identity's. `None` when
/// the mode needs IRSA and the OIDC provider is unknown (Pod Identity alone needs no issuer).
/// Key order is the rendered file's order (serde_json keeps insertion order), so the template
/// serializes this value as it is.
pub fn trust_policy(mode: IdentityMode, provider: Option<&OidcProvider>, pod: &PodIdentityScope<'_>) -> Option<Value> {
    let mut statements = Vec::new();
    for m in mode.mechanisms() {
        statements.push(match m {
            Mechanism::Irsa => irsa_statement(provider?, &pod.service_account.subject()),
            Mechanism::PodIdentity => pod_identity_statement(pod),
        });
    }
    Some(json!({
        "Version": POLICY_VERSION,
        "Statement": statements,
    }))
}

/// The ServiceAccount annotations IRSA needs for `role_arn`.
pub fn service_account_annotations(role_arn: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(ROLE_ARN_ANNOTATION.to_string(), role_arn.to_string())])
}

/// An EKS Pod Identity association: what `eks:CreatePodIdentityAssociation` takes. Built for
/// every component; rendered and applied once Pod Identity output exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodIdentityAssociation {
    /// EKS cluster name.
    pub cluster: String,
    /// Namespace of the ServiceAccount.
    pub namespace: String,
    /// ServiceAccount name.
    pub service_account: String,
    /// The role the pods get.
    pub role_arn: String,
    /// Tags of the association (the role's, so ownership reads the same).
    pub tags: BTreeMap<String, String>,
}

impl PodIdentityAssociation {
    /// The association binding `sa` in `cluster` to `role_arn`.
    pub fn new(cluster: &str, sa: &ServiceAccountRef, role_arn: &str, tags: &BTreeMap<String, String>) -> Self {
        PodIdentityAssociation {
            cluster: cluster.to_string(),
            namespace: sa.namespace.clone(),
            service_account: sa.name.clone(),
            role_arn: role_arn.to_string(),
            tags: tags.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> OidcProvider {
        OidcProvider {
            issuer_url: "https://oidc.eks.us-east-1.amazonaws.com/id/EX".into(),
            host_path: "oidc.eks.us-east-1.amazonaws.com/id/EX".into(),
            provider_arn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EX".into(),
        }
    }

    #[test]
    fn condition_keys_are_the_providers_host_path() {
        let k = ConditionKeys::of(&provider());
        assert_eq!(k.sub, "oidc.eks.us-east-1.amazonaws.com/id/EX:sub");
        assert_eq!(k.aud, "oidc.eks.us-east-1.amazonaws.com/id/EX:aud");
    }

    fn sa() -> ServiceAccountRef {
        ServiceAccountRef {
            namespace: "ns".into(),
            name: "sa".into(),
        }
    }

    const CLUSTER_ARN: &str = "arn:aws:eks:us-east-1:123456789012:cluster/c";

    fn scope(sa: &ServiceAccountRef, trust: PodIdentityTrust) -> PodIdentityScope<'_> {
        PodIdentityScope {
            account: "123456789012",
            cluster_arn: CLUSTER_ARN,
            service_account: sa,
            trust,
        }
    }

    #[test]
    fn trust_value_has_one_exact_statement_in_file_order() {
        let sa = sa();
        let t = trust_policy(
            IdentityMode::Irsa,
            Some(&provider()),
            &scope(&sa, PodIdentityTrust::Scoped),
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": provider().provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {
                    "oidc.eks.us-east-1.amazonaws.com/id/EX:sub": "system:serviceaccount:ns:sa",
                    "oidc.eks.us-east-1.amazonaws.com/id/EX:aud": "sts.amazonaws.com",
                }}
            }]})
        );
        // The template prints the value as it is: the key order is the guide's.
        let keys: Vec<&String> = t["Statement"][0].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["Effect", "Principal", "Action", "Condition"]);
        let cond: Vec<&String> = t["Statement"][0]["Condition"]["StringEquals"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert!(cond[0].ends_with(":sub") && cond[1].ends_with(":aud"), "{cond:?}");
        assert_eq!(t.as_object().unwrap().keys().next().unwrap(), "Version");
    }

    fn pod_statement(conditions: Value) -> Value {
        json!({
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {"StringEquals": conditions},
        })
    }

    #[test]
    fn pod_identity_trust_is_scoped_by_the_session_tags_eks_sets() {
        let sa = sa();
        let t = trust_policy(IdentityMode::PodIdentity, None, &scope(&sa, PodIdentityTrust::Scoped)).unwrap();
        assert_eq!(
            t,
            json!({"Version": "2012-10-17", "Statement": [pod_statement(json!({
                "aws:SourceAccount": "123456789012",
                "aws:RequestTag/eks-cluster-arn": CLUSTER_ARN,
                "aws:RequestTag/kubernetes-namespace": "ns",
                "aws:RequestTag/kubernetes-service-account": "sa",
            }))]})
        );
        let cond: Vec<&String> = t["Statement"][0]["Condition"]["StringEquals"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(cond[0], "aws:SourceAccount");
    }

    #[test]
    fn unscoped_pod_identity_trust_keeps_only_the_account() {
        let sa = sa();
        let t = trust_policy(IdentityMode::PodIdentity, None, &scope(&sa, PodIdentityTrust::Unscoped)).unwrap();
        assert_eq!(
            t["Statement"],
            json!([pod_statement(json!({"aws:SourceAccount": "123456789012"}))])
        );
    }

    #[test]
    fn both_has_irsa_first_then_pod_identity_and_needs_the_issuer() {
        let sa = sa();
        let s = scope(&sa, PodIdentityTrust::Scoped);
        let t = trust_policy(IdentityMode::Both, Some(&provider()), &s).unwrap();
        let st = t["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0], irsa_statement(&provider(), "system:serviceaccount:ns:sa"));
        assert_eq!(st[1], pod_identity_statement(&s));
        assert_eq!(trust_policy(IdentityMode::Both, None, &s), None);
        assert_eq!(trust_policy(IdentityMode::Irsa, None, &s), None);
    }

    #[test]
    fn pod_identity_trust_parses_and_names_the_choices() {
        assert_eq!(
            PodIdentityTrust::parse("f", "unscoped").unwrap(),
            PodIdentityTrust::Unscoped
        );
        assert_eq!(
            PodIdentityTrust::parse("f", "scoped").unwrap(),
            PodIdentityTrust::Scoped
        );
        let e = PodIdentityTrust::parse("presets.x.podIdentityTrust", "open")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("podIdentityTrust") && e.contains("open") && e.contains("scoped, unscoped"),
            "{e}"
        );
    }

    #[test]
    fn annotation_names_the_role() {
        let a = service_account_annotations("arn:aws:iam::1:role/r");
        assert_eq!(a.len(), 1);
        assert_eq!(a["eks.amazonaws.com/role-arn"], "arn:aws:iam::1:role/r");
    }

    #[test]
    fn modes_parse_print_and_list_mechanisms() {
        for name in IdentityMode::NAMES {
            let m = IdentityMode::parse("mode", name).unwrap();
            assert_eq!(m.to_string(), name);
            assert_eq!(serde_json::to_value(m).unwrap(), json!(name));
        }
        assert_eq!(IdentityMode::default(), IdentityMode::Irsa);
        assert_eq!(
            IdentityMode::Both.mechanisms(),
            [Mechanism::Irsa, Mechanism::PodIdentity]
        );
        assert!(!IdentityMode::PodIdentity.uses(Mechanism::Irsa));
        assert!(IdentityMode::Irsa.uses(Mechanism::Irsa));
        let err = IdentityMode::parse("--mode", "pod_identity").unwrap_err().to_string();
        assert!(
            err.contains("--mode") && err.contains("pod_identity") && err.contains("pod-identity"),
            "{err}"
        );
    }

    #[test]
    fn association_takes_the_binding() {
        let sa = ServiceAccountRef {
            namespace: "kube-system".into(),
            name: "ebs-csi-controller-sa".into(),
        };
        let tags = BTreeMap::from([("managed-by".to_string(), "irsagen".to_string())]);
        let a = PodIdentityAssociation::new("c", &sa, "arn:aws:iam::1:role/r", &tags);
        assert_eq!(
            (a.cluster.as_str(), a.namespace.as_str(), a.service_account.as_str()),
            ("c", "kube-system", "ebs-csi-controller-sa")
        );
        assert_eq!((a.role_arn.as_str(), &a.tags), ("arn:aws:iam::1:role/r", &tags));
    }
}
