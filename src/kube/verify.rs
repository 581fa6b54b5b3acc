//! The guide's cluster checks ("Verify Service Account", "Verify IRSA Configuration", "Test IAM
//! Role Assumption", "Role Not Assumed"), one [`Check`] each, scope `kube`.
//!
//! Annotated ServiceAccounts that no preset expects are reported only when their ARN looks like
//! one of this cluster's irsagen roles (`arn:…:iam::<account>:role/irsa-<cluster>-…`) or is one of
//! the bundle's role ARNs, and no unselected preset owns that role ([`super::subset`]); other
//! annotated ServiceAccounts belong to someone else and are skipped (the report has no
//! informational level, and a PASS would claim something was checked).
//!
//! An API call that fails for environmental reasons (unreachable, timed out, credentials, RBAC)
//! ends verify with an error (exit 3), also inside `--exec-test`: that is not drift (exit 1).

use super::client::FIELD_MANAGER;
use super::client::Kube;
use super::credentials::{self, PodCredentials, SaPod};
use super::errors::{self, Op};
use super::objects::{Desired, ROLE_ARN};
use super::subset;
use super::{KubeOptions, VerifyFlags};
use crate::bundle::{Bundle, layout};
use crate::component::{Component, ServiceAccountRef};
use crate::error::Result;
use crate::identity::{IdentityMode, Mechanism};
use crate::overrides::SaCreator;
use crate::report::Check;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, AttachParams, DeleteParams, ListParams, Patch, PatchParams};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const SCOPE: &str = "kube";

