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

pub use crate::discovery::ClusterFacts;

/// EKS DescribeCluster's `identity.oidc.issuer` for `cluster`.
pub async fn oidc_issuer(clients: &Clients, cluster: &str) -> Result<String> {
    Ok(describe_cluster(clients, cluster).await?.issuer)
}

/// EKS DescribeCluster for `cluster`: its OIDC issuer and Kubernetes version.
pub async fn describe_cluster(clients: &Clients, cluster: &str) -> Result<ClusterFacts> {
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
    let kubernetes_version = out
        .cluster
        .as_ref()
        .and_then(|c| c.version.clone())
        .filter(|v| !v.is_empty());
    let issuer = out
        .cluster
        .and_then(|c| c.identity)
        .and_then(|i| i.oidc)
        .and_then(|o| o.issuer)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Error::Aws(format!(
                "EKS cluster `{cluster}` reports no OIDC issuer (identity.oidc.issuer is empty); pass it with --oidc-issuer URL"
            ))
        })?;
    Ok(ClusterFacts {
        issuer,
        kubernetes_version,
    })
}

/// [`crate::discovery::Discovery`] through the AWS SDK: STS for the account, EKS for the cluster.
#[derive(Debug, Clone)]
pub struct AwsDiscovery<'a> {
    /// Profile, region and endpoint of the calls.
    pub opts: &'a super::AwsOptions,
}

impl crate::discovery::Discovery for AwsDiscovery<'_> {
    async fn caller_account(&self) -> Result<String> {
        Ok(super::whoami(self.opts).await?.account)
    }

    async fn cluster_facts(&self, cluster: &str) -> Result<ClusterFacts> {
        super::describe_cluster(self.opts, cluster).await
    }
}
