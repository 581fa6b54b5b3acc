//! EKS Pod Identity on the AWS side: the association of each ServiceAccount with its role, and
//! the `eks-pod-identity-agent` addon that serves the credentials, planned, applied and verified
//! through the EKS API (`aws-sdk-eks`).
//!
//! Same steps as the IAM half: `read` what EKS holds into a [`PodIdentityState`] (the only part
//! that reads), `decide` the plan as a pure function of that state and the [`DesiredAssociation`]s,
//! `execute` its calls (each safe to retry), and `verify`: checks decided by a pure function of
//! a state read the same way. Everything that needs no AWS is tested offline from recorded states;
//! the calls themselves are tested against recorded EKS responses (moto has no Pod Identity or
//! addon API; tests/offline/pod_identity_aws.rs).
//!
//! The input is deliberately small and independent of the identity model: the model's association
//! maps onto [`DesiredAssociation`] one to one.

mod decide;
mod execute;
mod read;
mod verify;

pub use decide::{EksOp, EksPlanItem, EksResourceKind, decide, request_token, to_text};
pub use execute::{Recovery, recovery};
pub use verify::decide as verify_decide;

use super::client::{CallStats, Clients};
use super::execute::ExecReport;
use crate::bundle::Bundle;
use crate::component::{Component, MANAGED_BY_KEY, MANAGED_BY_VALUE};
use crate::error::Result;
use crate::identity::Mechanism;
use crate::overrides::SaCreator;
use crate::report::Check;
use std::collections::{BTreeMap, BTreeSet};

/// The EKS addon that runs the Pod Identity agent on every node.
pub const AGENT_ADDON: &str = "eks-pod-identity-agent";

/// One ServiceAccount that should get a role through EKS Pod Identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredAssociation {
    /// Preset the association belongs to (labels plan lines and checks).
    pub preset: String,
    /// EKS cluster name.
    pub cluster: String,
    /// Kubernetes namespace of the ServiceAccount.
    pub namespace: String,
    /// ServiceAccount name.
    pub service_account: String,
    /// The IAM role the pods get.
    pub role_arn: String,
    /// Tags of the association; the ownership tag `managed-by: irsagen` is always added.
    pub tags: BTreeMap<String, String>,
}

impl DesiredAssociation {
    /// `cluster/namespace/serviceAccount`: what EKS keeps one association per.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.cluster, self.namespace, self.service_account)
    }

    /// The tags the association must carry: the given ones and the ownership tag.
    pub fn owned_tags(&self) -> BTreeMap<String, String> {
        let mut t = self.tags.clone();
        t.insert(MANAGED_BY_KEY.to_string(), MANAGED_BY_VALUE.to_string());
        t
    }
}

impl DesiredAssociation {
    /// The model's association of `c` in `cluster`, one to one.
    pub fn of(c: &Component, cluster: &str) -> Self {
        let a = c.pod_identity_association(cluster);
        DesiredAssociation {
            preset: c.preset.clone(),
            cluster: a.cluster,
            namespace: a.namespace,
            service_account: a.service_account,
            role_arn: a.role_arn,
            tags: a.tags,
        }
    }
}

/// The associations a bundle wants, split by who makes them. Only components whose mode uses
/// Pod Identity have one; in `irsa` mode both lists are empty and no EKS call is made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleAssociations {
    /// Created and kept by `apply --aws`.
    pub applied: Vec<DesiredAssociation>,
    /// Of addon-managed controllers (EBS CSI): the addon's own `podIdentityAssociations` makes
    /// them and EKS then lets only the addon change them (`ownerArn`), so apply leaves them to
    /// the addon; verify still checks they exist and give this role.
    pub by_addon: Vec<DesiredAssociation>,
}

impl BundleAssociations {
    /// From the bundle's components, in the bundle's (preset) order.
    pub fn of(bundle: &Bundle) -> Self {
        let mut out = BundleAssociations::default();
        for c in bundle
            .components
            .iter()
            .filter(|c| c.identity_mode.uses(Mechanism::PodIdentity))
        {
            let d = DesiredAssociation::of(c, &bundle.context.cluster);
            if c.service_account_created_by == SaCreator::Addon {
                out.by_addon.push(d);
            } else {
                out.applied.push(d);
            }
        }
        out
    }

    /// No component uses Pod Identity.
    pub fn is_empty(&self) -> bool {
        self.applied.is_empty() && self.by_addon.is_empty()
    }

    /// Every association, for verify: applied ones first, then the addons'.
    pub fn all(&self) -> Vec<DesiredAssociation> {
        self.applied.iter().chain(&self.by_addon).cloned().collect()
    }

