//! The output folder is safe to point anywhere (issue 7): prune removes only what an earlier
//! render wrote (the manifest), nothing follows a symlink or opens a FIFO, writes are locked
//! and a killed write is never "up to date"; hostile `--presets-dir` / `--templates-dir`
//! content is refused or skipped. Every spawned process is bounded by a timeout.

use crate::support::*;
use irsagen::emit::{self, WriteOptions, WriteReport, manifest};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest any single irsagen process may take here; a hang fails the test instead of the suite.
const LIMIT: Duration = Duration::from_secs(30);

fn out_args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut v = vec!["--out-dir".to_string(), dir.to_str().unwrap().to_string()];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// `render` of the guide's cluster into `dir`, killed and failed if it takes longer than LIMIT.
fn run(dir: &Path, extra: &[&str]) -> Output {
    let args = out_args(dir, extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    bounded(render_cmd(&refs))
}

fn bounded(mut cmd: Command) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > LIMIT {
            child.kill().unwrap();
            panic!("irsagen hung for more than {LIMIT:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn ok(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every entry below `dir` without following anything: path → file bytes, `-> target` for a
/// symlink, `<dir>`/`<special>` otherwise. Never opens a FIFO.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let ft = std::fs::symlink_metadata(&p).unwrap().file_type();
            let v = if ft.is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display()).into_bytes()
            } else if ft.is_dir() {
                stack.push(p.clone());
                b"<dir>".to_vec()
            } else if ft.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                b"<special>".to_vec()
            };
            out.insert(rel, v);
        }
    }
    out
}

/// Regular files below `dir` (hidden ones included) as `rel → bytes`.
fn regular_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = snapshot(dir);
    files.retain(|rel, _| std::fs::symlink_metadata(dir.join(rel)).unwrap().is_file());
    files
}

/// What a complete render of `extra` puts into a folder: its files plus the manifest.
fn expected(extra: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let t = tempfile::tempdir().unwrap();
    ok(&run(t.path(), extra));
    regular_files(t.path())
}

fn temps(dir: &Path) -> Vec<String> {
    snapshot(dir)
        .into_keys()
        .filter(|rel| rel.rsplit('/').next().unwrap().starts_with(".irsagen-tmp-"))
        .collect()
}

#[cfg(unix)]
fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

const TWO_PRESETS: [&str; 4] = ["--preset", "cluster-autoscaler", "--preset", "ebs-csi-driver"];