/// See [`super::verify`].
pub async fn verify(opts: &KubeOptions, bundle: &Bundle, flags: &VerifyFlags) -> Result<Vec<Check>> {
    let k = Kube::connect(opts, Some(&bundle.context)).await?;
    // The guide's check: every ServiceAccount with a role-arn annotation, in all namespaces.
    let all = Api::<ServiceAccount>::all(k.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| {
            errors::map(
                &k,
                Op {
                    verb: "list",
                    resource: "serviceaccounts",
                    namespace: None,
                },
                e,
            )
        })?;
    let mut accounts: BTreeMap<ServiceAccountRef, Option<String>> = BTreeMap::new();
    for sa in &all.items {
        let r = ServiceAccountRef {
            namespace: sa.metadata.namespace.clone().unwrap_or_default(),
            name: sa.metadata.name.clone().unwrap_or_default(),
        };
        accounts.insert(
            r,
            sa.metadata.annotations.as_ref().and_then(|a| a.get(ROLE_ARN)).cloned(),
        );
    }
    let annotated: Vec<(&ServiceAccountRef, &str)> = accounts
        .iter()
        .filter_map(|(r, a)| a.as_deref().map(|a| (r, a)))
        .collect();

    let mut checks = Vec::new();
    let mut explained: BTreeSet<ServiceAccountRef> = BTreeSet::new();
    for c in &bundle.components {
        let p = Some(c.preset.as_str());
        let want = &c.service_account;
        explained.insert(want.clone());
        let elsewhere: Vec<&ServiceAccountRef> = annotated
            .iter()
            .filter(|(r, a)| *a == c.role_arn && *r != want)
            .map(|(r, _)| *r)
            .collect();
        for other in &elsewhere {
            explained.insert((*other).clone());
            checks.push(Check::fail(
                SCOPE,
                p,
                "trust-subject",
                format!(
                    "ServiceAccount {other} carries role {} but the role trusts only {want} ({}): pods running as {other} cannot assume it",
                    c.role_name, c.subject
                ),
                identity_advice(c, other),
            ));
        }
        match accounts.get(want) {
            None if elsewhere.is_empty() => checks.push(Check::fail(
                SCOPE,
                p,
                "sa-exists",
                format!("ServiceAccount {want} does not exist"),
                missing_advice(c),
            )),
            None => {}
            Some(arn) => {
                checks.push(Check::pass(
                    SCOPE,
                    p,
                    "sa-exists",
                    format!("ServiceAccount {want} exists"),
                ));
                checks.push(match arn {
                    // Pod Identity alone: the annotation must be gone (it takes precedence).
                    _ if !c.identity_mode.uses(Mechanism::Irsa) => credentials::annotation_check(c, arn.as_deref()),
                    None => Check::fail(
                        SCOPE,
                        p,
                        "sa-role-arn",
                        format!("ServiceAccount {want} has no {ROLE_ARN} annotation"),
                        annotate_advice(c),
                    ),
                    Some(a) if *a == c.role_arn => Check::pass(
                        SCOPE,
                        p,
                        "sa-role-arn",
                        format!("ServiceAccount {want} is annotated with {a}"),
                    ),
                    Some(a) => Check::fail(
                        SCOPE,
                        p,
                        "sa-role-arn",
                        format!("ServiceAccount {want} is annotated with {a}, expected {}", c.role_arn),
                        annotate_advice(c),
                    ),
                });
            }
        }
        if c.identity_mode.uses(Mechanism::PodIdentity) {
            let pods = sa_pods(&k, want).await?;
            checks.extend(credentials::pods_check(c, c.identity_mode, &pods));
        }
        if let Some(dep) = &c.controller_patch {
            let api: Api<Deployment> = Api::namespaced(k.client.clone(), &want.namespace);
            let live = api.get_opt(dep).await.map_err(|e| {
                errors::map(
                    &k,
                    Op {
                        verb: "get",
                        resource: "deployments.apps",
                        namespace: Some(&want.namespace),
                    },
                    e,
                )
            })?;
            // Absent: the driver is not installed yet; apply says so, and there is nothing to check.
            if let Some(d) = live {
                let spec = d.spec.and_then(|s| s.template.spec);
                let runs_as = spec
                    .and_then(|s| s.service_account_name.or(s.service_account))
                    .unwrap_or_else(|| "default".into());
                checks.push(Check::from_bool(
                    SCOPE,
                    p,
                    "deployment-sa",
                    runs_as == want.name,
                    format!("Deployment {}/{dep} runs its pods as ServiceAccount {runs_as}{}", want.namespace, if runs_as == want.name { String::new() } else { format!(", not {}", want.name) }),
                    format!(
                        "irsagen apply --kube (applies {}), or kubectl patch deployment {dep} -n {} --patch-file {}; then kubectl rollout status deployment/{dep} -n {}",
                        layout::controller_patch(&c.preset, dep),
                        want.namespace,
                        layout::controller_patch(&c.preset, dep),
                        want.namespace
                    ),
                ));
            }
        }
    }

    let ours = bundle.context.iam_arn(&format!(
        "role/{}",
        crate::names::role_name_prefix(&bundle.context.cluster)
    ));
    let role_arns: BTreeSet<&str> = bundle.components.iter().map(|c| c.role_arn.as_str()).collect();
    for (r, arn) in &annotated {
        let irsagen_role = arn.starts_with(&ours) || role_arns.contains(arn);
        if !explained.contains(*r) && irsagen_role && subset::owner(&bundle.context, &flags.others, r, arn).is_none() {
            checks.push(Check::fail(
                SCOPE,
                None,
                "unexpected-sa",
                format!("ServiceAccount {r} is annotated with {arn}, an irsagen role of cluster {}, but no selected preset expects it", bundle.context.cluster),
                format!(
                    "kubectl describe sa {} -n {}; if it is left over, remove the annotation (kubectl annotate sa {} -n {} {ROLE_ARN}-); otherwise render with the preset that owns it",
                    r.name, r.namespace, r.name, r.namespace
                ),
            ));
        }
    }

    if flags.exec_test {
        for c in &bundle.components {
            checks.push(exec_check(&k, bundle, c, flags.pod_timeout).await?);
        }
    }
    Ok(checks)
}

/// The pods running as `sa`, with their credential variables.
async fn sa_pods(k: &Kube, sa: &ServiceAccountRef) -> Result<Vec<SaPod>> {
    let api: Api<Pod> = Api::namespaced(k.client.clone(), &sa.namespace);
    let list = api.list(&ListParams::default()).await.map_err(|e| {
        errors::map(
            k,
            Op {
                verb: "list",
                resource: "pods",
                namespace: Some(&sa.namespace),
            },
            e,
        )
    })?;
    Ok(credentials::pods_of(&list.items, &sa.name))
}