    /// The clusters whose `eks-pod-identity-agent` addon must exist: those of every association,
    /// the addons' included. An addon-managed association (EBS CSI alone) makes none for apply,
    /// yet its pods get no credentials without the agent, so the agent cannot be derived from
    /// the applied associations.
    pub fn agent_clusters(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self
            .applied
            .iter()
            .chain(&self.by_addon)
            .map(|d| d.cluster.as_str())
            .collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// Plan lines for the associations apply leaves to their addon.
    pub fn addon_notes(&self) -> Vec<String> {
        self.by_addon
            .iter()
            .map(|d| {
                format!(
                    "  association {} [{}]: left to its EKS addon (set the role in the addon's podIdentityAssociations, \
                     as the rendered eksctl config does); verify checks it",
                    d.key(),
                    d.preset
                )
            })
            .collect()
    }
}

/// `clusters` each once, sorted: the order the agent's reads, plan items and checks take.
pub(crate) fn clusters(clusters: &[String]) -> BTreeSet<&str> {
    clusters.iter().map(String::as_str).collect()
}

/// An association as EKS returned it (ListPodIdentityAssociations + DescribePodIdentityAssociation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAssociation {
    /// `associationId` (`a-…`).
    pub id: String,
    /// `associationArn`: what TagResource takes.
    pub arn: String,
    /// `roleArn`.
    pub role_arn: String,
    /// `tags`.
    pub tags: BTreeMap<String, String>,
    /// `ownerArn`: set when an EKS addon created and manages the association.
    pub owner_arn: Option<String>,
    /// `targetRoleArn`: set when the pods get a second role, assumed with the first one's credentials.
    pub target_role_arn: Option<String>,
}

/// The agent addon as DescribeAddon returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAddon {
    /// `status` (`ACTIVE`, `CREATING`, `DEGRADED`, `CREATE_FAILED`, …).
    pub status: String,
    /// `addonVersion`.
    pub version: Option<String>,
    /// `health.issues`, one line each (`code: message`).
    pub issues: Vec<String>,
}

/// What EKS holds for the desired associations. Read once, never written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodIdentityState {
    /// By [`DesiredAssociation::key`]; `None` when no association exists for that ServiceAccount.
    pub associations: BTreeMap<String, Option<LiveAssociation>>,
    /// The agent addon by cluster name; `None` when it is not installed. Read only when the
    /// addon is required.
    pub addons: BTreeMap<String, Option<LiveAddon>>,
}

/// The Pod Identity changes an apply would make.
#[derive(Debug, Clone, Default)]
pub struct PodIdentityPlan {
    /// Agent addons first, then one item per association.
    pub items: Vec<EksPlanItem>,
    /// API calls the plan made (all reads).
    pub stats: CallStats,
}

impl PodIdentityPlan {
    /// True when nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.items.iter().all(|i| i.change == super::Change::NoChange)
    }
    /// Human-readable plan, in the IAM plan's format.
    pub fn to_text(&self) -> String {
        to_text(&self.items, self.stats)
    }
    /// Every write call execute would make, as `eks:Action target`.
    pub fn calls(&self) -> Vec<String> {
        self.items.iter().flat_map(EksPlanItem::calls).collect()
    }
}

/// Reads EKS and computes the plan; makes no write call. `agent_clusters`: the clusters whose
/// `eks-pod-identity-agent` addon must exist (created when missing), given apart from `desired`
/// because a cluster may need the agent with no association for apply to make. Refuses,
/// changing nothing, when an association exists that is not irsagen's, unless `adopt`.
pub async fn plan_associations(
    clients: &Clients,
    desired: &[DesiredAssociation],
    agent_clusters: &[String],
    adopt: bool,
) -> Result<PodIdentityPlan> {
    let before = clients.log.stats();
    let live = read::state(clients, desired, agent_clusters).await?;
    let items = decide(desired, agent_clusters, &live, adopt)?;
    Ok(PodIdentityPlan {
        items,
        stats: clients.log.stats().since(before),
    })
}

/// Executes a plan; a plan with no changes makes no call. On failure the error lists what was
/// done before it.
pub async fn execute(clients: &Clients, plan: &PodIdentityPlan) -> Result<ExecReport> {
    if plan.is_empty() {
        return Ok(ExecReport::default());
    }
    execute::run(clients, &plan.items).await
}

/// The checks: each association exists and points at its role, and the agent addon is ACTIVE
/// in each of `agent_clusters`. A read that fails is an `Err` (exit 3), never a failed check.
pub async fn verify(
    clients: &Clients,
    desired: &[DesiredAssociation],
    agent_clusters: &[String],
) -> Result<(Vec<Check>, CallStats)> {
    let before = clients.log.stats();
    let live = read::state(clients, desired, agent_clusters).await.map_err(|e| {
        crate::error::Error::Aws(format!(
            "verify --aws could not read EKS, so no Pod Identity check was made: {e}"
        ))
    })?;
    Ok((
        verify::decide(desired, agent_clusters, &live),
        clients.log.stats().since(before),
    ))
}