#[test]
fn the_manifest_lists_every_written_file_with_its_hash() {
    let t = tempfile::tempdir().unwrap();
    ok(&run(t.path(), &[]));
    let text = std::fs::read_to_string(t.path().join(manifest::NAME)).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(m["state"], "complete");
    assert_eq!(m["irsagen"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["inputs"]["cluster"], "smallest-cluster");
    assert_eq!(m["inputs"]["presets"]["cluster-autoscaler"]["namespace"], "kube-system");
    let bundle = guide_bundle();
    let files = m["files"].as_object().unwrap();
    assert_eq!(files.len(), bundle.artifacts.len());
    for a in &bundle.artifacts {
        assert_eq!(files[&a.path], manifest::digest(a.content.as_bytes()), "{}", a.path);
    }
    assert!(
        !text.contains(t.path().to_str().unwrap()),
        "no absolute path in the manifest"
    );
    // Deterministic: a second folder gets the same bytes.
    let u = tempfile::tempdir().unwrap();
    ok(&run(u.path(), &[]));
    assert_eq!(std::fs::read_to_string(u.path().join(manifest::NAME)).unwrap(), text);
}

#[test]
fn write_report_counts_are_exact() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let bundle = guide_bundle();
    let mut all: Vec<String> = bundle.artifacts.iter().map(|a| a.path.clone()).collect();
    all.push(manifest::NAME.to_string());
    all.sort();
    let opts = WriteOptions::default();

    let first = emit::write(&bundle, dir, &opts).unwrap();
    assert_eq!(
        first,
        WriteReport {
            written: all.clone(),
            ..Default::default()
        }
    );
    let again = emit::write(&bundle, dir, &opts).unwrap();
    assert_eq!(
        again,
        WriteReport {
            unchanged: all.clone(),
            ..Default::default()
        }
    );
    assert_eq!(
        emit::compare(&bundle, dir).unwrap().differences(),
        0,
        "a write with nothing to do leaves the manifest complete"
    );

    // One file edited by hand, one stale temp, then a render without efs-csi-driver.
    std::fs::write(dir.join("README.md"), "edited\n").unwrap();
    std::fs::write(dir.join("iam/cluster-autoscaler/.irsagen-tmp-old"), "x").unwrap();
    let sel: Vec<_> = guide_selection()
        .into_iter()
        .filter(|(p, _)| p != "efs-csi-driver")
        .collect();
    let fewer = render(&guide_inputs(), &sel).unwrap();
    let efs: Vec<String> = all.iter().filter(|p| p.contains("efs-csi-driver")).cloned().collect();
    assert_eq!(efs.len(), 5, "{efs:?}");
    let changed: Vec<String> = fewer
        .artifacts
        .iter()
        .filter(|a| bundle.get(&a.path).map(|b| b.content != a.content) == Some(true))
        .map(|a| a.path.clone())
        .collect();
    let r = emit::write(&fewer, dir, &opts).unwrap();
    let mut written = changed.clone();
    written.extend(["README.md".to_string(), manifest::NAME.to_string()]);
    written.sort();
    written.dedup();
    let unchanged: Vec<String> = fewer
        .artifacts
        .iter()
        .map(|a| a.path.clone())
        .filter(|p| !written.contains(p))
        .collect();
    assert_eq!(
        r,
        WriteReport {
            written,
            unchanged,
            extra: efs.clone(),
            pruned: vec![],
            stale_temps: vec!["iam/cluster-autoscaler/.irsagen-tmp-old".into()],
        }
    );
    // The extras stay listed: a later --prune finds them.
    let cmp = emit::compare(&fewer, dir).unwrap();
    assert_eq!(cmp.extra, efs);
    assert_eq!(cmp.changed, vec![manifest::NAME.to_string()]);
    assert_eq!(cmp.differences(), 6);
    let pruned = emit::write(
        &fewer,
        dir,
        &WriteOptions {
            prune: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        pruned,
        WriteReport {
            written: vec![manifest::NAME.to_string()],
            unchanged: fewer.artifacts.iter().map(|a| a.path.clone()).collect(),
            pruned: efs,
            ..Default::default()
        }
    );
    assert!(
        !dir.join("kubernetes/efs-csi-driver").exists(),
        "emptied folder removed"
    );
    assert!(dir.join("iam").is_dir(), "a folder with other files stays");
    let mut unchanged: Vec<String> = fewer.artifacts.iter().map(|a| a.path.clone()).collect();
    unchanged.push(manifest::NAME.to_string());
    unchanged.sort();
    assert_eq!(
        emit::compare(&fewer, dir).unwrap(),
        emit::Comparison {
            unchanged: unchanged.clone(),
            ..Default::default()
        }
    );

    // A hand edit undone by the same render: the file and the manifest are written again, so
    // no "writing" manifest is left behind.
    std::fs::write(dir.join("setup-irsa.sh"), "edited\n").unwrap();
    let r = emit::write(&fewer, dir, &opts).unwrap();
    assert_eq!(r.written, vec![manifest::NAME.to_string(), "setup-irsa.sh".to_string()]);
    assert_eq!(emit::compare(&fewer, dir).unwrap().unchanged, unchanged);
}

#[test]
fn a_rendered_path_that_leaves_the_folder_is_refused_and_nothing_written() {
    let t = tempfile::tempdir().unwrap();
    for bad in ["../escape.txt", "/tmp/abs.txt", manifest::NAME, "a//b"] {
        let mut bundle = guide_bundle();
        let mut a = bundle.artifacts[0].clone();
        a.path = bad.to_string();
        bundle.artifacts.push(a);
        let dir = t.path().join("out");
        let e = emit::write(&bundle, &dir, &WriteOptions::default()).unwrap_err();
        assert!(
            matches!(&e, irsagen::Error::RenderedInvalid { path, .. } if path == bad),
            "{bad}: {e}"
        );
        assert_eq!(e.exit_code(), 2);
        assert!(!dir.exists(), "{bad}: nothing written");
        let e = emit::check(&bundle, &dir, "irsagen render", Default::default()).unwrap_err();
        assert!(e.to_string().contains("stay inside the output folder"), "{e}");
    }
}

#[test]
fn a_huge_file_in_the_folder_is_stale_not_read_and_replaced() {
    let t = tempfile::tempdir().unwrap();
    ok(&run(t.path(), &[]));
    std::fs::write(t.path().join("README.md"), vec![b'x'; (16 << 20) + 1]).unwrap();
    let o = run(t.path(), &["--check"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("a/README.md is larger than 16777216 bytes"));
    ok(&run(t.path(), &[]));
    assert_eq!(run(t.path(), &["--check"]).status.code(), Some(0));
}

#[test]
fn check_of_a_folder_that_does_not_exist_is_stale_and_creates_nothing() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("nope");
    let o = run(&dir, &["--check"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!dir.exists());
}

#[test]
fn the_manifest_records_the_resolved_inputs() {
    use irsagen::overrides::{ChartLayout, PresetOverrides, SaCreator};
    let mut inputs = guide_inputs();
    inputs.tags = BTreeMap::from([("Env".to_string(), "prod".to_string())]);
    let ca = PresetOverrides {
        tags: BTreeMap::from([
            ("Team".to_string(), "ml".to_string()),
            ("Env".to_string(), "prod".to_string()),
        ]),
        role_name: Some("ca-role".into()),
        ..Default::default()
    };
    let sel = vec![
        ("cluster-autoscaler".to_string(), ca),
        ("ebs-csi-driver".to_string(), PresetOverrides::default()),
    ];
    let bundle = render(&inputs, &sel).unwrap();
    let got = manifest::Inputs::of(&bundle);
    assert_eq!(
        got,
        manifest::Inputs {
            cluster: "smallest-cluster".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            partition: bundle.context.partition,
            oidc_issuer: Some(ISSUER.into()),
            tags: inputs.tags.clone(),
            kubernetes_version: None,
            format: Default::default(),
            // The overrides as given, unset fields left out: what `--from` renders again from.
            overrides: BTreeMap::from([
                (
                    "cluster-autoscaler".to_string(),
                    serde_json::json!({"roleName": "ca-role", "tags": {"Env": "prod", "Team": "ml"}}),
                ),
                ("ebs-csi-driver".to_string(), serde_json::json!({})),
            ]),
            presets: BTreeMap::from([
                (
                    "cluster-autoscaler".to_string(),
                    manifest::PresetInputs {
                        namespace: "kube-system".into(),
                        service_account: "cluster-autoscaler".into(),
                        service_account_created_by: SaCreator::Eksctl,
                        role_name: "ca-role".into(),
                        policy_name: "AmazonEKSClusterAutoscalerPolicy".into(),
                        additional_policy_names: Vec::new(),
                        // The cluster's tag and irsagen's own are not repeated.
                        tags: BTreeMap::from([("Team".to_string(), "ml".to_string())]),
                        chart_layout: Some(ChartLayout::Umbrella),
                    }
                ),
                (
                    "ebs-csi-driver".to_string(),
                    manifest::PresetInputs {
                        namespace: "kube-system".into(),
                        service_account: "ebs-csi-controller-sa".into(),
                        // The EKS addon creates it (the preset's default).
                        service_account_created_by: SaCreator::Addon,
                        role_name: bundle.components[1].role_name.clone(),
                        policy_name: bundle.components[1].policy_name.clone(),
                        additional_policy_names: Vec::new(),
                        tags: BTreeMap::new(),
                        chart_layout: None,
                    }
                ),
            ]),
        }
    );
    let text = String::from_utf8(manifest::Manifest::complete(&bundle).to_bytes()).unwrap();
    assert!(
        text.contains(
            r#""tags": {
          "Team": "ml"
        }"#
        ),
        "{text}"
    );
    assert!(text.ends_with("}\n"));
}

#[test]
fn the_cli_summary_gives_the_exact_counts() {
    let t = tempfile::tempdir().unwrap();
    let n = guide_bundle().artifacts.len();
    let o = run(t.path(), &[]);
    ok(&o);
    let dir = t.path().display();
    assert!(
        stderr(&o).ends_with(&format!(
            "{} written, 0 unchanged, 0 extra, 0 removed in {dir}\n",
            n + 1
        )),
        "{}",
        stderr(&o)
    );
    let o = run(t.path(), &TWO_PRESETS);
    assert!(
        stderr(&o).contains(", 5 extra, 0 removed in"),
        "efs-csi-driver's 5 files are extra: {}",
        stderr(&o)
    );
    let mut args = TWO_PRESETS.to_vec();
    args.push("--prune");
    let o = run(t.path(), &args);
    assert!(stderr(&o).contains(" 0 extra, 5 removed in"), "{}", stderr(&o));
}

#[cfg(unix)]
#[test]
fn prune_never_follows_a_symlink_out_of_the_folder() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("rendered");
    let outside = t.path().join("outside");
    std::fs::create_dir_all(outside.join("iam/efs-csi-driver")).unwrap();
    std::fs::write(outside.join("victim.txt"), "keep").unwrap();
    std::fs::write(outside.join("iam/efs-csi-driver/policy.json"), "keep").unwrap();
    ok(&run(&out, &[]));
    symlink(&outside, out.join("escape"));
    symlink("..", out.join("up"));
    // An earlier render's file replaced by a link to an outside file: not irsagen's any more.
    std::fs::remove_file(out.join("iam/efs-csi-driver/policy.json")).unwrap();
    symlink(outside.join("victim.txt"), out.join("iam/efs-csi-driver/policy.json"));
    // A hand-edited manifest that lists files behind the links.
    let mpath = out.join(manifest::NAME);
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
    for p in [
        "escape/victim.txt",
        "up/outside/victim.txt",
        "escape/iam/efs-csi-driver/policy.json",
    ] {
        m["files"][p] = "sha256:0".into();
    }
    std::fs::write(&mpath, serde_json::to_string(&m).unwrap()).unwrap();
    let before = snapshot(&outside);

    let mut args = TWO_PRESETS.to_vec();
    args.push("--prune");
    let o = run(&out, &args);
    ok(&o);
    assert_eq!(snapshot(&outside), before, "nothing outside the folder changed");
    assert!(std::fs::symlink_metadata(out.join("escape")).unwrap().is_symlink());
    assert!(std::fs::symlink_metadata(out.join("up")).unwrap().is_symlink());
    assert!(
        std::fs::symlink_metadata(out.join("iam/efs-csi-driver/policy.json"))
            .unwrap()
            .is_symlink(),
        "a symlink is never pruned"
    );
    assert!(
        !out.join("iam/efs-csi-driver/trust-policy.json").exists(),
        "irsagen's own file pruned"
    );
    assert_eq!(
        run(&out, &[&TWO_PRESETS[..], &["--check"]].concat()).status.code(),
        Some(0)
    );
}

