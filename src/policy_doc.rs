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
        for doc in [
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*"],"Resource":"*"}]}),
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity","Principal":{"Federated":"x"}}]}),
            json!({"Version":"2012-10-17","Id":"x","Statement":[{"Sid":"a","Effect":"Deny","NotAction":"s3:*","NotResource":"arn:aws:s3:::b","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}),
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","NotPrincipal":{"AWS":"x"}}]}),
        ] {
            check("p", &doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
        }
    }

    /// Each shape is refused with the rule it breaks, so a check that stops working is noticed.
    #[test]
    fn refuses_bad_shapes() {
        let st = |s: Value| json!({"Version":"2012-10-17","Statement":[s]});
        for (doc, rule) in [
            (json!([]), "must be a JSON object"),
            (
                json!({"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"}]}),
                "`Version` must be",
            ),
            (
                json!({"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"}]}),
                "`Version` must be",
            ),
            (json!({"Version":"2012-10-17","Statement":[]}), "non-empty list"),
            (json!({"Version":"2012-10-17"}), "non-empty list"),
            (
                json!({"Version":"2012-10-17","Statement":["x"]}),
                "Statement[0] must be an object",
            ),
            (
                st(json!({"Effect":"allow","Action":"a:b","Resource":"*"})),
                "Effect must be",
            ),
            (st(json!({"Action":"a:b","Resource":"*"})), "Effect must be"),
            (
                st(json!({"Effect":"Allow","Action":"DescribeThings","Resource":"*"})),
                "must look like `service:ActionName`",
            ),
            (st(json!({"Effect":"Allow","Action":"a:b"})), "needs `Resource`"),
            (
                st(json!({"Effect":"Allow","Resource":"*"})),
                "needs `Action` or `NotAction`",
            ),
            (
                st(json!({"Effect":"Allow","Actions":"a:b","Resource":"*"})),
                "unknown key `Actions`",
            ),
            (
                st(json!({"Effect":"Allow","Action":5,"Resource":"*"})),
                "must be a string or a list of strings",
            ),
            (
                st(json!({"Effect":"Allow","Action":["a:b",1],"Resource":"*"})),
                "must be a string or a list of strings",
            ),
            (
                st(json!({"Effect":"Allow","Action":"a:b","Resource":"*","Condition":"x"})),
                "Condition must be an object",
            ),
            (
                json!({"Version":"2012-10-17","Extra":1,"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"}]}),
                "unknown top-level key `Extra`",
            ),
        ] {
            let e = check("p", &doc).expect_err(&doc.to_string()).to_string();
            assert!(e.contains(rule), "{doc}: `{e}` should say `{rule}`");
            assert!(e.contains("invalid p"), "{e}");
        }
    }

    #[test]
    fn strings_reads_a_string_or_a_list_of_strings() {
        assert_eq!(strings(&json!("a")), Some(vec!["a"]));
        assert_eq!(strings(&json!(["a", "b"])), Some(vec!["a", "b"]));
        assert_eq!(strings(&json!(["a", 1])), None);
        assert_eq!(strings(&json!({"a": "b"})), None);
    }

    /// IAM accepts `Statement` as one object; it is read as a one-element list everywhere.
    #[test]
    fn a_single_statement_object_is_a_one_element_list() {
        let one = json!({"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"});
        let doc = json!({"Version":"2012-10-17","Statement": one.clone()});
        assert_eq!(statements(&doc), vec![&one]);
        check("p", &doc).unwrap();
        // The single object is checked like a list entry: a bad action in it is refused.
        let bad = json!({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"Describe","Resource":"*"}});
        let e = check("p", &bad).unwrap_err().to_string();
        assert!(e.contains("Statement[0] action `Describe`"), "{e}");
        // Any other shape has no statements (and `check` refuses it).
        for s in [json!("x"), json!(1), json!(null)] {
            let d = json!({"Version":"2012-10-17","Statement": s});
            assert!(statements(&d).is_empty());
            assert!(check("p", &d).is_err());
        }
        assert!(statements(&json!({"Version":"2012-10-17"})).is_empty());
    }

    #[test]
    fn action_names_follow_iams_service_colon_action_form() {
        for ok in [
            "*",
            "ec2:Describe*",
            "ec2:*",
            "s3:GetObject",
            "resource-groups:ListGroups",
            "ec2:DescribeInstances",
        ] {
            assert!(is_action(ok), "`{ok}` should pass");
        }
        for bad in [
            "ec2:",
            ":Describe",
            "EC2:Describe",
            "ec2:Describe X",
            "ec2 :Describe",
            " ec2:Describe",
            "ec*:Describe",
            "*:Describe",
            "ec2",
            "",
            "**",
            "ec2:Describe-Instances",
            "ec2:Describe:Instances",
        ] {
            assert!(!is_action(bad), "`{bad}` should be refused");
        }
        // And `check` uses it, for a string and for a list.
        for action in [json!("ec2:"), json!(["ec2:Describe*", "EC2:Describe X"])] {
            let d = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":action,"Resource":"*"}]});
            assert!(check("p", &d).is_err(), "{d}");
        }
    }

    /// A policy document whose compact JSON is exactly `n` characters.
    fn doc_of_length(n: usize) -> Value {
        let base =
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":""}]});
        let pad = n - iam_length(&base);
        let d = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"r".repeat(pad)}]});
        assert_eq!(iam_length(&d), n);
        d
    }

    #[test]
    fn size_limits_at_the_boundary() {
        assert_eq!(MANAGED_POLICY_LIMIT, 6_144);
        assert_eq!(TRUST_POLICY_LIMIT, 2_048);
        for limit in [MANAGED_POLICY_LIMIT, TRUST_POLICY_LIMIT] {
            assert_eq!(size_problem(&doc_of_length(limit), limit, "policy"), None);
            let msg = size_problem(&doc_of_length(limit + 1), limit, "policy").unwrap();
            assert_eq!(
                msg,
                format!(
                    "policy is {} characters without whitespace, over IAM's limit of {limit}",
                    limit + 1
                )
            );
        }
        // Whitespace outside strings does not count; characters (not bytes) do.
        let pretty = serde_json::to_string_pretty(&doc_of_length(100)).unwrap();
        assert_eq!(iam_length(&serde_json::from_str(&pretty).unwrap()), 100);
        assert_eq!(iam_length(&json!("é")), 3);
    }

    #[test]
    fn compact_is_one_line_without_whitespace() {
        assert_eq!(compact(&json!({"a": [1, 2]})), r#"{"a":[1,2]}"#);
    }

    #[test]
    fn rewrites_partition() {
        let d = json!({"Resource":["arn:aws:ec2:*:*:volume/*","*"]});
        assert_eq!(
            with_partition(&d, Partition::AwsCn),
            json!({"Resource":["arn:aws-cn:ec2:*:*:volume/*","*"]})
        );
        assert_eq!(with_partition(&d, Partition::Aws), d);
        // Only a leading `arn:aws:` changes; other strings, numbers and keys stay.
        let other = json!({"arn:aws:k": ["x arn:aws:y", 1, true, "arn:aws-cn:z"]});
        assert_eq!(with_partition(&other, Partition::AwsUsGov), other);
        assert_eq!(
            with_partition(&json!("arn:aws:iam::1:role/r"), Partition::AwsUsGov),
            json!("arn:aws-us-gov:iam::1:role/r")
        );
    }
}
