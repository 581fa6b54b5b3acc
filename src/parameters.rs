//! Typed preset parameters: what a preset declares (`parameters:` in its file), the named formats
//! their values must have, and resolving the values a user gave (`--set PRESET.PARAM=…`, or
//! `presets.<name>.parameters` in irsagen.yaml) against those declarations.
//!
//! Values end up inside IAM policy documents (a bucket ARN, a hosted zone), so each is checked
//! against the rule of what it names before it is rendered: a typo must fail here, not as a
//! policy that grants nothing (or too much) once applied.

use crate::error::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether a parameter takes one value or a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// One value.
    String,
    /// One or more values (`--set` splits on commas; the config file takes a YAML list).
    List,
}

impl ParamType {
    /// As written in a preset.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::List => "list",
        }
    }
}

/// The named rule a parameter's values must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParamFormat {
    /// `Z` then 1-32 uppercase letters or digits.
    Route53HostedZoneId,
    /// S3 general purpose bucket naming rules.
    S3BucketName,
    /// Any ARN in the cluster's partition.
    Arn,
    /// `arn:<p>:sqs:<region>:<account>:<queue name>`.
    SqsQueueArn,
    /// `arn:<p>:kms:<region>:<account>:key/<id>` or `…:alias/<name>`.
    KmsKeyArn,
    /// IAM role name.
    IamRoleName,
    /// `arn:<p>:secretsmanager:<region>:<account>:secret:<prefix>`, may end in `*`.
    SecretsmanagerArnPrefix,
    /// `arn:<p>:ssm:<region>:<account>:parameter/<name>`, may end in `*`.
    SsmParameterArnPrefix,
    /// SQS queue name.
    SqsQueueName,
    /// A DNS-1123 label.
    Name,
    /// Any non-empty text without control characters.
    String,
}

