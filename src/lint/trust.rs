//! Rules for role trust policies: who may assume the role. irsagen renders one IRSA statement
//! (this cluster's OIDC provider, `StringEquals` on the exact subject and the audience) and one
//! Pod Identity statement (`pods.eks.amazonaws.com`, scoped by the session tags EKS sets; see
//! [`crate::identity`]). These rules report every way a trust lets in more than that.

use super::{Context, Findings, Severity, Stmt};
use crate::identity::{AUDIENCE, POD_IDENTITY_PRINCIPAL, SOURCE_ACCOUNT_KEY, session_tag};
use serde_json::Value;

/// One condition: its operator (as written), key (as written) and values.
struct Cond<'a> {
    op: &'a str,
    key: &'a str,
    values: Vec<String>,
}

impl Cond<'_> {
    /// The operator without `ForAnyValue:`/`ForAllValues:` and `IfExists`.
    fn base_op(&self) -> &str {
        let op = self
            .op
            .strip_prefix("ForAnyValue:")
            .or_else(|| self.op.strip_prefix("ForAllValues:"))
            .unwrap_or(self.op);
        op.strip_suffix("IfExists").unwrap_or(op)
    }

    /// Whether the condition restricts the key to the values (not a negation).
    fn is_positive_string(&self) -> bool {
        matches!(self.base_op(), "StringEquals" | "StringEqualsIgnoreCase" | "StringLike")
    }

    fn key_is(&self, key: &str) -> bool {
        self.key.eq_ignore_ascii_case(key)
    }
}

fn conditions<'a>(st: &Stmt<'a>) -> Vec<Cond<'a>> {
    let mut out = Vec::new();
    let Some(ops) = st.value.get("Condition").and_then(Value::as_object) else {
        return out;
    };
    for (op, keys) in ops {
        let Some(keys) = keys.as_object() else { continue };
        for (key, v) in keys {
            let values = match v {
                Value::Array(a) => a.iter().map(value_text).collect(),
                other => vec![value_text(other)],
            };
            out.push(Cond { op, key, values });
        }
    }
    out
}

fn value_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// The principal values of `kind` (`AWS`, `Federated`, `Service`); `*` as a whole principal
/// counts as `AWS: *`.
fn principals<'a>(st: &Stmt<'a>, kind: &str) -> Vec<&'a str> {
    match st.value.get("Principal") {
        Some(Value::String(s)) if kind == "AWS" => vec![s.as_str()],
        Some(Value::Object(o)) => o.get(kind).and_then(crate::policy_doc::strings).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// What the bundle says about the role whose trust policy is checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Of<'a> {
    /// The preset chose `podIdentityTrust: unscoped`: an unscoped Pod Identity statement is a warning.
    pub unscoped_ok: bool,
    /// The ServiceAccount's subject, `system:serviceaccount:<ns>:<name>`, when known.
    pub subject: Option<&'a str>,
}

/// Checks the Allow statements of the trust policy `doc`.
pub fn check(doc: &Value, ctx: &Context, of: &Of<'_>, out: &mut Findings<'_>) {
    for st in Stmt::all(doc) {
        if !st.allows() {
            continue;
        }
        let conds = conditions(&st);
        any_principal(&st, out);
        foreign(&st, &conds, ctx, out);
        for provider in principals(&st, "Federated") {
            if let Some((_, host_path)) = provider.split_once(":oidc-provider/") {
                irsa(&st, &conds, host_path, of.subject, out);
            }
        }
        if principals(&st, "Service")
            .iter()
            .any(|s| s.eq_ignore_ascii_case(POD_IDENTITY_PRINCIPAL))
        {
            pod_identity(&st, &conds, of.unscoped_ok, out);
        }
    }
}

fn any_principal(st: &Stmt<'_>, out: &mut Findings<'_>) {
    let star = ["AWS", "Federated", "Service", "CanonicalUser"]
        .iter()
        .any(|k| principals(st, k).contains(&"*"));
    if star {
        out.at(
            st,
            "trust-any-principal",
            Severity::Error,
            "the principal is `*`: any AWS account may assume the role".into(),
        );
    }
}

/// The partition and account of an ARN (`arn:<p>:<svc>:<region>:<account>:…`).
fn arn_parts(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let partition = parts.next()?;
    let (_svc, _region) = (parts.next()?, parts.next()?);
    let account = parts.next()?;
    parts.next()?;
    Some((partition, account))
}