#[test]
fn prune_leaves_user_files_and_another_clusters_bundle_alone() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("rendered");
    let other = out.join("other-cluster");
    ok(&run(&out, &[]));
    let mut c = irsagen();
    c.args([
        "render",
        "--cluster",
        "other-cluster",
        "--region",
        "eu-west-1",
        "--account",
        "210987654321",
    ]);
    c.args(["--out-dir", other.to_str().unwrap()]);
    ok(&bounded(c));
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    std::fs::create_dir_all(out.join("docs/deep")).unwrap();
    std::fs::write(out.join("docs/deep/runbook.md"), "mine").unwrap();
    std::fs::write(out.join("iam/efs-csi-driver/NOTES.md"), "mine, in irsagen's folder").unwrap();
    std::fs::write(out.join(".gitignore"), "x").unwrap();
    let other_before = snapshot(&other);

    // Unknown files are not extra: a plain check and render ignore them.
    assert_eq!(run(&out, &["--check"]).status.code(), Some(0));
    let o = run(&out, &["--prune"]);
    assert!(stderr(&o).contains("0 removed"), "{}", stderr(&o));

    let mut args = TWO_PRESETS.to_vec();
    args.push("--prune");
    let o = run(&out, &args);
    ok(&o);
    assert!(stderr(&o).contains(" 5 removed in"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    assert_eq!(
        std::fs::read_to_string(out.join("docs/deep/runbook.md")).unwrap(),
        "mine"
    );
    assert_eq!(std::fs::read_to_string(out.join(".gitignore")).unwrap(), "x");
    assert!(
        out.join("iam/efs-csi-driver/NOTES.md").exists(),
        "the user's file and its folder stay"
    );
    assert!(!out.join("iam/efs-csi-driver/policy.json").exists());
    assert_eq!(
        snapshot(&other),
        other_before,
        "the other cluster's bundle is untouched"
    );
    assert_eq!(
        run(&out, &[&TWO_PRESETS[..], &["--check"]].concat()).status.code(),
        Some(0)
    );
}

#[cfg(unix)]
#[test]
fn planted_symlinks_at_the_final_and_temp_names_are_replaced_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("rendered");
    std::fs::create_dir_all(out.join("iam/cluster-autoscaler")).unwrap();
    let victims: Vec<PathBuf> = (0..4).map(|i| t.path().join(format!("victim{i}"))).collect();
    for v in &victims {
        std::fs::write(v, "do not touch").unwrap();
        std::fs::set_permissions(v, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    }
    symlink(&victims[0], out.join("setup-irsa.sh"));
    symlink(&victims[1], out.join("iam/cluster-autoscaler/policy.json"));
    // The fixed temp names of earlier versions, and names with today's prefix.
    symlink(&victims[2], out.join(".setup-irsa.sh.irsagen-tmp"));
    symlink(&victims[3], out.join(".irsagen-tmp-planted"));

    let o = run(&out, &[]);
    ok(&o);
    for v in &victims {
        assert_eq!(std::fs::read_to_string(v).unwrap(), "do not touch");
        assert_eq!(mode(v), 0o640, "{} mode unchanged", v.display());
    }
    let script = out.join("setup-irsa.sh");
    assert!(
        std::fs::symlink_metadata(&script).unwrap().is_file(),
        "the link itself was replaced"
    );
    assert_eq!(mode(&script), 0o755);
    let bundle = guide_bundle();
    assert_eq!(
        std::fs::read_to_string(&script).unwrap(),
        bundle.get("setup-irsa.sh").unwrap().content
    );
    assert!(
        std::fs::symlink_metadata(out.join(".irsagen-tmp-planted"))
            .unwrap()
            .is_symlink(),
        "a symlink is not a temp file irsagen wrote: left alone"
    );
    assert_eq!(run(&out, &["--check"]).status.code(), Some(0));
}

#[cfg(unix)]
#[test]
fn a_symlinked_sub_folder_is_refused_before_anything_is_written() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("rendered");
    let outside = t.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    symlink(&outside, out.join("iam"));
    let o = run(&out, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("refusing to write") && e.contains("is a symlink, not a folder"),
        "{e}"
    );
    assert_eq!(snapshot(&outside), BTreeMap::new(), "nothing written through the link");
    assert_eq!(
        snapshot(&out).len(),
        1,
        "nothing written at all: {:?}",
        snapshot(&out).keys()
    );
    let o = run(&out, &["--check"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "never up to date through a link: {}",
        stderr(&o)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("is a symlink"));
}

/// A render that pauses after its first file is in place (the debug build's test hook).
struct Paused {
    child: Child,
    lines: mpsc::Receiver<String>,
    go: PathBuf,
}

fn spawn_render(dir: &Path, extra: &[&str], pause: Option<&Path>) -> Paused {
    let args = out_args(dir, extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = render_cmd(&refs);
    let go = pause.map(Path::to_path_buf).unwrap_or_default();
    if pause.is_some() {
        cmd.env("IRSAGEN_TEST_PAUSE_MID_WRITE", &go);
    }
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (tx, lines) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Paused { child, lines, go }
}

impl Paused {
    /// Waits (bounded) for a stderr line containing `text`.
    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(_) => panic!("no stderr line with {text:?} within {LIMIT:?}"),
            }
        }
    }

    fn resume(&self) {
        std::fs::write(&self.go, "").unwrap();
    }

    fn finish(mut self) -> (i32, String) {
        let start = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(start.elapsed() < LIMIT, "render did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        // The reader thread may still be forwarding the last lines after the process exited:
        // read until it hangs up at end of file (bounded), not just what has arrived so far.
        let mut lines = Vec::new();
        let deadline = Instant::now() + LIMIT;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => lines.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("stderr not closed within {LIMIT:?}"),
            }
        }
        (code, lines.join("\n"))
    }
}

