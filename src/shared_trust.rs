//! One role trusted by several clusters (`trustClusters`): each listed cluster's OIDC provider
//! gets its own IRSA statement in the role's trust (one statement per provider, never a
//! wildcard), and a scoped Pod Identity trust lists every cluster's ARN. Only clusters of the
//! role's own account: IAM's federated principal must be a provider of the role's account.
//!
//! Statements are ordered by cluster name, so every cluster that shares the role renders the
//! same trust document, and the fleet check can allow one role name in several clusters exactly
//! when their trusts (and the rest of the role) are the same.

use crate::context::{Context, OidcProvider};
use crate::error::{Error, Result};
use crate::identity::{self, IdentityMode, Mechanism, PodIdentityScope, PodIdentityTrust};
use crate::policy_doc::{self, TRUST_POLICY_LIMIT};
use crate::rules;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One entry of `trustClusters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TrustCluster {
    /// Another cluster of the same config file, by its key under `clusters:` (its issuer,
    /// account and region are read from there).
    Name(String),
    /// A cluster given by its issuer.
    Issuer(IssuerEntry),
}

/// A trusted cluster given by its OIDC issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IssuerEntry {
    /// EKS cluster name.
    pub name: String,
    /// Its OIDC issuer URL (`https://…`).
    pub oidc_issuer: String,
    /// Its account, when known: must be the role's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Its region (default: the one the issuer names, else the role's cluster's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl TrustCluster {
    /// The cluster's name.
    pub fn name(&self) -> &str {
        match self {
            TrustCluster::Name(n) => n,
            TrustCluster::Issuer(e) => &e.name,
        }
    }
}

/// Replaces each name in `list` by the cluster's entry of the config file (`peers`: cluster
/// name → its issuer, account and region as the file gives them), so a render (and the output
/// folder's manifest) carries the issuers and needs the file no more. Unknown names stay, for
/// [`resolve`] to refuse with the field's name; so does `own` (the cluster rendered), which
/// [`resolve`] skips.
pub fn resolve_names(list: &mut [TrustCluster], peers: &BTreeMap<String, IssuerEntry>, own: Option<&str>) {
    for t in list.iter_mut() {
        if let TrustCluster::Name(n) = t {
            if Some(n.as_str()) == own {
                continue;
            }
            if let Some(e) = peers.get(n.as_str()) {
                *t = TrustCluster::Issuer(e.clone());
            }
        }
    }
}

/// A trusted cluster, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trusted {
    /// EKS cluster name.
    pub name: String,
    /// Its OIDC provider in the role's account.
    pub provider: OidcProvider,
    /// `arn:<partition>:eks:<region>:<account>:cluster/<name>`.
    pub cluster_arn: String,
}

