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

/// The AWS changes an apply would make: IAM, then (in modes using Pod Identity) EKS.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// One item per resource: the OIDC provider (when a preset uses IRSA), then policies, then roles.
    pub items: Vec<PlanItem>,
    /// API calls the IAM plan made (all reads).
    pub stats: CallStats,
    /// The Pod Identity associations and agent addon; empty when no component uses Pod
    /// Identity (then no EKS call was made).
    pub eks: pod_identity::PodIdentityPlan,
    /// Plan lines for associations apply leaves to an EKS addon.
    pub eks_notes: Vec<String>,
    /// The clients the plan read with; execute reuses them.
    clients: Option<Clients>,
}

impl Plan {
    /// True when nothing needs to change, in IAM or EKS.
    pub fn is_empty(&self) -> bool {
        self.items.iter().all(|i| i.change == Change::NoChange) && self.eks.is_empty()
    }
    /// Human-readable plan with JSON diffs; the EKS half follows when there is one.
    pub fn to_text(&self) -> String {
        let mut s = plan::to_text(&self.items, self.stats);
        if !self.eks.items.is_empty() || !self.eks_notes.is_empty() {
            s.push_str(&self.eks.to_text());
            for n in &self.eks_notes {
                s.push_str(n);
                s.push('\n');
            }
        }
        s
    }
    /// The plan executed with `clients` (those it was read with, or recorded ones in tests).
    pub fn with_clients(mut self, clients: Clients) -> Self {
        self.clients = Some(clients);
        self
    }
    /// Every write call execute would make, as `iam:Action target` then `eks:Action target`.
    pub fn calls(&self) -> Vec<String> {
        let mut calls: Vec<String> = self.items.iter().flat_map(PlanItem::calls).collect();
        calls.extend(self.eks.calls());
        calls
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

/// Reads IAM (and EKS, when a component uses Pod Identity) and computes the plan; makes no
/// write call.
pub async fn plan(opts: &AwsOptions, bundle: &Bundle, adopt: bool) -> Result<Plan> {
    // Everything that needs no AWS (issuer present, names and sizes within IAM's limits) first.
    let desired = Desired::from_bundle(bundle, "apply --aws")?;
    let clients = Clients::new(opts).await?;
    plan_with(&clients, &desired, bundle, adopt).await
}

/// [`plan`] with given clients (tests give clients answering from recorded responses).
pub async fn plan_with(clients: &Clients, desired: &Desired, bundle: &Bundle, adopt: bool) -> Result<Plan> {
    let before = clients.log.stats();
    let live = state::read(clients, desired).await?;
    let items = plan::decide(desired, &live, adopt)?;
    let stats = clients.log.stats().since(before);
    let (eks, eks_notes) = plan_eks(clients, bundle, adopt).await?;
    Ok(Plan {
        items,
        stats,
        eks,
        eks_notes,
        clients: Some(clients.clone()),
    })
}

/// The EKS half of the plan: the Pod Identity associations apply makes and the agent addon.
/// A bundle in `irsa` mode makes no EKS call at all.
pub async fn plan_eks(
    clients: &Clients,
    bundle: &Bundle,
    adopt: bool,
) -> Result<(pod_identity::PodIdentityPlan, Vec<String>)> {
    let assoc = pod_identity::BundleAssociations::of(bundle);
    if assoc.is_empty() {
        return Ok((pod_identity::PodIdentityPlan::default(), Vec::new()));
    }
    // The agent serves every association's credentials, the addon-made ones too, so it is
    // required in each cluster with any association, even when apply makes none there.
    let plan = pod_identity::plan_associations(clients, &assoc.applied, &assoc.agent_clusters(), adopt).await?;
    Ok((plan, assoc.addon_notes()))
}

/// The plan's decisions alone: what apply would do given what IAM returned (`live`), without
/// any call. [`plan`] is this after reading IAM; tests feed it recorded read states.
pub fn decide(desired: &Desired, live: &IamState, adopt: bool) -> Result<Plan> {
    Ok(Plan {
        items: plan::decide(desired, live, adopt)?,
        stats: CallStats::default(),
        eks: Default::default(),
        eks_notes: Vec::new(),
        clients: None,
    })
}

/// Executes a plan; returns a summary of what was done.
pub async fn execute(opts: &AwsOptions, plan: &Plan) -> Result<String> {
    Ok(execute_report(opts, plan).await?.to_text())
}

/// Executes a plan and returns what was done with the API calls it took. A plan with no
/// changes makes no call at all. IAM goes first: an association names a role, which must
/// exist before EKS accepts it. On failure the error lists what was done before it.
pub async fn execute_report(opts: &AwsOptions, plan: &Plan) -> Result<ExecReport> {
    if plan.is_empty() {
        return Ok(ExecReport::default());
    }
    let clients = match &plan.clients {
        Some(c) => c.clone(),
        None => Clients::new(opts).await?,
    };
    let mut report = if plan.items.iter().all(|i| i.change == Change::NoChange) {
        ExecReport::default()
    } else {
        execute::run(&clients, &plan.items).await?
    };
    let eks = pod_identity::execute(&clients, &plan.eks).await.map_err(|e| {
        if report.done.is_empty() {
            e
        } else {
            crate::error::Error::Aws(format!(
                "{e}\nIAM changes made before the failure:\n  {}",
                report.done.join("\n  ")
            ))
        }
    })?;
    report.done.extend(eks.done);
    report.stats.calls += eks.stats.calls;
    report.stats.writes += eks.stats.writes;
    Ok(report)
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
    verify_with(&clients, &desired, bundle).await
}

/// [`verify_with_stats`] with given clients: the IAM checks, then in modes using Pod Identity
/// the associations (they exist and give this role) and the agent addon (ACTIVE).
pub async fn verify_with(clients: &Clients, desired: &Desired, bundle: &Bundle) -> Result<(Vec<Check>, CallStats)> {
    let (mut checks, mut stats) = verify::checks(clients, desired).await?;
    let (eks, eks_stats) = verify_eks(clients, bundle).await?;
    checks.extend(eks);
    stats.calls += eks_stats.calls;
    stats.writes += eks_stats.writes;
    Ok((checks, stats))
}

/// The Pod Identity checks of a bundle; no call at all when no component uses Pod Identity.
pub async fn verify_eks(clients: &Clients, bundle: &Bundle) -> Result<(Vec<Check>, CallStats)> {
    let assoc = pod_identity::BundleAssociations::of(bundle);
    if assoc.is_empty() {
        return Ok((Vec::new(), CallStats::default()));
    }
    pod_identity::verify(clients, &assoc.all(), &assoc.agent_clusters()).await
}
