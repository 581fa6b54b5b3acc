//! What a change does, for reviewers: the rendered documents of a folder (before) compared with
//! a new render (after) as parsed documents, not as text. Per role: IAM actions added and
//! removed, resources widened or narrowed, trust principals, subjects and conditions added or
//! removed, ServiceAccount / Helm values / other YAML keys changed, roles created or deleted.
//! Every finding that may grant access that was not granted before is flagged (`widens`).
//!
//! The comparison is conservative: when it cannot prove a change narrows access (a statement
//! with `NotAction` or `NotResource`, a removed `Deny`, a changed condition, a file that does
//! not parse) it flags it. Output is sorted, so the same change gives the same bytes and can be
//! posted as a pull-request comment ([`to_markdown`], or JSON through serde).

use crate::bundle::Bundle;
use crate::policy_doc;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One side of the comparison: a file's text, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// The file's text.
    Text(String),
    /// There, but not readable as a document (the note says why).
    Unreadable(String),
}

/// The documents of one cluster before and after, keyed by path relative to its folder.
#[derive(Debug, Default, Clone)]
pub struct Documents {
    /// The folder's files (absent: not there).
    pub old: BTreeMap<String, Side>,
    /// The new render's files.
    pub new: BTreeMap<String, String>,
    /// The preset each new file belongs to, from the render (old-only files are placed by path).
    pub owners: BTreeMap<String, String>,
    /// The role name of each preset, from the render.
    pub roles: BTreeMap<String, String>,
}

impl Documents {
    /// The new side from a bundle (files, owners and role names); the old side is left empty.
    pub fn from_bundle(bundle: &Bundle) -> Self {
        let mut d = Documents::default();
        for a in &bundle.artifacts {
            d.new.insert(a.path.clone(), a.content.clone());
            if let Some(p) = &a.preset {
                d.owners.insert(a.path.clone(), p.clone());
            }
        }
        for c in &bundle.components {
            d.roles.insert(c.preset.clone(), c.role_name.clone());
        }
        d
    }
}

/// What a file is, as far as the comparison cares: by its path in the layout of
/// [`crate::bundle::layout`], so the folder's files (which carry no kind) are read alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Policy,
    Trust,
    Yaml,
    Other,
}

fn file_kind(path: &str) -> FileKind {
    match path {
        p if p.starts_with("iam/") && p.ends_with("/trust-policy.json") => FileKind::Trust,
        p if p.starts_with("iam/") && p.ends_with(".json") => FileKind::Policy,
        p if p.ends_with(".yaml") || p.ends_with(".yml") => FileKind::Yaml,
        _ => FileKind::Other,
    }
}

/// The preset a path belongs to by the layout (`iam/<preset>/…`, `kubernetes/<preset>/…`).
fn preset_by_path(path: &str) -> Option<String> {
    let mut parts = path.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("iam" | "kubernetes"), Some(preset), Some(_)) => Some(preset.to_string()),
        _ => None,
    }
}

