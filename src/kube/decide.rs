//! The plan's decisions, as pure functions of "what the bundle wants" ([`Wanted`]) and "what the
//! API server returned" ([`Observed`]): which namespaces to create or demand, which objects to
//! create, compare, force or skip, and when to refuse. No I/O here, so the offline suite
//! (tests/offline/kube_plan.rs) can break each decision and see `cargo test` fail; `plan.rs`
//! only reads the cluster, calls [`decide`] and dry-runs the result on the server.

use super::ApplyFlags;
use super::objects::{self, Desired};
use crate::bundle::{ArtifactKind, Bundle};
use crate::error::{Error, Result};
use crate::identity::Mechanism;
use kube::api::DynamicObject;
use std::collections::{BTreeMap, BTreeSet};

/// The objects the bundle asks `apply --kube` for, parsed from its manifests.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    /// ServiceAccounts irsagen renders (not the ones a chart creates).
    pub service_accounts: Vec<Desired>,
    /// Deployment patches (efs-csi-controller's `serviceAccountName`).
    pub patches: Vec<Desired>,
    /// Test pods (only with `--test-pods`).
    pub pods: Vec<Desired>,
}

impl Wanted {
    /// The bundle's ServiceAccounts and patches, and its test pods when `flags.test_pods`.
    pub fn from_bundle(bundle: &Bundle, flags: ApplyFlags) -> Result<Wanted> {
        let parse = |kind| {
            bundle
                .of_kind(kind)
                .map(Desired::from_artifact)
                .collect::<Result<Vec<_>>>()
        };
        let mut service_accounts = parse(ArtifactKind::ServiceAccount)?;
        for d in &mut service_accounts {
            let pod_identity_only = bundle
                .components
                .iter()
                .find(|c| Some(&c.preset) == d.preset.as_ref())
                .is_some_and(|c| !c.identity_mode.uses(Mechanism::Irsa));
            // Without IRSA the ServiceAccount must not carry the annotation (it would take
            // precedence). The rendered manifest has none in that mode; dropping it here keeps
            // apply right whatever the template prints.
            if pod_identity_only {
                if let Some(a) = d.obj.metadata.annotations.as_mut() {
                    a.remove(objects::ROLE_ARN);
                }
                if d.obj.metadata.annotations.as_ref().is_some_and(|a| a.is_empty()) {
                    d.obj.metadata.annotations = None;
                }
            }
        }
        Ok(Wanted {
            service_accounts,
            patches: parse(ArtifactKind::ControllerPatch)?,
            pods: if flags.test_pods {
                parse(ArtifactKind::TestPod)?
            } else {
                Vec::new()
            },
        })
    }

    /// Every namespace the plan needs to know about (its objects' namespaces).
    pub fn namespaces(&self) -> BTreeSet<String> {
        self.all().filter_map(Desired::ns).map(str::to_string).collect()
    }

    /// Every object whose live state the plan reads: the wanted objects themselves, and the
    /// ServiceAccount of each test pod that the bundle does not render (a chart creates it).
    pub fn reads(&self) -> Vec<Desired> {
        let mut out: Vec<Desired> = self.all().cloned().collect();
        for pod in &self.pods {
            // Rendered ServiceAccounts are read already (they are in `out`); read the others once.
            let sa = pod_service_account(pod);
            if !out.iter().any(|d| d.label() == sa.label()) {
                out.push(sa);
            }
        }
        out
    }

    fn all(&self) -> impl Iterator<Item = &Desired> {
        self.service_accounts.iter().chain(&self.patches).chain(&self.pods)
    }

    fn rendered_service_accounts(&self) -> BTreeSet<String> {
        self.service_accounts.iter().map(Desired::label).collect()
    }
}

/// What the API server returned for the reads of [`Wanted::namespaces`] and [`Wanted::reads`].
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Namespaces that exist.
    pub namespaces: BTreeSet<String>,
    /// Live objects by [`Desired::label`]; an object missing here does not exist (or was not
    /// read because its namespace does not exist).
    pub objects: BTreeMap<String, DynamicObject>,
}

