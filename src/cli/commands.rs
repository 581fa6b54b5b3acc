//! Glue from parsed arguments to the library: build inputs, render, emit, apply, verify.

use super::args::{
    ApplyCmd, CheckFormat, Cli, Command, Format, InputArgs, LintCmd, PlanMigrationCmd, PresetsCmd, PresetsSub,
    RenderCmd, TargetArgs, VerifyCmd, WhoamiCmd,
};
use irsagen::aws::{self, AwsOptions};
use irsagen::bundle::Bundle;
use irsagen::config::ConfigFile;
use irsagen::context::{ClusterInputs, Context};
use irsagen::inputs::Inputs;
use irsagen::kube::{self, KubeOptions};
use irsagen::preset::Catalog;
use irsagen::render::{Renderer, Selection};
use irsagen::{Error, Result, emit, report};
use std::io::{IsTerminal, Write};

/// Runs a command; `Ok(code)` is the exit status.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Render(cmd) => render(cmd),
        Command::Presets(cmd) => presets(cmd),
        Command::Schema => {
            print!("{}", irsagen::config::json_schema());
            Ok(0)
        }
        Command::Whoami(cmd) => whoami(cmd),
        Command::Apply(cmd) => apply(cmd),
        Command::Verify(cmd) => verify(cmd),
        Command::PlanMigration(cmd) => plan_migration(cmd),
        Command::Lint(cmd) => lint(cmd),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "irsagen", &mut std::io::stdout());
            Ok(0)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            action: "cannot start the async runtime",
            path: ".".into(),
            source,
        })
}

/// Builds the validated bundle from the inputs, resolving `auto` values through AWS.
/// `for_eksctl`: the bundle's eksctl files are written, so eksctl's CloudFormation limits apply.
fn bundle(args: &InputArgs, for_eksctl: bool) -> Result<(Bundle, AwsOptions)> {
    bundle_as(args, for_eksctl, irsagen::ack::Format::Default)
}

/// [`bundle`] in `format`.
fn bundle_as(args: &InputArgs, for_eksctl: bool, format: irsagen::ack::Format) -> Result<(Bundle, AwsOptions)> {
    let config = match args.config.as_deref() {
        Some(path) => Some(ConfigFile::load(path)?.for_cluster(args.cluster.as_deref())?),
        None => None,
    };
    let (cluster, selection, aws_opts) = gather(args, config)?;
    let ctx = Context::new(&cluster)?;
    let bundle = renderer(args, for_eksctl)?
        .with_format(format)
        .render(&ctx, &selection)?;
    print_warnings(&bundle, "");
    Ok((bundle, aws_opts))
}

/// The components' warnings, on stderr (a render to stdout stays the files alone); `prefix`
/// names the cluster in a fleet.
pub(super) fn print_warnings(bundle: &Bundle, prefix: &str) {
    for w in bundle.components.iter().flat_map(|c| c.warnings()) {
        eprintln!("warning: {prefix}{w}");
    }
}

/// The renderer of these inputs (`--presets-dir`, `--templates-dir`); see [`bundle`] for `for_eksctl`.
pub(super) fn renderer(args: &InputArgs, for_eksctl: bool) -> Result<Renderer> {
    let renderer = Renderer::new(args.presets_dir.as_deref(), args.templates_dir.as_deref())?;
    Ok(if for_eksctl {
        renderer
    } else {
        renderer.without_eksctl_limits()
    })
}

/// One cluster's inputs: flags over `config` (already narrowed to the cluster), with `auto`
/// values resolved through AWS, and the AWS options that go with them.
pub(super) fn gather(args: &InputArgs, config: Option<ConfigFile>) -> Result<(ClusterInputs, Selection, AwsOptions)> {
    let inputs = Inputs {
        flags: ClusterInputs {
            cluster: args.cluster.clone(),
            region: args.region.clone(),
            account: args.account.clone(),
            partition: args.partition.clone(),
            oidc_issuer: args.oidc_issuer.clone(),
            tags: Default::default(),
            kubernetes_version: args.kubernetes_version.clone(),
        },
        presets: args.presets.clone(),
        sets: args.sets.clone(),
        config,
        mode: args.mode.clone(),
    };
    let cluster = inputs.cluster();
    let selection = inputs.selection()?;
    let aws_opts = AwsOptions {
        profile: args.profile.clone(),
        region: cluster.region.clone(),
        ..AwsOptions::default()
    };
    let cluster = if irsagen::discovery::needs_discovery(&cluster) {
        // Bad input is refused before the runtime starts or any call is made.
        Context::check_before_discovery(&cluster)?;
        runtime()?.block_on(irsagen::discovery::resolve_inputs(
            &cluster,
            &aws::AwsDiscovery { opts: &aws_opts },
        ))?
    } else {
        cluster
    };
    Ok((cluster, selection, aws_opts))
}

