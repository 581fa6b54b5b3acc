//! Fleets: every cluster of a config file in one run (`--all`). Clusters render in parallel on
//! all cores, are then validated against each other (what no single cluster's render can see:
//! IAM names are account-wide, folders may collide on a case-insensitive file system), and only
//! then is any folder written or compared: `DIR/<cluster>/` per cluster, each owned through its
//! own manifest exactly as a single render's folder (see [`crate::emit`]).

use crate::bundle::Bundle;
use crate::config::ConfigFile;
use crate::context::{ClusterInputs, Context};
use crate::emit::{self, LockWait, WriteOptions, WriteReport};
use crate::error::{Error, Result};
use crate::render::{Renderer, Selection};
use crate::safe_fs;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// One cluster of a fleet: its inputs gathered (flags over its config entry) and `auto` values
/// already resolved.
#[derive(Debug, Clone)]
pub struct Member {
    /// The cluster's name (its key under `clusters:`).
    pub name: String,
    /// Its cluster variables.
    pub inputs: ClusterInputs,
    /// Its presets and overrides.
    pub selection: Selection,
}

/// The clusters of a config file, sorted by name. A file without `clusters:` is no fleet.
pub fn cluster_names(config: &ConfigFile, origin: &str) -> Result<Vec<String>> {
    match &config.clusters {
        Some(c) if !c.is_empty() => Ok(c.keys().cloned().collect()),
        _ => Err(Error::invalid(
            "--all",
            origin,
            "the config file has no `clusters:` entries; --all renders each cluster under `clusters:` into DIR/<cluster>/ (use --cluster for a single one)",
        )),
    }
}

/// Wraps `e` so that its message names the cluster it belongs to.
pub fn in_cluster(cluster: &str, e: Error) -> Error {
    match e {
        already @ Error::InCluster { .. } => already,
        e => Error::InCluster {
            cluster: cluster.to_string(),
            source: Box::new(e),
        },
    }
}

/// Runs `f` on every item on all cores (at most one thread per core, each taking the next
/// item); the results come back in the items' order, so output stays deterministic.
pub fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        out.push((i, f(item)));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            // A worker only panics if `f` did; carry the panic on rather than lose results.
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Renders and validates every member, in parallel, then checks the fleet as a whole
/// ([`check`]). The first failing cluster (in name order) is the error, named; nothing is
/// written here, so a failure anywhere leaves every folder as it was.
pub fn render(renderer: &Renderer, members: &[Member]) -> Result<Vec<Bundle>> {
    let results = parallel(members, |m| {
        Context::new(&m.inputs).and_then(|ctx| renderer.render(&ctx, &m.selection))
    });
    let mut bundles = Vec::with_capacity(members.len());
    for (m, r) in members.iter().zip(results) {
        bundles.push(r.map_err(|e| in_cluster(&m.name, e))?);
    }
    check(&bundles)?;
    Ok(bundles)
}

