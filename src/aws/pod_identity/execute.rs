//! Carrying out a Pod Identity plan: the write calls in order (agent addons, then per
//! association its tag call and its create or update), stopping at the first failure with a
//! report of what was done.
//!
//! Each call is safe to repeat. Creates and updates carry a `clientRequestToken` derived from
//! what they ask for, so when the SDK retries after a lost answer EKS sees the same request and
//! answers with its first result. A create that meets `ResourceInUseException` (the association
//! or addon exists: a lost answer outside the token's reach, or a concurrent run) re-reads EKS
//! and continues when it shows what the call would have made. Every call runs under the
//! clients' timeout (`--timeout`: connect, attempt and whole-operation budget).

use super::decide::{EksOp, EksPlanItem};
use super::read;
use crate::aws::client::{Clients, api_error, error_code};
use crate::aws::execute::{ExecReport, Stoppable, not_a_lost_answer, stopped_text};
use crate::aws::plan::not_ours;
use crate::error::{Error, Result};

/// What to do after a write call failed with the service error `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Stop: the error stands.
    Fail,
    /// Re-read EKS: if it shows the call's effect, the call is done.
    Reread,
}

/// The decision after a failed call (pure, so it is tested without EKS): only a create that
/// finds its resource in use is re-read; an update or tag of an association that is gone is
/// an error (re-running apply plans a create).
pub fn recovery(op: &EksOp, code: Option<&str>) -> Recovery {
    match (op, code) {
        (EksOp::CreateAssociation { .. } | EksOp::CreateAddon { .. }, Some("ResourceInUseException")) => {
            Recovery::Reread
        }
        _ => Recovery::Fail,
    }
}

