//! Carrying out a plan: the write calls, in order (OIDC provider, policies, roles), stopping at
//! the first failure with a report of what was done. Every call is idempotent with respect to
//! a re-plan, so re-running apply converges.
//!
//! The network loses answers: a call can take effect while its response is lost, and the SDK's
//! retry then meets "it already exists" (`EntityAlreadyExists`, or `LimitExceeded` for a
//! policy version). Such an answer is a reason to re-read and continue when IAM shows the
//! call's effect. IAM is also eventually consistent: a role or policy created a moment ago may
//! answer `NoSuchEntity`, which is retried with backoff, a bounded number of times.

use super::client::{CallStats, Clients, api_error, error_code};
use super::plan::{Op, PlanItem, not_ours};
use super::read;
use crate::error::{Error, Result};
use crate::identity::AUDIENCE;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// First wait before retrying a `NoSuchEntity` on something this run created; doubled each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Retries of a `NoSuchEntity` on something this run created (0.2 + 0.4 + … + 6.4 s ≈ 12.6 s).
pub(crate) const CONSISTENCY_RETRIES: u32 = 6;

/// What an execute did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExecReport {
    /// The calls made, as `iam:Action target`, in order.
    pub done: Vec<String>,
    /// API calls made by the execute (reads and writes).
    pub stats: CallStats,
}

impl ExecReport {
    /// One line per call, then `aws: N changes applied, M API calls (K writes)`.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for d in &self.done {
            s.push_str(&format!("done {d}\n"));
        }
        s.push_str(&format!("aws: {} changes applied, {}\n", self.done.len(), self.stats));
        s
    }
}

fn tags(map: &BTreeMap<String, String>) -> Result<Vec<aws_sdk_iam::types::Tag>> {
    map.iter()
        .map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| Error::Aws(format!("tag {k}: {e}")))
        })
        .collect()
}

/// What to do after a write call failed with the service error `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// Stop: the error stands.
    Fail,
    /// Re-read IAM: if it shows the call's effect, the answer was lost and the call is done.
    Reread,
    /// The call's goal already holds (a version to delete is gone).
    AlreadyDone,
    /// Wait and call again: the entity was created by this run and is not visible yet.
    Wait,
}

/// The decision after a failed call (pure, so it is tested without AWS). `fresh` is true when
/// the entities the call needs were created earlier in this run; `retries` counts waits so far.
pub(crate) fn recovery(op: &Op, code: Option<&str>, fresh: bool, retries: u32) -> Recovery {
    match (op, code) {
        (
            Op::CreateOidcProvider { .. } | Op::CreatePolicy { .. } | Op::CreateRole { .. },
            Some("EntityAlreadyExists"),
        ) => Recovery::Reread,
        (Op::CreatePolicyVersion { .. }, Some("LimitExceeded")) => Recovery::Reread,
        (Op::DeletePolicyVersion { .. }, Some("NoSuchEntity")) => Recovery::AlreadyDone,
        (_, Some("NoSuchEntity")) if fresh && retries < CONSISTENCY_RETRIES => Recovery::Wait,
        _ => Recovery::Fail,
    }
}

/// Runs every op of every item, in order.
pub(crate) async fn run(c: &Clients, items: &[PlanItem]) -> Result<ExecReport> {
    let before = c.log.stats();
    let ops: Vec<(usize, &Op)> = items
        .iter()
        .enumerate()
        .flat_map(|(i, it)| it.ops.iter().map(move |op| (i, op)))
        .collect();
    let mut done = Vec::new();
    let mut created: BTreeSet<String> = BTreeSet::new();
    for (n, (item, op)) in ops.iter().enumerate() {
        match one(c, op, &created).await {
            Ok(note) => {
                done.push(match note {
                    Some(note) => format!("{} ({note})", op.describe()),
                    None => op.describe(),
                });
                if let Some(name) = op.creates() {
                    created.insert(name.to_string());
                }
            }
            Err(e) => {
                let stats = c.log.stats().since(before);
                return Err(Error::Aws(stopped_text(
                    "IAM",
                    items,
                    &ops,
                    Op::describe,
                    n,
                    *item,
                    &done,
                    &e,
                    stats,
                )));
            }
        }
    }
    Ok(ExecReport {
        done,
        stats: c.log.stats().since(before),
    })
}

