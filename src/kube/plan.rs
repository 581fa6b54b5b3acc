//! Computing the plan: read the cluster, dry-run the server-side apply of every object and keep
//! the ones whose result differs from what is there. Changes nothing.

use super::client::{FIELD_MANAGER, Kube};
use super::errors::{self, Op};
use super::objects::{self, Desired};
use super::{Action, ApplyFlags, Change, KubeOptions, Plan};
use crate::bundle::{ArtifactKind, Bundle};
use crate::error::{Error, Result};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use std::collections::BTreeSet;

/// See [`super::plan`].
pub async fn plan(opts: &KubeOptions, bundle: &Bundle, flags: ApplyFlags) -> Result<Plan> {
    let k = Kube::connect(opts).await?;
    let parse = |kind| {
        bundle
            .of_kind(kind)
            .map(Desired::from_artifact)
            .collect::<Result<Vec<_>>>()
    };
    let service_accounts = parse(ArtifactKind::ServiceAccount)?;
    let patches = parse(ArtifactKind::ControllerPatch)?;
    let pods = if flags.test_pods {
        parse(ArtifactKind::TestPod)?
    } else {
        Vec::new()
    };

    let mut plan = Plan::default();

    // Namespaces the ServiceAccounts and pods go into must exist (or be created first).
    let needed: BTreeSet<&str> = service_accounts.iter().chain(&pods).filter_map(Desired::ns).collect();
    let mut new_namespaces = BTreeSet::new();
    let mut missing = Vec::new();
    for ns in needed {
        let live = get(&k, &Desired::namespace(ns), None).await?;
        if live.is_none() {
            if flags.create_namespace {
                let d = Desired::namespace(ns);
                plan.changes.push(Change::new(
                    Action::Create,
                    d.clone(),
                    false,
                    None,
                    objects::added(&d.json()),
                    false,
                ));
                new_namespaces.insert(ns.to_string());
            } else {
                let users: Vec<String> = service_accounts
                    .iter()
                    .chain(&pods)
                    .filter(|d| d.ns() == Some(ns))
                    .map(Desired::label)
                    .collect();
                missing.push(format!("`{ns}` (needed by {})", users.join(", ")));
            }
        }
    }
    if !missing.is_empty() {
        return Err(Error::Kube(format!(
            "namespace {} does not exist on {} (context `{}`); create it, or pass --create-namespace",
            missing.join(", "),
            k.server,
            k.context
        )));
    }
    let in_new = |d: &Desired| d.ns().is_some_and(|ns| new_namespaces.contains(ns));

    let rendered_sas: BTreeSet<String> = service_accounts.iter().map(Desired::label).collect();
    for d in service_accounts {
        let fresh = in_new(&d);
        let live = if fresh { None } else { get(&k, &d, d.ns()).await? };
        let mut force = false;
        let mut note = None;
        if let Some(live) = &live {
            let current = live
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(objects::ROLE_ARN));
            let wanted = d.role_arn().unwrap_or_default();
            if let Some(current) = current.filter(|c| c.as_str() != wanted) {
                if !flags.force {
                    return Err(Error::Kube(format!(
                        "ServiceAccount {}/{} already has {}={current}, not {wanted}; refusing to change it. \
                         Check that nothing else uses it (kubectl describe sa {} -n {}), then rerun with --force to replace the annotation \
                         (eksctl's --override-existing-serviceaccounts)",
                        d.ns().unwrap_or_default(),
                        d.name(),
                        objects::ROLE_ARN,
                        d.name(),
                        d.ns().unwrap_or_default(),
                    )));
                }
                force = true;
                note = Some(format!("--force: replaces {}={current}", objects::ROLE_ARN));
            }
        }
        plan.push(&k, d, live, fresh, force, note).await?;
    }

    for d in patches {
        let live = if in_new(&d) { None } else { get(&k, &d, d.ns()).await? };
        match live {
            None => plan.skipped.push(format!(
                "skipped: {} {}/{} does not exist (install the driver first)",
                d.kind(),
                d.ns().unwrap_or_default(),
                d.name()
            )),
            Some(live) => {
                // The patch sets only serviceAccountName; a different value owned by another
                // manager (kubectl, Helm) conflicts, and only --force takes it over.
                let force = flags.force;
                plan.push(&k, d, Some(live), false, force, None).await?;
            }
        }
    }

    let created_sas: BTreeSet<String> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Create && c.object.kind() == "ServiceAccount")
        .map(|c| c.object.label())
        .collect();
    for d in pods {
        let fresh = in_new(&d);
        let live = if fresh { None } else { get(&k, &d, d.ns()).await? };
        // The ServiceAccount admission plugin rejects a pod whose ServiceAccount does not exist
        // yet, so a pod whose ServiceAccount this plan creates cannot be dry-run now.
        let sa = d
            .obj
            .data
            .pointer("/spec/serviceAccountName")
            .and_then(|v| v.as_str())
            .unwrap_or("default");
        let ns = d.ns().unwrap_or_default().to_string();
        let sa_label = format!("ServiceAccount {ns}/{sa}");
        let after_sa = created_sas.contains(&sa_label);
        if !fresh && !rendered_sas.contains(&sa_label) {
            // Not rendered by irsagen (a chart creates it): it must already be there.
            let sa_obj = Desired::service_account(&ns, sa);
            if get(&k, &sa_obj, Some(&ns)).await?.is_none() {
                plan.skipped.push(format!(
                    "skipped: {}: its {sa_label} does not exist (install the chart first)",
                    d.label()
                ));
                continue;
            }
        }
        plan.push(&k, d, live, fresh || after_sa, false, None).await?;
    }

    plan.requests = k.requests();
    Ok(plan)
}

