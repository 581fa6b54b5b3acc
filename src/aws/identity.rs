//! Who is calling (STS GetCallerIdentity) and the cluster's OIDC issuer (EKS DescribeCluster).

use super::Identity;
use super::client::{Clients, api_error, is_not_found};
use crate::error::{Error, Result};

/// STS GetCallerIdentity through `clients`.
pub async fn whoami(clients: &Clients) -> Result<Identity> {
    let out = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| api_error("sts:GetCallerIdentity", "", e))?;
    let missing = |f: &str| Error::Aws(format!("sts:GetCallerIdentity returned no {f}"));
    Ok(Identity {
        account: out.account.ok_or_else(|| missing("Account"))?,
        arn: out.arn.ok_or_else(|| missing("Arn"))?,
        user_id: out.user_id.ok_or_else(|| missing("UserId"))?,
    })
}

/// EKS DescribeCluster's `identity.oidc.issuer` for `cluster`.
pub async fn oidc_issuer(clients: &Clients, cluster: &str) -> Result<String> {
    let out = match clients.eks.describe_cluster().name(cluster).send().await {
        Ok(o) => o,
        Err(e) if is_not_found(&e) => {
            return Err(Error::Aws(format!(
                "EKS cluster `{cluster}` was not found in region {} (eks:DescribeCluster); check --cluster and --region, \
                 or pass the issuer with --oidc-issuer URL",
                clients.region
            )));
        }
        Err(e) => return Err(api_error("eks:DescribeCluster", cluster, e)),
    };
    out.cluster
        .and_then(|c| c.identity)
        .and_then(|i| i.oidc)
        .and_then(|o| o.issuer)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Error::Aws(format!(
                "EKS cluster `{cluster}` reports no OIDC issuer (identity.oidc.issuer is empty); pass it with --oidc-issuer URL"
            ))
        })
}