/// The command line that regenerates the output, for the `--check` message.
pub(super) fn regenerate_command() -> String {
    let mut args: Vec<String> = Vec::new();
    let mut skip_value = false;
    for a in std::env::args() {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        match a.as_str() {
            "--check" | "--quiet" | "-q" => {}
            // `-o FORMAT` of the change summary: only `--check` takes it.
            "-o" | "--output" => skip_value = true,
            o if o.starts_with("--output=") || (o.starts_with("-o") && !o.starts_with("--")) => {}
            _ => args.push(a),
        }
    }
    args.iter()
        .map(|a| irsagen::templates::shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn render(cmd: RenderCmd) -> Result<i32> {
    if cmd.all {
        return super::fleet::render(&cmd);
    }
    let (bundle, _) = bundle_as(&cmd.inputs, true, cmd.format.library())?;
    let Some(dir) = &cmd.out_dir else {
        if cmd.kubernetes_only {
            print!("{}", super::review::kubernetes_stream(&bundle));
        } else {
            print!("{}", bundle.to_stream());
        }
        return Ok(0);
    };
    let dir_text = dir.display().to_string();
    let on_wait = || eprintln!("waiting for another irsagen render to finish writing {dir_text} ...");
    let wait = emit::LockWait {
        timeout: emit::DEFAULT_WAIT,
        on_wait: (!cmd.quiet).then_some(&on_wait as &dyn Fn()),
    };
    if cmd.check && cmd.output != CheckFormat::Text {
        return super::review::check_summary(&bundle, dir, &regenerate_command(), cmd.output, wait);
    }
    if cmd.check {
        return match emit::check(&bundle, dir, &regenerate_command(), wait) {
            Err(Error::Stale { .. }) if cmd.quiet => Ok(1),
            other => other.map(|()| 0),
        };
    }
    let options = emit::WriteOptions { prune: cmd.prune, wait };
    let report = emit::write(&bundle, dir, &options)?;
    if !cmd.quiet {
        print_write_report(dir, &report);
    }
    Ok(0)
}

/// What a write did, one line per file and a summary, on stderr.
pub(super) fn print_write_report(dir: &std::path::Path, report: &emit::WriteReport) {
    let mut err = std::io::stderr().lock();
    for p in &report.stale_temps {
        let _ = writeln!(
            err,
            "removed {} (temp file of an interrupted run)",
            dir.join(p).display()
        );
    }
    for p in &report.written {
        let _ = writeln!(err, "wrote {}", dir.join(p).display());
    }
    for p in &report.pruned {
        let _ = writeln!(err, "removed {}", dir.join(p).display());
    }
    for p in &report.extra {
        let _ = writeln!(
            err,
            "extra {} (no longer rendered; --prune removes it)",
            dir.join(p).display()
        );
    }
    let _ = writeln!(
        err,
        "{} written, {} unchanged, {} extra, {} removed in {}",
        report.written.len(),
        report.unchanged.len(),
        report.extra.len(),
        report.pruned.len(),
        dir.display()
    );
}

fn presets(cmd: PresetsCmd) -> Result<i32> {
    let catalog = Catalog::with_dir(cmd.presets_dir.as_deref())?;
    let out = match cmd.show {
        None if cmd.markdown => irsagen::preset_listing::markdown_table(&catalog),
        None => irsagen::preset_listing::list(&catalog),
        Some(PresetsSub::Show { name }) => irsagen::preset::describe(catalog.get(&name)?),
        Some(PresetsSub::Diff { name, from, to }) => irsagen::preset_listing::diff(&catalog, &name, &from, &to)?,
    };
    print!("{out}");
    Ok(0)
}

/// `irsagen lint`: exit 1 when any finding is an error.
fn lint(cmd: LintCmd) -> Result<i32> {
    let request = irsagen::lint::folder::Request {
        paths: &cmd.paths,
        trust: &cmd.trust,
        presets_dir: cmd.presets_dir.as_deref(),
        account: cmd.account.as_deref(),
        partition: cmd.partition.as_deref(),
    };
    let inputs = irsagen::lint::folder::read(&request)?;
    let report = irsagen::lint::lint(&inputs, irsagen::lint::Catalogue::bundled());
    match cmd.output {
        Format::Json => print!("{}", irsagen::lint::output::json(&report)),
        Format::Text => print!("{}", irsagen::lint::output::text(&report)),
    }
    Ok(report.exit_code())
}

fn whoami(cmd: WhoamiCmd) -> Result<i32> {
    let opts = AwsOptions {
        profile: cmd.profile,
        region: cmd.region,
        timeout: Some(std::time::Duration::from_secs(cmd.timeout)),
        endpoint_url: None,
    };
    let id = runtime()?.block_on(aws::whoami(&opts))?;
    match cmd.output {
        Format::Json => println!("{}", serde_json::to_string_pretty(&id).unwrap_or_default()),
        Format::Text => println!("account  {}\narn      {}\nuser id  {}", id.account, id.arn, id.user_id),
    }
    Ok(0)
}

/// Neither `--aws` nor `--kube` means both.
fn targets(t: &TargetArgs) -> (bool, bool) {
    if !t.aws && !t.kube {
        (true, true)
    } else {
        (t.aws, t.kube)
    }
}

fn kube_options(t: &TargetArgs) -> KubeOptions {
    KubeOptions {
        kubeconfig: t.kubeconfig.clone(),
        context: t.context.clone(),
        timeout: std::time::Duration::from_secs(t.timeout),
    }
}

/// The presets this verify does not check, with the config file's overrides: a subset verify
/// (`--preset X`) must not call their ServiceAccounts unexpected.
pub(super) fn other_presets(args: &InputArgs, bundle: &Bundle) -> Result<kube::subset::Others> {
    let catalog = irsagen::preset::Catalog::with_dir(args.presets_dir.as_deref())?;
    let overrides = match args.config.as_deref() {
        Some(path) => ConfigFile::load(path)?
            .for_cluster(args.cluster.as_deref())?
            .presets
            .unwrap_or_default(),
        None => Default::default(),
    };
    Ok(kube::subset::others(&catalog, bundle, &overrides))
}

/// Asks on the terminal; without one, `--yes` is required.
fn confirm(what: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::NotConfirmed(format!(
            "refusing to {what} without confirmation: no terminal to ask on; pass --yes"
        )));
    }
    eprint!("{what}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Error::NotConfirmed("nothing was changed".into()))
    }
}

