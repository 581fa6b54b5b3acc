//! The guide's "Verify" and "Troubleshooting" sections as checks against IAM: the OIDC provider,
//! and per preset the role, its trust policy (provider, exact subject, audience, nothing but the
//! rendered statements), its permissions (the bundle's policy and the declared extra policies
//! attached, nothing else attached or inline) and the policy's default version.
//!
//! Two steps: read what IAM holds into an [`IamState`], the plan's read model too (the only part that calls AWS; a read
//! that fails for an environment reason is an error, said once per cause), then
//! [`decide`]: a pure function of that state and the bundle's [`Desired`] state, so every
//! decision is tested offline from recorded states.

use super::Identity;
use super::client::{CallStats, Clients};
use super::desired::{Desired, DesiredOidc, DesiredPolicy, DesiredRole};
use super::doc_decode;
use super::read::{self, ReadError};
use super::state::{IamState, PolicyState, RoleState};
use crate::error::{Error, Result};
use crate::identity::{AUDIENCE, ConditionKeys, IRSA_ACTION};
use crate::policy_doc;
use crate::report::Check;
use serde_json::Value;
use std::collections::BTreeMap;

const SCOPE: &str = "aws";

/// The checks each role gets after `role-exists`, in report order.
const ROLE_CHECKS: [&str; 6] = [
    "trust-provider",
    "trust-subject",
    "trust-audience",
    "trust-statements",
    "policy-attached",
    "policy-extra",
];

/// Verify's name for the one IAM read model, [`IamState`]: documents stay URL-encoded as IAM
/// returns them, so one that does not decode is a failed check, not an error.
pub type LiveState = IamState;

/// Reads IAM, then decides; a failed read is an error (exit 3), never a failed check.
pub(crate) async fn checks(c: &Clients, d: &Desired) -> Result<(Vec<Check>, CallStats)> {
    let before = c.log.stats();
    let live = read_state(c, d).await?;
    Ok((decide(d, &live), c.log.stats().since(before)))
}