/// One thing a change does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub enum Change {
    /// An allowed IAM action that was not allowed before (on any resource).
    ActionAdded {
        /// The action (as written, e.g. `s3:Get*`).
        action: String,
    },
    /// An allowed IAM action that no longer is.
    ActionRemoved {
        /// The action.
        action: String,
    },
    /// Actions kept, but on other resources.
    Resources {
        /// The actions whose resources changed this way.
        actions: Vec<String>,
        /// Resources they now also get.
        added: Vec<String>,
        /// Resources they no longer get.
        removed: Vec<String>,
    },
    /// Actions kept on the same resources, under other conditions.
    Conditions {
        /// The actions whose conditions changed this way.
        actions: Vec<String>,
        /// Condition blocks now applied (compact JSON; `{}` for none).
        added: Vec<String>,
        /// Condition blocks no longer applied.
        removed: Vec<String>,
    },
    /// A statement compared as a whole (`Deny`, `NotAction`, `NotResource`, other shapes) added.
    StatementAdded {
        /// The statement, compact JSON.
        statement: String,
    },
    /// A statement compared as a whole removed.
    StatementRemoved {
        /// The statement, compact JSON.
        statement: String,
    },
    /// A trust principal added (`Federated:arn:…`, `AWS:…`, `Service:…`, `*`).
    PrincipalAdded {
        /// The principal.
        principal: String,
    },
    /// A trust principal removed.
    PrincipalRemoved {
        /// The principal.
        principal: String,
    },
    /// A `…:sub` condition value added: another identity may assume the role.
    SubjectAdded {
        /// The subject, with its operator when it is not `StringEquals`.
        subject: String,
    },
    /// A `…:sub` condition value removed.
    SubjectRemoved {
        /// The subject.
        subject: String,
    },
    /// Another trust condition added (`Operator key = value`).
    TrustConditionAdded {
        /// The condition.
        condition: String,
    },
    /// Another trust condition removed: a restriction dropped.
    TrustConditionRemoved {
        /// The condition.
        condition: String,
    },
    /// A trust action added (`sts:AssumeRoleWithWebIdentity`, `sts:TagSession`, …).
    TrustActionAdded {
        /// The action.
        action: String,
    },
    /// A trust action removed.
    TrustActionRemoved {
        /// The action.
        action: String,
    },
    /// A YAML key path that is new.
    ValueAdded {
        /// The key path (`metadata.annotations["eks.amazonaws.com/role-arn"]`).
        key: String,
        /// Its value (strings as they are, others as JSON).
        value: String,
    },
    /// A YAML key path that is gone.
    ValueRemoved {
        /// The key path.
        key: String,
        /// Its old value.
        value: String,
    },
    /// A YAML key path with another value.
    ValueChanged {
        /// The key path.
        key: String,
        /// The old value.
        from: String,
        /// The new value.
        to: String,
    },
    /// A file that is new (not compared key by key: everything in it is new).
    FileAdded,
    /// A file that is gone.
    FileRemoved,
    /// Changed, but not compared semantically (README, script, manifest), or only in comments
    /// and layout.
    FileChanged {
        /// `text` (not compared semantically) or `layout` (same documents, other bytes).
        how: String,
    },
    /// One side does not parse or cannot be read: the diff is all there is.
    Unreadable {
        /// Why.
        message: String,
    },
}

/// A change in one file, and whether it may widen access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Path of the file, relative to the cluster's folder.
    pub file: String,
    /// True when the change may grant access that was not granted before.
    pub widens: bool,
    /// What changed.
    #[serde(flatten)]
    pub change: Change,
}

/// Whether a role is new, gone or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleStatus {
    /// No file of the preset was in the folder.
    Created,
    /// No file of the preset is rendered any more.
    Deleted,
    /// Both sides have files of the preset.
    Changed,
}

/// The changes of one preset's role (its policy, trust policy, ServiceAccount, Helm values…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleChanges {
    /// The preset.
    pub preset: String,
    /// The IAM role name, when the render (or the old ServiceAccount annotation) names it.
    pub role: Option<String>,
    /// Created, deleted or changed.
    pub status: RoleStatus,
    /// What changed, by file then in a fixed order.
    pub findings: Vec<Finding>,
}

/// The changes of one cluster's folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterChanges {
    /// The cluster.
    pub cluster: String,
    /// The folder compared.
    pub dir: String,
    /// True when the folder is exactly what would be rendered.
    pub up_to_date: bool,
    /// Findings that may widen access.
    pub widenings: usize,
    /// Per role, sorted by preset; only roles with findings.
    pub roles: Vec<RoleChanges>,
    /// Files of no role (eksctl config, README, script), sorted by path.
    pub cluster_files: Vec<Finding>,
    /// The unified diffs (filled in by the caller; empty when up to date).
    pub diff: String,
}

