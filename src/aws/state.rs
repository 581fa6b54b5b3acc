//! What IAM holds for the desired resources, read once and never written: the input of the
//! plan's decisions ([`super::plan::decide`]). Fields keep the SDK's shapes (its `Role`, its
//! `PolicyVersion`s) so recorded read states can stand in for IAM in offline tests. Verify reads
//! into the same model ([`super::verify`]).

use super::Identity;
use super::client::{Clients, api_error};
use super::desired::{Desired, DesiredPolicy};
use super::{doc_decode, identity, read};
use crate::error::Result;
use std::collections::BTreeMap;

/// A customer-managed policy as IAM returned it.
#[derive(Debug, Clone)]
pub struct PolicyState {
    /// GetPolicy's tags.
    pub tags: BTreeMap<String, String>,
    /// GetPolicy's `DefaultVersionId` (`v3`).
    pub default_version: String,
    /// GetPolicyVersion's document of the default version as IAM returns it: URL-encoded JSON
    /// (decoded by the decisions, so an undecodable document is the plan's error and verify's
    /// failed check).
    pub document: String,
    /// ListPolicyVersions, read by the plan only when the default document differs from the
    /// rendered one (the only case where a version is created); empty otherwise.
    pub versions: Vec<aws_sdk_iam::types::PolicyVersion>,
}

/// A role as IAM returned it.
#[derive(Debug, Clone)]
pub struct RoleState {
    /// GetRole's role: ARN, tags and the (URL-encoded) trust policy.
    pub role: aws_sdk_iam::types::Role,
    /// ListAttachedRolePolicies, every page: the attached policy ARNs.
    pub attached: Vec<String>,
    /// ListRolePolicies, every page: the names of inline policies. Read by verify (the plan
    /// never writes or removes one); empty in the plan's state.
    pub inline: Vec<String>,
}

/// What IAM holds for a bundle's resources: the one read model of the plan
/// (`plan::decide`) and of verify ([`super::verify::decide`]).
#[derive(Debug, Clone)]
pub struct IamState {
    /// STS GetCallerIdentity.
    pub caller: Identity,
    /// GetOpenIDConnectProvider's client ids; `None` when the provider does not exist, or when
    /// no role uses IRSA (then it is not read: [`Desired::oidc`] is `None`).
    pub oidc_client_ids: Option<Vec<String>>,
    /// Existing policies by ARN (absent: it does not exist).
    pub policies: BTreeMap<String, PolicyState>,
    /// Existing roles by name (absent: it does not exist).
    pub roles: BTreeMap<String, RoleState>,
    /// Policies irsagen attaches but never creates that do not exist, as `(preset, arn)`: the
    /// declared extra policies (`presets.X.extraPolicyArns`) and the AWS managed policies of
    /// `policy: aws-managed` (one may not exist in every partition). A typo is refused before
    /// any write rather than after the role was created. Read by the plan; verify reports a
    /// missing attachment instead.
    pub missing_extra_policies: Vec<(String, String)>,
}

/// The plan's name for [`IamState`].
pub type ReadState = IamState;

/// Reads IAM for every desired resource, concurrently. Read-only.
pub(crate) async fn read(c: &Clients, d: &Desired) -> Result<IamState> {
    let caller = identity::whoami(c);
    let oidc = optional_oidc_read(c, d);
    let policies = futures::future::join_all(d.policies.iter().map(|p| read_policy(c, p)));
    let roles = futures::future::join_all(d.roles.iter().map(|r| read_role(c, &r.name)));
    let declared: Vec<(&str, &str)> = d
        .roles
        .iter()
        .flat_map(|r| {
            let managed = r.policy_arns.iter().filter(|_| r.aws_managed);
            managed
                .chain(&r.extra_policy_arns)
                .map(|a| (r.preset.as_str(), a.as_str()))
        })
        .collect();
    let extras = futures::future::join_all(declared.iter().map(|(_, a)| read::policy_exists(c, a)));
    let (caller, oidc, policies, roles, extras) = tokio::join!(caller, oidc, policies, roles, extras);
    // The account comes first: with another account's credentials every other answer is moot.
    let caller = caller?;
    let mut state = IamState {
        caller,
        oidc_client_ids: oidc?,
        policies: BTreeMap::new(),
        roles: BTreeMap::new(),
        missing_extra_policies: Vec::new(),
    };
    for ((preset, arn), exists) in declared.into_iter().zip(extras) {
        if !exists? {
            state.missing_extra_policies.push((preset.to_string(), arn.to_string()));
        }
    }
    for (p, live) in d.policies.iter().zip(policies) {
        if let Some(live) = live? {
            state.policies.insert(p.arn.clone(), live);
        }
    }
    for (r, live) in d.roles.iter().zip(roles) {
        if let Some(live) = live? {
            state.roles.insert(r.name.clone(), live);
        }
    }
    Ok(state)
}

/// GetOpenIDConnectProvider of the desired provider; no call when no role uses IRSA.
pub(crate) async fn optional_oidc_read(c: &Clients, d: &Desired) -> read::ReadResult<Option<Vec<String>>> {
    match &d.oidc {
        Some(o) => read::oidc_client_ids(c, &o.provider.provider_arn).await,
        None => Ok(None),
    }
}

async fn read_policy(c: &Clients, p: &DesiredPolicy) -> Result<Option<PolicyState>> {
    let Some(live) = read::policy_raw(c, &p.arn).await? else {
        return Ok(None);
    };
    // A document that does not decode differs too; the plan then refuses with the decode error.
    let same = doc_decode::decode(&live.document, "").is_ok_and(|doc| doc == p.document);
    let versions = if same {
        Vec::new()
    } else {
        c.iam
            .list_policy_versions()
            .policy_arn(&p.arn)
            .max_items(100)
            .send()
            .await
            .map_err(|e| api_error("iam:ListPolicyVersions", &p.arn, e))?
            .versions
            .unwrap_or_default()
    };
    Ok(Some(PolicyState {
        tags: live.tags,
        default_version: live.default_version,
        document: live.document,
        versions,
    }))
}

async fn read_role(c: &Clients, name: &str) -> Result<Option<RoleState>> {
    let Some(role) = read::role(c, name).await? else {
        return Ok(None);
    };
    // The role existed a moment ago; if it vanished in between, attaching converges on re-run.
    let attached = read::attached_policies(c, name).await?.unwrap_or_default();
    Ok(Some(RoleState {
        role,
        attached,
        inline: Vec::new(),
    }))
}