/// What the migration stage needs from the cluster, per preset: whether the ServiceAccount is
/// annotated, and its pods.
pub async fn observe(opts: &KubeOptions, bundle: &Bundle) -> Result<BTreeMap<String, (bool, Vec<SaPod>)>> {
    let k = Kube::connect(opts, Some(&bundle.context)).await?;
    let mut out = BTreeMap::new();
    for c in &bundle.components {
        let sa = &c.service_account;
        let api: Api<ServiceAccount> = Api::namespaced(k.client.clone(), &sa.namespace);
        let live = api.get_opt(&sa.name).await.map_err(|e| {
            errors::map(
                &k,
                Op {
                    verb: "get",
                    resource: "serviceaccounts",
                    namespace: Some(&sa.namespace),
                },
                e,
            )
        })?;
        let annotated = live
            .and_then(|s| s.metadata.annotations)
            .is_some_and(|a| a.contains_key(ROLE_ARN));
        out.insert(c.preset.clone(), (annotated, sa_pods(&k, sa).await?));
    }
    Ok(out)
}

/// `--exec-test`'s first look: the variables the mode's mechanism needs, in the running test
/// pod (injected at admission by the EKS webhook). `Err`: the failure text.
pub fn exec_env_check(mode: IdentityMode, creds: PodCredentials) -> std::result::Result<Mechanism, String> {
    let want = match mode {
        // The SDK takes web identity first, so in `both` the pod still assumes the role through IRSA.
        IdentityMode::Irsa | IdentityMode::Both => Mechanism::Irsa,
        IdentityMode::PodIdentity => Mechanism::PodIdentity,
    };
    let var = match want {
        Mechanism::Irsa => credentials::IRSA_VARS[0],
        Mechanism::PodIdentity => credentials::POD_IDENTITY_VAR,
    };
    match creds.mechanism() {
        Some(m) if m == want => Ok(m),
        // Pod Identity wanted, IRSA found: the annotation is (or was, at admission) there.
        Some(_) if want == Mechanism::PodIdentity => Err(format!(
            "the test pod uses IRSA credentials, not Pod Identity ({var} {}): remove the role-arn annotation and recreate the pod",
            if creds.pod_identity {
                "set, but IRSA's variables take precedence"
            } else {
                "missing"
            }
        )),
        // IRSA wanted, Pod Identity found: no annotation at admission, an association instead.
        Some(_) => Err(format!(
            "the test pod uses Pod Identity credentials, not IRSA ({var} missing): annotate the ServiceAccount with the role \
             (irsagen apply --kube) and recreate the pod"
        )),
        None => Err(format!(
            "the test pod has no {var}: the webhook did not bind it ({}); apply the binding, then recreate the pod",
            if want == Mechanism::Irsa {
                "is the ServiceAccount annotated?"
            } else {
                "is there a Pod Identity association, and is the eks-pod-identity-agent addon installed?"
            }
        )),
    }
}

/// Who the test pod's `aws sts get-caller-identity --output json` says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecCaller {
    /// A session of the component's role: the ARN returned.
    Role(String),
    /// Someone else (the node's role, another role, the same name in another account): the ARN.
    Other(String),
    /// No `Arn` in the output (the command failed, or printed something else).
    NoAnswer,
}

/// `--exec-test`'s last look, the same for both mechanisms (each gives the pod a session of the
/// role): the caller must be `arn:<partition>:sts::<account>:assumed-role/<role name>/<session>`
/// with the partition, account and name of `role_arn` (a role's path is not in the session ARN)
/// and a session name. Pure, so it is tested without a pod.
pub fn exec_caller(stdout: &str, role_arn: &str) -> ExecCaller {
    let Some(arn) = serde_json::from_str::<serde_json::Value>(stdout)
        .ok()
        .and_then(|v| v.get("Arn").and_then(|a| a.as_str()).map(str::to_string))
    else {
        return ExecCaller::NoAnswer;
    };
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    let (partition, account, name) = match parts.as_slice() {
        ["arn", partition, "iam", "", account, resource] => match resource.strip_prefix("role/") {
            Some(path) => (*partition, *account, path.rsplit('/').next().unwrap_or(path)),
            None => return ExecCaller::Other(arn),
        },
        _ => return ExecCaller::Other(arn),
    };
    let prefix = format!("arn:{partition}:sts::{account}:assumed-role/{name}/");
    match arn.strip_prefix(&prefix) {
        Some(session) if !session.is_empty() => ExecCaller::Role(arn),
        _ => ExecCaller::Other(arn),
    }
}

fn describe(r: &ServiceAccountRef) -> String {
    format!("kubectl describe sa {} -n {}", r.name, r.namespace)
}