/// The AWS options of apply and verify: the inputs' profile and region, `--timeout`.
fn with_timeout(mut opts: AwsOptions, t: &TargetArgs) -> AwsOptions {
    opts.timeout = Some(std::time::Duration::from_secs(t.timeout));
    opts
}

fn apply(cmd: ApplyCmd) -> Result<i32> {
    if cmd.fleet.all || cmd.fleet.from.is_some() {
        return super::fleet::apply(&cmd);
    }
    let (bundle, aws_opts) = bundle(&cmd.inputs, false)?;
    apply_one(&cmd, &bundle, aws_opts, &cmd.target)
}

/// Plans, confirms and applies one bundle (one cluster) with the target's AWS and kube options.
pub(super) fn apply_one(cmd: &ApplyCmd, bundle: &Bundle, aws_opts: AwsOptions, target: &TargetArgs) -> Result<i32> {
    let aws_opts = with_timeout(aws_opts, target);
    let (do_aws, do_kube) = targets(target);
    let rt = runtime()?;
    if do_aws {
        let plan = rt.block_on(aws::plan(&aws_opts, bundle, cmd.adopt))?;
        print!("{}", plan.to_text());
        if plan.is_empty() {
            println!("aws: no changes");
        } else if cmd.dry_run {
            println!("aws: dry run, nothing changed");
        } else {
            if !cmd.yes {
                confirm("apply these AWS changes")?;
            }
            print!("{}", rt.block_on(aws::execute(&aws_opts, &plan))?);
        }
    }
    if do_kube {
        let opts = kube_options(target);
        let flags = kube::ApplyFlags {
            force: cmd.force,
            create_namespace: cmd.create_namespace,
            test_pods: cmd.test_pods,
        };
        let plan = rt.block_on(kube::plan(&opts, bundle, flags))?;
        print!("{}", plan.to_text());
        if plan.is_empty() {
            println!("kube: no changes");
        } else if cmd.dry_run {
            print!("{}", rt.block_on(kube::execute(&opts, &plan, true))?);
            println!("kube: dry run, nothing changed");
        } else {
            if !cmd.yes {
                confirm("apply these cluster changes")?;
            }
            print!("{}", rt.block_on(kube::execute(&opts, &plan, false))?);
        }
    }
    Ok(0)
}

