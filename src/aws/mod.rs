//! AWS: account discovery, plan/apply of IAM, and verify, through the AWS SDK for Rust.
//!
//! The CLI (src/cli/commands.rs) calls the functions of this module; their bodies live in
//! submodules: [`client`] (SDK clients from the default chain, API-call counting, error
//! messages), `identity` (STS, EKS), `desired` (what IAM should hold, from the bundle),
//! `state` (what IAM holds, read once), `plan` (the decisions: a pure comparison of the two),
//! `execute` (the writes), `verify` (checks) and `doc_decode` (IAM's URL-encoded documents
//! and JSON diffs). [`pod_identity`] is the EKS half: Pod Identity associations and their agent
//! addon, with the same read / decide / execute / verify steps.

pub mod client;
mod desired;
mod doc_decode;
mod execute;
mod identity;
mod plan;
pub mod pod_identity;
mod read;
mod state;
pub mod verify;

pub use client::{CallStats, Clients};
pub use desired::{Desired, DesiredOidc, DesiredPolicy, DesiredRole};
pub use doc_decode::decode as decode_document;
pub use execute::ExecReport;
pub use identity::{AwsDiscovery, ClusterFacts};
pub use plan::{Change, MAX_POLICY_VERSIONS, PlanItem, ResourceKind, STACK_TAG, not_ours, version_to_delete};
pub use state::{IamState, PolicyState, ReadState, RoleState};

use crate::bundle::Bundle;
use crate::error::Result;
use crate::report::Check;

/// How to reach AWS: the SDK's default chain, optionally with a profile and region.
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` are honoured by the SDK itself.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// `--profile`.
    pub profile: Option<String>,
    /// Region for the SDK; the cluster's region when absent.
    pub region: Option<String>,
    /// `--timeout`: the most one AWS call may take, retries included (also the connect
    /// timeout); [`client::DEFAULT_TIMEOUT`] when absent.
    pub timeout: Option<std::time::Duration>,
    /// Endpoint for every service, overriding `AWS_ENDPOINT_URL` (tests, proxies).
    pub endpoint_url: Option<String>,
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
pub struct Plan {
    /// One item per resource: the OIDC provider, then policies, then roles.
    pub items: Vec<PlanItem>,
    /// API calls the plan made (all reads).
    pub stats: CallStats,
    /// The clients the plan read with; execute reuses them.
    clients: Option<Clients>,
}

impl Plan {
    /// True when nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.items.iter().all(|i| i.change == Change::NoChange)
    }
    /// Human-readable plan with JSON diffs.
    pub fn to_text(&self) -> String {
        plan::to_text(&self.items, self.stats)
    }
    /// Every write call execute would make, as `iam:Action target`.
    pub fn calls(&self) -> Vec<String> {
        self.items.iter().flat_map(PlanItem::calls).collect()
    }
}

/// `whoami`.
pub async fn whoami(opts: &AwsOptions) -> Result<Identity> {
    identity::whoami(&Clients::new(opts).await?).await
}

/// The cluster's OIDC issuer URL from EKS DescribeCluster.
pub async fn oidc_issuer(opts: &AwsOptions, cluster: &str) -> Result<String> {
    identity::oidc_issuer(&Clients::new(opts).await?, cluster).await
}

/// EKS DescribeCluster: the OIDC issuer and the Kubernetes version (`--oidc-issuer auto`).
pub async fn describe_cluster(opts: &AwsOptions, cluster: &str) -> Result<ClusterFacts> {
    identity::describe_cluster(&Clients::new(opts).await?, cluster).await
}

/// Reads IAM and computes the plan; makes no write call.
pub async fn plan(opts: &AwsOptions, bundle: &Bundle, adopt: bool) -> Result<Plan> {
    // Everything that needs no AWS (issuer present, names and sizes within IAM's limits) first.
    let desired = Desired::from_bundle(bundle, "apply --aws")?;
    let clients = Clients::new(opts).await?;
    let before = clients.log.stats();
    let live = state::read(&clients, &desired).await?;
    let items = plan::decide(&desired, &live, adopt)?;
    Ok(Plan {
        items,
        stats: clients.log.stats().since(before),
        clients: Some(clients),
    })
}

/// The plan's decisions alone: what apply would do given what IAM returned (`live`), without
/// any call. [`plan`] is this after reading IAM; tests feed it recorded read states.
pub fn decide(desired: &Desired, live: &IamState, adopt: bool) -> Result<Plan> {
    Ok(Plan {
        items: plan::decide(desired, live, adopt)?,
        stats: CallStats::default(),
        clients: None,
    })
}

/// Executes a plan; returns a summary of what was done.
pub async fn execute(opts: &AwsOptions, plan: &Plan) -> Result<String> {
    Ok(execute_report(opts, plan).await?.to_text())
}

/// Executes a plan and returns what was done with the API calls it took. A plan with no
/// changes makes no call at all. On failure the error lists what was done before it.
pub async fn execute_report(opts: &AwsOptions, plan: &Plan) -> Result<ExecReport> {
    if plan.is_empty() {
        return Ok(ExecReport::default());
    }
    let clients = match &plan.clients {
        Some(c) => c.clone(),
        None => Clients::new(opts).await?,
    };
    execute::run(&clients, &plan.items).await
}

/// The guide's Verify and Troubleshooting sections as checks. A read of AWS that fails (network,
/// credentials, permissions) is an `Err` (exit 3), never a failed check (exit 1 means drift).
pub async fn verify(opts: &AwsOptions, bundle: &Bundle) -> Result<Vec<Check>> {
    Ok(verify_with_stats(opts, bundle).await?.0)
}

/// [`verify()`], also returning the API calls it made.
pub async fn verify_with_stats(opts: &AwsOptions, bundle: &Bundle) -> Result<(Vec<Check>, CallStats)> {
    let desired = Desired::from_bundle(bundle, "verify --aws")?;
    let clients = Clients::new(opts).await?;
    verify::checks(&clients, &desired).await
}