/// Runs every op of every item, in order.
pub(crate) async fn run(c: &Clients, items: &[EksPlanItem]) -> Result<ExecReport> {
    let before = c.log.stats();
    let ops: Vec<(usize, &EksOp)> = items
        .iter()
        .enumerate()
        .flat_map(|(i, it)| it.ops.iter().map(move |op| (i, op)))
        .collect();
    let mut done = Vec::new();
    for (n, (item, op)) in ops.iter().enumerate() {
        match one(c, op).await {
            Ok(None) => done.push(op.describe()),
            Ok(Some(note)) => done.push(format!("{} ({note})", op.describe())),
            Err(e) => {
                let stats = c.log.stats().since(before);
                return Err(Error::Aws(stopped_text(
                    "EKS",
                    items,
                    &ops,
                    EksOp::describe,
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

impl Stoppable for EksPlanItem {
    type Op = EksOp;
    fn adopting(&self) -> bool {
        self.adopting
    }
    fn label(&self) -> String {
        format!("{} `{}`", self.kind, self.name)
    }
    fn first_op(&self) -> Option<&EksOp> {
        self.ops.first()
    }
}

/// One call; `Ok(Some(note))` when it was recovered by a re-read.
async fn one(c: &Clients, op: &EksOp) -> Result<Option<String>> {
    match call(c, op).await {
        Ok(()) => Ok(None),
        Err((code, err)) => match recovery(op, code.as_deref()) {
            Recovery::Fail => Err(err),
            Recovery::Reread => reread(c, op, err).await.map(Some),
        },
    }
}

/// After `ResourceInUseException` on a create: `Ok(note)` when EKS shows what the call would
/// have made, else `err` stands with what was found.
async fn reread(c: &Clients, op: &EksOp, err: Error) -> Result<String> {
    let found = match op {
        EksOp::CreateAssociation {
            cluster,
            namespace,
            service_account,
            role_arn,
            ..
        } => {
            let d = super::DesiredAssociation {
                preset: String::new(),
                cluster: cluster.clone(),
                namespace: namespace.clone(),
                service_account: service_account.clone(),
                role_arn: role_arn.clone(),
                tags: Default::default(),
            };
            match read::association(c, &d).await? {
                Some(a) if not_ours(&a.tags).is_none() && a.owner_arn.is_none() && &a.role_arn == role_arn => {
                    return Ok(format!("it exists already as {}: EKS shows it done", a.id));
                }
                Some(a) => format!(
                    "association {} with role {}{}",
                    a.id,
                    a.role_arn,
                    not_ours(&a.tags).map(|w| format!(" that {w}")).unwrap_or_default()
                ),
                None => "no association".to_string(),
            }
        }
        EksOp::CreateAddon { cluster, .. } => match read::addon(c, cluster).await? {
            // Whoever installed it, the goal (the agent exists) holds; verify reports its status.
            Some(a) => return Ok(format!("it exists already, status {}", a.status)),
            None => "no addon".to_string(),
        },
        _ => return Err(err),
    };
    Err(not_a_lost_answer(err, "EKS", &found))
}

/// One SDK call; on failure, the service's error code and the readable error.
async fn call(c: &Clients, op: &EksOp) -> std::result::Result<(), (Option<String>, Error)> {
    let eks = &c.eks;
    macro_rules! fail {
        ($action:expr, $target:expr) => {
            |e| (error_code(&e).map(str::to_string), api_error($action, $target, e))
        };
    }
    let map = |t: &std::collections::BTreeMap<String, String>| -> Option<std::collections::HashMap<String, String>> {
        Some(t.clone().into_iter().collect())
    };
    match op {
        EksOp::CreateAssociation {
            cluster,
            namespace,
            service_account,
            role_arn,
            tags,
            token,
        } => {
            eks.create_pod_identity_association()
                .cluster_name(cluster)
                .namespace(namespace)
                .service_account(service_account)
                .role_arn(role_arn)
                .set_tags(map(tags))
                .client_request_token(token)
                .send()
                .await
                .map_err(fail!(
                    "eks:CreatePodIdentityAssociation",
                    &format!("{cluster}/{namespace}/{service_account}")
                ))?;
        }
        EksOp::UpdateAssociation {
            cluster,
            id,
            role_arn,
            token,
        } => {
            eks.update_pod_identity_association()
                .cluster_name(cluster)
                .association_id(id)
                .role_arn(role_arn)
                .client_request_token(token)
                .send()
                .await
                .map_err(fail!("eks:UpdatePodIdentityAssociation", &format!("{cluster} {id}")))?;
        }
        EksOp::TagAssociation { arn, tags } => {
            eks.tag_resource()
                .resource_arn(arn)
                .set_tags(map(tags))
                .send()
                .await
                .map_err(fail!("eks:TagResource", arn))?;
        }
        EksOp::CreateAddon { cluster, tags, token } => {
            eks.create_addon()
                .cluster_name(cluster)
                .addon_name(super::AGENT_ADDON)
                .set_tags(map(tags))
                .client_request_token(token)
                .send()
                .await
                .map_err(fail!("eks:CreateAddon", &format!("{cluster}/{}", super::AGENT_ADDON)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn create() -> EksOp {
        EksOp::CreateAssociation {
            cluster: "c".into(),
            namespace: "n".into(),
            service_account: "s".into(),
            role_arn: "arn:r".into(),
            tags: BTreeMap::new(),
            token: "t".into(),
        }
    }

    #[test]
    fn only_a_create_in_use_is_re_read() {
        assert_eq!(recovery(&create(), Some("ResourceInUseException")), Recovery::Reread);
        let addon = EksOp::CreateAddon {
            cluster: "c".into(),
            tags: BTreeMap::new(),
            token: "t".into(),
        };
        assert_eq!(recovery(&addon, Some("ResourceInUseException")), Recovery::Reread);
        let update = EksOp::UpdateAssociation {
            cluster: "c".into(),
            id: "a-1".into(),
            role_arn: "arn:r".into(),
            token: "t".into(),
        };
        assert_eq!(recovery(&update, Some("ResourceInUseException")), Recovery::Fail);
        assert_eq!(recovery(&update, Some("ResourceNotFoundException")), Recovery::Fail);
        assert_eq!(recovery(&create(), Some("AccessDeniedException")), Recovery::Fail);
        assert_eq!(recovery(&create(), Some("InvalidParameterException")), Recovery::Fail);
        assert_eq!(recovery(&create(), None), Recovery::Fail);
    }
}