/// Everything verify needs from IAM. STS goes first and alone: when AWS cannot be reached
/// that is one error, not one per resource. The IAM reads then run concurrently, and their
/// failures are reported once per cause.
async fn read_state(c: &Clients, d: &Desired) -> Result<IamState> {
    let caller = super::identity::whoami(c)
        .await
        .map_err(|e| Error::Aws(format!("verify --aws checked nothing: {e}")))?;
    let oidc = super::state::optional_oidc_read(c, d);
    let policies = futures::future::join_all(d.policies.iter().map(|p| read::policy_raw(c, &p.arn)));
    let roles = futures::future::join_all(d.roles.iter().map(|r| read_role(c, &r.name)));
    let (oidc, policies, roles) = tokio::join!(oidc, policies, roles);
    let mut errors = Vec::new();
    let oidc_client_ids = oidc.unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let mut live_policies = BTreeMap::new();
    for (p, got) in d.policies.iter().zip(policies) {
        match got {
            Ok(Some(raw)) => {
                live_policies.insert(
                    p.arn.clone(),
                    PolicyState {
                        tags: raw.tags,
                        default_version: raw.default_version,
                        document: raw.document,
                        versions: Vec::new(),
                    },
                );
            }
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    let mut live_roles = BTreeMap::new();
    for (r, got) in d.roles.iter().zip(roles) {
        match got {
            Ok(Some(role)) => {
                live_roles.insert(r.name.clone(), role);
            }
            Ok(None) => {}
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(read_failure(errors));
    }
    Ok(IamState {
        caller,
        oidc_client_ids,
        policies: live_policies,
        roles: live_roles,
        missing_extra_policies: Vec::new(),
    })
}

/// One role's three reads, concurrently; every failure is kept.
async fn read_role(c: &Clients, name: &str) -> std::result::Result<Option<RoleState>, Vec<ReadError>> {
    let (role, attached, inline) = tokio::join!(
        read::role(c, name),
        read::attached_policies(c, name),
        read::inline_policies(c, name)
    );
    match (role, attached, inline) {
        (Ok(None), _, _) => Ok(None),
        (Ok(Some(role)), Ok(attached), Ok(inline)) => Ok(Some(RoleState {
            role,
            // The role existed a moment ago; gone by now reads as nothing attached.
            attached: attached.unwrap_or_default(),
            inline: inline.unwrap_or_default(),
        })),
        (role, attached, inline) => Err([role.err(), attached.err(), inline.err()]
            .into_iter()
            .flatten()
            .collect()),
    }
}

/// One error for all failed reads, one line per cause: a network failure or a missing
/// permission is said once, with how many other calls failed the same way.
fn read_failure(errors: Vec<ReadError>) -> Error {
    let mut causes: Vec<(String, String, usize)> = Vec::new();
    for e in errors {
        match causes.iter_mut().find(|(cause, _, _)| *cause == e.cause) {
            Some((_, _, n)) => *n += 1,
            None => causes.push((e.cause, e.error.to_string(), 1)),
        }
    }
    let lines: Vec<String> = causes
        .into_iter()
        .map(|(_, msg, n)| match n {
            1 => msg,
            n => format!("{msg} ({} more call(s) failed the same way)", n - 1),
        })
        .collect();
    Error::Aws(format!(
        "verify --aws could not read IAM, so nothing was checked:\n  - {}",
        lines.join("\n  - ")
    ))
}

/// Every check, from what IAM returned (`live`) and what the bundle wants (`d`), in a stable
/// order: account, OIDC provider, then per preset its role checks and its policy document.
/// Makes no call.
pub fn decide(d: &Desired, live: &IamState) -> Vec<Check> {
    let mut out = vec![account_check(d, &live.caller)];
    // Pod Identity alone needs no OIDC provider: checking it would fail clusters that rightly have none.
    if let Some(oidc) = &d.oidc {
        out.push(oidc_check(d, oidc, live.oidc_client_ids.as_deref()));
    }
    for r in &d.roles {
        out.extend(role_checks(d, r, live.roles.get(&r.name)));
        // The policy document check belongs with the first preset that uses the policy; a
        // preset with several customer managed policies (`policy.additional`) has one each.
        for p in d.policies.iter().filter(|p| p.presets.first() == Some(&r.preset)) {
            out.push(policy_document_check(p, live.policies.get(&p.arn)));
        }
    }
    out
}

fn account_check(d: &Desired, caller: &Identity) -> Check {
    Check::from_bool(
        SCOPE,
        None,
        "account",
        caller.account == d.account,
        format!(
            "caller {} is in account {}, the bundle is for {}",
            caller.arn, caller.account, d.account
        ),
        format!(
            "the credentials and --account disagree, so every other check looks in the wrong account: use credentials \
             for {} (--profile; `irsagen whoami` shows them) or pass --account auto",
            d.account
        ),
    )
}

fn oidc_check(d: &Desired, oidc: &DesiredOidc, client_ids: Option<&[String]>) -> Check {
    let arn = &oidc.provider.provider_arn;
    let name = "oidc-provider";
    match client_ids {
        None => Check::fail(
            SCOPE,
            None,
            name,
            format!("{arn} is not registered in IAM"),
            format!(
                "list providers with `aws iam list-open-id-connect-providers`; register this cluster's with `irsagen apply --aws` \
                 or `eksctl utils associate-iam-oidc-provider --cluster {} --region {} --approve`",
                d.cluster, d.region
            ),
        ),
        Some(ids) => Check::from_bool(
            SCOPE,
            None,
            name,
            ids.iter().any(|i| i == AUDIENCE),
            format!("{arn} registered, client ids [{}]", ids.join(", ")),
            format!(
                "the provider lacks client id {AUDIENCE}, so STS rejects the pods' tokens: `irsagen apply --aws` adds it \
                 (or `aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn {arn} --client-id {AUDIENCE}`)"
            ),
        ),
    }
}

fn policy_document_check(p: &DesiredPolicy, live: Option<&PolicyState>) -> Check {
    let name = "policy-document";
    let preset = p.presets.first().map(String::as_str);
    let Some(live) = live else {
        return Check::fail(
            SCOPE,
            preset,
            name,
            format!("policy {} does not exist", p.arn),
            "create it with `irsagen apply --aws`",
        );
    };
    let version = &live.default_version;
    let advice = format!(
        "see the live document with `aws iam get-policy-version --policy-arn {} --version-id {version}`; \
         `irsagen apply --aws` makes the rendered document the default version",
        p.arn
    );
    let what = format!("policy {} version {version}", p.arn);
    match doc_decode::decode(&live.document, &what) {
        Err(e) => Check::fail(SCOPE, preset, name, e.to_string(), advice),
        Ok(doc) if doc == p.document => Check::pass(
            SCOPE,
            preset,
            name,
            format!("{} default version {version} equals the rendered document", p.name),
        ),
        Ok(doc) => {
            let changed = doc_decode::diff(Some(&doc), &p.document, "live", "rendered")
                .lines()
                .filter(|l| {
                    (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++") && !l.starts_with("---")
                })
                .count();
            Check::fail(
                SCOPE,
                preset,
                name,
                format!(
                    "{} default version {version} differs from the rendered document ({changed} changed lines)",
                    p.name
                ),
                advice,
            )
        }
    }
}

fn role_checks(d: &Desired, r: &DesiredRole, live: Option<&RoleState>) -> Vec<Check> {
    let preset = Some(r.preset.as_str());
    let Some(role) = live else {
        let missing = format!("role {} does not exist", r.name);
        return std::iter::once("role-exists")
            .chain(ROLE_CHECKS)
            .map(|n| Check::fail(SCOPE, preset, n, &missing, "create it with `irsagen apply --aws`"))
            .collect();
    };
    let fix = format!(
        "`irsagen apply --aws` rewrites it to the rendered trust policy; inspect it with `aws iam get-role --role-name {}`",
        r.name
    );
    let mut out = vec![Check::pass(
        SCOPE,
        preset,
        "role-exists",
        format!("{} exists", role.role.arn()),
    )];
    let what = format!("trust policy of role {}", r.name);
    match doc_decode::decode(role.role.assume_role_policy_document().unwrap_or("{}"), &what) {
        Err(e) => out.extend(
            ROLE_CHECKS[..4]
                .iter()
                .map(|n| Check::fail(SCOPE, preset, n, e.to_string(), fix.clone())),
        ),
        Ok(trust) => {
            // `oidc` is there whenever a role uses IRSA (Desired::from_bundle refuses otherwise).
            if let (true, Some(oidc)) = (r.irsa, &d.oidc) {
                out.extend(trust_checks(&trust, oidc, r, &fix));
            } else {
                // No OIDC statement to inspect: the rendered Pod Identity statement (scoped by
                // the session tags) must be there as rendered.
                out.push(trust_rendered_present_check(&trust, r, &fix));
            }
            out.push(trust_statements_check(&trust, r, &fix));
        }
    }
    out.push(attached_check(r, &role.attached));
    out.push(extra_permissions_check(r, role));
    out
}

fn attached_check(r: &DesiredRole, attached: &[String]) -> Check {
    let preset = Some(r.preset.as_str());
    let missing: Vec<&str> = r.attachments().filter(|a| !attached.iter().any(|x| x == a)).collect();
    match missing.first() {
        None => Check::pass(
            SCOPE,
            preset,
            "policy-attached",
            match r.extra_policy_arns.len() {
                0 => format!("{} attached", r.policy_name),
                n => format!("{} and {n} declared extra policies attached", r.policy_name),
            },
        ),
        Some(first) => Check::fail(
            SCOPE,
            preset,
            "policy-attached",
            format!(
                "{} not attached (attached: [{}])",
                missing.join(", "),
                attached.join(", ")
            ),
            format!(
                "`irsagen apply --aws` attaches it (or `aws iam attach-role-policy --role-name {} --policy-arn {first}`)",
                r.name
            ),
        ),
    }
}

/// Everything the role may do beyond the bundle: managed policies neither rendered nor
/// declared in `extraPolicyArns`, and any inline policy (irsagen never writes one).
fn extra_permissions_check(r: &DesiredRole, role: &RoleState) -> Check {
    let preset = Some(r.preset.as_str());
    let extra: Vec<&str> = role
        .attached
        .iter()
        .map(String::as_str)
        .filter(|a| !r.attachments().any(|w| w == *a))
        .collect();
    let inline = &role.inline;
    if extra.is_empty() && inline.is_empty() {
        return Check::pass(
            SCOPE,
            preset,
            "policy-extra",
            "no permissions beyond the bundle (no other managed policy, no inline policy)",
        );
    }
    let mut found = Vec::new();
    if !extra.is_empty() {
        found.push(format!(
            "attached managed policies not in the bundle: [{}]",
            extra.join(", ")
        ));
    }
    if !inline.is_empty() {
        found.push(format!("inline policies: [{}]", inline.join(", ")));
    }
    Check::fail(
        SCOPE,
        preset,
        "policy-extra",
        format!("the role has permissions beyond the bundle: {}", found.join("; ")),
        format!(
            "irsagen never removes what it did not attach: detach with `aws iam detach-role-policy --role-name {0} --policy-arn ARN`, \
             delete inline policies with `aws iam delete-role-policy --role-name {0} --policy-name NAME`; or, when the role needs \
             a managed policy, declare it (`--set {1}.extraPolicyArns=ARN`, or presets.{1}.extraPolicyArns in irsagen.yaml) \
             and re-render",
            r.name, r.preset
        ),
    )
}

/// A statement in a comparable form: `Sid` dropped (it grants nothing), a single value read
/// like a one-element list, lists sorted and de-duplicated, condition keys lowercased (IAM
/// compares them case-insensitively).
fn canonical_statement(s: &Value) -> Value {
    let Some(o) = s.as_object() else {
        return s.clone();
    };
    let mut out = serde_json::Map::new();
    for (k, v) in o {
        match k.as_str() {
            "Sid" => {}
            "Condition" => {
                let ops = v.as_object().map(|ops| {
                    ops.iter()
                        .map(|(op, m)| {
                            let m = match m.as_object() {
                                Some(m) => Value::Object(
                                    m.iter()
                                        .map(|(ck, cv)| (ck.to_ascii_lowercase(), canonical(cv)))
                                        .collect(),
                                ),
                                None => canonical(m),
                            };
                            (op.clone(), m)
                        })
                        .collect()
                });
                out.insert(k.clone(), ops.map(Value::Object).unwrap_or_else(|| canonical(v)));
            }
            _ => {
                out.insert(k.clone(), canonical(v));
            }
        }
    }
    Value::Object(out)
}

fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), canonical(v))).collect()),
        Value::Array(a) => {
            // IAM's values are a string or a list of strings: items are compared as they are.
            let mut items = a.clone();
            items.sort_by_key(|x| x.to_string());
            items.dedup();
            Value::Array(items)
        }
        scalar => Value::Array(vec![scalar.clone()]),
    }
}

