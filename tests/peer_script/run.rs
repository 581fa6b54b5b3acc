//! The script end to end: first run, drift, `--check`, repair with no other writes, IAM's
//! five-version limit, errors that are not "absent", and the EFS driver as an EKS addon.

use crate::support::*;

const CA_POLICY: &str = "arn:aws:iam::123456789012:policy/AmazonEKSClusterAutoscalerPolicy";
const DRIFTED: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DescribeRegions","Resource":"*"}]}"#;

fn default_version(s: &Setup, arn: &str) -> String {
    s.aws(&[
        "iam",
        "get-policy",
        "--policy-arn",
        arn,
        "--query",
        "Policy.DefaultVersionId",
        "--output",
        "text",
    ])
    .trim()
    .to_string()
}

fn versions(s: &Setup, arn: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .aws(&[
            "iam",
            "list-policy-versions",
            "--policy-arn",
            arn,
            "--query",
            "Versions[].VersionId",
            "--output",
            "text",
        ])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    v.sort_by_key(|x| x.trim_start_matches('v').parse::<u32>().unwrap_or(0));
    v
}

fn drift_policy(s: &Setup) {
    s.aws(&[
        "iam",
        "create-policy-version",
        "--policy-arn",
        CA_POLICY,
        "--policy-document",
        DRIFTED,
        "--set-as-default",
    ]);
}

/// What the guide's cluster needs, checked with the real tools after a run.
fn assert_set_up(s: &Setup) {
    for sa in ["cluster-autoscaler", "ebs-csi-controller-sa", "efs-csi-controller-sa"] {
        assert_eq!(s.annotation(sa), s.role_arn(sa), "annotation of {sa}");
        let tag = |k: &str| {
            let q = format!("Tags[?Key=='{k}'].Value");
            s.aws(&[
                "iam",
                "list-role-tags",
                "--role-name",
                &s.role_name(sa),
                "--query",
                &q,
                "--output",
                "text",
            ])
            .trim()
            .to_string()
        };
        assert_eq!(
            tag("managed-by"),
            "eksctl",
            "eksctl's roles are tagged managed-by=eksctl"
        );
        assert_eq!(tag("irsagen:service-account"), format!("{}/{sa}", s.namespace));
    }
}