/// What a single cluster's render cannot see: two clusters in one folder on a case-insensitive
/// file system; one IAM role name used by two clusters of one account (IAM names are
/// account-wide and ignore case, so one apply would take the other's role over); one managed
/// policy name with different documents or tags (every cluster of an account shares it, so
/// applies would keep replacing each other's version).
pub fn check(bundles: &[Bundle]) -> Result<()> {
    let mut folders: BTreeMap<String, &str> = BTreeMap::new();
    for b in bundles {
        let name = b.context.cluster.as_str();
        if let Some(other) = folders.insert(name.to_lowercase(), name) {
            return Err(Error::invalid(
                format!("clusters.{name}"),
                name,
                format!(
                    "and cluster `{other}` differ only in letter case: their folders DIR/{name}/ and DIR/{other}/ are one folder on a case-insensitive file system (macOS, Windows); rename one"
                ),
            ));
        }
    }
    type Key = (&'static str, String, String);
    let mut roles: BTreeMap<Key, (&str, &crate::component::Component)> = BTreeMap::new();
    type Seen<'b> = (&'b str, &'b crate::component::Component, &'b serde_json::Value);
    let mut policies: BTreeMap<Key, Seen> = BTreeMap::new();
    for b in bundles {
        let ctx = &b.context;
        for c in &b.components {
            let key = |name: &str| (ctx.partition.as_str(), ctx.account.clone(), name.to_lowercase());
            if let Some((cluster, other)) = roles.insert(key(&c.role_name), (ctx.cluster.as_str(), c)) {
                if !crate::shared_trust::same_shared_role(other, c) {
                    return Err(Error::invalid(
                        format!("clusters.{}.presets.{}.roleName", ctx.cluster, c.preset),
                        &c.role_name,
                        format!(
                            "is also cluster `{cluster}`'s role (preset `{}`) in account {}; IAM role names are unique per account, ignoring case: give one of them another roleName, or share the role: both presets list the other cluster in `trustClusters` (same ServiceAccount, policies and tags), so both render the same trust",
                            other.preset, ctx.account
                        ),
                    ));
                }
            }
            // AWS managed policies (policy: aws-managed) are AWS's, shared by every account:
            // such a component creates no policy whose name could clash.
            if c.aws_managed.is_some() {
                continue;
            }
            // Each customer managed policy of the component: the main one and `policy.additional`.
            for (name, _, document) in c.customer_policies() {
                match policies.get(&key(name)) {
                    Some((cluster, other, other_doc))
                        if *other_doc != document || other.policy_tags != c.policy_tags =>
                    {
                        return Err(Error::invalid(
                            format!("clusters.{}.presets.{}.policyName", ctx.cluster, c.preset),
                            name,
                            format!(
                                "is also cluster `{cluster}`'s policy (preset `{}`) in account {}, with a different document or tags; every cluster of an account shares a policy name, so give one of them another policyName",
                                other.preset, ctx.account
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        policies.insert(key(name), (ctx.cluster.as_str(), c, document));
                    }
                }
            }
        }
    }
    Ok(())
}

/// `DIR/<cluster>`: where a cluster's bundle goes in a fleet folder.
pub fn folder(dir: &Path, bundle: &Bundle) -> PathBuf {
    dir.join(&bundle.context.cluster)
}

/// The subfolders of `dir` holding an irsagen render (a regular manifest file) of a cluster that
/// is not one of `bundles`, sorted: left from an earlier fleet render. Symlinks are not followed.
pub fn former_members(dir: &Path, bundles: &[Bundle]) -> Vec<String> {
    let Ok(entries) = safe_fs::list_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .into_iter()
        .filter(|(name, kind)| {
            matches!(kind, safe_fs::Kind::Dir)
                && !bundles.iter().any(|b| b.context.cluster == *name)
                && std::fs::symlink_metadata(dir.join(name).join(emit::manifest::NAME)).is_ok_and(|m| m.is_file())
        })
        .map(|(name, _)| name)
        .collect();
    out.sort();
    out
}

/// Refuses, before anything is written, a cluster folder that is a symlink or a file: a fleet
/// folder is owned like a single render's, and nothing inside it is followed.
fn check_folders(dir: &Path, bundles: &[Bundle]) -> Result<()> {
    for b in bundles {
        let rel = format!("{}/{}", b.context.cluster, emit::manifest::NAME);
        safe_fs::folders_are_real(dir, &rel).map_err(|source| Error::Io {
            action: "refusing to write",
            path: folder(dir, b),
            source,
        })?;
    }
    Ok(())
}

/// Writes every bundle into its `DIR/<cluster>/` (in parallel; each folder locked and written
/// as [`emit::write`] does). Reports come back in cluster order.
pub fn write(bundles: &[Bundle], dir: &Path, opts: &WriteOptions<'_>) -> Result<Vec<WriteReport>> {
    check_folders(dir, bundles)?;
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        action: "cannot create directory",
        path: dir.to_path_buf(),
        source,
    })?;
    // `on_wait` is a plain `&dyn Fn`, not `Sync`: the parallel writes wait silently (up to the
    // same timeout), and the caller says once that a folder may be busy.
    let (prune, timeout) = (opts.prune, opts.wait.timeout);
    let results = parallel(bundles, |b| {
        let quiet = WriteOptions {
            prune,
            wait: LockWait { timeout, on_wait: None },
        };
        emit::write(b, &folder(dir, b), &quiet)
    });
    bundles
        .iter()
        .zip(results)
        .map(|(b, r)| r.map_err(|e| in_cluster(&b.context.cluster, e)))
        .collect()
}

/// `--check` over the fleet: Ok when every cluster's folder is up to date, else one
/// [`Error::Stale`] counting every differing file, with each cluster's diffs under a
/// `# cluster NAME (DIR/NAME)` line and `command` (plus `--prune` when files must go).
pub fn check_dir(bundles: &[Bundle], dir: &Path, command: &str, wait: LockWait<'_>) -> Result<()> {
    let mut count = 0;
    let mut prune = false;
    let mut diff = String::new();
    for b in bundles {
        let sub = folder(dir, b);
        match emit::check(b, &sub, command, wait) {
            Ok(()) => {}
            Err(Error::Stale {
                count: n,
                command: c,
                diff: d,
                ..
            }) => {
                count += n;
                prune |= c.ends_with(" --prune");
                diff.push_str(&format!("# cluster {} ({})\n", b.context.cluster, sub.display()));
                diff.push_str(&d);
            }
            Err(e) => return Err(in_cluster(&b.context.cluster, e)),
        }
    }
    // A cluster taken out of `clusters:` leaves its folder behind; the reviewed tree then holds
    // a render the config no longer produces, which a check must not call up to date.
    for name in former_members(dir, bundles) {
        count += 1;
        diff.push_str(&format!(
            "# cluster {name} ({}): an irsagen render of a cluster no longer in `clusters:`; irsagen never deletes it, remove the folder if the cluster is gone\n",
            dir.join(&name).display()
        ));
    }
    if count == 0 {
        return Ok(());
    }
    Err(Error::Stale {
        count,
        dir: dir.display().to_string(),
        command: if prune {
            format!("{command} --prune")
        } else {
            command.to_string()
        },
        diff,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_keeps_the_items_order() {
        let items: Vec<usize> = (0..1000).collect();
        assert_eq!(
            parallel(&items, |i| i * 2),
            items.iter().map(|i| i * 2).collect::<Vec<_>>()
        );
        assert!(parallel(&[] as &[u8], |b| *b).is_empty());
    }

    #[test]
    fn a_config_without_clusters_is_no_fleet() {
        let cfg = ConfigFile::parse("irsagen.yaml", "cluster: a\nregion: us-east-1\n").unwrap();
        let e = cluster_names(&cfg, "irsagen.yaml").unwrap_err().to_string();
        assert!(
            e.starts_with("invalid --all `irsagen.yaml`: the config file has no `clusters:`"),
            "{e}"
        );
        let cfg = ConfigFile::parse("irsagen.yaml", "clusters: {b: {}, a: {}}\n").unwrap();
        assert_eq!(cluster_names(&cfg, "x").unwrap(), ["a", "b"]);
    }
}
