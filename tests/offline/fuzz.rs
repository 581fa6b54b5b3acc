//! Fuzzing the two parsers of user input, the config file and `--set`, with proptest: random
//! text and structured near-misses of real configs go through the same path as the CLI
//! (parse, pick the cluster, select presets, validate, render). Properties: no panic; every
//! failure is an `Error` of the bad-input kind (exit 2) whose message is printable and short;
//! and through the binary, a refused input writes nothing.
//!
//! Bounded: `PROPTEST_CASES` cases per property (proptest's default, 256, when unset); the CLI
//! property runs a tenth of that, since each case starts a process.

use crate::support::*;
use irsagen::config::ConfigFile;
use irsagen::context::{ClusterInputs, Context};
use irsagen::inputs::Inputs;
use irsagen::overrides;
use irsagen::render::Renderer;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A runner with proptest's usual case count (honours `PROPTEST_CASES`) and no regression
/// files written into the source tree.
fn runner(divide: u32) -> TestRunner {
    let base = Config::default();
    TestRunner::new(Config {
        cases: (base.cases / divide).max(1),
        failure_persistence: None,
        ..base
    })
}

/// A message fit for a terminal: no control characters but line breaks, bounded length.
fn check_message(e: &irsagen::Error) -> Result<(), TestCaseError> {
    let msg = e.to_string();
    prop_assert!(
        !msg.chars().any(|c| c.is_control() && c != '\n'),
        "unescaped control character: {msg:?}"
    );
    prop_assert!(
        msg.chars().count() <= 2 * irsagen::error::MAX_TEXT,
        "{} characters",
        msg.len()
    );
    prop_assert_eq!(e.exit_code(), 2, "offline input errors are bad input: {}", msg);
    Ok(())
}

/// Scalars that break rules in interesting ways, plus arbitrary text.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("smallest-cluster".to_string()),
        Just("us-east-1".to_string()),
        Just("\"123456789012\"".to_string()),
        Just("auto".to_string()),
        Just("https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE".to_string()),
        Just("https://oidc.eks.eu-west-1.amazonaws.com/id/../x".to_string()),
        Just("kube-system".to_string()),
        Just("helm".to_string()),
        Just("umbrella".to_string()),
        Just("~".to_string()),
        Just("{}".to_string()),
        Just("[]".to_string()),
        Just("&a [*a, *a]".to_string()),
        Just("!!binary aGVsbG8=".to_string()),
        Just("\"\\u001b[31m\"".to_string()),
        Just("123456789012".to_string()),
        Just("1e400".to_string()),
        "[a-zA-Z0-9 _.:/=+@-]{0,40}",
        any::<String>().prop_map(|s| format!("{s:?}")),
    ]
}

/// Keys of the config file and its maps, with typos and reserved words among them.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("cluster"),
        Just("region"),
        Just("account"),
        Just("partition"),
        Just("oidcIssuer"),
        Just("tags"),
        Just("presets"),
        Just("clusters"),
        Just("replacePresets"),
        Just("namespace"),
        Just("serviceAccount"),
        Just("roleName"),
        Just("policyName"),
        Just("serviceAccountCreatedBy"),
        Just("chartLayout"),
        Just("releaseNamespace"),
        Just("cluster-autoscaler"),
        Just("ebs-csi-driver"),
        Just("efs-csi-driver"),
        Just("managed-by"),
        Just("Irsagen:x"),
        Just("clustr"),
        Just("<<"),
    ]
    .prop_map(str::to_string)
}

/// YAML text built from keys and scalars, nested up to three levels, in block or flow style.
fn yaml_value() -> impl Strategy<Value = String> {
    scalar().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec((key(), inner.clone()), 0..6).prop_map(|kv| {
                let items: Vec<String> = kv.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", items.join(", "))
            }),
            prop::collection::vec(inner, 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        ]
    })
}

/// Values of the real fields, legal and not, so many configs pass validation and render.
fn override_field() -> impl Strategy<Value = String> {
    let name = || {
        prop_oneof![
            3 => Just("kube-system".to_string()),
            3 => Just("smallest".to_string()),
            3 => "[a-z][a-z0-9-]{0,12}",
            1 => scalar()
        ]
    };
    prop_oneof![
        name().prop_map(|v| format!("namespace: {v}")),
        name().prop_map(|v| format!("releaseNamespace: {v}")),
        name().prop_map(|v| format!("serviceAccount: {v}")),
        prop_oneof![Just("eksctl"), Just("helm"), Just("chart")].prop_map(|v| format!("serviceAccountCreatedBy: {v}")),
        prop_oneof![Just("umbrella"), Just("standalone"), Just("flat")].prop_map(|v| format!("chartLayout: {v}")),
        "[A-Za-z0-9_+=,.@-]{1,70}".prop_map(|v| format!("roleName: \"{v}\"")),
        "[A-Za-z0-9_+=,.@/-]{1,20}".prop_map(|v| format!("policyName: \"{v}\"")),
        (key(), scalar()).prop_map(|(k, v)| format!("tags: {{\"{k}\": {v}}}")),
        ("[A-Za-z :@_-]{1,12}", "[A-Za-z0-9 :@_-]{0,12}").prop_map(|(k, v)| format!("tags: {{\"{k}\": \"{v}\"}}")),
    ]
}