#[test]
fn first_run_sets_up_a_rerun_repairs_drift_with_no_other_writes() {
    let s = Setup::new("drift", &["--set", LOCAL_OVERLAY]);

    // First run: everything is created and the final check passes.
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "first run: {}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("IRSA setup complete and checked"));
    assert_set_up(&s);
    let w = writes(&calls);
    for expected in [
        "create-policy --policy-name AmazonEKSClusterAutoscalerPolicy",
        "create-role",
        "state-write\tcreate addon",
    ] {
        let expected = expected.replace('\t', " ");
        assert!(
            w.iter().any(|c| c.contains(&expected)),
            "first run should {expected}: {w:#?}"
        );
    }
    assert!(
        !w.iter().any(|c| c.contains("tag-role")),
        "eksctl tagged the roles (--tags); nothing to re-tag: {w:#?}"
    );

    // Second run on an unchanged world: no write at all, on either side.
    let before = s.resource_versions();
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "second run: {}", text(&o));
    let w: Vec<String> = writes(&calls)
        .into_iter()
        .filter(|c| !c.contains("kubectl apply -k"))
        .collect();
    assert!(w.is_empty(), "an unchanged world takes no writes: {w:#?}");
    assert_eq!(
        s.resource_versions(),
        before,
        "kubectl apply -k of an unchanged overlay changes nothing"
    );

    // Drift: an annotation removed, a policy's default version changed behind the script's back.
    s.kubectl(&[
        "annotate",
        "serviceaccount",
        "efs-csi-controller-sa",
        "-n",
        &s.namespace,
        "eks.amazonaws.com/role-arn-",
    ]);
    drift_policy(&s);
    assert_eq!(versions(&s, CA_POLICY), ["v1", "v2"]);

    // --check sees both, says what to fix, exits non-zero, and changes nothing.
    let (o, calls) = s.script(&["--check"], &[]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        err.contains(&format!(
            "FAIL: ServiceAccount {}/efs-csi-controller-sa has role-arn annotation ''",
            s.namespace
        )),
        "{err}"
    );
    assert!(err.contains("FAIL: policy AmazonEKSClusterAutoscalerPolicy"), "{err}");
    assert!(err.contains("2 problem(s)"), "{err}");
    assert!(
        writes(&calls).is_empty(),
        "--check writes nothing: {:#?}",
        writes(&calls)
    );

    // The re-run repairs exactly those two: one new policy version, one annotation.
    let before = s.resource_versions();
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "repair run: {}", text(&o));
    let w: Vec<String> = writes(&calls)
        .into_iter()
        .filter(|c| !c.contains("kubectl apply -k"))
        .collect();
    assert_eq!(w.len(), 2, "{w:#?}");
    assert!(
        w[0].contains(&format!("aws iam create-policy-version --policy-arn {CA_POLICY}")),
        "{w:#?}"
    );
    assert!(
        w[1].contains("kubectl annotate --overwrite serviceaccount efs-csi-controller-sa"),
        "{w:#?}"
    );
    assert_set_up(&s);
    assert_eq!(default_version(&s, CA_POLICY), "v3");
    assert_eq!(
        versions(&s, CA_POLICY),
        ["v1", "v2", "v3"],
        "below IAM's limit nothing is deleted"
    );
    let after = s.resource_versions();
    let changed: Vec<&String> = after.keys().filter(|k| before.get(*k) != after.get(*k)).collect();
    assert_eq!(
        changed,
        ["ServiceAccount/efs-csi-controller-sa"],
        "only the repaired object changed"
    );

    // At IAM's limit of 5 versions the oldest non-default one goes first.
    drift_policy(&s);
    drift_policy(&s);
    assert_eq!(versions(&s, CA_POLICY), ["v1", "v2", "v3", "v4", "v5"]);
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "limit run: {}", text(&o));
    let w = writes(&calls);
    let w: Vec<&String> = w.iter().filter(|c| !c.contains("kubectl apply -k")).collect();
    assert_eq!(w.len(), 2, "{w:#?}");
    assert!(
        w[0].contains("delete-policy-version") && w[0].ends_with("--version-id v1"),
        "{w:#?}"
    );
    assert!(w[1].contains("create-policy-version"), "{w:#?}");
    assert_eq!(versions(&s, CA_POLICY), ["v2", "v3", "v4", "v5", "v6"]);
    assert_eq!(default_version(&s, CA_POLICY), "v6");

    // The controller running as another ServiceAccount fails the check; a re-run repairs it.
    s.kubectl(&[
        "patch",
        "deployment",
        "efs-csi-controller",
        "-n",
        &s.namespace,
        "-p",
        r#"{"spec":{"template":{"spec":{"serviceAccountName":"default"}}}}"#,
    ]);
    let (o, _) = s.script(&["--check"], &[]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        err.contains(&format!(
            "FAIL: Deployment {}/efs-csi-controller runs as ServiceAccount 'default', want efs-csi-controller-sa",
            s.namespace
        )),
        "{err}"
    );
    let (o, _) = s.script(&[], &[]);
    assert!(o.status.success(), "controller repair run: {}", text(&o));
    let sa = s.kubectl(&[
        "get",
        "deployment",
        "efs-csi-controller",
        "-n",
        &s.namespace,
        "-o",
        "jsonpath={.spec.template.spec.serviceAccountName}",
    ]);
    assert_eq!(sa, "efs-csi-controller-sa");
    s.cleanup();
}

