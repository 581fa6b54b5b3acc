//! What IAM should hold for a bundle: the OIDC provider, the policies and the roles, taken
//! from the bundle's components (the trust policy is the component's value, which the rendered
//! artifact prints) and checked
//! against IAM's limits before any call is made.

use crate::bundle::{Bundle, layout};
use crate::component::{MANAGED_BY_KEY, MANAGED_BY_VALUE, TAG_PREFIX};
use crate::context::OidcProvider;
use crate::error::{Error, Result};
use crate::{policy_doc, rules};
use serde_json::Value;
use std::collections::BTreeMap;

/// The cluster's IAM OIDC provider.
#[derive(Debug, Clone)]
pub struct DesiredOidc {
    /// Issuer, ARN and host/path.
    pub provider: OidcProvider,
    /// Tags put on the provider when irsagen creates it.
    pub tags: BTreeMap<String, String>,
}

/// One customer-managed policy.
#[derive(Debug, Clone)]
pub struct DesiredPolicy {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Presets using it (one name, one document, possibly several presets).
    pub presets: Vec<String>,
    /// The rendered document.
    pub document: Value,
    /// managed-by and irsagen:preset.
    pub tags: BTreeMap<String, String>,
}

/// One role.
#[derive(Debug, Clone)]
pub struct DesiredRole {
    /// Preset.
    pub preset: String,
    /// Role name.
    pub name: String,
    /// The component's trust policy (what the bundle's `iam/<preset>/trust-policy.json` prints).
    pub trust: Value,
    /// All role tags (irsagen's and the user's).
    pub tags: BTreeMap<String, String>,
    /// The preset's own managed policies: its customer managed policy, or with
    /// `policy: aws-managed` the AWS managed policies (attached, never created).
    pub policy_arns: Vec<String>,
    /// How reports name them: the customer managed policy's name, or `AWS managed <names>`.
    pub policy_name: String,
    /// Whether `policy_arns` are AWS managed policies.
    pub aws_managed: bool,
    /// Managed policies the config declares for this role (`extraPolicyArns`): attached by
    /// apply, never created; verify accepts them.
    pub extra_policy_arns: Vec<String>,
    /// `system:serviceaccount:<ns>:<name>`.
    pub subject: String,
    /// `<ns>/<name>`, for messages.
    pub service_account: String,
    /// Whether the trust must let the cluster's OIDC provider in (modes `irsa` and `both`); in
    /// `pod-identity` the trust names only `pods.eks.amazonaws.com`.
    pub irsa: bool,
}

impl DesiredRole {
    /// Every managed policy the role should have attached: its own, then the declared extras.
    pub fn attachments(&self) -> impl Iterator<Item = &str> {
        self.policy_arns
            .iter()
            .chain(self.extra_policy_arns.iter())
            .map(String::as_str)
    }
}

/// Everything apply reconciles and verify checks.
#[derive(Debug, Clone)]
pub struct Desired {
    /// Account id the bundle was rendered for.
    pub account: String,
    /// Cluster name.
    pub cluster: String,
    /// Region.
    pub region: String,
    /// The OIDC provider; `None` when no role uses IRSA (every preset in `pod-identity` mode):
    /// then apply does not create it and verify does not check it, so no issuer is needed.
    pub oidc: Option<DesiredOidc>,
    /// Policies, one per ARN, in preset order.
    pub policies: Vec<DesiredPolicy>,
    /// Roles, in preset order.
    pub roles: Vec<DesiredRole>,
}

