//! The report as text (one line per finding, then a summary) and as JSON (`-o json`): both
//! deterministic, findings sorted by file, statement and rule.

use super::{Kind, Report, Severity};
use crate::error::quote_text;
use serde_json::json;

/// One line per finding, `severity[rule] location: message`, then the summary line.
pub fn text(r: &Report) -> String {
    let mut s = String::new();
    for f in &r.findings {
        s.push_str(&format!(
            "{}[{}] {}: {}\n",
            f.severity.as_str(),
            f.rule,
            one_line(&f.location()),
            one_line(&f.message)
        ));
    }
    s.push_str(&summary(r));
    s.push('\n');
    s
}

/// `text` with what does not print escaped (a file name or a value from a document may hold
/// anything) and on one line: one finding, one line.
fn one_line(text: &str) -> String {
    quote_text(&text.replace('\n', "\\n"))
}

/// `linted 6 files (3 permission, 3 trust): 1 error, 0 warnings, 2 info; actions checked against …`.
pub fn summary(r: &Report) -> String {
    let of = |k| r.files.iter().filter(|f| f.kind == k).count();
    let n = |count: usize, one: &str, many: &str| format!("{count} {}", if count == 1 { one } else { many });
    format!(
        "linted {} ({} permission, {} trust): {}, {}, {} info; actions checked against {}",
        n(r.files.len(), "file", "files"),
        of(Kind::Permission),
        of(Kind::Trust),
        n(r.count(Severity::Error), "error", "errors"),
        n(r.count(Severity::Warning), "warning", "warnings"),
        r.count(Severity::Info),
        r.catalogue
    )
}

/// The report as one pretty JSON document with counts, ending in a newline.
pub fn json(r: &Report) -> String {
    let v = json!({
        "errors": r.count(Severity::Error),
        "warnings": r.count(Severity::Warning),
        "info": r.count(Severity::Info),
        "catalogue": r.catalogue,
        "files": r.files,
        "findings": r.findings,
    });
    let mut s = serde_json::to_string_pretty(&v).expect("a report is plain data");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::{Finding, Linted};

    fn report() -> Report {
        Report {
            files: vec![
                Linted {
                    file: "iam/x/policy.json".into(),
                    kind: Kind::Permission,
                    preset: Some("x".into()),
                },
                Linted {
                    file: "iam/x/trust-policy.json".into(),
                    kind: Kind::Trust,
                    preset: Some("x".into()),
                },
            ],
            findings: vec![Finding {
                file: "iam/x/policy.json".into(),
                statement: Some(1),
                rule: "unknown-action",
                severity: Severity::Error,
                sid: Some("S".into()),
                message: "Action `ec2:Nope` \u{1b}[31m\nnext".into(),
            }],
            catalogue: "pkg 1".into(),
        }
    }

    #[test]
    fn text_has_one_line_per_finding_and_a_summary() {
        assert_eq!(
            text(&report()),
            "error[unknown-action] iam/x/policy.json Statement[1] (Sid \"S\"): Action `ec2:Nope` \\u{1b}[31m\\nnext\n\
             linted 2 files (1 permission, 1 trust): 1 error, 0 warnings, 0 info; actions checked against pkg 1\n"
        );
    }

    #[test]
    fn json_has_counts_files_and_findings() {
        let v: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        assert_eq!(v["errors"], 1);
        assert_eq!(v["warnings"], 0);
        assert_eq!(v["files"][1]["kind"], "trust");
        assert_eq!(v["findings"][0]["rule"], "unknown-action");
        assert_eq!(v["findings"][0]["severity"], "error");
        assert_eq!(v["findings"][0]["statement"], 1);
        assert_eq!(v["findings"][0]["sid"], "S");
        // Control characters stay escaped inside JSON strings, never raw.
        assert!(!json(&report()).contains('\u{1b}'));
    }
}