/// A config shaped like the README's, one or several clusters, with random values.
fn near_valid_config() -> impl Strategy<Value = String> {
    let preset = prop_oneof![
        12 => prop_oneof![Just("cluster-autoscaler"), Just("ebs-csi-driver"), Just("efs-csi-driver")].prop_map(str::to_string),
        1 => "[a-z-]{1,10}",
    ];
    let presets = move || {
        prop::collection::vec((preset.clone(), prop::collection::vec(override_field(), 0..3)), 0..4).prop_map(|ps| {
            let items: Vec<String> = ps
                .iter()
                .map(|(p, fields)| {
                    if fields.is_empty() {
                        format!("{p}: ~")
                    } else {
                        format!("{p}: {{{}}}", fields.join(", "))
                    }
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        })
    };
    let region = prop_oneof![
        Just("us-east-1"),
        Just("eu-west-1"),
        Just("cn-north-1"),
        Just("us-gov-west-1"),
        Just("us-east-1"),
        Just("us-east-1"),
        Just("mars-1")
    ];
    let issuer = prop::option::of(prop_oneof![
        Just("https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"),
        Just("https://oidc.eks.eu-west-1.amazonaws.com/id/X"),
        Just("https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"),
        Just("https://issuer.example.com/a/b"),
        Just("https://issuer.example.com/a/b"),
        Just("https://127.0.0.1/x"),
    ]);
    (
        prop_oneof![Just("smallest-cluster".to_string()), "[a-z][a-z0-9_-]{0,40}"],
        region,
        prop_oneof![9 => Just("123456789012"), 1 => Just("1234")],
        issuer,
        prop::option::of(presets()),
        prop::option::of((presets(), any::<bool>())),
    )
        .prop_map(|(cluster, region, account, issuer, presets, entry)| {
            let mut y = format!("account: \"{account}\"\n");
            if let Some(i) = issuer {
                y.push_str(&format!("oidcIssuer: {i}\n"));
            }
            if let Some(p) = presets {
                y.push_str(&format!("presets: {p}\n"));
            }
            match entry {
                None => y.push_str(&format!("cluster: {cluster}\nregion: {region}\n")),
                Some((p, replace)) => y.push_str(&format!(
                    "cluster: {cluster}\nclusters:\n  {cluster}: {{region: {region}, replacePresets: {replace}, presets: {p}}}\n  other: {{region: us-east-1}}\n"
                )),
            }
            y
        })
}

fn config_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => near_valid_config(),
        // Top-level block mappings, the shape users write.
        3 => prop::collection::vec((key(), yaml_value()), 0..8).prop_map(|kv| {
            kv.iter().map(|(k, v)| format!("{k}: {v}\n")).collect::<String>()
        }),
        // A valid config with one line replaced by noise.
        2 => (any::<String>(), 0..7usize).prop_map(|(noise, at)| {
            let mut lines: Vec<String> = [
                "cluster: smallest-cluster",
                "region: us-east-1",
                "account: \"123456789012\"",
                "presets:",
                "  cluster-autoscaler: {releaseNamespace: smallest}",
                "  ebs-csi-driver:",
                "  efs-csi-driver: {}",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            lines[at] = noise;
            lines.join("\n")
        }),
        // Anything at all.
        1 => any::<String>(),
    ]
}

/// Everything the CLI does with a parsed config, offline: any `Err` must be a clean one.
fn through_the_pipeline(
    renderer: &Renderer,
    config: ConfigFile,
    cluster: Option<&str>,
    sets: Vec<String>,
) -> Result<bool, TestCaseError> {
    let run = || -> irsagen::Result<()> {
        let config = config.for_cluster(cluster)?;
        let inputs = Inputs {
            flags: ClusterInputs {
                cluster: cluster.map(str::to_string),
                ..Default::default()
            },
            presets: vec![],
            sets,
            config: Some(config),
            mode: None,
        };
        let mut c = inputs.cluster();
        let selection = inputs.selection()?;
        // `auto` would ask AWS: stand in a value, as the CLI does for its offline pass.
        if c.account.as_deref() == Some("auto") {
            c.account = Some("000000000000".into());
        }
        if c.oidc_issuer.as_deref() == Some("auto") {
            c.oidc_issuer = None;
        }
        let ctx = Context::new(&c)?;
        renderer.render(&ctx, &selection).map(|_| ())
    };
    match run() {
        Ok(()) => Ok(true),
        Err(e) => check_message(&e).map(|()| false),
    }
}

#[test]
fn fuzz_config_parser() {
    let renderer = Renderer::new(None, None).unwrap();
    let (cases, rendered) = (AtomicUsize::new(0), AtomicUsize::new(0));
    runner(1)
        .run(
            &(
                config_text(),
                prop::option::of(prop_oneof![Just("smallest-cluster".to_string()), "[a-z]{1,8}"]),
            ),
            |(text, cluster)| {
                cases.fetch_add(1, Ordering::Relaxed);
                match ConfigFile::parse("fuzz.yaml", &text) {
                    Err(e) => check_message(&e),
                    Ok(config) => {
                        if through_the_pipeline(&renderer, config, cluster.as_deref(), vec![])? {
                            rendered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(())
                    }
                }
            },
        )
        .unwrap();
    eprintln!(
        "fuzz_config_parser: {} cases, {} rendered",
        cases.into_inner(),
        rendered.into_inner()
    );
}

/// `--set` specs: the real shape with random parts, and arbitrary text.
fn set_spec() -> impl Strategy<Value = String> {
    let preset = prop_oneof![
        Just("cluster-autoscaler".to_string()),
        Just("ebs-csi-driver".to_string()),
        Just("efs-csi-driver".to_string()),
        "[a-zA-Z_-]{0,10}",
    ];
    let field = prop_oneof![
        key(),
        "tags\\.[a-zA-Z:@ _-]{0,12}".prop_map(|s| s.to_string()),
        any::<String>(),
    ];
    prop_oneof![
        3 => (preset, field, scalar()).prop_map(|(p, f, v)| format!("{p}.{f}={v}")),
        1 => any::<String>(),
    ]
}

#[test]
fn fuzz_set_parser() {
    let renderer = Renderer::new(None, None).unwrap();
    let base = ConfigFile::parse(
        "base.yaml",
        "cluster: c\nregion: us-east-1\naccount: \"123456789012\"\n",
    )
    .unwrap();
    let (cases, rendered) = (AtomicUsize::new(0), AtomicUsize::new(0));
    runner(1)
        .run(&prop::collection::vec(set_spec(), 1..4), |specs| {
            cases.fetch_add(1, Ordering::Relaxed);
            // The parser alone: errors name `--set` and the spec.
            let mut map = BTreeMap::new();
            for s in &specs {
                if let Err(e) = overrides::apply_set(&mut map, s) {
                    check_message(&e)?;
                    prop_assert!(e.to_string().starts_with("invalid --set"), "{}", e);
                }
            }
            if through_the_pipeline(&renderer, base.clone(), None, specs)? {
                rendered.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    eprintln!(
        "fuzz_set_parser: {} cases, {} rendered",
        cases.into_inner(),
        rendered.into_inner()
    );
}

#[test]
fn fuzz_cli_refusals_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = render_cmd(&["--out-dir", out.to_str().unwrap()]).output().unwrap();
    assert!(first.status.success());
    let before = tree(&out);
    let cfg = dir.path().join("irsagen.yaml");
    let cases = AtomicUsize::new(0);
    runner(10)
        .run(
            &(config_text(), prop::collection::vec(set_spec(), 0..3)),
            |(text, sets)| {
                cases.fetch_add(1, Ordering::Relaxed);
                std::fs::write(&cfg, &text).unwrap();
                let mut cmd = irsagen();
                // A valid config with `auto` asks AWS: here a closed local port, one attempt.
                cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
                    .env("AWS_MAX_ATTEMPTS", "1")
                    .env("AWS_EC2_METADATA_DISABLED", "true")
                    .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
                    .env("AWS_SECRET_ACCESS_KEY", "secret");
                // No flags for the cluster: the file decides, so its errors are what is tested.
                cmd.args([
                    "render",
                    "--config",
                    cfg.to_str().unwrap(),
                    "--out-dir",
                    out.to_str().unwrap(),
                ]);
                for s in sets.iter().filter(|s| !s.contains('\0')) {
                    // `--set=…` so a spec that starts with `-` is still a value.
                    cmd.arg(format!("--set={s}"));
                }
                let o = cmd.output().unwrap();
                let err = String::from_utf8_lossy(&o.stderr);
                prop_assert!(!err.contains("panicked"), "{}", err);
                if o.status.success() {
                    // A valid random config renders (rarely): restore the reference tree.
                    std::fs::remove_dir_all(&out).unwrap();
                    let again = render_cmd(&["--out-dir", out.to_str().unwrap(), "--prune"])
                        .output()
                        .unwrap();
                    prop_assert!(again.status.success());
                } else {
                    // 2 = refused input; 3 only for a valid `auto` that could not reach AWS.
                    let code = o.status.code();
                    prop_assert!(
                        code == Some(2) || (code == Some(3) && text.contains("auto")),
                        "{:?}: {}",
                        code,
                        err
                    );
                    prop_assert!(err.starts_with("error: "), "{}", err);
                    prop_assert!(tree(&out) == before, "a refused render changed the output folder");
                }
                Ok(())
            },
        )
        .unwrap();
    eprintln!("fuzz_cli_refusals_write_nothing: {} cases", cases.into_inner());
}
