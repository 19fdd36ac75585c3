//! `orbital lab up | demo | down`: a three-namespace lab on this machine —
//! a LAN host, the router (the daemon on AF_XDP ports, AF_PACKET when the
//! kernel refuses AF_XDP or when asked) and a WAN host — joined by veth
//! pairs. The end-to-end tests build the same lab.
//!
//! ```text
//!  {p}-lan                 {p}-rtr (orbital run)               {p}-wan
//!  eth0 10.0.0.2/24 ─── lan0 10.0.0.1  wan0 192.0.2.1 ─── eth0 192.0.2.2/24, .3
//!       2001:db8::2/64       2001:db8::1   2001:db8:1::1        2001:db8:1::2/64
//!                                                          lo 198.51.100.1/32
//! ```
//!
//! The router namespace's kernel has no addresses on lan0/wan0 (and IPv6
//! off there), so only the data plane answers ARP, ND and pings. The hosts
//! keep their TSO/GSO: an AF_PACKET port receives their 64 KiB super-packets
//! and cuts them into wire frames (`orbital_io::gso`); with an XDP program
//! on the router's veth, the kernel turns the peer's GSO off by itself.
//!
//! `up` leaves the daemon running after it exits, so the daemon's stdout
//! and stderr go to a file ([`Lab::log`]), never to a pipe to `up`: a pipe
//! whose reader has exited makes every later line fail (EPIPE), and the
//! daemon must outlive its log's readers.

use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// `orbital lab` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct LabArgs {
    /// `up`, `demo` or `down`.
    #[arg(value_parser = ["up", "demo", "down"])]
    pub action: String,
    /// Name prefix of the namespaces.
    #[arg(long, default_value = "orb")]
    pub prefix: String,
    /// The router's ports: `af_xdp` (falls back to `af_packet` when the
    /// kernel refuses it) or `af_packet`.
    #[arg(long, default_value = "af_xdp", value_parser = ["af_xdp", "af_packet"])]
    pub backend: String,
}

/// The lab's router configuration, its two ports on `backend` (`af_xdp`
/// or `af_packet`).
pub fn router_config(api: &Path, backend: &str) -> String {
    format!(
        r#"# The router of `orbital lab`: two {backend} ports in the {{p}}-rtr namespace.
[engine]
workers = 1
api_socket = "{}"

[[port]]
name = "lan0"
backend = "{backend}"
device = "lan0"
mac = "02:00:00:00:00:01"
addresses = ["10.0.0.1/24", "2001:db8::1/64", "fe80::1/64"]

[[port]]
name = "wan0"
backend = "{backend}"
device = "wan0"
mac = "02:00:00:00:01:01"
addresses = ["192.0.2.1/24", "2001:db8:1::1/64", "fe80::1:1/64"]

[[route]]
prefix = "198.51.100.0/24"
via = "192.0.2.2"
"#,
        api.display()
    )
}

