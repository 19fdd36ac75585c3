//! Helpers the namespace tests share (netns.rs, netns_nat.rs, lab.rs):
//! whether they can run here, the lab with its daemon, removed whatever
//! happens to the test, and background tools inside its namespaces.

// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use orbital::ctl::call;
use orbital::lab::{DaemonProcess, Lab, in_ns};
use orbital_control::api::Request;
use serde_json::Value;

/// The scenarios share two CPUs; one at a time keeps them honest.
pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

/// How long a daemon or a tool may take to start on a loaded machine.
pub(crate) const START: Duration = Duration::from_secs(20);

/// Whether `tool` is an executable file on `PATH` (looked up, not run:
/// some tools, turnserver say, have no harmless flag to probe with).
pub(crate) fn on_path(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            std::fs::metadata(d.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Whether the `what` tests can run: root and every one of `tools`.
/// Under CI=true they must, so a missing one fails the test instead of
/// skipping it (a CI that skips them proves nothing).
pub(crate) fn can_run(what: &str, tools: &[&str]) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !on_path(t)).collect();
    if root && missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI must run the {what} tests: root={root}, missing tools: {missing:?}"
    );
    eprintln!("SKIPPED: needs root and {}", tools.join(", "));
    false
}

/// The lab, removed whatever happens to the test: the guard exists before
/// the first namespace does, so a lab that fails half-built goes too.
pub(crate) struct Up {
    pub(crate) lab: Lab,
    pub(crate) daemon: Option<DaemonProcess>,
    /// Namespaces beyond the lab's own three (more LAN hosts).
    more_ns: Vec<String>,
}

impl Up {
    /// The lab on AF_XDP ports.
    pub(crate) fn new(prefix: &str, extra: &[&str]) -> Up {
        Up::on(prefix, "af_xdp", extra)
    }

    /// The lab with its router's ports on `backend`.
    pub(crate) fn on(prefix: &str, backend: &str, extra: &[&str]) -> Up {
        Up::with_ports(prefix, backend, "", extra)
    }

    /// As [`Up::on`], with `more` TOML appended to the router's
    /// configuration (more ports, say).
    pub(crate) fn with_ports(prefix: &str, backend: &str, more: &str, extra: &[&str]) -> Up {
        Up::with_lan_hosts(prefix, backend, more, extra, 0)
    }

    /// As [`Up::with_ports`], with `hosts` more LAN hosts: namespaces
    /// `{prefix}-lan2`, `-lan3`, … at 10.0.0.3, .4, … (see
    /// [`Up::lan_host`]), on one Ethernet segment with the first.
    pub(crate) fn with_lan_hosts(
        prefix: &str,
        backend: &str,
        more: &str,
        extra: &[&str],
        hosts: usize,
    ) -> Up {
        let mut lab = Lab::new(prefix);
        lab.backend = backend.to_string();
        let mut up = Up {
            lab,
            daemon: None,
            more_ns: (2..2 + hosts).map(|i| format!("{prefix}-lan{i}")).collect(),
        };
        up.remove_more_ns();
        up.lab.build().expect("lab builds");
        if hosts > 0 {
            up.bridge_lan_hosts()
                .expect("the LAN hosts join the segment");
        }
        if !more.is_empty() {
            let mut cfg = std::fs::read_to_string(up.lab.config()).unwrap();
            cfg.push_str(more);
            std::fs::write(up.lab.config(), cfg).unwrap();
        }
        up.daemon = Some(
            up.lab
                .start_daemon(Path::new(env!("CARGO_BIN_EXE_orbital")), extra, START)
                .expect("daemon starts"),
        );
        up
    }

    /// The namespace of LAN host `n` (1 is the lab's own, 10.0.0.2; `n`
    /// is at 10.0.0.`n + 1`).
    pub(crate) fn lan_host(&self, n: usize) -> String {
        if n == 1 {
            self.lab.lan()
        } else {
            format!("{}-lan{n}", self.lab.prefix)
        }
    }

