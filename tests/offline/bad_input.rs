//! Bad input: refused with a message naming field, value and rule, exit 2, nothing written;
//! or, where the value is legal, escaped so it cannot change the structure of any file.

use crate::support::*;
use serde_json::Value;

/// Runs render into a populated out dir and checks: exit 2, the message, and the dir unchanged.
fn refused(extra: &[&str], expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // `output()`, not `status()`: the child's "wrote …" lines stay out of the test log.
    let first = render_cmd(&["--out-dir", out.to_str().unwrap()]).output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let before = tree(&out);
    let mut cmd = render_cmd(&["--out-dir", out.to_str().unwrap()]);
    cmd.args(extra);
    let o = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{extra:?}: {stderr}");
    for e in expect {
        assert!(stderr.contains(e), "{extra:?}: expected `{e}` in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(tree(&out), before, "{extra:?} changed the output directory");
}

#[test]
fn each_invalid_field_is_refused_and_named() {
    refused(
        &["--cluster", "bad name"],
        &["--cluster", "`bad name`", "EKS cluster name"],
    );
    refused(&["--cluster", &"c".repeat(101)], &["--cluster", "1-100"]);
    refused(
        &["--account", "12345678901"],
        &["--account", "`12345678901`", "12 digits"],
    );
    refused(&["--account", "12345678901x"], &["--account", "12 digits"]);
    refused(&["--region", "us-east-99"], &["--region", "`us-east-99`"]);
    refused(&["--region", "Mars"], &["--region", "`Mars`"]);
    refused(&["--partition", "aws-cn"], &["--partition", "`aws-cn`", "us-east-1"]);
    refused(&["--partition", "azure"], &["--partition", "`azure`"]);
    refused(&["--oidc-issuer", "http://oidc.example"], &["--oidc-issuer", "https"]);
    refused(
        &["--oidc-issuer", "https://x.example/a?b=c"],
        &["--oidc-issuer", "query"],
    );
    refused(
        &["--set", "cluster-autoscaler.namespace=Kube-System"],
        &["presets.cluster-autoscaler.namespace", "DNS-1123"],
    );
    refused(
        &["--set", "ebs-csi-driver.serviceAccount=-sa"],
        &["presets.ebs-csi-driver.serviceAccount", "`-sa`"],
    );
    refused(
        &["--set", &format!("ebs-csi-driver.roleName={}", "r".repeat(65))],
        &["presets.ebs-csi-driver.roleName", "1-64"],
    );
    refused(
        &["--set", "ebs-csi-driver.policyName=a/b"],
        &["presets.ebs-csi-driver.policyName", "`a/b`"],
    );
    refused(
        &["--set", "ebs-csi-driver.tags.aws:owner=me"],
        &["presets.ebs-csi-driver.tags.aws:owner", "aws:"],
    );
    refused(&["--set", "ebs-csi-driver.tags.managed-by=me"], &["reserved"]);
    refused(
        &["--set", "ebs-csi-driver.tags.x=a\"b"],
        &["presets.ebs-csi-driver.tags.x", "tag value"],
    );
    refused(
        &["--set", "cluster-autoscaler.chartLayout=flat"],
        &["chartLayout", "`flat`", "umbrella"],
    );
    refused(
        &["--set", "ebs-csi-driver.chartLayout=standalone"],
        &["only applies to presets with a Helm chart"],
    );
    refused(
        &["--set", "ebs-csi-driver.serviceAccountCreatedBy=helm"],
        &["needs a preset with a Helm chart"],
    );
    refused(
        &["--set", "cluster-autoscaler.serviceAccountCreatedBy=addon"],
        &[
            "presets.cluster-autoscaler.serviceAccountCreatedBy",
            "needs a preset installed as an EKS addon",
        ],
    );
    refused(
        &["--set", "ebs-csi-driver.serviceAccountCreatedBy=operator"],
        &["operator", "must be `eksctl`, `helm` or `addon`"],
    );
    // A name that is no field may be a parameter; the preset has none, so both lists are shown.
    refused(
        &["--set", "efs-csi-driver.bogus=1"],
        &[
            "presets.efs-csi-driver `bogus`: is neither a field nor a parameter; preset `efs-csi-driver` has no parameters; fields: namespace,",
        ],
    );
    refused(&["--set", "ebs-csi-driver.bogus-x=1"], &["unknown field `bogus-x`"]);
    refused(
        &["--set", "ebs-csi-driver.version=v1.0.0"],
        &[
            "presets.ebs-csi-driver.version",
            "one policy document for every controller version",
        ],
    );
    refused(
        &["--set", "cluster-autoscaler.policy=aws-managed"],
        &["has no AWS managed policy to attach"],
    );
    refused(
        &["--set", "ebs-csi-driver.policy=managed"],
        &["must be `document` or `aws-managed`"],
    );
    refused(&["--set", "nopreset"], &["PRESET.FIELD=VALUE"]);
    refused(
        &["--set", "efs-csi-driver.serviceAccount=ebs-csi-controller-sa"],
        &["each ServiceAccount gets its own role"],
    );
    refused(
        &[
            "--set",
            "cluster-autoscaler.namespace=kube-system",
            "--set",
            "cluster-autoscaler.releaseNamespace=smallest",
        ],
        &["releaseNamespace", "`smallest`", "must equal namespace `kube-system`"],
    );
}

#[test]
fn unknown_preset_is_refused_with_the_known_ones() {
    refused(
        &["--preset", "no-such-preset"],
        &[
            "unknown preset `no-such-preset`",
            "cluster-autoscaler, ebs-csi-driver, efs-csi-driver",
        ],
    );
}

#[test]
fn config_file_errors_carry_location() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irsagen.yaml");
    std::fs::write(
        &cfg,
        "cluster: c\nregion: us-east-1\naccount: \"123456789012\"\nclustr: typo\n",
    )
    .unwrap();
    refused(
        &["--config", cfg.to_str().unwrap()],
        &["line 4", "unknown field `clustr`"],
    );
    std::fs::write(&cfg, "presets:\n  cluster-autoscaler:\n    namespac: x\n").unwrap();
    refused(
        &["--config", cfg.to_str().unwrap()],
        &["line 3", "unknown field `namespac`"],
    );
    std::fs::write(&cfg, "cluster: [unclosed\n").unwrap();
    refused(&["--config", cfg.to_str().unwrap()], &["irsagen.yaml"]);
}

#[test]
fn malformed_preset_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("broken.yaml"), "name: broken\ndescription: x\nserviceAccount: {namespace: default, name: x}\npolicy:\n  name: P\n  document: {Version: \"2012-10-17\", Statement: [{Effect: Allow, Action: \"not-an-action\", Resource: \"*\"}]}\n  source: {document: d, repository: r, path: p, commit: c, date: d}\n").unwrap();
    refused(
        &["--presets-dir", p.to_str().unwrap(), "--preset", "broken"],
        &["broken.yaml", "service:ActionName"],
    );
    std::fs::write(p.join("broken.yaml"), "name: other\n").unwrap();
    refused(&["--presets-dir", p.to_str().unwrap()], &["broken.yaml"]);
    std::fs::write(p.join("broken.yaml"), "name: broken\nextra: 1\n").unwrap();
    refused(&["--presets-dir", p.to_str().unwrap()], &["unknown field `extra`"]);
}

