//! `--all` and `--from` on the command line: each cluster's inputs, then per-cluster headers and
//! a fleet summary for apply and verify. The work is in `irsagen::fleet` (render, validate,
//! write every cluster) and `irsagen::reviewed` (a folder rendered again and compared).

use super::args::{ApplyCmd, FleetArgs, Format, InputArgs, RenderCmd, TargetArgs, VerifyCmd};
use super::commands;
use irsagen::aws::AwsOptions;
use irsagen::bundle::Bundle;
use irsagen::config::ConfigFile;
use irsagen::overrides::PresetOverrides;
use irsagen::render::Renderer;
use irsagen::{Error, Result, emit, fleet, kube, report, reviewed};
use std::collections::BTreeMap;
use std::path::Path;

/// One cluster that apply or verify acts on.
struct Target {
    name: String,
    bundle: Bundle,
    aws_opts: AwsOptions,
    target: TargetArgs,
    /// The config file's preset overrides of this cluster (none with `--from`), for subset verify.
    overrides: BTreeMap<String, PresetOverrides>,
}

/// One cluster of `--config`'s `clusters:`: inputs gathered and `auto` resolved.
struct Gathered {
    member: fleet::Member,
    aws_opts: AwsOptions,
    /// Its config entry's preset overrides (for subset verify).
    overrides: BTreeMap<String, PresetOverrides>,
}

/// Each cluster of `--config`'s `clusters:`, in name order.
fn members(args: &InputArgs) -> Result<Vec<Gathered>> {
    let path = args.config.as_deref().ok_or_else(|| Error::Missing {
        field: "--config".into(),
        how: "--all acts on every cluster of a config file's `clusters:`; pass --config FILE (or --from DIR for a folder written by `render --all`)".into(),
    })?;
    let file = ConfigFile::load(path)?;
    let names = fleet::cluster_names(&file, &path.display().to_string())?;
    names
        .into_iter()
        .map(|name| {
            let one = file.for_cluster(Some(&name))?;
            let overrides = one.presets.clone().unwrap_or_default();
            let (inputs, selection, aws_opts) =
                commands::gather(args, Some(one)).map_err(|e| fleet::in_cluster(&name, e))?;
            Ok(Gathered {
                member: fleet::Member {
                    name,
                    inputs,
                    selection,
                },
                aws_opts,
                overrides,
            })
        })
        .collect()
}

fn wait_message(dir: &Path) -> impl Fn() {
    let text = dir.display().to_string();
    move || eprintln!("waiting for another irsagen render to finish writing {text} ...")
}

/// `render --all`: every cluster rendered and validated (as a fleet) before any folder is
/// written or compared.
pub fn render(cmd: &RenderCmd) -> Result<i32> {
    let Some(dir) = cmd.out_dir.as_deref() else {
        return Err(Error::Missing {
            field: "--out-dir".into(),
            how: "--all writes each cluster into DIR/<cluster>/; pass --out-dir DIR".into(),
        });
    };
    let members: Vec<fleet::Member> = members(&cmd.inputs)?.into_iter().map(|g| g.member).collect();
    let bundles = fleet::render(
        &commands::renderer(&cmd.inputs, true)?.with_format(cmd.format.library()),
        &members,
    )?;
    for (m, b) in members.iter().zip(&bundles) {
        commands::print_warnings(b, &format!("cluster {}: ", m.name));
    }
    let on_wait = wait_message(dir);
    let wait = emit::LockWait {
        timeout: emit::DEFAULT_WAIT,
        on_wait: (!cmd.quiet).then_some(&on_wait as &dyn Fn()),
    };
    if cmd.check {
        return match fleet::check_dir(&bundles, dir, &commands::regenerate_command(), wait) {
            Err(Error::Stale { .. }) if cmd.quiet => Ok(1),
            other => other.map(|()| 0),
        };
    }
    let reports = fleet::write(&bundles, dir, &emit::WriteOptions { prune: cmd.prune, wait })?;
    for name in fleet::former_members(dir, &bundles).into_iter().filter(|_| !cmd.quiet) {
        eprintln!(
            "note: {} holds an irsagen render of cluster {name}, which is no longer in `clusters:`; irsagen leaves it alone (remove it if the cluster is gone)",
            dir.join(&name).display()
        );
    }
    if !cmd.quiet {
        let mut total = [0usize; 4];
        for (b, r) in bundles.iter().zip(&reports) {
            commands::print_write_report(&fleet::folder(dir, b), r);
            for (t, n) in total
                .iter_mut()
                .zip([r.written.len(), r.unchanged.len(), r.extra.len(), r.pruned.len()])
            {
                *t += n;
            }
        }
        eprintln!(
            "fleet: {} clusters; {} written, {} unchanged, {} extra, {} removed in {}",
            bundles.len(),
            total[0],
            total[1],
            total[2],
            total[3],
            dir.display()
        );
    }
    Ok(0)
}