/// Checks `trustClusters` (given in `field`) against the role's cluster: valid issuers, the same
/// account, not the cluster itself, each cluster and issuer once. Sorted by name.
pub fn resolve(ctx: &Context, field: &str, list: &[TrustCluster]) -> Result<Vec<Trusted>> {
    let mut out: Vec<Trusted> = Vec::with_capacity(list.len());
    for t in list {
        let e = match t {
            // A list shared by every cluster (top-level `presets:`) names each of them: a
            // cluster's own name there is its own provider, which the trust has anyway.
            TrustCluster::Name(n) if *n == ctx.cluster => continue,
            TrustCluster::Name(n) => {
                return Err(Error::invalid(
                    field,
                    n,
                    "names no cluster of this config file's `clusters:` with an `oidcIssuer`; list another cluster of the same file by name, or give `{name, oidcIssuer}`",
                ));
            }
            TrustCluster::Issuer(e) => e,
        };
        rules::cluster_name(field, &e.name)?;
        if e.name == ctx.cluster {
            return Err(Error::invalid(
                field,
                &e.name,
                "is this cluster itself, whose provider the role trusts anyway; list only the other clusters",
            ));
        }
        if out.iter().any(|o| o.name == e.name) {
            return Err(Error::invalid(
                field,
                &e.name,
                "is listed twice; list each cluster once",
            ));
        }
        if e.oidc_issuer == crate::context::AUTO {
            return Err(Error::invalid(
                format!("{field}.{}.oidcIssuer", e.name),
                &e.oidc_issuer,
                "must be the issuer URL: a shared trust names every cluster's provider, and irsagen asks EKS only about the cluster it renders",
            ));
        }
        let issuer = rules::oidc_issuer(&format!("{field}.{}.oidcIssuer", e.name), &e.oidc_issuer)?;
        if let Some(account) = e.account.as_deref().filter(|a| *a != ctx.account) {
            return Err(Error::invalid(
                format!("{field}.{}", e.name),
                account,
                format!(
                    "is the account of cluster `{}`, not {} (the role's account): a role trusts only OIDC providers registered in its own account; use a role in account {account} for that cluster",
                    e.name, ctx.account
                ),
            ));
        }
        if ctx.oidc.as_ref().is_some_and(|o| o.host_path == issuer.host_path)
            || out.iter().any(|o| o.provider.host_path == issuer.host_path)
        {
            return Err(Error::invalid(
                format!("{field}.{}.oidcIssuer", e.name),
                &e.oidc_issuer,
                "is another listed cluster's issuer (or this cluster's); each cluster has its own",
            ));
        }
        let region = e
            .region
            .clone()
            .or_else(|| rules::eks_issuer_region(&issuer.host_path))
            .unwrap_or_else(|| ctx.region.clone());
        out.push(Trusted {
            cluster_arn: format!("arn:{}:eks:{region}:{}:cluster/{}", ctx.partition, ctx.account, e.name),
            provider: OidcProvider {
                provider_arn: ctx.iam_arn(&format!("oidc-provider/{}", issuer.host_path)),
                issuer_url: issuer.url,
                host_path: issuer.host_path,
            },
            name: e.name.clone(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The value of the role's `irsagen:cluster` tag: every trusting cluster, sorted, space-separated
/// (the same in each of them, so applies from different clusters do not flip it).
pub fn cluster_tag(ctx: &Context, trusted: &[Trusted]) -> String {
    let mut names: Vec<&str> = trusted.iter().map(|t| t.name.as_str()).collect();
    names.push(&ctx.cluster);
    names.sort();
    names.join(" ")
}

/// The role's trust policy with `trusted` as well as the cluster of `ctx`: IRSA statements one
/// per provider, ordered by cluster name; a scoped Pod Identity statement lists every cluster's
/// ARN (StringEquals with a list); an unscoped one is unchanged. Without `trusted` this is
/// exactly [`identity::trust_policy`].
pub fn trust_policy(
    ctx: &Context,
    mode: IdentityMode,
    trusted: &[Trusted],
    pod: &PodIdentityScope<'_>,
) -> Option<Value> {
    if trusted.is_empty() {
        return identity::trust_policy(mode, ctx.oidc.as_ref(), pod);
    }
    let own = ctx.oidc.as_ref();
    let mut clusters: Vec<(&str, Option<&OidcProvider>, String)> = trusted
        .iter()
        .map(|t| (t.name.as_str(), Some(&t.provider), t.cluster_arn.clone()))
        .collect();
    clusters.push((&ctx.cluster, own, pod.cluster_arn.to_string()));
    clusters.sort_by(|a, b| a.0.cmp(b.0));
    let mut statements = Vec::new();
    for m in mode.mechanisms() {
        match m {
            Mechanism::Irsa => {
                for (_, provider, _) in &clusters {
                    statements.push(identity::irsa_statement((*provider)?, &pod.service_account.subject()));
                }
            }
            Mechanism::PodIdentity => {
                let mut s = identity::pod_identity_statement(pod);
                if pod.trust == PodIdentityTrust::Scoped {
                    let arns: Vec<&str> = clusters.iter().map(|c| c.2.as_str()).collect();
                    s["Condition"]["StringEquals"][identity::session_tag::CLUSTER_ARN] = json!(arns);
                }
                statements.push(s);
            }
        }
    }
    Some(json!({
        "Version": identity::POLICY_VERSION,
        "Statement": statements,
    }))
}

/// Refuses a shared trust over IAM's 2,048-character quota, saying how many of the clusters'
/// providers fit (this cluster's first, then the listed ones in name order).
pub fn check_size(
    ctx: &Context,
    field: &str,
    mode: IdentityMode,
    trusted: &[Trusted],
    pod: &PodIdentityScope<'_>,
) -> Result<()> {
    let len = |n: usize| {
        trust_policy(ctx, mode, &trusted[..n], pod)
            .map(|t| policy_doc::iam_length(&t))
            .unwrap_or(0)
    };
    let full = len(trusted.len());
    if full <= TRUST_POLICY_LIMIT {
        return Ok(());
    }
    let fit = (0..trusted.len())
        .rev()
        .find(|&n| len(n) <= TRUST_POLICY_LIMIT)
        .map_or(0, |n| n + 1);
    let what = if mode.uses(Mechanism::Irsa) {
        "providers"
    } else {
        "clusters"
    };
    let names: Vec<&str> = trusted.iter().map(|t| t.name.as_str()).collect();
    Err(Error::invalid(
        field,
        names.join(", "),
        format!(
            "makes the trust policy {full} characters without whitespace, over IAM's quota of 2,048: {fit} of {} {what} fit in 2,048 characters; use a role per cluster or raise IAM's role trust policy length quota (irsagen checks the default, 2,048)",
            trusted.len() + 1
        ),
    ))
}

/// Whether two clusters' components are one shared role (the fleet check allows one role name
/// in two clusters only then): both declare a shared trust, and everything `apply` sends for the
/// role is the same (trust document, policies, tags), so applies from either cluster agree.
pub fn same_shared_role(a: &crate::component::Component, b: &crate::component::Component) -> bool {
    !a.trust_clusters.is_empty()
        && !b.trust_clusters.is_empty()
        && a.trust_policy.is_some()
        && a.trust_policy == b.trust_policy
        && a.policy_arn == b.policy_arn
        && a.additional_policies
            .iter()
            .map(|p| &p.arn)
            .eq(b.additional_policies.iter().map(|p| &p.arn))
        && a.extra_policy_arns == b.extra_policy_arns
        && a.tags == b.tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_as_a_name_or_an_issuer_and_names_resolve_from_the_file() {
        let list: Vec<TrustCluster> = serde_json::from_value(json!([
            "b",
            {"name": "c", "oidcIssuer": "https://x.example/c"},
            "unknown",
        ]))
        .unwrap();
        assert_eq!(list[0], TrustCluster::Name("b".into()));
        assert_eq!(list[1].name(), "c");
        let b = IssuerEntry {
            name: "b".into(),
            oidc_issuer: "https://x.example/b".into(),
            account: None,
            region: None,
        };
        let mut resolved = list.clone();
        resolve_names(
            &mut resolved,
            &BTreeMap::from([("b".to_string(), b.clone())]),
            Some("a"),
        );
        assert_eq!(resolved[0], TrustCluster::Issuer(b));
        assert_eq!(resolved[2], TrustCluster::Name("unknown".into()));
        let bad = serde_json::from_value::<Vec<TrustCluster>>(json!([{"name": "c", "issuer": "x"}]));
        assert!(bad.is_err());
    }
}
