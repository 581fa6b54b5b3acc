//! A preset's narrowing rules (`policy.narrow[]` of the preset file format, issue 9): an optional
//! parameter that, when set, replaces a wide `Resource` of the upstream document. When it is not
//! set the wide resource stays in the rendered policy, and lint names the parameter.
//!
//! Read from the preset file's YAML directly (only `policy.narrow` and `parameters`), so lint does
//! not depend on the rest of the preset schema: a preset without narrowing rules gives none.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// One narrowing rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NarrowRule {
    /// The preset parameter that narrows (`hostedZoneIds`).
    pub parameter: String,
    /// The Resource element of the upstream document it replaces (`arn:aws:route53:::hostedzone/*`).
    pub resource: String,
    /// What it becomes (`arn:aws:route53:::hostedzone/{hostedZoneIds}`).
    pub to: String,
    /// Only statements with one of these Sids (all statements when absent).
    #[serde(default)]
    pub sids: Option<Vec<String>>,
}

/// A preset's narrowing rules and what lint says about their parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    /// The rules, in file order.
    pub rules: Vec<NarrowRule>,
    /// Per parameter, its `example` (for the `--set PRESET.PARAM=EXAMPLE` hint), when given.
    pub examples: BTreeMap<String, String>,
    /// The parameters of `type: list` (they take comma-separated values).
    pub lists: Vec<String>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    policy: Option<Policy>,
    #[serde(default)]
    parameters: BTreeMap<String, Parameter>,
}

#[derive(Deserialize)]
struct Policy {
    #[serde(default)]
    narrow: Vec<NarrowRule>,
}

#[derive(Deserialize)]
struct Parameter {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    example: Option<serde_json::Value>,
}

impl Narrowing {
    /// The narrowing rules of the preset file `text` (named `origin` in errors). A rule whose
    /// parameter the file does not declare is refused, as the engine refuses it.
    pub fn from_preset_yaml(origin: &str, text: &str) -> Result<Narrowing> {
        let file: File = crate::yaml::parse(origin, text)?;
        let rules = file.policy.map(|p| p.narrow).unwrap_or_default();
        for (i, r) in rules.iter().enumerate() {
            if !file.parameters.contains_key(&r.parameter) {
                return Err(Error::invalid(
                    format!("{origin}: policy.narrow[{i}].parameter"),
                    &r.parameter,
                    "must name a parameter the preset declares under `parameters:`",
                ));
            }
            if r.resource.is_empty() {
                return Err(Error::invalid(
                    format!("{origin}: policy.narrow[{i}].resource"),
                    "",
                    "must be the Resource text of the upstream document to replace",
                ));
            }
        }
        let examples = file
            .parameters
            .iter()
            .filter_map(|(name, p)| {
                let example = match p.example.as_ref()? {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Array(a) => a
                        .iter()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                Some((name.clone(), example))
            })
            .collect();
        let lists = file
            .parameters
            .iter()
            .filter(|(_, p)| p.kind.as_deref() == Some("list"))
            .map(|(n, _)| n.clone())
            .collect();
        Ok(Narrowing { rules, examples, lists })
    }

    /// `--set PRESET.PARAM=EXAMPLE` for `param` (`VALUE` when the preset gives no example;
    /// `VALUE[,VALUE…]` for a list without one).
    pub fn set_hint(&self, preset: &str, param: &str) -> String {
        let value = match self.examples.get(param) {
            Some(e) => e.clone(),
            None if self.lists.iter().any(|l| l == param) => "VALUE[,VALUE…]".into(),
            None => "VALUE".into(),
        };
        format!("--set {preset}.{param}={value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = r#"
name: external-dns
description: fixture
serviceAccount: {namespace: external-dns, name: external-dns}
parameters:
  hostedZoneIds:
    type: list
    format: route53-hosted-zone-id
    example: Z0123456789ABCDEFGHIJ
  other:
    type: string
policy:
  name: P
  documentFile: policies/external-dns.json
  narrow:
    - parameter: hostedZoneIds
      resource: "arn:aws:route53:::hostedzone/*"
      to: "arn:aws:route53:::hostedzone/{hostedZoneIds}"
    - parameter: other
      resource: "*"
      to: "arn:aws:kms:*:*:key/{other}"
      sids: [Kms]
"#;

    #[test]
    fn reads_the_rules_and_the_parameters_examples() {
        let n = Narrowing::from_preset_yaml("f.yaml", FIXTURE).unwrap();
        assert_eq!(n.rules.len(), 2);
        assert_eq!(n.rules[0].parameter, "hostedZoneIds");
        assert_eq!(n.rules[0].sids, None);
        assert_eq!(n.rules[1].sids, Some(vec!["Kms".to_string()]));
        assert_eq!(
            n.set_hint("external-dns", "hostedZoneIds"),
            "--set external-dns.hostedZoneIds=Z0123456789ABCDEFGHIJ"
        );
        assert_eq!(n.set_hint("external-dns", "other"), "--set external-dns.other=VALUE");
        let no_example = Narrowing {
            lists: vec!["zones".into()],
            ..Narrowing::default()
        };
        assert_eq!(no_example.set_hint("p", "zones"), "--set p.zones=VALUE[,VALUE…]");
    }

    /// The guide's presets have no `narrow`, so no rules (EBS's one parameter only extends).
    #[test]
    fn a_preset_without_narrow_rules_gives_none() {
        for (name, text) in [
            (
                "cluster-autoscaler",
                include_str!("../../presets/cluster-autoscaler.yaml"),
            ),
            ("ebs-csi-driver", include_str!("../../presets/ebs-csi-driver.yaml")),
            ("efs-csi-driver", include_str!("../../presets/efs-csi-driver.yaml")),
        ] {
            let n = Narrowing::from_preset_yaml(name, text).unwrap();
            assert!(n.rules.is_empty(), "{name}: {n:?}");
        }
    }

    #[test]
    fn a_rule_must_name_a_declared_parameter_and_a_resource() {
        let undeclared = FIXTURE.replace("- parameter: other", "- parameter: nope");
        let e = Narrowing::from_preset_yaml("f.yaml", &undeclared)
            .unwrap_err()
            .to_string();
        assert!(e.contains("policy.narrow[1].parameter") && e.contains("nope"), "{e}");
        let empty = FIXTURE.replace(r#"resource: "*""#, r#"resource: """#);
        let e = Narrowing::from_preset_yaml("f.yaml", &empty).unwrap_err().to_string();
        assert!(e.contains("policy.narrow[1].resource"), "{e}");
        let typo = FIXTURE.replace("sids:", "sid:");
        let e = Narrowing::from_preset_yaml("f.yaml", &typo).unwrap_err().to_string();
        assert!(e.contains("sid"), "{e}");
    }
}
