//! What `irsagen presets` prints about the catalogue: the list, the README's table (`presets
//! --markdown`), and `presets diff NAME FROM TO` between two controller versions' documents.

use crate::error::{Error, Result};
use crate::preset::{Catalog, LoadedPreset, PolicyKind, Preset};

/// Mechanisms in short: `irsa`, `irsa, pod-identity >= v1.2.0`, or `irsa (pod-identity not
/// declared)` for a preset without `mechanisms`.
pub fn mechanisms_short(p: &Preset) -> String {
    let Some(m) = &p.mechanisms else {
        return "irsa (not declared: IRSA only)".to_string();
    };
    let mut out = Vec::new();
    if m.irsa.is_some() {
        out.push("irsa".to_string());
    }
    if let Some(pi) = &m.pod_identity {
        out.push(format!("pod-identity >= {}", pi.min_version));
    }
    out.join(", ")
}

/// `v1.0.0, v1.5.0 (default)`, or `-` for a preset with one document.
pub fn versions_short(p: &LoadedPreset) -> String {
    if p.versions.is_empty() {
        return "-".to_string();
    }
    let n = p.versions.len();
    p.versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if i + 1 == n {
                format!("{} (default)", v.from)
            } else {
                v.from.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `bucketNames (required), hostedZoneIds`, or `-`.
pub fn parameters_short(p: &Preset) -> String {
    if p.parameters.is_empty() {
        return "-".to_string();
    }
    p.parameters
        .iter()
        .map(|(n, d)| {
            if d.required {
                format!("{n} (required)")
            } else {
                n.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `document`, `document (default), aws-managed` or `aws-managed`.
pub fn policy_short(p: &LoadedPreset) -> String {
    let default = p.preset.policy.default.unwrap_or_default();
    let mut out = Vec::new();
    for (kind, available) in [
        (PolicyKind::Document, p.default_document().is_some()),
        (PolicyKind::AwsManaged, p.preset.policy.aws_managed.is_some()),
    ] {
        if available {
            out.push(kind.as_str().to_string());
        }
    }
    if out.len() > 1 {
        out = out
            .into_iter()
            .map(|k| {
                if k == default.as_str() {
                    format!("{k} (default)")
                } else {
                    k
                }
            })
            .collect();
    }
    out.join(", ")
}

/// How the component itself is installed: `chart <name>`, `addon <name>`, `kustomize`.
pub fn install_short(p: &Preset) -> String {
    let mut out = Vec::new();
    if let Some(h) = &p.helm {
        out.push(format!("chart {}", h.chart));
    }
    if let Some(a) = &p.addon {
        out.push(format!("addon {}", a.name));
    }
    if let Some(i) = &p.install {
        out.push("kustomize".to_string());
        if let Some(a) = &i.addon {
            out.push(format!("or addon {a}"));
        }
    }
    if out.is_empty() {
        "-".to_string()
    } else {
        out.join(", ")
    }
}

/// `irsagen presets`: each preset on one line, then its mechanisms, versions, parameters and
/// policy choices on a second.
pub fn list(catalog: &Catalog) -> String {
    let mut out = String::new();
    for p in catalog.iter() {
        let sa = &p.preset.service_account;
        out.push_str(&format!(
            "{:<20} {}/{:<24} {}\n",
            p.preset.name, sa.namespace, sa.name, p.preset.description
        ));
        out.push_str(&format!(
            "{:<20} mechanisms: {}; versions: {}; parameters: {}; policy: {}\n",
            "",
            mechanisms_short(&p.preset),
            versions_short(p),
            parameters_short(&p.preset),
            policy_short(p)
        ));
    }
    out
}

/// Start and end markers of the table in README.md.
pub const TABLE_START: &str = "<!-- presets-table:start -->";
/// See [`TABLE_START`].
pub const TABLE_END: &str = "<!-- presets-table:end -->";

/// The README's catalogue table (Markdown), from the catalogue.
pub fn markdown_table(catalog: &Catalog) -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = String::from(
        "| preset | namespace/ServiceAccount | install | mechanisms | versions | parameters | policy |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for p in catalog.iter() {
        let sa = &p.preset.service_account;
        out.push_str(&format!(
            "| `{}` | `{}/{}` | {} | {} | {} | {} | {} |\n",
            p.preset.name,
            sa.namespace,
            sa.name,
            cell(&install_short(&p.preset)),
            cell(&mechanisms_short(&p.preset)),
            cell(&versions_short(p)),
            cell(&parameters_short(&p.preset)),
            cell(&policy_short(p)),
        ));
    }
    out
}

/// The text between the table markers of `readme`, or `None` when the markers are missing.
pub fn table_in(readme: &str) -> Option<&str> {
    let start = readme.find(TABLE_START)? + TABLE_START.len();
    let end = start + readme[start..].find(TABLE_END)?;
    Some(readme[start..end].trim_start_matches('\n'))
}

/// `irsagen presets diff NAME FROM TO`: the unified diff of the documents of controller versions
/// `from` and `to` (each picks its entry as `--set PRESET.version=` does), as upstream wrote
/// them (pretty JSON, before parameters), then the added and removed action names.
pub fn diff(catalog: &Catalog, name: &str, from: &str, to: &str) -> Result<String> {
    let p = catalog.get(name)?;
    if p.versions.is_empty() {
        return Err(Error::invalid(
            "presets diff NAME",
            name,
            "has one policy document for every controller version (no `policy.versions`); there is nothing to compare",
        ));
    }
    let pick = |v: &str, field: &str| -> Result<&crate::preset::LoadedVersion> {
        crate::preset_policy::pick_version_for(p, Some(v), field)?
            .map(|(v, _)| v)
            .ok_or_else(|| Error::invalid(field, v, "names no version"))
    };
    let (a, b) = (pick(from, "presets diff FROM")?, pick(to, "presets diff TO")?);
    let pretty = |d: &serde_json::Value| format!("{}\n", serde_json::to_string_pretty(d).unwrap_or_default());
    let (old, new) = (pretty(&a.document), pretty(&b.document));
    let file = |v: &crate::preset::LoadedVersion| {
        p.preset
            .policy
            .versions
            .iter()
            .find(|d| d.from == v.from)
            .map_or_else(String::new, |d| d.document_file.clone())
    };
    let mut out = format!(
        "{name} {from} uses the policy of {} ({}); {to} uses {} ({})\n",
        a.from,
        file(a),
        b.from,
        file(b)
    );
    if a.from == b.from {
        out.push_str("same document: no change\n");
        return Ok(out);
    }
    out.push_str(
        &similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header(&format!("{name} {}", a.from), &format!("{name} {}", b.from))
            .to_string(),
    );
    let (added, removed) = crate::preset_policy::action_changes(&a.document, &b.document);
    let line = |label: &str, v: &[String]| {
        format!(
            "{label} {}\n",
            if v.is_empty() { "none".to_string() } else { v.join(", ") }
        )
    };
    out.push_str(&line("added actions:", &added));
    out.push_str(&line("removed actions:", &removed));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_in_reads_between_the_markers() {
        let readme = format!("a\n{TABLE_START}\n| x |\n{TABLE_END}\nb");
        assert_eq!(table_in(&readme), Some("| x |\n"));
        assert_eq!(table_in("no markers"), None);
        assert_eq!(table_in(&format!("{TABLE_START} only the start")), None);
    }

    #[test]
    fn the_guide_presets_are_in_the_table() {
        let t = markdown_table(&Catalog::embedded().unwrap());
        assert!(t.starts_with("| preset | namespace/ServiceAccount | install |"), "{t}");
        assert!(
            t.contains("| `ebs-csi-driver` | `kube-system/ebs-csi-controller-sa` | addon aws-ebs-csi-driver |"),
            "{t}"
        );
    }
}