#[test]
fn a_failed_read_is_an_error_not_absent() {
    let s = Setup::new("denied", &["--set", LOCAL_OVERLAY]);
    let (o, calls) = s.script(&[], &[("IRSAGEN_FAIL_AWS", "iam get-policy")]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(err.contains("AccessDenied") && err.contains("failed:"), "{err}");
    assert!(
        !calls.iter().any(|c| c.args.starts_with("iam create-policy")),
        "access denied must not lead to a create: {calls:#?}"
    );
    assert!(
        !calls.iter().any(|c| c.args.starts_with("create iamserviceaccount")),
        "{calls:#?}"
    );

    // The same for the stand-in's addon lookup failing with something else than not-found is
    // covered by read_state's one code path; a real absent policy is created.
    let (o, _) = s.script(&[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    s.cleanup();
}

#[test]
fn efs_driver_as_the_eks_addon() {
    let s = Setup::new("addon", &["--set", "efs-csi-driver.installSource=addon"]);
    let script = std::fs::read_to_string(s.out.join("setup-irsa.sh")).unwrap();
    assert!(
        !script.lines().any(|l| l.starts_with("kubectl apply -k")),
        "the addon replaces the overlay"
    );
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let w = writes(&calls);
    assert!(
        w.iter().any(|c| c.contains(&format!(
            "create addon aws-efs-csi-driver {}",
            s.role_arn("efs-csi-controller-sa")
        ))),
        "{w:#?}"
    );
    assert_set_up(&s);
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(writes(&calls).is_empty(), "{:#?}", writes(&calls));
    s.cleanup();
}

fn policy_tags(s: &Setup, arn: &str) -> String {
    s.aws(&[
        "iam",
        "list-policy-tags",
        "--policy-arn",
        arn,
        "--query",
        "sort_by(Tags, &Key)[].[Key, Value]",
        "--output",
        "text",
    ])
}

#[test]
fn policy_tags_are_repaired_on_irsagen_policies_only() {
    let s = Setup::new("ptags", &["--set", LOCAL_OVERLAY]);
    let (o, _) = s.script(&[], &[]);
    assert!(o.status.success(), "first run: {}", text(&o));
    let rendered = policy_tags(&s, CA_POLICY);
    assert_eq!(
        rendered, "irsagen:preset\tcluster-autoscaler\nmanaged-by\tirsagen\n",
        "created with the rendered tags"
    );

    // A tag removed from an irsagen policy: the re-run puts back exactly that tag, nothing else.
    s.aws(&[
        "iam",
        "untag-policy",
        "--policy-arn",
        CA_POLICY,
        "--tag-keys",
        "irsagen:preset",
    ]);
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "repair run: {}", text(&o));
    let w: Vec<String> = writes(&calls)
        .into_iter()
        .filter(|c| !c.contains("kubectl apply -k"))
        .collect();
    assert_eq!(
        w,
        [format!(
            r#"[script] aws iam tag-policy --policy-arn {CA_POLICY} --tags [{{"Key":"irsagen:preset","Value":"cluster-autoscaler"}}]"#
        )],
        "only the missing tag is written"
    );
    assert_eq!(policy_tags(&s, CA_POLICY), rendered);
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        writes(&calls).iter().all(|c| c.contains("kubectl apply -k")),
        "{:#?}",
        writes(&calls)
    );

    // A policy someone else owns (managed-by changed): its tags are left alone, with a note.
    s.aws(&[
        "iam",
        "tag-policy",
        "--policy-arn",
        CA_POLICY,
        "--tags",
        "Key=managed-by,Value=someone-else",
    ]);
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        writes(&calls).iter().all(|c| c.contains("kubectl apply -k")),
        "another's policy is not re-tagged: {:#?}",
        writes(&calls)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(
            "policy AmazonEKSClusterAutoscalerPolicy: not tagged managed-by=irsagen, so its tags are left alone"
        ),
        "{}",
        text(&o)
    );
    assert_eq!(
        policy_tags(&s, CA_POLICY),
        "irsagen:preset\tcluster-autoscaler\nmanaged-by\tsomeone-else\n"
    );
    s.cleanup();
}

#[test]
fn a_policy_detached_by_hand_is_attached_again() {
    const EFS_POLICY: &str = "arn:aws:iam::123456789012:policy/AmazonEKS_EFS_CSI_Driver_Policy";
    let s = Setup::new("dpol", &["--set", LOCAL_OVERLAY]);
    let (o, _) = s.script(&[], &[]);
    assert!(o.status.success(), "first run: {}", text(&o));
    let role = s.role_name("efs-csi-controller-sa");
    s.aws(&[
        "iam",
        "detach-role-policy",
        "--role-name",
        &role,
        "--policy-arn",
        EFS_POLICY,
    ]);

    let (o, _) = s.script(&["--check"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("FAIL: role {role} lacks policy {EFS_POLICY}")),
        "{}",
        text(&o)
    );

    // eksctl's change set is empty (the stack's template still lists the policy), as the real
    // eksctl's is: the script attaches it itself, and writes nothing else.
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "repair run: {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing to update"),
        "{}",
        text(&o)
    );
    let w: Vec<String> = writes(&calls)
        .into_iter()
        .filter(|c| !c.contains("kubectl apply -k"))
        .collect();
    assert_eq!(
        w,
        [format!(
            "[script] aws iam attach-role-policy --role-name {role} --policy-arn {EFS_POLICY}"
        )]
    );
    let attached = s.aws(&[
        "iam",
        "list-attached-role-policies",
        "--role-name",
        &role,
        "--query",
        "AttachedPolicies[].PolicyArn",
        "--output",
        "text",
    ]);
    assert_eq!(attached.trim(), EFS_POLICY);
    s.cleanup();
}

