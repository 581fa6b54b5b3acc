//! `irsagen lint`: checks IAM policy documents (a rendered bundle's, or loose files) for what
//! IAM itself accepts but should not be shipped: unknown actions, `Not*` with Allow, wide
//! resources a preset parameter would narrow, size near IAM's limits, and trust policies that
//! let more in than the one ServiceAccount.
//!
//! Split: [`catalogue`] (the bundled IAM actions), [`statements`] (rules of every document),
//! [`permission`] and [`trust`] (rules of each kind), [`size`], [`narrow`] (the presets'
//! narrowing rules), [`folder`] (reading a bundle or files) and [`output`] (text and JSON).

pub mod catalogue;
pub mod finding;
pub mod folder;
pub mod narrow;
pub mod output;
pub mod permission;
pub mod size;
pub mod statements;
pub mod trust;

pub use catalogue::Catalogue;
pub use finding::{Finding, RULES, Severity};
pub use narrow::{NarrowRule, Narrowing};

use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A permission policy (the role's managed policy).
    Permission,
    /// A role trust policy.
    Trust,
}

impl Kind {
    /// How documents of this kind are called in messages.
    pub fn what(self) -> &'static str {
        match self {
            Kind::Permission => "managed policy",
            Kind::Trust => "trust policy",
        }
    }

    /// `Trust` when `doc` looks like a trust policy (loose files without `--trust`): a statement
    /// has `Principal`/`NotPrincipal`, or none has a `Resource`/`NotResource` and one allows an
    /// `sts:AssumeRole*` action (a permission policy granting `sts:AssumeRole` names the role
    /// in `Resource`, so it stays a permission policy).
    pub fn detect(doc: &Value) -> Kind {
        let statements = crate::policy_doc::statements(doc);
        let has = |key: &str| statements.iter().any(|s| s.get(key).is_some());
        let assumes = statements.iter().any(|s| {
            s.get("Action")
                .and_then(crate::policy_doc::strings)
                .is_some_and(|a| a.iter().any(|a| a.to_ascii_lowercase().starts_with("sts:assumerole")))
        });
        let principal = has("Principal") || has("NotPrincipal");
        let resource = has("Resource") || has("NotResource");
        if principal || (assumes && !resource) {
            Kind::Trust
        } else {
            Kind::Permission
        }
    }
}

/// One document to lint.
#[derive(Debug, Clone)]
pub struct Document {
    /// Its name in findings (path relative to the bundle, or as given).
    pub file: String,
    /// Permission or trust policy.
    pub kind: Kind,
    /// The parsed JSON.
    pub doc: Value,
    /// The preset it was rendered for, in a bundle.
    pub preset: Option<String>,
}

/// What lint knows beyond the documents: from a bundle's manifest, or `--account`/`--partition`.
#[derive(Debug, Clone)]
pub struct Context {
    /// The account the trust policies should name (`None`: not checked).
    pub account: Option<String>,
    /// The partition ARNs should be in (`None`: not checked).
    pub partition: Option<String>,
    /// Whose account and partition those are, for messages: `the bundle's` or `the given`
    /// (`--account`/`--partition`).
    pub expected: &'static str,
    /// Per preset, its ServiceAccount's IRSA subject `system:serviceaccount:<ns>:<name>` (for
    /// the fix a trust finding suggests).
    pub subjects: BTreeMap<String, String>,
    /// Presets rendered with `podIdentityTrust: unscoped` (a deliberate, warned choice).
    pub unscoped_pod_identity: BTreeSet<String>,
    /// Per preset, its narrowing rules.
    pub narrowing: BTreeMap<String, Narrowing>,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            account: None,
            partition: None,
            expected: "the bundle's",
            subjects: BTreeMap::new(),
            unscoped_pod_identity: BTreeSet::new(),
            narrowing: BTreeMap::new(),
        }
    }
}

/// Everything one `irsagen lint` run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was linted: per file its kind (and preset), sorted by file.
    pub files: Vec<Linted>,
    /// Findings sorted by file, statement, rule, severity, message.
    pub findings: Vec<Finding>,
    /// The catalogue the actions were checked against (package, version, date).
    pub catalogue: String,
}

