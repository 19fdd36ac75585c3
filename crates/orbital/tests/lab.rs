//! `orbital lab` as a user runs it: the binary's `lab up`, signals to the
//! daemon it left running, a second `lab up`, `lab down`.
//! Needs root, iproute2 and ping; without them the tests say SKIPPED,
//! except under CI=true where they must run. Every lab is removed whatever
//! happens to the test.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::SERIAL;
use orbital::ctl::call;
use orbital::lab::{Lab, in_ns, wait_for_line};
use orbital_control::api::Request;

/// How long a daemon may take to do what it was asked (a loaded machine).
const LIMIT: Duration = Duration::from_secs(30);

/// Root, and the tools the lab and these tests use.
fn can_run() -> bool {
    common::can_run("lab", &["ip", "ping", "tail"])
}

fn orbital(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orbital"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A lab of this prefix, taken down however the test ends: `lab down`
/// first (it stops the daemon), then every daemon pid the test saw killed
/// and the namespaces removed, in case `lab down` itself is what failed.
struct Guard {
    lab: Lab,
    prefix: String,
    pids: Vec<u32>,
}

impl Guard {
    fn new(prefix: &str) -> Guard {
        let g = Guard {
            lab: Lab::new(prefix),
            prefix: prefix.to_string(),
            pids: Vec::new(),
        };
        // Nothing of an earlier, interrupted run may be mistaken for ours.
        g.lab.down();
        g
    }

    /// `orbital lab up` on AF_PACKET ports (no XDP program to attach:
    /// quicker, and what is tested here does not depend on the backend).
    fn up(&self) -> Output {
        orbital(&[
            "lab",
            "up",
            "--prefix",
            &self.prefix,
            "--backend",
            "af_packet",
        ])
    }

    /// The pid `lab up` recorded, remembered for the clean-up.
    fn pid(&mut self) -> u32 {
        let pid = std::fs::read_to_string(self.lab.dir.join("orbital.pid"))
            .expect("lab up records the daemon's pid")
            .trim()
            .parse()
            .unwrap();
        self.pids.push(pid);
        pid
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = orbital(&["lab", "down", "--prefix", &self.prefix]);
        for pid in &self.pids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        self.lab.down();
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -{sig} {pid}");
}

/// Follow `log` from its start until a line containing `needle` appears
/// (blocking on `tail -F`, no polling here).
fn wait_in_log(log: &Path, needle: &str) -> anyhow::Result<()> {
    let mut tail: Child = Command::new("tail")
        .args(["-n", "+1", "-F"])
        .arg(log)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let r = wait_for_line(tail.stdout.take().unwrap(), needle, LIMIT);
    let _ = tail.kill();
    let _ = tail.wait();
    r
}

fn stats(lab: &Lab) -> serde_json::Value {
    let resp = call(&lab.socket(), &Request::Stats).expect("the daemon answers");
    assert!(resp.ok, "{:?}", resp.error);
    resp.result.unwrap()
}

#[test]
fn the_lab_daemon_survives_sighup_and_lab_down_shows_its_final_counters() {
    if !can_run() {
        return;
    }
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut g = Guard::new("ol1");
    let out = g.up();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    let log = g.lab.dir.join("orbital.log");
    assert!(
        said.contains(&format!("daemon log: {}", log.display())),
        "lab up says where the log is: {said}"
    );
    let pid = g.pid();
    let version = stats(&g.lab)["tables_version"].as_u64().unwrap();
    // `lab up` has exited: whatever the daemon writes now must not kill it.
    signal(pid, "HUP");
    wait_in_log(&log, "orbital: reloaded").expect("the daemon logs its reload");
    assert!(alive(pid), "the daemon survived SIGHUP");
    // At least: neighbours learned meanwhile publish versions too.
    assert!(
        stats(&g.lab)["tables_version"].as_u64().unwrap() > version,
        "the reload was published"
    );
    let out = orbital(&["lab", "down", "--prefix", "ol1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("orbital: stopped") && said.contains("lan0"),
        "lab down shows the daemon's final counters: {said}"
    );
    assert!(!said.contains("panicked"), "{said}");
    assert!(!alive(pid), "the daemon exited");
    assert!(
        !text(
            &Command::new("ip")
                .args(["netns", "list"])
                .output()
                .unwrap()
                .stdout
        )
        .contains("ol1-"),
        "no namespace left"
    );
    assert!(!g.lab.dir.exists(), "no file left");
}

#[test]
fn a_second_lab_up_is_refused_and_changes_nothing() {
    if !can_run() {
        return;
    }
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut g = Guard::new("ol2");
    let out = g.up();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pid = g.pid();
    let lan = g.lab.lan();
    let ping = || in_ns(&lan, &["ping", "-c", "1", "-W", "5", "198.51.100.1"]);
    ping().expect("the lab forwards");
    let rtr = format!("/run/netns/{}", g.lab.rtr());
    let ns = netns_inode(&rtr);
    assert_eq!(ns, netns_inode(&format!("/proc/{pid}/ns/net")));
    let out = g.up();
    // Whatever it did, a daemon it started is cleaned up too.
    let again = g.pid();
    let err = text(&out.stderr);
    assert!(!out.status.success(), "a second lab up is refused: {err}");
    assert!(err.contains("lab ol2 already up"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert_eq!(again, pid, "the pid file is untouched");
    assert!(alive(pid), "the daemon still runs");
    assert_eq!(
        (
            netns_inode(&rtr),
            netns_inode(&format!("/proc/{pid}/ns/net"))
        ),
        (ns, ns),
        "the daemon is still in the lab's router namespace (not rebuilt under it)"
    );
    ping().expect("the lab still forwards");
}

/// A network namespace's identity: the inode of its nsfs file.
fn netns_inode(path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .ino()
}