/// Detaches `arn` from `role` by hand: `--check` FAILs naming it, and the next run attaches it
/// again with no other write.
fn detached_by_hand_fails_check_and_is_reattached(s: &Setup, role: &str, arn: &str) {
    s.aws(&["iam", "detach-role-policy", "--role-name", role, "--policy-arn", arn]);
    let (o, _) = s.script(&["--check"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("FAIL: role {role} lacks policy {arn}")),
        "{}",
        text(&o)
    );
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "repair run: {}", text(&o));
    assert_eq!(
        writes(&calls),
        [format!(
            "[script] aws iam attach-role-policy --role-name {role} --policy-arn {arn}"
        )]
    );
}

/// `policy: aws-managed` (a fixture preset shaped like the VPC CNI, beside the autoscaler): the
/// script checks the AWS managed policy exists, eksctl attaches it, nothing creates, versions or
/// tags it; a re-run writes nothing, and a detached one is attached again.
#[test]
fn aws_managed_policies_are_attached_never_created() {
    const CNI_ARN: &str = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy";
    let presets_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/presets-aws-managed");
    let s = Setup::with_presets(
        "awsm",
        &["cluster-autoscaler", "vpc-cni-managed"],
        &["--presets-dir", presets_dir],
    );
    assert!(!s.out.join("iam/vpc-cni-managed/policy.json").exists());
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "first run: {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("policy {CNI_ARN}: AWS managed (version v")),
        "{}",
        text(&o)
    );
    let w = writes(&calls);
    for c in &w {
        let policy_write = ["create-policy", "tag-policy", "delete-policy"]
            .iter()
            .any(|v| c.contains(&format!("aws iam {v}")));
        assert!(!(policy_write && c.contains(":iam::aws:")), "{c}");
    }
    let role = s.role_name("aws-node");
    assert!(
        w.contains(&format!(
            "[eksctl-stand-in] aws iam attach-role-policy --role-name {role} --policy-arn {CNI_ARN}"
        )),
        "{w:#?}"
    );
    assert!(
        w.iter()
            .any(|c| c.contains(&format!("create addon vpc-cni {}", s.role_arn("aws-node")))),
        "{w:#?}"
    );
    assert_eq!(s.annotation("aws-node"), s.role_arn("aws-node"));

    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "second run: {}", text(&o));
    assert!(writes(&calls).is_empty(), "{:#?}", writes(&calls));

    detached_by_hand_fails_check_and_is_reattached(&s, &role, CNI_ARN);
    s.cleanup();
}

/// A preset with two customer managed policies (`policy.additional`, the shape of karpenter's
/// six): the script creates and tags both, eksctl attaches both, a re-run writes nothing, and a
/// detached second policy fails `--check` and is attached again.
#[test]
fn each_customer_managed_policy_of_a_preset_is_created_and_attached() {
    let presets_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/presets-multi-policy");
    let s = Setup::with_presets("multi", &["two"], &["--presets-dir", presets_dir]);
    assert!(s.out.join("iam/two/policy-TwoSecondPolicy.json").exists());
    let first = format!("arn:aws:iam::{ACCOUNT}:policy/TwoFirstPolicy-{}", s.cluster);
    let second = format!("arn:aws:iam::{ACCOUNT}:policy/TwoSecondPolicy");
    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "first run: {}", text(&o));
    let w = writes(&calls);
    for name in [format!("TwoFirstPolicy-{}", s.cluster), "TwoSecondPolicy".to_string()] {
        assert!(
            w.iter()
                .any(|c| c.contains("aws iam create-policy") && c.contains(&format!("--policy-name {name} "))),
            "{name}: {w:#?}"
        );
    }
    let role = s.role_name("two");
    let attached = s.aws(&[
        "iam",
        "list-attached-role-policies",
        "--role-name",
        &role,
        "--query",
        "AttachedPolicies[].PolicyArn",
        "--output",
        "text",
    ]);
    let mut got: Vec<&str> = attached.split_whitespace().collect();
    got.sort();
    let mut want = vec![first.as_str(), second.as_str()];
    want.sort();
    assert_eq!(got, want);

    let (o, calls) = s.script(&[], &[]);
    assert!(o.status.success(), "second run: {}", text(&o));
    assert!(writes(&calls).is_empty(), "{:#?}", writes(&calls));

    detached_by_hand_fails_check_and_is_reattached(&s, &role, &second);
    s.cleanup();
}
