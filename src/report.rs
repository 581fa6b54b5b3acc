//! Verification results shared by the AWS and the cluster checks: one line per check as text,
//! or JSON for machines.

use serde::Serialize;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// The check held.
    Pass,
    /// The check failed; `advice` says what to do.
    Fail,
}

/// One verification check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `aws` or `kube`.
    pub scope: &'static str,
    /// Preset the check is about, if any.
    pub preset: Option<String>,
    /// Short id of the check, e.g. `trust-subject`.
    pub name: String,
    /// PASS or FAIL.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// On failure: what to do (the guide's troubleshooting advice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

impl Check {
    /// A passing check.
    pub fn pass(scope: &'static str, preset: Option<&str>, name: &str, detail: impl Into<String>) -> Self {
        Check {
            scope,
            preset: preset.map(str::to_string),
            name: name.into(),
            status: Status::Pass,
            detail: detail.into(),
            advice: None,
        }
    }

    /// A failing check with advice.
    pub fn fail(
        scope: &'static str,
        preset: Option<&str>,
        name: &str,
        detail: impl Into<String>,
        advice: impl Into<String>,
    ) -> Self {
        Check {
            scope,
            preset: preset.map(str::to_string),
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            advice: Some(advice.into()),
        }
    }

    /// PASS or FAIL depending on `ok`.
    pub fn from_bool(
        scope: &'static str,
        preset: Option<&str>,
        name: &str,
        ok: bool,
        detail: impl Into<String>,
        advice: impl Into<String>,
    ) -> Self {
        if ok {
            Self::pass(scope, preset, name, detail)
        } else {
            Self::fail(scope, preset, name, detail, advice)
        }
    }
}

/// Text report: `PASS aws cluster-autoscaler role-exists  detail`, advice indented below failures.
pub fn to_text(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let status = match c.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
        };
        s.push_str(&format!(
            "{status} {:<4} {:<20} {:<24} {}\n",
            c.scope,
            c.preset.as_deref().unwrap_or("-"),
            c.name,
            c.detail
        ));
        if let Some(a) = &c.advice {
            s.push_str(&format!("     fix: {a}\n"));
        }
    }
    let failed = failures(checks);
    s.push_str(&format!("{} passed, {} failed\n", checks.len() - failed, failed));
    s
}

/// JSON report: `{"checks": [...], "passed": N, "failed": N}`.
pub fn to_json(checks: &[Check]) -> String {
    let failed = failures(checks);
    let v = serde_json::json!({"checks": checks, "passed": checks.len() - failed, "failed": failed});
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

/// Number of failed checks.
pub fn failures(checks: &[Check]) -> usize {
    checks.iter().filter(|c| c.status == Status::Fail).count()
}
