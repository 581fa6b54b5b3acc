//! The plan: read IAM (never write), compare with the desired state, and list per resource
//! what apply would do (create / update with a JSON diff / no change) and the calls it takes.

use super::client::{CallStats, Clients, api_error};
use super::desired::{Desired, DesiredOidc, DesiredPolicy, DesiredRole};
use super::{doc_decode, read};
use crate::component::{MANAGED_BY_KEY, MANAGED_BY_VALUE};
use crate::error::{Error, Result};
use crate::render::AUDIENCE;
use std::collections::BTreeMap;

/// IAM keeps at most this many versions of a managed policy.
pub const MAX_POLICY_VERSIONS: usize = 5;

/// What kind of IAM resource a plan item is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    /// The cluster's IAM OIDC identity provider.
    OidcProvider,
    /// A customer-managed policy.
    Policy,
    /// An IAM role.
    Role,
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResourceKind::OidcProvider => "oidc-provider",
            ResourceKind::Policy => "policy",
            ResourceKind::Role => "role",
        })
    }
}

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// It does not exist and will be created.
    Create,
    /// It exists and will be changed.
    Update,
    /// It is as rendered.
    NoChange,
}

/// One write call apply will make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    CreateOidcProvider {
        url: String,
        tags: BTreeMap<String, String>,
    },
    AddClientId {
        arn: String,
    },
    CreatePolicy {
        name: String,
        document: String,
        tags: BTreeMap<String, String>,
    },
    DeletePolicyVersion {
        arn: String,
        version_id: String,
    },
    CreatePolicyVersion {
        arn: String,
        document: String,
    },
    TagPolicy {
        arn: String,
        tags: BTreeMap<String, String>,
    },
    CreateRole {
        name: String,
        trust: String,
        tags: BTreeMap<String, String>,
        description: String,
    },
    UpdateTrust {
        name: String,
        trust: String,
    },
    AttachPolicy {
        role: String,
        arn: String,
    },
    TagRole {
        name: String,
        tags: BTreeMap<String, String>,
    },
}

impl Op {
    /// `iam:Action target`, for reports.
    pub(crate) fn describe(&self) -> String {
        match self {
            Op::CreateOidcProvider { url, .. } => format!("iam:CreateOpenIDConnectProvider {url}"),
            Op::AddClientId { arn } => format!("iam:AddClientIDToOpenIDConnectProvider {arn} {AUDIENCE}"),
            Op::CreatePolicy { name, .. } => format!("iam:CreatePolicy {name}"),
            Op::DeletePolicyVersion { arn, version_id } => format!("iam:DeletePolicyVersion {arn} {version_id}"),
            Op::CreatePolicyVersion { arn, .. } => format!("iam:CreatePolicyVersion {arn} (set as default)"),
            Op::TagPolicy { arn, tags } => format!("iam:TagPolicy {arn} {}", tag_text(tags)),
            Op::CreateRole { name, .. } => format!("iam:CreateRole {name}"),
            Op::UpdateTrust { name, .. } => format!("iam:UpdateAssumeRolePolicy {name}"),
            Op::AttachPolicy { role, arn } => format!("iam:AttachRolePolicy {role} {arn}"),
            Op::TagRole { name, tags } => format!("iam:TagRole {name} {}", tag_text(tags)),
        }
    }
}

