//! Preset parameters, policy versions, `substitute` and `narrow`, end to end through the CLI and
//! the library, with a small preset in a temporary `--presets-dir` (the built-in catalogue's
//! presets have their own tests).

use crate::support::*;
use std::path::Path;

const SOURCE: &str = "{document: a test, repository: https://example.com/r, path: p.json, commit: 0123456789abcdef0123456789abcdef01234567, date: \"2026-01-01\"}";

/// The oldest document: the bucket placeholder upstream writes, and a wide hosted zone.
const V1: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Buckets","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::${BUCKET}/*"]},
  {"Sid":"Zones","Effect":"Allow","Action":"route53:ChangeResourceRecordSets","Resource":"arn:aws:route53:::hostedzone/*"}
]}"#;

/// The newer document: one action gone, two added.
const V2: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Buckets","Effect":"Allow","Action":["s3:PutObject","s3:DeleteObject"],"Resource":["arn:aws:s3:::${BUCKET}/*"]},
  {"Sid":"Zones","Effect":"Allow","Action":"route53:ChangeResourceRecordSets","Resource":"arn:aws:route53:::hostedzone/*"},
  {"Sid":"List","Effect":"Allow","Action":"route53:ListHostedZones","Resource":"*"}
]}"#;

/// Writes the `demo` preset (versions v1.0.0 and v1.5.0, a required list parameter used by
/// `substitute`, an optional one used by `narrow`) into `dir`; `extra` is appended to its YAML.
pub fn demo_presets(dir: &Path, extra: &str) {
    std::fs::create_dir_all(dir.join("policies/demo")).unwrap();
    std::fs::write(dir.join("policies/demo/v1.0.0.json"), V1).unwrap();
    std::fs::write(dir.join("policies/demo/v1.5.0.json"), V2).unwrap();
    std::fs::write(
        dir.join("demo.yaml"),
        format!(
            r#"name: demo
description: A controller that writes to buckets and changes DNS records
serviceAccount: {{namespace: demo, name: demo-controller}}
mechanisms:
  irsa: {{}}
  podIdentity: {{minVersion: v1.2.0, source: "test: the SDK of v1.2.0"}}
parameters:
  bucketNames:
    type: list
    format: s3-bucket-name
    required: true
    example: my-backups
    about: buckets the controller writes to
  hostedZoneIds:
    type: list
    format: route53-hosted-zone-id
    example: Z0123456789ABCDEFGHIJ
    about: hosted zones it may change (default every zone)
policy:
  name: DemoPolicy
  versions:
    - from: v1.0.0
      documentFile: policies/demo/v1.0.0.json
      source: {SOURCE}
    - from: v1.5.0
      documentFile: policies/demo/v1.5.0.json
      source: {SOURCE}
  substitute:
    "${{BUCKET}}": "{{bucketNames}}"
  narrow:
    - parameter: hostedZoneIds
      resource: "arn:aws:route53:::hostedzone/*"
      to: "arn:aws:route53:::hostedzone/{{hostedZoneIds}}"
{extra}"#
        ),
    )
    .unwrap();
}

/// `render --preset demo` with the presets in `dir` and `extra` arguments: (exit code, stdout, stderr).
fn render_demo(dir: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let o = render_cmd(&["--presets-dir", dir.to_str().unwrap(), "--preset", "demo"])
        .args(extra)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

/// The `==== path ====` section of a render to stdout.
fn section<'a>(out: &'a str, path: &str) -> &'a str {
    let head = format!("==== {path} ====\n");
    let start = out.find(&head).unwrap_or_else(|| panic!("no {path} in {out}")) + head.len();
    let rest = &out[start..];
    &rest[..rest.find("\n==== ").unwrap_or(rest.len())]
}

fn policy(out: &str) -> serde_json::Value {
    serde_json::from_str(section(out, "iam/demo/policy.json")).unwrap()
}

#[test]
fn the_newest_version_with_parameters_substituted_and_in_the_partition() {
    let dir = tempfile::tempdir().unwrap();
    demo_presets(dir.path(), "");
    // China: `arn:aws:` becomes `arn:aws-cn:` after substitution.
    let (code, out, err) = render_demo(
        dir.path(),
        &[
            "--region",
            "cn-north-1",
            "--oidc-issuer",
            "https://oidc.eks.cn-north-1.amazonaws.com.cn/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
            "--set",
            "demo.bucketNames=backups-1,backups-2",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        section(&out, "iam/demo/policy.json"),
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Buckets",
      "Effect": "Allow",
      "Action": [
        "s3:PutObject",
        "s3:DeleteObject"
      ],
      "Resource": [
        "arn:aws-cn:s3:::backups-1/*",
        "arn:aws-cn:s3:::backups-2/*"
      ]
    },
    {
      "Sid": "Zones",
      "Effect": "Allow",
      "Action": "route53:ChangeResourceRecordSets",
      "Resource": "arn:aws-cn:route53:::hostedzone/*"
    },
    {
      "Sid": "List",
      "Effect": "Allow",
      "Action": "route53:ListHostedZones",
      "Resource": "*"
    }
  ]
}"#
    );
}

#[test]
fn version_picks_the_newest_entry_not_after_it() {
    let dir = tempfile::tempdir().unwrap();
    demo_presets(dir.path(), "");
    let actions = |v: &str| {
        let (code, out, err) = render_demo(
            dir.path(),
            &["--set", "demo.bucketNames=b-1", "--set", &format!("demo.version={v}")],
        );
        assert_eq!(code, Some(0), "{v}: {err}");
        policy(&out)["Statement"][0]["Action"].clone()
    };
    let v1 = serde_json::json!(["s3:GetObject", "s3:PutObject"]);
    let v2 = serde_json::json!(["s3:PutObject", "s3:DeleteObject"]);
    // At each boundary and one past it; the `v` is optional.
    assert_eq!(actions("v1.0.0"), v1);
    assert_eq!(actions("1.4.99"), v1);
    assert_eq!(actions("v1.5.0"), v2);
    assert_eq!(actions("v9.0.0"), v2);
    let (code, _, err) = render_demo(
        dir.path(),
        &["--set", "demo.bucketNames=b-1", "--set", "demo.version=v0.9.9"],
    );
    assert_eq!(code, Some(2));
    assert!(
        err.contains("invalid presets.demo.version `v0.9.9`: is older than the oldest version preset `demo` has a policy for, v1.0.0; use v1.0.0 or newer"),
        "{err}"
    );
    let (code, _, err) = render_demo(
        dir.path(),
        &["--set", "demo.bucketNames=b-1", "--set", "demo.version=1.5"],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("must be a version `vMAJOR.MINOR.PATCH`"), "{err}");
}

#[test]
fn narrow_applies_only_when_its_parameter_is_set() {
    let dir = tempfile::tempdir().unwrap();
    demo_presets(dir.path(), "");
    let (code, out, err) = render_demo(
        dir.path(),
        &["--set", "demo.bucketNames=b-1", "--set", "demo.hostedZoneIds=Z111,Z222"],
    );
    assert_eq!(code, Some(0), "{err}");
    let p = policy(&out);
    assert_eq!(
        p["Statement"][1]["Resource"],
        serde_json::json!(["arn:aws:route53:::hostedzone/Z111", "arn:aws:route53:::hostedzone/Z222"])
    );
    // The other statements are as upstream wrote them (after substitution).
    assert_eq!(p["Statement"][2]["Resource"], "*");
    assert_eq!(p["Statement"][0]["Resource"], serde_json::json!(["arn:aws:s3:::b-1/*"]));
}

#[test]
fn parameter_errors_name_the_preset_the_parameter_and_an_example() {
    let dir = tempfile::tempdir().unwrap();
    demo_presets(dir.path(), "");
    let (code, out, err) = render_demo(dir.path(), &[]);
    assert_eq!(code, Some(2));
    assert!(out.is_empty());
    assert!(
        err.contains("presets.demo.parameters.bucketNames is required: preset `demo` needs parameter `bucketNames` (buckets the controller writes to); set it with `--set demo.bucketNames=my-backups` or in irsagen.yaml under `presets.demo.parameters.bucketNames`"),
        "{err}"
    );
    let (code, _, err) = render_demo(dir.path(), &["--set", "demo.bucketNames=Bad_Bucket"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("invalid presets.demo.parameters.bucketNames `Bad_Bucket`: must be an S3 bucket name"),
        "{err}"
    );
    assert!(err.contains("for example `my-backups`"), "{err}");
    let (code, _, err) = render_demo(
        dir.path(),
        &["--set", "demo.bucketNames=b-1", "--set", "demo.hostedZoneId=Z1"],
    );
    assert_eq!(code, Some(2));
    assert!(
        err.contains("`hostedZoneId`: is neither a field nor a parameter; parameters of preset `demo`: bucketNames, hostedZoneIds; fields: namespace,"),
        "{err}"
    );
    // The mechanisms the preset declares are the modes it renders in.
    let (code, _, err) = render_demo(dir.path(), &["--set", "demo.bucketNames=b-1", "--mode", "pod-identity"]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn an_undeclared_mechanism_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    demo_presets(dir.path(), "");
    let yaml = std::fs::read_to_string(dir.path().join("demo.yaml")).unwrap();
    let irsa_only = yaml.replace(
        "  podIdentity: {minVersion: v1.2.0, source: \"test: the SDK of v1.2.0\"}\n",
        "",
    );
    assert_ne!(irsa_only, yaml);
    std::fs::write(dir.path().join("demo.yaml"), irsa_only).unwrap();
    let (code, _, err) = render_demo(dir.path(), &["--set", "demo.bucketNames=b-1", "--mode", "both"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("invalid presets.demo.identityMode `both`: preset `demo` does not declare support for EKS Pod Identity; it supports: irsa"),
        "{err}"
    );
}

/// A preset that declares no `mechanisms` is IRSA only: Pod Identity is claimed only with a cited
/// minimum version.
#[test]
fn a_preset_without_mechanisms_is_irsa_only() {
    let dir = tempfile::tempdir().unwrap();
    demo_presets(dir.path(), "");
    let yaml = std::fs::read_to_string(dir.path().join("demo.yaml")).unwrap();
    let undeclared = yaml.replace(
        "mechanisms:\n  irsa: {}\n  podIdentity: {minVersion: v1.2.0, source: \"test: the SDK of v1.2.0\"}\n",
        "",
    );
    assert_ne!(undeclared, yaml);
    std::fs::write(dir.path().join("demo.yaml"), undeclared).unwrap();
    for mode in ["pod-identity", "both"] {
        let (code, _, err) = render_demo(dir.path(), &["--set", "demo.bucketNames=b-1", "--mode", mode]);
        assert_eq!(code, Some(2), "{mode}: {err}");
        assert!(
            err.contains(&format!("invalid presets.demo.identityMode `{mode}`: preset `demo` does not declare support for EKS Pod Identity; it supports: irsa")),
            "{err}"
        );
    }
    let (code, _, err) = render_demo(dir.path(), &["--set", "demo.bucketNames=b-1", "--mode", "irsa"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = presets_cmd(dir.path(), &["show", "demo"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("Mechanisms      irsa (not declared: IRSA only)"), "{out}");
    assert!(
        out.contains("  iam/demo/trust-policy.json (with --oidc-issuer)\n"),
        "{out}"
    );
}

/// The config file takes lists as YAML lists; version, policy and parameters are recorded in the
/// manifest, and the folder renders again from it (`apply --from`).
#[test]
fn config_file_parameters_are_recorded_and_rerender() {
    let dir = tempfile::tempdir().unwrap();
    let presets = dir.path().join("presets");
    demo_presets(&presets, "");
    let cfg = dir.path().join("irsagen.yaml");
    std::fs::write(
        &cfg,
        "cluster: smallest-cluster\nregion: us-east-1\naccount: \"123456789012\"\npresets:\n  demo:\n    version: v1.0.0\n    policy: document\n    parameters:\n      bucketNames: [b-1, b-2]\n      hostedZoneIds: Z9\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = irsagen()
        .args(["render", "--config", cfg.to_str().unwrap(), "--presets-dir"])
        .arg(&presets)
        .arg("--out-dir")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("iam/demo/policy.json")).unwrap()).unwrap();
    assert_eq!(
        doc["Statement"][0]["Resource"],
        serde_json::json!(["arn:aws:s3:::b-1/*", "arn:aws:s3:::b-2/*"])
    );
    assert_eq!(doc["Statement"][1]["Resource"], "arn:aws:route53:::hostedzone/Z9");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(irsagen::emit::manifest::NAME)).unwrap()).unwrap();
    assert_eq!(
        manifest["inputs"]["overrides"]["demo"],
        serde_json::json!({"version": "v1.0.0", "policy": "document", "parameters": {"bucketNames": ["b-1", "b-2"], "hostedZoneIds": "Z9"}})
    );
    let renderer = irsagen::render::Renderer::new(Some(&presets), None).unwrap();
    let again = irsagen::reviewed::load(&renderer, &out, "apply", Default::default()).unwrap();
    assert_eq!(again.components[0].policy_version.as_deref(), Some("v1.0.0"));
    // The guide's presets record none of these keys (their manifests are unchanged).
    let guide = dir.path().join("guide");
    let o = render_cmd(&["--out-dir", guide.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success());
    let m = std::fs::read_to_string(guide.join(irsagen::emit::manifest::NAME)).unwrap();
    for key in ["\"parameters\"", "\"version\"", "\"policy\""] {
        assert!(!m.contains(key), "{key} in {m}");
    }
}

/// A preset file that breaks a rule of the format is refused at load, naming the file and field.
#[test]
fn bad_preset_files_name_the_file_and_the_field() {
    for (first, second, expect) in [
        (
            "v1.5.0",
            "v1.0.0",
            "policy.versions[1].from `v1.0.0`: must be newer than the entry before it (`v1.5.0`)",
        ),
        (
            "v1.0.0",
            "v1.0.0",
            "policy.versions[1].from `v1.0.0`: must be newer than the entry before it",
        ),
        (
            "v1.0.0",
            "v1.0",
            "policy.versions[1].from `v1.0`: must be a version `vMAJOR.MINOR.PATCH`",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        demo_presets(dir.path(), "");
        let p = dir.path().join("demo.yaml");
        let yaml = std::fs::read_to_string(&p)
            .unwrap()
            .replacen("from: v1.5.0", "from: SECOND", 1)
            .replacen("from: v1.0.0", &format!("from: {first}"), 1)
            .replacen("from: SECOND", &format!("from: {second}"), 1);
        std::fs::write(&p, yaml).unwrap();
        let (code, _, err) = render_demo(dir.path(), &["--set", "demo.bucketNames=b-1"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("demo.yaml"), "{err}");
        assert!(err.contains(expect), "{expect}\n{err}");
    }
    for (extra_or_edit, expect) in [
        (
            "default: aws-managed",
            "policy.default `aws-managed`: needs `policy.awsManaged`",
        ),
        ("bad", "unknown field `bad`"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        demo_presets(
            dir.path(),
            &format!("  {extra_or_edit}: x\n").replace("aws-managed: x", "aws-managed"),
        );
        let (code, _, err) = render_demo(dir.path(), &["--set", "demo.bucketNames=b-1"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("demo.yaml"), "{err}");
        assert!(err.contains(expect), "{err}");
    }
    for (from, to, expect) in [
        (
            "\"{{bucketNames}}\"",
            "\"{bucket}\"",
            "policy.substitute.${BUCKET} `{bucket}`: uses `{bucket}`, which is neither one of {partition}, {region}, {account}, {cluster} nor a declared parameter (bucketNames, hostedZoneIds)",
        ),
        (
            "\"${{BUCKET}}\":",
            "\"${BUCKETS}\":",
            "policy.substitute.${BUCKETS} `${BUCKETS}`: does not occur in the preset's policy documents",
        ),
        (
            "resource: \"arn:aws:route53:::hostedzone/*\"",
            "resource: \"arn:aws:route53:::hostedzone\"",
            "policy.narrow[0].resource `arn:aws:route53:::hostedzone`: is not a `Resource` element",
        ),
        (
            "parameter: hostedZoneIds",
            "parameter: zones",
            "policy.narrow[0].parameter `zones`: is not a declared parameter",
        ),
        (
            "example: my-backups",
            "example: My_Backups",
            "parameters.bucketNames.example `My_Backups`: must be an S3 bucket name",
        ),
        ("format: s3-bucket-name", "format: bucket", "unknown variant `bucket`"),
        (
            "minVersion: v1.2.0",
            "minVersion: latest",
            "mechanisms.podIdentity.minVersion `latest`",
        ),
        (
            "  bucketNames:\n",
            "  version:\n",
            "parameters.version `version`: is the name of an override field",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        demo_presets(dir.path(), "");
        let p = dir.path().join("demo.yaml");
        let yaml = std::fs::read_to_string(&p).unwrap();
        let from = from.replace("{{", "{").replace("}}", "}");
        assert!(yaml.contains(&from), "{from} not in {yaml}");
        std::fs::write(&p, yaml.replacen(&from, to, 1)).unwrap();
        let (code, _, err) = render_demo(dir.path(), &["--set", "demo.bucketNames=b-1"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("demo.yaml"), "{err}");
        assert!(err.contains(expect), "{expect}\n{err}");
    }
}

/// `policy: aws-managed` picks the preset's AWS managed ARNs, in the cluster's partition; what
/// that means for each artifact is the chart/apply side's (the component only carries it).
#[test]
fn aws_managed_choice_gives_partition_correct_arns() {
    let dir = tempfile::tempdir().unwrap();
    demo_presets(
        dir.path(),
        &format!(
            "  awsManaged:\n    arns: [policy/AmazonS3ReadOnlyAccess, policy/service-role/AmazonEFSCSIDriverPolicy]\n    source: {SOURCE}\n"
        ),
    );
    let renderer = irsagen::render::Renderer::new(Some(dir.path()), None).unwrap();
    let mut inputs = guide_inputs();
    inputs.region = Some("us-gov-west-1".into());
    inputs.oidc_issuer = None;
    let ctx = irsagen::context::Context::new(&inputs).unwrap();
    let overrides = |kind: Option<&str>, buckets: bool| {
        let mut m = std::collections::BTreeMap::new();
        if let Some(k) = kind {
            irsagen::overrides::apply_set(&mut m, &format!("demo.policy={k}")).unwrap();
        }
        if buckets {
            irsagen::overrides::apply_set(&mut m, "demo.bucketNames=b-1").unwrap();
        }
        vec![("demo".to_string(), m.remove("demo").unwrap_or_default())]
    };
    // A required parameter is required whatever the policy (a chart's values may use it too).
    assert!(
        renderer
            .components(&ctx, &overrides(Some("aws-managed"), false))
            .is_err()
    );
    let c = &renderer
        .components(&ctx, &overrides(Some("aws-managed"), true))
        .unwrap()[0];
    assert_eq!(c.policy_kind, irsagen::preset::PolicyKind::AwsManaged);
    assert_eq!(
        c.aws_managed_policy_arns,
        [
            "arn:aws-us-gov:iam::aws:policy/AmazonS3ReadOnlyAccess",
            "arn:aws-us-gov:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"
        ]
    );
    // The default stays `document`, which needs the bucket.
    let c = &renderer.components(&ctx, &overrides(None, true)).unwrap()[0];
    assert_eq!(c.policy_kind, irsagen::preset::PolicyKind::Document);
    assert!(c.aws_managed_policy_arns.is_empty());
    assert!(renderer.components(&ctx, &overrides(None, false)).is_err());
    // A malformed ARN suffix is refused at load.
    let p = dir.path().join("demo.yaml");
    let yaml = std::fs::read_to_string(&p)
        .unwrap()
        .replace("policy/AmazonS3ReadOnlyAccess", "AmazonS3ReadOnlyAccess");
    std::fs::write(&p, yaml).unwrap();
    let e = irsagen::render::Renderer::new(Some(dir.path()), None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("policy.awsManaged.arns `AmazonS3ReadOnlyAccess`: must be the part of an AWS managed policy ARN"),
        "{e}"
    );
}

/// `irsagen presets ARGS --presets-dir DIR`: (exit code, stdout, stderr).
fn presets_cmd(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let o = irsagen()
        .arg("presets")
        .args(args)
        .arg("--presets-dir")
        .arg(dir)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

const AWS_MANAGED: &str = "  awsManaged:\n    arns: [policy/AmazonS3ReadOnlyAccess]\n    source: {document: AWS managed policy reference, repository: https://docs.aws.amazon.com, path: p, commit: none, date: \"2026-01-01\"}\n";

#[test]
fn presets_list_shows_mechanisms_versions_parameters_and_policy_choices() {
    let dir = tempfile::tempdir().unwrap();
    demo_presets(dir.path(), AWS_MANAGED);
    let (code, out, err) = presets_cmd(dir.path(), &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(
            "demo                 demo/demo-controller          A controller that writes to buckets and changes DNS records\n                     mechanisms: irsa, pod-identity >= v1.2.0; versions: v1.0.0, v1.5.0 (default); parameters: bucketNames (required), hostedZoneIds; policy: document (default), aws-managed\n"
        ),
        "{out}"
    );
    let (code, out, _) = presets_cmd(dir.path(), &["--markdown"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("| `demo` | `demo/demo-controller` | - | irsa, pod-identity >= v1.2.0 | v1.0.0, v1.5.0 (default) | bucketNames (required), hostedZoneIds | document (default), aws-managed |\n"),
        "{out}"
    );
}

#[test]
fn presets_show_lists_versions_parameters_and_policy_choices() {
    let dir = tempfile::tempdir().unwrap();
    demo_presets(dir.path(), AWS_MANAGED);
    let (code, out, err) = presets_cmd(dir.path(), &["show", "demo"]);
    assert_eq!(code, Some(0), "{err}");
    for line in [
        "Mechanisms      irsa; pod-identity (from v1.2.0: test: the SDK of v1.2.0)\n",
        "Identity modes  irsa, pod-identity, both (--mode, or --set PRESET.identityMode=)\n",
        "Policy          DemoPolicy (3 statements, 4 actions, 360 characters without whitespace), newest version\n",
        "  v1.0.0  policies/demo/v1.0.0.json (commit 0123456789abcdef0123456789abcdef01234567, 2026-01-01)\n",
        "  v1.5.0 (default)  policies/demo/v1.5.0.json (commit 0123456789abcdef0123456789abcdef01234567, 2026-01-01)\n",
        "  document (default)     customer managed policy DemoPolicy from the document above\n",
        "  aws-managed  attach arn:<partition>:iam::aws:policy/AmazonS3ReadOnlyAccess\n",
        "  bucketNames  list of s3-bucket-name, required, e.g. my-backups\n      buckets the controller writes to\n",
        "  hostedZoneIds  list of route53-hosted-zone-id, optional, e.g. Z0123456789ABCDEFGHIJ\n      hosted zones it may change (default every zone)\n      narrows Resource arn:aws:route53:::hostedzone/* to arn:aws:route53:::hostedzone/{hostedZoneIds}\n",
    ] {
        assert!(out.contains(line), "`{line}` not in:\n{out}");
    }
}

#[test]
fn presets_diff_prints_the_document_change_and_the_actions() {
    let dir = tempfile::tempdir().unwrap();
    demo_presets(dir.path(), "");
    // v1.5.3 is covered by the v1.5.0 entry.
    let (code, out, err) = presets_cmd(dir.path(), &["diff", "demo", "v1.0.0", "v1.5.3"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        r#"demo v1.0.0 uses the policy of v1.0.0 (policies/demo/v1.0.0.json); v1.5.3 uses v1.5.0 (policies/demo/v1.5.0.json)
--- demo v1.0.0
+++ demo v1.5.0
@@ -5,8 +5,8 @@
       "Sid": "Buckets",
       "Effect": "Allow",
       "Action": [
-        "s3:GetObject",
-        "s3:PutObject"
+        "s3:PutObject",
+        "s3:DeleteObject"
       ],
       "Resource": [
         "arn:aws:s3:::${BUCKET}/*"
@@ -17,6 +17,12 @@
       "Effect": "Allow",
       "Action": "route53:ChangeResourceRecordSets",
       "Resource": "arn:aws:route53:::hostedzone/*"
+    },
+    {
+      "Sid": "List",
+      "Effect": "Allow",
+      "Action": "route53:ListHostedZones",
+      "Resource": "*"
     }
   ]
 }
added actions: route53:ListHostedZones, s3:DeleteObject
removed actions: s3:GetObject
"#
    );
    // Two versions of one entry: no change.
    let (code, out, _) = presets_cmd(dir.path(), &["diff", "demo", "v1.0.0", "1.4.9"]);
    assert_eq!(code, Some(0));
    assert!(out.ends_with("same document: no change\n"), "{out}");
    for (args, expect) in [
        (
            ["diff", "demo", "v0.9.0", "v1.5.0"],
            "invalid presets diff FROM `v0.9.0`: is older than the oldest version preset `demo` has a policy for, v1.0.0",
        ),
        (
            ["diff", "demo", "v1.0.0", "latest"],
            "invalid presets diff TO `latest`: must be a version",
        ),
        (["diff", "nope", "v1.0.0", "v1.5.0"], "unknown preset `nope`"),
        (
            ["diff", "ebs-csi-driver", "v1.0.0", "v1.5.0"],
            "has one policy document for every controller version",
        ),
    ] {
        let (code, out, err) = presets_cmd(dir.path(), &args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(out.is_empty());
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}

/// A document made for one cluster (parameters, an older version) gets a per-cluster policy
/// name: a policy name is account-wide, and clusters with other buckets must not overwrite it.
#[test]
fn a_document_made_for_the_cluster_gets_a_per_cluster_policy_name() {
    let dir = tempfile::tempdir().unwrap();
    demo_presets(dir.path(), "");
    let renderer = irsagen::render::Renderer::new(Some(dir.path()), None).unwrap();
    let ctx = irsagen::context::Context::new(&guide_inputs()).unwrap();
    let name = |sets: &[&str]| {
        let mut m = std::collections::BTreeMap::new();
        for s in sets {
            irsagen::overrides::apply_set(&mut m, s).unwrap();
        }
        let sel = vec![("demo".to_string(), m.remove("demo").unwrap_or_default())];
        renderer.components(&ctx, &sel).unwrap()[0].policy_name.clone()
    };
    assert_eq!(name(&["demo.bucketNames=b-1"]), "DemoPolicy-smallest-cluster");
    assert_eq!(
        name(&["demo.bucketNames=b-1", "demo.policyName=Mine"]),
        "Mine",
        "an explicit name wins"
    );
    // Without substitution or narrowing the newest document is the preset's own: the plain name.
    let yaml = std::fs::read_to_string(dir.path().join("demo.yaml")).unwrap();
    let i = yaml.find("  substitute:").unwrap();
    std::fs::write(dir.path().join("demo.yaml"), &yaml[..i]).unwrap();
    for f in ["v1.0.0", "v1.5.0"] {
        let p = dir.path().join(format!("policies/demo/{f}.json"));
        std::fs::write(&p, std::fs::read_to_string(&p).unwrap().replace("${BUCKET}", "fixed")).unwrap();
    }
    let renderer = irsagen::render::Renderer::new(Some(dir.path()), None).unwrap();
    let name = |sets: &[&str]| {
        let mut m = std::collections::BTreeMap::new();
        for s in sets {
            irsagen::overrides::apply_set(&mut m, s).unwrap();
        }
        let sel = vec![("demo".to_string(), m.remove("demo").unwrap_or_default())];
        renderer.components(&ctx, &sel).unwrap()[0].policy_name.clone()
    };
    assert_eq!(name(&["demo.bucketNames=b-1"]), "DemoPolicy");
    assert_eq!(
        name(&["demo.bucketNames=b-1", "demo.version=v1.0.0"]),
        "DemoPolicy-smallest-cluster"
    );
}

/// The config file's schema (`irsagen schema`) takes the new keys, in their shapes only.
#[test]
fn the_config_schema_takes_parameters_version_and_policy() {
    let o = irsagen().arg("schema").output().unwrap();
    assert!(o.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let with = |o: serde_json::Value| serde_json::json!({"presets": {"velero": o}});
    assert!(v.is_valid(&with(serde_json::json!({
        "version": "v1.15.0",
        "policy": "aws-managed",
        "parameters": {"bucketNames": ["a-1", "b-2"], "prefix": "x"}
    }))));
    assert!(!v.is_valid(&with(serde_json::json!({"policy": "managed"}))));
    assert!(!v.is_valid(&with(serde_json::json!({"parameters": {"n": 1}}))));
    assert!(!v.is_valid(&with(serde_json::json!({"parameters": ["a"]}))));
}

/// A preset with only AWS managed policies: no document, no policy name; `document` is refused.
#[test]
fn a_preset_with_only_aws_managed_policies() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cni.yaml"),
        format!(
            "name: cni\ndescription: a node agent\nserviceAccount: {{namespace: kube-system, name: aws-node}}\npolicy:\n  default: aws-managed\n{AWS_MANAGED}"
        ),
    )
    .unwrap();
    let renderer = irsagen::render::Renderer::new(Some(dir.path()), None).unwrap();
    let ctx = irsagen::context::Context::new(&guide_inputs()).unwrap();
    let sel = |o: irsagen::overrides::PresetOverrides| vec![("cni".to_string(), o)];
    let c = &renderer.components(&ctx, &sel(Default::default())).unwrap()[0];
    assert_eq!(
        c.aws_managed_policy_arns,
        ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]
    );
    assert!(c.policy_document.is_null());
    let e = renderer
        .components(
            &ctx,
            &sel(irsagen::overrides::PresetOverrides {
                policy: Some(irsagen::preset::PolicyKind::Document),
                ..Default::default()
            }),
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("preset `cni` has no policy document of its own, only AWS managed policies; use `aws-managed`"),
        "{e}"
    );
    // `default: document` (the default) without a document is refused at load.
    let yaml = std::fs::read_to_string(dir.path().join("cni.yaml"))
        .unwrap()
        .replace("  default: aws-managed\n", "");
    std::fs::write(dir.path().join("cni.yaml"), yaml).unwrap();
    let e = irsagen::render::Renderer::new(Some(dir.path()), None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("cni.yaml: policy.default `document`: is `document` (the default) but the preset has no document"),
        "{e}"
    );
}

/// `substitute` applies to a `policyVariant` document too, which then gets a per-cluster name.
#[test]
fn a_variant_document_is_substituted_too() {
    let dir = tempfile::tempdir().unwrap();
    demo_presets(
        dir.path(),
        &format!(
            "  variants:\n    read-only:\n      about: reads only\n      name: DemoReadOnly\n      documentFile: policies/demo/ro.json\n      source: {SOURCE}\n"
        ),
    );
    std::fs::write(
        dir.path().join("policies/demo/ro.json"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::${BUCKET}/*"}]}"#,
    )
    .unwrap();
    let (code, out, err) = render_demo(
        dir.path(),
        &[
            "--set",
            "demo.bucketNames=b-1,b-2",
            "--set",
            "demo.policyVariant=read-only",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        policy(&out)["Statement"][0]["Resource"],
        serde_json::json!(["arn:aws:s3:::b-1/*", "arn:aws:s3:::b-2/*"])
    );
    assert!(out.contains("DemoReadOnly-smallest-cluster"), "{out}");
}

/// An upstream addition (a custom KMS key's statements) in its own file, with a placeholder.
const KMS: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["kms:CreateGrant"],"Resource":["custom-key-arn"],"Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}},
  {"Effect":"Allow","Action":["kms:Decrypt"],"Resource":["custom-key-arn"]}
]}"#;

/// The demo preset with an optional `kmsKeyArns` parameter and an `extend` entry using it;
/// `edit` is applied to the YAML (from, to) before it is written back.
fn demo_with_extension(dir: &Path, edit: Option<(&str, &str)>) {
    demo_presets(
        dir,
        &format!(
            "  extend:\n    - parameter: kmsKeyArns\n      documentFile: policies/demo/kms.json\n      substitute: {{custom-key-arn: \"{{kmsKeyArns}}\"}}\n      source: {SOURCE}\n  awsManaged:\n    arns: [policy/AmazonS3ReadOnlyAccess]\n    source: {SOURCE}\n"
        ),
    );
    std::fs::write(dir.join("policies/demo/kms.json"), KMS).unwrap();
    let p = dir.join("demo.yaml");
    let mut yaml = std::fs::read_to_string(&p).unwrap().replacen(
        "parameters:\n",
        "parameters:\n  kmsKeyArns:\n    type: list\n    format: kms-key-arn\n    example: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\n    about: keys the volumes are encrypted with\n",
        1,
    );
    if let Some((from, to)) = edit {
        assert!(yaml.contains(from), "{from} not in {yaml}");
        yaml = yaml.replacen(from, to, 1);
    }
    std::fs::write(&p, yaml).unwrap();
}

const KEY_A: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const KEY_B: &str = "arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef";

#[test]
fn extend_appends_upstreams_statements_only_when_its_parameter_is_set() {
    let dir = tempfile::tempdir().unwrap();
    demo_with_extension(dir.path(), None);
    let (code, plain, err) = render_demo(dir.path(), &["--set", "demo.bucketNames=b-1"]);
    assert_eq!(code, Some(0), "{err}");
    let plain = policy(&plain);
    assert_eq!(plain["Statement"].as_array().unwrap().len(), 3, "{plain}");
    assert!(!plain.to_string().contains("kms:"), "{plain}");

    let keys = format!("demo.kmsKeyArns={KEY_A},{KEY_B}");
    let (code, out, err) = render_demo(dir.path(), &["--set", "demo.bucketNames=b-1", "--set", &keys]);
    assert_eq!(code, Some(0), "{err}");
    let doc = policy(&out);
    let st = doc["Statement"].as_array().unwrap();
    // The preset's own statements first, unchanged; then upstream's two, on the given keys only.
    assert_eq!(st[..3], plain["Statement"].as_array().unwrap()[..]);
    assert_eq!(st.len(), 5, "{doc}");
    for s in &st[3..] {
        assert_eq!(s["Resource"], serde_json::json!([KEY_A, KEY_B]), "{doc}");
    }
    assert_eq!(st[3]["Condition"]["Bool"]["kms:GrantIsForAWSResource"], "true");
    assert_eq!(st[4]["Action"], serde_json::json!(["kms:Decrypt"]));
    // A document made for this cluster's keys: a per-cluster policy name.
    assert!(out.contains("DemoPolicy-smallest-cluster"), "{out}");
    let (code, show, err) = presets_cmd(dir.path(), &["show", "demo"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(show.contains("      adds the statements of policies/demo/kms.json (a test https://example.com/r p.json, commit 0123456789abcdef0123456789abcdef01234567)"), "{show}");
}

#[test]
fn extend_with_aws_managed_policies_is_refused_naming_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    demo_with_extension(dir.path(), None);
    let keys = format!("demo.kmsKeyArns={KEY_A}");
    let (code, out, err) = render_demo(
        dir.path(),
        &[
            "--set",
            "demo.bucketNames=b-1",
            "--set",
            "demo.policy=aws-managed",
            "--set",
            &keys,
        ],
    );
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains(&format!("presets.demo.kmsKeyArns `{KEY_A}`")), "{err}");
    assert!(err.contains("cannot be extended"), "{err}");
    // Without the parameter the AWS managed choice renders.
    let (code, _, err) = render_demo(
        dir.path(),
        &["--set", "demo.bucketNames=b-1", "--set", "demo.policy=aws-managed"],
    );
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn bad_extend_entries_name_the_file_and_the_field() {
    for (from, to, expect) in [
        (
            "parameter: kmsKeyArns",
            "parameter: keys",
            "policy.extend[0].parameter `keys`: is not a declared parameter",
        ),
        (
            "    about: keys the volumes are encrypted with\n",
            "    about: keys the volumes are encrypted with\n    required: true\n",
            "policy.extend[0].parameter `kmsKeyArns`: is a required parameter",
        ),
        (
            "{custom-key-arn:",
            "{custom-kee:",
            "policy.extend[0].substitute.custom-kee `custom-kee`: does not occur in `policies/demo/kms.json`",
        ),
        (
            "\"{kmsKeyArns}\"}",
            "\"{bucketNames}\"}",
            "policy.extend[0].substitute `{bucketNames}`: must use `{kmsKeyArns}`",
        ),
        (
            "documentFile: policies/demo/kms.json",
            "documentFile: ../kms.json",
            "policy.extend[0].documentFile",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        demo_with_extension(dir.path(), Some((from, to)));
        let (code, _, err) = render_demo(dir.path(), &["--set", "demo.bucketNames=b-1"]);
        assert_eq!(code, Some(2), "{from} -> {to}: {err}");
        assert!(err.contains("demo.yaml"), "{err}");
        assert!(err.contains(expect), "{expect}\n{err}");
    }
}