const OTHER: [&str; 2] = ["--set", "cluster-autoscaler.roleName=ca-role"];

#[test]
fn a_second_render_waits_for_the_first_and_the_folder_is_exactly_one_render() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("rendered");
    let a = spawn_render(&out, &[], Some(&t.path().join("go")));
    a.wait_for("paused mid-write");
    let b = spawn_render(&out, &OTHER, None);
    // Without the lock, b would finish now and a would then overwrite part of it.
    b.wait_for("waiting for another irsagen render to finish");
    a.resume();
    assert_eq!(a.finish().0, 0);
    assert_eq!(b.finish().0, 0);
    assert_eq!(regular_files(&out), expected(&OTHER), "exactly the second render");
    assert_eq!(run(&out, &[&OTHER[..], &["--check"]].concat()).status.code(), Some(0));
    assert_eq!(run(&out, &["--check"]).status.code(), Some(1));
}

#[test]
fn two_concurrent_renders_leave_exactly_one_of_them() {
    let (want_a, want_b) = (expected(&[]), expected(&OTHER));
    for _ in 0..3 {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("rendered");
        let a = spawn_render(&out, &[], None);
        let b = spawn_render(&out, &OTHER, None);
        assert_eq!(a.finish().0, 0);
        assert_eq!(b.finish().0, 0);
        let got = regular_files(&out);
        assert!(got == want_a || got == want_b, "a mixed folder: {:?}", got.keys());
        let check_a = run(&out, &["--check"]).status.code();
        let check_b = run(&out, &[&OTHER[..], &["--check"]].concat()).status.code();
        let agrees = if got == want_a {
            (Some(0), Some(1))
        } else {
            (Some(1), Some(0))
        };
        assert_eq!((check_a, check_b), agrees);
    }
}

