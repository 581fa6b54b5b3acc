//! A preset's policy made concrete for one component: which document (by controller version),
//! or the AWS managed policies instead, with `substitute` and `narrow` applied. The partition
//! rewrite and the size and shape checks follow in `component` and `bundle_check`, as for every
//! document.

use crate::error::{Error, Result};
use crate::parameters::{self, ParamValue};
use crate::preset::{LoadedPreset, PolicyKind, PolicyNarrow, PolicySource};
use serde_json::Value;
use std::collections::BTreeMap;

/// A controller version as compared: major, minor, patch.
pub type Version = (u64, u64, u64);

/// `vMAJOR.MINOR.PATCH` or `MAJOR.MINOR.PATCH`, each part digits without a sign.
pub fn parse_version(s: &str) -> Option<Version> {
    let rest = s.strip_prefix('v').unwrap_or(s);
    let mut parts = rest.split('.');
    let mut num = || {
        parts
            .next()
            .filter(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u64>().ok())
    };
    let v = (num()?, num()?, num()?);
    parts.next().is_none().then_some(v)
}

/// The placeholders a template may use besides the preset's parameters.
pub const BUILTINS: [&str; 4] = ["partition", "region", "account", "cluster"];

/// The `{name}` placeholders of `template`, in order (a `{` not followed by a name and `}` is
/// literal text, so IAM's own `${aws:username}` passes through).
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        rest = &rest[i + 1..];
        if let Some(j) = rest.find('}') {
            let name = &rest[..j];
            if parameters::is_param_name(name) {
                out.push(name);
                rest = &rest[j + 1..];
            }
        }
    }
    out
}

/// Whether `doc` has `resource` as a `Resource` element, in a statement whose `Sid` is in `sids`
/// when `sids` is not empty.
pub fn has_resource(doc: &Value, resource: &str, sids: &[String]) -> bool {
    crate::policy_doc::statements(doc).iter().any(|s| {
        in_scope(s, sids)
            && s.get("Resource")
                .and_then(crate::policy_doc::strings)
                .is_some_and(|r| r.contains(&resource))
    })
}

fn in_scope(statement: &Value, sids: &[String]) -> bool {
    sids.is_empty()
        || statement
            .get("Sid")
            .and_then(Value::as_str)
            .is_some_and(|sid| sids.iter().any(|s| s == sid))
}

/// What a template's placeholders stand for in one component.
pub struct Vars<'a> {
    /// Preset name, for messages.
    pub preset: &'a str,
    /// The cluster's partition, region, account and name.
    pub partition: &'a str,
    /// Region.
    pub region: &'a str,
    /// Account id.
    pub account: &'a str,
    /// Cluster name.
    pub cluster: &'a str,
    /// The resolved parameters ([`parameters::resolve`]).
    pub params: &'a BTreeMap<String, ParamValue>,
    /// The parameters as declared, for the missing-parameter message.
    pub declared: &'a BTreeMap<String, parameters::PresetParameter>,
}

impl Vars<'_> {
    /// `template` with every placeholder replaced: one string per combination of values (a list
    /// parameter gives one string per value). An unset parameter is an error naming it.
    pub fn expand(&self, template: &str) -> Result<Vec<String>> {
        let mut out = vec![String::new()];
        let mut rest = template;
        while let Some(i) = rest.find('{') {
            let literal = &rest[..i];
            out.iter_mut().for_each(|o| o.push_str(literal));
            let after = &rest[i + 1..];
            let Some(j) = after.find('}').filter(|j| parameters::is_param_name(&after[..*j])) else {
                out.iter_mut().for_each(|o| o.push('{'));
                rest = after;
                continue;
            };
            let name = &after[..j];
            let values: Vec<&str> = match name {
                "partition" => vec![self.partition],
                "region" => vec![self.region],
                "account" => vec![self.account],
                "cluster" => vec![self.cluster],
                _ => match self.params.get(name) {
                    Some(v) => parameters::values(v),
                    None => {
                        return Err(match self.declared.get(name) {
                            Some(decl) => parameters::missing(self.preset, name, decl),
                            None => Error::invalid(
                                format!("presets.{}.policy", self.preset),
                                template,
                                format!("uses `{{{name}}}`, which the preset does not declare"),
                            ),
                        });
                    }
                },
            };
            out = out
                .iter()
                .flat_map(|o| values.iter().map(move |v| format!("{o}{v}")))
                .collect();
            rest = &after[j + 1..];
        }
        out.iter_mut().for_each(|o| o.push_str(rest));
        Ok(out)
    }
}