fn sh(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run `cmd` inside namespace `ns`.
///
/// # Errors
/// The command failed (its stderr in the message).
pub fn in_ns(ns: &str, cmd: &[&str]) -> anyhow::Result<String> {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(cmd);
    sh(&v)
}

/// A lab's names and files.
#[derive(Debug, Clone)]
pub struct Lab {
    /// Namespace prefix.
    pub prefix: String,
    /// Working directory (config, logs, pid).
    pub dir: PathBuf,
    /// The router's port backend: `af_xdp` (the default) or `af_packet`.
    pub backend: String,
}

impl Lab {
    /// Names for prefix `p`.
    pub fn new(p: &str) -> Lab {
        Lab {
            prefix: p.to_string(),
            dir: std::env::temp_dir().join(format!("orbital-lab-{p}")),
            backend: "af_xdp".into(),
        }
    }

    /// The LAN host's namespace.
    pub fn lan(&self) -> String {
        format!("{}-lan", self.prefix)
    }

    /// The router's namespace.
    pub fn rtr(&self) -> String {
        format!("{}-rtr", self.prefix)
    }

    /// The WAN host's namespace.
    pub fn wan(&self) -> String {
        format!("{}-wan", self.prefix)
    }

    /// The daemon's API socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("orbital.sock")
    }

    /// The router configuration file.
    pub fn config(&self) -> PathBuf {
        self.dir.join("router.toml")
    }

    /// The log of the daemon `orbital lab up` starts: its stdout and
    /// stderr, so it outlives the command that started it (a pipe to an
    /// exited reader would make its next line fail).
    pub fn log(&self) -> PathBuf {
        self.dir.join("orbital.log")
    }

    /// The pid of the daemon `orbital lab up` started.
    fn pid_file(&self) -> PathBuf {
        self.dir.join("orbital.pid")
    }

    /// The daemon `orbital lab up` started, if it still runs. A pid is
    /// taken only if that process runs this lab's configuration: a stale
    /// file's pid may belong to another process by now, which `lab down`
    /// must not signal.
    pub fn daemon_pid(&self) -> Option<u32> {
        let pid = std::fs::read_to_string(self.pid_file()).ok()?;
        let pid: u32 = pid.trim().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let config = self.config();
        let ours = cmdline
            .split(|&b| b == 0)
            .any(|arg| Path::new(std::ffi::OsStr::from_bytes(arg)) == config);
        (ours && alive(pid)).then_some(pid)
    }

    /// The lab's namespaces that exist now.
    ///
    /// # Errors
    /// `ip netns list` failed.
    pub fn existing_namespaces(&self) -> anyhow::Result<Vec<String>> {
        let list = sh(&["ip", "netns", "list"])?;
        // One namespace a line: `NAME` or `NAME (id: N)`.
        let present: Vec<&str> = list
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        Ok([self.lan(), self.rtr(), self.wan()]
            .into_iter()
            .filter(|n| present.contains(&n.as_str()))
            .collect())
    }

    /// Refuse to build over a lab of the same prefix: rebuilding its
    /// namespaces would leave its daemon in an orphaned namespace.
    ///
    /// # Errors
    /// "lab P already up", saying what is there; or `ip netns list` failed.
    pub fn ensure_not_up(&self) -> anyhow::Result<()> {
        let namespaces = self.existing_namespaces()?;
        let daemon = self.daemon_pid();
        if namespaces.is_empty() && daemon.is_none() {
            return Ok(());
        }
        let what = [
            (!namespaces.is_empty()).then(|| format!("namespaces {}", namespaces.join(", "))),
            Some(daemon.map_or("no daemon running".into(), |pid| {
                format!("daemon pid {pid}")
            })),
        ];
        let what: Vec<String> = what.into_iter().flatten().collect();
        let what = what.join(", ");
        bail!(
            "lab {} already up ({what}); nothing changed (`orbital lab down --prefix {}` removes it)",
            self.prefix,
            self.prefix
        )
    }

    /// (Re)write the router configuration with its ports on `backend`.
    ///
    /// # Errors
    /// The file could not be written.
    pub fn write_config(&self, backend: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        std::fs::write(self.config(), router_config(&self.socket(), backend))?;
        Ok(())
    }

    /// Build namespaces, links and addresses, and write the router config.
    ///
    /// # Errors
    /// An `ip`/`ethtool`/`sysctl` command failed (namespaces left are
    /// removed by [`Lab::down`]).
    pub fn build(&self) -> anyhow::Result<()> {
        self.down_namespaces();
        std::fs::create_dir_all(&self.dir)?;
        self.write_config(&self.backend)?;
        let (lan, rtr, wan) = (self.lan(), self.rtr(), self.wan());
        for n in [&lan, &rtr, &wan] {
            sh(&["ip", "netns", "add", n])?;
            in_ns(n, &["ip", "link", "set", "lo", "up"])?;
        }
        sh(&[
            "ip",
            "link",
            "add",
            "lan0",
            "netns",
            &rtr,
            "address",
            "02:00:00:00:00:01",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &lan,
            "address",
            "02:00:00:00:00:02",
        ])?;
        sh(&[
            "ip",
            "link",
            "add",
            "wan0",
            "netns",
            &rtr,
            "address",
            "02:00:00:00:01:01",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &wan,
            "address",
            "02:00:00:00:01:02",
        ])?;
        // The router's kernel stays out of the way: no IPv6 (no link-local
        // answers), no addresses.
        in_ns(&rtr, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])?;
        in_ns(
            &rtr,
            &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
        )?;
        for d in ["lan0", "wan0"] {
            in_ns(&rtr, &["ip", "link", "set", d, "up"])?;
        }
        let host = |ns: &str, v4: &[&str], v6: &str, gw4: &str, gw6: &str| -> anyhow::Result<()> {
            for a in v4 {
                in_ns(ns, &["ip", "addr", "add", a, "dev", "eth0"])?;
            }
            in_ns(ns, &["ip", "-6", "addr", "add", v6, "dev", "eth0", "nodad"])?;
            in_ns(ns, &["ip", "link", "set", "eth0", "up"])?;
            in_ns(ns, &["ip", "route", "add", "default", "via", gw4])?;
            in_ns(ns, &["ip", "-6", "route", "add", "default", "via", gw6])?;
            Ok(())
        };
        host(
            &lan,
            &["10.0.0.2/24"],
            "2001:db8::2/64",
            "10.0.0.1",
            "2001:db8::1",
        )?;
        host(
            &wan,
            &["192.0.2.2/24", "192.0.2.3/24"],
            "2001:db8:1::2/64",
            "192.0.2.1",
            "2001:db8:1::1",
        )?;
        in_ns(&wan, &["ip", "addr", "add", "198.51.100.1/32", "dev", "lo"])?;
        Ok(())
    }

    /// Start the daemon in the router namespace and wait (bounded) for it
    /// to say it runs. `exe` is the `orbital` binary, `extra` more
    /// arguments for `orbital run`.
    ///
    /// # Errors
    /// It exited or said nothing within `limit`.
    pub fn start_daemon(
        &self,
        exe: &Path,
        extra: &[&str],
        limit: Duration,
    ) -> anyhow::Result<DaemonProcess> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.rtr()])
            .arg(exe)
            .args(["run", "--config"])
            .arg(self.config())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting orbital run")?;
        let stdout = child.stdout.take().context("daemon stdout")?;
        let stderr = child.stderr.take().context("daemon stderr")?;
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send((false, l));
            }
        });
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx2.send((true, l));
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(limit) {
                Ok((false, l)) if l.starts_with("orbital: running") => break,
                Ok((_, l)) => seen.push(l),
                Err(_) => {
                    let _ = child.kill();
                    bail!("the daemon did not start: {}", seen.join("\n"));
                }
            }
        }
        Ok(DaemonProcess { child, lines: rx })
    }

    /// Start the daemon in the router namespace for good: detached from
    /// this process (its own process group, so a Ctrl-C at this terminal
    /// does not reach it), its stdout and stderr appended to [`Lab::log`],
    /// and wait (bounded) until it says it runs. Returns its pid.
    ///
    /// # Errors
    /// The log could not be opened, the daemon exited (what it wrote is in
    /// the message) or said nothing within `limit` (then it is killed).
    pub fn start_detached(&self, exe: &Path, limit: Duration) -> anyhow::Result<u32> {
        use std::os::unix::process::CommandExt as _;
        std::fs::create_dir_all(&self.dir)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .with_context(|| format!("opening {}", self.log().display()))?;
        // Only what this start writes counts (a failed first try is above).
        let from = log.metadata()?.len();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.rtr()])
            .arg(exe)
            .args(["run", "--config"])
            .arg(self.config())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("starting orbital run")?;
        let written = || -> String {
            let all = std::fs::read(self.log()).unwrap_or_default();
            let from = usize::try_from(from).unwrap_or(usize::MAX).min(all.len());
            String::from_utf8_lossy(&all[from..]).into_owned()
        };
        let deadline = Instant::now() + limit;
        loop {
            if written().lines().any(|l| l.starts_with("orbital: running")) {
                return Ok(child.id());
            }
            if let Some(status) = child.try_wait()? {
                bail!("the daemon exited ({status}): {}", written().trim());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the daemon did not say it runs within {limit:?}: {}",
                    written().trim()
                );
            }
            // A file has no readiness to block on; the daemon starts in
            // well under a second, so a short poll costs nothing.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start a one-shot iperf3 server on the WAN host and wait (bounded)
    /// until it listens.
    ///
    /// # Errors
    /// It did not start or did not say it listens within `limit`.
    pub fn iperf_server(&self, limit: Duration) -> anyhow::Result<Child> {
        let mut server = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.wan(),
                "iperf3",
                "-s",
                "-1",
                "--forceflush",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting iperf3 -s")?;
        wait_for_line(
            server.stdout.take().context("iperf3 stdout")?,
            "Server listening",
            limit,
        )?;
        Ok(server)
    }

    fn down_namespaces(&self) {
        for n in [self.lan(), self.rtr(), self.wan()] {
            let _ = sh(&["ip", "netns", "del", &n]);
        }
    }

    /// Remove namespaces (their veths go with them) and files.
    pub fn down(&self) {
        self.down_namespaces();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `orbital run`.
#[derive(Debug)]
pub struct DaemonProcess {
    /// The process (`ip netns exec ... orbital run`).
    pub child: Child,
    /// Its output lines after "running": (is_stderr, line).
    pub lines: mpsc::Receiver<(bool, String)>,
}

impl DaemonProcess {
    /// Send a signal to the daemon.
    ///
    /// # Errors
    /// `kill` failed.
    pub fn signal(&self, sig: &str) -> anyhow::Result<()> {
        // `ip netns exec` execs the daemon, so the child's pid is the daemon's.
        sh(&["kill", &format!("-{sig}"), &self.child.id().to_string()]).map(drop)
    }

    /// The next output line within `limit`.
    pub fn next_line(&self, limit: Duration) -> Option<(bool, String)> {
        self.lines.recv_timeout(limit).ok()
    }

    /// SIGTERM, then wait for exit; returns its remaining output.
    ///
    /// # Errors
    /// The signal could not be sent or the process not waited for.
    pub fn stop(mut self) -> anyhow::Result<(std::process::ExitStatus, Vec<String>)> {
        self.signal("TERM")?;
        let status = self.child.wait()?;
        let mut out = Vec::new();
        while let Ok((_, l)) = self.lines.recv_timeout(Duration::from_secs(2)) {
            out.push(l);
        }
        Ok((status, out))
    }
}

/// Whether process `pid` still runs (a zombie — exited, not yet reaped by
/// whoever inherited it — does not).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S ...`: the state follows the last `)`.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// `orbital lab ACTION`.
///
/// # Errors
/// A step failed; its command and message are in the error.
pub fn run(a: &LabArgs) -> anyhow::Result<()> {
    let mut lab = Lab::new(&a.prefix);
    lab.backend = a.backend.clone();
    let exe = std::env::current_exe()?;
    let limit = Duration::from_secs(10);
    match a.action.as_str() {
        "up" => {
            lab.ensure_not_up()?;
            let start = || -> anyhow::Result<u32> {
                lab.build()?;
                // A fresh log per lab; a fallback's second start appends.
                let _ = std::fs::remove_file(lab.log());
                let pid = match lab.start_detached(&exe, limit) {
                    Ok(pid) => pid,
                    Err(e) if lab.backend == "af_xdp" => {
                        crate::errln!(
                            "lab: AF_XDP did not start ({e:#}); falling back to AF_PACKET"
                        );
                        lab.write_config("af_packet")?;
                        lab.start_detached(&exe, limit)?
                    }
                    Err(e) => return Err(e),
                };
                std::fs::write(lab.pid_file(), pid.to_string())?;
                Ok(pid)
            };
            // Nothing of this prefix was there before: a lab that did not
            // come up is not left half-built (it would be "already up").
            let pid = start().inspect_err(|_| lab.down())?;
            crate::outln!(
                "lab up: {} (10.0.0.2) -> {} (orbital pid {pid}, api {}) -> {} (192.0.2.2, 198.51.100.1)",
                lab.lan(),
                lab.rtr(),
                lab.socket().display(),
                lab.wan()
            );
            crate::outln!("daemon log: {}", lab.log().display());
            crate::outln!(
                "try: orbital lab demo --prefix {0}; orbctl --socket {1} show stats",
                a.prefix,
                lab.socket().display()
            );
        }
        "demo" => {
            crate::outln!("$ ping -c 3 198.51.100.1 (from {})", lab.lan());
            crate::out!(
                "{}",
                in_ns(&lab.lan(), &["ping", "-c", "3", "-W", "2", "198.51.100.1"])?
            );
            crate::outln!("$ ping -c 3 2001:db8:1::2");
            crate::out!(
                "{}",
                in_ns(
                    &lab.lan(),
                    &["ping", "-6", "-c", "3", "-W", "2", "2001:db8:1::2"]
                )?
            );
            let mut server = lab.iperf_server(Duration::from_secs(10))?;
            crate::outln!("$ iperf3 -c 192.0.2.2 -t 5");
            crate::out!(
                "{}",
                in_ns(&lab.lan(), &["iperf3", "-c", "192.0.2.2", "-t", "5"])?
            );
            let _ = server.wait();
            crate::outln!("$ orbctl show stats");
            let resp = crate::ctl::call(&lab.socket(), &orbital_control::api::Request::Stats)?;
            let show = crate::ctl::CtlCommand::Show {
                what: "stats".into(),
                detail: None,
                filter: None,
            };
            crate::out!(
                "{}",
                crate::ctl::render(
                    &show,
                    resp.result.as_ref().unwrap_or(&serde_json::Value::Null)
                )
            );
        }
        _ => {
            if let Some(pid) = lab.daemon_pid() {
                // What the daemon writes from here on is its final report.
                let from = std::fs::metadata(lab.log()).map_or(0, |m| m.len());
                let _ = sh(&["kill", "-TERM", &pid.to_string()]);
                // Bounded: the daemon drains and exits within moments.
                for _ in 0..50 {
                    if !alive(pid) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                if let Ok(all) = std::fs::read(lab.log()) {
                    let from = usize::try_from(from).unwrap_or(usize::MAX).min(all.len());
                    crate::out!("{}", String::from_utf8_lossy(&all[from..]));
                }
            }
            lab.down();
            crate::outln!("lab down: namespaces {}-{{lan,rtr,wan}} removed", a.prefix);
        }
    }
    Ok(())
}

/// Read `r` until a line containing `needle`, at most `limit`.
///
/// # Errors
/// The stream ended or the time ran out first.
pub fn wait_for_line(
    r: impl std::io::Read + Send + 'static,
    needle: &str,
    limit: Duration,
) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel();
    let needle = needle.to_string();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines().map_while(Result::ok) {
            if l.contains(&needle) {
                let _ = tx.send(());
                return;
            }
        }
    });
    rx.recv_timeout(limit)
        .context("waiting for the server to listen")
}
