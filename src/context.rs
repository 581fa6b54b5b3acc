//! The validated variables of one cluster. Everything templates read about the cluster is
//! here; building a `Context` is the only way in, so nothing unvalidated reaches a template.

use crate::error::Result;
use crate::partition::{self, Partition};
use crate::rules;
use serde::Serialize;
use std::collections::BTreeMap;

/// Raw cluster variables as the user gave them (flags over config file), before validation.
#[derive(Debug, Clone, Default)]
pub struct ClusterInputs {
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--account` (already resolved if it was `auto`).
    pub account: Option<String>,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--oidc-issuer` (already resolved if it was `auto`).
    pub oidc_issuer: Option<String>,
    /// Tags for every role.
    pub tags: BTreeMap<String, String>,
    /// `--kubernetes-version`: the cluster's Kubernetes minor version (`1.NN`). `--oidc-issuer
    /// auto` may fill it from DescribeCluster's `version` when the user did not give it.
    pub kubernetes_version: Option<String>,
}

/// The cluster's IAM OIDC provider, derived from its issuer URL.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OidcProvider {
    /// Issuer URL, `https://oidc.eks.<region>.amazonaws.com/id/<ID>`.
    pub issuer_url: String,
    /// Issuer without `https://`: IAM's name for the provider and the prefix of its condition keys.
    pub host_path: String,
    /// `arn:<partition>:iam::<account>:oidc-provider/<host_path>`.
    pub provider_arn: String,
}

/// Validated variables of one cluster. Load-bearing: templates read these fields by name.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// EKS cluster name.
    pub cluster: String,
    /// AWS region.
    pub region: String,
    /// AWS account id (12 digits).
    pub account: String,
    /// ARN partition.
    pub partition: Partition,
    /// OIDC provider, when the issuer is known; trust policies need it.
    pub oidc: Option<OidcProvider>,
    /// Tags the user wants on every role.
    pub tags: BTreeMap<String, String>,
    /// Kubernetes minor version (`1.NN`), when known; picks version-matched images (autoscaler).
    pub kubernetes_version: Option<String>,
}

/// The value of `--account` and `--oidc-issuer` that asks AWS ([`crate::discovery`]).
pub const AUTO: &str = "auto";

/// Inputs checked one by one, before the account and issuer are combined.
struct Checked {
    cluster: String,
    region: String,
    account: Option<String>,
    partition: Partition,
    issuer: Option<rules::Issuer>,
    kubernetes_version: Option<String>,
}

/// Checks every input in the order messages name them. With `allow_auto`, an account or issuer
/// of [`AUTO`] is left for discovery: it comes back `None` and is not checked.
fn check(inputs: &ClusterInputs, allow_auto: bool) -> Result<Checked> {
    let need = |v: &Option<String>, flag: &str, how: &str| {
        v.clone().ok_or_else(|| crate::Error::Missing {
            field: flag.to_string(),
            how: how.to_string(),
        })
    };
    let auto = |v: &Option<String>| allow_auto && v.as_deref() == Some(AUTO);
    let cluster = need(
        &inputs.cluster,
        "--cluster",
        "pass --cluster NAME (the EKS cluster name) or set `cluster:` in irsagen.yaml",
    )?;
    let region = need(
        &inputs.region,
        "--region",
        "pass --region REGION (the cluster's AWS region) or set `region:` in irsagen.yaml",
    )?;
    let account = match auto(&inputs.account) {
        true => None,
        false => Some(need(
            &inputs.account,
            "--account",
            "pass --account ID (12 digits, or `auto` to ask STS) or set `account:` in irsagen.yaml",
        )?),
    };
    rules::cluster_name("--cluster", &cluster)?;
    if let Some(account) = &account {
        rules::account_id("--account", account)?;
    }
    let explicit = inputs
        .partition
        .as_deref()
        .map(|p| Partition::parse("--partition", p))
        .transpose()?;
    let partition = partition::resolve(&region, explicit)?;
    let issuer = match &inputs.oidc_issuer {
        None => None,
        Some(_) if auto(&inputs.oidc_issuer) => None,
        Some(url) => {
            let issuer = rules::oidc_issuer("--oidc-issuer", url)?;
            // An EKS issuer's host names its cluster's region; another region's issuer is
            // another cluster's, and roles trusting it would never be assumable here.
            let named = rules::eks_issuer_region(&issuer.host_path);
            if let Some(named) = named.filter(|r| *r != region) {
                return Err(crate::Error::invalid(
                    "--oidc-issuer",
                    url,
                    format!(
                        "is an EKS issuer of region `{named}` but the cluster is in `{region}`: pass the issuer of this cluster (`--oidc-issuer auto` asks EKS) or fix --region"
                    ),
                ));
            }
            Some(issuer)
        }
    };
    for (k, v) in &inputs.tags {
        rules::tag_key(&format!("tags.{k}"), k)?;
        rules::tag_value(&format!("tags.{k}"), v)?;
    }
    let kubernetes_version = inputs
        .kubernetes_version
        .as_deref()
        .map(|v| kubernetes_minor("--kubernetes-version", v))
        .transpose()?;
    Ok(Checked {
        cluster,
        region,
        account,
        partition,
        issuer,
        kubernetes_version,
    })
}

