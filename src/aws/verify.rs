//! The guide's "Verify" and "Troubleshooting" sections as checks against IAM: the OIDC provider,
//! and per preset the role, its trust policy (provider, exact subject, audience), the attached
//! policy and the policy's default version. Independent reads run concurrently; an API error
//! on one read fails that check only.

use super::client::{CallStats, Clients};
use super::desired::{Desired, DesiredPolicy, DesiredRole};
use super::doc_decode;
use super::read::{self, attached_policies, role_trust};
use crate::policy_doc;
use crate::render::AUDIENCE;
use crate::report::Check;
use serde_json::Value;

const SCOPE: &str = "aws";

/// Runs all checks; returns them in a stable order (provider first, then preset by preset).
pub(crate) async fn checks(c: &Clients, d: &Desired) -> (Vec<Check>, CallStats) {
    let before = c.log.stats();
    let account = check_account(c, d);
    let oidc = check_oidc(c, d);
    let policies = futures::future::join_all(d.policies.iter().map(|p| policy_document(c, p)));
    let roles = futures::future::join_all(d.roles.iter().map(|r| role_checks(c, d, r)));
    let (account, oidc, policies, roles) = tokio::join!(account, oidc, policies, roles);
    let mut out = vec![account, oidc];
    for (r, mut checks) in d.roles.iter().zip(roles) {
        // The policy document check belongs with the first preset that uses the policy.
        if let Some((p, check)) = d
            .policies
            .iter()
            .zip(&policies)
            .find(|(p, _)| p.presets.first() == Some(&r.preset))
        {
            let mut check = check.clone();
            check.preset = p.presets.first().cloned();
            checks.push(check);
        }
        out.extend(checks);
    }
    (out, c.log.stats().since(before))
}

fn error_check(preset: Option<&str>, name: &str, e: crate::Error) -> Check {
    Check::fail(
        SCOPE,
        preset,
        name,
        format!("could not check: {e}"),
        "fix the cause above (credentials, permissions, network) and re-run `irsagen verify --aws`",
    )
}

async fn check_account(c: &Clients, d: &Desired) -> Check {
    let name = "account";
    match super::identity::whoami(c).await {
        Err(e) => error_check(None, name, e),
        Ok(id) => Check::from_bool(
            SCOPE,
            None,
            name,
            id.account == d.account,
            format!(
                "caller {} is in account {}, the bundle is for {}",
                id.arn, id.account, d.account
            ),
            format!(
                "the credentials and --account disagree, so every other check looks in the wrong account: use credentials \
                 for {} (--profile; `irsagen whoami` shows them) or pass --account auto",
                d.account
            ),
        ),
    }
}

async fn check_oidc(c: &Clients, d: &Desired) -> Check {
    let arn = &d.oidc.provider.provider_arn;
    let name = "oidc-provider";
    let associate = format!(
        "list providers with `aws iam list-open-id-connect-providers`; register this cluster's with `irsagen apply --aws` \
         or `eksctl utils associate-iam-oidc-provider --cluster {} --region {} --approve`",
        d.cluster, d.region
    );
    match read::oidc_client_ids(c, arn).await {
        Ok(None) => Check::fail(SCOPE, None, name, format!("{arn} is not registered in IAM"), associate),
        Err(e) => error_check(None, name, e),
        Ok(Some(ids)) => Check::from_bool(
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

async fn policy_document(c: &Clients, p: &DesiredPolicy) -> Check {
    let name = "policy-document";
    let preset = p.presets.first().map(String::as_str);
    let advice_live = |v: &str| {
        format!(
            "see the live document with `aws iam get-policy-version --policy-arn {} --version-id {v}`; \
             `irsagen apply --aws` makes the rendered document the default version",
            p.arn
        )
    };
    let live = match read::policy(c, &p.arn).await {
        Ok(None) => {
            return Check::fail(
                SCOPE,
                preset,
                name,
                format!("policy {} does not exist", p.arn),
                "create it with `irsagen apply --aws`",
            );
        }
        Err(e) => return error_check(preset, name, e),
        Ok(Some(live)) => live,
    };
    let version = live.default_version;
    match live.document {
        live if live == p.document => Check::pass(
            SCOPE,
            preset,
            name,
            format!("{} default version {version} equals the rendered document", p.name),
        ),
        live => {
            let diff = doc_decode::diff(Some(&live), &p.document, "live", "rendered");
            let changed = diff
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
                advice_live(&version),
            )
        }
    }
}

async fn role_checks(c: &Clients, d: &Desired, r: &DesiredRole) -> Vec<Check> {
    let preset = Some(r.preset.as_str());
    let (role, attached) = tokio::join!(read::role(c, &r.name), attached_policies(c, &r.name));
    let get_role_hint = format!("inspect it with `aws iam get-role --role-name {}`", r.name);
    let fix = format!("`irsagen apply --aws` rewrites it to the rendered trust policy; {get_role_hint}");
    let mut out = Vec::new();
    let role = match role {
        Err(e) => {
            out.push(error_check(preset, "role-exists", e));
            return out;
        }
        Ok(None) => {
            let missing = format!("role {} does not exist", r.name);
            out.push(Check::fail(
                SCOPE,
                preset,
                "role-exists",
                &missing,
                "create it with `irsagen apply --aws`",
            ));
            for n in ["trust-provider", "trust-subject", "trust-audience", "policy-attached"] {
                out.push(Check::fail(
                    SCOPE,
                    preset,
                    n,
                    &missing,
                    "create it with `irsagen apply --aws`",
                ));
            }
            return out;
        }
        Ok(Some(role)) => role,
    };
    out.push(Check::pass(
        SCOPE,
        preset,
        "role-exists",
        format!("{} exists", role.arn()),
    ));
    match role_trust(&role) {
        Err(e) => {
            for n in ["trust-provider", "trust-subject", "trust-audience"] {
                out.push(error_check(preset, n, crate::Error::Aws(e.to_string())));
            }
        }
        Ok(trust) => out.extend(trust_checks(&trust, d, r, &fix)),
    }
    out.push(match attached {
        Err(e) => error_check(preset, "policy-attached", e),
        Ok(arns) => {
            let arns = arns.unwrap_or_default();
            Check::from_bool(
                SCOPE,
                preset,
                "policy-attached",
                arns.contains(&r.policy_arn),
                if arns.contains(&r.policy_arn) {
                    format!("{} attached", r.policy_name)
                } else {
                    format!("{} is not attached (attached: [{}])", r.policy_arn, arns.join(", "))
                },
                format!("`irsagen apply --aws` attaches it (or `aws iam attach-role-policy --role-name {} --policy-arn {}`)", r.name, r.policy_arn),
            )
        }
    });
    out
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
pub(crate) fn trust_checks(trust: &Value, d: &Desired, r: &DesiredRole, fix: &str) -> Vec<Check> {
    let preset = Some(r.preset.as_str());
    let provider = &d.oidc.provider.provider_arn;
    let host = &d.oidc.provider.host_path;
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
                .any(|a| matches!(*a, "sts:AssumeRoleWithWebIdentity" | "sts:*" | "*"))
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
    let sub_key = format!("{host}:sub");
    let aud_key = format!("{host}:aud");
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
