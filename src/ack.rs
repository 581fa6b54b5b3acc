//! `render --format ack`: the same model as AWS Controllers for Kubernetes (ACK) resources, for
//! teams whose AWS changes go through the cluster. Per preset an `iam.services.k8s.aws/v1alpha1`
//! `Role` (trust policy, managed policy ARNs, tags) and `Policy` (document, name, tags), and an
//! `eks.services.k8s.aws/v1alpha1` `PodIdentityAssociation` where the preset uses Pod Identity;
//! the ServiceAccounts, test pods, patches and Helm values stay as in the default format, and so
//! do the IAM documents (for review and the change summary). The eksctl ClusterConfig and the
//! setup script are not emitted: the ACK controllers create the AWS resources.
//!
//! The resources are built from the components (never from other files), then parsed back,
//! validated against the pinned CRDs' schemas (reference/ack/SOURCE.md; unknown fields refused,
//! as the API server's strict field validation does) and compared with the model.

use crate::bundle::{Artifact, ArtifactKind, Bundle};
use crate::component::Component;
use crate::error::{Error, Result};
use crate::identity::Mechanism;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// How `render` writes the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// IAM documents, eksctl ClusterConfig, setup script, manifests, Helm values (today's output).
    #[default]
    Default,
    /// ACK resources instead of the eksctl ClusterConfig and the setup script.
    Ack,
}

impl Format {
    /// Whether this is [`Format::Default`] (the manifest leaves the default out).
    pub fn is_default(&self) -> bool {
        *self == Format::Default
    }
}

/// The ACK IAM controller's API group and version.
pub const IAM_API: &str = "iam.services.k8s.aws/v1alpha1";
/// The ACK EKS controller's API group and version.
pub const EKS_API: &str = "eks.services.k8s.aws/v1alpha1";

/// The pinned CRDs (reference/ack/SOURCE.md).
pub mod crds {
    /// `roles.iam.services.k8s.aws`.
    pub const ROLE: &str = include_str!("../reference/ack/iam.services.k8s.aws_roles.yaml");
    /// `policies.iam.services.k8s.aws`.
    pub const POLICY: &str = include_str!("../reference/ack/iam.services.k8s.aws_policies.yaml");
    /// `podidentityassociations.eks.services.k8s.aws`.
    pub const POD_IDENTITY_ASSOCIATION: &str =
        include_str!("../reference/ack/eks.services.k8s.aws_podidentityassociations.yaml");
    /// All three, in the order they are installed.
    pub const ALL: [&str; 3] = [ROLE, POLICY, POD_IDENTITY_ASSOCIATION];
}

/// Where each ACK resource goes in the output folder.
pub mod layout {
    /// `ack/<preset>/role.yaml`
    pub fn role(preset: &str) -> String {
        format!("ack/{preset}/role.yaml")
    }
    /// `ack/<preset>/policy.yaml`
    pub fn policy(preset: &str) -> String {
        format!("ack/{preset}/policy.yaml")
    }
    /// `ack/<preset>/policy-<name>.yaml`: a further customer managed policy (`policy.additional`).
    pub fn additional_policy(preset: &str, name: &str) -> String {
        format!("ack/{preset}/policy-{name}.yaml")
    }
    /// `ack/<preset>/pod-identity-association.yaml`
    pub fn pod_identity_association(preset: &str) -> String {
        format!("ack/{preset}/pod-identity-association.yaml")
    }
}

/// The label every ACK resource irsagen renders carries.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Resource<S> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Meta,
    spec: S,
}