fn missing_advice(c: &Component) -> String {
    let r = &c.service_account;
    match (&c.helm, c.service_account_created_by) {
        (Some(h), SaCreator::Helm) => format!(
            "the chart creates it: install the chart with {} into namespace {} (helm upgrade --install … -n {} -f {}); then {}",
            layout::helm_values(&h.chart),
            r.namespace,
            r.namespace,
            layout::helm_values(&h.chart),
            describe(r)
        ),
        (_, SaCreator::Addon) => format!(
            "the EKS addon {} creates it: eksctl create addon -f eksctl/cluster-config.yaml (or irsagen apply --kube, or kubectl apply -f {}); then {}",
            c.addon.as_deref().unwrap_or("?"),
            layout::service_account(&c.preset),
            describe(r)
        ),
        _ => format!(
            "irsagen apply --kube (or kubectl apply -f {}, or eksctl create iamserviceaccount with eksctl/cluster-config.yaml); then {}",
            layout::service_account(&c.preset),
            describe(r)
        ),
    }
}

fn annotate_advice(c: &Component) -> String {
    let r = &c.service_account;
    let how = match (&c.helm, c.service_account_created_by) {
        (Some(h), SaCreator::Helm) => format!(
            "the chart owns it: set the annotation through {} and helm upgrade",
            layout::helm_values(&h.chart)
        ),
        _ => "irsagen apply --kube (add --force to replace a different role-arn)".to_string(),
    };
    format!(
        "{}; {how}; then restart the pods (kubectl rollout restart) so they get the role",
        describe(r)
    )
}

fn identity_advice(c: &Component, found: &ServiceAccountRef) -> String {
    let want = &c.service_account;
    let mut sets = Vec::new();
    if found.namespace != want.namespace {
        sets.push(format!("--set {}.namespace={}", c.preset, found.namespace));
    }
    if found.name != want.name {
        sets.push(format!("--set {}.serviceAccount={}", c.preset, found.name));
    }
    let install = match &c.helm {
        Some(h) => format!(
            "install the chart into {} (helm upgrade --install … -n {} -f {})",
            want.namespace,
            want.namespace,
            layout::helm_values(&h.chart)
        ),
        None => format!("create the ServiceAccount as {want} (irsagen apply --kube)"),
    };
    format!(
        "{}; either render with `{}` and update the role's trust policy (irsagen apply --aws), or {install}",
        describe(found),
        sets.join(" ")
    )
}

/// Splits an API result for the exec test: a failure of the environment (unreachable, timed
/// out, credentials, RBAC) ends verify with an error (exit 3); any other refusal is the cluster's
/// answer (an admission plugin, a missing object) and becomes the check's failure text.
fn judged<T>(k: &Kube, op: Op<'_>, r: std::result::Result<T, kube::Error>) -> Result<std::result::Result<T, String>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e) if errors::is_environment(&e) => Err(errors::map(k, op, e)),
        Err(e) => Ok(Err(errors::map(k, op, e).to_string())),
    }
}

/// `--exec-test` for one component: create the test pod, wait for it to run, exec
/// `aws sts get-caller-identity` and check the assumed role.
async fn exec_check(k: &Kube, bundle: &Bundle, c: &Component, timeout: Duration) -> Result<Check> {
    let p = Some(c.preset.as_str());
    let path = layout::test_pod(&c.preset);
    let fail = |detail: String, advice: String| Check::fail(SCOPE, p, "exec-test", detail, advice);
    let Some(artifact) = bundle.get(&path) else {
        return Ok(fail(
            format!("the bundle has no test pod {path}"),
            "render the bundle again".into(),
        ));
    };
    let d = Desired::from_artifact(artifact)?;
    let ns = d.ns().unwrap_or_default().to_string();
    let name = d.name().to_string();
    let api: Api<Pod> = Api::namespaced(k.client.clone(), &ns);
    let op = |verb| Op {
        verb,
        resource: "pods",
        namespace: Some(&ns),
    };
    let existed = match judged(k, op("get"), api.get_opt(&name).await)? {
        Ok(live) => live.is_some(),
        Err(e) => return Ok(fail(e, describe(&c.service_account))),
    };
    let pp = PatchParams::apply(FIELD_MANAGER);
    if let Err(e) = judged(k, op("patch"), api.patch(&name, &pp, &Patch::Apply(&d.obj)).await)? {
        return Ok(fail(
            format!("cannot create test pod {ns}/{name}: {e}"),
            format!("{}; irsagen apply --kube", describe(&c.service_account)),
        ));
    }
    let check = run_test(k, c, &ns, &name, timeout).await;
    if !existed {
        // Best effort, also after an error: the pod is irsagen's own, made for this test.
        let _ = api.delete(&name, &DeleteParams::default()).await;
    }
    check
}

