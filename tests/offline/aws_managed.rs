//! `policy: aws-managed`: the role gets AWS managed policies (`arn:<partition>:iam::aws:…`)
//! instead of a customer managed copy of a document. Every artifact, the bundle check, the AWS
//! plan (decided offline from recorded read states) and verify agree: nothing is created,
//! versioned or tagged, the managed ARNs are attached, and nothing else is.
//! Fixture presets: tests/fixtures/presets-aws-managed (`default: aws-managed`).

use crate::support::*;
use aws_sdk_iam::primitives::DateTime;
use aws_sdk_iam::types::{Role, Tag};
use irsagen::aws::verify::decide as verify;
use irsagen::aws::{self, Change, Desired, DesiredPolicy, IamState, Identity, ResourceKind, RoleState};
use irsagen::bundle::{Artifact, ArtifactKind, Bundle};
use irsagen::bundle_check::Checker;
use irsagen::context::{ClusterInputs, Context};
use irsagen::identity::IdentityMode;
use irsagen::overrides::PresetOverrides;
use irsagen::render::Renderer;
use irsagen::report::Status;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

const CNI: &str = "vpc-cni-managed";
const CW: &str = "cloudwatch-managed";
const CNI_ARN: &str = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy";
const CW_ARNS: [&str; 2] = [
    "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
    "arn:aws:iam::aws:policy/service-role/AWSXrayWriteOnlyAccess",
];
const ACCOUNT: &str = "123456789012";
/// The customer managed copy the CNI preset would create with `policy: document`.
const CNI_COPY: &str = "arn:aws:iam::123456789012:policy/AmazonEKSCNIPolicyCopy";

fn presets_dir() -> PathBuf {
    fixture("presets-aws-managed")
}

fn selection(presets: &[&str], mode: Option<IdentityMode>) -> Vec<(String, PresetOverrides)> {
    presets
        .iter()
        .map(|p| {
            let o = PresetOverrides {
                identity_mode: mode,
                ..Default::default()
            };
            (p.to_string(), o)
        })
        .collect()
}

fn render_with(inputs: &ClusterInputs, sel: &[(String, PresetOverrides)]) -> irsagen::Result<Bundle> {
    Renderer::new(Some(&presets_dir()), None)?.render(&Context::new(inputs)?, sel)
}

fn bundle(presets: &[&str]) -> Bundle {
    render_with(&guide_inputs(), &selection(presets, None)).expect("renders")
}

fn content<'a>(b: &'a Bundle, path: &str) -> &'a str {
    &b.get(path).unwrap_or_else(|| panic!("no {path}")).content
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap()
}

#[test]
fn snapshots_of_aws_managed_presets_in_each_mode() {
    insta_settings().bind(|| {
        for preset in [CNI, CW] {
            for mode in [IdentityMode::Irsa, IdentityMode::PodIdentity] {
                let b = render_with(&guide_inputs(), &selection(&[preset], Some(mode))).unwrap();
                insta::with_settings!({ description => format!("--presets-dir tests/fixtures/presets-aws-managed --preset {preset} --mode {mode}") }, {
                    insta::assert_snapshot!(format!("aws_managed__{preset}__{mode}"), b.to_stream());
                });
            }
        }
    });
}

