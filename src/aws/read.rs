//! Reads of live IAM state, shared by the plan and by verify so both look at IAM the same way.
//! Each returns `None` when the resource does not exist; any other error names the call.

use super::client::{Clients, api_error, is_not_found};
use super::doc_decode;
use crate::error::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;

/// A customer-managed policy as IAM holds it.
pub(crate) struct LivePolicy {
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Id of its default version (`v3`).
    pub default_version: String,
    /// The default version's document, decoded.
    pub document: Value,
}

/// IAM tags as a sorted map.
pub(crate) fn tag_map(tags: &[aws_sdk_iam::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// GetOpenIDConnectProvider: the provider's client ids.
pub(crate) async fn oidc_client_ids(c: &Clients, arn: &str) -> Result<Option<Vec<String>>> {
    match c
        .iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
    {
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(api_error("iam:GetOpenIDConnectProvider", arn, e)),
        Ok(out) => Ok(Some(out.client_id_list().to_vec())),
    }
}

/// GetPolicy, then GetPolicyVersion of its default version.
pub(crate) async fn policy(c: &Clients, arn: &str) -> Result<Option<LivePolicy>> {
    let live = match c.iam.get_policy().policy_arn(arn).send().await {
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(api_error("iam:GetPolicy", arn, e)),
        Ok(out) => out
            .policy
            .ok_or_else(|| Error::Aws(format!("iam:GetPolicy {arn} returned no policy")))?,
    };
    let version = live.default_version_id().unwrap_or("v1").to_string();
    let got = c
        .iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(&version)
        .send()
        .await
        .map_err(|e| api_error("iam:GetPolicyVersion", &format!("{arn} {version}"), e))?;
    let raw = got.policy_version.and_then(|v| v.document).unwrap_or_default();
    let document = doc_decode::decode(&raw, &format!("policy {arn} version {version}"))?;
    Ok(Some(LivePolicy {
        tags: tag_map(live.tags()),
        default_version: version,
        document,
    }))
}

/// GetRole.
pub(crate) async fn role(c: &Clients, name: &str) -> Result<Option<aws_sdk_iam::types::Role>> {
    match c.iam.get_role().role_name(name).send().await {
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(api_error("iam:GetRole", name, e)),
        Ok(out) => Ok(out.role),
    }
}

/// The role's trust policy, decoded.
pub(crate) fn role_trust(role: &aws_sdk_iam::types::Role) -> Result<Value> {
    doc_decode::decode(
        role.assume_role_policy_document().unwrap_or("{}"),
        &format!("trust policy of role {}", role.role_name()),
    )
}

/// ListAttachedRolePolicies, every page: the attached policy ARNs.
pub(crate) async fn attached_policies(c: &Clients, role: &str) -> Result<Option<Vec<String>>> {
    let mut arns = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = match c
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .set_marker(marker.clone())
            .send()
            .await
        {
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(api_error("iam:ListAttachedRolePolicies", role, e)),
            Ok(o) => o,
        };
        arns.extend(
            out.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string)),
        );
        match (out.is_truncated, out.marker) {
            (true, Some(m)) => marker = Some(m),
            _ => return Ok(Some(arns)),
        }
    }
}