/// Principals and condition values that name another account or partition than `ctx`'s.
fn foreign(st: &Stmt<'_>, conds: &[Cond<'_>], ctx: &Context, out: &mut Findings<'_>) {
    let mut problems = Vec::new();
    let mut arn = |what: String, value: &str| {
        let Some((partition, account)) = arn_parts(value) else {
            return;
        };
        if let Some(p) = ctx.partition.as_deref().filter(|p| *p != partition) {
            problems.push(format!(
                "{what} `{value}` is in partition `{partition}`, not {} `{p}`",
                ctx.expected
            ));
        } else if let Some(a) = ctx
            .account
            .as_deref()
            .filter(|a| !account.is_empty() && *a != account && account != "aws")
        {
            problems.push(format!(
                "{what} `{value}` is in account {account}, not {} {a}",
                ctx.expected
            ));
        }
    };
    for kind in ["AWS", "Federated"] {
        for p in principals(st, kind) {
            arn(format!("principal {kind}"), p);
        }
    }
    for c in conds {
        if c.key_is("aws:SourceArn") || c.key_is(session_tag::CLUSTER_ARN) {
            for v in &c.values {
                arn(format!("condition {}", c.key), v);
            }
        }
    }
    if let Some(a) = ctx.account.as_deref() {
        for p in principals(st, "AWS") {
            if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) && p != a {
                problems.push(format!(
                    "principal AWS `{p}` is another account than {} {a}",
                    ctx.expected
                ));
            }
        }
        for c in conds.iter().filter(|c| c.key_is(SOURCE_ACCOUNT_KEY)) {
            for v in c.values.iter().filter(|v| *v != a) {
                problems.push(format!(
                    "condition {} `{v}` is another account than {} {a}",
                    c.key, ctx.expected
                ));
            }
        }
    }
    for p in problems {
        out.at(st, "trust-foreign-principal", Severity::Error, p);
    }
}

/// An IRSA statement of the provider `host_path`: subject and audience conditions.
fn irsa(st: &Stmt<'_>, conds: &[Cond<'_>], host_path: &str, subject: Option<&str>, out: &mut Findings<'_>) {
    let subject = subject.unwrap_or("system:serviceaccount:NAMESPACE:NAME");
    let sub_key = format!("{host_path}:sub");
    let aud_key = format!("{host_path}:aud");
    let subs: Vec<&Cond<'_>> = conds
        .iter()
        .filter(|c| c.key_is(&sub_key) && c.is_positive_string())
        .collect();
    let has_aud = conds.iter().any(|c| c.key_is(&aud_key) && c.is_positive_string());
    if subs.is_empty() {
        let which = if has_aud {
            "an audience-only trust: it has no"
        } else {
            "it has no"
        };
        out.at(
            st,
            "trust-no-subject",
            Severity::Error,
            format!(
                "{which} `{sub_key}` condition, so every ServiceAccount of the cluster may assume the role; \
                 add `\"StringEquals\": {{\"{sub_key}\": \"{subject}\"}}`"
            ),
        );
    }
    if !has_aud {
        out.at(
            st,
            "trust-no-audience",
            Severity::Warning,
            format!("it has no `{aud_key}` condition; add `\"StringEquals\": {{\"{aud_key}\": \"{AUDIENCE}\"}}`"),
        );
    }
    for c in subs.iter().filter(|c| c.base_op() == "StringLike") {
        for v in &c.values {
            if v.contains(['*', '?']) {
                out.at(
                    st,
                    "trust-wildcard-subject",
                    Severity::Error,
                    format!(
                        "`{}` `{sub_key}` `{v}` matches many ServiceAccounts; name the one ServiceAccount with StringEquals",
                        c.op
                    ),
                );
            } else {
                out.at(
                    st,
                    "trust-wildcard-subject",
                    Severity::Warning,
                    format!(
                        "`{}` on `{sub_key}` with `{v}` (no wildcard): use StringEquals, so a later `*` cannot widen it unnoticed",
                        c.op
                    ),
                );
            }
        }
    }
}

