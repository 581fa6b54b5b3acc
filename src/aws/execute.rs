//! Carrying out a plan: the write calls, in order (OIDC provider, policies, roles), stopping at
//! the first failure with a report of what was done. Every call is idempotent with respect to
//! a re-plan, so re-running apply converges.

use super::client::{CallStats, Clients, api_error};
use super::plan::{Op, PlanItem};
use crate::error::{Error, Result};
use crate::render::AUDIENCE;
use std::collections::BTreeMap;

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

/// Runs every op of every item, in order.
pub(crate) async fn run(c: &Clients, items: &[PlanItem]) -> Result<ExecReport> {
    let before = c.log.stats();
    let ops: Vec<&Op> = items.iter().flat_map(|i| i.ops.iter()).collect();
    let mut done = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let Err(e) = one(c, op).await {
            let stats = c.log.stats().since(before);
            let done_text = if done.is_empty() {
                "  (nothing)".to_string()
            } else {
                done.iter()
                    .map(|d| format!("  done {d}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            return Err(Error::Aws(format!(
                "apply stopped part-way ({stats}):\n{done_text}\n  FAILED {}: {e}\n  {} more change(s) not attempted.\n\
                 Fix the cause and re-run `irsagen apply --aws`: it re-reads IAM and does only what is still missing.",
                op.describe(),
                ops.len() - i - 1
            )));
        }
        done.push(op.describe());
    }
    Ok(ExecReport {
        done,
        stats: c.log.stats().since(before),
    })
}

async fn one(c: &Clients, op: &Op) -> Result<()> {
    let iam = &c.iam;
    match op {
        Op::CreateOidcProvider { url, tags: t } => {
            iam.create_open_id_connect_provider()
                .url(url)
                .client_id_list(AUDIENCE)
                .set_tags(Some(tags(t)?))
                .send()
                .await
                .map_err(|e| api_error("iam:CreateOpenIDConnectProvider", url, e))?;
        }
        Op::AddClientId { arn } => {
            iam.add_client_id_to_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .client_id(AUDIENCE)
                .send()
                .await
                .map_err(|e| api_error("iam:AddClientIDToOpenIDConnectProvider", arn, e))?;
        }
        Op::CreatePolicy {
            name,
            document,
            tags: t,
        } => {
            iam.create_policy()
                .policy_name(name)
                .policy_document(document)
                .description("IRSA policy managed by irsagen")
                .set_tags(Some(tags(t)?))
                .send()
                .await
                .map_err(|e| api_error("iam:CreatePolicy", name, e))?;
        }
        Op::DeletePolicyVersion { arn, version_id } => {
            iam.delete_policy_version()
                .policy_arn(arn)
                .version_id(version_id)
                .send()
                .await
                .map_err(|e| api_error("iam:DeletePolicyVersion", &format!("{arn} {version_id}"), e))?;
        }
        Op::CreatePolicyVersion { arn, document } => {
            iam.create_policy_version()
                .policy_arn(arn)
                .policy_document(document)
                .set_as_default(true)
                .send()
                .await
                .map_err(|e| api_error("iam:CreatePolicyVersion", arn, e))?;
        }
        Op::TagPolicy { arn, tags: t } => {
            iam.tag_policy()
                .policy_arn(arn)
                .set_tags(Some(tags(t)?))
                .send()
                .await
                .map_err(|e| api_error("iam:TagPolicy", arn, e))?;
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
                .set_tags(Some(tags(t)?))
                .send()
                .await
                .map_err(|e| api_error("iam:CreateRole", name, e))?;
        }
        Op::UpdateTrust { name, trust } => {
            iam.update_assume_role_policy()
                .role_name(name)
                .policy_document(trust)
                .send()
                .await
                .map_err(|e| api_error("iam:UpdateAssumeRolePolicy", name, e))?;
        }
        Op::AttachPolicy { role, arn } => {
            iam.attach_role_policy()
                .role_name(role)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| api_error("iam:AttachRolePolicy", &format!("{role} {arn}"), e))?;
        }
        Op::TagRole { name, tags: t } => {
            iam.tag_role()
                .role_name(name)
                .set_tags(Some(tags(t)?))
                .send()
                .await
                .map_err(|e| api_error("iam:TagRole", name, e))?;
        }
    }
    Ok(())
}
