//! IAM policy documents: a structural check (the local AWS emulator and even eksctl accept
//! misspelled shapes, so irsagen checks them itself), the partition rewrite and IAM's size rule.

use crate::error::{Error, Result};
use crate::partition::Partition;
use serde_json::Value;

/// IAM's limit for a customer-managed policy document, counted without whitespace.
pub const MANAGED_POLICY_LIMIT: usize = 6_144;
/// IAM's default limit for a role trust policy, counted without whitespace.
pub const TRUST_POLICY_LIMIT: usize = 2_048;

/// Checks that `doc` has the shape of an IAM policy: `Version` 2012-10-17, a non-empty
/// `Statement` whose entries have `Effect` Allow/Deny, `service:Action` names and a resource
/// (or principal, for trust policies).
pub fn check(field: &str, doc: &Value) -> Result<()> {
    let bad = |rule: String| Err(Error::invalid(field, compact(doc), rule));
    let Some(obj) = doc.as_object() else {
        return bad("must be a JSON object".into());
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["Version", "Id", "Statement"].contains(&k.as_str()))
    {
        return bad(format!("unknown top-level key `{k}`"));
    }
    if obj.get("Version").and_then(Value::as_str) != Some("2012-10-17") {
        return bad("`Version` must be \"2012-10-17\"".into());
    }
    let statements = statements(doc);
    if statements.is_empty() {
        return bad("`Statement` must be a non-empty list of statements".into());
    }
    for (i, s) in statements.iter().enumerate() {
        let Some(s) = s.as_object() else {
            return bad(format!("Statement[{i}] must be an object"));
        };
        const KNOWN: [&str; 9] = [
            "Sid",
            "Effect",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Principal",
            "NotPrincipal",
            "Condition",
        ];
        if let Some(k) = s.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return bad(format!("Statement[{i}] has unknown key `{k}`"));
        }
        match s.get("Effect").and_then(Value::as_str) {
            Some("Allow" | "Deny") => {}
            _ => return bad(format!("Statement[{i}].Effect must be \"Allow\" or \"Deny\"")),
        }
        let actions = s.get("Action").or_else(|| s.get("NotAction"));
        let Some(actions) = actions else {
            return bad(format!("Statement[{i}] needs `Action` or `NotAction`"));
        };
        for a in strings(actions).ok_or_else(|| {
            Error::invalid(
                field,
                compact(doc),
                format!("Statement[{i}].Action must be a string or a list of strings"),
            )
        })? {
            if !is_action(a) {
                return bad(format!(
                    "Statement[{i}] action `{a}` must look like `service:ActionName` (or `*`)"
                ));
            }
        }
        let has_target = ["Resource", "NotResource", "Principal", "NotPrincipal"]
            .iter()
            .any(|k| s.contains_key(*k));
        if !has_target {
            return bad(format!(
                "Statement[{i}] needs `Resource` (or `Principal` in a trust policy)"
            ));
        }
        if let Some(c) = s.get("Condition") {
            if !c.is_object() {
                return bad(format!("Statement[{i}].Condition must be an object"));
            }
        }
    }
    Ok(())
}

/// The statements of a policy: `Statement` as a list, or the one statement object; empty for
/// any other shape.
pub fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    }
}

/// A string or a list of strings (IAM allows both for Action, Resource, condition values);
/// `None` for any other shape.
pub fn strings(v: &Value) -> Option<Vec<&str>> {
    match v {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(a) => a.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// `*`, or `service:Action` with a lowercase service prefix and an action of letters, digits and `*`.
fn is_action(a: &str) -> bool {
    if a == "*" {
        return true;
    }
    let Some((svc, name)) = a.split_once(':') else {
        return false;
    };
    !svc.is_empty()
        && svc
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'*')
}

/// Rewrites every `arn:aws:` string prefix to the target partition, so one preset serves all.
pub fn with_partition(doc: &Value, partition: Partition) -> Value {
    match doc {
        Value::String(s) if partition != Partition::Aws => match s.strip_prefix("arn:aws:") {
            Some(rest) => Value::String(format!("arn:{partition}:{rest}")),
            None => doc.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(|v| with_partition(v, partition)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), with_partition(v, partition)))
                .collect(),
        ),
        _ => doc.clone(),
    }
}

/// Length IAM counts against its quotas: the document with all whitespace outside strings
/// removed. Compact serde_json output is exactly that.
pub fn iam_length(doc: &Value) -> usize {
    compact(doc).chars().count()
}

/// `Some(message)` when `doc` is longer than `limit` characters as IAM counts them;
/// `what` names the kind of document ("managed policy", "trust policy").
pub fn size_problem(doc: &Value, limit: usize, what: &str) -> Option<String> {
    let n = iam_length(doc);
    (n > limit).then(|| format!("{what} is {n} characters without whitespace, over IAM's limit of {limit}"))
}

/// The document as one line of JSON.
pub fn compact(doc: &Value) -> String {
    serde_json::to_string(doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_a_policy_and_a_trust_policy() {
        check(
            "p",
            &json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*"],"Resource":"*"}]}),
        )
        .unwrap();
        check("t", &json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity","Principal":{"Federated":"x"}}]})).unwrap();
    }

    #[test]
    fn refuses_bad_shapes() {
        for doc in [
            json!([]),
            json!({"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"}]}),
            json!({"Version":"2012-10-17","Statement":[]}),
            json!({"Version":"2012-10-17","Statement":[{"Effect":"allow","Action":"a:b","Resource":"*"}]}),
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"DescribeThings","Resource":"*"}]}),
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"a:b"}]}),
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Actions":"a:b","Resource":"*"}]}),
            json!({"Version":"2012-10-17","Extra":1,"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"}]}),
        ] {
            assert!(check("p", &doc).is_err(), "{doc}");
        }
    }

    #[test]
    fn rewrites_partition() {
        let d = json!({"Resource":["arn:aws:ec2:*:*:volume/*","*"]});
        assert_eq!(
            with_partition(&d, Partition::AwsCn),
            json!({"Resource":["arn:aws-cn:ec2:*:*:volume/*","*"]})
        );
        assert_eq!(with_partition(&d, Partition::Aws), d);
    }
}