async fn run_test(k: &Kube, c: &Component, ns: &str, name: &str, timeout: Duration) -> Result<Check> {
    let p = Some(c.preset.as_str());
    let api: Api<Pod> = Api::namespaced(k.client.clone(), ns);
    let pod_advice = format!("kubectl describe pod {name} -n {ns}; {}", describe(&c.service_account));
    let op = |verb, resource| Op {
        verb,
        resource,
        namespace: Some(ns),
    };
    let fail = |detail: String| Check::fail(SCOPE, p, "exec-test", detail, pod_advice.clone());
    let start = Instant::now();
    loop {
        let pod = match judged(k, op("get", "pods"), api.get(name).await)? {
            Ok(pod) => pod,
            Err(e) => return Ok(fail(e)),
        };
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into());
        if phase == "Running" {
            if let Err(why) = exec_env_check(c.identity_mode, PodCredentials::of(&pod)) {
                return Ok(fail(format!("test pod {ns}/{name}: {why}")));
            }
            break;
        }
        let ended = phase == "Failed" || phase == "Succeeded";
        if ended || start.elapsed() >= timeout {
            let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
            let waiting: Vec<String> = status
                .and_then(|s| s.container_statuses.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    c.state
                        .as_ref()?
                        .waiting
                        .as_ref()?
                        .reason
                        .clone()
                        .map(|r| format!("{}: {r}", c.name))
                })
                .collect();
            let why = match (node, waiting.is_empty()) {
                (None, _) => " (not scheduled to any node: no nodes?)".to_string(),
                (Some(n), true) => format!(" (on node {n})"),
                (Some(n), false) => format!(" (on node {n}; {})", waiting.join(", ")),
            };
            let detail = if ended {
                format!("test pod {ns}/{name} ended with phase {phase} before the test could run{why}")
            } else {
                format!(
                    "test pod {ns}/{name} not running after {}s, phase {phase}{why}",
                    timeout.as_secs()
                )
            };
            return Ok(fail(detail));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ap = AttachParams::default().stdin(false).stdout(true).stderr(true);
    let mut proc = match judged(
        k,
        op("create", "pods/exec"),
        api.exec(name, ["aws", "sts", "get-caller-identity", "--output", "json"], &ap)
            .await,
    )? {
        Ok(proc) => proc,
        Err(e) => return Ok(fail(e)),
    };
    let (mut out, mut err) = (String::new(), String::new());
    // kube sets no read timeout on the exec stream, so bound the whole command here: a pod that
    // cannot reach STS would otherwise keep verify waiting forever.
    let finished = tokio::time::timeout(k.timeout, async {
        use tokio::io::AsyncReadExt;
        let (so, se) = (proc.stdout(), proc.stderr());
        let read_out = async {
            if let Some(mut s) = so {
                let _ = s.read_to_string(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(mut s) = se {
                let _ = s.read_to_string(&mut err).await;
            }
        };
        tokio::join!(read_out, read_err);
        let _ = proc.join().await;
    })
    .await;
    if finished.is_err() {
        return Ok(fail(format!(
            "aws sts get-caller-identity in {ns}/{name} did not finish within {} s (can the pod reach STS?)",
            k.timeout.as_secs()
        )));
    }
    Ok(match exec_caller(&out, &c.role_arn) {
        ExecCaller::Role(a) => Check::pass(
            SCOPE,
            p,
            "exec-test",
            format!("aws sts get-caller-identity in {ns}/{name} returned {a}"),
        ),
        ExecCaller::Other(a) => Check::fail(
            SCOPE,
            p,
            "exec-test",
            format!(
                "aws sts get-caller-identity in {ns}/{name} returned {a}, not a session of role {}",
                c.role_arn
            ),
            format!(
                "{}; the pod did not get the role: check the {} and the trust policy (irsagen verify --aws), then restart the pod",
                describe(&c.service_account),
                match c.identity_mode {
                    IdentityMode::PodIdentity => "Pod Identity association",
                    _ => "annotation",
                }
            ),
        ),
        ExecCaller::NoAnswer => Check::fail(
            SCOPE,
            p,
            "exec-test",
            format!(
                "aws sts get-caller-identity in {ns}/{name} failed: {}",
                if err.trim().is_empty() { out.trim() } else { err.trim() }
            ),
            pod_advice,
        ),
    })
}