/// One linted file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Linted {
    /// As in findings.
    pub file: String,
    /// Permission or trust.
    pub kind: Kind,
    /// The preset, in a bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
}

impl Report {
    /// Number of findings of `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == severity).count()
    }

    /// The exit status: 1 with any error finding, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.count(Severity::Error) > 0)
    }
}

/// The documents of one bundle (or the loose files of one run) with what lint knows about them.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// The documents.
    pub docs: Vec<Document>,
    /// Account, partition and the presets' choices.
    pub ctx: Context,
    /// Findings about the input itself (a bundle's manifest, a preset lint does not know).
    pub notes: Vec<Finding>,
}

/// Lints every input (one per bundle of a fleet folder) into one report.
pub fn lint(inputs: &[Input], catalogue: &Catalogue) -> Report {
    let mut findings = Vec::new();
    let mut files = Vec::new();
    for input in inputs {
        findings.extend(input.notes.iter().cloned());
        for d in &input.docs {
            findings.extend(lint_document(d, &input.ctx, catalogue));
            files.push(Linted {
                file: d.file.clone(),
                kind: d.kind,
                preset: d.preset.clone(),
            });
        }
    }
    findings.sort();
    findings.dedup();
    files.sort();
    Report {
        files,
        findings,
        catalogue: catalogue.source().to_string(),
    }
}

/// The findings of one document.
pub fn lint_document(d: &Document, ctx: &Context, catalogue: &Catalogue) -> Vec<Finding> {
    let mut out = Findings::new(&d.file);
    if let Err(e) = crate::policy_doc::check("document", &d.doc) {
        let why = match e {
            crate::Error::Invalid { rule, .. } => rule,
            other => other.to_string(),
        };
        out.doc(
            "policy-shape",
            Severity::Error,
            format!("not an IAM policy document: {why}"),
        );
        return out.into_vec();
    }
    statements::check(&d.doc, catalogue, &mut out);
    size::check(&d.doc, d.kind, &mut out);
    match d.kind {
        Kind::Permission => {
            if let Some((preset, n)) = d.preset.as_ref().and_then(|p| ctx.narrowing.get(p).map(|n| (p, n))) {
                permission::check_narrowing(&d.doc, preset, n, ctx.partition.as_deref(), catalogue, &mut out);
            }
        }
        Kind::Trust => {
            let preset = d.preset.as_deref().unwrap_or_default();
            let of = trust::Of {
                unscoped_ok: ctx.unscoped_pod_identity.contains(preset),
                subject: ctx.subjects.get(preset).map(String::as_str),
            };
            trust::check(&d.doc, ctx, &of, &mut out);
        }
    }
    out.into_vec()
}

/// One statement of a document, as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Stmt<'a> {
    /// Index in `Statement`.
    pub index: usize,
    /// The statement object.
    pub value: &'a serde_json::Map<String, Value>,
}

impl<'a> Stmt<'a> {
    /// The statements of a document that passed `policy_doc::check` (every one an object).
    pub fn all(doc: &'a Value) -> Vec<Stmt<'a>> {
        crate::policy_doc::statements(doc)
            .into_iter()
            .enumerate()
            .filter_map(|(index, v)| v.as_object().map(|value| Stmt { index, value }))
            .collect()
    }

    /// Whether `Effect` is Allow.
    pub fn allows(&self) -> bool {
        self.value.get("Effect").and_then(Value::as_str) == Some("Allow")
    }

    /// The `Sid`, when it is a string.
    pub fn sid(&self) -> Option<&'a str> {
        self.value.get("Sid").and_then(Value::as_str)
    }

    /// The strings of `key` (`Action`, `Resource`, …): empty when absent or not strings.
    pub fn strings(&self, key: &str) -> Vec<&'a str> {
        self.value
            .get(key)
            .and_then(crate::policy_doc::strings)
            .unwrap_or_default()
    }
}

/// The findings of one file, collected by the rules.
pub struct Findings<'f> {
    file: &'f str,
    list: Vec<Finding>,
}