/// `doc` with every `substitute` key replaced in its strings (keys of objects included, where a
/// replacement must be one string): a string that expands to several is spliced into the array
/// that holds it, and a lone string becomes an array. Only substitutions whose key occurs are
/// expanded, so an unset parameter matters only where its document needs it.
pub fn substitute(doc: &Value, subs: &BTreeMap<String, String>, vars: &Vars<'_>) -> Result<Value> {
    if subs.is_empty() {
        return Ok(doc.clone());
    }
    let one = |s: &str| -> Result<Vec<String>> {
        let mut out = vec![s.to_string()];
        for (from, to) in subs {
            if !out.iter().any(|o| o.contains(from.as_str())) {
                continue;
            }
            let values = vars.expand(to)?;
            out = out
                .iter()
                .flat_map(|o| {
                    if o.contains(from.as_str()) {
                        values.iter().map(|v| o.replace(from.as_str(), v)).collect()
                    } else {
                        vec![o.clone()]
                    }
                })
                .collect();
        }
        Ok(out)
    };
    fn walk(v: &Value, one: &dyn Fn(&str) -> Result<Vec<String>>, preset: &str) -> Result<Value> {
        Ok(match v {
            Value::String(s) => {
                let mut out = one(s)?;
                if out.len() == 1 {
                    Value::String(out.remove(0))
                } else {
                    Value::Array(out.into_iter().map(Value::String).collect())
                }
            }
            Value::Array(a) => {
                let mut items = Vec::new();
                for item in a {
                    match item {
                        Value::String(s) => items.extend(one(s)?.into_iter().map(Value::String)),
                        other => items.push(walk(other, one, preset)?),
                    }
                }
                Value::Array(items)
            }
            Value::Object(o) => {
                let mut out = serde_json::Map::new();
                for (k, v) in o {
                    let mut keys = one(k)?;
                    if keys.len() != 1 {
                        return Err(Error::invalid(
                            format!("presets.{preset}.policy.substitute"),
                            k,
                            "is a JSON key of the document; a list parameter cannot expand it (one key, one value)",
                        ));
                    }
                    out.insert(keys.remove(0), walk(v, one, preset)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
    walk(doc, &one, vars.preset)
}

/// `doc` with the narrowings whose parameter is set applied: each `Resource` element equal to
/// `resource` (in the statements `sids` names, or all) replaced by the expansion of `to`.
pub fn narrow(doc: &Value, narrows: &[PolicyNarrow], vars: &Vars<'_>) -> Result<Value> {
    let mut doc = doc.clone();
    for n in narrows.iter().filter(|n| vars.params.contains_key(&n.parameter)) {
        let to = vars.expand(&n.to)?;
        let mut each = |s: &mut Value| {
            if !in_scope(s, &n.sids) {
                return;
            }
            let Some(r) = s.get_mut("Resource") else { return };
            let replace = |e: &str| -> Vec<Value> {
                if e == n.resource {
                    to.iter().cloned().map(Value::String).collect()
                } else {
                    vec![Value::String(e.to_string())]
                }
            };
            *r = match &*r {
                Value::String(e) => {
                    let mut v = replace(e);
                    if v.len() == 1 { v.remove(0) } else { Value::Array(v) }
                }
                Value::Array(a) => Value::Array(
                    a.iter()
                        .flat_map(|e| match e.as_str() {
                            Some(e) => replace(e),
                            None => vec![e.clone()],
                        })
                        .collect(),
                ),
                other => other.clone(),
            };
        };
        match doc.get_mut("Statement") {
            Some(Value::Array(a)) => a.iter_mut().for_each(&mut each),
            Some(s @ Value::Object(_)) => each(s),
            _ => {}
        }
    }
    Ok(doc)
}

/// The document of controller version `requested` (the entry with the largest `from` not after
/// it), or the newest when none is asked for; `None` when the preset has no `versions`.
pub fn pick_version<'a>(
    loaded: &'a LoadedPreset,
    requested: Option<&str>,
) -> Result<Option<(&'a crate::preset::LoadedVersion, &'a PolicySource)>> {
    pick_version_for(loaded, requested, &format!("presets.{}.version", loaded.preset.name))
}

/// [`pick_version`], with `field` naming where the version came from in errors.
pub fn pick_version_for<'a>(
    loaded: &'a LoadedPreset,
    requested: Option<&str>,
    field: &str,
) -> Result<Option<(&'a crate::preset::LoadedVersion, &'a PolicySource)>> {
    let p = &loaded.preset;
    if loaded.versions.is_empty() {
        return match requested {
            None => Ok(None),
            Some(v) => Err(Error::invalid(
                field,
                v,
                "this preset has one policy document for every controller version; leave `version` out",
            )),
        };
    }
    let index = match requested {
        None => loaded.versions.len() - 1,
        Some(r) => {
            let Some(want) = parse_version(r) else {
                return Err(Error::invalid(
                    field,
                    r,
                    "must be a version `vMAJOR.MINOR.PATCH` (the `v` is optional), e.g. `v2.9.0`",
                ));
            };
            match loaded.versions.iter().rposition(|v| v.parsed <= want) {
                Some(i) => i,
                None => {
                    return Err(Error::invalid(
                        field,
                        r,
                        format!(
                            "is older than the oldest version preset `{}` has a policy for, {}; use {} or newer",
                            p.name, loaded.versions[0].from, loaded.versions[0].from
                        ),
                    ));
                }
            }
        }
    };
    Ok(Some((&loaded.versions[index], &p.policy.versions[index].source)))
}

/// Which kind of policy a component gets: the override, else the preset's `default`.
pub fn kind(loaded: &LoadedPreset, requested: Option<PolicyKind>) -> Result<PolicyKind> {
    let p = &loaded.preset;
    let kind = requested.or(p.policy.default).unwrap_or_default();
    let field = format!("presets.{}.policy", p.name);
    match kind {
        PolicyKind::AwsManaged if p.policy.aws_managed.is_none() => Err(Error::invalid(
            field,
            kind.as_str(),
            format!(
                "preset `{}` has no AWS managed policy to attach; use `document`",
                p.name
            ),
        )),
        PolicyKind::Document if loaded.default_document().is_none() => Err(Error::invalid(
            field,
            kind.as_str(),
            format!(
                "preset `{}` has no policy document of its own, only AWS managed policies; use `aws-managed`",
                p.name
            ),
        )),
        k => Ok(k),
    }
}

/// The AWS managed policy ARNs of a preset in `partition`.
pub fn aws_managed_arns(loaded: &LoadedPreset, partition: &str) -> Vec<String> {
    loaded
        .preset
        .policy
        .aws_managed
        .iter()
        .flat_map(|m| m.arns.iter().map(|a| format!("arn:{partition}:iam::aws:{a}")))
        .collect()
}

/// The document with the preset's `substitute` then `narrow` applied, then the statements of
/// each `extend` whose parameter is set appended (after their own `substitute`).
pub fn render(doc: &Value, loaded: &LoadedPreset, vars: &Vars<'_>) -> Result<Value> {
    let pol = &loaded.preset.policy;
    let doc = substitute(doc, &pol.substitute, vars)?;
    let mut doc = narrow(&doc, &pol.narrow, vars)?;
    for (x, xdoc) in pol.extend.iter().zip(&loaded.extensions) {
        if vars.params.contains_key(&x.parameter) {
            let added = substitute(xdoc, &x.substitute, vars)?;
            append_statements(&mut doc, &added);
        }
    }
    Ok(doc)
}

/// One of the preset's `policy.additional` documents rendered: `substitute` and `narrow` as for
/// the main document. `extend` adds its statements to the main document only (once per role).
pub fn render_additional(doc: &Value, loaded: &LoadedPreset, vars: &Vars<'_>) -> Result<Value> {
    let pol = &loaded.preset.policy;
    let doc = substitute(doc, &pol.substitute, vars)?;
    narrow(&doc, &pol.narrow, vars)
}

/// The statements of `doc`, a one-object `Statement` read as a one-element list (legal IAM).
fn statements(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// `added`'s statements appended to `doc`'s (which becomes a list if it was one object).
fn append_statements(doc: &mut Value, added: &Value) {
    let mut all = statements(doc);
    all.extend(statements(added));
    if let Some(o) = doc.as_object_mut() {
        o.insert("Statement".to_string(), Value::Array(all));
    }
}

/// The `extend` parameters of a preset that are set: their statements go in the customer
/// managed document, so a component that attaches AWS managed policies instead cannot have them.
pub fn extensions_set<'a>(loaded: &'a LoadedPreset, params: &BTreeMap<String, ParamValue>) -> Vec<&'a str> {
    loaded
        .preset
        .policy
        .extend
        .iter()
        .filter(|x| params.contains_key(&x.parameter))
        .map(|x| x.parameter.as_str())
        .collect()
}

/// The narrowings left undone in `doc`: each whose parameter is not set and whose wide
/// `resource` is in the document, for `irsagen lint` to report with the parameter that would
/// narrow it.
pub fn unnarrowed<'a>(
    doc: &Value,
    narrows: &'a [PolicyNarrow],
    params: &BTreeMap<String, ParamValue>,
) -> Vec<&'a PolicyNarrow> {
    narrows
        .iter()
        .filter(|n| !params.contains_key(&n.parameter) && has_resource(doc, &n.resource, &n.sids))
        .collect()
}

/// Added and removed action names between two documents (`Action` entries of Allow
/// statements, as written), sorted.
pub fn action_changes(from: &Value, to: &Value) -> (Vec<String>, Vec<String>) {
    let actions = |d: &Value| -> std::collections::BTreeSet<String> {
        crate::policy_doc::statements(d)
            .iter()
            .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
            .filter_map(|s| s.get("Action").and_then(crate::policy_doc::strings))
            .flatten()
            .map(str::to_string)
            .collect()
    };
    let (a, b) = (actions(from), actions(to));
    (b.difference(&a).cloned().collect(), a.difference(&b).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parameters::{ParamFormat, ParamType, PresetParameter};
    use serde_json::json;

    #[test]
    fn versions_parse_with_or_without_v() {
        assert_eq!(parse_version("v2.9.0"), Some((2, 9, 0)));
        assert_eq!(parse_version("2.13.10"), Some((2, 13, 10)));
        for bad in [
            "v2.9", "2.9.0.1", "v2.9.x", "vv2.9.0", "V2.9.0", "2..0", "+1.2.3", "1.2.-3", "", "v",
        ] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
        // Compared as numbers: 2.10 is newer than 2.9.
        assert!(parse_version("v2.10.0") > parse_version("v2.9.9"));
    }

    #[test]
    fn placeholders_are_names_in_braces() {
        assert_eq!(
            placeholders("arn:{partition}:s3:::{bucketNames}/*"),
            vec!["partition", "bucketNames"]
        );
        assert!(placeholders("${aws:username} {} {a-b} {").is_empty());
    }

    fn declared() -> BTreeMap<String, PresetParameter> {
        BTreeMap::from([(
            "buckets".to_string(),
            PresetParameter {
                kind: ParamType::List,
                format: ParamFormat::S3BucketName,
                required: true,
                example: "my-bucket".into(),
                about: "the buckets".into(),
            },
        )])
    }

    fn with<'a>(params: &'a BTreeMap<String, ParamValue>, declared: &'a BTreeMap<String, PresetParameter>) -> Vars<'a> {
        Vars {
            preset: "p",
            partition: "aws",
            region: "us-east-1",
            account: "123456789012",
            cluster: "c1",
            params,
            declared,
        }
    }

    #[test]
    fn expands_lists_into_one_string_per_value() {
        let params = BTreeMap::from([("buckets".to_string(), ParamValue::Many(vec!["a".into(), "b".into()]))]);
        let d = declared();
        let v = with(&params, &d);
        assert_eq!(
            v.expand("arn:{partition}:s3:::{buckets}/{cluster}/*").unwrap(),
            vec!["arn:aws:s3:::a/c1/*", "arn:aws:s3:::b/c1/*"]
        );
        assert_eq!(v.expand("${aws:x} {").unwrap(), vec!["${aws:x} {"]);
        let none = BTreeMap::new();
        let e = with(&none, &d).expand("{buckets}").unwrap_err().to_string();
        assert!(e.starts_with("presets.p.parameters.buckets is required"), "{e}");
    }

    #[test]
    fn substitute_splices_lists_and_keeps_the_rest() {
        let params = BTreeMap::from([("buckets".to_string(), ParamValue::Many(vec!["a".into(), "b".into()]))]);
        let d = declared();
        let subs = BTreeMap::from([("${BUCKET}".to_string(), "{buckets}".to_string())]);
        let doc = json!({"Statement":[
            {"Resource":["arn:aws:s3:::${BUCKET}/*", "x"]},
            {"Resource":"arn:aws:s3:::${BUCKET}", "Condition":{"StringEquals":{"k/${BUCKET}x": "v"}}}
        ]});
        let only_values = json!({"Statement":[
            {"Resource":["arn:aws:s3:::${BUCKET}/*", "x"]},
            {"Resource":"arn:aws:s3:::${BUCKET}"}
        ]});
        assert_eq!(
            substitute(&only_values, &subs, &with(&params, &d)).unwrap(),
            json!({"Statement":[
                {"Resource":["arn:aws:s3:::a/*", "arn:aws:s3:::b/*", "x"]},
                {"Resource":["arn:aws:s3:::a", "arn:aws:s3:::b"]}
            ]})
        );
        // A key cannot become two keys.
        let e = substitute(&doc, &subs, &with(&params, &d)).unwrap_err().to_string();
        assert!(e.contains("a list parameter cannot expand it"), "{e}");
        // One value: a key is fine.
        let one = BTreeMap::from([("buckets".to_string(), ParamValue::Many(vec!["a".into()]))]);
        let out = substitute(&doc, &subs, &with(&one, &d)).unwrap();
        assert_eq!(out["Statement"][1]["Condition"]["StringEquals"]["k/ax"], "v");
    }

    #[test]
    fn narrow_replaces_only_the_matching_resource_in_scope() {
        let params = BTreeMap::from([("buckets".to_string(), ParamValue::Many(vec!["a".into(), "b".into()]))]);
        let d = declared();
        let n = |sids: Vec<String>| PolicyNarrow {
            parameter: "buckets".into(),
            resource: "*".into(),
            to: "arn:aws:s3:::{buckets}".into(),
            sids,
        };
        let doc = json!({"Statement":[
            {"Sid":"W","Resource":"*"},
            {"Sid":"R","Resource":["*","arn:aws:s3:::z"]}
        ]});
        assert_eq!(
            narrow(&doc, &[n(vec![])], &with(&params, &d)).unwrap(),
            json!({"Statement":[
                {"Sid":"W","Resource":["arn:aws:s3:::a","arn:aws:s3:::b"]},
                {"Sid":"R","Resource":["arn:aws:s3:::a","arn:aws:s3:::b","arn:aws:s3:::z"]}
            ]})
        );
        assert_eq!(
            narrow(&doc, &[n(vec!["W".into()])], &with(&params, &d)).unwrap()["Statement"][1],
            doc["Statement"][1]
        );
        // Unset: the document stays as upstream wrote it.
        let none = BTreeMap::new();
        assert_eq!(narrow(&doc, &[n(vec![])], &with(&none, &d)).unwrap(), doc);
    }

    #[test]
    fn unnarrowed_lists_the_wide_resources_an_unset_parameter_would_narrow() {
        let n = PolicyNarrow {
            parameter: "zones".into(),
            resource: "arn:aws:route53:::hostedzone/*".into(),
            to: "arn:aws:route53:::hostedzone/{zones}".into(),
            sids: vec![],
        };
        let doc = json!({"Statement":[{"Resource":["arn:aws:route53:::hostedzone/*"]}]});
        let narrows = [n];
        assert_eq!(unnarrowed(&doc, &narrows, &BTreeMap::new()).len(), 1);
        let set = BTreeMap::from([("zones".to_string(), ParamValue::Many(vec!["Z1".into()]))]);
        assert!(unnarrowed(&doc, &narrows, &set).is_empty());
        let other = json!({"Statement":[{"Resource":"*"}]});
        assert!(unnarrowed(&other, &narrows, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn action_changes_list_added_and_removed() {
        let a = json!({"Statement":[{"Effect":"Allow","Action":["ec2:A","ec2:B"]},{"Effect":"Deny","Action":"ec2:X"}]});
        let b = json!({"Statement":[{"Effect":"Allow","Action":"ec2:B"},{"Effect":"Allow","Action":["ec2:C"]}]});
        assert_eq!(
            action_changes(&a, &b),
            (vec!["ec2:C".to_string()], vec!["ec2:A".to_string()])
        );
    }
}
