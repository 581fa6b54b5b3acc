//! Validation of a rendered bundle before anything is written: every JSON and YAML file is
//! parsed back, checked against its schema or shape and IAM's limits, and the identity each
//! file states (namespace, ServiceAccount, role ARN) is compared with the component's.

use crate::bundle::{Artifact, ArtifactKind, Bundle};
use crate::chart_schema;
use crate::component::Component;
use crate::error::{Error, Result};
use crate::identity::{self, AUDIENCE, IdentityMode, Mechanism, ROLE_ARN_ANNOTATION};
use crate::overrides::ChartLayout;
use crate::policy_doc::{self, MANAGED_POLICY_LIMIT, TRUST_POLICY_LIMIT};
use serde_json::{Value, json};
use std::sync::OnceLock;

/// eksctl's ClusterConfig schema (reference/eksctl/SOURCE.md says where it comes from).
pub const EKSCTL_SCHEMA: &str = include_str!("../reference/eksctl/clusterconfig.schema.json");
/// Derived files the renderer embeds instead of the sources above: parsing the 149 KB schema on
/// every run cost about 2 ms of a 5 ms budget. A unit test regenerates it from the source and
/// fails when they differ (`IRSAGEN_REGENERATE=1 cargo test --lib` rewrites it).
pub mod derived {
    /// [`super::eksctl_schema_for_irsagen`], pretty-printed.
    pub const EKSCTL_SCHEMA_PATH: &str = "reference/eksctl/clusterconfig.irsagen.schema.json";
    /// Contents of [`EKSCTL_SCHEMA_PATH`].
    pub const EKSCTL_SCHEMA: &str = include_str!("../reference/eksctl/clusterconfig.irsagen.schema.json");
}

/// Compiled validators, built on first use and then shared.
#[derive(Default)]
pub struct Checker {
    eksctl: OnceLock<std::result::Result<jsonschema::Validator, String>>,
}