/// Compares the documents of one cluster. `up_to_date` comes from the byte comparison (which
/// also covers the folder's manifest, not part of `docs`).
pub fn summarize(cluster: &str, dir: &str, docs: &Documents, up_to_date: bool) -> ClusterChanges {
    let paths: BTreeSet<&String> = docs.old.keys().chain(docs.new.keys()).collect();
    let mut by_preset: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    let mut cluster_files = Vec::new();
    for path in paths {
        let owner = docs.owners.get(path).cloned().or_else(|| preset_by_path(path));
        let findings = compare_file(path, docs.old.get(path), docs.new.get(path));
        match owner {
            Some(p) => by_preset.entry(p).or_default().extend(findings),
            None => cluster_files.extend(findings),
        }
    }
    let mut roles = Vec::new();
    for (preset, findings) in by_preset {
        if findings.is_empty() {
            continue;
        }
        let owned = |path: &String| {
            docs.owners
                .get(path)
                .cloned()
                .or_else(|| preset_by_path(path))
                .as_deref()
                == Some(preset.as_str())
        };
        let had = docs.old.keys().any(owned);
        let has = docs.new.keys().any(owned);
        let status = match (had, has) {
            (false, _) => RoleStatus::Created,
            (true, false) => RoleStatus::Deleted,
            (true, true) => RoleStatus::Changed,
        };
        let role = docs
            .roles
            .get(&preset)
            .cloned()
            .or_else(|| old_role_name(docs, &preset));
        roles.push(RoleChanges {
            preset,
            role,
            status,
            findings,
        });
    }
    let widenings = roles
        .iter()
        .flat_map(|r| &r.findings)
        .chain(&cluster_files)
        .filter(|f| f.widens)
        .count();
    ClusterChanges {
        cluster: cluster.to_string(),
        dir: dir.to_string(),
        up_to_date,
        widenings,
        roles,
        cluster_files,
        diff: String::new(),
    }
}

/// The role name in a deleted preset's old ServiceAccount annotation (`…:role/NAME`).
fn old_role_name(docs: &Documents, preset: &str) -> Option<String> {
    let path = crate::bundle::layout::service_account(preset);
    let Some(Side::Text(text)) = docs.old.get(&path) else {
        return None;
    };
    let v: Value = serde_saphyr::from_str(text).ok()?;
    let arn = v
        .pointer("/metadata/annotations/eks.amazonaws.com~1role-arn")?
        .as_str()?;
    arn.rsplit_once(":role/")
        .map(|(_, name)| name.rsplit('/').next().unwrap_or(name).to_string())
}

fn finding(file: &str, widens: bool, change: Change) -> Finding {
    Finding {
        file: file.to_string(),
        widens,
        change,
    }
}

/// The findings of one path; empty when both sides are the same text.
fn compare_file(path: &str, old: Option<&Side>, new: Option<&String>) -> Vec<Finding> {
    let kind = file_kind(path);
    let old = match old {
        Some(Side::Unreadable(message)) => {
            return vec![finding(
                path,
                true,
                Change::Unreadable {
                    message: message.clone(),
                },
            )];
        }
        Some(Side::Text(t)) => Some(t.as_str()),
        None => None,
    };
    let new = new.map(String::as_str);
    if old == new {
        return Vec::new();
    }
    match kind {
        FileKind::Policy | FileKind::Trust => {
            let parse = |text: Option<&str>| -> Result<Option<Value>, String> {
                text.map(serde_json::from_str::<Value>)
                    .transpose()
                    .map_err(|e| format!("not valid JSON: {e}"))
            };
            let (o, n) = match (parse(old), parse(new)) {
                (Ok(o), Ok(n)) => (o, n),
                (Err(message), _) | (_, Err(message)) => {
                    return vec![finding(path, true, Change::Unreadable { message })];
                }
            };
            let empty = Value::Null;
            let (o, n) = (o.as_ref().unwrap_or(&empty), n.as_ref().unwrap_or(&empty));
            let changes = if kind == FileKind::Policy {
                compare_policy(o, n)
            } else {
                compare_trust(o, n)
            };
            let mut out: Vec<Finding> = changes.into_iter().map(|(w, c)| finding(path, w, c)).collect();
            if out.is_empty() {
                out.push(finding(path, false, Change::FileChanged { how: "layout".into() }));
            }
            out
        }
        FileKind::Yaml => match (old, new) {
            (None, Some(_)) => vec![finding(path, false, Change::FileAdded)],
            (Some(_), None) => vec![finding(path, false, Change::FileRemoved)],
            (Some(o), Some(n)) => compare_yaml(path, o, n),
            (None, None) => Vec::new(),
        },
        FileKind::Other => match (old, new) {
            (None, Some(_)) => vec![finding(path, false, Change::FileAdded)],
            (Some(_), None) => vec![finding(path, false, Change::FileRemoved)],
            _ => vec![finding(path, false, Change::FileChanged { how: "text".into() })],
        },
    }
}

