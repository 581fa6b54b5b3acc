//! The Pod Identity plan's decisions: what EKS holds ([`PodIdentityState`]) against what the
//! bundle wants ([`DesiredAssociation`]s), per resource: create / update / no change and the
//! write calls it takes. Pure, so every decision is tested offline.
//!
//! Rules, as for IAM: an association irsagen created carries `managed-by: irsagen`; one without
//! it (created by hand, by eksctl, by Terraform) is refused unless `--adopt`, which claims it
//! first (TagResource) and changes it second; one an EKS addon owns (`ownerArn`) is changed
//! through that addon only, so even `--adopt` refuses it. Nothing is ever deleted. The agent
//! addon is created when missing and otherwise left as it is (verify reports its status).

use super::{AGENT_ADDON, DesiredAssociation, LiveAssociation, PodIdentityState, clusters};
use crate::aws::client::CallStats;
use crate::aws::plan::{Change, not_ours};
use crate::component::{MANAGED_BY_KEY, MANAGED_BY_VALUE};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// What kind of EKS resource a plan item is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EksResourceKind {
    /// A Pod Identity association.
    Association,
    /// The `eks-pod-identity-agent` addon.
    Addon,
}

impl std::fmt::Display for EksResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EksResourceKind::Association => "association",
            EksResourceKind::Addon => "addon",
        })
    }
}

/// One write call apply will make. Creates and updates carry a `clientRequestToken` derived
/// from what they ask for, so a call the SDK retries after a lost answer is the same request
/// to EKS and takes effect once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EksOp {
    /// CreatePodIdentityAssociation.
    CreateAssociation {
        /// Cluster name.
        cluster: String,
        /// Namespace.
        namespace: String,
        /// ServiceAccount.
        service_account: String,
        /// Role ARN.
        role_arn: String,
        /// Tags, the ownership tag included.
        tags: BTreeMap<String, String>,
        /// Idempotency token.
        token: String,
    },
    /// UpdatePodIdentityAssociation: point it at another role.
    UpdateAssociation {
        /// Cluster name.
        cluster: String,
        /// `associationId`.
        id: String,
        /// The role it gets.
        role_arn: String,
        /// Idempotency token.
        token: String,
    },
    /// TagResource on the association's ARN.
    TagAssociation {
        /// `associationArn`.
        arn: String,
        /// Tags to set.
        tags: BTreeMap<String, String>,
    },
    /// CreateAddon `eks-pod-identity-agent` (the default version for the cluster).
    CreateAddon {
        /// Cluster name.
        cluster: String,
        /// Tags, the ownership tag included.
        tags: BTreeMap<String, String>,
        /// Idempotency token.
        token: String,
    },
}

impl EksOp {
    /// `eks:Action target`, for reports.
    pub fn describe(&self) -> String {
        match self {
            EksOp::CreateAssociation {
                cluster,
                namespace,
                service_account,
                role_arn,
                ..
            } => format!("eks:CreatePodIdentityAssociation {cluster}/{namespace}/{service_account} {role_arn}"),
            EksOp::UpdateAssociation {
                cluster, id, role_arn, ..
            } => {
                format!("eks:UpdatePodIdentityAssociation {cluster} {id} {role_arn}")
            }
            EksOp::TagAssociation { arn, tags } => format!("eks:TagResource {arn} {}", tag_text(tags)),
            EksOp::CreateAddon { cluster, .. } => format!("eks:CreateAddon {cluster}/{AGENT_ADDON}"),
        }
    }
}