#[test]
fn a_killed_render_is_never_up_to_date_and_a_rerun_repairs_it() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("rendered");
    ok(&run(&out, &[]));
    let mut b = spawn_render(&out, &OTHER, Some(&t.path().join("never")));
    b.wait_for("paused mid-write");
    b.child.kill().unwrap(); // SIGKILL: no clean-up runs
    b.child.wait().unwrap();
    let stray = temps(&out);
    assert!(!stray.is_empty(), "the killed run left staged temp files");
    let text = std::fs::read_to_string(out.join(manifest::NAME)).unwrap();
    assert!(text.contains(r#""state": "writing""#), "{text}");
    for inputs in [&[][..], &OTHER[..]] {
        let o = run(&out, &[inputs, &["--check"]].concat());
        assert_eq!(o.status.code(), Some(1), "half-written folder checked as {inputs:?}");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains(&format!("--- a/{}", manifest::NAME)), "{stdout}");
        assert!(
            stdout.contains(r#"-  "state": "writing","#) && stdout.contains(r#"+  "state": "complete","#),
            "{stdout}"
        );
    }
    let o = run(&out, &OTHER);
    ok(&o);
    for s in &stray {
        assert!(
            stderr(&o).contains(&format!("removed {} (temp file", out.join(s).display())),
            "{}",
            stderr(&o)
        );
    }
    assert!(temps(&out).is_empty());
    assert_eq!(regular_files(&out), expected(&OTHER));
    assert_eq!(run(&out, &[&OTHER[..], &["--check"]].concat()).status.code(), Some(0));
}

#[test]
fn a_failure_mid_write_says_the_folder_is_partly_updated() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("rendered");
    let a = spawn_render(&out, &[], Some(&t.path().join("go")));
    a.wait_for("paused mid-write");
    // setup-irsa.sh is the last file to move into place; a folder there makes that fail.
    std::fs::create_dir_all(out.join("setup-irsa.sh/blocker")).unwrap();
    a.resume();
    let (code, err) = a.finish();
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("partly updated") && err.contains("run the same render again"),
        "{err}"
    );
    assert_eq!(run(&out, &["--check"]).status.code(), Some(1));
    std::fs::remove_dir_all(out.join("setup-irsa.sh")).unwrap();
    ok(&run(&out, &[]));
    assert_eq!(run(&out, &["--check"]).status.code(), Some(0));
}

