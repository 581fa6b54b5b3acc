//! The catalogue (issue 9): every preset's policy documents are the upstream text they name, and
//! every preset renders, with the examples of its required parameters, and passes the bundle
//! checks in each identity mechanism it supports. Generic over `presets/`: a new preset file is
//! covered without touching this file.

use crate::support::*;
use irsagen::identity::IdentityMode;
use irsagen::preset::Catalog;
use serde_json::Value;
use std::path::Path;

fn presets_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("presets")
}

/// One row of presets/SOURCE.md: a policy file and the hash the row pins it to.
struct Row {
    file: String,
    /// `upstream blob` (the file IS upstream's file) or `extract` (a block of an upstream page).
    how: String,
    hash: String,
}

/// The rows of presets/SOURCE.md whose last column pins a hash (`upstream blob X` / `extract X`).
fn pinned_rows() -> Vec<Row> {
    let text = std::fs::read_to_string(presets_dir().join("SOURCE.md")).unwrap();
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("| `policies/")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let file = cells[0].trim_matches('`').to_string();
        let last = cells.last().unwrap();
        for how in ["upstream blob", "extract"] {
            if let Some(rest) = last.strip_prefix(&format!("{how} `")) {
                rows.push(Row {
                    file: file.clone(),
                    how: how.to_string(),
                    hash: rest.trim_end_matches('`').to_string(),
                });
            }
        }
    }
    rows
}

/// Every policy file a preset reads: `documentFile`, each version's, each variant's.
fn document_files(p: &irsagen::preset::Preset) -> Vec<String> {
    let pol = &p.policy;
    pol.document_file
        .iter()
        .cloned()
        .chain(pol.versions.iter().map(|v| v.document_file.clone()))
        .chain(pol.variants.values().map(|v| v.document_file.clone()))
        .chain(pol.extend.iter().map(|x| x.document_file.clone()))
        .chain(pol.additional.iter().map(|a| a.document_file.clone()))
        .collect()
}

#[test]
fn every_pinned_policy_file_is_the_upstream_text_its_source_row_names() {
    let rows = pinned_rows();
    for r in &rows {
        let bytes = std::fs::read(presets_dir().join(&r.file)).unwrap();
        assert_eq!(
            git_blob_id(&bytes),
            r.hash,
            "presets/{} is not the {} {} that presets/SOURCE.md pins",
            r.file,
            r.how,
            r.hash
        );
    }
    // The catalogue documents (Karpenter's six controller policies each) and EBS's KMS addition
    // are pinned (the guide's three have their own checks).
    assert_eq!(rows.len(), 16, "{:?}", rows.iter().map(|r| &r.file).collect::<Vec<_>>());
}