// ---- permission policies ----

/// One allowed (action, resource, condition) triple of a policy's plain `Allow` statements.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    action: String,
    resource: String,
    /// Compact JSON of the statement's `Condition`; `{}` without one.
    condition: String,
}

/// A policy split into grants (plain `Allow` statements) and statements compared whole.
#[derive(Default)]
struct Policy {
    grants: BTreeSet<Grant>,
    /// (is a plain Allow-like statement that may grant access, compact JSON)
    whole: BTreeSet<(bool, String)>,
}

fn condition_of(st: &Value) -> String {
    st.get("Condition")
        .map(policy_doc::compact)
        .unwrap_or_else(|| "{}".to_string())
}

fn parse_policy(doc: &Value) -> Policy {
    let mut p = Policy::default();
    for st in policy_doc::statements(doc) {
        let effect = st.get("Effect").and_then(Value::as_str);
        let actions = st.get("Action").and_then(policy_doc::strings);
        let resources = st.get("Resource").and_then(policy_doc::strings);
        let plain = st.get("NotAction").is_none() && st.get("NotResource").is_none() && st.get("Principal").is_none();
        match (effect, actions, resources) {
            (Some("Allow"), Some(actions), Some(resources)) if plain => {
                let condition = condition_of(st);
                for a in &actions {
                    for r in &resources {
                        p.grants.insert(Grant {
                            action: a.to_string(),
                            resource: r.to_string(),
                            condition: condition.clone(),
                        });
                    }
                }
            }
            // Compared whole. Anything but a Deny may grant access (NotAction/NotResource
            // allow "everything but", an odd shape is not understood): treated as widening.
            _ => {
                p.whole.insert((effect != Some("Deny"), policy_doc::compact(st)));
            }
        }
    }
    p
}

/// Whether every string `inner` matches is matched by `outer`, for IAM's wildcards (`*` any
/// run, `?` one character). Conservative: `?` in `outer` does not cover a wildcard in `inner`.
/// No crate answers pattern-contains-pattern (glob crates match a pattern against a string).
fn covers(outer: &str, inner: &str) -> bool {
    let (o, i): (Vec<char>, Vec<char>) = (outer.chars().collect(), inner.chars().collect());
    // reach[k] = outer[..j] can cover inner[..k]
    let mut reach = vec![false; i.len() + 1];
    reach[0] = true;
    for &oc in &o {
        let mut next = vec![false; i.len() + 1];
        for k in 0..=i.len() {
            if oc == '*' {
                // `*` covers any run of inner, wildcards included.
                next[k] = reach[k] || (k > 0 && next[k - 1]);
            } else if k > 0 && reach[k - 1] {
                let ic = i[k - 1];
                next[k] = if oc == '?' {
                    ic != '*'
                } else {
                    ic == oc && ic != '*' && ic != '?'
                };
            }
        }
        reach = next;
    }
    reach[i.len()]
}

/// Whether an old grant allows everything `g` allows: action (case-insensitive, as IAM) and
/// resource covered, and the old grant unconditional or under the same condition.
fn covered(g: &Grant, old: &BTreeSet<Grant>) -> bool {
    let action = g.action.to_ascii_lowercase();
    old.iter().any(|o| {
        covers(&o.action.to_ascii_lowercase(), &action)
            && covers(&o.resource, &g.resource)
            && (o.condition == "{}" || o.condition == g.condition)
    })
}

type Scope = BTreeMap<String, BTreeSet<(String, String)>>;

/// action → {(resource, condition)}
fn scope(p: &Policy) -> Scope {
    let mut s: Scope = BTreeMap::new();
    for g in &p.grants {
        s.entry(g.action.clone())
            .or_default()
            .insert((g.resource.clone(), g.condition.clone()));
    }
    s
}

fn grants_of(action: &str, pairs: &BTreeSet<(String, String)>) -> Vec<Grant> {
    pairs
        .iter()
        .map(|(r, c)| Grant {
            action: action.to_string(),
            resource: r.clone(),
            condition: c.clone(),
        })
        .collect()
}

