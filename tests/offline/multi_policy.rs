//! A preset with several customer managed policies (`policy.additional`): Karpenter's six
//! upstream policies render for a 100-character cluster name in every partition, and a small
//! two-policy preset in a `--presets-dir` goes through load checks, files, the setup script,
//! eksctl, ACK, lint and the change summary.

use crate::support::*;
use irsagen::ack::Format;
use irsagen::context::{ClusterInputs, Context};
use irsagen::identity::IdentityMode;
use irsagen::overrides::PresetOverrides;
use irsagen::parameters::ParamValue;
use irsagen::preset::Catalog;
use irsagen::render::Renderer;
use serde_json::Value;
use std::path::Path;

/// Upstream's six controller policies, in template order.
const KARPENTER_POLICIES: [&str; 6] = [
    "KarpenterControllerNodeLifecyclePolicy",
    "KarpenterControllerIAMIntegrationPolicy",
    "KarpenterControllerEKSIntegrationPolicy",
    "KarpenterControllerInterruptionPolicy",
    "KarpenterControllerZonalShiftPolicy",
    "KarpenterControllerResourceDiscoveryPolicy",
];

fn karpenter_in(region: &str, cluster: &str) -> (ClusterInputs, PresetOverrides) {
    let catalog = Catalog::embedded().unwrap();
    let preset = &catalog.get("karpenter").unwrap().preset;
    let host = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    let mut inputs = guide_inputs();
    inputs.region = Some(region.into());
    inputs.cluster = Some(cluster.into());
    inputs.oidc_issuer = Some(format!(
        "https://oidc.eks.{region}.{host}/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    ));
    let mut o = example_overrides(preset, IdentityMode::Irsa);
    // The getting-started stack's names: the queue is the cluster's name (SQS allows 80
    // characters), the node role `KarpenterNodeRole-<cluster>` (IAM allows 64).
    o.parameters
        .insert("interruptionQueue".into(), ParamValue::One(cluster[..80].into()));
    o.parameters.insert(
        "nodeRoleName".into(),
        ParamValue::One(format!("KarpenterNodeRole-{}", &cluster[..46])),
    );
    (inputs, o)
}

/// A 100-character cluster name (EKS's maximum): 20 times `long-`.
fn long_cluster() -> String {
    "long-".repeat(20)
}

/// Karpenter with a 100-character cluster name renders in GovCloud and China: six policy files,
/// each a valid document within IAM's 6,144 characters, equal to the component's documents (the
/// bundle checks passed), and the role attaches the six in upstream's order. The merged document
/// this replaces was over the limit for any cluster name of 18 characters or more, and in
/// GovCloud for every name.
#[test]
fn karpenter_renders_six_policies_for_a_100_character_cluster_name_in_govcloud_and_china() {
    let cluster = long_cluster();
    assert_eq!(cluster.len(), 100);
    for (region, partition) in [("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn")] {
        let (inputs, o) = karpenter_in(region, &cluster);
        // eksctl's CloudFormation stack name cannot take a 100-character cluster
        // (eksctl_limits.rs); apply --aws and ACK create the roles without a stack.
        let r = Renderer::new(None, None).unwrap().without_eksctl_limits();
        let b = r
            .render(&Context::new(&inputs).unwrap(), &[("karpenter".into(), o.clone())])
            .unwrap_or_else(|e| panic!("{region}: {e}"));
        let c = &b.components[0];
        let files: Vec<&str> = b
            .artifacts
            .iter()
            .map(|a| a.path.as_str())
            .filter(|p| p.starts_with("iam/karpenter/policy"))
            .collect();
        assert_eq!(files.len(), 6, "{files:?}");
        let mut docs = vec![(
            c.policy_name.clone(),
            "iam/karpenter/policy.json".to_string(),
            &c.policy_document,
        )];
        docs.extend(
            c.additional_policies
                .iter()
                .map(|a| (a.name.clone(), a.file.clone(), &a.document)),
        );
        for (i, (name, file, doc)) in docs.iter().enumerate() {
            let text = &b.get(file).unwrap_or_else(|| panic!("{file} missing")).content;
            let parsed: Value = serde_json::from_str(text).unwrap();
            assert_eq!(&&parsed, doc, "{file}");
            let len = irsagen::policy_doc::iam_length(&parsed);
            assert!(len <= 6_144, "{region} {file}: {len}");
            assert!(!text.contains("${"), "{file}: {text}");
            assert!(!text.contains("arn:aws:"), "{file} not in {partition}: {text}");
            // Upstream's `<Name>-${ClusterName}`, bounded to IAM's 128 characters.
            assert!(name.starts_with(KARPENTER_POLICIES[i]), "{name}");
            assert!(name.len() <= 128, "{name}");
        }
        let want: Vec<String> = docs
            .iter()
            .map(|(n, _, _)| format!("arn:{partition}:iam::123456789012:policy/{n}"))
            .collect();
        assert_eq!(c.policy_arns, want);
        // The six names are distinct even bounded (the hash suffix keeps them apart).
        let mut names: Vec<&String> = docs.iter().map(|(n, _, _)| n).collect();
        names.dedup();
        assert_eq!(names.len(), 6);
        // The ACK format: one Policy object per policy, the Role attaches the six.
        let ack = Renderer::new(None, None)
            .unwrap()
            .with_format(Format::Ack)
            .render(&Context::new(&inputs).unwrap(), &[("karpenter".into(), o)])
            .unwrap();
        let policies: Vec<&str> = ack
            .artifacts
            .iter()
            .filter(|a| a.content.contains("kind: Policy\n"))
            .map(|a| a.path.as_str())
            .collect();
        assert_eq!(policies.len(), 6, "{policies:?}");
        let role = &ack.get("ack/karpenter/role.yaml").unwrap().content;
        for arn in &want {
            assert!(role.contains(arn.as_str()), "{role}");
        }
    }
}

/// With the guide's cluster the six names carry `-smallest-cluster` as upstream's do, the
/// documents' sizes are far from the limit, and the eksctl entry attaches the six in order.
#[test]
fn karpenter_with_the_guides_cluster_attaches_upstreams_six_policies_in_eksctl_and_the_script() {
    let catalog = Catalog::embedded().unwrap();
    let preset = &catalog.get("karpenter").unwrap().preset;
    let o = example_overrides(preset, IdentityMode::Irsa);
    let b = render(&guide_inputs(), &[("karpenter".into(), o)]).unwrap();
    let c = &b.components[0];
    let want: Vec<String> = KARPENTER_POLICIES
        .iter()
        .map(|n| format!("arn:aws:iam::123456789012:policy/{n}-smallest-cluster"))
        .collect();
    assert_eq!(c.policy_arns, want);
    let eksctl: Value = serde_saphyr::from_str(&b.get("eksctl/cluster-config.yaml").unwrap().content).unwrap();
    assert_eq!(
        eksctl["iam"]["serviceAccounts"][0]["attachPolicyARNs"],
        serde_json::json!(want)
    );
    let script = &b.get("setup-irsa.sh").unwrap().content;
    for (i, n) in KARPENTER_POLICIES.iter().enumerate() {
        let file = match i {
            0 => "iam/karpenter/policy.json".to_string(),
            _ => format!("iam/karpenter/policy-{n}.json"),
        };
        assert!(
            script.contains(&format!("ensure_policy {n}-smallest-cluster {} {file} ", want[i])),
            "{n}"
        );
        assert!(script.contains(&format!("check_document {n}-smallest-cluster {} {file}\n", want[i])));
        assert!(
            script
                .lines()
                .any(|l| l.starts_with("check_policy ") && l.ends_with(&format!(" {}", want[i]))),
            "{n}"
        );
    }
}

const SOURCE: &str = "{document: a test, repository: https://example.com/r, path: p.json, commit: 0123456789abcdef0123456789abcdef01234567, date: \"2026-01-01\"}";

const FIRST: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Queue","Effect":"Allow","Action":"sqs:ReceiveMessage","Resource":"arn:aws:sqs:*:*:${CLUSTER}"}]}"#;
const SECOND: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":["ec2:DescribeInstances"],"Resource":"*"}]}"#;

/// Writes the `two` preset (a main document and one additional policy) into `dir`; `additional`
/// replaces its `policy.additional` list.
fn two_presets(dir: &Path, additional: &str) {
    std::fs::write(dir.join("first.json"), FIRST).unwrap();
    std::fs::write(dir.join("second.json"), SECOND).unwrap();
    std::fs::write(
        dir.join("two.yaml"),
        format!(
            r#"name: two
description: A controller with two managed policies
serviceAccount: {{namespace: two, name: two}}
policy:
  name: TwoFirstPolicy
  documentFile: first.json
  source: {SOURCE}
  additional:
{additional}
  substitute:
    "${{CLUSTER}}": "{{cluster}}"
"#
        ),
    )
    .unwrap();
}

const SECOND_ENTRY: &str = "    - {name: TwoSecondPolicy, documentFile: second.json, source: {document: a test, repository: https://example.com/r, path: q.json, commit: 0123456789abcdef0123456789abcdef01234567, date: \"2026-01-01\"}}";

fn render_two(dir: &Path, extra: &[&str]) -> std::process::Output {
    render_cmd(&["--presets-dir", dir.to_str().unwrap(), "--preset", "two"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_two_policy_preset_renders_both_files_and_attaches_both() {
    let t = tempfile::tempdir().unwrap();
    two_presets(t.path(), SECOND_ENTRY);
    let out = t.path().join("out");
    let o = render_two(t.path(), &["--out-dir", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("iam/two/policy.json")).unwrap()).unwrap();
    assert_eq!(first["Statement"][0]["Resource"], "arn:aws:sqs:*:*:smallest-cluster");
    let second: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("iam/two/policy-TwoSecondPolicy.json")).unwrap())
            .unwrap();
    assert_eq!(second, serde_json::from_str::<Value>(SECOND).unwrap());
    // The first document is made for the cluster (its name gets `-<cluster>`), the second is
    // upstream's as it is (its name stays).
    let first_arn = "arn:aws:iam::123456789012:policy/TwoFirstPolicy-smallest-cluster";
    let second_arn = "arn:aws:iam::123456789012:policy/TwoSecondPolicy";
    let eksctl = std::fs::read_to_string(out.join("eksctl/cluster-config.yaml")).unwrap();
    let attach = format!("attachPolicyARNs:\n        - \"{first_arn}\"\n        - \"{second_arn}\"\n");
    assert!(eksctl.contains(&attach), "{eksctl}");
    let script = std::fs::read_to_string(out.join("setup-irsa.sh")).unwrap();
    assert!(
        script.contains(&format!(
            "ensure_policy TwoSecondPolicy {second_arn} iam/two/policy-TwoSecondPolicy.json '["
        )),
        "{script}"
    );
    assert!(
        script.contains(&format!("--attach-policy-arn={second_arn}")),
        "{script}"
    );
    assert!(script.contains(&format!(
        "check_document TwoSecondPolicy {second_arn} iam/two/policy-TwoSecondPolicy.json\n"
    )));
    assert!(
        script.contains(&format!("check_policy irsa-smallest-cluster-two-two {second_arn}\n")),
        "{script}"
    );
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        readme.contains("`TwoSecondPolicy` in `iam/two/policy-TwoSecondPolicy.json`"),
        "{readme}"
    );
    let manifest = std::fs::read_to_string(out.join(irsagen::emit::manifest::NAME)).unwrap();
    assert!(manifest.contains("iam/two/policy-TwoSecondPolicy.json"), "{manifest}");
    assert!(manifest.contains("\"additionalPolicyNames\""), "{manifest}");

    // lint reads the additional file as a permission policy: a hand edit there is an error.
    let p = out.join("iam/two/policy-TwoSecondPolicy.json");
    std::fs::write(&p, SECOND.replace("ec2:DescribeInstances", "ec2:DescribeInstancez")).unwrap();
    let l = irsagen()
        .args(["lint", "-o", "json", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(l.status.code(), Some(1), "{}", String::from_utf8_lossy(&l.stdout));
    let v: Value = serde_json::from_slice(&l.stdout).unwrap();
    let hit = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "unknown-action" && f["file"] == "iam/two/policy-TwoSecondPolicy.json");
    assert!(hit, "{v:#}");

    // The change summary of `render --check` names the additional file's added action.
    std::fs::write(
        &p,
        SECOND.replace(
            "ec2:DescribeInstances",
            "ec2:DescribeInstances\",\"ec2:TerminateInstances",
        ),
    )
    .unwrap();
    let c = render_two(
        t.path(),
        &["--out-dir", out.to_str().unwrap(), "--check", "-o", "markdown"],
    );
    assert_eq!(c.status.code(), Some(1));
    let md = String::from_utf8(c.stdout).unwrap();
    assert!(md.contains("iam/two/policy-TwoSecondPolicy.json"), "{md}");
    assert!(md.contains("ec2:TerminateInstances"), "{md}");

    // ACK: a Policy object per policy, the Role attaches both.
    let a = render_two(t.path(), &["--format", "ack"]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let s = String::from_utf8(a.stdout).unwrap();
    assert!(s.contains("==== ack/two/policy.yaml ===="), "{s}");
    assert!(s.contains("==== ack/two/policy-TwoSecondPolicy.yaml ===="), "{s}");
    assert!(s.contains("name: TwoSecondPolicy\n"), "{s}");
    assert!(s.contains(&format!("- {second_arn}")), "{s}");

    // presets show lists both policies with their sizes.
    let show = irsagen()
        .args(["presets", "--presets-dir", t.path().to_str().unwrap(), "show", "two"])
        .output()
        .unwrap();
    let show = String::from_utf8(show.stdout).unwrap();
    assert!(show.contains("and TwoSecondPolicy (1 statements, 1 actions,"), "{show}");
    assert!(show.contains("iam/two/policy-TwoSecondPolicy.json"), "{show}");
}

#[test]
fn a_two_policy_preset_is_refused_at_load_with_a_duplicate_name_no_source_or_bad_json() {
    let t = tempfile::tempdir().unwrap();
    let refused = |entry: &str, want: &[&str]| {
        two_presets(t.path(), entry);
        let o = render_two(t.path(), &[]);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(2), "{entry}: {err}");
        for w in want {
            assert!(err.contains(w), "{entry}: want {w}: {err}");
        }
    };
    refused(
        &SECOND_ENTRY.replace("TwoSecondPolicy", "TwoFirstPolicy"),
        &["policy.additional[0].name", "TwoFirstPolicy", "twice"],
    );
    refused(
        &format!("{SECOND_ENTRY}\n{SECOND_ENTRY}"),
        &["policy.additional[1].name", "TwoSecondPolicy", "twice"],
    );
    refused(
        "    - {name: TwoSecondPolicy, documentFile: second.json}",
        &["two.yaml", "missing field `source`"],
    );
    refused(
        &SECOND_ENTRY.replace("second.json", "missing.json"),
        &["policy.additional[0].documentFile"],
    );
    refused(
        &SECOND_ENTRY.replace("TwoSecondPolicy", "Two/Second"),
        &["policy.additional[0].name"],
    );
    std::fs::write(t.path().join("bad.json"), "{\"Version\": ").unwrap();
    refused(
        &SECOND_ENTRY.replace("second.json", "bad.json"),
        &["policy.additional[0].documentFile `bad.json` is not JSON"],
    );
    std::fs::write(
        t.path().join("bad.json"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"not-an-action","Resource":"*"}]}"#,
    )
    .unwrap();
    refused(
        &SECOND_ENTRY.replace("second.json", "bad.json"),
        &["policy.additional[0].documentFile", "service:ActionName"],
    );
}

/// A policy name two presets share must carry one document: the check covers each additional
/// policy too.
#[test]
fn an_additional_policy_name_shared_with_a_different_document_is_refused() {
    let t = tempfile::tempdir().unwrap();
    two_presets(t.path(), SECOND_ENTRY);
    std::fs::write(
        t.path().join("other.yaml"),
        format!(
            "name: other\ndescription: x\nserviceAccount: {{namespace: other, name: other}}\npolicy:\n  name: TwoSecondPolicy\n  documentFile: first.json\n  source: {SOURCE}\n"
        ),
    )
    .unwrap();
    let o = render_cmd(&[
        "--presets-dir",
        t.path().to_str().unwrap(),
        "--preset",
        "two",
        "--preset",
        "other",
    ])
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("TwoSecondPolicy") && err.contains("one name, one document"),
        "{err}"
    );
}