#[test]
fn every_policy_file_a_preset_reads_has_a_source_row_and_a_verbatim_one_agrees_with_the_preset() {
    let text = std::fs::read_to_string(presets_dir().join("SOURCE.md")).unwrap();
    let rows = pinned_rows();
    let catalog = Catalog::embedded().unwrap();
    let mut files = Vec::new();
    for p in catalog.iter() {
        for f in document_files(&p.preset) {
            assert!(
                text.contains(&format!("| `{f}` |")),
                "presets/{f} (preset {}) has no row in presets/SOURCE.md",
                p.preset.name
            );
            files.push(f);
        }
        // A preset that names an upstream blob names the one SOURCE.md pins for that file.
        let blobs = p
            .preset
            .policy
            .versions
            .iter()
            .map(|v| (v.document_file.clone(), v.source.blob.clone()))
            .chain(
                p.preset
                    .policy
                    .document_file
                    .iter()
                    .map(|f| (f.clone(), p.preset.policy.source.as_ref().and_then(|s| s.blob.clone()))),
            )
            .chain(
                p.preset
                    .policy
                    .additional
                    .iter()
                    .map(|a| (a.document_file.clone(), a.source.blob.clone())),
            );
        for (f, blob) in blobs {
            if let Some(r) = rows.iter().find(|r| r.file == f) {
                match &blob {
                    Some(b) => assert!(
                        r.how == "upstream blob" && &r.hash == b,
                        "{f}: preset blob {b}, SOURCE.md {} {}",
                        r.how,
                        r.hash
                    ),
                    None => assert_eq!(
                        r.how, "extract",
                        "{f}: SOURCE.md says upstream blob but the preset names none"
                    ),
                }
            }
        }
    }
    // And no file sits in policies/ unread (a stale copy would still look pinned).
    let mut on_disk = Vec::new();
    let mut stack = vec![presets_dir().join("policies")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                on_disk.push(path.strip_prefix(presets_dir()).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    on_disk.sort();
    files.sort();
    files.dedup();
    assert_eq!(on_disk, files);
}

/// Every preset, every mode it supports: renders with its required parameters' examples and the
/// bundle passes the checks a reviewer relies on.
#[test]
fn every_preset_renders_and_checks_in_each_mechanism_it_supports() {
    let catalog = Catalog::embedded().unwrap();
    let mut seen = Vec::new();
    for p in catalog.iter() {
        let name = &p.preset.name;
        for mode in supported_modes(&p.preset) {
            let b = render(&guide_inputs(), &[(name.clone(), example_overrides(&p.preset, mode))])
                .unwrap_or_else(|e| panic!("{name} in mode {mode}: {e}"));
            irsagen::bundle_check::Checker::new()
                .check(&b)
                .unwrap_or_else(|e| panic!("{name} in mode {mode}: {e}"));
            seen.push(format!("{name}/{mode}"));
        }
    }
    // 16 presets in IRSA; Pod Identity (and both) for the nine that cite a minimum version: the
    // guide's three and six of the catalogue's.
    assert_eq!(seen.iter().filter(|s| s.ends_with("/irsa")).count(), 16, "{seen:?}");
    assert_eq!(
        seen.iter().filter(|s| s.ends_with("/pod-identity")).count(),
        9,
        "{seen:?}"
    );
    assert_eq!(seen.iter().filter(|s| s.ends_with("/both")).count(), 9, "{seen:?}");
    for pi in [
        "cluster-autoscaler",
        "ebs-csi-driver",
        "efs-csi-driver",
        "adot-collector",
        "amazon-cloudwatch-observability",
        "amazon-vpc-cni",
        "aws-load-balancer-controller",
        "karpenter",
        "mountpoint-s3-csi-driver",
    ] {
        assert!(seen.contains(&format!("{pi}/pod-identity")), "{pi}: {seen:?}");
    }
    assert!(!seen.contains(&"velero/pod-identity".to_string()));
}

/// A preset that cites no Pod Identity minimum version is refused in the modes that need it, with
/// the preset and what it supports named, rather than rendered into an association that the
/// controller's SDK may not read.
#[test]
fn a_preset_without_pod_identity_support_is_refused_in_pod_identity_and_both() {
    let catalog = Catalog::embedded().unwrap();
    let mut refused = Vec::new();
    for p in catalog.iter().filter(|p| supported_modes(&p.preset).len() == 1) {
        for mode in [IdentityMode::PodIdentity, IdentityMode::Both] {
            let err = render(
                &guide_inputs(),
                &[(p.preset.name.clone(), example_overrides(&p.preset, mode))],
            )
            .expect_err(&format!("{} in {mode}", p.preset.name))
            .to_string();
            assert!(
                err.contains(&p.preset.name) && err.contains("Pod Identity") && err.contains("irsa"),
                "{}: {err}",
                p.preset.name
            );
        }
        refused.push(p.preset.name.clone());
    }
    assert_eq!(
        refused,
        [
            "aws-node-termination-handler",
            "cert-manager",
            "external-dns",
            "external-secrets",
            "fsx-csi-driver",
            "secrets-store-csi-driver-provider-aws",
            "velero",
        ]
    );
}

#[test]
fn a_missing_required_parameter_names_the_preset_the_parameter_and_its_example() {
    let catalog = Catalog::embedded().unwrap();
    let mut checked = 0;
    for p in catalog.iter() {
        for (param, decl) in p.preset.parameters.iter().filter(|(_, d)| d.required) {
            let mut o = example_overrides(&p.preset, IdentityMode::Irsa);
            o.parameters.remove(param);
            let err = render(&guide_inputs(), &[(p.preset.name.clone(), o)])
                .expect_err(&format!("{} without {param}", p.preset.name))
                .to_string();
            for needle in [p.preset.name.as_str(), param.as_str(), decl.example.as_str()] {
                assert!(
                    err.contains(needle),
                    "{}.{param}: `{needle}` not in: {err}",
                    p.preset.name
                );
            }
            checked += 1;
        }
    }
    // velero, mountpoint: bucketNames; karpenter: 2; external-secrets; NTH; secrets-store provider.
    assert_eq!(checked, 7);
}

/// The guide's cluster moved to `region`, with an issuer of that region (EKS's host in China).
fn inputs_in(region: &str) -> irsagen::context::ClusterInputs {
    let mut inputs = guide_inputs();
    let host = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    inputs.region = Some(region.into());
    inputs.oidc_issuer = Some(format!(
        "https://oidc.eks.{region}.{host}/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    ));
    inputs
}

fn policy_of(b: &irsagen::bundle::Bundle, preset: &str) -> Value {
    serde_json::from_str(&b.get(&format!("iam/{preset}/policy.json")).unwrap().content).unwrap()
}

/// Every customer managed policy file of `preset` (`policy.json`, then `policy.additional`'s in
/// order), parsed.
fn policies_of(b: &irsagen::bundle::Bundle, preset: &str) -> Vec<Value> {
    let c = b.components.iter().find(|c| c.preset == preset).unwrap();
    std::iter::once(format!("iam/{preset}/policy.json"))
        .chain(c.additional_policies.iter().map(|a| a.file.clone()))
        .map(|f| serde_json::from_str(&b.get(&f).unwrap().content).unwrap())
        .collect()
}

fn with_params(preset: &str, params: &[(&str, &str)]) -> irsagen::bundle::Bundle {
    let catalog = Catalog::embedded().unwrap();
    let mut o = example_overrides(&catalog.get(preset).unwrap().preset, IdentityMode::Irsa);
    for (k, v) in params {
        o.parameters
            .insert(k.to_string(), irsagen::parameters::ParamValue::One(v.to_string()));
    }
    render(&guide_inputs(), &[(preset.into(), o)]).unwrap()
}

#[test]
fn hosted_zone_ids_narrow_external_dns_and_cert_manager_and_without_them_upstream_stands() {
    // external-dns writes Resource as an array, cert-manager as a lone string: both become the zones.
    let zones = ["Z0123456789ABCDEFGHIJ", "Z9876543210ZYXWVUTSRQ"];
    let wide = Value::from(vec!["arn:aws:route53:::hostedzone/*"]);
    let narrowed = Value::from(
        zones
            .iter()
            .map(|z| format!("arn:aws:route53:::hostedzone/{z}"))
            .collect::<Vec<_>>(),
    );
    let d = policy_of(&with_params("external-dns", &[]), "external-dns");
    assert_eq!(d["Statement"][0]["Resource"], wide);
    let d = policy_of(
        &with_params("external-dns", &[("hostedZoneIds", &zones.join(","))]),
        "external-dns",
    );
    assert_eq!(d["Statement"][0]["Resource"], narrowed);
    assert_eq!(
        d["Statement"][1]["Resource"],
        Value::from(vec!["*"]),
        "ListHostedZones stays on *"
    );
    let b = with_params("external-dns", &[("hostedZoneIds", &zones.join(","))]);
    let values = &b.get("helm/external-dns-values.yaml").unwrap().content;
    for z in zones {
        assert!(values.contains(&format!("- \"--zone-id-filter={z}\"")), "{values}");
    }

    let d = policy_of(&with_params("cert-manager", &[]), "cert-manager");
    assert_eq!(d["Statement"][1]["Resource"], "arn:aws:route53:::hostedzone/*");
    let d = policy_of(
        &with_params("cert-manager", &[("hostedZoneIds", &zones.join(","))]),
        "cert-manager",
    );
    assert_eq!(d["Statement"][1]["Resource"], narrowed);
    assert!(
        d["Statement"][1]["Condition"].is_object(),
        "the TXT-only condition is kept"
    );
}

#[test]
fn bucket_and_secret_parameters_replace_upstreams_placeholders() {
    let d = policy_of(
        &with_params("velero", &[("bucketNames", "backups-a,backups-b")]),
        "velero",
    );
    assert_eq!(
        d["Statement"][1]["Resource"],
        serde_json::json!(["arn:aws:s3:::backups-a/*", "arn:aws:s3:::backups-b/*"])
    );
    assert_eq!(
        d["Statement"][2]["Resource"],
        serde_json::json!(["arn:aws:s3:::backups-a", "arn:aws:s3:::backups-b"])
    );
    assert!(!d.to_string().contains("${BUCKET}"));

    let d = policy_of(
        &with_params("mountpoint-s3-csi-driver", &[("bucketNames", "data")]),
        "mountpoint-s3-csi-driver",
    );
    assert_eq!(d["Statement"][0]["Resource"], serde_json::json!(["arn:aws:s3:::data"]));
    assert_eq!(
        d["Statement"][1]["Resource"],
        serde_json::json!(["arn:aws:s3:::data/*"])
    );

    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:team-a/*";
    let d = policy_of(
        &with_params("external-secrets", &[("secretArnPrefixes", arn)]),
        "external-secrets",
    );
    assert_eq!(d["Statement"][1]["Resource"], serde_json::json!([arn]));
    assert!(
        !d.to_string().contains("111122223333"),
        "upstream's example account is gone"
    );

    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf";
    let d = policy_of(
        &with_params("secrets-store-csi-driver-provider-aws", &[("secretArns", arn)]),
        "secrets-store-csi-driver-provider-aws",
    );
    assert_eq!(d["Statement"][0]["Resource"], serde_json::json!([arn]));
}

#[test]
fn karpenters_placeholders_are_all_substituted_in_values_and_condition_keys() {
    let b = with_params("karpenter", &[]);
    let docs = policies_of(&b, "karpenter");
    assert_eq!(docs.len(), 6);
    let text = Value::Array(docs).to_string();
    assert!(!text.contains("${"), "{text}");
    assert!(
        text.contains("aws:RequestTag/kubernetes.io/cluster/smallest-cluster"),
        "a key: {text}"
    );
    assert!(text.contains("arn:aws:iam::123456789012:role/KarpenterNodeRole-smallest-cluster"));
    assert!(text.contains("arn:aws:sqs:us-east-1:123456789012:smallest-cluster"));
    // China: every ARN in the cluster's partition, the substituted ones included.
    let catalog = Catalog::embedded().unwrap();
    let preset = &catalog.get("karpenter").unwrap().preset;
    let mut inputs = inputs_in("cn-north-1");
    inputs.cluster = Some("cn-cluster".into());
    let mut o = example_overrides(preset, IdentityMode::Irsa);
    o.parameters.insert(
        "interruptionQueue".into(),
        irsagen::parameters::ParamValue::One("cn-cluster".into()),
    );
    o.parameters.insert(
        "nodeRoleName".into(),
        irsagen::parameters::ParamValue::One("KarpenterNodeRole-cn-cluster".into()),
    );
    let b = render(&inputs, &[("karpenter".into(), o)]).unwrap();
    let text = Value::Array(policies_of(&b, "karpenter")).to_string();
    assert!(!text.contains("arn:aws:"), "{text}");
    assert!(text.contains("arn:aws-cn:iam::123456789012:role/KarpenterNodeRole-cn-cluster"));
    assert!(text.contains("arn:aws-cn:sqs:cn-north-1:123456789012:cn-cluster"));
}

/// Upstream splits Karpenter's controller permissions into six managed policies, which together
/// exceed one policy's 6,144 characters (6,118 merged for the guide's cluster, over the limit
/// from an 18-character cluster name and always in GovCloud). Each of the six stays far below
/// it: the largest, the node lifecycle policy, is 2,795 here, and a 100-character cluster name in
/// any partition still fits (multi_policy.rs renders one in us-gov-west-1 and cn-north-1).
/// IAM's length of each of Karpenter's six rendered policies for the guide's cluster.
const LENS: [usize; 6] = [2_795, 1_798, 201, 230, 288, 996];

#[test]
fn karpenters_six_policies_each_fit_iams_limit_with_room_to_spare() {
    let b = with_params("karpenter", &[]);
    let lens: Vec<usize> = policies_of(&b, "karpenter")
        .iter()
        .map(irsagen::policy_doc::iam_length)
        .collect();
    assert_eq!(lens, LENS);
    // Together over one policy's limit: the reason upstream (and this preset) splits them.
    assert!(lens.iter().sum::<usize>() > 6_144, "{lens:?}");
    assert!(lens.iter().all(|l| *l < 4_000), "{lens:?}");
}

#[test]
fn aws_managed_presets_attach_the_managed_arns_in_the_clusters_partition() {
    let catalog = Catalog::embedded().unwrap();
    for (preset, arns) in [
        ("amazon-vpc-cni", vec!["policy/AmazonEKS_CNI_Policy"]),
        (
            "amazon-cloudwatch-observability",
            vec!["policy/CloudWatchAgentServerPolicy", "policy/AWSXrayWriteOnlyAccess"],
        ),
        ("adot-collector", vec!["policy/AmazonPrometheusRemoteWriteAccess"]),
    ] {
        for (region, partition) in [("us-east-1", "aws"), ("cn-north-1", "aws-cn")] {
            let inputs = inputs_in(region);
            let o = example_overrides(&catalog.get(preset).unwrap().preset, IdentityMode::Irsa);
            let b = render(&inputs, &[(preset.into(), o)]).unwrap();
            assert!(
                b.get(&format!("iam/{preset}/policy.json")).is_none(),
                "{preset}: no customer document"
            );
            let cfg = &b.get("eksctl/cluster-config.yaml").unwrap().content;
            for a in &arns {
                let full = format!("arn:{partition}:iam::aws:{a}");
                assert!(cfg.contains(&full), "{preset} in {region}: {full} not in\n{cfg}");
            }
        }
    }
    // fsx: the upstream document by default, AmazonFSxFullAccess on request.
    let b = with_params("fsx-csi-driver", &[]);
    assert!(b.get("iam/fsx-csi-driver/policy.json").is_some());
    let mut o = example_overrides(&catalog.get("fsx-csi-driver").unwrap().preset, IdentityMode::Irsa);
    o.policy = Some(irsagen::preset::PolicyKind::AwsManaged);
    let b = render(&guide_inputs(), &[("fsx-csi-driver".into(), o)]).unwrap();
    assert!(b.get("iam/fsx-csi-driver/policy.json").is_none());
    assert!(
        b.get("eksctl/cluster-config.yaml")
            .unwrap()
            .content
            .contains("arn:aws:iam::aws:policy/AmazonFSxFullAccess")
    );
}

#[test]
fn the_load_balancer_controller_policy_is_picked_by_controller_version() {
    let catalog = Catalog::embedded().unwrap();
    let preset = &catalog.get("aws-load-balancer-controller").unwrap().preset;
    let at = |v: &str| {
        let mut o = example_overrides(preset, IdentityMode::Irsa);
        o.version = Some(v.into());
        render(&guide_inputs(), &[("aws-load-balancer-controller".into(), o)])
    };
    let newest = policy_of(&at("v3.5.0").unwrap(), "aws-load-balancer-controller");
    assert!(newest.to_string().contains("ec2:DescribeRouteTables"));
    assert_eq!(
        newest,
        policy_of(&at("v2.13.0").unwrap(), "aws-load-balancer-controller")
    );
    // No document older than v2.13.0 is pinned: an older controller is an error naming the oldest.
    let err = at("v2.12.1").unwrap_err().to_string();
    assert!(err.contains("v2.13.0"), "{err}");
}

#[test]
fn the_termination_handler_values_carry_the_queue_url_of_the_queue_arn() {
    let b = with_params(
        "aws-node-termination-handler",
        &[("queueArn", "arn:aws:sqs:us-east-1:123456789012:my-nth-queue")],
    );
    let v = &b.get("helm/aws-node-termination-handler-values.yaml").unwrap().content;
    assert!(v.contains("enableSqsTerminationDraining: true"), "{v}");
    assert!(
        v.contains("queueURL: \"https://sqs.us-east-1.amazonaws.com/123456789012/my-nth-queue\""),
        "{v}"
    );
}

#[test]
fn external_dns_narrowed_to_two_zones_as_one_snapshot() {
    let b = with_params(
        "external-dns",
        &[("hostedZoneIds", "Z0123456789ABCDEFGHIJ,Z9876543210ZYXWVUTSRQ")],
    );
    insta_settings().bind(|| {
        insta::with_settings!({ description => "external-dns: hostedZoneIds=Z0123456789ABCDEFGHIJ,Z9876543210ZYXWVUTSRQ" }, {
            insta::assert_snapshot!("variant_external_dns_hosted_zones", b.to_stream());
        });
    });
}

/// The blob id a chart's SOURCE.md gives its `values.yaml` (`blob `X`` for an upstream file copied
/// verbatim, `blob of this copy: `X`` for one transcribed from the search index's stored copy).
fn pinned_values_blob(source_md: &str) -> Option<String> {
    let row = source_md.lines().find(|l| l.starts_with("| `values.yaml` |"))?;
    let at = row.find("blob")?;
    let rest = &row[at..];
    let start = rest.find('`')? + 1;
    let hash: String = rest[start..].chars().take_while(char::is_ascii_hexdigit).collect();
    (hash.len() == 40).then_some(hash)
}

/// Every chart values reference irsagen ships is the copy its SOURCE.md pins, and every chart
/// preset names one that has a SOURCE.md: the unknown-key check is only as good as the copy.
#[test]
fn chart_values_references_are_the_copies_their_source_md_pins() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = Vec::new();
    for e in std::fs::read_dir(root.join("reference/charts")).unwrap() {
        let dir = e.unwrap().path();
        let chart = dir.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(dir.join("SOURCE.md")).unwrap();
        let blob = pinned_values_blob(&source).unwrap_or_else(|| panic!("{chart}: SOURCE.md pins no values.yaml blob"));
        let bytes = std::fs::read(dir.join("values.yaml")).unwrap();
        assert_eq!(git_blob_id(&bytes), blob, "reference/charts/{chart}/values.yaml");
        checked.push(chart);
    }
    checked.sort();
    let catalog = Catalog::embedded().unwrap();
    let mut charts: Vec<String> = catalog
        .iter()
        .filter_map(|p| p.preset.helm.as_ref())
        .map(|h| {
            let rel = Path::new(&h.values_reference);
            assert!(
                root.join(rel.with_file_name("SOURCE.md")).is_file(),
                "{}",
                h.values_reference
            );
            rel.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    charts.sort();
    assert_eq!(checked, charts, "a reference no preset uses, or a preset without one");
}

/// EBS's `kmsKeyArns` appends upstream's KMS statements on the given keys; without it the guide's
/// document stands (its snapshot), and the extended bundle still passes the render checks.
#[test]
fn ebs_kms_key_arns_add_upstreams_kms_statements_on_those_keys_only() {
    let plain = policy_of(&with_params("ebs-csi-driver", &[]), "ebs-csi-driver");
    let keys = [
        "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef",
    ];
    let b = with_params("ebs-csi-driver", &[("kmsKeyArns", &keys.join(","))]);
    irsagen::bundle_check::Checker::new().check(&b).unwrap();
    let d = policy_of(&b, "ebs-csi-driver");
    let (old, new) = (
        plain["Statement"].as_array().unwrap(),
        d["Statement"].as_array().unwrap(),
    );
    assert_eq!(new.len(), old.len() + 2);
    assert_eq!(new[..old.len()], old[..]);
    assert!(!plain.to_string().contains("kms:"));
    let grants = &new[old.len()];
    assert_eq!(
        grants["Action"],
        Value::from(vec!["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"])
    );
    assert_eq!(grants["Condition"]["Bool"]["kms:GrantIsForAWSResource"], "true");
    for s in &new[old.len()..] {
        assert_eq!(s["Resource"], Value::from(keys.to_vec()));
    }
    let c = b.components.iter().find(|c| c.preset == "ebs-csi-driver").unwrap();
    assert_eq!(c.policy_name, "AmazonEKS_EBS_CSI_Driver_Policy-smallest-cluster");
}

/// EFS's default install source is the guide's release-1.7 overlay, older than the first driver
/// that reads Pod Identity credentials (v2.0.5): rendering it with Pod Identity warns and names the
/// fix; the addon, or IRSA, does not.
#[test]
fn efs_with_pod_identity_and_the_guides_overlay_warns_that_the_driver_is_too_old() {
    let efs = |mode: IdentityMode, source: Option<&str>| {
        let catalog = Catalog::embedded().unwrap();
        let mut o = example_overrides(&catalog.get("efs-csi-driver").unwrap().preset, mode);
        o.install_source = source.map(str::to_string);
        let b = render(&guide_inputs(), &[("efs-csi-driver".into(), o)]).unwrap();
        b.components[0].warnings()
    };
    for mode in [IdentityMode::PodIdentity, IdentityMode::Both] {
        let w = efs(mode, None);
        assert_eq!(w.len(), 1, "{w:?}");
        for needle in [
            "preset efs-csi-driver: installSource `guide` installs v1.7.0",
            "?ref=release-1.7",
            "older than v2.0.5",
            "--set efs-csi-driver.installSource=addon",
        ] {
            assert!(w[0].contains(needle), "{needle}: {w:?}");
        }
        assert!(efs(mode, Some("addon")).is_empty());
        // Another ref's version is unknown: no claim either way.
        assert!(efs(mode, Some("ref:release-2.1")).is_empty());
    }
    assert!(efs(IdentityMode::Irsa, None).is_empty());
}

/// Velero's values follow the pinned chart (7.2.0): locations are lists with a provider each. The
/// chart 2.x layout (`configuration.provider`, one location map) is caught by the key check
/// against the pinned values.yaml, so a stale body cannot pass as current.
#[test]
fn velero_values_follow_chart_7_and_the_2_x_layout_is_refused() {
    let b = with_params("velero", &[("bucketNames", "backups-a,backups-b")]);
    let values: serde_json::Value = serde_saphyr::from_str(&b.get("helm/velero-values.yaml").unwrap().content).unwrap();
    let bsl = &values["configuration"]["backupStorageLocation"];
    assert_eq!(bsl[0]["provider"], "aws");
    assert_eq!(bsl[0]["bucket"], "backups-a");
    assert_eq!(values["configuration"]["volumeSnapshotLocation"][0]["provider"], "aws");
    assert!(values["configuration"].get("provider").is_none());

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("helm")).unwrap();
    std::fs::write(
        dir.path().join("helm/velero-values-body.yaml.j2"),
        "configuration:\n  provider: aws\n  backupStorageLocation:\n    bucket: b\n",
    )
    .unwrap();
    let o = render_cmd(&[
        "--preset",
        "velero",
        "--set",
        "velero.bucketNames=b-1",
        "--templates-dir",
        dir.path().to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`configuration.provider` is not a key of the velero chart"),
        "{err}"
    );
}
