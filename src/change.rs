//! What a plan does to one resource (IAM) or object (cluster), and the text both plans print:
//! one [`Change`] type and one [`PlanText`] renderer for `aws/` and `kube/`, so a third
//! adapter (EKS Pod Identity associations) plans the same way.

use serde::Serialize;

/// What happens to one resource or object. Markers as in Terraform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// It does not exist and will be created.
    Create,
    /// It exists and will be changed.
    Update,
    /// It is as rendered.
    NoChange,
}

impl Change {
    /// `+` create, `~` update, blank no change.
    pub fn marker(self) -> char {
        match self {
            Change::Create => '+',
            Change::Update => '~',
            Change::NoChange => ' ',
        }
    }

    /// `create`, `update`, `no change`.
    pub fn word(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Update => "update",
            Change::NoChange => "no change",
        }
    }
}

/// A plan's text: entries, their detail lines, and the summary line with the counts.
#[derive(Debug, Default)]
pub struct PlanText {
    text: String,
    counts: [usize; 3],
}

impl PlanText {
    /// An empty plan text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts `change` and writes `line` (the entry's header, without newline).
    pub fn entry(&mut self, change: Change, line: &str) {
        self.counts[change as usize] += 1;
        self.line(line);
    }

    /// Writes a line that is not counted.
    pub fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// Writes `text` as it is (text that carries its own newlines, like an indented diff).
    pub fn raw(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// Writes every line of `body` indented by `indent`.
    pub fn indented(&mut self, indent: &str, body: &str) {
        for l in body.lines() {
            self.text.push_str(indent);
            self.line(l);
        }
    }

    /// How many entries had `change`.
    pub fn count(&self, change: Change) -> usize {
        self.counts[change as usize]
    }

    /// The text with its summary: `<head>: N to create, N to update, N unchanged<tail>`.
    /// `unchanged` counts [`Change::NoChange`] entries plus `extra_unchanged` listed otherwise.
    pub fn finish(mut self, head: &str, extra_unchanged: usize, tail: &str) -> String {
        let line = format!(
            "{head}: {} to create, {} to update, {} unchanged{tail}",
            self.count(Change::Create),
            self.count(Change::Update),
            self.count(Change::NoChange) + extra_unchanged
        );
        self.line(&line);
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_entries_and_indents_bodies() {
        let mut t = PlanText::new();
        t.entry(Change::Create, "+ a");
        t.indented("    ", "x\ny\n");
        t.entry(Change::NoChange, "  b");
        t.entry(Change::Update, "~ c");
        t.line("note");
        assert_eq!(t.count(Change::Create), 1);
        assert_eq!(
            t.finish("plan", 2, "; end"),
            "+ a\n    x\n    y\n  b\n~ c\nnote\nplan: 1 to create, 1 to update, 3 unchanged; end\n"
        );
        assert_eq!(
            PlanText::new().finish("p", 0, ""),
            "p: 0 to create, 0 to update, 0 unchanged\n"
        );
    }

    #[test]
    fn markers_and_words() {
        assert_eq!(
            [Change::Create, Change::Update, Change::NoChange].map(|c| (c.marker(), c.word())),
            [('+', "create"), ('~', "update"), (' ', "no change")]
        );
        assert_eq!(serde_json::to_value(Change::NoChange).unwrap(), "no-change");
    }
}
