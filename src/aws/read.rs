//! Reads of live IAM state, shared by the plan and by verify so both look at IAM the same way.
//! Each returns `None` when the resource does not exist; any other failure is a [`ReadError`]
//! that names the call and says what the failure has in common with others (its cause), so
//! verify can report one line per cause instead of one per resource.

use super::client::{Clients, api_error, is_not_found};
use super::doc_decode;
use crate::error::{Error, Result};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use serde_json::Value;
use std::collections::BTreeMap;

/// A read that failed for a reason other than "it does not exist".
#[derive(Debug)]
pub(crate) struct ReadError {
    /// What failures with the same cause share: `network` when AWS could not be reached or
    /// did not answer in time (every call fails alike), else the call and the error code
    /// (`iam:GetRole AccessDenied`: one missing permission, whatever the target).
    pub cause: String,
    /// The message, naming the call, its target and what to do.
    pub error: Error,
}

impl From<ReadError> for Error {
    fn from(e: ReadError) -> Self {
        e.error
    }
}

/// Result of a read.
pub(crate) type ReadResult<T> = std::result::Result<T, ReadError>;

/// Wraps an SDK error of `action` on `target` as a [`ReadError`].
fn failed<E, R>(action: &str, target: &str, err: SdkError<E, R>) -> ReadError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let cause = match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => "network".to_string(),
        SdkError::ServiceError(se) => format!("{action} {}", se.err().code().unwrap_or("Unknown")),
        _ => format!("{action} response"),
    };
    ReadError {
        cause,
        error: api_error(action, target, err),
    }
}

/// A customer-managed policy as IAM holds it.
pub(crate) struct LivePolicy {
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Id of its default version (`v3`).
    pub default_version: String,
    /// The default version's document, decoded.
    pub document: Value,
}

/// A policy's default version as GetPolicyVersion returns it, document not yet decoded.
pub(crate) struct RawPolicy {
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Id of its default version (`v3`).
    pub default_version: String,
    /// The default version's document as IAM returns it (URL-encoded JSON).
    pub document: String,
}

/// IAM tags as a sorted map.
pub(crate) fn tag_map(tags: &[aws_sdk_iam::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// GetOpenIDConnectProvider: the provider's client ids.
pub(crate) async fn oidc_client_ids(c: &Clients, arn: &str) -> ReadResult<Option<Vec<String>>> {
    match c
        .iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
    {
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(failed("iam:GetOpenIDConnectProvider", arn, e)),
        Ok(out) => Ok(Some(out.client_id_list().to_vec())),
    }
}

/// GetPolicy, then GetPolicyVersion of its default version; the document as IAM returns it.
pub(crate) async fn policy_raw(c: &Clients, arn: &str) -> ReadResult<Option<RawPolicy>> {
    let live = match c.iam.get_policy().policy_arn(arn).send().await {
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(failed("iam:GetPolicy", arn, e)),
        Ok(out) => out.policy.ok_or_else(|| ReadError {
            cause: "iam:GetPolicy response".into(),
            error: Error::Aws(format!("iam:GetPolicy {arn} returned no policy")),
        })?,
    };
    let version = live.default_version_id().unwrap_or("v1").to_string();
    let got = c
        .iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(&version)
        .send()
        .await
        .map_err(|e| failed("iam:GetPolicyVersion", &format!("{arn} {version}"), e))?;
    Ok(Some(RawPolicy {
        tags: tag_map(live.tags()),
        default_version: version,
        document: got.policy_version.and_then(|v| v.document).unwrap_or_default(),
    }))
}

/// GetPolicy: whether the policy exists.
pub(crate) async fn policy_exists(c: &Clients, arn: &str) -> ReadResult<bool> {
    match c.iam.get_policy().policy_arn(arn).send().await {
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(failed("iam:GetPolicy", arn, e)),
        Ok(_) => Ok(true),
    }
}

/// [`policy_raw`] with the document decoded.
pub(crate) async fn policy(c: &Clients, arn: &str) -> Result<Option<LivePolicy>> {
    let Some(raw) = policy_raw(c, arn).await? else {
        return Ok(None);
    };
    let what = format!("policy {arn} version {}", raw.default_version);
    Ok(Some(LivePolicy {
        document: doc_decode::decode(&raw.document, &what)?,
        tags: raw.tags,
        default_version: raw.default_version,
    }))
}

/// GetRole.
pub(crate) async fn role(c: &Clients, name: &str) -> ReadResult<Option<aws_sdk_iam::types::Role>> {
    match c.iam.get_role().role_name(name).send().await {
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(failed("iam:GetRole", name, e)),
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
pub(crate) async fn attached_policies(c: &Clients, role: &str) -> ReadResult<Option<Vec<String>>> {
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
            Err(e) => return Err(failed("iam:ListAttachedRolePolicies", role, e)),
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

/// ListRolePolicies, every page: the names of the role's inline policies.
pub(crate) async fn inline_policies(c: &Clients, role: &str) -> ReadResult<Option<Vec<String>>> {
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = match c
            .iam
            .list_role_policies()
            .role_name(role)
            .set_marker(marker.clone())
            .send()
            .await
        {
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(failed("iam:ListRolePolicies", role, e)),
            Ok(o) => o,
        };
        names.extend(out.policy_names().iter().cloned());
        match (out.is_truncated, out.marker) {
            (true, Some(m)) => marker = Some(m),
            _ => return Ok(Some(names)),
        }
    }
}