#[test]
fn a_preset_dir_adds_presets() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("external-dns.yaml"), "name: external-dns\ndescription: ExternalDNS\nserviceAccount: {namespace: external-dns, name: external-dns}\npolicy:\n  name: ExternalDNSPolicy\n  documentFile: external-dns.json\n  source: {document: upstream tutorial, repository: https://github.com/kubernetes-sigs/external-dns, path: docs/tutorials/aws.md, commit: 2bf1bf8af2b70f23579f9147c1f7e9394f7f83d5, date: \"2026-08-22\"}\n").unwrap();
    std::fs::write(p.join("external-dns.json"), r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["route53:ChangeResourceRecordSets"],"Resource":["arn:aws:route53:::hostedzone/*"]}]}"#).unwrap();
    let o = render_cmd(&["--presets-dir", p.to_str().unwrap(), "--preset", "external-dns"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8(o.stdout).unwrap();
    assert!(s.contains("==== iam/external-dns/policy.json ===="));
    assert!(s.contains("system:serviceaccount:external-dns:external-dns"));
}

#[test]
fn a_template_using_an_undefined_variable_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("kubernetes")).unwrap();
    std::fs::write(
        dir.path().join("kubernetes/serviceaccount.yaml.j2"),
        "name: {{ c.no_such_field }}\n",
    )
    .unwrap();
    refused(
        &["--templates-dir", dir.path().to_str().unwrap()],
        &["template `kubernetes/serviceaccount.yaml`", "undefined"],
    );
}