/// The kube context `aws eks update-kubeconfig` gives a cluster: its ARN.
fn context_of(bundle: &Bundle) -> String {
    let c = &bundle.context;
    format!(
        "arn:{}:eks:{}:{}:cluster/{}",
        c.partition.as_str(),
        c.region,
        c.account,
        c.cluster
    )
}

/// What apply or verify act on: the clusters of `--all` (all rendered and validated as a fleet
/// first; any bad input stops before a call), or the folder(s) of `--from`, each refused unless
/// it is exactly its recorded render.
fn targets(
    inputs: &InputArgs,
    target: &TargetArgs,
    f: &FleetArgs,
    action: &'static str,
) -> Result<(Renderer, Vec<Target>)> {
    let renderer = commands::renderer(inputs, false)?;
    let wait = emit::LockWait {
        timeout: emit::DEFAULT_WAIT,
        on_wait: None,
    };
    let from_dir = |bundle: Bundle| {
        let aws_opts = AwsOptions {
            profile: inputs.profile.clone(),
            region: Some(bundle.context.region.clone()),
            ..AwsOptions::default()
        };
        (bundle, aws_opts)
    };
    let mut out = match (&f.from, f.all) {
        (Some(dir), false) => {
            let (bundle, aws_opts) = from_dir(reviewed::load(&renderer, dir, action, wait)?);
            vec![Target {
                name: bundle.context.cluster.clone(),
                bundle,
                aws_opts,
                target: target.clone(),
                overrides: BTreeMap::new(),
            }]
        }
        (Some(dir), true) => {
            let mut v = Vec::new();
            for name in reviewed::fleet_folders(dir)? {
                let loaded = reviewed::load(&renderer, &dir.join(&name), action, wait);
                let (bundle, aws_opts) = from_dir(loaded.map_err(|e| fleet::in_cluster(&name, e))?);
                v.push(Target {
                    name: bundle.context.cluster.clone(),
                    bundle,
                    aws_opts,
                    target: target.clone(),
                    overrides: BTreeMap::new(),
                });
            }
            let bundles: Vec<Bundle> = v.iter().map(|t| t.bundle.clone()).collect();
            fleet::check(&bundles)?;
            v
        }
        (None, _) => {
            let gathered = members(inputs)?;
            let members: Vec<fleet::Member> = gathered.iter().map(|g| g.member.clone()).collect();
            let bundles = fleet::render(&renderer, &members)?;
            bundles
                .into_iter()
                .zip(gathered)
                .map(|(bundle, g)| Target {
                    name: g.member.name,
                    bundle,
                    aws_opts: g.aws_opts,
                    target: target.clone(),
                    overrides: g.overrides,
                })
                .collect()
        }
    };
    if f.all {
        for t in &mut out {
            t.target.context = Some(context_of(&t.bundle));
        }
    }
    Ok((renderer, out))
}

/// The header above each cluster's output.
fn header(t: &Target) -> String {
    format!(
        "=== cluster {} (account {}, {}, kube context {}) ===",
        t.name,
        t.bundle.context.account,
        t.bundle.context.region,
        t.target.context.as_deref().unwrap_or("current")
    )
}