#[test]
fn no_policy_document_is_rendered_and_every_artifact_attaches_the_managed_arns() {
    let b = bundle(&[CNI, CW]);
    assert!(b.get("iam/vpc-cni-managed/policy.json").is_none());
    assert!(b.get("iam/cloudwatch-managed/policy.json").is_none());
    assert_eq!(b.of_kind(ArtifactKind::Policy).count(), 0);

    let cfg = yaml(content(&b, "eksctl/cluster-config.yaml"));
    let sas = cfg["iam"]["serviceAccounts"].as_array().unwrap();
    let arns = |name: &str| sas.iter().find(|s| s["metadata"]["name"] == name).unwrap()["attachPolicyARNs"].clone();
    assert_eq!(arns("aws-node"), serde_json::json!([CNI_ARN]));
    assert_eq!(arns("cloudwatch-agent"), serde_json::json!(CW_ARNS));

    let script = content(&b, "setup-irsa.sh");
    for c in &b.components {
        for arn in &c.aws_managed.as_ref().unwrap().arns {
            assert!(script.contains(&format!("need_aws_managed_policy {arn}\n")), "{arn}");
            assert!(script.contains(&format!("--attach-policy-arn={arn} \\\n")), "{arn}");
            assert!(
                script.contains(&format!("check_policy {} {arn}\n", c.role_name)),
                "{arn}"
            );
        }
    }
    // Nothing in the script creates, versions or compares a policy for these presets.
    let steps = &script[script.find("\nsetup() {").unwrap()..];
    assert!(!steps.contains("\nensure_policy "), "{steps}");
    assert!(!steps.contains("\ncheck_document "), "{steps}");
    assert!(!steps.contains("AmazonEKSCNIPolicyCopy"), "{steps}");

    let readme = content(&b, "README.md");
    assert!(readme.contains("| AWS managed `AmazonEKS_CNI_Policy` |"), "{readme}");
    assert!(
        readme.contains("| AWS managed `CloudWatchAgentServerPolicy`, `AWSXrayWriteOnlyAccess` |"),
        "{readme}"
    );
    assert!(
        readme.contains(&format!("the role gets the AWS managed `{CNI_ARN}`"))
            && readme.contains("(`policy: aws-managed`, the preset's default)")
            && readme.contains("no `iam/vpc-cni-managed/policy.json` is rendered"),
        "{readme}"
    );
}

#[test]
fn the_arns_are_in_the_clusters_partition() {
    for (region, partition) in [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")] {
        let inputs = ClusterInputs {
            region: Some(region.into()),
            oidc_issuer: None,
            ..guide_inputs()
        };
        for mode in [IdentityMode::Irsa, IdentityMode::PodIdentity] {
            let b = render_with(&inputs, &selection(&[CNI, CW], Some(mode))).unwrap();
            let stream = b.to_stream();
            let want = format!("arn:{partition}:iam::aws:policy/AmazonEKS_CNI_Policy");
            assert!(content(&b, "eksctl/cluster-config.yaml").contains(&want), "{mode}");
            assert!(content(&b, "setup-irsa.sh").contains(&want), "{mode}");
            assert!(
                content(&b, "setup-irsa.sh").contains(&format!(
                    "arn:{partition}:iam::aws:policy/service-role/AWSXrayWriteOnlyAccess"
                )),
                "{mode}"
            );
            assert!(!stream.contains("arn:aws:iam::aws:"), "{region} {mode}: {stream}");
        }
    }
}

/// The same presets with `default: aws-managed` taken out render today's way: a customer
/// managed copy of the document, created and attached.
#[test]
fn without_the_default_the_document_is_used() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(presets_dir().join("vpc-cni-managed.yaml"))
        .unwrap()
        .replace("  default: aws-managed\n", "");
    std::fs::write(tmp.path().join("vpc-cni-managed.yaml"), text).unwrap();
    let b = Renderer::new(Some(tmp.path()), None)
        .unwrap()
        .render(&Context::new(&guide_inputs()).unwrap(), &selection(&[CNI], None))
        .unwrap();
    assert!(b.get("iam/vpc-cni-managed/policy.json").is_some());
    let c = &b.components[0];
    assert!(c.aws_managed.is_none());
    assert_eq!(c.policy_arns, [CNI_COPY]);
    let cfg = content(&b, "eksctl/cluster-config.yaml");
    assert!(cfg.contains(CNI_COPY) && !cfg.contains(CNI_ARN), "{cfg}");
    assert!(content(&b, "setup-irsa.sh").contains("\nensure_policy AmazonEKSCNIPolicyCopy "));
}

#[test]
fn a_preset_defaulting_to_aws_managed_needs_the_arns() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(presets_dir().join("vpc-cni-managed.yaml")).unwrap();
    let cut = text.find("  awsManaged:").unwrap();
    let end = text.find("addon:").unwrap();
    std::fs::write(
        tmp.path().join("vpc-cni-managed.yaml"),
        format!("{}{}", &text[..cut], &text[end..]),
    )
    .unwrap();
    let e = Renderer::new(Some(tmp.path()), None)
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("policy.default") && e.contains("awsManaged"), "{e}");
}

