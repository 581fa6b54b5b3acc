//! AWS: account discovery, plan/apply of IAM, and verify, through the AWS SDK for Rust.
//!
//! INTERFACE (called by the CLI in src/cli/commands.rs); bodies are implemented in submodules.

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::report::Check;

/// How to reach AWS: the SDK's default chain, optionally with a profile and region.
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` are honoured by the SDK itself.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// `--profile`.
    pub profile: Option<String>,
    /// Region for the SDK; the cluster's region when absent.
    pub region: Option<String>,
}

/// STS GetCallerIdentity.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Identity {
    /// Account id.
    pub account: String,
    /// Caller ARN.
    pub arn: String,
    /// Caller user id.
    pub user_id: String,
}

/// The IAM changes an apply would make.
#[derive(Debug, Clone, Default)]
pub struct Plan {}

impl Plan {
    /// True when nothing needs to change.
    pub fn is_empty(&self) -> bool {
        true
    }
    /// Human-readable plan with JSON diffs.
    pub fn to_text(&self) -> String {
        String::new()
    }
}

/// `whoami`.
pub async fn whoami(_opts: &AwsOptions) -> Result<Identity> {
    Err(Error::Aws("not implemented".into()))
}

/// The cluster's OIDC issuer URL from EKS DescribeCluster.
pub async fn oidc_issuer(_opts: &AwsOptions, _cluster: &str) -> Result<String> {
    Err(Error::Aws("not implemented".into()))
}

/// Reads IAM and computes the plan; makes no write call.
pub async fn plan(_opts: &AwsOptions, _bundle: &Bundle, _adopt: bool) -> Result<Plan> {
    Err(Error::Aws("not implemented".into()))
}

/// Executes a plan; returns a summary of what was done.
pub async fn execute(_opts: &AwsOptions, _plan: &Plan) -> Result<String> {
    Err(Error::Aws("not implemented".into()))
}

/// The guide's Verify and Troubleshooting sections as checks.
pub async fn verify(_opts: &AwsOptions, _bundle: &Bundle) -> Result<Vec<Check>> {
    Err(Error::Aws("not implemented".into()))
}