impl ParamFormat {
    /// As written in a preset.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamFormat::Route53HostedZoneId => "route53-hosted-zone-id",
            ParamFormat::S3BucketName => "s3-bucket-name",
            ParamFormat::Arn => "arn",
            ParamFormat::SqsQueueArn => "sqs-queue-arn",
            ParamFormat::KmsKeyArn => "kms-key-arn",
            ParamFormat::IamRoleName => "iam-role-name",
            ParamFormat::SecretsmanagerArnPrefix => "secretsmanager-arn-prefix",
            ParamFormat::SsmParameterArnPrefix => "ssm-parameter-arn-prefix",
            ParamFormat::SqsQueueName => "sqs-queue-name",
            ParamFormat::Name => "name",
            ParamFormat::String => "string",
        }
    }

    /// The rule, phrased for an error message; `partition` is the cluster's.
    pub fn rule(self, partition: &str) -> String {
        match self {
            ParamFormat::Route53HostedZoneId => {
                "must be a Route 53 hosted zone id: `Z` then 1-32 uppercase letters or digits (the id, not the ARN or `/hostedzone/…`)".into()
            }
            ParamFormat::S3BucketName => "must be an S3 bucket name: 3-63 lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit, no `..`, not an IP address, not starting with `xn--`, `sthree-` or `amzn-s3-demo-` and not ending with `-s3alias`, `--ol-s3`, `.mrap`, `--x-s3` or `--table-s3` (S3 naming rules)".into(),
            ParamFormat::Arn => format!(
                "must be an ARN in the cluster's partition: `arn:{partition}:<service>:<region>:<account>:<resource>` (service lowercase letters, digits and `-`, resource non-empty, no spaces)"
            ),
            ParamFormat::SqsQueueArn => format!(
                "must be an SQS queue ARN `arn:{partition}:sqs:<region>:<12-digit account>:<queue name>` (queue name 1-80 letters, digits, `-` and `_`, optionally ending in `.fifo`)"
            ),
            ParamFormat::KmsKeyArn => format!(
                "must be a KMS key ARN `arn:{partition}:kms:<region>:<12-digit account>:key/<key id>` (a key id is a UUID or `mrk-` and 32 hex digits) or an alias ARN `…:alias/<name>` (1-256 letters, digits and `/_-`)"
            ),
            ParamFormat::IamRoleName => {
                "must be 1-64 characters of letters, digits and `_+=,.@-` (IAM role name rules)".into()
            }
            ParamFormat::SecretsmanagerArnPrefix => format!(
                "must be a Secrets Manager ARN or prefix `arn:{partition}:secretsmanager:<region>:<12-digit account>:secret:<name or prefix>` (1-512 letters, digits and `/_+=.@-`, optionally ending in `*`)"
            ),
            ParamFormat::SsmParameterArnPrefix => format!(
                "must be an SSM parameter ARN or prefix `arn:{partition}:ssm:<region>:<12-digit account>:parameter/<name or prefix>` (1-1011 letters, digits and `/_.-`, optionally ending in `*`)"
            ),
            ParamFormat::SqsQueueName => {
                "must be an SQS queue name: 1-80 letters, digits, `-` and `_`, optionally ending in `.fifo`".into()
            }
            ParamFormat::Name => {
                "must be a DNS-1123 label: at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit".into()
            }
            ParamFormat::String => "must be 1-1024 characters without control characters".into(),
        }
    }

    /// Whether `value` follows the format; `partition` is the cluster's.
    pub fn accepts(self, value: &str, partition: &str) -> bool {
        match self {
            ParamFormat::Route53HostedZoneId => value.strip_prefix('Z').is_some_and(|rest| {
                (1..=32).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            }),
            ParamFormat::S3BucketName => is_bucket_name(value),
            ParamFormat::Arn => arn_parts(value, partition).is_some_and(|a| {
                !a.service.is_empty()
                    && a.service
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !a.resource.is_empty()
            }),
            ParamFormat::SqsQueueArn => arn_parts(value, partition).is_some_and(|a| {
                a.service == "sqs" && is_region(a.region) && is_account(a.account) && is_queue_name(a.resource)
            }),
            ParamFormat::KmsKeyArn => arn_parts(value, partition).is_some_and(|a| {
                a.service == "kms"
                    && is_region(a.region)
                    && is_account(a.account)
                    && match (a.resource.strip_prefix("key/"), a.resource.strip_prefix("alias/")) {
                        (Some(id), _) => is_kms_key_id(id),
                        (_, Some(alias)) => {
                            (1..=256).contains(&alias.len())
                                && alias.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
                        }
                        _ => false,
                    }
            }),
            ParamFormat::IamRoleName => crate::rules::role_name("", value).is_ok(),
            ParamFormat::SecretsmanagerArnPrefix => arn_parts(value, partition).is_some_and(|a| {
                a.service == "secretsmanager"
                    && is_region(a.region)
                    && is_account(a.account)
                    && a.resource
                        .strip_prefix("secret:")
                        .is_some_and(|p| prefix_of(p, 512, |b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b)))
            }),
            ParamFormat::SsmParameterArnPrefix => arn_parts(value, partition).is_some_and(|a| {
                a.service == "ssm"
                    && is_region(a.region)
                    && is_account(a.account)
                    && a.resource
                        .strip_prefix("parameter/")
                        .is_some_and(|p| prefix_of(p, 1011, |b| b.is_ascii_alphanumeric() || b"/_.-".contains(&b)))
            }),
            ParamFormat::SqsQueueName => is_queue_name(value),
            ParamFormat::Name => crate::rules::namespace("", value).is_ok(),
            ParamFormat::String => (1..=1024).contains(&value.chars().count()) && !value.chars().any(char::is_control),
        }
    }
}

/// The six fields of an ARN; the resource keeps its own colons.
struct ArnParts<'a> {
    service: &'a str,
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