fn verify(cmd: VerifyCmd) -> Result<i32> {
    if cmd.fleet.all || cmd.fleet.from.is_some() {
        return super::fleet::verify(&cmd);
    }
    let (bundle, aws_opts) = bundle(&cmd.inputs, false)?;
    let others = || other_presets(&cmd.inputs, &bundle);
    let (checks, migration) = verify_checks(&cmd, &bundle, aws_opts, &cmd.target, others)?;
    match cmd.output {
        Format::Text => print!("{}", report::to_text(&checks)),
        Format::Json => print!("{}", report::to_json(&checks)),
    }
    // The migration stage goes beside the report: on stdout in text, on stderr with JSON (which
    // stays one document).
    match cmd.output {
        Format::Text => print!("{migration}"),
        Format::Json => eprint!("{migration}"),
    }
    let failed = report::failures(&checks);
    if failed > 0 {
        return Err(Error::ChecksFailed {
            failed,
            total: checks.len(),
        });
    }
    Ok(0)
}

/// Runs one bundle's (one cluster's) checks; `others` gives the presets a subset verify leaves out.
/// Also returns, for presets using Pod Identity, one line each with the stage of its migration.
pub(super) fn verify_checks(
    cmd: &VerifyCmd,
    bundle: &Bundle,
    aws_opts: AwsOptions,
    target: &TargetArgs,
    others: impl FnOnce() -> Result<kube::subset::Others>,
) -> Result<(Vec<report::Check>, String)> {
    let aws_opts = with_timeout(aws_opts, target);
    let (do_aws, do_kube) = targets(target);
    let rt = runtime()?;
    let mut checks = Vec::new();
    if do_aws {
        let (aws_checks, stats) = rt.block_on(aws::verify_with_stats(&aws_opts, bundle))?;
        eprintln!("aws: {} API calls ({} writes)", stats.calls, stats.writes);
        checks.extend(aws_checks);
    }
    let migrating = bundle
        .components
        .iter()
        .any(|c| c.identity_mode.uses(irsagen::identity::Mechanism::PodIdentity));
    let observed = if do_kube && migrating {
        Some(rt.block_on(kube::observe(&kube_options(target), bundle))?)
    } else {
        None
    };
    if do_kube {
        let flags = kube::VerifyFlags {
            exec_test: cmd.exec_test,
            pod_timeout: std::time::Duration::from_secs(cmd.exec_timeout),
            others: others()?,
        };
        checks.extend(rt.block_on(kube::verify_with(&kube_options(target), bundle, &flags))?);
    }
    let migration = if migrating {
        migration_lines(bundle, &checks, do_aws, observed.as_ref())
    } else {
        String::new()
    };
    Ok((checks, migration))
}

/// One line per preset using Pod Identity: the stage of its migration, from the AWS checks (the
/// association) and the cluster's state (annotation, pods).
fn migration_lines(
    bundle: &Bundle,
    checks: &[report::Check],
    did_aws: bool,
    observed: Option<&std::collections::BTreeMap<String, (bool, Vec<kube::credentials::SaPod>)>>,
) -> String {
    use irsagen::migration::{Observed, stage};
    let mut s = String::new();
    for c in &bundle.components {
        if !c.identity_mode.uses(irsagen::identity::Mechanism::PodIdentity) {
            continue;
        }
        let association = did_aws.then(|| {
            checks.iter().any(|k| {
                k.name == "pod-identity-association"
                    && k.preset.as_deref() == Some(c.preset.as_str())
                    && k.status == report::Status::Pass
            })
        });
        let live = observed.and_then(|o| o.get(&c.preset));
        let o = Observed {
            association,
            annotation: live.map(|l| l.0),
            pods: live.map(|l| l.1.clone()),
        };
        s.push_str(&format!("migration: {} {}\n", c.preset, stage(&o).describe()));
    }
    s
}

fn plan_migration(cmd: PlanMigrationCmd) -> Result<i32> {
    let (bundle, _) = bundle(&cmd.inputs, false)?;
    let presets: Vec<(String, String)> = bundle
        .components
        .iter()
        .map(|c| (c.preset.clone(), c.service_account.to_string()))
        .collect();
    // The same inputs, for the commands the stages print.
    let args: Vec<String> = std::env::args()
        .skip_while(|a| a != "plan-migration")
        .skip(1)
        .map(|a| irsagen::templates::shell_quote(&a))
        .collect();
    print!("{}", irsagen::migration::plan_text(&presets, &args.join(" ")));
    Ok(0)
}