#[test]
fn a_template_that_breaks_the_identity_is_caught_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("kubernetes")).unwrap();
    // Valid YAML, wrong content: the annotation is gone. Parse-back validation refuses it.
    std::fs::write(dir.path().join("kubernetes/serviceaccount.yaml.j2"), "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ c.service_account.name }}\n  namespace: {{ c.service_account.namespace }}\n").unwrap();
    refused(
        &["--templates-dir", dir.path().to_str().unwrap()],
        &["rendered `kubernetes/", "eks.amazonaws.com/role-arn"],
    );
}

/// An override of a template irsagen no longer renders would be read and never used: refused,
/// naming the file and what replaced it. An extra template no built-in uses (an include) loads.
#[test]
fn an_override_of_a_retired_template_is_refused_naming_its_replacement() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("helm")).unwrap();
    std::fs::write(dir.path().join("helm/my-macros.yaml.j2"), "{# an include #}\n").unwrap();
    let ok = render_cmd(&["--templates-dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    std::fs::write(dir.path().join("helm/cluster-autoscaler-values.yaml.j2"), "rbac: {}\n").unwrap();
    refused(
        &["--templates-dir", dir.path().to_str().unwrap()],
        &[
            "--templates-dir",
            "helm/cluster-autoscaler-values.yaml.j2",
            "overrides template `helm/cluster-autoscaler-values.yaml`, which irsagen no longer renders",
            "helm/cluster-autoscaler-values-body.yaml",
        ],
    );
}

#[test]
fn structure_injection_is_refused_in_names() {
    for v in ["a\nb", "a: b", "{{ x }}", "a\"b", "a'b", "a#b", "a b"] {
        refused(
            &["--set", &format!("cluster-autoscaler.serviceAccount={v}")],
            &["presets.cluster-autoscaler.serviceAccount", "DNS-1123"],
        );
        refused(&["--cluster", v], &["--cluster"]);
    }
}

#[test]
fn legal_values_with_yaml_syntax_are_escaped_not_interpreted() {
    // Tag values may hold `: `, `#`-free punctuation and spaces; they reach YAML, JSON and bash.
    let nasty = "a: b @x /y =z +w";
    let o = render_cmd(&["--set", &format!("cluster-autoscaler.tags.Owner={nasty}")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let b = {
        let mut inputs = guide_inputs();
        inputs.tags.insert("Owner".into(), nasty.into());
        render(&inputs, &guide_selection()).unwrap()
    };
    let eksctl: Value = serde_saphyr::from_str(&b.get("eksctl/cluster-config.yaml").unwrap().content).unwrap();
    assert_eq!(eksctl["iam"]["serviceAccounts"][0]["tags"]["Owner"], nasty);
    let script = &b.get("setup-irsa.sh").unwrap().content;
    assert!(script.contains(r#""Owner":"a: b @x /y =z +w""#));
    // The jinja delimiters are plain text in a value, never evaluated.
    let mut inputs = guide_inputs();
    inputs.tags.insert("T".into(), "{{ ctx }}".into());
    assert!(
        render(&inputs, &guide_selection()).is_err(),
        "`{{` is not a legal tag value character"
    );
}

#[test]
fn flags_that_need_out_dir() {
    let o = render_cmd(&["--check"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--out-dir"));
}

#[test]
fn issuer_urls_need_a_dns_host_and_a_plain_path() {
    for (url, rule) in [
        (
            "https://oidc.eks.us-east-1.amazonaws.com/id/../ABC",
            "`.` or `..` segments",
        ),
        (
            "https://oidc.eks.us-east-1.amazonaws.com/./id/ABC",
            "`.` or `..` segments",
        ),
        ("https://oidc.eks.us-east-1.amazonaws.com/id/..", "`.` or `..` segments"),
        ("https://oidc.eks.us-east-1.amazonaws.com/id//ABC", "empty"),
        ("https://127.0.0.1/id/ABC", "DNS name"),
        ("https://localhost/id/ABC", "DNS name"),
        ("https://-oidc.example.com/x", "DNS name"),
        ("https://oidc..example.com/x", "DNS name"),
        ("https://oidc.example-.com/x", "DNS name"),
        ("https://user@oidc.example.com/x", "DNS name"),
        ("https://oidc.example.com:8443/x", "DNS name"),
        ("https://[::1]/x", "DNS name"),
    ] {
        refused(
            &["--oidc-issuer", url],
            &["invalid --oidc-issuer", &format!("`{url}`"), rule],
        );
    }
    let label = "a".repeat(63);
    let ok = format!("https://{label}.example.com/id/x.y-z_1");
    assert!(
        render_cmd(&["--oidc-issuer", &ok]).output().unwrap().status.success(),
        "a 63-character label passes"
    );
    let long = format!("https://{label}a.example.com/id/x");
    refused(&["--oidc-issuer", &long], &["DNS name"]);
}

#[test]
fn an_eks_issuer_of_another_region_is_refused_and_other_hosts_stay_allowed() {
    let other = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
    refused(
        &["--oidc-issuer", other],
        &[
            "--oidc-issuer",
            "region `eu-west-1`",
            "cluster is in `us-east-1`",
            "--oidc-issuer auto",
        ],
    );
    refused(
        &["--oidc-issuer", "https://OIDC.EKS.EU-WEST-1.AMAZONAWS.COM/id/X"],
        &["region `eu-west-1`"],
    );
    for (region, url) in [
        ("eu-west-1", other),
        ("cn-north-1", "https://oidc.eks.cn-north-1.amazonaws.com.cn/id/X"),
        ("us-east-1", "https://token.actions.githubusercontent.com"),
        ("us-east-1", "https://oidc.example.com/eks/us-west-2"),
    ] {
        let mut c = irsagen();
        c.args([
            "render",
            "--cluster",
            "c",
            "--account",
            "123456789012",
            "--region",
            region,
            "--oidc-issuer",
            url,
        ]);
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "{region} {url}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    refused(
        &[
            "--region",
            "cn-north-1",
            "--oidc-issuer",
            "https://oidc.eks.cn-northwest-1.amazonaws.com.cn/id/X",
        ],
        &["region `cn-northwest-1`", "cluster is in `cn-north-1`"],
    );
}

#[test]
fn reserved_tag_keys_are_refused_in_any_letter_case() {
    for key in [
        "managed-by",
        "Managed-By",
        "MANAGED-BY",
        "irsagen:cluster",
        "IrsaGen:Preset",
        "irsagen:new",
    ] {
        refused(
            &["--set", &format!("ebs-csi-driver.tags.{key}=x")],
            &[
                &format!("presets.ebs-csi-driver.tags.{key}"),
                "reserved",
                "ignore letter case",
            ],
        );
    }
    refused(&["--set", "ebs-csi-driver.tags.AWS:owner=x"], &["`aws:`"]);
    // The same rule for the config file's top-level tags.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irsagen.yaml");
    std::fs::write(&cfg, "tags: {Managed-By: terraform}\n").unwrap();
    refused(&["--config", cfg.to_str().unwrap()], &["tags.Managed-By", "reserved"]);
    // Near misses are ordinary tags.
    let o = render_cmd(&[
        "--set",
        "ebs-csi-driver.tags.managed-by-team=x",
        "--set",
        "ebs-csi-driver.tags.irsagen=x",
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn tag_keys_and_values_follow_iam_characters_and_lengths() {
    for key in ["a\"b", "a$b", "a{b", "a'b", "a;b", "a\tb", "a*b", "a,b"] {
        refused(
            &["--set", &format!("ebs-csi-driver.tags.{key}=x")],
            &["IAM tag key rules"],
        );
    }
    refused(
        &["--set", "ebs-csi-driver.tags.a\nb=x"],
        &["IAM tag key rules", "`a\\nb`"],
    );
    for v in ["a$b", "a\"b", "a\nb", "a;b", "a*b"] {
        refused(
            &["--set", &format!("ebs-csi-driver.tags.k={v}")],
            &["IAM tag value rules"],
        );
    }
    let legal_key = "Kéy 1_.:/+-@";
    let o = render_cmd(&["--set", &format!("ebs-csi-driver.tags.{legal_key}=Välue 2_.:/=+-@")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Lengths count characters: 128 (key) and 256 (value) pass, one more fails.
    let at = |n: usize| "é".repeat(n);
    let ok = render_cmd(&["--set", &format!("ebs-csi-driver.tags.{}={}", at(128), at(256))])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    refused(&["--set", &format!("ebs-csi-driver.tags.{}=x", at(129))], &["1-128"]);
    refused(
        &["--set", &format!("ebs-csi-driver.tags.k={}", at(257))],
        &["at most 256"],
    );
}

#[test]
fn messages_escape_control_characters_and_cut_long_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = render_cmd(&[
        "--out-dir",
        out.to_str().unwrap(),
        "--cluster",
        "a\u{1b}[2Jb\u{7}\u{202e}c",
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("`a\\u{1b}[2Jb\\u{7}\\u{202e}c`"), "{err}");
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{7}') && !err.contains('\u{202e}'),
        "{err:?}"
    );
    assert!(!out.exists(), "nothing written");

    let huge = "n".repeat(100 * 1024);
    let o = render_cmd(&["--cluster", &huge]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.len() < 600,
        "a 100 KB name gives a short message ({} bytes)",
        err.len()
    );
    assert!(
        err.contains(&format!("… ({} more characters)", huge.len() - 200)),
        "{err}"
    );
}

#[test]
fn a_config_file_that_is_not_utf8_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irsagen.yaml");
    std::fs::write(&cfg, b"cluster: c\xff\xfe\nregion: us-east-1\n").unwrap();
    refused(
        &["--config", cfg.to_str().unwrap()],
        &["irsagen.yaml", "not UTF-8", "offset 10"],
    );
    // A missing file stays an environment failure (3), the README's rule for the file system.
    let o = render_cmd(&["--config", dir.path().join("nope.yaml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn config_errors_say_error_once_and_name_the_file_in_the_snippet() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irsagen.yaml");
    std::fs::write(&cfg, "cluster: c\nclustr: typo\n").unwrap();
    let o = render_cmd(&["--config", cfg.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert!(err.contains(&format!("{}:2:1", cfg.display())), "{err}");
    assert!(!err.contains("<input>"), "{err}");
}

#[test]
fn an_empty_presets_map_is_no_presets_selected() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irsagen.yaml");
    std::fs::write(&cfg, "presets: {}\n").unwrap();
    refused(
        &["--config", cfg.to_str().unwrap()],
        &[
            "invalid presets `{}`",
            "no presets selected",
            "presets: {cluster-autoscaler: {}}",
            "--preset cluster-autoscaler",
        ],
    );
}

#[test]
fn required_values_name_the_flag_and_the_config_key() {
    for (drop, flag, key) in [
        (0, "--cluster", "cluster:"),
        (2, "--region", "region:"),
        (4, "--account", "account:"),
    ] {
        let mut args: Vec<&str> = GUIDE_ARGS.to_vec();
        args.drain(drop..drop + 2);
        let o = irsagen().arg("render").args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.starts_with(&format!("error: {flag} is required: pass {flag} ")),
            "{err}"
        );
        assert!(err.contains(&format!("`{key}` in irsagen.yaml")), "{err}");
        assert!(!err.contains("``"), "{err}");
    }
}
