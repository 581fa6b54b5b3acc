//! A chart's values schema, derived from the pinned copy of its values.yaml that a preset names
//! (`helm.valuesReference`, under `reference/charts/<chart>/` with its SOURCE.md): the keys the
//! chart reads, so rendered and user values with a key the chart does not have (a typo the chart
//! would silently ignore) are refused. Nothing here knows a particular chart; what differs per
//! chart is data in the preset.

use crate::error::{Error, Result};
use crate::preset::PresetHelm;
use include_dir::{Dir, include_dir};
use serde_json::Value;
use std::sync::OnceLock;

/// The chart values references shipped with irsagen (reference/charts), for the embedded presets.
static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/reference/charts");

/// How embedded presets name an embedded reference: a path from the repository root.
pub const EMBEDDED_PREFIX: &str = "reference/charts/";

/// The embedded reference at `rel` (`reference/charts/<chart>/values.yaml`), if irsagen ships it.
pub fn embedded(rel: &str) -> Option<&'static str> {
    EMBEDDED
        .get_file(rel.strip_prefix(EMBEDDED_PREFIX)?)
        .and_then(|f| f.contents_utf8())
}

/// One chart's values.yaml, parsed on first use (parsing a commented values.yaml costs about a
/// millisecond: a run that renders no chart, or not this one, never pays it) and then shared by
/// every cluster a renderer renders.
pub struct ChartValues {
    /// Where the text came from (`reference/charts/<chart>/values.yaml` or a path below
    /// `--presets-dir`), for messages.
    pub origin: String,
    /// Dotted paths of maps whose keys are the user's although values.yaml lists some
    /// (`helm.freeFormMaps`); every map empty in values.yaml is free-form anyway.
    pub free_form: Vec<String>,
    text: String,
    parsed: OnceLock<std::result::Result<Value, String>>,
}

impl std::fmt::Debug for ChartValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChartValues")
            .field("origin", &self.origin)
            .field("free_form", &self.free_form)
            .finish_non_exhaustive()
    }
}

impl ChartValues {
    /// A reference read from `origin`; parsed when first needed.
    pub fn new(origin: impl Into<String>, text: impl Into<String>, free_form: Vec<String>) -> Self {
        ChartValues {
            origin: origin.into(),
            free_form,
            text: text.into(),
            parsed: OnceLock::new(),
        }
    }

    /// The values as data (comments dropped). A file that is not one YAML mapping is an error
    /// naming the file.
    pub fn values(&self) -> Result<&Value> {
        self.parsed
            .get_or_init(|| match serde_saphyr::from_str::<Value>(&self.text) {
                Ok(v) if v.is_object() => Ok(v),
                Ok(_) => Err("must be one YAML mapping (a chart's values.yaml)".into()),
                Err(e) => Err(format!("is not YAML: {e}")),
            })
            .as_ref()
            .map_err(|m| Error::Parse {
                path: self.origin.clone(),
                message: m.clone(),
            })
    }

    /// The first key path in `ours` that the chart's values do not have, if any.
    pub fn unknown_key(&self, ours: &Value) -> Result<Option<String>> {
        Ok(unknown_keys(ours, self.values()?, &self.free_form, "").err())
    }

    /// Every free-form map (dotted paths, sorted): below them any key is accepted.
    pub fn free_form_maps(&self) -> Result<Vec<String>> {
        Ok(free_form_maps(self.values()?, &self.free_form))
    }
}