/// A Pod Identity statement: scoped by the three session tags with plain `StringEquals`
/// (`…IfExists` would pass a session without tags).
fn pod_identity(st: &Stmt<'_>, conds: &[Cond<'_>], unscoped_ok: bool, out: &mut Findings<'_>) {
    let equals = |key: &str| {
        conds
            .iter()
            .any(|c| c.op == "StringEquals" && c.key_is(key) && c.values.iter().all(|v| !v.contains(['*', '?'])))
    };
    let missing: Vec<&str> = [
        session_tag::CLUSTER_ARN,
        session_tag::NAMESPACE,
        session_tag::SERVICE_ACCOUNT,
    ]
    .into_iter()
    .filter(|k| !equals(k))
    .collect();
    if missing.is_empty() {
        return;
    }
    let has_account = equals(SOURCE_ACCOUNT_KEY);
    let missing = missing.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    if unscoped_ok && has_account {
        out.at(
            st,
            "trust-pod-identity-unscoped",
            Severity::Warning,
            format!(
                "Pod Identity trust without {missing}: any cluster's Pod Identity association in the account may use the role \
                 (the preset chose `podIdentityTrust: unscoped`)"
            ),
        );
    } else {
        let account = if has_account {
            ""
        } else {
            " and without `aws:SourceAccount`"
        };
        out.at(
            st,
            "trust-pod-identity-unscoped",
            Severity::Error,
            format!(
                "Pod Identity trust without StringEquals on {missing}{account}: any Pod Identity association that names the role may use it; \
                 irsagen renders the scoped form (or choose `podIdentityTrust: unscoped` for a role shared by clusters)"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::Finding;
    use serde_json::json;

    const HOST: &str = "oidc.eks.us-east-1.amazonaws.com/id/EX";
    const PROVIDER: &str = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EX";

    fn ctx() -> Context {
        Context {
            account: Some("123456789012".into()),
            partition: Some("aws".into()),
            ..Context::default()
        }
    }

    fn run_with(statement: Value, ctx: &Context, unscoped_ok: bool) -> Vec<Finding> {
        let doc = json!({"Version":"2012-10-17","Statement":[statement]});
        let mut out = Findings::new("trust.json");
        let of = Of {
            unscoped_ok,
            subject: None,
        };
        check(&doc, ctx, &of, &mut out);
        out.into_vec()
    }

    fn run(statement: Value) -> Vec<Finding> {
        run_with(statement, &ctx(), false)
    }

    fn rules(f: &[Finding]) -> Vec<(&str, Severity)> {
        f.iter().map(|f| (f.rule, f.severity)).collect()
    }

    fn irsa_st(condition: Value) -> Value {
        json!({"Effect":"Allow","Principal":{"Federated":PROVIDER},"Action":"sts:AssumeRoleWithWebIdentity","Condition":condition})
    }

    fn pod_st(equals: Value) -> Value {
        json!({"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],
               "Condition":{"StringEquals": equals}})
    }

    /// What irsagen renders (src/identity.rs) passes every rule.
    #[test]
    fn irsagens_own_statements_pass() {
        use crate::component::ServiceAccountRef;
        use crate::context::OidcProvider;
        use crate::identity::{PodIdentityScope, PodIdentityTrust, irsa_statement, pod_identity_statement};
        let provider = OidcProvider {
            issuer_url: format!("https://{HOST}"),
            host_path: HOST.into(),
            provider_arn: PROVIDER.into(),
        };
        let sa = ServiceAccountRef {
            namespace: "kube-system".into(),
            name: "sa".into(),
        };
        assert!(run(irsa_statement(&provider, &sa.subject())).is_empty());
        let scope = PodIdentityScope {
            account: "123456789012",
            cluster_arn: "arn:aws:eks:us-east-1:123456789012:cluster/c",
            service_account: &sa,
            trust: PodIdentityTrust::Scoped,
        };
        assert!(run(pod_identity_statement(&scope)).is_empty());
        // The unscoped form is a warning only when the preset chose it.
        let unscoped = pod_identity_statement(&PodIdentityScope {
            trust: PodIdentityTrust::Unscoped,
            ..scope
        });
        assert_eq!(
            rules(&run_with(unscoped.clone(), &ctx(), true)),
            [("trust-pod-identity-unscoped", Severity::Warning)]
        );
        assert_eq!(
            rules(&run(unscoped)),
            [("trust-pod-identity-unscoped", Severity::Error)]
        );
    }

    #[test]
    fn aud_only_trust_is_an_error() {
        let f = run(irsa_st(
            json!({"StringEquals":{format!("{HOST}:aud"): "sts.amazonaws.com"}}),
        ));
        assert_eq!(rules(&f), [("trust-no-subject", Severity::Error)]);
        assert!(f[0].message.starts_with("an audience-only trust"), "{}", f[0].message);
        assert!(f[0].message.contains(&format!("{HOST}:sub")), "{}", f[0].message);
        assert!(
            f[0].message.contains("system:serviceaccount:NAMESPACE:NAME"),
            "{}",
            f[0].message
        );
        // In a bundle the fix names the preset's ServiceAccount.
        let doc = json!({"Version":"2012-10-17","Statement":[irsa_st(json!({"StringEquals":{format!("{HOST}:aud"): "sts.amazonaws.com"}}))]});
        let mut out = Findings::new("trust.json");
        let of = Of {
            unscoped_ok: false,
            subject: Some("system:serviceaccount:kube-system:sa"),
        };
        check(&doc, &ctx(), &of, &mut out);
        let f = out.into_vec();
        assert!(
            f[0].message.contains(r#": "system:serviceaccount:kube-system:sa"}"#),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn a_negated_subject_does_not_count_as_one() {
        let f = run(irsa_st(json!({
            "StringNotEquals":{format!("{HOST}:sub"): "system:serviceaccount:kube-system:other"},
            "StringEquals":{format!("{HOST}:aud"): "sts.amazonaws.com"}})));
        assert_eq!(rules(&f), [("trust-no-subject", Severity::Error)]);
    }

    #[test]
    fn missing_audience_is_a_warning_and_no_conditions_at_all_is_both() {
        let f = run(irsa_st(
            json!({"StringEquals":{format!("{HOST}:sub"): "system:serviceaccount:a:b"}}),
        ));
        assert_eq!(rules(&f), [("trust-no-audience", Severity::Warning)]);
        let st = json!({"Effect":"Allow","Principal":{"Federated":PROVIDER},"Action":"sts:AssumeRoleWithWebIdentity"});
        assert_eq!(
            rules(&run(st)),
            [
                ("trust-no-subject", Severity::Error),
                ("trust-no-audience", Severity::Warning)
            ]
        );
    }

    #[test]
    fn condition_keys_ignore_case_like_iam() {
        let f = run(irsa_st(json!({"StringEquals":{
            format!("{}:SUB", HOST.to_uppercase()): "system:serviceaccount:a:b",
            format!("{HOST}:Aud"): "sts.amazonaws.com"}})));
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn wildcard_subjects_are_errors_and_stringlike_without_one_a_warning() {
        let aud = json!("sts.amazonaws.com");
        let f = run(irsa_st(
            json!({"StringLike":{format!("{HOST}:sub"): "system:serviceaccount:kube-system:*"},
                                   "StringEquals":{format!("{HOST}:aud"): aud}}),
        ));
        assert_eq!(rules(&f), [("trust-wildcard-subject", Severity::Error)]);
        assert!(
            f[0].message.contains("system:serviceaccount:kube-system:*"),
            "{}",
            f[0].message
        );
        let f = run(irsa_st(
            json!({"ForAnyValue:StringLike":{format!("{HOST}:sub"): ["system:serviceaccount:a:b", "system:serviceaccount:?:b"]},
                                   "StringEquals":{format!("{HOST}:aud"): aud}}),
        ));
        assert_eq!(
            rules(&f),
            [
                ("trust-wildcard-subject", Severity::Warning),
                ("trust-wildcard-subject", Severity::Error)
            ]
        );
        let f = run(irsa_st(
            json!({"StringLike":{format!("{HOST}:sub"): "system:serviceaccount:a:b",
                                                 format!("{HOST}:aud"): aud}}),
        ));
        assert_eq!(rules(&f), [("trust-wildcard-subject", Severity::Warning)]);
    }

    #[test]
    fn another_accounts_or_partitions_principal_is_an_error() {
        let other = PROVIDER.replace("123456789012", "210987654321");
        let st = json!({"Effect":"Allow","Principal":{"Federated":other},"Action":"sts:AssumeRoleWithWebIdentity",
                        "Condition":{"StringEquals":{format!("{HOST}:sub"):"system:serviceaccount:a:b", format!("{HOST}:aud"):"sts.amazonaws.com"}}});
        let f = run(st.clone());
        assert_eq!(rules(&f), [("trust-foreign-principal", Severity::Error)]);
        assert!(
            f[0].message
                .contains("account 210987654321, not the bundle's 123456789012"),
            "{}",
            f[0].message
        );
        // Without a bundle's account and partition it cannot be told.
        assert!(run_with(st, &Context::default(), false).is_empty());
        let cn = irsa_st(
            json!({"StringEquals":{format!("{HOST}:sub"):"system:serviceaccount:a:b", format!("{HOST}:aud"):"sts.amazonaws.com"}}),
        );
        let cn = serde_json::from_str::<Value>(&cn.to_string().replace("arn:aws:iam", "arn:aws-cn:iam")).unwrap();
        let f = run(cn);
        assert_eq!(rules(&f), [("trust-foreign-principal", Severity::Error)]);
        assert!(
            f[0].message.contains("partition `aws-cn`, not the bundle's `aws`"),
            "{}",
            f[0].message
        );
        // A bare account id, a SourceAccount and a cluster ARN tag of another account.
        let f = run(json!({"Effect":"Allow","Principal":{"AWS":"210987654321"},"Action":"sts:AssumeRole"}));
        assert_eq!(rules(&f), [("trust-foreign-principal", Severity::Error)]);
        let f = run(pod_st(json!({
            "aws:SourceAccount": "210987654321",
            "aws:RequestTag/eks-cluster-arn": "arn:aws:eks:us-east-1:210987654321:cluster/c",
            "aws:RequestTag/kubernetes-namespace": "ns",
            "aws:RequestTag/kubernetes-service-account": "sa"})));
        assert_eq!(rules(&f), [("trust-foreign-principal", Severity::Error); 2]);
        // The same account passes.
        let f = run(
            json!({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}),
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn a_star_principal_is_an_error() {
        for p in [
            json!("*"),
            json!({"AWS": "*"}),
            json!({"AWS": ["arn:aws:iam::123456789012:root", "*"]}),
        ] {
            let f = run(json!({"Effect":"Allow","Principal":p,"Action":"sts:AssumeRole"}));
            assert_eq!(rules(&f), [("trust-any-principal", Severity::Error)], "{p}");
        }
    }

    #[test]
    fn pod_identity_without_session_tags_is_an_error_naming_them() {
        let f = run(pod_st(
            json!({"aws:SourceAccount":"123456789012","aws:RequestTag/kubernetes-namespace":"ns"}),
        ));
        assert_eq!(rules(&f), [("trust-pod-identity-unscoped", Severity::Error)]);
        assert!(
            f[0].message
                .contains("`aws:RequestTag/eks-cluster-arn`, `aws:RequestTag/kubernetes-service-account`"),
            "{}",
            f[0].message
        );
        // Chosen unscoped but without even the account: still an error.
        let f = run_with(pod_st(json!({})), &ctx(), true);
        assert_eq!(rules(&f), [("trust-pod-identity-unscoped", Severity::Error)]);
        assert!(f[0].message.contains("without `aws:SourceAccount`"), "{}", f[0].message);
        // IfExists passes a session without tags: it does not scope.
        let st = json!({"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],
            "Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"},"StringEqualsIfExists":{
                "aws:RequestTag/eks-cluster-arn":"arn:aws:eks:us-east-1:123456789012:cluster/c",
                "aws:RequestTag/kubernetes-namespace":"ns","aws:RequestTag/kubernetes-service-account":"sa"}}});
        assert_eq!(rules(&run(st)), [("trust-pod-identity-unscoped", Severity::Error)]);
    }

    #[test]
    fn deny_statements_are_not_judged() {
        let st = json!({"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole"});
        assert!(run(st).is_empty());
    }

    #[test]
    fn arn_parts_reads_partition_and_account() {
        assert_eq!(arn_parts(PROVIDER), Some(("aws", "123456789012")));
        assert_eq!(arn_parts("arn:aws:iam::aws:policy/X"), Some(("aws", "aws")));
        assert_eq!(arn_parts("arn:aws"), None);
        assert_eq!(arn_parts("pods.eks.amazonaws.com"), None);
    }
}
