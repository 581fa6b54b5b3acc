//! What eksctl derives from the rendered ClusterConfig and what CloudFormation then refuses.
//! eksctl's own loader accepts both cases below; the failure only shows up in AWS, after part of
//! the setup has run. `apply --aws` creates the roles directly (no stack), so these limits apply
//! only to the eksctl route (the ClusterConfig and the setup script).

use crate::component::Component;
use crate::context::Context;
use crate::error::{Error, Result};

/// CloudFormation's limit on a stack name.
pub const STACK_NAME_LIMIT: usize = 128;
/// CloudFormation's limit on a stack tag value (1 to this many characters).
pub const STACK_TAG_VALUE_LIMIT: usize = 256;

/// The stack eksctl creates for one `iam.serviceAccounts` entry. Pattern from eksctl's
/// `makeIAMServiceAccountStackName` (eksctl-io/eksctl `pkg/cfn/manager/iam.go`).
pub fn stack_name(cluster: &str, namespace: &str, service_account: &str) -> String {
    format!("eksctl-{cluster}-addon-iamserviceaccount-{namespace}-{service_account}")
}

/// The way out, said in every refusal.
const WAY_OUT: &str = "or create the roles with `irsagen apply --aws`, which creates no CloudFormation stack";

/// Refuses components whose eksctl stack CloudFormation would reject: a name over 128
/// characters or with a character other than letters, digits and `-` (a `.` in a ServiceAccount
/// name, a `_` in a cluster name), and a role tag with an empty value (eksctl passes
/// `iam.serviceAccounts[].tags` as stack tags, whose values must be 1-256 characters).
pub fn check(ctx: &Context, components: &[Component]) -> Result<()> {
    for c in components {
        let sa = &c.service_account;
        let name = stack_name(&ctx.cluster, &sa.namespace, &sa.name);
        let n = name.chars().count();
        if n > STACK_NAME_LIMIT {
            // Everything but the cluster name is fixed by the preset; say how long it may be.
            let room = STACK_NAME_LIMIT.saturating_sub(n - ctx.cluster.chars().count());
            let fix = if room > 0 {
                format!("use a cluster name of at most {room} characters for this ServiceAccount")
            } else {
                format!(
                    "use a shorter namespace or ServiceAccount name for preset `{}`",
                    c.preset
                )
            };
            return Err(Error::invalid(
                format!("eksctl stack name for {sa}"),
                name,
                format!(
                    "is {n} characters; CloudFormation allows at most {STACK_NAME_LIMIT}, so eksctl would fail creating this role's stack: {fix}, {WAY_OUT}"
                ),
            ));
        }
        if let Some(bad) = name.chars().find(|ch| !(ch.is_ascii_alphanumeric() || *ch == '-')) {
            return Err(Error::invalid(
                format!("eksctl stack name for {sa}"),
                name,
                format!(
                    "contains `{bad}`; CloudFormation stack names allow only letters, digits and `-`, so eksctl would fail creating this role's stack: rename the cluster or ServiceAccount, {WAY_OUT}"
                ),
            ));
        }
        for (k, v) in &c.tags {
            if v.is_empty() || v.chars().count() > STACK_TAG_VALUE_LIMIT {
                return Err(Error::invalid(
                    format!("presets.{}.tags.{k}", c.preset),
                    v,
                    format!(
                        "eksctl sends role tags as CloudFormation stack tags, whose values must be 1-{STACK_TAG_VALUE_LIMIT} characters (IAM itself accepts an empty value): give it a value, {WAY_OUT}"
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_name_is_eksctls_pattern() {
        assert_eq!(
            stack_name("smallest-cluster", "kube-system", "cluster-autoscaler"),
            "eksctl-smallest-cluster-addon-iamserviceaccount-kube-system-cluster-autoscaler"
        );
    }
}