/// The adopted items not claimed yet when op `failed_op` of item `failed_item` failed: an adopted
/// item's first call is its claim, so it is claimed once that call is done. `items` gives, per
/// plan item, whether it is adopted, its label and its first op, if it has any (IAM and EKS
/// plans alike).
pub(crate) fn unclaimed<'a, O: PartialEq + 'a>(
    items: impl Iterator<Item = (bool, String, Option<&'a O>)>,
    failed_item: usize,
    failed_op: &O,
) -> Vec<String> {
    items
        .enumerate()
        .filter(|(i, (adopting, _, first))| {
            *adopting && (*i > failed_item || (*i == failed_item && *first == Some(failed_op)))
        })
        .map(|(_, (_, label, _))| label)
        .collect()
}

/// A create that met "already exists" and whose re-read shows something else (`found`): not a
/// lost answer of this run, so the error stands with what was found. `service` is IAM or EKS.
pub(crate) fn not_a_lost_answer(err: Error, service: &str, found: &str) -> Error {
    Error::Aws(format!(
        "{err}; re-reading {service} found {found}, so this is not a lost answer of this run: re-run `irsagen apply --aws` to plan \
         against what exists (with --adopt if it is not irsagen's)"
    ))
}

/// The message of an apply that stopped: what was done, what failed, how much was not tried, and
/// the re-run command, which names `--adopt` while an adopted resource (`unclaimed`) has not
/// been claimed yet. One wording for IAM and EKS (`service` is what a re-run reads again).
pub(crate) fn stopped_message(
    service: &str,
    done: &[String],
    failed: &str,
    e: &Error,
    not_attempted: usize,
    unclaimed: &[String],
    stats: CallStats,
) -> String {
    let done_text = if done.is_empty() {
        "  (nothing)".to_string()
    } else {
        done.iter()
            .map(|d| format!("  done {d}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let rerun = if unclaimed.is_empty() {
        format!(
            "Fix the cause and re-run `irsagen apply --aws`: it re-reads {service} and does only what is still missing."
        )
    } else {
        format!(
            "Fix the cause and re-run with --adopt (`irsagen apply --aws --adopt`): {} not claimed yet (nothing of it was \
             changed, it is still not irsagen's), so a re-run without --adopt refuses it.",
            unclaimed.join(", ") + if unclaimed.len() == 1 { " is" } else { " are" }
        )
    };
    format!(
        "apply stopped part-way ({stats}):\n{done_text}\n  FAILED {failed}: {e}\n  {not_attempted} more change(s) not attempted.\n{rerun}"
    )
}

/// What the stop message needs of a plan item (IAM's and EKS's alike): whether it is adopted,
/// its label and its first call.
pub(crate) trait Stoppable {
    /// The item's write call.
    type Op: PartialEq;
    /// `--adopt` takes it over (its first call is the claim).
    fn adopting(&self) -> bool;
    /// `kind `name``, as the message names it.
    fn label(&self) -> String;
    /// Its first call, if it has any.
    fn first_op(&self) -> Option<&Self::Op>;
}

impl Stoppable for PlanItem {
    type Op = Op;
    fn adopting(&self) -> bool {
        self.adopting
    }
    fn label(&self) -> String {
        format!("{} `{}`", self.kind, self.name)
    }
    fn first_op(&self) -> Option<&Op> {
        self.ops.first()
    }
}

/// The message of a run of `service` calls stopped by error `e` at op `n` (of item
/// `failed_item`): what was done, what failed, how many calls were left and which adopted items
/// are still unclaimed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn stopped_text<I: Stoppable>(
    service: &str,
    items: &[I],
    ops: &[(usize, &I::Op)],
    describe: impl Fn(&I::Op) -> String,
    n: usize,
    failed_item: usize,
    done: &[String],
    e: &Error,
    stats: CallStats,
) -> String {
    let unclaimed = unclaimed(
        items.iter().map(|it| (it.adopting(), it.label(), it.first_op())),
        failed_item,
        ops[n].1,
    );
    stopped_message(
        service,
        done,
        &describe(ops[n].1),
        e,
        ops.len() - n - 1,
        &unclaimed,
        stats,
    )
}

/// One call, with the recoveries of [`recovery`]; `Ok(Some(note))` when it was recovered.
async fn one(c: &Clients, op: &Op, created: &BTreeSet<String>) -> Result<Option<String>> {
    let fresh = op.needs().iter().any(|n| created.contains(*n));
    let mut wait = FIRST_BACKOFF;
    let mut retries = 0;
    loop {
        let Err((code, err)) = call(c, op).await else {
            return Ok((retries > 0).then(|| format!("visible after {retries} retries")));
        };
        match recovery(op, code.as_deref(), fresh, retries) {
            Recovery::Fail => return Err(err),
            Recovery::AlreadyDone => return Ok(Some("already gone".into())),
            Recovery::Reread => return reread(c, op, err).await.map(Some),
            Recovery::Wait => {
                tokio::time::sleep(wait).await;
                wait *= 2;
                retries += 1;
            }
        }
    }
}

/// After "already exists": `Ok(note)` when IAM shows exactly what the call would have made
/// (the answer was lost and the SDK's retry found the call's own result), else `err` stands
/// with what was found.
async fn reread(c: &Clients, op: &Op, err: Error) -> Result<String> {
    const LOST: &str = "its answer was lost; IAM shows it done";
    let found = match op {
        Op::CreateOidcProvider { arn, .. } => match read::oidc_client_ids(c, arn).await? {
            Some(ids) if ids.iter().any(|i| i == AUDIENCE) => return Ok(LOST.into()),
            Some(_) => "a provider without the client id sts.amazonaws.com".to_string(),
            None => "no provider".to_string(),
        },
        Op::CreatePolicy { arn, document, .. } | Op::CreatePolicyVersion { arn, document } => {
            let want: serde_json::Value = serde_json::from_str(document).unwrap_or_default();
            match read::policy(c, arn).await? {
                Some(p) if not_ours(&p.tags).is_none() && p.document == want => return Ok(LOST.into()),
                Some(p) => match not_ours(&p.tags) {
                    Some(why) => format!("a policy that {why}"),
                    None => format!("the default version {} with another document", p.default_version),
                },
                None => "no policy".to_string(),
            }
        }
        Op::CreateRole { name, trust, .. } => {
            let want: serde_json::Value = serde_json::from_str(trust).unwrap_or_default();
            match read::role(c, name).await? {
                Some(r) => {
                    let why = not_ours(&read::tag_map(r.tags()));
                    if why.is_none() && read::role_trust(&r)? == want {
                        return Ok(LOST.into());
                    }
                    match why {
                        Some(why) => format!("a role that {why}"),
                        None => "a role with another trust policy".to_string(),
                    }
                }
                None => "no role".to_string(),
            }
        }
        _ => return Err(err),
    };
    Err(not_a_lost_answer(err, "IAM", &found))
}

/// One SDK call; on failure, the service's error code and the readable error.
async fn call(c: &Clients, op: &Op) -> std::result::Result<(), (Option<String>, Error)> {
    let iam = &c.iam;
    macro_rules! fail {
        ($action:expr, $target:expr) => {
            |e| (error_code(&e).map(str::to_string), api_error($action, $target, e))
        };
    }
    let tagged = |t: &BTreeMap<String, String>| tags(t).map_err(|e| (None, e));
    match op {
        Op::CreateOidcProvider { url, tags: t, .. } => {
            iam.create_open_id_connect_provider()
                .url(url)
                .client_id_list(AUDIENCE)
                .set_tags(Some(tagged(t)?))
                .send()
                .await
                .map_err(fail!("iam:CreateOpenIDConnectProvider", url))?;
        }
        Op::AddClientId { arn } => {
            iam.add_client_id_to_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .client_id(AUDIENCE)
                .send()
                .await
                .map_err(fail!("iam:AddClientIDToOpenIDConnectProvider", arn))?;
        }
        Op::CreatePolicy {
            name,
            document,
            tags: t,
            ..
        } => {
            iam.create_policy()
                .policy_name(name)
                .policy_document(document)
                .description("IRSA policy managed by irsagen")
                .set_tags(Some(tagged(t)?))
                .send()
                .await
                .map_err(fail!("iam:CreatePolicy", name))?;
        }
        Op::DeletePolicyVersion { arn, version_id } => {
            iam.delete_policy_version()
                .policy_arn(arn)
                .version_id(version_id)
                .send()
                .await
                .map_err(fail!("iam:DeletePolicyVersion", &format!("{arn} {version_id}")))?;
        }
        Op::CreatePolicyVersion { arn, document } => {
            iam.create_policy_version()
                .policy_arn(arn)
                .policy_document(document)
                .set_as_default(true)
                .send()
                .await
                .map_err(fail!("iam:CreatePolicyVersion", arn))?;
        }
        Op::TagPolicy { arn, tags: t } => {
            iam.tag_policy()
                .policy_arn(arn)
                .set_tags(Some(tagged(t)?))
                .send()
                .await
                .map_err(fail!("iam:TagPolicy", arn))?;
        }
        Op::CreateRole {
            name,
            trust,
            tags: t,
            description,
        } => {
            iam.create_role()
                .role_name(name)
                .assume_role_policy_document(trust)
                .description(description)
                .set_tags(Some(tagged(t)?))
                .send()
                .await
                .map_err(fail!("iam:CreateRole", name))?;
        }
        Op::UpdateTrust { name, trust } => {
            iam.update_assume_role_policy()
                .role_name(name)
                .policy_document(trust)
                .send()
                .await
                .map_err(fail!("iam:UpdateAssumeRolePolicy", name))?;
        }
        Op::AttachPolicy { role, arn } => {
            iam.attach_role_policy()
                .role_name(role)
                .policy_arn(arn)
                .send()
                .await
                .map_err(fail!("iam:AttachRolePolicy", &format!("{role} {arn}")))?;
        }
        Op::TagRole { name, tags: t } => {
            iam.tag_role()
                .role_name(name)
                .set_tags(Some(tagged(t)?))
                .send()
                .await
                .map_err(fail!("iam:TagRole", name))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attach() -> Op {
        Op::AttachPolicy {
            role: "r".into(),
            arn: "arn:p".into(),
        }
    }

    #[test]
    fn already_exists_after_a_create_is_re_read() {
        let create_role = Op::CreateRole {
            name: "r".into(),
            trust: "{}".into(),
            tags: BTreeMap::new(),
            description: String::new(),
        };
        assert_eq!(
            recovery(&create_role, Some("EntityAlreadyExists"), false, 0),
            Recovery::Reread
        );
        let create_policy = Op::CreatePolicy {
            name: "p".into(),
            arn: "arn:p".into(),
            document: "{}".into(),
            tags: BTreeMap::new(),
        };
        assert_eq!(
            recovery(&create_policy, Some("EntityAlreadyExists"), false, 0),
            Recovery::Reread
        );
        let provider = Op::CreateOidcProvider {
            url: "https://x".into(),
            arn: "arn:o".into(),
            tags: BTreeMap::new(),
        };
        assert_eq!(
            recovery(&provider, Some("EntityAlreadyExists"), false, 0),
            Recovery::Reread
        );
        let version = Op::CreatePolicyVersion {
            arn: "arn:p".into(),
            document: "{}".into(),
        };
        assert_eq!(recovery(&version, Some("LimitExceeded"), false, 0), Recovery::Reread);
        // Not a create: "already exists" is not a lost answer of ours.
        assert_eq!(
            recovery(&attach(), Some("EntityAlreadyExists"), true, 0),
            Recovery::Fail
        );
        assert_eq!(recovery(&create_role, Some("LimitExceeded"), false, 0), Recovery::Fail);
        assert_eq!(recovery(&create_role, Some("AccessDenied"), false, 0), Recovery::Fail);
        assert_eq!(recovery(&create_role, None, false, 0), Recovery::Fail);
    }

    #[test]
    fn no_such_entity_waits_only_for_what_this_run_created_and_only_so_often() {
        assert_eq!(recovery(&attach(), Some("NoSuchEntity"), true, 0), Recovery::Wait);
        assert_eq!(
            recovery(&attach(), Some("NoSuchEntity"), true, CONSISTENCY_RETRIES - 1),
            Recovery::Wait
        );
        assert_eq!(
            recovery(&attach(), Some("NoSuchEntity"), true, CONSISTENCY_RETRIES),
            Recovery::Fail
        );
        assert_eq!(recovery(&attach(), Some("NoSuchEntity"), false, 0), Recovery::Fail);
        let delete = Op::DeletePolicyVersion {
            arn: "arn:p".into(),
            version_id: "v1".into(),
        };
        assert_eq!(recovery(&delete, Some("NoSuchEntity"), false, 0), Recovery::AlreadyDone);
    }

    #[test]
    fn needs_and_creates_name_the_entities() {
        assert_eq!(attach().needs(), vec!["r", "arn:p"]);
        let role = Op::CreateRole {
            name: "r".into(),
            trust: "{}".into(),
            tags: BTreeMap::new(),
            description: String::new(),
        };
        assert_eq!(role.creates(), Some("r"));
        assert!(role.needs().is_empty());
        assert_eq!(attach().creates(), None);
        let policy = Op::CreatePolicy {
            name: "p".into(),
            arn: "arn:p".into(),
            document: "{}".into(),
            tags: BTreeMap::new(),
        };
        assert_eq!(policy.creates(), Some("arn:p"));
        let tag = Op::TagRole {
            name: "r".into(),
            tags: BTreeMap::new(),
        };
        assert_eq!(tag.needs(), vec!["r"]);
    }
}
