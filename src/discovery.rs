//! `--account auto` and `--oidc-issuer auto`: the cluster facts irsagen asks AWS for, resolved
//! by one library function over a [`Discovery`] trait. The AWS client implements it
//! ([`crate::aws::AwsDiscovery`]); tests use a small in-memory one.

use crate::context::{AUTO, ClusterInputs, Context};
use crate::error::Result;
use std::future::Future;

/// What `--oidc-issuer auto` learns from EKS DescribeCluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterFacts {
    /// `identity.oidc.issuer`.
    pub issuer: String,
    /// `version` (`1.31`): the cluster's Kubernetes minor version, when EKS reports one.
    pub kubernetes_version: Option<String>,
}

/// Where `auto` values come from.
pub trait Discovery {
    /// The account of the caller's credentials (STS GetCallerIdentity).
    fn caller_account(&self) -> impl Future<Output = Result<String>>;
    /// The cluster's OIDC issuer and Kubernetes version (EKS DescribeCluster).
    fn cluster_facts(&self, cluster: &str) -> impl Future<Output = Result<ClusterFacts>>;
}

/// Whether `inputs` ask for discovery at all.
pub fn needs_discovery(inputs: &ClusterInputs) -> bool {
    inputs.account.as_deref() == Some(AUTO) || inputs.oidc_issuer.as_deref() == Some(AUTO)
}

/// Validates `inputs`, asks `d` for each `auto` value, and returns the cluster's context.
/// Everything that needs no AWS call is checked first, so bad input makes no call; the account
/// is asked before the cluster (with another account's credentials the cluster is moot). The
/// cluster's own Kubernetes version fills `kubernetes_version` unless one was given.
pub async fn resolve(inputs: &ClusterInputs, d: &impl Discovery) -> Result<Context> {
    Context::new(&resolve_inputs(inputs, d).await?)
}