impl Observed {
    /// The live object for `d`, if it exists.
    pub fn live(&self, d: &Desired) -> Option<&DynamicObject> {
        self.objects.get(&d.label())
    }
}

/// One object the plan applies (after a server-side dry run decides create/update/unchanged).
#[derive(Debug, Clone)]
pub struct Step {
    /// The object as applied.
    pub object: Desired,
    /// What is there now (`None`: it will be created).
    pub live: Option<DynamicObject>,
    /// Apply with `force` (`--force` taking over a field another manager owns).
    pub force: bool,
    /// Why it is forced.
    pub note: Option<String>,
    /// Cannot be dry-run on the server now: it needs a namespace or ServiceAccount this plan
    /// creates first.
    pub deferred: bool,
}

/// The plan before the server's dry run.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// Namespaces to create first (`--create-namespace`).
    pub namespaces: Vec<String>,
    /// Objects to apply, in apply order: ServiceAccounts, Deployment patches, test pods.
    pub steps: Vec<Step>,
    /// One line per object not applied, with the reason.
    pub skipped: Vec<String>,
}

/// The test pod's ServiceAccount, as a bare reference.
fn pod_service_account(pod: &Desired) -> Desired {
    let sa = pod
        .obj
        .data
        .pointer("/spec/serviceAccountName")
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    Desired::service_account(pod.ns().unwrap_or("default"), sa)
}

/// Decides the plan. Errors (exit 3) when a namespace is missing without `--create-namespace`,
/// or a ServiceAccount carries another role-arn without `--force`; nothing has been changed then.
pub fn decide(wanted: &Wanted, observed: &Observed, flags: ApplyFlags) -> Result<Decision> {
    let mut out = Decision::default();
    let rendered = wanted.rendered_service_accounts();

    // Test pods first: one whose ServiceAccount a chart creates and is not there yet cannot be
    // created (the ServiceAccount admission plugin rejects it), so it is skipped before it can
    // make the plan create its namespace or fail halfway.
    let mut pods = Vec::new();
    for pod in &wanted.pods {
        let sa = pod_service_account(pod);
        if !rendered.contains(&sa.label()) && observed.live(&sa).is_none() {
            out.skipped.push(format!(
                "skipped {}: its {} does not exist yet and irsagen does not create it (the chart does); \
                 install the chart, then rerun with --test-pods",
                pod.label(),
                sa.label()
            ));
        } else {
            pods.push(pod);
        }
    }

    // Namespaces the ServiceAccounts and the kept pods go into must exist, or be created first.
    let needed: BTreeSet<&str> = wanted
        .service_accounts
        .iter()
        .chain(pods.iter().copied())
        .filter_map(Desired::ns)
        .collect();
    let mut missing = Vec::new();
    for ns in needed.into_iter().filter(|ns| !observed.namespaces.contains(*ns)) {
        if flags.create_namespace {
            out.namespaces.push(ns.to_string());
        } else {
            let users: Vec<String> = wanted
                .service_accounts
                .iter()
                .chain(pods.iter().copied())
                .filter(|d| d.ns() == Some(ns))
                .map(Desired::label)
                .collect();
            missing.push(format!("`{ns}` (needed by {})", users.join(", ")));
        }
    }
    if !missing.is_empty() {
        return Err(Error::Kube(format!(
            "namespace {} does not exist; create it, or pass --create-namespace",
            missing.join(", ")
        )));
    }
    let in_new = |d: &Desired| d.ns().is_some_and(|ns| out.namespaces.iter().any(|n| n == ns));

    let mut created_sas = BTreeSet::new();
    let mut steps = Vec::new();
    for d in &wanted.service_accounts {
        let live = observed.live(d).cloned();
        let (force, note) = match live.as_ref().and_then(role_arn) {
            // Pod Identity alone: server-side apply drops the annotation when irsagen set it
            // (the field is irsagen's and no longer sent); one set by someone else stays, and
            // verify fails on it, since irsagen changes only what it manages.
            Some(current) if d.role_arn().is_none() => {
                let live = live.as_ref().expect("annotation read from the live object");
                if annotation_is_ours(live) {
                    (
                        false,
                        Some(format!("removes {}={current}: Pod Identity only", objects::ROLE_ARN)),
                    )
                } else {
                    out.skipped.push(format!(
                        "{} keeps {}={current}: set by another manager, irsagen does not remove it; it takes precedence \
                         over Pod Identity: remove it (kubectl annotate sa {} -n {} {}-) and restart the pods",
                        d.label(),
                        objects::ROLE_ARN,
                        d.name(),
                        d.ns().unwrap_or_default(),
                        objects::ROLE_ARN
                    ));
                    (false, None)
                }
            }
            Some(current) if Some(current.as_str()) != d.role_arn() => {
                if !flags.force {
                    return Err(foreign_role_arn(d, &current));
                }
                (true, Some(format!("--force: replaces {}={current}", objects::ROLE_ARN)))
            }
            _ => (false, None),
        };
        if live.is_none() {
            created_sas.insert(d.label());
        }
        steps.push(Step {
            object: d.clone(),
            deferred: live.is_none() && in_new(d),
            live,
            force,
            note,
        });
    }

    for d in &wanted.patches {
        match observed.live(d) {
            None => out.skipped.push(format!(
                "skipped {}: it does not exist (install the driver first; rerun apply after)",
                d.label()
            )),
            // The patch sets only serviceAccountName; a different value owned by another
            // manager (kubectl, Helm) conflicts on the server, and only --force takes it over.
            Some(live) => steps.push(Step {
                object: d.clone(),
                live: Some(live.clone()),
                force: flags.force,
                note: None,
                deferred: false,
            }),
        }
    }

    for d in pods {
        let live = observed.live(d).cloned();
        // The ServiceAccount admission plugin rejects a pod whose ServiceAccount does not exist
        // yet, so a pod whose namespace or ServiceAccount this plan creates cannot be dry-run now.
        let after_sa = created_sas.contains(&pod_service_account(d).label());
        steps.push(Step {
            object: d.clone(),
            deferred: live.is_none() && (in_new(d) || after_sa),
            live,
            force: false,
            note: None,
        });
    }
    out.steps = steps;
    Ok(out)
}