/// `value` split as `arn:<partition>:<service>:<region>:<account>:<resource>`, when it is an ARN
/// of `partition` without whitespace or control characters.
fn arn_parts<'a>(value: &'a str, partition: &str) -> Option<ArnParts<'a>> {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let rest = value.strip_prefix("arn:")?.strip_prefix(partition)?.strip_prefix(':')?;
    let mut it = rest.splitn(4, ':');
    Some(ArnParts {
        service: it.next()?,
        region: it.next()?,
        account: it.next()?,
        resource: it.next()?,
    })
}

/// A region code such as `us-east-1` or `us-gov-west-1`: lowercase parts joined by `-`, the
/// last a number.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// SQS queue name: 1-80 of `[A-Za-z0-9_-]`, the `.fifo` suffix counted in the 80.
fn is_queue_name(s: &str) -> bool {
    let base = s.strip_suffix(".fifo").unwrap_or(s);
    (1..=80).contains(&s.len())
        && !base.is_empty()
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A KMS key id: a lowercase UUID, or `mrk-` and 32 lowercase hex digits (multi-Region key).
fn is_kms_key_id(s: &str) -> bool {
    let hex = |p: &str| p.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if let Some(m) = s.strip_prefix("mrk-") {
        return m.len() == 32 && hex(m);
    }
    let lens: Vec<usize> = s.split('-').map(str::len).collect();
    lens == [8, 4, 4, 4, 12] && s.split('-').all(hex)
}

/// 1-`max` characters allowed by `ok`, optionally followed by one final `*` (a prefix).
fn prefix_of(p: &str, max: usize, ok: impl Fn(u8) -> bool) -> bool {
    let body = p.strip_suffix('*').unwrap_or(p);
    !body.is_empty() && p.len() <= max && body.bytes().all(ok)
}

/// S3 general purpose bucket naming rules (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
fn is_bucket_name(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !s.contains("..")
        && s.parse::<std::net::Ipv4Addr>().is_err()
        && !["xn--", "sthree-", "amzn-s3-demo-"].iter().any(|p| s.starts_with(p))
        && !["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
            .iter()
            .any(|x| s.ends_with(x))
}

/// A parameter as a preset declares it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PresetParameter {
    /// `string` or `list`.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// The named rule every value must follow.
    pub format: ParamFormat,
    /// Whether the preset cannot render without it.
    #[serde(default)]
    pub required: bool,
    /// A value that follows the format, shown in errors and `presets show`.
    pub example: String,
    /// What it narrows or names, one line.
    pub about: String,
}

/// A parameter value as given: one string (`--set`, or a scalar in the config file; a list
/// parameter splits it on commas) or a list (the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ParamValue {
    /// One value (comma-separated for a list parameter).
    One(String),
    /// A list of values.
    Many(Vec<String>),
}

/// A parameter name: a letter, then letters and digits (camelCase), at most 64; so it can be a
/// `--set` field, a template variable and a `{placeholder}`.
pub fn is_param_name(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=64).contains(&b.len()) && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
}

/// Most values one list parameter takes: each becomes a Resource element of a policy whose size
/// IAM limits anyway; past this it is surely a mistake.
pub const MAX_LIST_VALUES: usize = 100;

/// Checks `value` of parameter `name` against its declaration (`field` names where it was given).
pub fn check_value(field: &str, decl: &PresetParameter, value: &str, partition: &str) -> Result<()> {
    if decl.format.accepts(value, partition) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            value,
            format!(
                "{} ({}); for example `{}`",
                decl.format.rule(partition),
                decl.format.as_str(),
                decl.example
            ),
        ))
    }
}