impl Plan {
    /// Dry-runs the apply of `d` (unless `no_dry_run`) and records a change if it would change
    /// anything.
    async fn push(
        &mut self,
        k: &Kube,
        d: Desired,
        live: Option<DynamicObject>,
        no_dry_run: bool,
        force: bool,
        note: Option<String>,
    ) -> Result<()> {
        match live {
            None => {
                if !no_dry_run {
                    // Validates the create on the server (admission, schema) without doing it.
                    apply(k, &d, force, true).await?;
                }
                let diff = objects::added(&d.json());
                self.changes
                    .push(Change::new(Action::Create, d, force, note, diff, no_dry_run));
            }
            Some(live) => {
                let after = apply(k, &d, force, true).await?;
                let (before, after) = (objects::comparable(&live), objects::comparable(&after));
                if before == after {
                    self.unchanged.push(d.label());
                } else {
                    let diff = objects::diff(&before, &after, &format!("live {}", d.label()), "after apply");
                    self.changes
                        .push(Change::new(Action::Update, d, force, note, diff, false));
                }
            }
        }
        Ok(())
    }
}

/// GET of `d`'s object; `None` when it does not exist.
pub async fn get(k: &Kube, d: &Desired, ns: Option<&str>) -> Result<Option<DynamicObject>> {
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(k.client.clone(), ns, &d.ar),
        None => Api::all_with(k.client.clone(), &d.ar),
    };
    let resource = d.rbac_resource();
    api.get_opt(d.name()).await.map_err(|e| {
        errors::map(
            k,
            Op {
                verb: "get",
                resource: &resource,
                namespace: ns,
            },
            e,
        )
    })
}

/// Server-side apply of `d` with field manager `irsagen`.
pub async fn apply(k: &Kube, d: &Desired, force: bool, dry_run: bool) -> Result<DynamicObject> {
    let api: Api<DynamicObject> = match d.ns() {
        Some(ns) => Api::namespaced_with(k.client.clone(), ns, &d.ar),
        None => Api::all_with(k.client.clone(), &d.ar),
    };
    let mut pp = PatchParams::apply(FIELD_MANAGER);
    if force {
        pp = pp.force();
    }
    if dry_run {
        pp = pp.dry_run();
    }
    let resource = d.rbac_resource();
    api.patch(d.name(), &pp, &Patch::Apply(&d.obj)).await.map_err(|e| {
        if errors::status_code(&e) == Some(409) {
            let message = match &e {
                kube::Error::Api(s) => s.message.clone(),
                _ => e.to_string(),
            };
            return Error::Kube(format!(
                "conflict applying {}: {message}; another field manager owns a field irsagen sets with a different value. \
                 Inspect it (kubectl get {} {} -n {} --show-managed-fields -o yaml), then rerun with --force to take the field over",
                d.label(),
                d.ar.plural,
                d.name(),
                d.ns().unwrap_or("default"),
            ));
        }
        if errors::status_code(&e) == Some(422) && d.kind() == "Pod" {
            let message = match &e {
                kube::Error::Api(s) => s.message.clone(),
                _ => e.to_string(),
            };
            return Error::Kube(format!(
                "cannot update {}: {message}; a pod's spec cannot change, delete it first (kubectl delete pod {} -n {})",
                d.label(),
                d.name(),
                d.ns().unwrap_or("default")
            ));
        }
        errors::map(k, Op { verb: "patch", resource: &resource, namespace: d.ns() }, e)
    })
}