/// Every free-form map of `chart` (dotted paths, sorted): the maps empty in it plus `declared`.
pub fn free_form_maps(chart: &Value, declared: &[String]) -> Vec<String> {
    fn walk(v: &Value, path: &str, out: &mut Vec<String>) {
        let Some(o) = v.as_object() else { return };
        if o.is_empty() {
            out.push(path.to_string());
        }
        for (k, x) in o {
            walk(x, &join(path, k), out);
        }
    }
    let mut out: Vec<String> = declared.to_vec();
    walk(chart, "", &mut out);
    out.retain(|p| !p.is_empty());
    out.sort();
    out.dedup();
    out
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The first key path in `ours` that `chart` does not have. Below a free-form map (one empty in
/// the chart, or listed in `free_form`) any key is allowed: the chart passes those through.
/// Lists are not looked into.
fn unknown_keys(ours: &Value, chart: &Value, free_form: &[String], prefix: &str) -> std::result::Result<(), String> {
    let Some(ours) = ours.as_object() else { return Ok(()) };
    let Some(chart) = chart.as_object() else { return Ok(()) };
    if chart.is_empty() || free_form.iter().any(|f| f == prefix) {
        return Ok(());
    }
    for (k, v) in ours {
        let path = join(prefix, k);
        match chart.get(k) {
            None => return Err(path),
            Some(cv) => unknown_keys(v, cv, free_form, &path)?,
        }
    }
    Ok(())
}

/// `value` at the dotted `path` of `doc` (`rbac.serviceAccount`), `Null` when absent.
pub fn at<'a>(doc: &'a Value, path: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    path.split('.').try_fold(doc, |v, k| v.get(k)).unwrap_or(&NULL)
}

/// The helm repository alias used in commands (`helm install <alias>/<chart>`): the preset's
/// `repositoryName`, else the repository URL's last path segment
/// (`https://kubernetes.github.io/autoscaler` → `autoscaler`), else its host's name below the
/// top-level domain (`https://charts.jetstack.io` → `jetstack`).
pub fn repository_name(h: &PresetHelm) -> String {
    if let Some(n) = &h.repository_name {
        return n.clone();
    }
    let rest = h.repository.split_once("://").map_or(h.repository.as_str(), |(_, r)| r);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if let Some(last) = path.split('/').rfind(|s| !s.is_empty()) {
        return last.to_string();
    }
    let labels: Vec<&str> = host.split('.').collect();
    labels.len().checked_sub(2).map_or(host, |i| labels[i]).to_string()
}

/// What `helm install` is given for the chart: `<alias>/<chart>` for an HTTP repository, the
/// full reference for an OCI registry (which has no alias).
pub fn chart_ref(h: &PresetHelm) -> String {
    if h.repository.starts_with("oci://") {
        format!("{}/{}", h.repository.trim_end_matches('/'), h.chart)
    } else {
        format!("{}/{}", repository_name(h), h.chart)
    }
}

/// Checks a preset's `helm:` fields that are data for commands and paths: the repository URL,
/// the chart version, the repository alias and the ServiceAccount path.
pub fn check_helm(origin: &str, h: &PresetHelm) -> Result<()> {
    let field = |f: &str| format!("{origin}: helm.{f}");
    let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic());
    let r = &h.repository;
    let scheme_ok = ["https://", "oci://"]
        .iter()
        .any(|p| r.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
    if !scheme_ok || !plain(r) || r.len() > 2048 || r.contains(['\'', '"', '`', '$', '\\']) {
        return Err(Error::invalid(
            field("repository"),
            r,
            "must be an https:// or oci:// URL of at most 2048 printable characters, without quotes, `$` or `\\`",
        ));
    }
    let v = &h.version;
    if v.len() > 64 || !plain(v) || !v.chars().all(|c| c.is_ascii_alphanumeric() || ".+-".contains(c)) {
        return Err(Error::invalid(
            field("version"),
            v,
            "must be a chart version: 1-64 characters from A-Z a-z 0-9 . + -",
        ));
    }
    let alias = repository_name(h);
    crate::rules::preset_name(&field("repositoryName"), &alias)?;
    let sa = &h.service_account;
    for (f, key) in [
        ("path", &sa.path),
        ("create", &sa.create),
        ("name", &sa.name),
        ("annotations", &sa.annotations),
    ] {
        let keys_ok = key.split('.').all(|k| !k.is_empty() && plain(k));
        // One key below the path, a dotted path for the path itself.
        if !keys_ok || (f != "path" && key.contains('.')) {
            return Err(Error::invalid(
                field(&format!("serviceAccount.{f}")),
                key,
                if f == "path" {
                    "must be a dotted path of non-empty chart keys (e.g. `serviceAccount` or `rbac.serviceAccount`)"
                } else {
                    "must be one non-empty chart key without `.`"
                },
            ));
        }
    }
    for (i, f) in h.free_form_maps.iter().enumerate() {
        if !f.split('.').all(|k| !k.is_empty() && plain(k)) {
            return Err(Error::invalid(
                field(&format!("freeFormMaps[{i}]")),
                f,
                "must be a dotted path of non-empty chart keys",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CA: &str = "reference/charts/cluster-autoscaler/values.yaml";

    fn ca() -> ChartValues {
        ChartValues::new(CA, embedded(CA).unwrap(), vec!["extraArgs".into()])
    }

    fn helm(repository: &str) -> PresetHelm {
        serde_json::from_value(json!({
            "chart": "demo",
            "repository": repository,
            "version": "1.2.3",
            "valuesReference": "reference/charts/demo/values.yaml",
            "serviceAccount": {"path": "serviceAccount"},
            "valuesTemplate": "helm/demo-values-body.yaml",
        }))
        .unwrap()
    }

    #[test]
    fn chart_keys() {
        let c = ca();
        let ok = json!({"rbac":{"serviceAccount":{"name":"x","annotations":{"a":"b"}}},"awsRegion":"r"});
        assert_eq!(c.unknown_key(&ok).unwrap(), None);
        assert_eq!(
            c.unknown_key(&json!({"rbac":{"serviceAcount":{}}})).unwrap(),
            Some("rbac.serviceAcount".into())
        );
    }

    /// The chart's documented options pass: extraArgs beyond the three it sets (declared
    /// free-form by the preset), and any key below the maps that are empty in values.yaml.
    #[test]
    fn free_form_maps_accept_any_key() {
        let c = ca();
        for ok in [
            json!({"extraArgs":{"expander":"least-waste","balance-similar-node-groups":true}}),
            json!({"podAnnotations":{"a":"b"},"podLabels":{"team":"x"},"nodeSelector":{"k":"v"}}),
            json!({"resources":{"limits":{"cpu":"100m"}},"affinity":{"nodeAffinity":{}}}),
            json!({"extraEnv":{"AWS_STS_REGIONAL_ENDPOINTS":"regional"}}),
            json!({"tolerations":[{"key":"k","operator":"Exists"}]}),
        ] {
            assert_eq!(c.unknown_key(&ok).unwrap(), None, "{ok}");
        }
        assert_eq!(
            c.unknown_key(&json!({"image":{"tagg":"v1"}})).unwrap(),
            Some("image.tagg".into())
        );
        assert_eq!(
            c.unknown_key(&json!({"extraArg":{"expander":"x"}})).unwrap(),
            Some("extraArg".into())
        );
        // Without the declaration, extraArgs keys that values.yaml does not list are refused.
        let strict = ChartValues::new(CA, embedded(CA).unwrap(), Vec::new());
        assert_eq!(
            strict.unknown_key(&json!({"extraArgs":{"expander":"x"}})).unwrap(),
            Some("extraArgs.expander".into())
        );
        let maps = c.free_form_maps().unwrap();
        for m in [
            "extraArgs",
            "podAnnotations",
            "podLabels",
            "nodeSelector",
            "affinity",
            "extraEnv",
            "resources",
            "rbac.serviceAccount.annotations",
        ] {
            assert!(maps.contains(&m.to_string()), "{m} in {maps:?}");
        }
        assert!(!maps.contains(&"image".to_string()));
    }

    #[test]
    fn a_broken_reference_is_an_error_naming_the_file() {
        for text in ["a: [", "- a\n- b\n"] {
            let e = ChartValues::new("mine/values.yaml", text, Vec::new())
                .unknown_key(&json!({}))
                .unwrap_err()
                .to_string();
            assert!(e.contains("mine/values.yaml"), "{e}");
        }
    }

    #[test]
    fn every_embedded_reference_parses() {
        let mut n = 0;
        for d in EMBEDDED.dirs() {
            if let Some(f) = d.get_file(d.path().join("values.yaml")) {
                let origin = format!("{EMBEDDED_PREFIX}{}", f.path().display());
                let v = ChartValues::new(&origin, f.contents_utf8().unwrap(), Vec::new());
                assert!(v.values().is_ok(), "{origin}: {:?}", v.values().err());
                n += 1;
            }
        }
        assert!(n >= 1);
        assert!(embedded("reference/charts/nope/values.yaml").is_none());
        assert!(embedded("presets/cluster-autoscaler.yaml").is_none());
    }

    #[test]
    fn values_at_a_dotted_path() {
        let doc = json!({"rbac":{"serviceAccount":{"name":"x"}}});
        assert_eq!(at(&doc, "rbac.serviceAccount")["name"], "x");
        assert!(at(&doc, "serviceAccount").is_null());
        assert!(at(&doc, "rbac.serviceAccount.name.deeper").is_null());
    }

    #[test]
    fn repository_alias_and_chart_reference() {
        assert_eq!(
            repository_name(&helm("https://kubernetes.github.io/autoscaler")),
            "autoscaler"
        );
        assert_eq!(
            repository_name(&helm("https://aws.github.io/eks-charts/")),
            "eks-charts"
        );
        assert_eq!(repository_name(&helm("https://charts.jetstack.io")), "jetstack");
        assert_eq!(repository_name(&helm("https://localhost")), "localhost");
        let mut h = helm("https://charts.jetstack.io");
        h.repository_name = Some("cm".into());
        assert_eq!(chart_ref(&h), "cm/demo");
        assert_eq!(
            chart_ref(&helm("oci://public.ecr.aws/karpenter/")),
            "oci://public.ecr.aws/karpenter/demo"
        );
    }

    #[test]
    fn helm_fields_are_checked() {
        assert!(check_helm("p", &helm("https://kubernetes.github.io/autoscaler")).is_ok());
        for bad in [
            "http://x.io",
            "https://",
            "ftp://x",
            "https://x.io/$(id)",
            "https://a b",
        ] {
            let e = check_helm("p", &helm(bad)).unwrap_err().to_string();
            assert!(e.contains("helm.repository"), "{bad}: {e}");
        }
        let long = format!("https://x.io/{}/r", "a".repeat(2048 - 15));
        assert_eq!(long.len(), 2048);
        assert!(check_helm("p", &helm(&long)).is_ok());
        assert!(check_helm("p", &helm(&format!("{long}a"))).is_err());

        let mut h = helm("https://x.io/r");
        for (v, ok) in [
            ("9.59.0", true),
            ("1.0.0-rc.1+b", true),
            ("", false),
            ("1 2", false),
            ("v/1", false),
        ] {
            h.version = v.into();
            assert_eq!(check_helm("p", &h).is_ok(), ok, "{v}");
        }
        h.version = "1".repeat(64);
        assert!(check_helm("p", &h).is_ok());
        h.version = "1".repeat(65);
        assert!(check_helm("p", &h).is_err());

        let mut h = helm("https://x.io/r");
        h.service_account.path = "rbac..serviceAccount".into();
        assert!(
            check_helm("p", &h)
                .unwrap_err()
                .to_string()
                .contains("serviceAccount.path")
        );
        let mut h = helm("https://x.io/r");
        h.service_account.name = "a.b".into();
        assert!(
            check_helm("p", &h)
                .unwrap_err()
                .to_string()
                .contains("serviceAccount.name")
        );
        let mut h = helm("https://x.io/r");
        h.repository_name = Some("Bad Name".into());
        assert!(check_helm("p", &h).unwrap_err().to_string().contains("repositoryName"));
        let mut h = helm("https://x.io/r");
        h.free_form_maps = vec!["a.".into()];
        assert!(check_helm("p", &h).unwrap_err().to_string().contains("freeFormMaps[0]"));
    }
}