#[test]
fn extra_policies_leave_room_for_the_managed_ones() {
    // Two AWS managed policies: 18 extras fill IAM's 20, a 19th is refused.
    let extras = |n: usize| PresetOverrides {
        extra_policy_arns: Some(
            (0..n)
                .map(|i| format!("arn:aws:iam::{ACCOUNT}:policy/extra-{i}"))
                .collect(),
        ),
        ..Default::default()
    };
    assert!(render_with(&guide_inputs(), &[(CW.into(), extras(18))]).is_ok());
    let e = render_with(&guide_inputs(), &[(CW.into(), extras(19))])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("extraPolicyArns") && e.contains("more than 18 policies"),
        "{e}"
    );
    // A managed policy the preset attaches anyway is not an extra.
    let o = PresetOverrides {
        extra_policy_arns: Some(vec![CNI_ARN.into()]),
        ..Default::default()
    };
    let e = render_with(&guide_inputs(), &[(CNI.into(), o)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("is the preset's own policy"), "{e}");
}

/// The bundle check refuses an eksctl config that lacks or changes the managed ARNs, and a
/// policy document for a preset that creates none.
#[test]
fn the_bundle_check_refuses_lacking_or_changed_managed_arns() {
    let checker = Checker::new();
    for mode in [IdentityMode::Irsa, IdentityMode::PodIdentity] {
        let b = render_with(&guide_inputs(), &selection(&[CNI, CW], Some(mode))).unwrap();
        checker.check(&b).expect("the rendered bundle passes");
        let path = "eksctl/cluster-config.yaml";
        let edits: [(&str, String); 3] = [
            // lacks one of the two
            (CW_ARNS[1], String::new()),
            // the customer copy instead of the AWS managed policy
            (CNI_ARN, CNI_COPY.to_string()),
            // another partition
            (CNI_ARN, CNI_ARN.replace("arn:aws:", "arn:aws-cn:")),
        ];
        for (from, to) in edits {
            let mut t = b.clone();
            let a = t.artifacts.iter_mut().find(|a| a.path == path).unwrap();
            let quoted = format!("\"{from}\"");
            assert!(a.content.contains(&quoted), "{mode}: {from} in\n{}", a.content);
            a.content = if to.is_empty() {
                a.content
                    .lines()
                    .filter(|l| !l.contains(&quoted))
                    .map(|l| format!("{l}\n"))
                    .collect()
            } else {
                a.content.replace(&quoted, &format!("\"{to}\""))
            };
            let e = checker.check(&t).expect_err("refused").to_string();
            // An addon's own association has its own wording.
            let said = e.contains("disagrees") || e.contains("must bind role");
            assert!(e.contains(path) && said, "{mode} {from}: {e}");
        }
    }
    let mut t = bundle(&[CNI]);
    t.artifacts.push(Artifact {
        path: "iam/vpc-cni-managed/policy.json".into(),
        kind: ArtifactKind::Policy,
        preset: Some(CNI.into()),
        content: serde_json::to_string(&t.components[0].policy_document).unwrap(),
    });
    let e = checker.check(&t).expect_err("refused").to_string();
    assert!(e.contains("must not exist") && e.contains(CNI_ARN), "{e}");
}

/// Next to the guide's presets, theirs render exactly as without it.
#[test]
fn guide_presets_beside_an_aws_managed_one_are_unchanged() {
    let mut sel = guide_selection();
    sel.push((CNI.into(), PresetOverrides::default()));
    let b = render_with(&guide_inputs(), &sel).unwrap();
    let guide = guide_bundle();
    for a in guide.artifacts.iter().filter(|a| a.preset.is_some()) {
        assert_eq!(content(&b, &a.path), a.content, "{}", a.path);
    }
    assert!(content(&b, "setup-irsa.sh").contains("\nensure_policy AmazonEKS_EBS_CSI_Driver_Policy "));
}

// ---- apply --aws, decided offline --------------------------------------------------------

fn desired() -> Desired {
    Desired::from_bundle(&bundle(&[CNI, CW]), "apply --aws").expect("applicable")
}

fn sdk_role(name: &str, trust: &Value, tags: &BTreeMap<String, String>) -> Role {
    let text = trust.to_string();
    let encoded = percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC);
    let mut b = Role::builder()
        .path("/")
        .role_name(name)
        .role_id("AROAEXAMPLE")
        .arn(format!("arn:aws:iam::{ACCOUNT}:role/{name}"))
        .create_date(DateTime::from_secs(1_700_000_000))
        .assume_role_policy_document(encoded.to_string());
    for (k, v) in tags {
        b = b.tags(Tag::builder().key(k).value(v).build().unwrap());
    }
    b.build().unwrap()
}