    /// Turn the lab's LAN host into a switch too: its eth0 (the wire to
    /// the router) and one veth per further host on a bridge, br0, which
    /// takes over eth0's MAC and addresses — so the first host looks the
    /// same to the router, and the others are real, separate stacks on
    /// its segment (their own ports, their own ARP).
    fn bridge_lan_hosts(&self) -> anyhow::Result<()> {
        let lan = self.lab.lan();
        let run = |ns: &str, cmd: &[&str]| in_ns(ns, cmd).map(drop);
        run(
            &lan,
            &[
                "ip",
                "link",
                "add",
                "br0",
                "address",
                "02:00:00:00:00:02",
                "type",
                "bridge",
            ],
        )?;
        run(&lan, &["ip", "addr", "flush", "dev", "eth0"])?;
        run(&lan, &["ip", "link", "set", "eth0", "master", "br0"])?;
        for (i, ns) in self.more_ns.iter().enumerate() {
            let n = i + 2;
            Command::new("ip")
                .args(["netns", "add", ns])
                .status()
                .context("ip netns add")?
                .success()
                .then_some(())
                .context("ip netns add")?;
            run(ns, &["ip", "link", "set", "lo", "up"])?;
            let port = format!("h{n}");
            let mac = format!("02:00:00:00:00:{:02x}", n + 1);
            run(
                &lan,
                &[
                    "ip", "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                    ns, "address", &mac,
                ],
            )?;
            run(&lan, &["ip", "link", "set", &port, "master", "br0"])?;
            run(&lan, &["ip", "link", "set", &port, "up"])?;
            let addr = format!("10.0.0.{}/24", n + 1);
            run(ns, &["ip", "addr", "add", &addr, "dev", "eth0"])?;
            run(ns, &["ip", "link", "set", "eth0", "up"])?;
            run(ns, &["ip", "route", "add", "default", "via", "10.0.0.1"])?;
        }
        run(&lan, &["ip", "link", "set", "br0", "up"])?;
        run(&lan, &["ip", "addr", "add", "10.0.0.2/24", "dev", "br0"])?;
        run(
            &lan,
            &[
                "ip",
                "-6",
                "addr",
                "add",
                "2001:db8::2/64",
                "dev",
                "br0",
                "nodad",
            ],
        )?;
        // Replace: whichever of eth0's routes outlived its addresses
        // would now point out of a bridge port.
        run(
            &lan,
            &[
                "ip", "route", "replace", "default", "via", "10.0.0.1", "dev", "br0",
            ],
        )?;
        run(
            &lan,
            &[
                "ip",
                "-6",
                "route",
                "replace",
                "default",
                "via",
                "2001:db8::1",
                "dev",
                "br0",
            ],
        )?;
        Ok(())
    }

    /// Remove the extra LAN hosts' namespaces (those there are).
    fn remove_more_ns(&self) {
        for ns in &self.more_ns {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// The API's answer to `r`, which must succeed.
    pub(crate) fn api(&self, r: &Request) -> Value {
        let resp = call(&self.lab.socket(), r).expect("API answers");
        assert!(resp.ok, "{:?}", resp.error);
        resp.result.unwrap()
    }

    /// The daemon's tables version.
    pub(crate) fn version(&self) -> u64 {
        self.api(&Request::Stats)["tables_version"]
            .as_u64()
            .unwrap()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.child.kill();
            let _ = d.child.wait();
        }
        self.remove_more_ns();
        self.lab.down();
    }
}

/// `ping ARGS` in namespace `ns`: its stdout and stderr, whatever it
/// exits with (the tests read the loss line).
pub(crate) fn ping(ns: &str, args: &[&str]) -> String {
    let mut v = vec!["ping"];
    v.extend_from_slice(args);
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(&v)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The daemon's count of drops for `reason` (0 when it has none yet).
pub(crate) fn drop_count(up: &Up, reason: &str) -> u64 {
    up.api(&Request::Errors)
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["reason"] == reason)
        .and_then(|d| d["count"].as_u64())
        .unwrap_or(0)
}

/// A tool running in the background in a namespace, in a process group
/// of its own, and its output lines (stdout and stderr together, in the
/// order they were read). Dropping it kills the whole group, so what a
/// server forked for its clients goes too.
pub(crate) struct Bg {
    child: Child,
    rx: mpsc::Receiver<String>,
    /// Every line read so far.
    seen: Vec<String>,
    what: String,
}

impl Bg {
    /// Start `cmd` in namespace `ns`.
    pub(crate) fn spawn(ns: &str, cmd: &[&str]) -> Bg {
        use std::os::unix::process::CommandExt as _;
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        let (tx, rx) = mpsc::channel();
        for r in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        return;
                    }
                }
            });
        }
        Bg {
            child,
            rx,
            seen: Vec::new(),
            what: format!("{} in {ns}", cmd.join(" ")),
        }
    }

    /// Wait, at most `limit`, until a line containing `needle` has been
    /// read (now or before); the line.
    ///
    /// # Errors
    /// The tool's output ended or the time ran out first; what it said is
    /// in the message.
    pub(crate) fn wait_for(&mut self, needle: &str, limit: Duration) -> anyhow::Result<String> {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return Ok(l.clone());
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l);
                    let l = self.seen.last().unwrap();
                    if l.contains(needle) {
                        return Ok(l.clone());
                    }
                }
                Err(e) => bail!(
                    "{}: no line with {needle:?} ({e}); it said:\n{}",
                    self.what,
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Every line read so far, and any already waiting.
    pub(crate) fn lines(&mut self) -> &[String] {
        self.seen.extend(self.rx.try_iter());
        &self.seen
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        // `ip netns exec` execs the tool: its pid is the group's id.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}