/// The values of a preset's parameters for one component: each given value checked against its
/// declaration, unknown names refused, required ones present. `known_fields` (the override fields)
/// goes into the message for an unknown name, which may be a misspelt field.
pub fn resolve(
    preset: &str,
    declared: &BTreeMap<String, PresetParameter>,
    given: &BTreeMap<String, ParamValue>,
    partition: &str,
    known_fields: &str,
) -> Result<BTreeMap<String, ParamValue>> {
    let field = |n: &str| format!("presets.{preset}.parameters.{n}");
    let mut out = BTreeMap::new();
    for (name, value) in given {
        let Some(decl) = declared.get(name) else {
            let params = if declared.is_empty() {
                format!("preset `{preset}` has no parameters")
            } else {
                format!(
                    "parameters of preset `{preset}`: {}",
                    declared.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            return Err(Error::invalid(
                format!("presets.{preset}"),
                name,
                format!("is neither a field nor a parameter; {params}; fields: {known_fields}"),
            ));
        };
        let values: Vec<String> = match (decl.kind, value) {
            (ParamType::String, ParamValue::One(v)) => vec![v.clone()],
            (ParamType::String, ParamValue::Many(_)) => {
                return Err(Error::invalid(
                    field(name),
                    serde_json::to_string(value).unwrap_or_default(),
                    format!("is a list; parameter `{name}` takes one value, e.g. `{}`", decl.example),
                ));
            }
            (ParamType::List, ParamValue::One(v)) => v.split(',').map(str::to_string).collect(),
            (ParamType::List, ParamValue::Many(v)) => v.clone(),
        };
        if decl.kind == ParamType::List {
            if values.is_empty() || values.len() > MAX_LIST_VALUES {
                return Err(Error::invalid(
                    field(name),
                    values.len().to_string(),
                    format!("values given; a list parameter takes 1-{MAX_LIST_VALUES}"),
                ));
            }
            for (i, v) in values.iter().enumerate() {
                if values[..i].contains(v) {
                    return Err(Error::invalid(field(name), v, "is listed twice; list each value once"));
                }
            }
        }
        for v in &values {
            check_value(&field(name), decl, v, partition)?;
        }
        out.insert(
            name.clone(),
            match decl.kind {
                ParamType::String => ParamValue::One(values.into_iter().next().unwrap_or_default()),
                ParamType::List => ParamValue::Many(values),
            },
        );
    }
    for (name, decl) in declared {
        if decl.required && !out.contains_key(name) {
            return Err(missing(preset, name, decl));
        }
    }
    Ok(out)
}

/// The error for a required parameter that was not given.
pub fn missing(preset: &str, name: &str, decl: &PresetParameter) -> Error {
    Error::Missing {
        field: format!("presets.{preset}.parameters.{name}"),
        how: format!(
            "preset `{preset}` needs parameter `{name}` ({}); set it with `--set {preset}.{name}={}` or in irsagen.yaml under `presets.{preset}.parameters.{name}`",
            decl.about, decl.example
        ),
    }
}

/// The values of a resolved parameter as a list (a string parameter is a list of one).
pub fn values(v: &ParamValue) -> Vec<&str> {
    match v {
        ParamValue::One(s) => vec![s.as_str()],
        ParamValue::Many(l) => l.iter().map(String::as_str).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ParamFormat as F;

    /// The region part of an ARN: lowercase words, then a number, at least three parts.
    #[test]
    fn a_region_is_lowercase_parts_and_a_number() {
        for good in ["us-east-1", "us-gov-west-1", "cn-north-1", "ap-southeast-5"] {
            assert!(is_region(good), "{good}");
        }
        for bad in [
            "us-1",
            "us-east",
            "US-east-1",
            "us--1",
            "us-east-x",
            "us-east-1a",
            "-east-1",
            "us-e1st-1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
        let key = |region: &str| format!("arn:aws:kms:{region}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab");
        assert!(F::KmsKeyArn.accepts(&key("eu-central-1"), "aws"));
        assert!(!F::KmsKeyArn.accepts(&key("eu-central"), "aws"));
    }

    fn ok(f: ParamFormat, v: &str) {
        assert!(f.accepts(v, "aws"), "{} should accept `{v}`", f.as_str());
    }
    fn no(f: ParamFormat, v: &str) {
        assert!(!f.accepts(v, "aws"), "{} should refuse `{v}`", f.as_str());
    }

    #[test]
    fn hosted_zone_ids_at_the_boundary() {
        ok(F::Route53HostedZoneId, "Z1");
        ok(F::Route53HostedZoneId, &format!("Z{}", "A".repeat(32)));
        no(F::Route53HostedZoneId, &format!("Z{}", "A".repeat(33)));
        no(F::Route53HostedZoneId, "Z");
        no(F::Route53HostedZoneId, "z0123");
        no(F::Route53HostedZoneId, "Z0123a");
        no(F::Route53HostedZoneId, "/hostedzone/Z0123");
    }

    #[test]
    fn bucket_names_at_the_boundary() {
        ok(F::S3BucketName, "abc");
        ok(F::S3BucketName, &"a".repeat(63));
        no(F::S3BucketName, "ab");
        no(F::S3BucketName, &"a".repeat(64));
        ok(F::S3BucketName, "my.backups-1");
        for bad in [
            "My-bucket",
            "-abc",
            "abc-",
            "a..b",
            "192.168.5.4",
            "xn--abc",
            "sthree-abc",
            "amzn-s3-demo-x",
            "abc-s3alias",
            "abc--ol-s3",
            "abc.mrap",
            "abc--x-s3",
            "abc--table-s3",
            "a_b_c",
        ] {
            no(F::S3BucketName, bad);
        }
    }

    #[test]
    fn arns_must_be_in_the_clusters_partition() {
        ok(F::Arn, "arn:aws:s3:::bucket");
        ok(F::Arn, "arn:aws:iam::123456789012:role/x");
        no(F::Arn, "arn:aws-cn:s3:::bucket");
        assert!(F::Arn.accepts("arn:aws-cn:s3:::bucket", "aws-cn"));
        no(F::Arn, "arn:aws:s3:::");
        no(F::Arn, "arn:aws:S3:::b");
        no(F::Arn, "arn:aws:s3:::b c");
        no(F::Arn, "arn:aws::::b");
        no(F::Arn, "arn:aws:s3");
        no(F::Arn, "bucket");
    }

    #[test]
    fn queue_names_and_arns_at_the_boundary() {
        ok(F::SqsQueueName, "q");
        ok(F::SqsQueueName, &"q".repeat(80));
        no(F::SqsQueueName, &"q".repeat(81));
        no(F::SqsQueueName, "");
        ok(F::SqsQueueName, &format!("{}.fifo", "q".repeat(75)));
        no(F::SqsQueueName, &format!("{}.fifo", "q".repeat(76)));
        no(F::SqsQueueName, ".fifo");
        no(F::SqsQueueName, "q.x");
        ok(
            F::SqsQueueArn,
            "arn:aws:sqs:us-east-1:123456789012:karpenter-interruptions",
        );
        ok(F::SqsQueueArn, "arn:aws:sqs:us-gov-west-1:123456789012:q.fifo");
        no(F::SqsQueueArn, "arn:aws:sqs:us-east-1:12345678901:q");
        no(F::SqsQueueArn, "arn:aws:sqs:us-east-1:123456789012:");
        no(F::SqsQueueArn, "arn:aws:sqs:*:123456789012:q");
        no(F::SqsQueueArn, "arn:aws:sns:us-east-1:123456789012:q");
        no(
            F::SqsQueueArn,
            &format!("arn:aws:sqs:us-east-1:123456789012:{}", "q".repeat(81)),
        );
    }

    #[test]
    fn kms_key_arns() {
        ok(
            F::KmsKeyArn,
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        );
        ok(
            F::KmsKeyArn,
            &format!("arn:aws:kms:us-east-1:123456789012:key/mrk-{}", "a".repeat(32)),
        );
        no(
            F::KmsKeyArn,
            &format!("arn:aws:kms:us-east-1:123456789012:key/mrk-{}", "a".repeat(31)),
        );
        no(
            F::KmsKeyArn,
            "arn:aws:kms:us-east-1:123456789012:key/1234ABCD-12ab-34cd-56ef-1234567890ab",
        );
        no(F::KmsKeyArn, "arn:aws:kms:us-east-1:123456789012:key/*");
        ok(F::KmsKeyArn, "arn:aws:kms:us-east-1:123456789012:alias/ebs");
        ok(
            F::KmsKeyArn,
            &format!("arn:aws:kms:us-east-1:123456789012:alias/{}", "a".repeat(256)),
        );
        no(
            F::KmsKeyArn,
            &format!("arn:aws:kms:us-east-1:123456789012:alias/{}", "a".repeat(257)),
        );
        no(F::KmsKeyArn, "arn:aws:kms:us-east-1:123456789012:alias/");
        no(F::KmsKeyArn, "1234abcd-12ab-34cd-56ef-1234567890ab");
    }

    #[test]
    fn role_names_at_the_boundary() {
        ok(F::IamRoleName, &"r".repeat(64));
        no(F::IamRoleName, &"r".repeat(65));
        ok(F::IamRoleName, "Karpenter-node_role+=,.@-");
        no(F::IamRoleName, "");
        no(F::IamRoleName, "a/b");
    }

    #[test]
    fn secret_and_parameter_prefixes() {
        let sm = "arn:aws:secretsmanager:us-east-1:123456789012:secret:";
        ok(F::SecretsmanagerArnPrefix, &format!("{sm}prod/app-*"));
        ok(F::SecretsmanagerArnPrefix, &format!("{sm}prod/db-AbCdEf"));
        ok(F::SecretsmanagerArnPrefix, &format!("{sm}{}", "a".repeat(512)));
        no(F::SecretsmanagerArnPrefix, &format!("{sm}{}", "a".repeat(513)));
        no(F::SecretsmanagerArnPrefix, &format!("{sm}*"));
        no(F::SecretsmanagerArnPrefix, &format!("{sm}a*b"));
        no(
            F::SecretsmanagerArnPrefix,
            "arn:aws:secretsmanager:us-east-1:123456789012:prod/*",
        );
        let ssm = "arn:aws:ssm:us-east-1:123456789012:parameter/";
        ok(F::SsmParameterArnPrefix, &format!("{ssm}prod/app/*"));
        ok(F::SsmParameterArnPrefix, &format!("{ssm}{}", "a".repeat(1011)));
        no(F::SsmParameterArnPrefix, &format!("{ssm}{}", "a".repeat(1012)));
        no(F::SsmParameterArnPrefix, &format!("{ssm}a b"));
        no(
            F::SsmParameterArnPrefix,
            "arn:aws:ssm:us-east-1:123456789012:document/x",
        );
    }

    #[test]
    fn names_and_strings_at_the_boundary() {
        ok(F::Name, &"n".repeat(63));
        no(F::Name, &"n".repeat(64));
        no(F::Name, "N");
        ok(F::String, "x");
        ok(F::String, &"é".repeat(1024));
        no(F::String, &"x".repeat(1025));
        no(F::String, "");
        no(F::String, "a\nb");
    }

    #[test]
    fn parameter_names() {
        assert!(is_param_name("bucketNames"));
        assert!(is_param_name(&"a".repeat(64)));
        assert!(!is_param_name(&"a".repeat(65)));
        for bad in ["", "1a", "a-b", "a.b", "a_b", "a b"] {
            assert!(!is_param_name(bad), "{bad}");
        }
    }

    fn decls() -> BTreeMap<String, PresetParameter> {
        BTreeMap::from([
            (
                "bucketNames".to_string(),
                PresetParameter {
                    kind: ParamType::List,
                    format: F::S3BucketName,
                    required: true,
                    example: "my-backups".into(),
                    about: "buckets Velero stores backups in".into(),
                },
            ),
            (
                "region".to_string(),
                PresetParameter {
                    kind: ParamType::String,
                    format: F::Name,
                    required: false,
                    example: "eu".into(),
                    about: "a name".into(),
                },
            ),
        ])
    }

    fn given(pairs: &[(&str, ParamValue)]) -> BTreeMap<String, ParamValue> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn resolves_lists_from_commas_and_from_yaml_lists() {
        let one = resolve(
            "velero",
            &decls(),
            &given(&[("bucketNames", ParamValue::One("a-1,b-2".into()))]),
            "aws",
            "namespace",
        )
        .unwrap();
        assert_eq!(one["bucketNames"], ParamValue::Many(vec!["a-1".into(), "b-2".into()]));
        let many = resolve(
            "velero",
            &decls(),
            &given(&[
                ("bucketNames", ParamValue::Many(vec!["a-1".into(), "b-2".into()])),
                ("region", ParamValue::One("eu".into())),
            ]),
            "aws",
            "namespace",
        )
        .unwrap();
        assert_eq!(many["bucketNames"], one["bucketNames"]);
        assert_eq!(many["region"], ParamValue::One("eu".into()));
    }

    #[test]
    fn refuses_missing_unknown_and_malformed_values() {
        let e = resolve("velero", &decls(), &BTreeMap::new(), "aws", "namespace")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "presets.velero.parameters.bucketNames is required: preset `velero` needs parameter `bucketNames` (buckets Velero stores backups in); set it with `--set velero.bucketNames=my-backups` or in irsagen.yaml under `presets.velero.parameters.bucketNames`"
        );
        let e = resolve(
            "velero",
            &decls(),
            &given(&[("bucketName", ParamValue::One("x".into()))]),
            "aws",
            "namespace, roleName",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`bucketName`: is neither a field nor a parameter; parameters of preset `velero`: bucketNames, region; fields: namespace, roleName"),
            "{e}"
        );
        let e = resolve(
            "velero",
            &decls(),
            &given(&[("bucketNames", ParamValue::One("ok-1,Bad".into()))]),
            "aws",
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("invalid presets.velero.parameters.bucketNames `Bad`: must be an S3 bucket name"),
            "{e}"
        );
        assert!(e.ends_with("(s3-bucket-name); for example `my-backups`"), "{e}");
        let e = resolve(
            "velero",
            &decls(),
            &given(&[
                ("bucketNames", ParamValue::One("a-1".into())),
                ("region", ParamValue::Many(vec!["eu".into()])),
            ]),
            "aws",
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("is a list; parameter `region` takes one value"), "{e}");
        // Duplicates and the list limit, at the boundary and one past it.
        let e = resolve(
            "velero",
            &decls(),
            &given(&[("bucketNames", ParamValue::One("a-1,a-1".into()))]),
            "aws",
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("is listed twice"), "{e}");
        let list = |n: usize| ParamValue::Many((0..n).map(|i| format!("bucket-{i}")).collect());
        resolve(
            "velero",
            &decls(),
            &given(&[("bucketNames", list(MAX_LIST_VALUES))]),
            "aws",
            "",
        )
        .unwrap();
        let e = resolve(
            "velero",
            &decls(),
            &given(&[("bucketNames", list(MAX_LIST_VALUES + 1))]),
            "aws",
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`101`: values given; a list parameter takes 1-100"), "{e}");
        let e = resolve("velero", &decls(), &given(&[("bucketNames", list(0))]), "aws", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`0`: values given"), "{e}");
        // An empty `--set` value is one empty name, refused by the format.
        let e = resolve(
            "velero",
            &decls(),
            &given(&[("bucketNames", ParamValue::One(String::new()))]),
            "aws",
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("invalid presets.velero.parameters.bucketNames ``"), "{e}");
    }
}