fn empty() -> IamState {
    IamState {
        caller: Identity {
            account: ACCOUNT.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/ci"),
            user_id: "AIDAEXAMPLE".into(),
        },
        oidc_client_ids: None,
        policies: BTreeMap::new(),
        roles: BTreeMap::new(),
        missing_extra_policies: Vec::new(),
    }
}

/// IAM after a successful apply: roles as rendered, the managed policies attached.
fn converged(d: &Desired) -> IamState {
    let mut s = empty();
    s.oidc_client_ids = Some(vec!["sts.amazonaws.com".into()]);
    for r in &d.roles {
        s.roles.insert(
            r.name.clone(),
            RoleState {
                role: sdk_role(&r.name, &r.trust, &r.tags),
                attached: r.attachments().map(str::to_string).collect(),
                inline: Vec::new(),
            },
        );
    }
    s
}

fn cni_role(d: &Desired) -> &str {
    &d.roles.iter().find(|r| r.preset == CNI).unwrap().name
}

#[test]
fn the_desired_state_has_no_policy_to_create() {
    let d = desired();
    assert!(d.policies.is_empty(), "{:?}", d.policies);
    let r = d.roles.iter().find(|r| r.preset == CW).unwrap();
    assert!(r.aws_managed);
    assert_eq!(r.policy_arns, CW_ARNS);
    assert_eq!(
        r.policy_name,
        "AWS managed CloudWatchAgentServerPolicy, AWSXrayWriteOnlyAccess"
    );
}

#[test]
fn from_empty_the_plan_attaches_and_never_creates_a_policy() {
    let d = desired();
    let p = aws::decide(&d, &empty(), false).unwrap();
    assert!(
        p.items.iter().all(|i| i.kind != ResourceKind::Policy),
        "{}",
        p.to_text()
    );
    let calls = p.calls();
    assert!(
        calls
            .iter()
            .all(|c| !c.contains("Policy ") || c.starts_with("iam:AttachRolePolicy")),
        "{calls:#?}"
    );
    assert!(calls.iter().all(|c| !c.contains("CreatePolicy")), "{calls:#?}");
    let cni = cni_role(&d);
    assert!(
        calls.contains(&format!("iam:AttachRolePolicy {cni} {CNI_ARN}")),
        "{calls:#?}"
    );
    let attaches = calls.iter().filter(|c| c.starts_with("iam:AttachRolePolicy")).count();
    assert_eq!(attaches, 3, "{calls:#?}");
}

#[test]
fn converged_is_no_change_and_a_detached_one_is_attached_again() {
    let d = desired();
    let live = converged(&d);
    let p = aws::decide(&d, &live, false).unwrap();
    assert!(p.items.iter().all(|i| i.change == Change::NoChange), "{}", p.to_text());
    assert!(p.calls().is_empty());

    let mut live = converged(&d);
    let cw = d.roles.iter().find(|r| r.preset == CW).unwrap().name.clone();
    live.roles.get_mut(&cw).unwrap().attached.retain(|a| a != CW_ARNS[1]);
    // Something else attached by hand stays attached (apply never detaches; verify reports it).
    live.roles.get_mut(&cw).unwrap().attached.push(CNI_COPY.into());
    let p = aws::decide(&d, &live, false).unwrap();
    assert_eq!(p.calls(), [format!("iam:AttachRolePolicy {cw} {}", CW_ARNS[1])]);
}

#[test]
fn a_managed_policy_missing_from_the_partition_is_refused_before_any_write() {
    let d = desired();
    let mut live = empty();
    live.missing_extra_policies.push((CNI.into(), CNI_ARN.into()));
    let e = aws::decide(&d, &live, false).expect_err("refused");
    assert_eq!(e.exit_code(), 2, "{e}");
    let e = e.to_string();
    assert!(
        e.contains("presets.vpc-cni-managed.policy") && e.contains(CNI_ARN) && e.contains("AWS managed"),
        "{e}"
    );
    assert!(!e.contains("extraPolicyArns"), "{e}");
}

