//! The `orbital` binary as a user runs it.

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

fn orbital(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_orbital"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn inspect_json_on_the_example_capture() {
    let out = orbital(&["inspect", example("lan.pcap").to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"], "pcap");
    assert_eq!(v["frames"], 16);
    let p = &v["protocols"];
    assert_eq!(
        [
            &p["ethernet"],
            &p["vlan"],
            &p["arp"],
            &p["ipv4"],
            &p["ipv6"]
        ],
        [16, 1, 1, 11, 4]
    );
    assert_eq!(
        [&p["icmp"], &p["icmpv6"], &p["tcp"], &p["udp"]],
        [1, 2, 2, 9]
    );
    assert_eq!(v["errors"]["bad-ihl"], 1);
    assert_eq!(v["unsupported_frames"], 0);
    assert!(v["capture_error"].is_null());
}

#[test]
fn inspect_text_names_errors() {
    let out = orbital(&["inspect", example("lan.pcap").to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("frames         16"), "{text}");
    assert!(text.contains("bad-ihl"), "{text}");
}

#[test]
fn inspect_reports_a_missing_or_foreign_file_clearly() {
    let out = orbital(&["inspect", "/nonexistent/x.pcap"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/x.pcap") && err.contains("cannot read capture"),
        "{err}"
    );
    let out = orbital(&["inspect", example("make_capture.py").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pcap or pcapng file"));
}

/// A directory of its own under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("orbital-cli-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run `orbital replay` of the example router with `--in lan0=IN` and the
/// given `--out` arguments; returns the exit status and stderr.
fn replay_with_outputs(input: &std::path::Path, outs: &[String]) -> (bool, String) {
    let config = example("router.toml");
    let inarg = format!("lan0={}", input.display());
    let mut args = vec![
        "replay",
        "--config",
        config.to_str().unwrap(),
        "--in",
        &inarg,
    ];
    for o in outs {
        args.push("--out");
        args.push(o);
    }
    let out = orbital(&args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One line of stderr, naming `what`.
fn one_line_naming(err: &str, what: &str) {
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(what), "names {what}: {err}");
}

#[test]
fn replay_refuses_outputs_that_would_lose_data_before_writing_anything() {
    let dir = TempDir::new("outs");
    let input = dir.0.join("in.pcap");
    std::fs::copy(example("lan.pcap"), &input).unwrap();
    let original = std::fs::read(&input).unwrap();
    let a = dir.0.join("a.pcap");
    let b = dir.0.join("b.pcap");

    // One file for two ports (spelled two ways): one port's frames lost.
    let other_spelling = dir.0.join(".").join("a.pcap");
    let (ok, err) = replay_with_outputs(
        &input,
        &[
            format!("lan0={}", a.display()),
            format!("wan0={}", other_spelling.display()),
        ],
    );
    assert!(!ok, "same file for two ports refused");
    one_line_naming(&err, "a.pcap");
    assert!(err.contains("lan0") && err.contains("wan0"), "{err}");

    // The same port twice: one of its files would stay empty.
    let (ok, err) = replay_with_outputs(
        &input,
        &[
            format!("wan0={}", a.display()),
            format!("wan0={}", b.display()),
        ],
    );
    assert!(!ok, "same port twice refused");
    one_line_naming(&err, "wan0");
    assert!(err.contains("a.pcap") && err.contains("b.pcap"), "{err}");

    // The input as an output: it would be overwritten.
    let (ok, err) = replay_with_outputs(&input, &[format!("lan0={}", input.display())]);
    assert!(!ok, "the input as an output refused");
    one_line_naming(&err, "in.pcap");

    // An output in a directory that is not there: refused before the run.
    let missing = dir.0.join("no-such-dir").join("x.pcap");
    let (ok, err) = replay_with_outputs(&input, &[format!("wan0={}", missing.display())]);
    assert!(!ok, "missing output directory refused");
    one_line_naming(&err, "no-such-dir");

    assert!(!a.exists() && !b.exists(), "nothing written");
    assert_eq!(std::fs::read(&input).unwrap(), original, "input untouched");

    // Distinct files for distinct ports still work.
    let (ok, err) = replay_with_outputs(
        &input,
        &[
            format!("lan0={}", a.display()),
            format!("wan0={}", b.display()),
        ],
    );
    assert!(ok, "{err}");
    assert!(a.exists() && b.exists());
}

/// One stderr line that names `file` and says `why` exactly once.
fn says_once(err: &str, file: &str, why: &str) {
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(file), "names {file}: {err}");
    assert_eq!(err.matches(why).count(), 1, "says `{why}` once: {err}");
}

#[test]
fn errors_say_what_failed_on_what_and_why_once() {
    let dir = TempDir::new("errors");
    let config = example("router.toml");
    let replay_in = |input: &std::path::Path| {
        let out = orbital(&[
            "replay",
            "--config",
            config.to_str().unwrap(),
            "--in",
            input.to_str().unwrap(),
        ]);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let missing = dir.0.join("missing.pcap");
    says_once(&replay_in(&missing), "missing.pcap", "No such file");
    let empty = dir.0.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    says_once(&replay_in(&empty), "empty.pcap", "truncated");
    let foreign = example("make_capture.py");
    says_once(&replay_in(&foreign), "make_capture.py", "not a pcap");
    for file in [&missing, &empty, &foreign] {
        let out = orbital(&["inspect", file.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    let out = orbital(&[
        "replay",
        "--config",
        dir.0.join("missing.toml").to_str().unwrap(),
        "--in",
        example("lan.pcap").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    says_once(&err, "missing.toml", "No such file");
    assert!(!err.contains(":0:0"), "no made-up location: {err}");
}

/// A stream whose reader has already gone: writing to it fails with EPIPE
/// (Rust ignores SIGPIPE), as stdout does for `orbital ... | head` once
/// `head` has exited. Made before the command starts, so there is no race.
fn broken_pipe() -> std::process::Stdio {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(ours);
    std::process::Stdio::from(std::os::fd::OwnedFd::from(theirs))
}

#[test]
fn a_reader_gone_from_stdout_or_stderr_is_not_a_panic() {
    // stdout gone (`orbital inspect F | head` after head exits).
    let out = Command::new(env!("CARGO_BIN_EXE_orbital"))
        .args(["inspect", example("lan.pcap").to_str().unwrap()])
        .stdout(broken_pipe())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{:?}: {err}", out.status);
    // The replay still writes its captures when nobody reads its report.
    let dir = TempDir::new("epipe");
    let wan = dir.0.join("wan0.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_orbital"))
        .args([
            "replay",
            "--config",
            example("router.toml").to_str().unwrap(),
            "--in",
            &format!("lan0={}", example("lan.pcap").display()),
            "--out",
            &format!("wan0={}", wan.display()),
        ])
        .stdout(broken_pipe())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(
        std::fs::metadata(&wan).unwrap().len() > 24,
        "frames written"
    );
    // stderr gone too: an error is still an error (exit 1), not a panic (101).
    let out = Command::new(env!("CARGO_BIN_EXE_orbital"))
        .args(["inspect", "/nonexistent/x.pcap"])
        .stdout(broken_pipe())
        .stderr(broken_pipe())
        .status()
        .unwrap();
    assert_eq!(out.code(), Some(1), "{out:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_orbctl"))
        .args(["--socket", "/nonexistent/orbital.sock", "show", "stats"])
        .stderr(broken_pipe())
        .status()
        .unwrap();
    assert_eq!(out.code(), Some(1), "{out:?}");
}

#[test]
fn version_names_the_release_and_the_git_revision() {
    // What the build saw: the override, else git, else "unknown".
    let git = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let revision = std::env::var("ORBITAL_GIT_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or(git)
        .unwrap_or_else(|| "unknown".into());
    for (bin, name) in [
        (env!("CARGO_BIN_EXE_orbital"), "orbital"),
        (env!("CARGO_BIN_EXE_orbctl"), "orbctl"),
    ] {
        let out = Command::new(bin).arg("--version").output().unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{name} {} (rev {revision})\n", env!("CARGO_PKG_VERSION"))
        );
    }
}