fn compare_policy(old: &Value, new: &Value) -> Vec<(bool, Change)> {
    let (o, n) = (parse_policy(old), parse_policy(new));
    let (os, ns) = (scope(&o), scope(&n));
    let mut out = Vec::new();
    for (action, pairs) in &ns {
        if !os.contains_key(action) {
            let widens = grants_of(action, pairs).iter().any(|g| !covered(g, &o.grants));
            out.push((widens, Change::ActionAdded { action: action.clone() }));
        }
    }
    for action in os.keys() {
        if !ns.contains_key(action) {
            out.push((false, Change::ActionRemoved { action: action.clone() }));
        }
    }
    // Kept actions: group those whose resources (then conditions) changed the same way.
    type Key = (Vec<String>, Vec<String>);
    let mut resources: BTreeMap<Key, (Vec<String>, bool)> = BTreeMap::new();
    let mut conditions: BTreeMap<Key, (Vec<String>, bool)> = BTreeMap::new();
    for (action, new_pairs) in &ns {
        let Some(old_pairs) = os.get(action) else { continue };
        if old_pairs == new_pairs {
            continue;
        }
        let widens = grants_of(action, new_pairs).iter().any(|g| !covered(g, &o.grants));
        let res = |pairs: &BTreeSet<(String, String)>| pairs.iter().map(|(r, _)| r.clone()).collect::<BTreeSet<_>>();
        let (or, nr) = (res(old_pairs), res(new_pairs));
        let (key, groups) = if or != nr {
            let key: Key = (
                nr.difference(&or).cloned().collect(),
                or.difference(&nr).cloned().collect(),
            );
            (key, &mut resources)
        } else {
            let cond =
                |pairs: &BTreeSet<(String, String)>| pairs.iter().map(|(_, c)| c.clone()).collect::<BTreeSet<_>>();
            let (oc, nc) = (cond(old_pairs), cond(new_pairs));
            let key: Key = (
                nc.difference(&oc).cloned().collect(),
                oc.difference(&nc).cloned().collect(),
            );
            (key, &mut conditions)
        };
        let entry = groups.entry(key).or_insert_with(|| (Vec::new(), false));
        entry.0.push(action.clone());
        entry.1 |= widens;
    }
    for ((added, removed), (actions, widens)) in resources {
        out.push((
            widens,
            Change::Resources {
                actions,
                added,
                removed,
            },
        ));
    }
    for ((added, removed), (actions, widens)) in conditions {
        out.push((
            widens,
            Change::Conditions {
                actions,
                added,
                removed,
            },
        ));
    }
    for (may_grant, st) in n.whole.difference(&o.whole) {
        out.push((*may_grant, Change::StatementAdded { statement: st.clone() }));
    }
    // Dropping a Deny lifts a restriction on whatever is still allowed.
    let allows = !n.grants.is_empty() || n.whole.iter().any(|(may_grant, _)| *may_grant);
    for (may_grant, st) in o.whole.difference(&n.whole) {
        out.push((
            !*may_grant && allows,
            Change::StatementRemoved { statement: st.clone() },
        ));
    }
    out
}

// ---- trust policies ----

#[derive(Default)]
struct Trust {
    principals: BTreeSet<String>,
    actions: BTreeSet<String>,
    subjects: BTreeSet<String>,
    conditions: BTreeSet<String>,
    /// Statements that are not a plain Allow, compared whole: (may grant, compact JSON).
    whole: BTreeSet<(bool, String)>,
}

fn principals(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => {
            out.insert(s.clone());
        }
        Value::Object(m) => {
            for (kind, ids) in m {
                match policy_doc::strings(ids) {
                    Some(ids) => out.extend(ids.iter().map(|id| format!("{kind}:{id}"))),
                    None => {
                        out.insert(format!("{kind}:{}", policy_doc::compact(ids)));
                    }
                }
            }
        }
        other => {
            out.insert(policy_doc::compact(other));
        }
    }
}