fn tag_text(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `irsagen-` and 32 hex digits of the SHA-256 of `parts`: the same request gets the same token,
/// any other request another one (EKS refuses a reused token with other parameters).
pub fn request_token(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let hex: String = h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("irsagen-{hex}")
}

/// One resource in the Pod Identity plan; the shape of the IAM plan's [`crate::aws::PlanItem`].
#[derive(Debug, Clone)]
pub struct EksPlanItem {
    /// Kind of resource.
    pub kind: EksResourceKind,
    /// `cluster/namespace/serviceAccount`, or `cluster/eks-pod-identity-agent`.
    pub name: String,
    /// Presets it belongs to (empty for the addon).
    pub presets: Vec<String>,
    /// What happens to it.
    pub change: Change,
    /// What will be done, one line each (`+` adds, `~` changes).
    pub notes: Vec<String>,
    /// It exists without being irsagen's and `--adopt` takes it over: its first call is the claim.
    pub adopting: bool,
    /// The write calls, in order.
    pub ops: Vec<EksOp>,
}

impl EksPlanItem {
    /// The write calls this item takes, as `eks:Action target`.
    pub fn calls(&self) -> Vec<String> {
        self.ops.iter().map(EksOp::describe).collect()
    }

    fn new(kind: EksResourceKind, name: String, presets: Vec<String>) -> Self {
        EksPlanItem {
            kind,
            name,
            presets,
            change: Change::NoChange,
            notes: Vec::new(),
            adopting: false,
            ops: Vec::new(),
        }
    }

    fn op(&mut self, mark: char, note: impl Into<String>, op: EksOp) {
        self.notes.push(format!("{mark} {}", note.into()));
        self.ops.push(op);
    }

    fn finish(mut self, exists: bool) -> Self {
        self.change = match (exists, self.ops.is_empty()) {
            (false, _) => Change::Create,
            (true, false) => Change::Update,
            (true, true) => Change::NoChange,
        };
        self
    }
}

/// Why an association may not be changed by irsagen.
enum Refusal {
    /// Not irsagen's: `--adopt` would take it over.
    NotOurs(String),
    /// Owned by an EKS addon: only that addon may change it.
    AddonOwned(String),
}

/// The plan for `desired` given what EKS returned: the agent addon in each of `agent_clusters`
/// (sorted), then the associations. Refuses, changing nothing, when an association exists that
/// irsagen may not change (all of them named in one error).
pub fn decide(
    desired: &[DesiredAssociation],
    agent_clusters: &[String],
    live: &PodIdentityState,
    adopt: bool,
) -> Result<Vec<EksPlanItem>> {
    let mut items = Vec::new();
    for cluster in clusters(agent_clusters) {
        items.push(addon_item(
            cluster,
            live.addons.get(cluster).and_then(Option::as_ref).is_some(),
        ));
    }
    let mut refused = Vec::new();
    for d in desired {
        match association_item(d, live.associations.get(&d.key()).and_then(Option::as_ref), adopt) {
            Ok(item) => items.push(item),
            Err(r) => refused.push(r),
        }
    }
    if refused.is_empty() {
        return Ok(items);
    }
    let mut lines = Vec::new();
    let mut adoptable = false;
    for r in refused {
        match r {
            Refusal::NotOurs(line) => {
                adoptable = true;
                lines.push(line);
            }
            Refusal::AddonOwned(line) => lines.push(line),
        }
    }
    let hint = if adoptable {
        format!(
            "\nPass --adopt to take over those without the tag (irsagen first tags them {MANAGED_BY_KEY}={MANAGED_BY_VALUE}, \
             then points them at the rendered role; it never deletes an association)"
        )
    } else {
        String::new()
    };
    Err(Error::Aws(format!(
        "refusing to change EKS Pod Identity associations irsagen does not manage (nothing was changed):\n  - {}{hint}",
        lines.join("\n  - ")
    )))
}

fn addon_item(cluster: &str, exists: bool) -> EksPlanItem {
    let mut item = EksPlanItem::new(EksResourceKind::Addon, format!("{cluster}/{AGENT_ADDON}"), Vec::new());
    if !exists {
        let tags = BTreeMap::from([(MANAGED_BY_KEY.to_string(), MANAGED_BY_VALUE.to_string())]);
        item.op(
            '+',
            format!("install {AGENT_ADDON} (the cluster's default version): it serves the associations' credentials"),
            EksOp::CreateAddon {
                cluster: cluster.to_string(),
                token: request_token(&["CreateAddon", cluster, AGENT_ADDON]),
                tags,
            },
        );
    }
    item.finish(exists)
}

fn association_item(
    d: &DesiredAssociation,
    live: Option<&LiveAssociation>,
    adopt: bool,
) -> std::result::Result<EksPlanItem, Refusal> {
    let mut item = EksPlanItem::new(EksResourceKind::Association, d.key(), vec![d.preset.clone()]);
    let want_tags = d.owned_tags();
    let Some(live) = live else {
        let mut token_parts: Vec<&str> = vec![
            "CreatePodIdentityAssociation",
            d.cluster.as_str(),
            d.namespace.as_str(),
            d.service_account.as_str(),
            d.role_arn.as_str(),
        ];
        for (k, v) in &want_tags {
            token_parts.push(k);
            token_parts.push(v);
        }
        item.op(
            '+',
            format!(
                "associate {}/{} with role {}",
                d.namespace, d.service_account, d.role_arn
            ),
            EksOp::CreateAssociation {
                cluster: d.cluster.clone(),
                namespace: d.namespace.clone(),
                service_account: d.service_account.clone(),
                role_arn: d.role_arn.clone(),
                token: request_token(&token_parts),
                tags: want_tags,
            },
        );
        return Ok(item.finish(false));
    };
    let what = || {
        format!(
            "association {} for {}/{} in cluster {} (role {})",
            live.id, d.namespace, d.service_account, d.cluster, live.role_arn
        )
    };
    if let Some(owner) = &live.owner_arn {
        return Err(Refusal::AddonOwned(format!(
            "{} is owned by {owner} (ownerArn): EKS lets only that addon change it, so --adopt does not apply; \
             set the role in the addon's podIdentityAssociations instead (preset {})",
            what(),
            d.preset
        )));
    }
    if let Some(why) = not_ours(&live.tags) {
        if !adopt {
            return Err(Refusal::NotOurs(format!("{} {why} (preset {})", what(), d.preset)));
        }
        item.adopting = true;
        item.notes.push(format!(
            "~ adopt: it {why}; irsagen claims it first (tag {MANAGED_BY_KEY}={MANAGED_BY_VALUE}), then changes it"
        ));
    }
    // The tag call comes first: when adopting, it is the claim.
    let missing: BTreeMap<String, String> = want_tags
        .iter()
        .filter(|(k, v)| live.tags.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !missing.is_empty() {
        for (k, v) in &missing {
            match live.tags.get(k) {
                Some(old) => item.notes.push(format!("~ tag {k}={v} (was {k}={old})")),
                None => item.notes.push(format!("+ tag {k}={v}")),
            }
        }
        item.ops.push(EksOp::TagAssociation {
            arn: live.arn.clone(),
            tags: missing,
        });
    }
    if live.role_arn != d.role_arn {
        item.op(
            '~',
            format!("point it at role {} (was {})", d.role_arn, live.role_arn),
            EksOp::UpdateAssociation {
                cluster: d.cluster.clone(),
                id: live.id.clone(),
                role_arn: d.role_arn.clone(),
                token: request_token(&["UpdatePodIdentityAssociation", &d.cluster, &live.id, &d.role_arn]),
            },
        );
    }
    Ok(item.finish(true))
}

/// Human-readable plan in the IAM plan's format: one line per resource, a line per call, and
/// the counts.
pub fn to_text(items: &[EksPlanItem], stats: CallStats) -> String {
    let mut s = String::new();
    let (mut create, mut update, mut same) = (0, 0, 0);
    for it in items {
        let (mark, word) = match it.change {
            Change::Create => {
                create += 1;
                ('+', "create")
            }
            Change::Update => {
                update += 1;
                ('~', "update")
            }
            Change::NoChange => {
                same += 1;
                (' ', "no change")
            }
        };
        let presets = if it.presets.is_empty() {
            String::new()
        } else {
            format!(" [{}]", it.presets.join(", "))
        };
        s.push_str(&format!(
            "{mark} {:<13} {}{presets}: {word}\n",
            it.kind.to_string(),
            it.name
        ));
        for n in &it.notes {
            s.push_str(&format!("    {n}\n"));
        }
    }
    s.push_str(&format!(
        "eks plan: {create} to create, {update} to update, {same} unchanged; the plan made {stats}\n"
    ));
    s
}