/// The eksctl schema, loadable by the `jsonschema` crate. Upstream writes Go package paths
/// with `|` inside `$ref` values (`#/definitions/github.com|aws|…`), which is not a valid URI
/// reference; percent-encoding `|` in the references (not in the definition names) is the
/// smallest change that makes it load and resolves to the same definitions.
pub fn eksctl_schema() -> Value {
    let mut schema: Value = serde_json::from_str(EKSCTL_SCHEMA).expect("embedded schema is JSON");
    fn fix(v: &mut Value) {
        match v {
            Value::Object(o) => {
                for (k, val) in o.iter_mut() {
                    match val {
                        Value::String(s) if k == "$ref" => *s = s.replace('|', "%7C"),
                        _ => fix(val),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(fix),
            _ => {}
        }
    }
    fix(&mut schema);
    schema
}

/// Top-level ClusterConfig keys irsagen renders.
const RENDERED_KEYS: [&str; 5] = ["apiVersion", "kind", "metadata", "iam", "addons"];

/// eksctl's schema cut down to what irsagen renders, so every run does not compile 89
/// definitions it never uses (about 2 ms). The kept definitions are eksctl's own, unchanged;
/// the root still has `additionalProperties: false`, so any other top-level key is refused.
/// Tests validate against the full schema too.
pub fn eksctl_schema_for_irsagen() -> Value {
    let mut schema = eksctl_schema();
    if let Some(props) = schema["definitions"]["ClusterConfig"]["properties"].as_object_mut() {
        props.retain(|k, _| RENDERED_KEYS.contains(&k.as_str()));
    }
    // Keep only the definitions reachable from the root.
    let mut keep = std::collections::BTreeSet::new();
    let mut todo = vec!["ClusterConfig".to_string()];
    while let Some(name) = todo.pop() {
        if !keep.insert(name.clone()) {
            continue;
        }
        let mut refs = Vec::new();
        collect_refs(&schema["definitions"][&name], &mut refs);
        todo.extend(refs);
    }
    if let Some(defs) = schema["definitions"].as_object_mut() {
        defs.retain(|k, _| keep.contains(&k.replace('|', "%7C")) || keep.contains(k));
    }
    schema
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, val) in o {
                match (k.as_str(), val) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix("#/definitions/") {
                            out.push(name.replace("%7C", "|"));
                        }
                    }
                    _ => collect_refs(val, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

impl Checker {
    /// An empty checker; validators are compiled when first needed.
    pub fn new() -> Self {
        Self::default()
    }

    fn eksctl(&self) -> Result<&jsonschema::Validator> {
        self.eksctl
            .get_or_init(|| {
                let schema: Value = serde_json::from_str(derived::EKSCTL_SCHEMA).map_err(|e| e.to_string())?;
                jsonschema::draft7::new(&schema).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|m| Error::RenderedInvalid {
                path: "reference/eksctl/clusterconfig.schema.json".into(),
                message: m.clone(),
            })
    }

    /// Checks every artifact of `bundle`; the first problem is returned.
    pub fn check(&self, bundle: &Bundle) -> Result<()> {
        for a in &bundle.artifacts {
            let comp = a
                .preset
                .as_ref()
                .and_then(|p| bundle.components.iter().find(|c| &c.preset == p));
            self.check_one(bundle, a, comp)?;
        }
        Ok(())
    }

    fn check_one(&self, bundle: &Bundle, a: &Artifact, c: Option<&Component>) -> Result<()> {
        let bad = |message: String| Error::RenderedInvalid {
            path: a.path.clone(),
            message,
        };
        let need = || c.ok_or_else(|| bad("has no preset".into()));
        match a.kind {
            ArtifactKind::Policy => {
                let c = need()?;
                if let Some(m) = &c.aws_managed {
                    return Err(bad(format!(
                        "must not exist: preset {} attaches the AWS managed {} (policy: aws-managed), and irsagen creates no policy for it",
                        c.preset,
                        m.arns.join(", ")
                    )));
                }
                let doc = parse_json(a)?;
                policy_doc::check(&a.path, &doc)?;
                limit(a, &doc, MANAGED_POLICY_LIMIT, "managed policy")?;
                // The main document, or the further policy (`policy.additional`) this file is for.
                let expected = if a.path == crate::bundle::layout::policy(&c.preset) {
                    &c.policy_document
                } else {
                    match c.additional_policies.iter().find(|x| x.file == a.path) {
                        Some(x) => &x.document,
                        None => {
                            return Err(bad(format!("is not one of preset {}'s policy files", c.preset)));
                        }
                    }
                };
                if &doc != expected {
                    return Err(bad(
                        "differs from the preset's document (the template changed it)".into()
                    ));
                }
            }
            ArtifactKind::TrustPolicy => {
                let c = need()?;
                let doc = parse_json(a)?;
                policy_doc::check(&a.path, &doc)?;
                limit(a, &doc, TRUST_POLICY_LIMIT, "trust policy")?;
                // The one shape irsagen allows is the component's own value
                // ([`crate::identity::trust_policy`]): the template may only print it.
                let expected = c
                    .trust_policy
                    .as_ref()
                    .ok_or_else(|| bad("rendered without an OIDC issuer".into()))?;
                if &doc != expected {
                    let oidc = bundle
                        .context
                        .oidc
                        .as_ref()
                        .map(|o| o.provider_arn.as_str())
                        .unwrap_or("?");
                    let irsa = format!(
                        "trusting {oidc} for subject `{}` and audience `{AUDIENCE}` with StringEquals",
                        c.subject
                    );
                    let pod = format!(
                        "trusting {} for {} of {}",
                        identity::POD_IDENTITY_PRINCIPAL,
                        c.service_account,
                        bundle.context.eks_cluster_arn()
                    );
                    let want = match c.identity_mode {
                        IdentityMode::Irsa => format!("one statement {irsa}"),
                        IdentityMode::PodIdentity => format!("one statement {pod}"),
                        IdentityMode::Both => format!("two statements, one {irsa}, then one {pod}"),
                    };
                    return Err(bad(format!("must be {want}")));
                }
            }
            ArtifactKind::EksctlConfig => {
                let doc = parse_yaml(a)?;
                let validator = self.eksctl()?;
                let errors: Vec<String> = validator
                    .iter_errors(&doc)
                    .map(|e| format!("at `{}`: {e}", e.instance_path()))
                    .collect();
                if !errors.is_empty() {
                    return Err(bad(format!(
                        "does not match eksctl's ClusterConfig schema: {}",
                        errors.join("; ")
                    )));
                }
                let sas = doc["iam"]["serviceAccounts"].as_array().cloned().unwrap_or_default();
                let irsa: Vec<&Component> = bundle.components.iter().filter(|c| c.uses(Mechanism::Irsa)).collect();
                if sas.len() != irsa.len() {
                    return Err(bad(
                        "needs one iam.serviceAccounts entry per preset that uses IRSA".into()
                    ));
                }
                for (sa, c) in sas.iter().zip(&irsa) {
                    let same = sa["metadata"]["name"] == json!(c.service_account.name)
                        && sa["metadata"]["namespace"] == json!(c.service_account.namespace)
                        && sa["roleName"] == json!(c.role_name)
                        && sa["attachPolicyARNs"] == json!(policy_arns(c))
                        && sa.get("roleOnly").and_then(Value::as_bool).unwrap_or(false)
                            != c.service_account_created_by.by_eksctl();
                    if !same {
                        return Err(bad(format!(
                            "iam.serviceAccounts entry for {} disagrees with preset {}",
                            c.service_account, c.preset
                        )));
                    }
                }
                check_associations(&doc, &bundle.components).map_err(bad)?;
            }
            ArtifactKind::HelmValues => {
                let c = need()?;
                let h = c.helm.as_ref().ok_or_else(|| bad("preset has no chart".into()))?;
                let doc = parse_yaml(a)?;
                let values = match h.layout {
                    ChartLayout::Umbrella => {
                        let sub = &doc[h.chart.as_str()];
                        if sub["enabled"] != json!(true) {
                            return Err(bad(format!("umbrella layout needs `{}.enabled: true`", h.chart)));
                        }
                        let mut sub = sub.clone();
                        sub.as_object_mut().map(|o| o.remove("enabled"));
                        sub
                    }
                    ChartLayout::Standalone => doc.clone(),
                };
                let reference = &h.values_reference;
                if let Some(k) = reference.unknown_key(&values)? {
                    return Err(bad(format!(
                        "`{k}` is not a key of the {} chart (its values.yaml: {})",
                        h.chart, reference.origin
                    )));
                }
                // Where the preset says the chart reads its ServiceAccount settings.
                let keys = &h.service_account;
                let sa = chart_schema::at(&values, &keys.path);
                let same = sa[keys.name.as_str()] == json!(c.service_account.name)
                    && sa[keys.create.as_str()] == json!(c.service_account_created_by.by_chart())
                    && annotations_hold(&sa[keys.annotations.as_str()], c);
                if !same {
                    return Err(bad(format!(
                        "{} must name {} with role {}",
                        keys.path, c.service_account.name, c.role_arn
                    )));
                }
            }
            ArtifactKind::ServiceAccount => {
                let c = need()?;
                let doc = parse_yaml(a)?;
                expect_object(
                    a,
                    &doc,
                    "v1",
                    "ServiceAccount",
                    &c.service_account.name,
                    &c.service_account.namespace,
                )?;
                if !annotations_hold(&doc["metadata"]["annotations"], c) {
                    return Err(bad(if c.uses(Mechanism::Irsa) {
                        format!("must carry {ROLE_ARN_ANNOTATION} `{}`", c.role_arn)
                    } else {
                        format!(
                            "must not carry {ROLE_ARN_ANNOTATION} in identity mode {}: it would win over Pod Identity",
                            c.identity_mode
                        )
                    }));
                }
            }
            ArtifactKind::TestPod => {
                let c = need()?;
                let doc = parse_yaml(a)?;
                expect_object(a, &doc, "v1", "Pod", &c.test_pod_name, &c.service_account.namespace)?;
                if doc["spec"]["serviceAccountName"] != json!(c.service_account.name) {
                    return Err(bad(format!("must run as ServiceAccount `{}`", c.service_account.name)));
                }
            }
            ArtifactKind::ControllerPatch => {
                let c = need()?;
                let doc = parse_yaml(a)?;
                let name = c.controller_patch.clone().unwrap_or_default();
                expect_object(a, &doc, "apps/v1", "Deployment", &name, &c.service_account.namespace)?;
                if doc["spec"]["template"]["spec"]["serviceAccountName"] != json!(c.service_account.name) {
                    return Err(bad(format!("must set serviceAccountName `{}`", c.service_account.name)));
                }
            }
            // ACK resources are checked by `ack::Checker` after the conversion.
            ArtifactKind::SetupScript | ArtifactKind::Readme | ArtifactKind::AckResource => {}
        }
        Ok(())
    }
}

/// Whether `annotations` carry every ServiceAccount annotation the binding needs, as
/// [`Component::service_account_annotations`] gives them.
/// Without IRSA the role-arn annotation must be absent: the SDKs take the web-identity
/// variables the webhook injects for it before Pod Identity's.
fn annotations_hold(annotations: &Value, c: &Component) -> bool {
    c.service_account_annotations()
        .iter()
        .all(|(k, v)| annotations[k.as_str()] == json!(v))
        && (c.uses(Mechanism::Irsa) || annotations.get(ROLE_ARN_ANNOTATION).is_none())
}

/// Every managed policy the role gets: the preset's own (its customer managed policy, or the AWS
/// managed ones with `policy: aws-managed`), then `extraPolicyArns`. Computed from those parts,
/// not read from [`Component::policy_arns`], so a component whose list disagrees with them fails.
fn policy_arns(c: &Component) -> Vec<String> {
    let own = match &c.aws_managed {
        Some(m) => m.arns.clone(),
        None => std::iter::once(c.policy_arn.clone())
            .chain(c.additional_policies.iter().map(|a| a.arn.clone()))
            .collect(),
    };
    [own, c.extra_policy_arns.clone()].concat()
}

/// The ClusterConfig's Pod Identity parts: one association per preset that uses it, under
/// `iam.podIdentityAssociations` or, for an addon, under the addon's own entry; the agent addon
/// when any preset uses Pod Identity. Each names the component's ServiceAccount and role.
fn check_associations(doc: &Value, components: &[Component]) -> std::result::Result<(), String> {
    let pod: Vec<&Component> = components.iter().filter(|c| c.uses(Mechanism::PodIdentity)).collect();
    let addons = doc["addons"].as_array().cloned().unwrap_or_default();
    let addon = |name: &str| addons.iter().find(|a| a["name"] == json!(name)).cloned();
    let has_agent = addon(identity::POD_IDENTITY_AGENT_ADDON).is_some();
    if has_agent == pod.is_empty() {
        return Err(format!(
            "must list the {} addon exactly when a preset uses Pod Identity",
            identity::POD_IDENTITY_AGENT_ADDON
        ));
    }
    let own = doc["iam"]["podIdentityAssociations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let on_own: Vec<&&Component> = pod.iter().filter(|c| c.addon.is_none()).collect();
    if own.len() != on_own.len() {
        return Err(
            "needs one iam.podIdentityAssociations entry per preset that uses Pod Identity without an addon".into(),
        );
    }
    let matches = |a: &Value, c: &Component| {
        let role = if c.uses(Mechanism::Irsa) {
            a["roleARN"] == json!(c.role_arn)
        } else {
            a["roleName"] == json!(c.role_name) && a["permissionPolicyARNs"] == json!(policy_arns(c))
        };
        a["namespace"] == json!(c.service_account.namespace)
            && a["serviceAccountName"] == json!(c.service_account.name)
            && role
            && a.get("disableSessionTags").and_then(Value::as_bool).unwrap_or(false) == c.disable_session_tags
    };
    for (a, c) in own.iter().zip(&on_own) {
        if !matches(a, c) {
            return Err(format!(
                "iam.podIdentityAssociations entry for {} disagrees with preset {}",
                c.service_account, c.preset
            ));
        }
    }
    for c in components {
        let Some(name) = &c.addon else { continue };
        let entry = addon(name).ok_or_else(|| format!("addons lacks {name} (preset {})", c.preset))?;
        let irsa_ok = (entry["serviceAccountRoleARN"] == json!(c.role_arn)) == c.uses(Mechanism::Irsa);
        let assoc = entry["podIdentityAssociations"].as_array().cloned().unwrap_or_default();
        let pod_ok = match c.uses(Mechanism::PodIdentity) {
            true => assoc.len() == 1 && matches(&assoc[0], c),
            false => assoc.is_empty(),
        };
        if !(irsa_ok && pod_ok) {
            return Err(format!(
                "addon {name} must bind role {} by {} (preset {})",
                c.role_arn,
                c.identity_mode
                    .mechanisms()
                    .iter()
                    .map(|m| match m {
                        Mechanism::Irsa => "serviceAccountRoleARN",
                        Mechanism::PodIdentity => "its own podIdentityAssociations",
                    })
                    .collect::<Vec<_>>()
                    .join(" and "),
                c.preset
            ));
        }
    }
    Ok(())
}

fn parse_json(a: &Artifact) -> Result<Value> {
    serde_json::from_str(&a.content).map_err(|e| Error::RenderedInvalid {
        path: a.path.clone(),
        message: format!("is not JSON: {e}"),
    })
}

fn parse_yaml(a: &Artifact) -> Result<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(&a.content).map_err(|e| Error::RenderedInvalid {
        path: a.path.clone(),
        message: format!("is not YAML: {e}"),
    })?;
    match <[Value; 1]>::try_from(docs) {
        Ok([doc]) if doc.is_object() => Ok(doc),
        _ => Err(Error::RenderedInvalid {
            path: a.path.clone(),
            message: "must be exactly one YAML mapping".into(),
        }),
    }
}

fn limit(a: &Artifact, doc: &Value, max: usize, what: &str) -> Result<()> {
    match policy_doc::size_problem(doc, max, what) {
        Some(message) => Err(Error::RenderedInvalid {
            path: a.path.clone(),
            message,
        }),
        None => Ok(()),
    }
}

fn expect_object(a: &Artifact, doc: &Value, api: &str, kind: &str, name: &str, ns: &str) -> Result<()> {
    let ok = doc["apiVersion"] == json!(api)
        && doc["kind"] == json!(kind)
        && doc["metadata"]["name"] == json!(name)
        && doc["metadata"]["namespace"] == json!(ns);
    if ok {
        Ok(())
    } else {
        Err(Error::RenderedInvalid {
            path: a.path.clone(),
            message: format!("must be {api} {kind} {ns}/{name}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eksctl_schema_compiles_and_rejects_unknown_keys() {
        let v = jsonschema::draft7::new(&eksctl_schema()).unwrap();
        let good = json!({"apiVersion":"eksctl.io/v1alpha5","kind":"ClusterConfig","metadata":{"name":"a","region":"us-east-1"}});
        assert!(v.is_valid(&good));
        let bad = json!({"apiVersion":"eksctl.io/v1alpha5","kind":"ClusterConfig","metadata":{"name":"a","region":"us-east-1"},"iam":{"withOIDC":true,"bogus":1}});
        assert!(!v.is_valid(&bad));
    }

    #[test]
    fn trimmed_schema_keeps_what_irsagen_renders() {
        let full = eksctl_schema();
        let trimmed = eksctl_schema_for_irsagen();
        let n = |s: &Value| s["definitions"].as_object().unwrap().len();
        assert!(n(&trimmed) < n(&full));
        for (k, v) in trimmed["definitions"].as_object().unwrap() {
            if k != "ClusterConfig" {
                assert_eq!(v, &full["definitions"][k], "definition {k} changed");
            }
        }
        let v = jsonschema::draft7::new(&trimmed).unwrap();
        let bad = json!({"apiVersion":"eksctl.io/v1alpha5","kind":"ClusterConfig","metadata":{"name":"a","region":"us-east-1"},"iam":{"serviceAccounts":[{"metadata":{"name":"x"},"roleNam":"r"}]}});
        assert!(!v.is_valid(&bad));
    }

    /// The derived file is what the source gives; with IRSAGEN_REGENERATE=1 a stale one is
    /// rewritten, and the test still fails for this run.
    #[test]
    fn derived_files_match_their_sources() {
        let (path, committed) = (derived::EKSCTL_SCHEMA_PATH, derived::EKSCTL_SCHEMA);
        let fresh = format!(
            "{}\n",
            serde_json::to_string_pretty(&eksctl_schema_for_irsagen()).unwrap()
        );
        // Regenerating only writes the file: the check below still compares what this binary
        // embedded, so a run with IRSAGEN_REGENERATE set can never pass on stale data (CI cannot
        // make it green by setting the variable); the next build embeds the new file.
        if committed != fresh && std::env::var_os("IRSAGEN_REGENERATE").is_some() {
            std::fs::write(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path), &fresh).unwrap();
        }
        assert!(
            committed == fresh,
            "{path} is stale: run `IRSAGEN_REGENERATE=1 cargo test --lib derived` (it rewrites the file and still fails once), then run the tests again"
        );
    }
}