/// [`resolve`], returning the inputs with every `auto` value replaced (validated as a whole), for
/// callers that keep the inputs (a fleet records them in each folder's manifest).
pub async fn resolve_inputs(inputs: &ClusterInputs, d: &impl Discovery) -> Result<ClusterInputs> {
    if !needs_discovery(inputs) {
        Context::new(inputs)?;
        return Ok(inputs.clone());
    }
    Context::check_before_discovery(inputs)?;
    let mut resolved = inputs.clone();
    if inputs.account.as_deref() == Some(AUTO) {
        resolved.account = Some(d.caller_account().await?);
    }
    if inputs.oidc_issuer.as_deref() == Some(AUTO) {
        let facts = d.cluster_facts(inputs.cluster.as_deref().unwrap_or_default()).await?;
        resolved.oidc_issuer = Some(facts.issuer);
        if resolved.kubernetes_version.is_none() {
            resolved.kubernetes_version = facts.kubernetes_version;
        }
    }
    // What AWS answered is validated like user input.
    Context::new(&resolved)?;
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Answers from memory and records every call.
    struct Fake {
        account: Result<String>,
        facts: Result<ClusterFacts>,
        calls: RefCell<Vec<String>>,
    }

    impl Fake {
        fn new(account: &str, issuer: &str, version: Option<&str>) -> Self {
            Fake {
                account: Ok(account.into()),
                facts: Ok(ClusterFacts {
                    issuer: issuer.into(),
                    kubernetes_version: version.map(str::to_string),
                }),
                calls: RefCell::default(),
            }
        }
    }

    fn again<T: Clone>(r: &Result<T>) -> Result<T> {
        match r {
            Ok(v) => Ok(v.clone()),
            Err(e) => Err(crate::Error::Aws(e.to_string())),
        }
    }

    impl Discovery for Fake {
        async fn caller_account(&self) -> Result<String> {
            self.calls.borrow_mut().push("sts".into());
            again(&self.account)
        }
        async fn cluster_facts(&self, cluster: &str) -> Result<ClusterFacts> {
            self.calls.borrow_mut().push(format!("eks {cluster}"));
            again(&self.facts)
        }
    }

    const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

    fn inputs(account: &str, issuer: Option<&str>) -> ClusterInputs {
        ClusterInputs {
            cluster: Some("smallest-cluster".into()),
            region: Some("us-east-1".into()),
            account: Some(account.into()),
            oidc_issuer: issuer.map(str::to_string),
            ..Default::default()
        }
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn fills_account_issuer_and_version() {
        let d = Fake::new("210987654321", ISSUER, Some("1.31"));
        let ctx = run(resolve(&inputs("auto", Some("auto")), &d)).unwrap();
        assert_eq!(ctx.account, "210987654321");
        let oidc = ctx.oidc.unwrap();
        assert_eq!(oidc.issuer_url, ISSUER);
        assert!(
            oidc.provider_arn
                .starts_with("arn:aws:iam::210987654321:oidc-provider/")
        );
        assert_eq!(ctx.kubernetes_version.as_deref(), Some("1.31"));
        assert_eq!(*d.calls.borrow(), ["sts", "eks smallest-cluster"]);
    }

    #[test]
    fn asks_only_for_what_is_auto_and_keeps_a_given_version() {
        let d = Fake::new("210987654321", ISSUER, Some("1.31"));
        let mut i = inputs("123456789012", Some("auto"));
        i.kubernetes_version = Some("1.30".into());
        let ctx = run(resolve(&i, &d)).unwrap();
        assert_eq!(
            (ctx.account.as_str(), ctx.kubernetes_version.as_deref()),
            ("123456789012", Some("1.30"))
        );
        assert_eq!(*d.calls.borrow(), ["eks smallest-cluster"]);

        let d = Fake::new("210987654321", ISSUER, None);
        let ctx = run(resolve(&inputs("123456789012", None), &d)).unwrap();
        assert!(ctx.oidc.is_none());
        assert!(d.calls.borrow().is_empty(), "nothing auto, no call");
    }

    #[test]
    fn bad_input_makes_no_call() {
        let d = Fake::new("210987654321", ISSUER, None);
        let mut i = inputs("auto", Some("auto"));
        i.cluster = Some("bad name".into());
        let err = run(resolve(&i, &d)).unwrap_err().to_string();
        assert!(err.contains("--cluster") && err.contains("bad name"), "{err}");
        let mut i = inputs("auto", None);
        i.region = None;
        let err = run(resolve(&i, &d)).unwrap_err().to_string();
        assert!(err.contains("--region"), "{err}");
        let err = run(resolve(&inputs("12345", Some("auto")), &d))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--account") && err.contains("12345"), "{err}");
        assert!(d.calls.borrow().is_empty(), "{:?}", d.calls.borrow());
    }

    #[test]
    fn discovery_errors_and_bad_answers_are_errors() {
        let mut d = Fake::new("x", ISSUER, None);
        d.account = Err(crate::Error::Aws("no credentials".into()));
        let err = run(resolve(&inputs("auto", Some("auto")), &d)).unwrap_err().to_string();
        assert!(err.contains("no credentials"), "{err}");
        assert_eq!(
            *d.calls.borrow(),
            ["sts"],
            "the cluster is not asked after the account failed"
        );

        let mut d = Fake::new("210987654321", ISSUER, None);
        d.facts = Err(crate::Error::Aws("cluster not found".into()));
        let err = run(resolve(&inputs("123456789012", Some("auto")), &d))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cluster not found"), "{err}");

        // An answer is checked like input: another region's issuer is refused.
        let d = Fake::new(
            "210987654321",
            "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
            None,
        );
        let err = run(resolve(&inputs("123456789012", Some("auto")), &d))
            .unwrap_err()
            .to_string();
        assert!(err.contains("eu-west-1"), "{err}");
        let d = Fake::new("not-an-account", ISSUER, None);
        assert!(run(resolve(&inputs("auto", None), &d)).is_err());
    }
}