/// At most `max` characters of `s`, marked when cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// `Statement[1] (Sid `x`): Allow sts:AssumeRole to Principal {"AWS":"*"}`, for messages.
fn describe_statement(i: usize, s: &Value) -> String {
    let field = |k: &str| s.get(k).map(policy_doc::compact);
    let sid = s
        .get("Sid")
        .and_then(Value::as_str)
        .map(|x| format!(" (Sid `{x}`)"))
        .unwrap_or_default();
    let effect = s.get("Effect").and_then(Value::as_str).unwrap_or("?");
    let action = match (field("Action"), field("NotAction")) {
        (Some(a), _) => a,
        (None, Some(n)) => format!("every action but {n}"),
        (None, None) => "no action".into(),
    };
    let who = match (field("Principal"), field("NotPrincipal")) {
        (Some(p), _) => format!("to Principal {p}"),
        (None, Some(n)) => format!("to everyone but NotPrincipal {n}"),
        (None, None) => "to no principal".into(),
    };
    let when = field("Condition").map(|c| format!(" when {c}")).unwrap_or_default();
    cut(&format!("Statement[{i}]{sid}: {effect} {action} {who}{when}"), 400)
}

/// Every live statement must be one irsagen rendered: an added statement (another principal,
/// another provider, `NotPrincipal`, even a Deny) is a difference a reviewer never saw.
fn trust_statements_check(trust: &Value, r: &DesiredRole, fix: &str) -> Check {
    let preset = Some(r.preset.as_str());
    let rendered: Vec<Value> = policy_doc::statements(&r.trust)
        .into_iter()
        .map(canonical_statement)
        .collect();
    let live = policy_doc::statements(trust);
    let extra: Vec<String> = live
        .iter()
        .enumerate()
        .filter(|(_, s)| !rendered.contains(&canonical_statement(s)))
        .map(|(i, s)| describe_statement(i, s))
        .collect();
    if extra.is_empty() {
        return Check::pass(
            SCOPE,
            preset,
            "trust-statements",
            format!("every statement ({}) is one irsagen rendered", live.len()),
        );
    }
    Check::fail(
        SCOPE,
        preset,
        "trust-statements",
        format!(
            "{} of {} statements are not ones irsagen rendered: {}",
            extra.len(),
            live.len(),
            extra.join("; ")
        ),
        format!(
            "a statement irsagen did not render can let other principals assume the role; remove it, or if it is \
             wanted, keep it out of roles irsagen manages; {fix}"
        ),
    )
}

