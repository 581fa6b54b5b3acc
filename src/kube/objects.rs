//! The objects irsagen applies: parsed from the bundle's rendered manifests, with the API
//! resource each belongs to, and the helpers that compare and show them.

use crate::bundle::Artifact;
use crate::error::{Error, Result};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

/// Annotation that binds a ServiceAccount to an IAM role.
pub const ROLE_ARN: &str = crate::identity::ROLE_ARN_ANNOTATION;

/// One object to apply, as rendered (only the fields irsagen owns).
#[derive(Debug, Clone)]
pub struct Desired {
    /// The API resource (group, version, kind, plural).
    pub ar: ApiResource,
    /// The object as sent in the server-side apply.
    pub obj: DynamicObject,
    /// Preset it belongs to, if any.
    pub preset: Option<String>,
}

impl Desired {
    /// Parses a rendered manifest (one YAML document).
    pub fn from_artifact(a: &Artifact) -> Result<Desired> {
        let obj: DynamicObject = crate::yaml::parse(&a.path, &a.content)?;
        let types = obj.types.clone().ok_or_else(|| Error::RenderedInvalid {
            path: a.path.clone(),
            message: "no apiVersion/kind".into(),
        })?;
        let (group, version) = match types.api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), types.api_version.clone()),
        };
        let gvk = GroupVersionKind {
            group,
            version,
            kind: types.kind.clone(),
        };
        let ar = ApiResource::from_gvk_with_plural(&gvk, &plural(&types.kind));
        if obj.metadata.name.as_deref().unwrap_or_default().is_empty() {
            return Err(Error::RenderedInvalid {
                path: a.path.clone(),
                message: "no metadata.name".into(),
            });
        }
        Ok(Desired {
            ar,
            obj,
            preset: a.preset.clone(),
        })
    }

    /// A Namespace to create.
    pub fn namespace(name: &str) -> Desired {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind {
                group: String::new(),
                version: "v1".into(),
                kind: "Namespace".into(),
            },
            "namespaces",
        );
        Desired {
            obj: DynamicObject::new(name, &ar),
            ar,
            preset: None,
        }
    }

    /// A bare ServiceAccount reference (for existence checks).
    pub fn service_account(ns: &str, name: &str) -> Desired {
        let gvk = GroupVersionKind {
            group: String::new(),
            version: "v1".into(),
            kind: "ServiceAccount".into(),
        };
        let ar = ApiResource::from_gvk_with_plural(&gvk, "serviceaccounts");
        Desired {
            obj: DynamicObject::new(name, &ar).within(ns),
            ar,
            preset: None,
        }
    }

    /// Object name.
    pub fn name(&self) -> &str {
        self.obj.metadata.name.as_deref().unwrap_or_default()
    }

    /// Namespace, for namespaced objects.
    pub fn ns(&self) -> Option<&str> {
        self.obj.metadata.namespace.as_deref()
    }

    /// Kind.
    pub fn kind(&self) -> &str {
        &self.ar.kind
    }

    /// `Kind ns/name` (or `Kind name`).
    pub fn label(&self) -> String {
        match self.ns() {
            Some(ns) => format!("{} {ns}/{}", self.kind(), self.name()),
            None => format!("{} {}", self.kind(), self.name()),
        }
    }

    /// `resource` as RBAC names it: `serviceaccounts`, `deployments.apps`.
    pub fn rbac_resource(&self) -> String {
        if self.ar.group.is_empty() {
            self.ar.plural.clone()
        } else {
            format!("{}.{}", self.ar.plural, self.ar.group)
        }
    }

    /// The role-arn annotation it sets, for ServiceAccounts.
    pub fn role_arn(&self) -> Option<&str> {
        self.obj
            .metadata
            .annotations
            .as_ref()?
            .get(ROLE_ARN)
            .map(String::as_str)
    }

    /// The object as JSON.
    pub fn json(&self) -> Value {
        serde_json::to_value(&self.obj).unwrap_or(Value::Null)
    }
}

/// Plural resource name of the kinds irsagen renders.
fn plural(kind: &str) -> String {
    match kind {
        "ServiceAccount" => "serviceaccounts".into(),
        "Deployment" => "deployments".into(),
        "Pod" => "pods".into(),
        "Namespace" => "namespaces".into(),
        k => format!("{}s", k.to_lowercase()),
    }
}

/// The object without the fields that change on every write or belong to the server's
/// bookkeeping, for comparing "before" with "after apply".
pub fn comparable(obj: &DynamicObject) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "managedFields",
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
        ] {
            meta.remove(k);
        }
    }
    v
}

/// YAML text of a JSON value (falls back to pretty JSON).
pub fn to_yaml(v: &Value) -> String {
    serde_saphyr::to_string(v).unwrap_or_else(|_| serde_json::to_string_pretty(v).unwrap_or_default() + "\n")
}

/// Unified diff of two values shown as YAML, lines indented for the plan.
pub fn diff(old: &Value, new: &Value, old_name: &str, new_name: &str) -> String {
    let (a, b) = (to_yaml(old), to_yaml(new));
    let d = similar::TextDiff::from_lines(&a, &b);
    indent(
        &d.unified_diff()
            .context_radius(3)
            .header(old_name, new_name)
            .to_string(),
    )
}

/// Every line prefixed with `+ ` (an object that will be created).
pub fn added(v: &Value) -> String {
    indent(&to_yaml(v).lines().map(|l| format!("+ {l}\n")).collect::<String>())
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::ArtifactKind;

    fn artifact(content: &str) -> Artifact {
        Artifact {
            path: "kubernetes/x/serviceaccount.yaml".into(),
            kind: ArtifactKind::ServiceAccount,
            preset: Some("x".into()),
            content: content.into(),
        }
    }

    #[test]
    fn parses_rendered_manifest() {
        let a = artifact(
            "# comment\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n  namespace: ns\n  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::1:role/r\n",
        );
        let d = Desired::from_artifact(&a).unwrap();
        assert_eq!(d.label(), "ServiceAccount ns/sa");
        assert_eq!(d.rbac_resource(), "serviceaccounts");
        assert_eq!(d.role_arn(), Some("arn:aws:iam::1:role/r"));
        let dep = artifact("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  namespace: ns\n");
        assert_eq!(
            Desired::from_artifact(&dep).unwrap().rbac_resource(),
            "deployments.apps"
        );
        assert!(Desired::from_artifact(&artifact("kind: ServiceAccount\nmetadata: {}\n")).is_err());
    }

    #[test]
    fn comparable_ignores_bookkeeping() {
        let a = artifact("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n  namespace: ns\n");
        let mut live = Desired::from_artifact(&a).unwrap().obj;
        let want = comparable(&live);
        live.metadata.resource_version = Some("42".into());
        live.metadata.generation = Some(3);
        live.metadata.managed_fields = Some(vec![Default::default()]);
        assert_eq!(comparable(&live), want);
        let d = diff(&serde_json::json!({"a": 1}), &serde_json::json!({"a": 2}), "old", "new");
        assert!(d.contains("-a: 1") && d.contains("+a: 2"), "{d}");
    }
}