fn tag_text(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// One resource in the plan.
#[derive(Debug, Clone)]
pub struct PlanItem {
    /// Kind of resource.
    pub kind: ResourceKind,
    /// Role name, or policy / provider ARN.
    pub name: String,
    /// Presets it belongs to (empty for the OIDC provider).
    pub presets: Vec<String>,
    /// What happens to it.
    pub change: Change,
    /// What will be done, one line each.
    pub notes: Vec<String>,
    /// Unified diff of the JSON document (live → rendered); the whole document on create.
    pub diff: Option<String>,
    pub(crate) ops: Vec<Op>,
}

impl PlanItem {
    /// The write calls this item takes, as `iam:Action target`.
    pub fn calls(&self) -> Vec<String> {
        self.ops.iter().map(Op::describe).collect()
    }

    fn new(kind: ResourceKind, name: &str, presets: Vec<String>) -> Self {
        PlanItem {
            kind,
            name: name.to_string(),
            presets,
            change: Change::NoChange,
            notes: Vec::new(),
            diff: None,
            ops: Vec::new(),
        }
    }

    fn op(&mut self, note: impl Into<String>, op: Op) {
        self.notes.push(note.into());
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

/// Reads IAM for every desired resource, concurrently, and builds the plan items. Resources
/// that exist without `managed-by=irsagen` are refused (all of them named in one error)
/// unless `adopt`.
pub(crate) async fn items(clients: &Clients, desired: &Desired, adopt: bool) -> Result<(Vec<PlanItem>, CallStats)> {
    let before = clients.log.stats();
    let caller = super::identity::whoami(clients);
    let oidc = read_oidc(clients, &desired.oidc);
    let policies = futures::future::join_all(desired.policies.iter().map(|p| read_policy(clients, p, adopt)));
    let roles = futures::future::join_all(desired.roles.iter().map(|r| read_role(clients, r, adopt)));
    let extras = missing_extra_policies(clients, desired);
    let (caller, oidc, policies, roles, extras) = tokio::join!(caller, oidc, policies, roles, extras);
    let caller = caller?;
    if caller.account != desired.account {
        return Err(Error::Aws(format!(
            "the credentials are for account {} ({}) but the bundle was rendered for account {} (--account); \
             nothing was changed. Use credentials for {} (--profile), or render with --account {} (or --account auto)",
            caller.account, caller.arn, desired.account, desired.account, caller.account
        )));
    }
    if let Some((preset, arn)) = extras?.into_iter().next() {
        return Err(Error::invalid(
            format!("presets.{preset}.extraPolicyArns"),
            arn,
            "does not exist in IAM: irsagen attaches extra policies but never creates them; create it first or remove it \
             from the list (nothing was changed)",
        ));
    }
    let mut items = vec![oidc?];
    let mut refused = Vec::new();
    for r in policies.into_iter().chain(roles) {
        match r? {
            Ok(item) => items.push(item),
            Err(why) => refused.push(why),
        }
    }
    if !refused.is_empty() {
        return Err(Error::Aws(format!(
            "refusing to change IAM resources irsagen does not manage (nothing was changed):\n  - {}\nPass --adopt to take them over \
             (irsagen tags them managed-by=irsagen and makes them match the rendered documents; it never deletes them), \
             or pick other names with --set <preset>.roleName=NAME / --set <preset>.policyName=NAME",
            refused.join("\n  - ")
        )));
    }
    Ok((items, clients.log.stats().since(before)))
}

/// Declared extra policies that do not exist, as `(preset, arn)`: a typo is refused before any
/// write rather than failing after the role was created.
async fn missing_extra_policies(c: &Clients, d: &Desired) -> Result<Vec<(String, String)>> {
    let declared: Vec<(&str, &str)> = d
        .roles
        .iter()
        .flat_map(|r| r.extra_policy_arns.iter().map(|a| (r.preset.as_str(), a.as_str())))
        .collect();
    let found = futures::future::join_all(declared.iter().map(|(_, a)| read::policy_exists(c, a))).await;
    let mut missing = Vec::new();
    for ((preset, arn), exists) in declared.into_iter().zip(found) {
        if !exists? {
            missing.push((preset.to_string(), arn.to_string()));
        }
    }
    Ok(missing)
}

async fn read_oidc(c: &Clients, d: &DesiredOidc) -> Result<PlanItem> {
    let arn = &d.provider.provider_arn;
    let mut item = PlanItem::new(ResourceKind::OidcProvider, arn, Vec::new());
    let Some(client_ids) = read::oidc_client_ids(c, arn).await? else {
        item.op(
            format!("register issuer {} with client id {AUDIENCE}", d.provider.issuer_url),
            Op::CreateOidcProvider {
                url: d.provider.issuer_url.clone(),
                tags: d.tags.clone(),
            },
        );
        return Ok(item.finish(false));
    };
    if !client_ids.iter().any(|id| id == AUDIENCE) {
        item.op(
            format!("add client id {AUDIENCE}"),
            Op::AddClientId { arn: arn.clone() },
        );
    }
    Ok(item.finish(true))
}

fn missing_tags(want: &BTreeMap<String, String>, have: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    want.iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// An existing resource without `managed-by=irsagen` is refused (`Err` with the reason) unless
/// `adopt`, in which case the plan item says it is being taken over.
fn ownership(
    item: &mut PlanItem,
    tags: &BTreeMap<String, String>,
    adopt: bool,
    what: String,
    preset: &str,
) -> std::result::Result<(), String> {
    if tags.get(MANAGED_BY_KEY).map(String::as_str) == Some(MANAGED_BY_VALUE) {
        return Ok(());
    }
    if !adopt {
        return Err(format!(
            "{what} exists without the tag {MANAGED_BY_KEY}={MANAGED_BY_VALUE} (preset {preset})"
        ));
    }
    item.notes.push(format!(
        "adopt: not tagged {MANAGED_BY_KEY}={MANAGED_BY_VALUE}; irsagen takes it over"
    ));
    Ok(())
}

/// `Ok(Err(reason))` when the policy exists unmanaged and `adopt` is false.
async fn read_policy(c: &Clients, p: &DesiredPolicy, adopt: bool) -> Result<std::result::Result<PlanItem, String>> {
    let mut item = PlanItem::new(ResourceKind::Policy, &p.arn, p.presets.clone());
    let document = crate::policy_doc::compact(&p.document);
    let Some(live) = read::policy(c, &p.arn).await? else {
        item.op(
            "create with the rendered document",
            Op::CreatePolicy {
                name: p.name.clone(),
                document,
                tags: p.tags.clone(),
            },
        );
        item.diff = Some(doc_decode::diff(
            None,
            &p.document,
            "/dev/null",
            &format!("{} (rendered)", p.name),
        ));
        return Ok(Ok(item.finish(false)));
    };
    let tags = live.tags;
    let what = format!("policy `{}` ({})", p.name, p.arn);
    if let Err(reason) = ownership(&mut item, &tags, adopt, what, &p.presets.join(", ")) {
        return Ok(Err(reason));
    }
    let version = live.default_version;
    let live_doc = live.document;
    if live_doc != p.document {
        item.diff = Some(doc_decode::diff(
            Some(&live_doc),
            &p.document,
            &format!("{} (live default {version})", p.name),
            &format!("{} (rendered)", p.name),
        ));
        let versions = c
            .iam
            .list_policy_versions()
            .policy_arn(&p.arn)
            .max_items(100)
            .send()
            .await
            .map_err(|e| api_error("iam:ListPolicyVersions", &p.arn, e))?;
        let all = versions.versions();
        if all.len() >= MAX_POLICY_VERSIONS {
            let oldest = all.iter().filter(|v| !v.is_default_version()).min_by_key(|v| {
                (
                    v.create_date().map(|d| (d.secs(), d.subsec_nanos())),
                    version_number(v.version_id()),
                )
            });
            if let Some(old) = oldest.and_then(|v| v.version_id()) {
                item.op(
                    format!("delete the oldest non-default version {old} (IAM keeps at most {MAX_POLICY_VERSIONS})"),
                    Op::DeletePolicyVersion {
                        arn: p.arn.clone(),
                        version_id: old.to_string(),
                    },
                );
            }
        }
        item.op(
            format!("new default version replacing {version}"),
            Op::CreatePolicyVersion {
                arn: p.arn.clone(),
                document,
            },
        );
    }
    let tag = missing_tags(&p.tags, &tags);
    if !tag.is_empty() {
        item.op(
            format!("tag {}", tag_text(&tag)),
            Op::TagPolicy {
                arn: p.arn.clone(),
                tags: tag,
            },
        );
    }
    Ok(Ok(item.finish(true)))
}

fn version_number(id: Option<&str>) -> u64 {
    id.and_then(|s| s.trim_start_matches('v').parse().ok())
        .unwrap_or(u64::MAX)
}

async fn read_role(c: &Clients, r: &DesiredRole, adopt: bool) -> Result<std::result::Result<PlanItem, String>> {
    let mut item = PlanItem::new(ResourceKind::Role, &r.name, vec![r.preset.clone()]);
    let trust = crate::policy_doc::compact(&r.trust);
    let Some(role) = read::role(c, &r.name).await? else {
        item.op(
            format!("create for {} with the rendered trust policy", r.service_account),
            Op::CreateRole {
                name: r.name.clone(),
                trust,
                tags: r.tags.clone(),
                description: format!("IRSA role for {} ({}), managed by irsagen", r.service_account, r.preset),
            },
        );
        for arn in r.attachments() {
            item.op(
                format!("attach {arn}"),
                Op::AttachPolicy {
                    role: r.name.clone(),
                    arn: arn.to_string(),
                },
            );
        }
        item.diff = Some(doc_decode::diff(
            None,
            &r.trust,
            "/dev/null",
            &format!("{} trust policy (rendered)", r.name),
        ));
        return Ok(Ok(item.finish(false)));
    };
    let tags = read::tag_map(role.tags());
    if let Err(reason) = ownership(&mut item, &tags, adopt, format!("role `{}`", r.name), &r.preset) {
        return Ok(Err(reason));
    }
    let live = read::role_trust(&role)?;
    if live != r.trust {
        item.diff = Some(doc_decode::diff(
            Some(&live),
            &r.trust,
            &format!("{} trust policy (live)", r.name),
            &format!("{} trust policy (rendered)", r.name),
        ));
        item.op(
            "replace the trust policy",
            Op::UpdateTrust {
                name: r.name.clone(),
                trust,
            },
        );
    }
    // The role existed a moment ago; if it vanished in between, attaching converges on re-run.
    let attached = read::attached_policies(c, &r.name).await?.unwrap_or_default();
    for arn in r.attachments().filter(|a| !attached.iter().any(|x| x == a)) {
        item.op(
            format!("attach {arn}"),
            Op::AttachPolicy {
                role: r.name.clone(),
                arn: arn.to_string(),
            },
        );
    }
    let tag = missing_tags(&r.tags, &tags);
    if !tag.is_empty() {
        item.op(
            format!("tag {}", tag_text(&tag)),
            Op::TagRole {
                name: r.name.clone(),
                tags: tag,
            },
        );
    }
    Ok(Ok(item.finish(true)))
}

/// Human-readable plan: one line per resource, what will be done, and the JSON diffs.
pub(crate) fn to_text(items: &[PlanItem], stats: CallStats) -> String {
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
                ('=', "no change")
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
            s.push_str(&format!("    - {n}\n"));
        }
        if let Some(d) = &it.diff {
            for line in d.lines() {
                s.push_str(&format!("    {line}\n"));
            }
        }
    }
    s.push_str(&format!(
        "aws plan: {create} to create, {update} to update, {same} unchanged; the plan made {stats}\n"
    ));
    s
}