/// Every statement irsagen rendered is in the live trust (compared as canonical JSON): in
/// `pod-identity` mode the one that lets `pods.eks.amazonaws.com` in with the session-tag scope.
fn trust_rendered_present_check(trust: &Value, r: &DesiredRole, fix: &str) -> Check {
    let live: Vec<Value> = policy_doc::statements(trust)
        .into_iter()
        .map(canonical_statement)
        .collect();
    let missing: Vec<String> = policy_doc::statements(&r.trust)
        .into_iter()
        .enumerate()
        .filter(|(_, s)| !live.contains(&canonical_statement(s)))
        .map(|(i, s)| describe_statement(i, s))
        .collect();
    Check::from_bool(
        SCOPE,
        Some(r.preset.as_str()),
        "trust-pod-identity",
        missing.is_empty(),
        if missing.is_empty() {
            "the rendered Pod Identity statement is there as rendered".to_string()
        } else {
            format!("rendered statements missing or changed: {}", missing.join("; "))
        },
        format!("pods cannot assume the role through EKS Pod Identity as rendered; {fix}"),
    )
}

/// A string or list of strings; anything else counts as none (verify reports, never refuses).
fn strings(v: &Value) -> Vec<&str> {
    policy_doc::strings(v).unwrap_or_default()
}