fn parse_trust(doc: &Value) -> Trust {
    let mut t = Trust::default();
    for st in policy_doc::statements(doc) {
        let effect = st.get("Effect").and_then(Value::as_str);
        let actions = st.get("Action").and_then(policy_doc::strings);
        let plain = st.get("NotAction").is_none() && st.get("NotPrincipal").is_none();
        let (Some("Allow"), Some(actions), Some(principal), true) = (effect, actions, st.get("Principal"), plain)
        else {
            t.whole.insert((effect != Some("Deny"), policy_doc::compact(st)));
            continue;
        };
        principals(principal, &mut t.principals);
        t.actions.extend(actions.iter().map(|a| a.to_string()));
        let Some(Value::Object(ops)) = st.get("Condition") else {
            continue;
        };
        for (op, keys) in ops {
            let Value::Object(keys) = keys else {
                t.conditions.insert(format!("{op} {}", policy_doc::compact(keys)));
                continue;
            };
            for (key, values) in keys {
                let values: Vec<String> = match policy_doc::strings(values) {
                    Some(v) => v.into_iter().map(str::to_string).collect(),
                    None => vec![policy_doc::compact(values)],
                };
                for v in values {
                    if key.ends_with(":sub") {
                        t.subjects
                            .insert(if op == "StringEquals" { v } else { format!("{v} ({op})") });
                    } else {
                        t.conditions.insert(format!("{op} {key} = {v}"));
                    }
                }
            }
        }
    }
    t
}

fn compare_trust(old: &Value, new: &Value) -> Vec<(bool, Change)> {
    let (o, n) = (parse_trust(old), parse_trust(new));
    let mut out = Vec::new();
    for p in n.principals.difference(&o.principals) {
        out.push((true, Change::PrincipalAdded { principal: p.clone() }));
    }
    for p in o.principals.difference(&n.principals) {
        out.push((false, Change::PrincipalRemoved { principal: p.clone() }));
    }
    for s in n.subjects.difference(&o.subjects) {
        out.push((true, Change::SubjectAdded { subject: s.clone() }));
    }
    for s in o.subjects.difference(&n.subjects) {
        out.push((false, Change::SubjectRemoved { subject: s.clone() }));
    }
    for a in n.actions.difference(&o.actions) {
        out.push((true, Change::TrustActionAdded { action: a.clone() }));
    }
    for a in o.actions.difference(&n.actions) {
        out.push((false, Change::TrustActionRemoved { action: a.clone() }));
    }
    for c in n.conditions.difference(&o.conditions) {
        out.push((false, Change::TrustConditionAdded { condition: c.clone() }));
    }
    // A dropped restriction widens only what is still allowed: none when the trust is gone.
    let allows = !n.principals.is_empty() || n.whole.iter().any(|(may_grant, _)| *may_grant);
    for c in o.conditions.difference(&n.conditions) {
        out.push((allows, Change::TrustConditionRemoved { condition: c.clone() }));
    }
    for (may_grant, st) in n.whole.difference(&o.whole) {
        out.push((*may_grant, Change::StatementAdded { statement: st.clone() }));
    }
    for (may_grant, st) in o.whole.difference(&n.whole) {
        out.push((
            !*may_grant && allows,
            Change::StatementRemoved { statement: st.clone() },
        ));
    }
    out
}

// ---- YAML documents ----

/// A key of a path: plain keys joined with dots, others quoted as JSON strings in brackets.
fn key_segment(prefix: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match (plain, prefix.is_empty()) {
        (true, true) => key.to_string(),
        (true, false) => format!("{prefix}.{key}"),
        (false, _) => format!("{prefix}[{}]", Value::String(key.to_string())),
    }
}

/// Every leaf of a document by key path (empty maps and lists are leaves too).
fn flatten(prefix: String, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                flatten(key_segment(&prefix, k), v, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, v) in a.iter().enumerate() {
                flatten(format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix, s.clone());
        }
        other => {
            out.insert(prefix, other.to_string());
        }
    }
}

fn yaml_leaves(text: &str) -> Result<BTreeMap<String, String>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| format!("not valid YAML: {e}"))?;
    let mut out = BTreeMap::new();
    let many = docs.len() > 1;
    for (i, d) in docs.iter().enumerate() {
        let prefix = if many { format!("[document {i}]") } else { String::new() };
        flatten(prefix, d, &mut out);
    }
    Ok(out)
}