#[cfg(unix)]
#[test]
fn fifos_and_symlink_loops_never_hang_render_or_check() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("rendered");
    std::fs::create_dir_all(out.join("iam")).unwrap();
    mkfifo(&out.join("README.md"));
    mkfifo(&out.join("iam/user.fifo"));
    mkfifo(&out.join(manifest::NAME));
    symlink(".", out.join("loop"));
    symlink("a", out.join("b"));
    symlink("b", out.join("a"));
    let o = run(&out, &["--check"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("a/README.md is a special file"));
    ok(&run(&out, &["--prune"]));
    assert!(
        std::fs::symlink_metadata(out.join("README.md")).unwrap().is_file(),
        "the FIFO was replaced"
    );
    assert!(
        !std::fs::symlink_metadata(out.join("iam/user.fifo")).unwrap().is_file(),
        "the user's FIFO stays"
    );
    assert_eq!(run(&out, &["--check"]).status.code(), Some(0));

    // The same in --templates-dir and --presets-dir.
    let templates = t.path().join("templates");
    std::fs::create_dir_all(templates.join("iam")).unwrap();
    mkfifo(&templates.join("README.md.j2"));
    mkfifo(&templates.join("iam/policy.json.j2"));
    symlink("..", templates.join("iam/loop"));
    symlink(".", templates.join("self"));
    let presets = t.path().join("presets");
    std::fs::create_dir_all(&presets).unwrap();
    mkfifo(&presets.join("evil.yaml"));
    symlink(".", presets.join("loop"));
    let dirs = [
        "--templates-dir",
        templates.to_str().unwrap(),
        "--presets-dir",
        presets.to_str().unwrap(),
    ];
    let o = run(&out, &[&dirs[..], &["--check"]].concat());
    assert_eq!(o.status.code(), Some(0), "special files skipped: {}", stderr(&o));
    ok(&run(&out, &dirs));
}