impl Desired {
    /// Builds the desired state; errors (before any API call) without an OIDC issuer when a
    /// preset uses IRSA, on a missing or unparsable trust policy artifact, or on a name or
    /// document over IAM's limits.
    pub fn from_bundle(bundle: &Bundle, command: &str) -> Result<Self> {
        let ctx = &bundle.context;
        // Only IRSA trusts name the OIDC provider; Pod Identity's trust names the EKS service.
        let irsa = bundle
            .components
            .iter()
            .any(|c| c.identity_mode.uses(crate::identity::Mechanism::Irsa));
        let oidc = match (irsa, ctx.oidc.clone()) {
            (false, _) => None,
            (true, None) => {
                return Err(Error::invalid(
                    "--oidc-issuer",
                    "",
                    format!(
                        "is required for `{command}`: trust policies name the cluster's OIDC provider; pass --oidc-issuer URL, or --oidc-issuer auto to read it from EKS"
                    ),
                ));
            }
            (true, Some(provider)) => Some(DesiredOidc {
                provider,
                tags: BTreeMap::from([
                    (MANAGED_BY_KEY.to_string(), MANAGED_BY_VALUE.to_string()),
                    (format!("{TAG_PREFIX}cluster"), ctx.cluster.clone()),
                ]),
            }),
        };
        let mut policies: Vec<DesiredPolicy> = Vec::new();
        let mut roles = Vec::new();
        for c in &bundle.components {
            let field = |f: &str| format!("presets.{}.{f}", c.preset);
            // Render checked all of this already; a bundle's fields are public, so apply checks
            // again with the same rules before it makes any call.
            rules::role_name(&field("roleName"), &c.role_name)?;
            let creates = c.aws_managed.is_none();
            // The main customer managed policy, then the preset's additional ones.
            for (name, arn, document) in c.customer_policies() {
                rules::policy_name(&field("policyName"), name)?;
                if let Some(rule) =
                    policy_doc::size_problem(document, policy_doc::MANAGED_POLICY_LIMIT, "managed policy")
                {
                    return Err(Error::invalid(field("policy"), name, rule));
                }
                policy_doc::check(&field("policy"), document)?;
                // irsagen creates and versions this policy: it must be the account's own.
                if crate::managed_policy::is_aws_managed(arn) {
                    return Err(Error::invalid(
                        field("policyName"),
                        arn,
                        "is an AWS managed policy ARN; irsagen never creates or versions one (use policy: aws-managed to attach it)",
                    ));
                }
            }
            let own = match &c.aws_managed {
                Some(m) => {
                    for a in &m.arns {
                        if !crate::managed_policy::is_aws_managed(a) {
                            return Err(Error::invalid(
                                field("policy.awsManaged.arns"),
                                a,
                                "is not an AWS managed policy ARN (arn:<partition>:iam::aws:policy/…)",
                            ));
                        }
                        rules::managed_policy_arn(&field("policy.awsManaged.arns"), a, ctx.partition.as_str())?;
                    }
                    m.arns.clone()
                }
                None => c
                    .customer_policies()
                    .iter()
                    .map(|(_, arn, _)| arn.to_string())
                    .collect(),
            };
            // The component's trust value, the one the template printed and the bundle check
            // compared with the file ([`crate::identity::trust_policy`]).
            let path = layout::trust_policy(&c.preset);
            let trust = c.trust_policy.clone().ok_or_else(|| Error::RenderedInvalid {
                path: path.clone(),
                message: "the bundle has no trust policy for this preset (was it rendered with an OIDC issuer?)".into(),
            })?;
            policy_doc::check(&path, &trust)?;
            if let Some(message) = policy_doc::size_problem(&trust, policy_doc::TRUST_POLICY_LIMIT, "trust policy") {
                return Err(Error::RenderedInvalid { path, message });
            }
            for (name, arn, document) in c.customer_policies() {
                match policies.iter_mut().find(|p| p.arn == arn) {
                    Some(p) => p.presets.push(c.preset.clone()),
                    None => policies.push(DesiredPolicy {
                        name: name.to_string(),
                        arn: arn.to_string(),
                        presets: vec![c.preset.clone()],
                        document: document.clone(),
                        tags: c.policy_tags.clone(),
                    }),
                }
            }
            roles.push(DesiredRole {
                preset: c.preset.clone(),
                name: c.role_name.clone(),
                trust,
                tags: c.tags.clone(),
                policy_name: match &c.aws_managed {
                    Some(m) => format!("AWS managed {}", m.names.join(", ")),
                    None => c
                        .customer_policies()
                        .iter()
                        .map(|(n, _, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", "),
                },
                policy_arns: own,
                aws_managed: !creates,
                extra_policy_arns: c.extra_policy_arns.clone(),
                subject: c.subject.clone(),
                irsa: c.identity_mode.uses(crate::identity::Mechanism::Irsa),
                service_account: c.service_account.to_string(),
            });
        }
        Ok(Desired {
            account: ctx.account.clone(),
            cluster: ctx.cluster.clone(),
            region: ctx.region.clone(),
            oidc,
            policies,
            roles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{ClusterInputs, Context};
    use crate::overrides::PresetOverrides;
    use crate::render::Renderer;

    fn bundle(issuer: bool) -> Bundle {
        let inputs = ClusterInputs {
            cluster: Some("smallest-cluster".into()),
            region: Some("us-east-1".into()),
            account: Some("123456789012".into()),
            partition: None,
            oidc_issuer: issuer
                .then(|| "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE".into()),
            tags: Default::default(),
            kubernetes_version: None,
        };
        let selection: Vec<(String, PresetOverrides)> = crate::preset::DEFAULT_PRESETS
            .iter()
            .map(|p| (p.to_string(), PresetOverrides::default()))
            .collect();
        Renderer::new(None, None)
            .unwrap()
            .render(&Context::new(&inputs).unwrap(), &selection)
            .unwrap()
    }

    #[test]
    fn takes_the_rendered_trust_policy_and_dedupes_nothing_it_should_not() {
        let b = bundle(true);
        let d = Desired::from_bundle(&b, "apply --aws").unwrap();
        assert_eq!((d.policies.len(), d.roles.len()), (3, 3));
        let art = b.get("iam/ebs-csi-driver/trust-policy.json").unwrap();
        assert_eq!(d.roles[1].trust, serde_json::from_str::<Value>(&art.content).unwrap());
        assert_eq!(
            d.policies[0].tags.get("irsagen:preset").map(String::as_str),
            Some("cluster-autoscaler")
        );
        assert!(
            !d.policies[0].tags.contains_key("irsagen:cluster"),
            "policies are account-wide"
        );
        assert_eq!(
            d.oidc.as_ref().unwrap().tags.get("irsagen:cluster").map(String::as_str),
            Some("smallest-cluster")
        );
    }

    #[test]
    fn refuses_before_any_call() {
        let err = Desired::from_bundle(&bundle(false), "apply --aws")
            .unwrap_err()
            .to_string();
        assert!(err.contains("--oidc-issuer") && err.contains("auto"), "{err}");

        let mut b = bundle(true);
        b.components[0].role_name = "r".repeat(65);
        assert!(
            Desired::from_bundle(&b, "apply --aws")
                .unwrap_err()
                .to_string()
                .contains("1-64 characters")
        );

        let mut b = bundle(true);
        let big: Vec<Value> = (0..400)
            .map(|i| Value::String(format!("ec2:DescribeSomethingRatherLong{i}")))
            .collect();
        b.components[1].policy_document =
            serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":big,"Resource":"*"}]});
        assert!(
            Desired::from_bundle(&b, "apply --aws")
                .unwrap_err()
                .to_string()
                .contains("6144")
        );
    }
}