/// Runs `f` for every target under its header; a failing cluster is reported and the next one
/// runs. Ends with the fleet summary; the exit status is the highest of the failures.
fn each(targets: &[Target], mut f: impl FnMut(&Target) -> Result<i32>) -> Result<i32> {
    let mut failed: Vec<(&str, i32)> = Vec::new();
    for t in targets {
        println!("{}", header(t));
        if let Err(e) = f(t) {
            let e = fleet::in_cluster(&t.name, e);
            if let Error::InCluster { source, .. } = &e {
                if let Error::Stale { diff, .. } | Error::NotAsReviewed { diff, .. } = source.as_ref() {
                    print!("{diff}");
                }
            }
            eprintln!("error: {e}");
            failed.push((t.name.as_str(), e.exit_code()));
        }
    }
    let names: Vec<&str> = failed.iter().map(|(n, _)| *n).collect();
    println!(
        "fleet: {} of {} clusters succeeded{}",
        targets.len() - failed.len(),
        targets.len(),
        if names.is_empty() {
            String::new()
        } else {
            format!("; failed: {}", names.join(", "))
        }
    );
    Ok(failed.iter().map(|(_, c)| *c).max().unwrap_or(0))
}

/// `apply --all` and/or `--from DIR`.
pub fn apply(cmd: &ApplyCmd) -> Result<i32> {
    let (_, targets) = targets(&cmd.inputs, &cmd.target, &cmd.fleet, "apply")?;
    if !cmd.fleet.all {
        let t = &targets[0];
        return commands::apply_one(cmd, &t.bundle, t.aws_opts.clone(), &t.target);
    }
    each(&targets, |t| {
        commands::apply_one(cmd, &t.bundle, t.aws_opts.clone(), &t.target)
    })
}

/// `verify --all` and/or `--from DIR`. With `-o json` and `--all`, stdout is one object:
/// `{"clusters": {NAME: report or error object}, "failedClusters": [NAME…]}`.
pub fn verify(cmd: &VerifyCmd) -> Result<i32> {
    let (renderer, targets) = targets(&cmd.inputs, &cmd.target, &cmd.fleet, "verify")?;
    let checks_of = |t: &Target| {
        let others = || Ok(kube::subset::others(&renderer.catalog, &t.bundle, &t.overrides));
        let (checks, migration) = commands::verify_checks(cmd, &t.bundle, t.aws_opts.clone(), &t.target, others)?;
        // Beside the per-cluster reports, on stderr: stdout may be one JSON document.
        eprint!("{migration}");
        Ok::<_, Error>(checks)
    };
    let failed_checks = |checks: &[report::Check]| match report::failures(checks) {
        0 => Ok(0),
        failed => Err(Error::ChecksFailed {
            failed,
            total: checks.len(),
        }),
    };
    if !cmd.fleet.all {
        let checks = checks_of(&targets[0])?;
        match cmd.output {
            Format::Text => print!("{}", report::to_text(&checks)),
            Format::Json => print!("{}", report::to_json(&checks)),
        }
        return failed_checks(&checks);
    }
    if cmd.output == Format::Text {
        return each(&targets, |t| {
            let checks = checks_of(t)?;
            print!("{}", report::to_text(&checks));
            failed_checks(&checks)
        });
    }
    let mut clusters = serde_json::Map::new();
    let mut failed = Vec::new();
    let mut code = 0;
    for t in &targets {
        let (value, error) = match checks_of(t) {
            Ok(checks) => (
                serde_json::from_str(&report::to_json(&checks)).unwrap_or_default(),
                failed_checks(&checks).err(),
            ),
            Err(e) => {
                let e = fleet::in_cluster(&t.name, e);
                (serde_json::from_str(&e.to_json()).unwrap_or_default(), Some(e))
            }
        };
        if let Some(e) = error {
            failed.push(t.name.clone());
            code = code.max(e.exit_code());
        }
        clusters.insert(t.name.clone(), value);
    }
    let out = serde_json::json!({"clusters": clusters, "failedClusters": failed});
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(code)
}