/// Whether irsagen's field manager owns the role-arn annotation of a live object (so a server-side
/// apply without it removes it).
pub fn annotation_is_ours(live: &DynamicObject) -> bool {
    let key = format!("f:{}", objects::ROLE_ARN);
    live.metadata.managed_fields.iter().flatten().any(|m| {
        m.manager.as_deref() == Some(super::client::FIELD_MANAGER)
            && m.fields_v1
                .as_ref()
                .and_then(|f| f.0.pointer("/f:metadata/f:annotations"))
                .and_then(|a| a.as_object())
                .is_some_and(|a| a.contains_key(&key))
    })
}

/// The role-arn annotation of a live object.
fn role_arn(live: &DynamicObject) -> Option<String> {
    live.metadata.annotations.as_ref()?.get(objects::ROLE_ARN).cloned()
}

fn foreign_role_arn(d: &Desired, current: &str) -> Error {
    let ns = d.ns().unwrap_or_default();
    Error::Kube(format!(
        "ServiceAccount {ns}/{} already has {}={current}, not {}; refusing to change it. \
         Check that nothing else uses it (kubectl describe sa {} -n {ns}), then rerun with --force to replace the annotation \
         (eksctl's --override-existing-serviceaccounts)",
        d.name(),
        objects::ROLE_ARN,
        d.role_arn().unwrap_or_default(),
        d.name(),
    ))
}

/// What the server's dry run of an existing object says: `None` when applying changes nothing,
/// else the diff of the live object against the dry-run result.
pub fn compare(d: &Desired, live: &DynamicObject, after: &DynamicObject) -> Option<String> {
    let (before, after) = (objects::comparable(live), objects::comparable(after));
    (before != after).then(|| objects::diff(&before, &after, &format!("live {}", d.label()), "after apply"))
}