/// Across a fleet, each additional policy's name is checked like the main one's: one account,
/// one name, one document and one set of tags. `TwoSecondPolicy` is cluster-neutral (shared by
/// both clusters) and the second cluster tags its policies differently.
#[test]
fn a_fleet_checks_each_additional_policy_name_across_clusters() {
    let t = tempfile::tempdir().unwrap();
    let presets = t.path().join("presets");
    std::fs::create_dir(&presets).unwrap();
    two_presets(&presets, SECOND_ENTRY);
    let config = "account: \"123456789012\"\nregion: us-east-1\npresets: {two: {}}\nclusters: {one: {}, two: {tags: {Team: other}}}\n";
    let run = |config: &str| {
        std::fs::write(t.path().join("irsagen.yaml"), config).unwrap();
        irsagen()
            .args(["render", "--config", "irsagen.yaml", "--all", "--out-dir", "rendered"])
            .args(["--presets-dir", presets.to_str().unwrap()])
            .current_dir(t.path())
            .output()
            .unwrap()
    };
    let o = run(config);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("clusters.two.presets.two.policyName `TwoSecondPolicy`")
            && err.contains("is also cluster `one`'s policy"),
        "{err}"
    );
    // The same tags: one policy, shared, fine.
    let o = run(&config.replace("two: {tags: {Team: other}}", "two: {}"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// IAM attaches at most 20 managed policies to a role: karpenter's six leave room for 14
/// `extraPolicyArns`.
#[test]
fn karpenters_six_policies_count_against_the_roles_20_attachments() {
    let catalog = Catalog::embedded().unwrap();
    let preset = &catalog.get("karpenter").unwrap().preset;
    let with_extras = |n: usize| {
        let mut o = example_overrides(preset, IdentityMode::Irsa);
        o.extra_policy_arns = Some(
            (0..n)
                .map(|i| format!("arn:aws:iam::123456789012:policy/extra-{i}"))
                .collect(),
        );
        render(&guide_inputs(), &[("karpenter".into(), o)])
    };
    let b = with_extras(14).unwrap();
    assert_eq!(b.components[0].policy_arns.len(), 20);
    let err = with_extras(15).unwrap_err().to_string();
    assert!(err.contains("extraPolicyArns") && err.contains("more than 14"), "{err}");
}