#[cfg(unix)]
#[test]
fn a_symlinked_template_or_preset_file_is_not_read() {
    let t = tempfile::tempdir().unwrap();
    let secret = t.path().join("secret.j2");
    std::fs::write(&secret, "stolen {{ nope }}\n").unwrap();
    let templates = t.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    symlink(&secret, templates.join("README.md.j2"));
    let presets = t.path().join("presets");
    std::fs::create_dir_all(&presets).unwrap();
    symlink(&secret, presets.join("cluster-autoscaler.yaml"));
    let mut c = render_cmd(&[
        "--templates-dir",
        templates.to_str().unwrap(),
        "--presets-dir",
        presets.to_str().unwrap(),
    ]);
    c.arg("--quiet");
    let o = bounded(c);
    ok(&o);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("stolen"));
}

/// The embedded cluster-autoscaler preset with `edit` applied, as `<name>.yaml` in `dir`.
fn preset_variant(dir: &Path, name: &str, edit: impl Fn(String) -> String) {
    let base = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("presets/cluster-autoscaler.yaml"))
        .unwrap()
        .replace("name: cluster-autoscaler\n", &format!("name: {name}\n"));
    std::fs::write(dir.join(format!("{name}.yaml")), edit(base)).unwrap();
}

fn render_preset(presets: &Path, out: &Path, name: &str) -> Output {
    let args = out_args(out, &["--presets-dir", presets.to_str().unwrap(), "--preset", name]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    bounded(render_cmd(&refs))
}

#[cfg(unix)]
#[test]
fn malicious_presets_dir_paths_are_refused_with_exit_2_and_nothing_written() {
    let t = tempfile::tempdir().unwrap();
    let presets = t.path().join("presets");
    let out = t.path().join("rendered");
    std::fs::create_dir_all(presets.join("policies")).unwrap();
    let outside = t.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let policy =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("presets/policies/cluster-autoscaler.json")).unwrap();
    std::fs::write(outside.join("policy.json"), &policy).unwrap();
    std::fs::write(presets.join("policies/ok.json"), &policy).unwrap();
    // The copied preset names its policy variants' files too (cluster-autoscaler's least-privilege).
    let variant = "policies/cluster-autoscaler-least-privilege.json";
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("presets").join(variant),
        presets.join(variant),
    )
    .unwrap();
    symlink(outside.join("policy.json"), presets.join("policies/linked.json"));
    symlink(&outside, presets.join("linkdir"));
    let doc = |to: &str| {
        let to = to.to_string();
        move |s: String| {
            s.replace(
                "documentFile: policies/cluster-autoscaler.json",
                &format!("documentFile: {to}"),
            )
        }
    };
    let abs = outside.join("policy.json").display().to_string();
    type Edit = Box<dyn Fn(String) -> String>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "chart-up",
            Box::new(|s: String| s.replace("chart: cluster-autoscaler", "chart: ../../escape")),
            "helm.chart",
        ),
        (
            "chart-slash",
            Box::new(|s: String| s.replace("chart: cluster-autoscaler", "chart: a/b")),
            "helm.chart",
        ),
        ("doc-up", Box::new(doc("../outside/policy.json")), "contains `..`"),
        ("doc-abs", Box::new(doc(&abs)), "is absolute"),
        (
            "doc-link",
            Box::new(doc("policies/linked.json")),
            "is a symlink, not a regular file",
        ),
        (
            "doc-linkdir",
            Box::new(doc("linkdir/policy.json")),
            "is a symlink, not a folder",
        ),
        ("doc-hidden", Box::new(doc("policies/.x.json")), "starting with `.`"),
    ];
    for (name, edit, says) in &cases {
        preset_variant(&presets, name, edit);
        let o = render_preset(&presets, &out, name);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{name}: {}", stderr(&o));
        assert!(!out.exists(), "{name}: nothing written");
        // Each case alone, so the next one is read on its own.
        std::fs::remove_file(presets.join(format!("{name}.yaml"))).unwrap();
    }
    // The control: a documentFile inside the folder renders.
    preset_variant(&presets, "fine", doc("policies/ok.json"));
    ok(&render_preset(&presets, &out, "fine"));
    assert_eq!(std::fs::read(outside.join("policy.json")).unwrap(), policy);
}

#[test]
fn a_parse_error_in_a_big_preset_file_quotes_only_a_short_snippet() {
    let t = tempfile::tempdir().unwrap();
    let token = format!("ghp_{}", "s3cr3t".repeat(20_000));
    for (name, text) in [
        ("scalar", token.clone()),
        ("mapping", format!("name: mapping\ndescription: {token}\n")),
        ("field", format!("name: field\n{token}: 1\n")),
    ] {
        std::fs::write(t.path().join(format!("{name}.yaml")), &text).unwrap();
        let o = render_preset(t.path(), &t.path().join("out"), name);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.len() < 600, "{name}: a {} byte message", e.len());
        assert!(!e.contains(&token[..300]), "{name}: {e}");
        std::fs::remove_file(t.path().join(format!("{name}.yaml"))).unwrap();
    }
}