fn compare_yaml(path: &str, old: &str, new: &str) -> Vec<Finding> {
    let (o, n) = match (yaml_leaves(old), yaml_leaves(new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(message), _) | (_, Err(message)) => {
            return vec![finding(path, true, Change::Unreadable { message })];
        }
    };
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    for key in keys {
        let change = match (o.get(key), n.get(key)) {
            (None, Some(v)) => Change::ValueAdded {
                key: key.clone(),
                value: v.clone(),
            },
            (Some(v), None) => Change::ValueRemoved {
                key: key.clone(),
                value: v.clone(),
            },
            (Some(a), Some(b)) if a != b => Change::ValueChanged {
                key: key.clone(),
                from: a.clone(),
                to: b.clone(),
            },
            _ => continue,
        };
        out.push(finding(path, false, change));
    }
    if out.is_empty() {
        out.push(finding(path, false, Change::FileChanged { how: "layout".into() }));
    }
    out
}

// ---- Markdown ----

/// `s` as a Markdown code span that no content can break: control characters escaped, a
/// fence longer than any run of backticks inside, cut after 200 characters.
fn code(s: &str) -> String {
    let s = crate::error::quote(s);
    let longest = s.split(|c: char| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') || s.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

fn codes(items: &[String]) -> String {
    items.iter().map(|s| code(s)).collect::<Vec<_>>().join(", ")
}

fn line(f: &Finding) -> String {
    let text = match &f.change {
        Change::ActionAdded { action } => format!("IAM action added: {}", code(action)),
        Change::ActionRemoved { action } => format!("IAM action removed: {}", code(action)),
        Change::Resources {
            actions,
            added,
            removed,
        } => {
            let how = if f.widens {
                "widened"
            } else if added.is_empty() || !removed.is_empty() {
                "narrowed"
            } else {
                "changed"
            };
            let mut s = format!("resources {how} for {}", codes(actions));
            if !removed.is_empty() {
                s.push_str(&format!("; removed {}", codes(removed)));
            }
            if !added.is_empty() {
                s.push_str(&format!("; added {}", codes(added)));
            }
            s
        }
        Change::Conditions {
            actions,
            added,
            removed,
        } => {
            format!(
                "conditions changed for {}; removed {}; added {}",
                codes(actions),
                codes(removed),
                codes(added)
            )
        }
        Change::StatementAdded { statement } => format!("statement added: {}", code(statement)),
        Change::StatementRemoved { statement } => format!("statement removed: {}", code(statement)),
        Change::PrincipalAdded { principal } => format!("trust principal added: {}", code(principal)),
        Change::PrincipalRemoved { principal } => format!("trust principal removed: {}", code(principal)),
        Change::SubjectAdded { subject } => format!("trust subject added: {}", code(subject)),
        Change::SubjectRemoved { subject } => format!("trust subject removed: {}", code(subject)),
        Change::TrustConditionAdded { condition } => format!("trust condition added: {}", code(condition)),
        Change::TrustConditionRemoved { condition } => format!("trust condition removed: {}", code(condition)),
        Change::TrustActionAdded { action } => format!("trust action added: {}", code(action)),
        Change::TrustActionRemoved { action } => format!("trust action removed: {}", code(action)),
        Change::ValueAdded { key, value } => format!("{} added: {}", code(key), code(value)),
        Change::ValueRemoved { key, value } => format!("{} removed (was {})", code(key), code(value)),
        Change::ValueChanged { key, from, to } => format!("{}: {} → {}", code(key), code(from), code(to)),
        Change::FileAdded => "new file".to_string(),
        Change::FileRemoved => "file removed".to_string(),
        Change::FileChanged { how } if how == "layout" => "changed in comments or layout only".to_string(),
        Change::FileChanged { .. } => "changed (see the diff)".to_string(),
        Change::Unreadable { message } => format!("cannot be compared ({}); read the diff", code(message)),
    };
    if f.widens {
        format!("- **widens access**: {text}\n")
    } else {
        format!("- {text}\n")
    }
}

fn findings_md(findings: &[Finding], out: &mut String) {
    let mut file = None;
    for f in findings {
        if file != Some(&f.file) {
            out.push_str(&format!("\n{}\n\n", code(&f.file)));
            file = Some(&f.file);
        }
        out.push_str(&line(f));
    }
}

/// The summary as Markdown for a pull-request comment, each cluster's diffs folded below it.
pub fn to_markdown(clusters: &[ClusterChanges]) -> String {
    let widenings: usize = clusters.iter().map(|c| c.widenings).sum();
    let mut out = String::from("## irsagen: what this change does\n\n");
    if clusters.iter().all(|c| c.up_to_date) {
        out.push_str("No changes: every rendered folder is up to date.\n");
    } else if widenings == 0 {
        out.push_str("No change widens access.\n");
    } else {
        out.push_str(&format!(
            "**{widenings} change(s) may widen access** (marked **widens access** below).\n"
        ));
    }
    for c in clusters {
        out.push_str(&format!("\n### Cluster {} ({})\n", code(&c.cluster), code(&c.dir)));
        if c.up_to_date {
            out.push_str("\nUp to date.\n");
            continue;
        }
        for r in &c.roles {
            let status = match r.status {
                RoleStatus::Created => "created",
                RoleStatus::Deleted => "deleted",
                RoleStatus::Changed => "changed",
            };
            let role = r
                .role
                .as_deref()
                .map(code)
                .unwrap_or_else(|| "(name not known)".to_string());
            out.push_str(&format!("\n#### Role {role} (preset {}): {status}\n", code(&r.preset)));
            findings_md(&r.findings, &mut out);
        }
        if !c.cluster_files.is_empty() {
            out.push_str("\n#### Other files\n");
            findings_md(&c.cluster_files, &mut out);
        }
        if c.roles.is_empty() && c.cluster_files.is_empty() {
            out.push_str("\nOnly the folder's manifest (`.irsagen-manifest.json`) differs.\n");
        }
        if !c.diff.is_empty() {
            let longest = c.diff.split(|ch: char| ch != '`').map(str::len).max().unwrap_or(0);
            let fence = "`".repeat(longest.max(2) + 1);
            out.push_str(&format!(
                "\n<details><summary>Unified diffs</summary>\n\n{fence}diff\n{}{}{fence}\n\n</details>\n",
                c.diff,
                if c.diff.ends_with('\n') { "" } else { "\n" }
            ));
        }
    }
    out
}

/// The summary as one JSON document: `{"upToDate", "widenings", "clusters": [...]}`.
pub fn to_json(clusters: &[ClusterChanges]) -> String {
    let v = serde_json::json!({
        "upToDate": clusters.iter().all(|c| c.up_to_date),
        "widenings": clusters.iter().map(|c| c.widenings).sum::<usize>(),
        "clusters": clusters,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_follows_iam_wildcards_conservatively() {
        assert!(covers("*", "arn:aws:s3:::b/*"));
        assert!(covers("arn:aws:s3:::b/*", "arn:aws:s3:::b/x/*"));
        assert!(!covers("arn:aws:s3:::b/x/*", "arn:aws:s3:::b/*"));
        assert!(covers("s3:get*", "s3:getobject"));
        assert!(!covers("s3:getobject", "s3:get*"));
        assert!(covers("a?c", "abc"));
        assert!(!covers("a?c", "a*c"), "`?` cannot stand for a run");
        assert!(!covers("abc", "ab"));
        assert!(covers("", ""));
    }

    #[test]
    fn a_statement_object_and_string_fields_read_like_lists() {
        let one: Value =
            serde_json::from_str(r#"{"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}"#)
                .unwrap();
        let list: Value = serde_json::from_str(
            r#"{"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}]}"#,
        )
        .unwrap();
        assert!(compare_policy(&one, &list).is_empty());
    }

    #[test]
    fn not_action_and_a_dropped_deny_widen() {
        let base: Value =
            serde_json::from_str(r#"{"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}"#).unwrap();
        let not_action: Value =
            serde_json::from_str(r#"{"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}"#)
                .unwrap();
        let found = compare_policy(&base, &not_action);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|(w, _)| *w), "{found:?}");
    }

    #[test]
    fn keys_with_dots_are_quoted() {
        assert_eq!(key_segment("a", "b"), "a.b");
        assert_eq!(key_segment("a", "x.io/y"), "a[\"x.io/y\"]");
        assert_eq!(key_segment("", "k"), "k");
    }

    #[test]
    fn code_spans_survive_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`"), "`` ` ``");
    }
}