#[derive(Serialize)]
struct Meta {
    name: String,
    namespace: String,
    labels: BTreeMap<&'static str, &'static str>,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Tag {
    key: String,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoleSpec {
    name: String,
    assume_role_policy_document: serde_saphyr::LitString,
    policies: Vec<String>,
    tags: Vec<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicySpec {
    name: String,
    policy_document: serde_saphyr::LitString,
    tags: Vec<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AssociationSpec {
    cluster_name: String,
    namespace: String,
    service_account: String,
    #[serde(rename = "roleARN")]
    role_arn: String,
    tags: BTreeMap<String, String>,
}

/// A Kubernetes object name (DNS subdomain) for an IAM name: lowercased; any other character
/// than `a-z0-9-.` becomes `-` and then 8 hex digits of the name's hash are appended, so two IAM
/// names never share an object name (IAM names already ignore case).
pub fn object_name(iam_name: &str) -> String {
    let lower = iam_name.to_ascii_lowercase();
    let mapped: String = lower
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '.' => c,
            _ => '-',
        })
        .collect();
    let trimmed = mapped.trim_matches(['-', '.']);
    if trimmed == lower {
        return lower;
    }
    let digest = <sha2::Sha256 as sha2::Digest>::digest(lower.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    if trimmed.is_empty() {
        hash
    } else {
        format!("{trimmed}-{hash}")
    }
}

fn tags(map: &BTreeMap<String, String>) -> Vec<Tag> {
    map.iter()
        .map(|(k, v)| Tag {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

fn meta(name: &str, c: &Component) -> Meta {
    Meta {
        name: object_name(name),
        namespace: c.service_account.namespace.clone(),
        labels: BTreeMap::from([(MANAGED_BY_LABEL, "irsagen")]),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn to_yaml<T: Serialize>(path: &str, header: &str, v: &T) -> Result<String> {
    // Long scalars (role ARNs) stay on one line: a folded `>-` block reads worse in a review.
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = 4096;
    let body = serde_saphyr::to_string_with_options(v, options).map_err(|e| Error::RenderedInvalid {
        path: path.to_string(),
        message: format!("cannot be written as YAML: {e}"),
    })?;
    Ok(format!("# {header}, rendered by irsagen.\n{body}"))
}

/// The managed policies the role gets: the preset's own, then `extraPolicyArns`.
/// Refuses what the pinned CRDs cannot express, naming the field.
fn expressible(c: &Component) -> Result<()> {
    if c.trust_policy.is_none() {
        return Err(Error::Missing {
            field: "--oidc-issuer".into(),
            how: format!(
                "`--format ack` renders role {} with its trust policy, which names the cluster's OIDC provider; pass --oidc-issuer URL (or `auto`)",
                c.role_name
            ),
        });
    }
    if c.uses(Mechanism::PodIdentity) && c.disable_session_tags {
        return Err(Error::invalid(
            format!("presets.{}.disableSessionTags", c.preset),
            "true",
            "cannot be expressed in the ACK PodIdentityAssociation irsagen targets (its spec has no disableSessionTags); use the default format, or keep session tags",
        ));
    }
    Ok(())
}

/// The ACK artifacts of one component.
fn component_artifacts(
    cluster: &str,
    c: &Component,
    seen_policies: &mut BTreeSet<(String, String)>,
) -> Result<Vec<Artifact>> {
    expressible(c)?;
    let trust = c.trust_policy.as_ref().map(pretty).unwrap_or_default();
    let mut out = Vec::new();
    let mut add = |path: String, content: String| {
        out.push(Artifact {
            path,
            kind: ArtifactKind::AckResource,
            preset: Some(c.preset.clone()),
            content,
        })
    };
    let path = layout::role(&c.preset);
    let role = Resource {
        api_version: IAM_API,
        kind: "Role",
        metadata: meta(&c.role_name, c),
        spec: RoleSpec {
            name: c.role_name.clone(),
            assume_role_policy_document: serde_saphyr::LitString(trust),
            policies: c.policy_arns.clone(),
            tags: tags(&c.tags),
        },
    };
    add(
        path.clone(),
        to_yaml(
            &path,
            &format!("IAM role {} of preset {}", c.role_name, c.preset),
            &role,
        )?,
    );
    // Two presets may share one policy (same name, same document): one object, not two. An AWS
    // managed policy is AWS's: no Policy object (the Role lists its ARN).
    // One Policy object per customer managed policy: the main one, then `policy.additional`.
    for (i, (name, _, document)) in c.customer_policies().into_iter().enumerate() {
        if !seen_policies.insert((c.service_account.namespace.clone(), object_name(name))) {
            continue;
        }
        let path = match i {
            0 => layout::policy(&c.preset),
            _ => layout::additional_policy(
                &c.preset,
                crate::bundle::layout::additional_policy_key(&c.additional_policies[i - 1].file),
            ),
        };
        let policy = Resource {
            api_version: IAM_API,
            kind: "Policy",
            metadata: meta(name, c),
            spec: PolicySpec {
                name: name.to_string(),
                policy_document: serde_saphyr::LitString(pretty(document)),
                tags: tags(&c.policy_tags),
            },
        };
        add(
            path.clone(),
            to_yaml(&path, &format!("IAM policy {} of preset {}", name, c.preset), &policy)?,
        );
    }
    if c.uses(Mechanism::PodIdentity) {
        let path = layout::pod_identity_association(&c.preset);
        let a = c.pod_identity_association(cluster);
        let assoc = Resource {
            api_version: EKS_API,
            kind: "PodIdentityAssociation",
            metadata: meta(&c.service_account.name, c),
            spec: AssociationSpec {
                cluster_name: a.cluster,
                namespace: a.namespace,
                service_account: a.service_account,
                role_arn: a.role_arn,
                tags: a.tags,
            },
        };
        add(
            path.clone(),
            to_yaml(
                &path,
                &format!(
                    "EKS Pod Identity association of {} to role {}",
                    c.service_account, c.role_name
                ),
                &assoc,
            )?,
        );
    }
    Ok(out)
}

/// Turns a validated default-format bundle into the ACK format: the eksctl ClusterConfig, the
/// setup script and the README go, the ACK resources and their README come in; every ACK
/// resource is then checked ([`Checker::check`]).
pub fn convert(bundle: Bundle, checker: &Checker) -> Result<Bundle> {
    let Bundle {
        context,
        components,
        artifacts,
        selection,
        ..
    } = bundle;
    let mut out: Vec<Artifact> = artifacts
        .into_iter()
        .filter(|a| {
            !matches!(
                a.kind,
                ArtifactKind::EksctlConfig | ArtifactKind::SetupScript | ArtifactKind::Readme
            )
        })
        .collect();
    let mut seen = BTreeSet::new();
    for c in &components {
        out.extend(component_artifacts(&context.cluster, c, &mut seen)?);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    let readme = readme(&context.cluster, &components, &out);
    out.push(Artifact {
        path: crate::bundle::layout::README.into(),
        kind: ArtifactKind::Readme,
        preset: None,
        content: readme,
    });
    out.sort_by(|a, b| a.path.cmp(&b.path));
    let bundle = Bundle {
        context,
        components,
        artifacts: out,
        selection,
        format: Format::Ack,
    };
    checker.check(&bundle)?;
    Ok(bundle)
}

/// The output README of the ACK format: what each file is and what to apply.
fn readme(cluster: &str, components: &[Component], files: &[Artifact]) -> String {
    let mut s = format!(
        "# IRSA for cluster {cluster}: AWS Controllers for Kubernetes (ACK) resources\n\n\
         Rendered by irsagen with `--format ack`. The IAM roles, policies and Pod Identity\n\
         associations are ACK custom resources: the ACK IAM controller (and, for\n\
         `PodIdentityAssociation`, the ACK EKS controller) creates them in AWS. There is no eksctl\n\
         ClusterConfig and no setup script in this format.\n\n\
         ## What to apply\n\n\
         1. Install the ACK IAM controller{} (CRDs `{IAM_API}`{}), with credentials allowed to\n   \
            manage IAM roles and policies of the account.\n\
         2. `kubectl apply -f ack/ --recursive` (or point your GitOps controller at `ack/`).\n\
         3. The ServiceAccounts: `kubectl apply -f kubernetes/<preset>/serviceaccount.yaml`; for\n   \
            chart presets install the chart with `helm/<chart>-values.yaml`.\n\n\
         `iam/` holds the same documents as JSON, for review; `kubernetes/<preset>/test-pod.yaml`\n\
         checks a role by hand. Do not apply `iam/` (it is not Kubernetes objects).\n\n\
         ## Roles\n\n",
        if components.iter().any(|c| c.uses(Mechanism::PodIdentity)) {
            " and the ACK EKS controller"
        } else {
            ""
        },
        if components.iter().any(|c| c.uses(Mechanism::PodIdentity)) {
            format!(", `{EKS_API}`")
        } else {
            String::new()
        }
    );
    for c in components {
        s.push_str(&format!(
            "- `{}`: role `{}` for ServiceAccount `{}` ({}){}\n",
            c.preset,
            c.role_name,
            c.service_account,
            c.identity_mode,
            if c.trust_clusters.is_empty() {
                String::new()
            } else {
                format!(", also trusted by clusters {}", c.trust_clusters.join(", "))
            }
        ));
    }
    s.push_str("\n## Files\n\n");
    for a in files {
        s.push_str(&format!("- `{}`\n", a.path));
    }
    s.push_str("- `README.md`: this file\n");
    s
}

/// The CRDs' schemas, compiled on first use.
#[derive(Default)]
pub struct Checker {
    schemas: OnceLock<std::result::Result<BTreeMap<String, jsonschema::Validator>, String>>,
}

/// `openAPIV3Schema` of a CRD with `additionalProperties: false` on every object that lists its
/// properties and allows no others, as the API server's strict field validation treats it.
pub fn strict_schema(crd: &Value) -> Option<(String, Value)> {
    fn close(v: &mut Value) {
        let Some(o) = v.as_object_mut() else { return };
        if o.contains_key("properties") && !o.contains_key("additionalProperties") {
            o.insert("additionalProperties".into(), json!(false));
        }
        for (_, x) in o.iter_mut() {
            match x {
                Value::Object(_) => close(x),
                Value::Array(a) => a.iter_mut().for_each(close),
                _ => {}
            }
        }
    }
    let kind = crd["spec"]["names"]["kind"].as_str()?.to_string();
    let mut schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    close(&mut schema);
    Some((kind, schema))
}

fn compile() -> std::result::Result<BTreeMap<String, jsonschema::Validator>, String> {
    let mut out = BTreeMap::new();
    for text in crds::ALL {
        let crd: Value = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        let (kind, schema) = strict_schema(&crd).ok_or("a pinned CRD has no schema")?;
        out.insert(kind, jsonschema::draft7::new(&schema).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

impl Checker {
    /// An empty checker; the schemas are compiled when first needed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks every ACK resource of `bundle`: one YAML mapping, valid against its CRD's schema,
    /// and the model's role name, trust, policies, document, tags and association.
    pub fn check(&self, bundle: &Bundle) -> Result<()> {
        let schemas = self
            .schemas
            .get_or_init(compile)
            .as_ref()
            .map_err(|m| Error::RenderedInvalid {
                path: "reference/ack".into(),
                message: m.clone(),
            })?;
        for a in bundle.of_kind(ArtifactKind::AckResource) {
            let bad = |message: String| Error::RenderedInvalid {
                path: a.path.clone(),
                message,
            };
            let c = a
                .preset
                .as_ref()
                .and_then(|p| bundle.components.iter().find(|c| &c.preset == p))
                .ok_or_else(|| bad("has no preset".into()))?;
            let docs: Vec<Value> =
                serde_saphyr::from_multiple(&a.content).map_err(|e| bad(format!("is not YAML: {e}")))?;
            let [doc] = <[Value; 1]>::try_from(docs).map_err(|_| bad("must be exactly one YAML document".into()))?;
            let kind = doc["kind"].as_str().unwrap_or_default();
            let schema = schemas
                .get(kind)
                .ok_or_else(|| bad(format!("has kind `{kind}`, not an ACK kind irsagen renders")))?;
            let errors: Vec<String> = schema
                .iter_errors(&doc)
                .map(|e| format!("at `{}`: {e}", e.instance_path()))
                .collect();
            if !errors.is_empty() {
                return Err(bad(format!(
                    "does not match the {kind} CRD's schema: {}",
                    errors.join("; ")
                )));
            }
            check_model(&doc, kind, bundle, c).map_err(bad)?;
        }
        Ok(())
    }
}

fn parse_document(v: &Value, what: &str) -> std::result::Result<Value, String> {
    let text = v.as_str().ok_or_else(|| format!("{what} must be a string"))?;
    serde_json::from_str(text).map_err(|e| format!("{what} is not JSON: {e}"))
}

fn check_model(doc: &Value, kind: &str, bundle: &Bundle, c: &Component) -> std::result::Result<(), String> {
    let spec = &doc["spec"];
    let api = if kind == "PodIdentityAssociation" {
        EKS_API
    } else {
        IAM_API
    };
    if doc["apiVersion"] != json!(api) || doc["metadata"]["namespace"] != json!(c.service_account.namespace) {
        return Err(format!(
            "must be {api} {kind} in namespace {}",
            c.service_account.namespace
        ));
    }
    let tag_list = |m: &BTreeMap<String, String>| serde_json::to_value(tags(m)).unwrap_or_default();
    match kind {
        "Role" => {
            let trust = parse_document(&spec["assumeRolePolicyDocument"], "spec.assumeRolePolicyDocument")?;
            if spec["name"] != json!(c.role_name) || Some(&trust) != c.trust_policy.as_ref() {
                return Err(format!(
                    "must be role {} with the rendered trust policy (iam/{}/trust-policy.json)",
                    c.role_name, c.preset
                ));
            }
            if spec["policies"] != json!(c.policy_arns.clone()) || spec["tags"] != tag_list(&c.tags) {
                return Err(format!(
                    "must attach {} and carry the role's tags",
                    c.policy_arns.clone().join(", ")
                ));
            }
        }
        "Policy" => {
            let document = parse_document(&spec["policyDocument"], "spec.policyDocument")?;
            // The main policy or one of `policy.additional`, by name.
            let ok = c
                .customer_policies()
                .iter()
                .any(|(name, _, doc)| spec["name"] == json!(name) && &document == *doc);
            if !ok || spec["tags"] != tag_list(&c.policy_tags) {
                return Err(format!(
                    "must be policy {} with the preset's document and the policy's tags",
                    spec["name"].as_str().unwrap_or(&c.policy_name)
                ));
            }
        }
        _ => {
            let want = json!({
                "clusterName": bundle.context.cluster,
                "namespace": c.service_account.namespace,
                "serviceAccount": c.service_account.name,
                "roleARN": c.role_arn,
                "tags": c.tags,
            });
            if spec != &want {
                return Err(format!(
                    "must associate {} in cluster {} with role {}",
                    c.service_account, bundle.context.cluster, c.role_arn
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_dns_names_and_stay_unique() {
        assert_eq!(object_name("irsa-c-kube-system-ebs"), "irsa-c-kube-system-ebs");
        assert_eq!(object_name("AmazonEKS_EBS_CSI"), object_name("amazoneks_ebs_csi"));
        let a = object_name("a_b");
        let b = object_name("a-b");
        assert_ne!(a, b);
        assert!(a.starts_with("a-b-") && a.len() == "a-b-".len() + 8, "{a}");
        assert!(object_name("@@").chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn every_pinned_crd_compiles_and_closes_its_objects() {
        let s = compile().unwrap();
        assert_eq!(
            s.keys().collect::<Vec<_>>(),
            ["PodIdentityAssociation", "Policy", "Role"]
        );
        let role = &s["Role"];
        let good = json!({"apiVersion": IAM_API, "kind": "Role", "metadata": {"name": "r"},
            "spec": {"name": "r", "assumeRolePolicyDocument": "{}"}});
        assert!(role.is_valid(&good));
        let mut unknown = good.clone();
        unknown["spec"]["nmae"] = json!("r");
        assert!(!role.is_valid(&unknown));
        let mut wrong_type = good.clone();
        wrong_type["spec"]["policies"] = json!("arn:aws:iam::aws:policy/x");
        assert!(!role.is_valid(&wrong_type));
        let mut missing = good;
        missing["spec"]
            .as_object_mut()
            .unwrap()
            .remove("assumeRolePolicyDocument");
        assert!(!role.is_valid(&missing));
    }
}