impl<'f> Findings<'f> {
    /// An empty collection for `file`.
    pub fn new(file: &'f str) -> Self {
        Findings { file, list: Vec::new() }
    }

    /// A finding about the whole document.
    pub fn doc(&mut self, rule: &'static str, severity: Severity, message: String) {
        self.push(None, rule, severity, message);
    }

    /// A finding about statement `st`.
    pub fn at(&mut self, st: &Stmt<'_>, rule: &'static str, severity: Severity, message: String) {
        self.push(Some(st), rule, severity, message);
    }

    fn push(&mut self, st: Option<&Stmt<'_>>, rule: &'static str, severity: Severity, message: String) {
        debug_assert!(
            finding::rule(rule).severities.contains(&severity),
            "rule {rule} does not report at {severity:?}"
        );
        self.list.push(Finding {
            file: self.file.to_string(),
            statement: st.map(|s| s.index),
            rule,
            severity,
            sid: st.and_then(|s| s.sid()).map(str::to_string),
            message,
        });
    }

    /// The findings collected so far.
    pub fn into_vec(self) -> Vec<Finding> {
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(docs: Vec<Document>) -> Input {
        Input {
            docs,
            ..Input::default()
        }
    }

    #[test]
    fn kind_is_detected_by_principal_or_assume_role() {
        let perm =
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]});
        assert_eq!(Kind::detect(&perm), Kind::Permission);
        let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Service":"x"}}]});
        assert_eq!(Kind::detect(&trust), Kind::Trust);
        // A trust statement without a principal (malformed) is still told by its action.
        let assume =
            json!({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["STS:AssumeRoleWithWebIdentity"]}});
        assert_eq!(Kind::detect(&assume), Kind::Trust);
        // A permission policy that lets the role assume another names it in Resource.
        let grant = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::123456789012:role/x"}]});
        assert_eq!(Kind::detect(&grant), Kind::Permission);
    }

    #[test]
    fn a_document_that_is_not_a_policy_gets_one_shape_finding() {
        let d = Document {
            file: "x.json".into(),
            kind: Kind::Permission,
            doc: json!({"Version":"2012-10-17","Statement":[{"Effect":"allow","Action":"nope:Nope","Resource":"*"}]}),
            preset: None,
        };
        let f = lint_document(&d, &Context::default(), Catalogue::bundled());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].rule, f[0].severity), ("policy-shape", Severity::Error));
        assert!(f[0].message.contains("Effect must be"), "{}", f[0].message);
    }

    #[test]
    fn a_clean_document_has_no_findings_and_exit_0() {
        let d = Document {
            file: "x.json".into(),
            kind: Kind::Permission,
            doc: json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DescribeVolumes","Resource":"*"}]}),
            preset: None,
        };
        let r = lint(&[input(vec![d])], Catalogue::bundled());
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!(r.exit_code(), 0);
        assert_eq!(r.files.len(), 1);
    }

    #[test]
    fn findings_are_sorted_and_errors_exit_1() {
        let d = |file: &str| Document {
            file: file.into(),
            kind: Kind::Permission,
            doc: json!({"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"ec2:Nope","Resource":"*"},
                {"Effect":"Allow","Action":"ec3:X","Resource":"*"}]}),
            preset: None,
        };
        let r = lint(
            &[input(vec![d("b.json")]), input(vec![d("a.json")])],
            Catalogue::bundled(),
        );
        let got: Vec<(String, Option<usize>, &str)> = r
            .findings
            .iter()
            .map(|f| (f.file.clone(), f.statement, f.rule))
            .collect();
        assert_eq!(
            got,
            [
                ("a.json".to_string(), Some(0), "unknown-action"),
                ("a.json".to_string(), Some(1), "unknown-service"),
                ("b.json".to_string(), Some(0), "unknown-action"),
                ("b.json".to_string(), Some(1), "unknown-service"),
            ]
        );
        assert_eq!(r.exit_code(), 1);
        assert_eq!(r.files[0].file, "a.json");
    }
}
