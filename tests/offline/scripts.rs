//! The harness scripts under `set -o pipefail`: a pipe into a reader that may stop early
//! (`grep -q`, `grep -m`, `head`) fails whenever the writer is killed by SIGPIPE, which made
//! `scripts/kube-peer` fail on fresh machines two runs out of three. Output is captured into a
//! variable first; this test keeps it that way in every script.

use std::path::Path;

#[test]
fn scripts_never_pipe_into_a_reader_that_stops_early() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.push(root.join(".ci/run"));
    let early = ["grep -q", "grep -qx", "grep -m", "grep --max-count", "head", "grep -l"];
    let mut checked = 0;
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        if !text.contains("pipefail") {
            continue;
        }
        checked += 1;
        for (i, line) in text.lines().enumerate() {
            let code = line.split(" #").next().unwrap_or_default();
            if code.trim_start().starts_with('#') {
                continue;
            }
            // Every `|` that is not `||`, and the command after it.
            let bytes = code.as_bytes();
            for (j, _) in code.match_indices('|') {
                let double = bytes.get(j + 1) == Some(&b'|') || (j > 0 && bytes[j - 1] == b'|');
                if double {
                    continue;
                }
                let next = code[j + 1..].trim_start();
                assert!(
                    !early.iter().any(|r| next.starts_with(r)),
                    "{}:{}: `| {next}` under pipefail fails when the writer gets SIGPIPE; capture the output first",
                    f.display(),
                    i + 1
                );
            }
        }
    }
    assert!(checked >= 3, "scripts with pipefail were found and checked ({checked})");
}