/// The Federated principals of an Allow statement.
fn federated_of(s: &Value) -> Vec<&str> {
    if s.get("Effect").and_then(Value::as_str) != Some("Allow") {
        return Vec::new();
    }
    s.get("Principal")
        .and_then(|p| p.get("Federated"))
        .map(strings)
        .unwrap_or_default()
}

/// `(operator, values)` of every condition on `key` (case-insensitive, as IAM compares keys).
fn conditions<'a>(stmt: &'a Value, key: &str) -> Vec<(&'a str, Vec<&'a str>)> {
    let mut out = Vec::new();
    if let Some(ops) = stmt.get("Condition").and_then(Value::as_object) {
        for (op, m) in ops {
            if let Some(m) = m.as_object() {
                for (k, v) in m {
                    if k.eq_ignore_ascii_case(key) {
                        out.push((op.as_str(), strings(v)));
                    }
                }
            }
        }
    }
    out
}

/// The three trust checks. Every Allow statement that trusts this cluster's provider must pin
/// the exact subject and the audience: one loose statement opens the role to the whole cluster.
fn trust_checks(trust: &Value, oidc: &DesiredOidc, r: &DesiredRole, fix: &str) -> Vec<Check> {
    let preset = Some(r.preset.as_str());
    let provider = &oidc.provider.provider_arn;
    let all = policy_doc::statements(trust);
    let federated: Vec<&str> = all.iter().flat_map(|s| federated_of(s)).collect();
    let ours: Vec<&Value> = all
        .iter()
        .copied()
        .filter(|s| federated_of(s).contains(&provider.as_str()))
        .filter(|s| {
            s.get("Action")
                .map(strings)
                .unwrap_or_default()
                .iter()
                .any(|a| *a == IRSA_ACTION || matches!(*a, "sts:*" | "*"))
        })
        .collect();
    let mut out = vec![Check::from_bool(
        SCOPE,
        preset,
        "trust-provider",
        !ours.is_empty(),
        if ours.is_empty() {
            format!(
                "no statement allows sts:AssumeRoleWithWebIdentity from {provider} (federated principals: [{}])",
                federated.join(", ")
            )
        } else {
            format!("trusts {provider}")
        },
        format!(
            "the trust policy must name this cluster's OIDC provider (a role copied from another cluster names that one); {fix}"
        ),
    )];
    if ours.is_empty() {
        for n in ["trust-subject", "trust-audience"] {
            out.push(Check::fail(
                SCOPE,
                preset,
                n,
                format!("no statement trusts {provider}"),
                fix.to_string(),
            ));
        }
        return out;
    }
    let ConditionKeys {
        sub: sub_key,
        aud: aud_key,
    } = ConditionKeys::of(&oidc.provider);
    let mut sub_problem = None;
    let mut aud_problem = None;
    for s in &ours {
        let subs = conditions(s, &sub_key);
        let problem = if subs.is_empty() {
            Some(format!(
                "aud-only trust: no `{sub_key}` condition, so every ServiceAccount in the cluster can assume the role"
            ))
        } else {
            subs.iter().find_map(|(op, vals)| {
                if op.contains("Like") || vals.iter().any(|v| v.contains('*') || v.contains('?')) {
                    Some(format!(
                        "wildcard subject: {op} `{sub_key}` = [{}] matches more than {}",
                        vals.join(", "),
                        r.subject
                    ))
                } else if *op != "StringEquals" {
                    Some(format!("subject condition uses {op}; expected StringEquals"))
                } else if vals != &[r.subject.as_str()] {
                    Some(format!(
                        "trusts subject [{}], expected exactly {}",
                        vals.join(", "),
                        r.subject
                    ))
                } else {
                    None
                }
            })
        };
        sub_problem = sub_problem.or(problem);
        let auds = conditions(s, &aud_key);
        let problem = if auds.is_empty() {
            Some(format!("no `{aud_key}` condition; expected StringEquals {AUDIENCE}"))
        } else {
            auds.iter().find_map(|(op, vals)| {
                (*op != "StringEquals" || vals != &[AUDIENCE]).then(|| {
                    format!(
                        "{op} `{aud_key}` = [{}], expected StringEquals {AUDIENCE}",
                        vals.join(", ")
                    )
                })
            })
        };
        aud_problem = aud_problem.or(problem);
    }
    out.push(match sub_problem {
        None => Check::pass(SCOPE, preset, "trust-subject", format!("StringEquals {}", r.subject)),
        Some(p) => Check::fail(
            SCOPE,
            preset,
            "trust-subject",
            p,
            format!(
                "pin StringEquals `{sub_key}` to `{}` (the pod's ServiceAccount {}); {fix}",
                r.subject, r.service_account
            ),
        ),
    });
    out.push(match aud_problem {
        None => Check::pass(SCOPE, preset, "trust-audience", format!("StringEquals {AUDIENCE}")),
        Some(p) => Check::fail(
            SCOPE,
            preset,
            "trust-audience",
            p,
            format!("pin StringEquals `{aud_key}` to `{AUDIENCE}`; {fix}"),
        ),
    });
    out
}
