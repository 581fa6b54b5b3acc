//! The plan's decisions: compare what IAM returned ([`IamState`], read by `state`) with what
//! the bundle wants ([`Desired`]) and list per resource what apply would do (create / update
//! with a JSON diff / no change) and the write calls it takes. Pure: no I/O here, so every
//! decision is tested offline from recorded read states (tests/offline/aws_plan.rs).

use super::client::CallStats;
use super::desired::{Desired, DesiredOidc, DesiredPolicy, DesiredRole};
use super::doc_decode;
use super::state::{IamState, PolicyState, RoleState};
use crate::change::PlanText;
use crate::component::{MANAGED_BY_KEY, MANAGED_BY_VALUE};
use crate::error::{Error, Result};
use crate::identity::AUDIENCE;
use std::collections::BTreeMap;

/// IAM keeps at most this many versions of a managed policy.
pub const MAX_POLICY_VERSIONS: usize = 5;

/// The tag CloudFormation puts on what a stack created (eksctl's roles carry it).
pub const STACK_TAG: &str = "aws:cloudformation:stack-name";

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

pub use crate::change::Change;

/// One write call apply will make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    CreateOidcProvider {
        url: String,
        arn: String,
        tags: BTreeMap<String, String>,
    },
    AddClientId {
        arn: String,
    },
    CreatePolicy {
        name: String,
        arn: String,
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

impl Op {
    /// The role name or policy ARN this call creates, if it creates one.
    pub(crate) fn creates(&self) -> Option<&str> {
        match self {
            Op::CreatePolicy { arn, .. } => Some(arn),
            Op::CreateRole { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The role names and policy ARNs this call needs to exist.
    pub(crate) fn needs(&self) -> Vec<&str> {
        match self {
            Op::AttachPolicy { role, arn } => vec![role, arn],
            Op::TagRole { name, .. } | Op::UpdateTrust { name, .. } => vec![name],
            Op::TagPolicy { arn, .. } | Op::CreatePolicyVersion { arn, .. } | Op::DeletePolicyVersion { arn, .. } => {
                vec![arn]
            }
            Op::AddClientId { arn } => vec![arn],
            Op::CreateOidcProvider { .. } | Op::CreatePolicy { .. } | Op::CreateRole { .. } => Vec::new(),
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
    /// It exists without being irsagen's and `--adopt` takes it over: its first call is the
    /// claim (the `managed-by=irsagen` tag), so a run that stops before it changed nothing.
    pub adopting: bool,
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
            adopting: false,
            ops: Vec::new(),
        }
    }

    /// One call with its note; `mark` is `+` (adds), `~` (changes) or `-` (removes).
    fn op(&mut self, mark: char, note: impl Into<String>, op: Op) {
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

/// The plan for `desired` given what IAM returned. Refuses (changing nothing) when the
/// credentials are for another account, and when resources exist that are not irsagen's
/// (all of them named in one error) unless `adopt`.
pub fn decide(desired: &Desired, live: &IamState, adopt: bool) -> Result<Vec<PlanItem>> {
    if live.caller.account != desired.account {
        return Err(Error::Aws(format!(
            "the credentials are for account {} ({}) but the bundle was rendered for account {} (--account); \
             nothing was changed. Use credentials for {} (--profile), or render with --account {} (or --account auto)",
            live.caller.account, live.caller.arn, desired.account, desired.account, live.caller.account
        )));
    }
    if let Some((preset, arn)) = live.missing_extra_policies.first() {
        let aws_managed = desired
            .roles
            .iter()
            .any(|r| &r.preset == preset && r.aws_managed && r.policy_arns.contains(arn));
        return Err(if aws_managed {
            Error::invalid(
                format!("presets.{preset}.policy"),
                arn.clone(),
                "is an AWS managed policy (policy: aws-managed) that does not exist in this account's partition: only AWS \
                 creates those; render with policy `document` to create a customer managed copy instead (nothing was changed)",
            )
        } else {
            Error::invalid(
                format!("presets.{preset}.extraPolicyArns"),
                arn.clone(),
                "does not exist in IAM: irsagen attaches extra policies but never creates them; create it first or remove it \
                 from the list (nothing was changed)",
            )
        });
    }
    // AWS owns its managed policies: irsagen never creates, versions, tags or deletes one,
    // whatever built the desired state. Policy calls come only from `desired.policies`.
    if let Some(p) = desired
        .policies
        .iter()
        .find(|p| crate::managed_policy::is_aws_managed(&p.arn))
    {
        return Err(Error::Aws(format!(
            "refusing to manage policy {} (preset {}): it is an AWS managed policy, which only AWS can create or change; \
             irsagen only attaches those (policy: aws-managed); nothing was changed",
            p.arn,
            p.presets.join(", ")
        )));
    }
    // No provider in pod-identity mode: nothing trusts it, so apply does not create it.
    let mut items: Vec<PlanItem> = desired
        .oidc
        .iter()
        .map(|o| oidc_item(o, live.oidc_client_ids.as_deref()))
        .collect();
    let mut refused = Vec::new();
    let policies = desired
        .policies
        .iter()
        .map(|p| policy_item(p, live.policies.get(&p.arn), adopt));
    let roles = desired
        .roles
        .iter()
        .map(|r| role_item(r, live.roles.get(&r.name), adopt));
    for r in policies.chain(roles) {
        match r? {
            Ok(item) => items.push(item),
            Err(why) => refused.push(why),
        }
    }
    if !refused.is_empty() {
        return Err(Error::Aws(format!(
            "refusing to change IAM resources irsagen does not manage (nothing was changed):\n  - {}\nPass --adopt to take them over \
             (irsagen first tags them managed-by=irsagen, then makes them match the rendered documents; it never deletes them), \
             or pick other names with --set <preset>.roleName=NAME / --set <preset>.policyName=NAME",
            refused.join("\n  - ")
        )));
    }
    Ok(items)
}

fn oidc_item(d: &DesiredOidc, client_ids: Option<&[String]>) -> PlanItem {
    let arn = &d.provider.provider_arn;
    let mut item = PlanItem::new(ResourceKind::OidcProvider, arn, Vec::new());
    let Some(client_ids) = client_ids else {
        item.op(
            '+',
            format!("register issuer {} with client id {AUDIENCE}", d.provider.issuer_url),
            Op::CreateOidcProvider {
                url: d.provider.issuer_url.clone(),
                arn: arn.clone(),
                tags: d.tags.clone(),
            },
        );
        return item.finish(false);
    };
    if !client_ids.iter().any(|id| id == AUDIENCE) {
        item.op(
            '+',
            format!("add client id {AUDIENCE}"),
            Op::AddClientId { arn: arn.clone() },
        );
    }
    item.finish(true)
}

/// The tags of `want` that `have` lacks or holds with another value.
fn missing_tags(want: &BTreeMap<String, String>, have: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    want.iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The tag call for `missing` (one call), noted one line per tag: `+` new, `~` changed value.
/// It comes first among an existing resource's calls: when adopting, the tag is the claim.
fn tag_op(item: &mut PlanItem, missing: BTreeMap<String, String>, have: &BTreeMap<String, String>, op: Op) {
    if missing.is_empty() {
        return;
    }
    for (k, v) in &missing {
        match have.get(k) {
            Some(old) => item.notes.push(format!("~ tag {k}={v} (was {k}={old})")),
            None => item.notes.push(format!("+ tag {k}={v}")),
        }
    }
    item.ops.push(op);
}

/// Why an existing resource is not irsagen's, or `None` when it is (`managed-by=irsagen` and
/// no CloudFormation stack owning it).
pub fn not_ours(tags: &BTreeMap<String, String>) -> Option<String> {
    if let Some(stack) = tags.get(STACK_TAG) {
        return Some(format!(
            "is owned by the CloudFormation stack `{stack}` (tag {STACK_TAG}; eksctl creates roles that way): \
             changing it outside the stack makes the stack drift"
        ));
    }
    match tags.get(MANAGED_BY_KEY).map(String::as_str) {
        Some(MANAGED_BY_VALUE) => None,
        Some(other) => Some(format!(
            "is managed by {other} (tag {MANAGED_BY_KEY}={other}), not {MANAGED_BY_VALUE}"
        )),
        None => Some(format!("exists without the tag {MANAGED_BY_KEY}={MANAGED_BY_VALUE}")),
    }
}

/// An existing resource that is not irsagen's is refused (`Err` with the reason) unless
/// `adopt`, in which case the plan item says it is being taken over, claim first.
fn ownership(
    item: &mut PlanItem,
    tags: &BTreeMap<String, String>,
    adopt: bool,
    what: String,
    preset: &str,
) -> std::result::Result<(), String> {
    let Some(why) = not_ours(tags) else {
        return Ok(());
    };
    if !adopt {
        return Err(format!("{what} {why} (preset {preset})"));
    }
    item.adopting = true;
    item.notes.push(format!(
        "~ adopt: it {why}; irsagen claims it first (tag {MANAGED_BY_KEY}={MANAGED_BY_VALUE}), then changes it"
    ));
    Ok(())
}

/// `Ok(Err(reason))` when the policy exists, is not irsagen's and `adopt` is false.
fn policy_item(
    p: &DesiredPolicy,
    live: Option<&PolicyState>,
    adopt: bool,
) -> Result<std::result::Result<PlanItem, String>> {
    let mut item = PlanItem::new(ResourceKind::Policy, &p.arn, p.presets.clone());
    let document = crate::policy_doc::compact(&p.document);
    let Some(live) = live else {
        item.op(
            '+',
            "create with the rendered document",
            Op::CreatePolicy {
                name: p.name.clone(),
                arn: p.arn.clone(),
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
    let live_document = doc_decode::decode(
        &live.document,
        &format!("policy {} version {}", p.arn, live.default_version),
    )?;
    let what = format!("policy `{}` ({})", p.name, p.arn);
    if let Err(reason) = ownership(&mut item, &live.tags, adopt, what, &p.presets.join(", ")) {
        return Ok(Err(reason));
    }
    let missing = missing_tags(&p.tags, &live.tags);
    let tag = Op::TagPolicy {
        arn: p.arn.clone(),
        tags: missing.clone(),
    };
    tag_op(&mut item, missing, &live.tags, tag);
    if live_document != p.document {
        let version = &live.default_version;
        item.diff = Some(doc_decode::diff(
            Some(&live_document),
            &p.document,
            &format!("{} (live default {version})", p.name),
            &format!("{} (rendered)", p.name),
        ));
        if let Some(old) = version_to_delete(&live.versions) {
            item.op(
                '-',
                format!("delete the oldest non-default version {old} (IAM keeps at most {MAX_POLICY_VERSIONS})"),
                Op::DeletePolicyVersion {
                    arn: p.arn.clone(),
                    version_id: old.to_string(),
                },
            );
        }
        item.op(
            '~',
            format!("new default version replacing {version}"),
            Op::CreatePolicyVersion {
                arn: p.arn.clone(),
                document,
            },
        );
    }
    Ok(Ok(item.finish(true)))
}

/// At IAM's limit of versions, the one to delete before creating another: the oldest
/// non-default one; on equal dates, the lowest version number (`v9` before `v10`).
pub fn version_to_delete(versions: &[aws_sdk_iam::types::PolicyVersion]) -> Option<&str> {
    if versions.len() < MAX_POLICY_VERSIONS {
        return None;
    }
    versions
        .iter()
        .filter(|v| !v.is_default_version())
        .min_by_key(|v| {
            (
                v.create_date().map(|d| (d.secs(), d.subsec_nanos())),
                version_number(v.version_id()),
            )
        })
        .and_then(|v| v.version_id())
}

fn version_number(id: Option<&str>) -> u64 {
    id.and_then(|s| s.strip_prefix('v'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

/// `Ok(Err(reason))` when the role exists, is not irsagen's and `adopt` is false.
fn role_item(r: &DesiredRole, live: Option<&RoleState>, adopt: bool) -> Result<std::result::Result<PlanItem, String>> {
    let mut item = PlanItem::new(ResourceKind::Role, &r.name, vec![r.preset.clone()]);
    let trust = crate::policy_doc::compact(&r.trust);
    let attach = |arn: &str| Op::AttachPolicy {
        role: r.name.clone(),
        arn: arn.to_string(),
    };
    let Some(live) = live else {
        item.op(
            '+',
            format!("create for {} with the rendered trust policy", r.service_account),
            Op::CreateRole {
                name: r.name.clone(),
                trust,
                tags: r.tags.clone(),
                description: format!("IRSA role for {} ({}), managed by irsagen", r.service_account, r.preset),
            },
        );
        for arn in r.attachments() {
            item.op('+', format!("attach {arn}"), attach(arn));
        }
        item.diff = Some(doc_decode::diff(
            None,
            &r.trust,
            "/dev/null",
            &format!("{} trust policy (rendered)", r.name),
        ));
        return Ok(Ok(item.finish(false)));
    };
    let tags = super::read::tag_map(live.role.tags());
    if let Err(reason) = ownership(&mut item, &tags, adopt, format!("role `{}`", r.name), &r.preset) {
        return Ok(Err(reason));
    }
    let missing = missing_tags(&r.tags, &tags);
    let tag = Op::TagRole {
        name: r.name.clone(),
        tags: missing.clone(),
    };
    tag_op(&mut item, missing, &tags, tag);
    let trust_live = super::read::role_trust(&live.role)?;
    if trust_live != r.trust {
        item.diff = Some(doc_decode::diff(
            Some(&trust_live),
            &r.trust,
            &format!("{} trust policy (live)", r.name),
            &format!("{} trust policy (rendered)", r.name),
        ));
        item.op(
            '~',
            "replace the trust policy",
            Op::UpdateTrust {
                name: r.name.clone(),
                trust,
            },
        );
    }
    // Other attached policies are left alone (never detached): verify reports them.
    for arn in r.attachments().filter(|a| !live.attached.iter().any(|x| x == a)) {
        item.op('+', format!("attach {arn}"), attach(arn));
    }
    Ok(Ok(item.finish(true)))
}

/// Human-readable plan: one line per resource (`+` create, `~` update, blank no change), a
/// line per call (`+` adds, `~` changes, `-` removes), the JSON diffs, and the counts.
pub(crate) fn to_text(items: &[PlanItem], stats: CallStats) -> String {
    let mut t = PlanText::new();
    for it in items {
        let presets = if it.presets.is_empty() {
            String::new()
        } else {
            format!(" [{}]", it.presets.join(", "))
        };
        t.entry(
            it.change,
            &format!(
                "{} {:<13} {}{presets}: {}",
                it.change.marker(),
                it.kind.to_string(),
                it.name,
                it.change.word()
            ),
        );
        for n in &it.notes {
            t.line(&format!("    {n}"));
        }
        if let Some(d) = &it.diff {
            t.indented("    ", d);
        }
    }
    t.finish("aws plan", 0, &format!("; the plan made {stats}"))
}