/// Whatever built the desired state, a plan never creates, versions or tags an AWS managed
/// policy: even with the policy present in IAM and `--adopt`.
#[test]
fn a_policy_write_on_an_aws_managed_arn_is_refused() {
    let mut d = desired();
    d.policies.push(DesiredPolicy {
        name: "AmazonEKS_CNI_Policy".into(),
        arn: CNI_ARN.into(),
        presets: vec![CNI.into()],
        document: serde_json::json!({"Version": "2012-10-17", "Statement": []}),
        tags: BTreeMap::new(),
    });
    for adopt in [false, true] {
        let e = aws::decide(&d, &empty(), adopt).expect_err("refused");
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(
            e.to_string().contains(CNI_ARN) && e.to_string().contains("only AWS"),
            "{e}"
        );
    }
    // And the component route: a customer policy ARN in `iam::aws:` is refused building it.
    let mut b = bundle(&[CNI]);
    b.components[0].aws_managed = None;
    b.components[0].policy_arn = CNI_ARN.into();
    let e = Desired::from_bundle(&b, "apply --aws")
        .expect_err("refused")
        .to_string();
    assert!(e.contains("AWS managed policy ARN"), "{e}");
}

// ---- verify --aws, decided offline -------------------------------------------------------

fn failing(checks: &[irsagen::report::Check]) -> Vec<(String, String)> {
    checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| (c.preset.clone().unwrap_or_default(), c.name.clone()))
        .collect()
}

#[test]
fn verify_wants_the_managed_policies_attached_and_nothing_else() {
    let d = desired();
    let checks = verify(&d, &converged(&d));
    assert!(failing(&checks).is_empty(), "{}", irsagen::report::to_text(&checks));
    assert!(
        checks.iter().all(|c| c.name != "policy-document"),
        "no document to compare"
    );
    let attached = checks
        .iter()
        .find(|c| c.preset.as_deref() == Some(CNI) && c.name == "policy-attached")
        .unwrap();
    assert_eq!(attached.detail, "AWS managed AmazonEKS_CNI_Policy attached");

    // Detached by hand: policy-attached fails and names it.
    let mut live = converged(&d);
    let cni = cni_role(&d).to_string();
    live.roles.get_mut(&cni).unwrap().attached.clear();
    let checks = verify(&d, &live);
    assert_eq!(failing(&checks), [(CNI.to_string(), "policy-attached".to_string())]);
    assert!(irsagen::report::to_text(&checks).contains(CNI_ARN));

    // The customer copy attached as well: more than the bundle grants.
    let mut live = converged(&d);
    live.roles.get_mut(&cni).unwrap().attached.push(CNI_COPY.into());
    let checks = verify(&d, &live);
    assert_eq!(failing(&checks), [(CNI.to_string(), "policy-extra".to_string())]);
    assert!(irsagen::report::to_text(&checks).contains(CNI_COPY));
}

/// A fleet check compares the customer managed policies clusters of one account would share;
/// a component with AWS managed policies creates none, so its unused document cannot clash.
#[test]
fn in_a_fleet_an_aws_managed_component_shares_no_policy_name() {
    let managed = bundle(&[CNI]);
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(presets_dir().join("vpc-cni-managed.yaml"))
        .unwrap()
        .replace("  default: aws-managed\n", "")
        .replace("ec2:DescribeInstances, ", "");
    std::fs::write(tmp.path().join("vpc-cni-managed.yaml"), text).unwrap();
    let inputs = ClusterInputs {
        cluster: Some("other-cluster".into()),
        ..guide_inputs()
    };
    let document = Renderer::new(Some(tmp.path()), None)
        .unwrap()
        .render(&Context::new(&inputs).unwrap(), &selection(&[CNI], None))
        .unwrap();
    assert_eq!(managed.components[0].policy_name, document.components[0].policy_name);
    assert_ne!(
        managed.components[0].policy_document,
        document.components[0].policy_document
    );
    irsagen::fleet::check(&[managed.clone(), document.clone()]).expect("no shared policy");
    // Both creating it, the same name with two documents is still refused.
    let mut both = managed;
    both.components[0].aws_managed = None;
    let e = irsagen::fleet::check(&[both, document]).unwrap_err().to_string();
    assert!(e.contains("policyName") && e.contains("different document"), "{e}");
}