impl Context {
    /// Validates raw inputs. Required: cluster, region, account.
    pub fn new(inputs: &ClusterInputs) -> Result<Self> {
        let c = check(inputs, false)?;
        // `check` without `allow_auto` requires the account.
        let account = c.account.unwrap_or_default();
        let oidc = c.issuer.map(|issuer| OidcProvider {
            provider_arn: format!("arn:{}:iam::{account}:oidc-provider/{}", c.partition, issuer.host_path),
            issuer_url: issuer.url,
            host_path: issuer.host_path,
        });
        Ok(Context {
            kubernetes_version: c.kubernetes_version,
            cluster: c.cluster,
            region: c.region,
            account,
            partition: c.partition,
            oidc,
            tags: inputs.tags.clone(),
        })
    }

    /// Validates every input that needs no AWS call: an account or issuer of `auto` is left
    /// for [`crate::discovery::resolve`], so bad input never reaches the network.
    pub fn check_before_discovery(inputs: &ClusterInputs) -> Result<()> {
        check(inputs, true).map(|_| ())
    }

    /// `arn:<partition>:eks:<region>:<account>:cluster/<name>`: the cluster's ARN, which EKS
    /// puts in Pod Identity's `eks-cluster-arn` session tag.
    pub fn eks_cluster_arn(&self) -> String {
        format!(
            "arn:{}:eks:{}:{}:cluster/{}",
            self.partition, self.region, self.account, self.cluster
        )
    }

    /// `arn:<partition>:iam::<account>:<resource>`.
    pub fn iam_arn(&self, resource: &str) -> String {
        format!("arn:{}:iam::{}:{resource}", self.partition, self.account)
    }
}

/// A Kubernetes minor version as EKS writes it: `1.NN` (a leading `v` and a patch are accepted
/// and dropped, so `v1.31.2` is `1.31`).
fn kubernetes_minor(field: &str, value: &str) -> Result<String> {
    let v = value.strip_prefix('v').unwrap_or(value);
    let mut parts = v.split('.');
    let ok_num =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    let (major, minor, patch, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
    if major == Some("1") && ok_num(minor) && (patch.is_none() || ok_num(patch)) && rest.is_none() {
        Ok(format!("1.{}", minor.unwrap_or_default()))
    } else {
        Err(crate::Error::invalid(
            field,
            value,
            "must be a Kubernetes version like `1.31` (the cluster's minor version)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::kubernetes_minor;

    #[test]
    fn kubernetes_versions() {
        for (v, want) in [("1.31", "1.31"), ("v1.31", "1.31"), ("1.31.2", "1.31"), ("1.9", "1.9")] {
            assert_eq!(kubernetes_minor("f", v).unwrap(), want);
        }
        for bad in ["", "1", "2.31", "1.", "1.x", "1.31.", "1.31.2.1", "1.31 ", "1.1000"] {
            assert!(kubernetes_minor("f", bad).is_err(), "{bad}");
        }
    }
}
