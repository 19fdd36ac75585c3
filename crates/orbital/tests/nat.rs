//! Stateless NAT through `orbital replay`: examples/static-nat.toml on its
//! two captures must send exactly the frames `examples/make_nat_capture.py`
//! computed from scratch (1:1 and prefix NAT44 both ways, UDP without a
//! checksum, ICMP errors with translated quotes, hairpinning, fragments,
//! NPTv6 and its untranslatable case), with any worker count; the trace
//! says what each NAT node did; bad NAT configuration is refused, located.

use std::path::{Path, PathBuf};

use orbital_capture::{Capture, PcapWriter, Resolution};
use orbital_fib::PortId;
use orbital_io::{PcapRx, PcapTx};
use orbital_pipeline::drop::{DropReason, Reason};
use orbital_pipeline::replay::{ReplayConfig, ReplayInput, ReplayOutput, ReplayReport, replay};
use orbital_pipeline::trace::TraceFilter;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A scratch directory removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("orbital-nat-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Replay the static NAT example on both captures; the report and each
/// port's frames.
fn run(workers: usize, trace: Option<(usize, TraceFilter)>) -> (ReplayReport, [Vec<Vec<u8>>; 2]) {
    run_example("static-nat.toml", "static-nat", workers, trace)
}

/// Replay `examples/CONFIG` on `examples/PREFIX-{lan,wan}.pcap`.
fn run_example(
    config: &str,
    prefix: &str,
    workers: usize,
    trace: Option<(usize, TraceFilter)>,
) -> (ReplayReport, [Vec<Vec<u8>>; 2]) {
    let ex = root().join("examples");
    let (rep, frames, _) = run_files(
        &ex.join(config),
        [
            ex.join(format!("{prefix}-lan.pcap")),
            ex.join(format!("{prefix}-wan.pcap")),
        ],
        workers,
        trace,
    );
    (rep, frames)
}

/// Replay `config` on the LAN and WAN captures `pcaps`; the report, what
/// each port sent, and the NAT's shared state afterwards.
fn run_files(
    config: &Path,
    pcaps: [PathBuf; 2],
    workers: usize,
    trace: Option<(usize, TraceFilter)>,
) -> (
    ReplayReport,
    [Vec<Vec<u8>>; 2],
    std::sync::Arc<orbital_nat::policy::NatShared>,
) {
    let dir = Scratch::new();
    let (compiled, builder) = orbital_control::load(config).unwrap();
    let mut cfg = ReplayConfig {
        trace,
        ..ReplayConfig::default()
    };
    orbital::replay::apply_engine_settings(&compiled.engine, &mut cfg.engine);
    orbital::replay::apply_nat_settings(&compiled, &mut cfg);
    cfg.engine.workers = workers;
    let id = |n: &str| compiled.port(n).unwrap().id;
    let inputs = ["lan0", "wan0"]
        .iter()
        .zip(&pcaps)
        .map(|(p, f)| ReplayInput {
            port: id(p),
            rx: PcapRx::open(f).unwrap(),
        })
        .collect();
    let paths = [dir.0.join("lan0.pcap"), dir.0.join("wan0.pcap")];
    let outputs = ["lan0", "wan0"]
        .iter()
        .zip(&paths)
        .map(|(p, f)| ReplayOutput {
            port: id(p),
            tx: PcapTx::new(f),
        })
        .collect();
    let policy = orbital::policy(&compiled, workers, 1, None).unwrap();
    let shared = policy.nat.shared.clone();
    let rep =
        replay::<orbital::Graph>(&cfg, builder, policy, compiled.ports.len(), inputs, outputs)
            .unwrap();
    assert!(rep.stats.total.balanced(), "{:?}", rep.stats.total);
    assert_eq!(rep.stats.pool.in_use, 0, "every buffer came back");
    let read = |p: &Path| frames(&std::fs::read(p).unwrap());
    (rep, [read(&paths[0]), read(&paths[1])], shared)
}

/// A capture's frames, each cut to its IP packet's own length (the
/// generator pads short frames to 60 bytes; the router sends them as they
/// are).
fn frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    let c = Capture::from_bytes(bytes.to_vec()).unwrap();
    c.frames()
        .map(|f| {
            let f = f.unwrap().data.to_vec();
            let len = match (f.get(12..14), f.get(16..18), f.get(18..20)) {
                (Some([0x08, 0x00]), Some(l), _) => {
                    14 + usize::from(u16::from_be_bytes([l[0], l[1]]))
                }
                (Some([0x86, 0xdd]), _, Some(l)) => {
                    54 + usize::from(u16::from_be_bytes([l[0], l[1]]))
                }
                _ => f.len(),
            };
            f[..len.min(f.len())].to_vec()
        })
        .collect()
}

fn expected(side: &str) -> Vec<Vec<u8>> {
    frames(&std::fs::read(root().join(format!("examples/static-nat-expect-{side}.pcap"))).unwrap())
}

fn drops(rep: &ReplayReport, r: Reason) -> u64 {
    rep.stats.total.drops[DropReason::Other(r).index()]
}

#[test]
fn static_nat_sends_exactly_the_independently_computed_frames() {
    let (rep, [lan, wan]) = run(1, None);
    for (side, got, want) in [
        ("lan", &lan, expected("lan")),
        ("wan", &wan, expected("wan")),
    ] {
        assert_eq!(got.len(), want.len(), "{side}0: frame count");
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                g == w,
                "{side}0 frame {k} differs from make_nat_capture.py's:\n got {}\nwant {}",
                hex(g),
                hex(w)
            );
        }
    }
    // Only the NPTv6 packet whose subnet word is 0xFFFF is dropped.
    assert_eq!(drops(&rep, Reason::NatUntranslatable), 1);
    assert_eq!(rep.stats.total.dropped, 1);
}

#[test]
fn static_nat_is_identical_with_two_workers() {
    let (_, one) = run(1, None);
    let (rep, two) = run(2, None);
    assert_eq!(one, two);
    assert_eq!(drops(&rep, Reason::NatUntranslatable), 1);
}

#[test]
fn the_trace_says_what_nat_did() {
    let (rep, _) = run(1, Some((64, TraceFilter::default())));
    let names = |p: PortId| ["lan0", "wan0"][usize::from(p.0)].to_string();
    let all: Vec<String> = rep.trace.iter().map(|t| t.render(&names)).collect();
    let has = |s: &str| all.iter().any(|t| t.contains(s));
    assert!(
        has("snat 192.168.1.10 -> 203.0.113.10 (static rule 1)"),
        "{all:#?}"
    );
    assert!(has("dnat 203.0.113.10 -> 192.168.1.10 (static rule 1)"));
    assert!(has("snat 192.168.2.33 -> 203.0.113.161 (static rule 2)"));
    assert!(has(
        "hairpin: dnat 203.0.113.10 -> 192.168.1.10; snat 192.168.2.5 -> 203.0.113.133"
    ));
    assert!(has(
        "dnat 203.0.113.10 -> 192.168.1.10; ICMP error: quoted 203.0.113.10 -> 192.168.1.10"
    ));
    assert!(has(
        "snat 192.168.1.10 -> 203.0.113.10; ICMP error: quoted 192.168.1.10 -> 203.0.113.10"
    ));
    assert!(has("NPTv6 source -> 2001:db8:1:"));
    assert!(has("drop: nat-untranslatable"), "{all:#?}");
}

fn config_error(nat: &str) -> String {
    let base = std::fs::read_to_string(root().join("examples/static-nat.toml")).unwrap();
    let cut = base.find("[[nat.static]]").unwrap();
    let text = format!("{}{nat}", &base[..cut]);
    orbital_control::compile_str(Path::new("nat.toml"), &text)
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_nat_configuration_is_refused_and_located() {
    let e = config_error(
        "[[nat.static]]\ninside = \"192.168.1.0/24\"\noutside = \"203.0.113.0/24\"\ninterface = \"wan0\"\n\n[[nat.static]]\ninside = \"192.168.1.128/25\"\noutside = \"198.51.100.0/25\"\ninterface = \"wan0\"\n",
    );
    assert!(e.contains("static NAT rule 2"), "{e}");
    assert!(e.contains("overlaps 192.168.1.0/24"), "{e}");
    assert!(e.starts_with("nat.toml:"), "{e}");
    let e = config_error(
        "[[nat.static]]\ninside = \"192.168.1.0/24\"\noutside = \"203.0.113.0/25\"\ninterface = \"wan0\"\n",
    );
    assert!(e.contains("differ in length"), "{e}");
    let e = config_error(
        "[[nat.static]]\ninside = \"192.168.1.0/24\"\noutside = \"203.0.113.0/24\"\ninterface = \"wan9\"\n",
    );
    assert!(
        e.contains("no port or bridge interface named `wan9`"),
        "{e}"
    );
    let e = config_error(
        "[[nat.static]]\ninside = \"192.168.1.1/24\"\noutside = \"203.0.113.0/24\"\ninterface = \"wan0\"\n",
    );
    assert!(e.contains("host bits"), "{e}");
    let e = config_error(
        "[[nat.static]]\ninside = \"fd00::/96\"\noutside = \"2001:db8::/96\"\ninterface = \"wan0\"\n",
    );
    assert!(e.contains("RFC 6296"), "{e}");
}

/// The home router's configuration with its `[nat]` rules written as
/// `tables` instead.
fn home_with(tables: &str) -> String {
    let base = std::fs::read_to_string(root().join("examples/home-router.toml")).unwrap();
    let (a, b) = (
        base.find("rules = [").unwrap(),
        base.find("[nat.timeouts]").unwrap(),
    );
    format!("{}{}{tables}", &base[..a], &base[b..])
}

#[test]
fn nat_rules_in_nftables_words_compile_like_the_tables() {
    let rules = orbital_control::compile_str(
        Path::new("home-router.toml"),
        &std::fs::read_to_string(root().join("examples/home-router.toml")).unwrap(),
    )
    .unwrap()
    .nat;
    let tables = orbital_control::compile_str(
        Path::new("home-router.toml"),
        &home_with(
            "\n[[nat.source]]\ninterface = \"wan0\"\ninside = [\"192.168.1.0/24\"]\nto = \"masquerade\"\n\n[[nat.forward]]\ninterface = \"wan0\"\nprotocol = \"tcp\"\nport = 8080\nto = \"192.168.1.10:80\"\n",
        ),
    )
    .unwrap()
    .nat;
    assert_eq!(rules, tables);
    assert_eq!(rules.sources.len(), 1);
    assert_eq!(rules.forwards.len(), 1);
}

#[test]
fn a_bad_nat_rule_is_refused_at_its_word() {
    let base = std::fs::read_to_string(root().join("examples/home-router.toml")).unwrap();
    let text = base.replace("dnat to 192.168.1.10:80", "dnat to 192.168.1.10:http");
    let e = orbital_control::compile_str(Path::new("home.toml"), &text)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    let line = base
        .lines()
        .position(|l| l.contains("dnat to 192.168.1.10:80"))
        .unwrap()
        + 1;
    let col = base
        .lines()
        .nth(line - 1)
        .unwrap()
        .find("192.168.1.10:80")
        .unwrap()
        + 1;
    assert!(
        e.starts_with(&format!("home.toml:{line}:{col}:")),
        "{e} (wanted line {line} column {col})"
    );
    assert!(e.contains("the port must be 1-65535"), "{e}");
    // An overlap the compiler finds is located at the whole rule.
    let text = base.replace(
        "  \"iif wan0 tcp dport 8080 dnat to 192.168.1.10:80\",\n",
        "  \"iif wan0 tcp dport 8080 dnat to 192.168.1.10:80\",\n  \"iif wan0 tcp dport 8000-8090 dnat to 192.168.1.11\",\n",
    );
    let e = orbital_control::compile_str(Path::new("home.toml"), &text)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("port forward 2"), "{e}");
    assert!(e.starts_with(&format!("home.toml:{}:", line + 1)), "{e}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every checksum of an Ethernet/IPv4 frame, computed from scratch: the
/// header, TCP/UDP over the pseudo-header, ICMP, and an ICMP error's quoted
/// header.
fn verify_checksums(f: &[u8]) {
    use orbital_wire::checksum::{checksum, pseudo_header_v4, transport};
    let ip = &f[14..];
    let ihl = usize::from(ip[0] & 15) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    assert_eq!(
        checksum(&ip[..ihl]),
        0,
        "IPv4 header checksum of {}",
        hex(f)
    );
    let l4 = &ip[ihl..total];
    let addr = |b: &[u8]| std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    match ip[9] {
        6 | 17 if !(ip[9] == 17 && l4[6..8] == [0, 0]) => {
            let ph = pseudo_header_v4(
                addr(&ip[12..16]),
                addr(&ip[16..20]),
                orbital_wire::ip::IpProtocol::from(ip[9]),
                l4.len() as u32,
            );
            assert_eq!(transport(ph, l4), 0, "transport checksum of {}", hex(f));
        }
        1 => {
            assert_eq!(checksum(l4), 0, "ICMP checksum of {}", hex(f));
            if matches!(l4[0], 3 | 11 | 12) {
                let q = &l4[8..];
                assert_eq!(checksum(&q[..20]), 0, "quoted header checksum");
            }
        }
        _ => {}
    }
}

fn ipv4_at(f: &[u8], at: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3])
}

fn port_at(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[at], f[at + 1]])
}

/// (source, source port, destination, destination port) of a TCP/UDP
/// frame with a 20-byte IPv4 header; ICMP: the identifier as both ports.
fn tuple(f: &[u8]) -> (String, u16, String, u16) {
    let (s, d) = (ipv4_at(f, 26).to_string(), ipv4_at(f, 30).to_string());
    match f[23] {
        1 => (s, port_at(f, 38), d, port_at(f, 38)),
        _ => (s, port_at(f, 34), d, port_at(f, 36)),
    }
}

#[test]
fn home_router_masquerades_with_endpoint_independent_mapping_forwards_and_hairpins() {
    let (rep, [lan, wan]) = run_example("home-router.toml", "home", 1, None);
    for f in lan.iter().chain(&wan) {
        verify_checksums(f);
    }
    let t: Vec<_> = wan.iter().map(|f| tuple(f)).collect();
    let e = "203.0.113.1".to_string();
    // A:5000 keeps one external port towards two servers (REQ-1); B:5000,
    // the same inside port, gets another (REQ-3); parity kept (REQ-4).
    assert_eq!((&t[0].0, &t[0].2), (&e, &"198.51.100.7".to_string()));
    assert_eq!(t[0].1, t[1].1, "endpoint-independent mapping");
    assert_eq!(&t[1].2, "198.51.100.8");
    assert_ne!(t[2].1, t[0].1, "no port overloading");
    assert!(t.iter().take(3).all(|x| x.1 % 2 == 0 && x.1 >= 1024));
    // The TCP SYN from A:40000, the port forward's answer from :8080, the
    // echo request with its identifier kept.
    assert_eq!((&t[3].0, t[3].3), (&e, 80));
    assert_eq!(
        (&t[4].0, t[4].1, &t[4].2, t[4].3),
        (&e, 8080, &"198.51.100.9".to_string(), 5555)
    );
    assert_eq!((&t[5].0, t[5].1), (&e, 0x77));
    // Steering: each mapped flow's return hashes where it went out, in the
    // seven bits the indirection table reads.
    let rss = orbital_pipeline::rss::Toeplitz::new(&orbital_pipeline::rss::SYMMETRIC_KEY);
    let h = |a: &str, b: &str, pa: u16, pb: u16| {
        let mut x = [0u8; 12];
        x[..4].copy_from_slice(&a.parse::<std::net::Ipv4Addr>().unwrap().octets());
        x[4..8].copy_from_slice(&b.parse::<std::net::Ipv4Addr>().unwrap().octets());
        x[8..10].copy_from_slice(&pa.to_be_bytes());
        x[10..12].copy_from_slice(&pb.to_be_bytes());
        rss.hash(&x) & 127
    };
    for (inside, x, k) in [
        ("192.168.1.2", 5000, 0),
        ("192.168.1.2", 5000, 1),
        ("192.168.1.3", 5000, 2),
        ("192.168.1.2", 40000, 3),
    ] {
        assert_eq!(
            h(inside, &t[k].2, x, t[k].3),
            h(&t[k].2, &e, t[k].3, t[k].1),
            "frame {k}"
        );
    }
    // Inbound: the answers to each mapping; the forward to S:80; the
    // hairpin both ways, each side seeing the other's public endpoint; the
    // echo reply and the ICMP error back at A, the error's quote naming
    // A:5000 (RFC 5508).
    let l: Vec<_> = lan.iter().map(|f| tuple(f)).collect();
    let want = [
        ("198.51.100.7", 3478, "192.168.1.2", 5000),
        ("198.51.100.8", 3478, "192.168.1.2", 5000),
        ("198.51.100.7", 3478, "192.168.1.3", 5000),
        ("198.51.100.9", 5555, "192.168.1.10", 80),
    ];
    for (k, w) in want.iter().enumerate() {
        assert_eq!(
            (l[k].0.as_str(), l[k].1, l[k].2.as_str(), l[k].3),
            *w,
            "lan frame {k}"
        );
    }
    assert_eq!(
        (l[4].0.as_str(), l[4].2.as_str(), l[4].3),
        ("203.0.113.1", "192.168.1.10", 80)
    );
    assert_eq!(
        (l[5].0.as_str(), l[5].1, l[5].2.as_str(), l[5].3),
        ("203.0.113.1", 8080, "192.168.1.3", 6000)
    );
    assert_eq!((l[6].2.as_str(), l[6].1), ("192.168.1.2", 0x77));
    let err = &lan[7];
    assert_eq!(
        (err[34], ipv4_at(err, 30).to_string()),
        (3, "192.168.1.2".to_string())
    );
    assert_eq!(
        (ipv4_at(err, 42 + 12).to_string(), port_at(err, 42 + 20)),
        ("192.168.1.2".to_string(), 5000)
    );
    assert_eq!(
        lan.len(),
        8,
        "the late answer after the mapping timed out is not delivered"
    );
    // The filtering (address and port dependent) refused R2 from another
    // port and R3 unsolicited.
    assert_eq!(drops(&rep, Reason::NatFiltered), 2);
}

#[test]
fn home_router_is_identical_with_two_workers() {
    let (_, one) = run_example("home-router.toml", "home", 1, None);
    let (rep, two) = run_example("home-router.toml", "home", 2, None);
    assert_eq!(one, two);
    assert_eq!(drops(&rep, Reason::NatFiltered), 2);
}

#[test]
fn show_nat_mappings_lists_the_port_table() {
    let (compiled, _) = orbital_control::load(&root().join("examples/home-router.toml")).unwrap();
    let policy = orbital::policy(&compiled, 1, 1, None).unwrap();
    let e: std::net::Ipv4Addr = "203.0.113.1".parse().unwrap();
    let t = policy.nat.shared.table(e.to_bits(), 17).unwrap();
    let a: std::net::Ipv4Addr = "192.168.1.2".parse().unwrap();
    assert_eq!(
        t.map(a.to_bits(), 5000, [5124u16].into_iter()),
        Ok((5124, true))
    );
    let v = orbital::nat_view::mappings_json(&policy.nat);
    assert_eq!(v[0]["external"], "203.0.113.1:5124");
    assert_eq!(v[0]["inside"], "192.168.1.2:5000");
    assert_eq!(v[0]["protocol"], "udp");
    assert_eq!(v[0]["filtering"], "address-and-port-dependent");
    let text = orbital::nat_view::render_mappings(&v);
    assert!(
        text.contains("203.0.113.1:5124") && text.contains("192.168.1.2:5000"),
        "{text}"
    );
    let s = orbital::nat_view::nat_json(&policy.nat);
    assert_eq!(s["pool"][0]["udp_ports_used"], 1);
    assert_eq!(s["forward"][0]["to"], "192.168.1.10:80");
}

/// `show nat sessions FILTER` against `state`, with a thread standing in
/// for the worker: it answers between bursts, as `maintain` does, at `now`.
fn list_sessions(
    policy: &orbital_nat::RouterPolicy,
    mut state: orbital_nat::dynamic::NatState,
    filter: &str,
    now: u64,
) -> (serde_json::Value, orbital_nat::dynamic::NatState) {
    let view = state.view.clone();
    let worker = std::thread::spawn(move || {
        while !view.wanted.load(std::sync::atomic::Ordering::Acquire) {
            std::thread::yield_now();
        }
        state.maintain(now);
        state
    });
    let f = orbital::nat_view::SessionFilter::parse(filter).unwrap();
    let v = orbital::nat_view::sessions_listing(&policy.nat, &f).unwrap();
    (v, worker.join().unwrap())
}

#[test]
fn show_nat_sessions_lists_what_the_worker_holds_and_filters_it() {
    use orbital_nat::session::{Class, Key, Kind};
    let (compiled, _) = orbital_control::load(&root().join("examples/home-router.toml")).unwrap();
    let policy = orbital::policy(&compiled, 1, 1, None).unwrap();
    let mut state = orbital_nat::dynamic::NatState::new(0, &policy.nat);
    let ip = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap().to_bits();
    let key = |proto, addr, port, remote, rport| Key {
        proto,
        addr: ip(addr),
        port,
        remote: ip(remote),
        rport,
    };
    let s = 1_000_000_000;
    state
        .sessions
        .insert(
            key(17, "192.168.1.2", 5000, "198.51.100.7", 3478),
            key(17, "203.0.113.1", 5124, "198.51.100.7", 3478),
            Kind::Mapped,
            Class::Udp,
            0,
            300 * s,
        )
        .unwrap();
    state
        .sessions
        .insert(
            key(6, "192.168.1.10", 80, "198.51.100.9", 40000),
            key(6, "203.0.113.1", 8080, "198.51.100.9", 40000),
            Kind::Forward,
            Class::TcpEstablished,
            0,
            7440 * s,
        )
        .unwrap();
    let (v, state) = list_sessions(&policy, state, "", 10 * s);
    assert_eq!(v["listed"], 2, "{v}");
    let rows = v["sessions"].as_array().unwrap();
    let udp = rows.iter().find(|r| r["protocol"] == "udp").unwrap();
    assert_eq!(udp["inside"], "192.168.1.2:5000");
    assert_eq!(udp["external"], "203.0.113.1:5124");
    assert_eq!(udp["remote"], "198.51.100.7:3478");
    assert_eq!(udp["kind"], "mapped");
    assert_eq!(udp["timeout_class"], "udp");
    assert_eq!(
        udp["expires_in_s"], 290,
        "10 s of 300 gone on the worker's clock"
    );
    let text = orbital::nat_view::render_sessions(&v);
    assert!(
        text.contains("192.168.1.10:80") && text.contains("forward"),
        "{text}"
    );
    assert!(text.contains("2 shown of 2 listed"), "{text}");
    // Filters: kind, protocol, an address or port on any side.
    let mut state = state;
    for (f, want) in [
        ("kind=forward", "192.168.1.10:80"),
        ("proto=udp", "192.168.1.2:5000"),
        ("addr=198.51.100.9", "192.168.1.10:80"),
        ("port=5124", "192.168.1.2:5000"),
    ] {
        let (v, back) = list_sessions(&policy, state, f, 10 * s);
        state = back;
        let rows = v["sessions"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{f}: {v}");
        assert_eq!(rows[0]["inside"], want, "{f}: {v}");
    }
    for (f, bad) in [
        ("proto=sctp", "sctp"),
        ("colour=red", "colour"),
        ("addr=x", "x"),
    ] {
        let e = orbital::nat_view::SessionFilter::parse(f).unwrap_err();
        assert!(e.contains(bad), "{e}");
    }
}

/// A UDP frame from a home LAN host (`.N` of 192.168.1.0/24, MAC
/// 02:00:00:00:00:0N) to `dst:dport`, from `sport`; UDP checksum 0.
fn lan_udp(n: u8, sport: u16, dst: &str, dport: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, n, 0x08, 0x00];
    let mut ip = vec![0u8; 20 + 8 + 4];
    orbital_wire::ipv4::Ipv4Repr {
        src_addr: std::net::Ipv4Addr::new(192, 168, 1, n),
        dst_addr: dst.parse().unwrap(),
        protocol: orbital_wire::IpProtocol::Udp,
        payload_len: 12,
        ttl: 64,
        dscp_ecn: 0,
        ident: 7,
        dont_frag: true,
    }
    .emit(&mut ip);
    ip[20..22].copy_from_slice(&sport.to_be_bytes());
    ip[22..24].copy_from_slice(&dport.to_be_bytes());
    ip[24..26].copy_from_slice(&12u16.to_be_bytes());
    f.extend_from_slice(&ip);
    f
}

/// `frames` as a pcap at `path`, a microsecond apart.
fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut w = PcapWriter::new(
        std::fs::File::create(path).unwrap(),
        1,
        65535,
        Resolution::Nano,
    )
    .unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write(1_700_000_000_000_000_000 + 1_000 * i as u64, f)
            .unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn one_inside_host_cannot_take_more_than_its_ports_and_sessions() {
    let dir = Scratch::new();
    let base = std::fs::read_to_string(root().join("examples/home-router.toml")).unwrap();
    let cfg = dir.0.join("limits.toml");
    std::fs::write(
        &cfg,
        base.replace(
            "max_sessions = 65536          # per worker\n",
            "max_sessions = 65536\nmax_ports_per_host = 2\nmax_sessions_per_host = 3\n",
        ),
    )
    .unwrap();
    let lan = dir.0.join("lan.pcap");
    write_pcap(
        &lan,
        &[
            lan_udp(2, 1000, "198.51.100.1", 53), // port 1, session 1
            lan_udp(2, 1001, "198.51.100.1", 53), // port 2, session 2
            lan_udp(2, 1002, "198.51.100.1", 53), // a third port: refused
            lan_udp(2, 1000, "198.51.100.2", 53), // same mapping, session 3
            lan_udp(2, 1000, "198.51.100.3", 53), // a fourth session: refused
            lan_udp(3, 1000, "198.51.100.1", 53), // another host: its own budget
        ],
    );
    let wan = dir.0.join("wan.pcap");
    write_pcap(&wan, &[]);
    for workers in [1, 2] {
        let (rep, [_, out], _) = run_files(&cfg, [lan.clone(), wan.clone()], workers, None);
        assert_eq!(drops(&rep, Reason::NatHostLimit), 2, "{workers} workers");
        let sent: Vec<_> = out
            .iter()
            .map(|f| (ipv4_at(f, 14 + 16).to_string(), port_at(f, 14 + 22)))
            .collect();
        assert_eq!(
            sent,
            [
                ("198.51.100.1".to_string(), 53),
                ("198.51.100.1".to_string(), 53),
                ("198.51.100.2".to_string(), 53),
                ("198.51.100.1".to_string(), 53)
            ],
            "{workers} workers"
        );
        let src: std::collections::BTreeSet<_> = out.iter().map(|f| port_at(f, 14 + 20)).collect();
        assert_eq!(src.len(), 3, "two mappings of .2 and one of .3: {src:?}");
    }
    // Refused at load: a limit of 0.
    let e = orbital_control::compile_str(
        Path::new("limits.toml"),
        &base.replace(
            "max_sessions = 65536",
            "max_sessions = 65536\nmax_ports_per_host = 0",
        ),
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(e.contains("max_ports_per_host must be at least 1"), "{e}");
}

/// The Internet checksum of `data`, folded.
fn csum(data: &[u8], mut sum: u32) -> u16 {
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 fragment from the home WAN's gateway: `data` at byte `offset`
/// of a UDP datagram `ident` from `src` to `dst`.
fn wan_fragment(
    src: [u8; 4],
    dst: [u8; 4],
    ident: u16,
    offset: usize,
    more: bool,
    data: &[u8],
) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 1, 1, 2, 0, 0, 0, 1, 0xfe, 0x08, 0x00];
    let total = 20 + data.len();
    let flags = (u16::from(more) << 13) | (offset / 8) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&ident.to_be_bytes());
    ip.extend_from_slice(&flags.to_be_bytes());
    ip.extend_from_slice(&[64, 17, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = csum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(data);
    f
}

/// A UDP datagram (header and payload) with its checksum for `src` → `dst`.
fn udp_datagram(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src);
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(len as u16).to_be_bytes());
    let c = csum(&[pseudo, u.clone()].concat(), 0);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

#[test]
fn fragments_to_a_mapping_follow_their_first_even_out_of_order() {
    let dir = Scratch::new();
    let cfg = root().join("examples/home-router.toml");
    let lan = dir.0.join("lan.pcap");
    write_pcap(&lan, &[lan_udp(2, 5000, "198.51.100.7", 3478)]);
    let empty = dir.0.join("empty.pcap");
    write_pcap(&empty, &[]);
    // The mapping the outbound packet gets (deterministic).
    let (_, [_, out], _) = run_files(&cfg, [lan.clone(), empty.clone()], 1, None);
    let ext = port_at(&out[0], 14 + 20);
    // The answer: 40 bytes of UDP in three fragments of 16, 16 and 8,
    // sent second, first, third; and a datagram from a port the
    // filtering refuses, its later fragment first.
    let (r, e) = ([198, 51, 100, 7], [203, 0, 113, 1]);
    let payload: Vec<u8> = (0..32).collect();
    let d = udp_datagram(r, e, 3478, ext, &payload);
    let bad = udp_datagram(r, e, 9999, ext, &payload);
    let frags = [
        wan_fragment(r, e, 77, 16, true, &d[16..32]),
        wan_fragment(r, e, 78, 16, false, &bad[16..]),
        wan_fragment(r, e, 77, 0, true, &d[..16]),
        wan_fragment(r, e, 78, 0, true, &bad[..16]),
        wan_fragment(r, e, 77, 32, false, &d[32..]),
    ];
    // Written after the LAN's packet: a microsecond apart from t0 + 1 ms.
    let wan = dir.0.join("wan.pcap");
    {
        let mut w = PcapWriter::new(
            std::fs::File::create(&wan).unwrap(),
            1,
            65535,
            Resolution::Nano,
        )
        .unwrap();
        for (i, f) in frags.iter().enumerate() {
            w.write(1_700_000_000_001_000_000 + 1_000 * i as u64, f)
                .unwrap();
        }
        w.finish().unwrap();
    }
    let mut first = None;
    let mut handed = 0;
    // More workers than two, so that the datagram's worker (by addresses)
    // and the flow's (by ports) differ for some count.
    for workers in [1, 2, 3, 4] {
        let (rep, [got, _], _) = run_files(&cfg, [lan.clone(), wan.clone()], workers, None);
        assert_eq!(
            got.len(),
            3,
            "{workers} workers: the three fragments of the answer"
        );
        assert_eq!(
            drops(&rep, Reason::NatFiltered),
            1,
            "the bad datagram's first"
        );
        assert_eq!(
            drops(&rep, Reason::NatFragment),
            1,
            "and its later fragment"
        );
        let mut whole = vec![0u8; 40];
        for f in &got {
            assert_eq!(
                ipv4_at(f, 14 + 16).to_string(),
                "192.168.1.2",
                "to the inside host"
            );
            assert_eq!(csum(&f[14..34], 0), 0, "IPv4 header checksum");
            let off = usize::from(u16::from_be_bytes([f[20], f[21]]) & 0x1fff) * 8;
            whole[off..off + f.len() - 34].copy_from_slice(&f[34..]);
        }
        // The first is out first, then the one that waited for it.
        let offsets: Vec<_> = got
            .iter()
            .map(|f| u16::from_be_bytes([f[20], f[21]]) & 0x1fff)
            .collect();
        assert_eq!(offsets, [0, 2, 4], "{workers} workers");
        assert_eq!(
            port_at(&whole, 2),
            5000,
            "the inside port, in the first fragment"
        );
        let mut pseudo = vec![198, 51, 100, 7, 192, 168, 1, 2, 0, 17, 0, 40];
        pseudo.extend_from_slice(&whole);
        assert_eq!(
            csum(&pseudo, 0),
            0,
            "the reassembled UDP checksum holds for the inside address"
        );
        assert_eq!(&whole[8..], &payload[..]);
        assert_eq!(rep.stats.total.consumed, 2, "two later fragments held");
        handed += rep.stats.total.handoff_out;
        match &first {
            None => first = Some(got),
            Some(one) => assert_eq!(one, &got, "identical with {workers} workers"),
        }
    }
    assert!(
        handed > 0,
        "some worker count sent the datagram to the flow's worker"
    );
}

#[test]
fn the_mapping_log_records_each_mapping_made_and_given_back() {
    let dir = Scratch::new();
    let base = std::fs::read_to_string(root().join("examples/home-router.toml")).unwrap();
    let cfg = dir.0.join("log.toml");
    std::fs::write(
        &cfg,
        base.replace(
            "max_sessions = 65536          # per worker\n",
            "max_sessions = 65536\nlog = true\n",
        ),
    )
    .unwrap();
    // .2 opens a mapping; 400 s later (past UDP's 300 s) .3 opens one,
    // and the worker's sweep gives .2's back.
    let lan = dir.0.join("lan.pcap");
    let t0 = 1_700_000_000_000_000_000u64;
    {
        let mut w = PcapWriter::new(
            std::fs::File::create(&lan).unwrap(),
            1,
            65535,
            Resolution::Nano,
        )
        .unwrap();
        w.write(t0, &lan_udp(2, 5000, "198.51.100.7", 53)).unwrap();
        w.write(t0 + 400_000_000_000, &lan_udp(3, 6000, "198.51.100.7", 53))
            .unwrap();
        w.finish().unwrap();
    }
    let empty = dir.0.join("empty.pcap");
    write_pcap(&empty, &[]);
    for workers in [1, 2] {
        let (_, [_, out], shared) = run_files(&cfg, [lan.clone(), empty.clone()], workers, None);
        let ext = |f: &Vec<u8>| format!("203.0.113.1:{}", port_at(f, 14 + 20));
        let mut events = Vec::new();
        while let Some(e) = shared.log.pop() {
            events.push((
                e.created,
                format!(
                    "{}:{}",
                    std::net::Ipv4Addr::from_bits(e.inside),
                    e.inside_port
                ),
                format!(
                    "{}:{}",
                    std::net::Ipv4Addr::from_bits(e.external),
                    e.external_port
                ),
                e.time_ns,
            ));
        }
        assert_eq!(events.len(), 3, "{workers} workers: {events:?}");
        assert_eq!(
            (events[0].0, events[0].1.as_str()),
            (true, "192.168.1.2:5000")
        );
        assert_eq!(events[0].2, ext(&out[0]));
        assert_eq!(events[0].3, t0, "made when its packet came");
        let deleted = events.iter().find(|e| !e.0).unwrap();
        assert_eq!(
            (deleted.1.as_str(), &deleted.2),
            ("192.168.1.2:5000", &ext(&out[0]))
        );
        assert!(
            deleted.3 >= t0 + 300_000_000_000,
            "given back after its timeout: {events:?}"
        );
        let made3 = events
            .iter()
            .find(|e| e.0 && e.1 == "192.168.1.3:6000")
            .unwrap();
        assert_eq!(made3.2, ext(&out[1]));
        assert_eq!(shared.log.counts(), (3, 0));
    }
    // Off by default: nothing logged.
    let (_, _, shared) = run_files(
        &root().join("examples/home-router.toml"),
        [lan.clone(), empty],
        1,
        None,
    );
    assert_eq!(shared.log.counts(), (0, 0));
}

/// A TCP segment (no options, no payload) with its checksum, as an
/// Ethernet frame from `macs` (destination, source).
fn tcp_frame(
    macs: ([u8; 6], [u8; 6]),
    src: [u8; 4],
    dst: [u8; 4],
    ports: (u16, u16),
    seq: u32,
    ack: u32,
    flags: u8,
) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&ports.0.to_be_bytes());
    t.extend_from_slice(&ports.1.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src);
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&[0, 6, 0, 20]);
    let c = csum(&[pseudo, t.clone()].concat(), 0);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = csum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::new();
    f.extend_from_slice(&macs.0);
    f.extend_from_slice(&macs.1);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&t);
    f
}

#[test]
fn tcp_simultaneous_open_goes_through_and_an_unsolicited_syn_gets_no_answer() {
    // RFC 5382 REQ-2 (simultaneous open) and REQ-4: an unsolicited
    // inbound SYN is not answered (REQ-4a: answering would break the
    // address-and-port-dependent filtering's policy); once the inside host
    // has sent its own SYN, the peer's SYN reaches it.
    let dir = Scratch::new();
    let cfg = root().join("examples/home-router.toml");
    let (router_lan, host) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let (router_wan, gw) = ([2, 0, 0, 0, 1, 1], [2, 0, 0, 0, 1, 0xfe]);
    let (inside, peer, public) = ([192, 168, 1, 2], [198, 51, 100, 9], [203, 0, 113, 1]);
    let syn_out = tcp_frame((router_lan, host), inside, peer, (7000, 9000), 100, 0, 0x02);
    let lan = dir.0.join("lan.pcap");
    let empty = dir.0.join("empty.pcap");
    write_pcap(&empty, &[]);
    write_pcap(&lan, std::slice::from_ref(&syn_out));
    let (_, [_, out], _) = run_files(&cfg, [lan.clone(), empty.clone()], 1, None);
    let ext = port_at(&out[0], 14 + 20);
    // The peer's SYN to the mapping before the inside host's (dropped,
    // unanswered), then the host's SYN out, then the peer's SYN again
    // (simultaneous open: delivered).
    let syn_in = tcp_frame((router_wan, gw), peer, public, (9000, ext), 500, 0, 0x02);
    let t0 = 1_700_000_000_000_000_000u64;
    let write = |path: &Path, frames: &[(u64, &Vec<u8>)]| {
        let mut w = PcapWriter::new(
            std::fs::File::create(path).unwrap(),
            1,
            65535,
            Resolution::Nano,
        )
        .unwrap();
        for (t, f) in frames {
            w.write(*t, f).unwrap();
        }
        w.finish().unwrap();
    };
    write(&lan, &[(t0 + 1_000_000, &syn_out)]);
    let wan = dir.0.join("wan.pcap");
    write(&wan, &[(t0, &syn_in), (t0 + 2_000_000, &syn_in)]);
    for workers in [1, 2] {
        let (rep, [to_lan, to_wan], _) = run_files(&cfg, [lan.clone(), wan.clone()], workers, None);
        assert_eq!(
            to_wan.len(),
            1,
            "{workers} workers: only the host's SYN goes out, no RST or ICMP for the early SYN"
        );
        assert_eq!(port_at(&to_wan[0], 14 + 20), ext, "the same mapping");
        assert_eq!(
            to_lan.len(),
            1,
            "{workers} workers: the peer's second SYN reaches the host"
        );
        let f = &to_lan[0];
        assert_eq!(ipv4_at(f, 14 + 16).to_string(), "192.168.1.2");
        assert_eq!(port_at(f, 14 + 22), 7000);
        assert_eq!(f[14 + 33], 0x02, "a SYN");
        let mut pseudo = vec![198, 51, 100, 9, 192, 168, 1, 2, 0, 6, 0, 20];
        pseudo.extend_from_slice(&f[34..54]);
        assert_eq!(csum(&pseudo, 0), 0, "TCP checksum for the inside address");
        // Before any mapping, the SYN is to the router's own address: its
        // input policy drops it, silently.
        assert_eq!(drops(&rep, Reason::FwPolicy), 1, "the early SYN");
        assert_eq!(drops(&rep, Reason::NatFiltered), 0);
    }
}

#[test]
fn each_filtering_mode_lets_in_what_rfc_4787_says() {
    // REQ-8: endpoint-independent filtering lets anyone reach a mapping,
    // address-dependent those at an address the inside endpoint sent to,
    // address-and-port-dependent only the endpoint itself.
    let dir = Scratch::new();
    let base = std::fs::read_to_string(root().join("examples/home-router.toml")).unwrap();
    let lan = dir.0.join("lan.pcap");
    write_pcap(&lan, &[lan_udp(2, 5000, "198.51.100.7", 3478)]);
    let empty = dir.0.join("empty.pcap");
    write_pcap(&empty, &[]);
    let (_, [_, out], _) = run_files(
        &root().join("examples/home-router.toml"),
        [lan.clone(), empty.clone()],
        1,
        None,
    );
    let ext = port_at(&out[0], 14 + 20);
    let e = [203, 0, 113, 1];
    let from = |r: [u8; 4], sport: u16| {
        wan_fragment(r, e, 9, 0, false, &udp_datagram(r, e, sport, ext, b"hi"))
    };
    // The endpoint itself, its address from another port, another address.
    let wan = dir.0.join("wan.pcap");
    {
        let mut w = PcapWriter::new(
            std::fs::File::create(&wan).unwrap(),
            1,
            65535,
            Resolution::Nano,
        )
        .unwrap();
        for (i, f) in [
            from([198, 51, 100, 7], 3478),
            from([198, 51, 100, 7], 9999),
            from([198, 51, 100, 8], 3478),
        ]
        .iter()
        .enumerate()
        {
            w.write(1_700_000_000_001_000_000 + 1_000 * i as u64, f)
                .unwrap();
        }
        w.finish().unwrap();
    }
    for (mode, reached) in [
        ("endpoint-independent", 3),
        ("address-dependent", 2),
        ("address-and-port-dependent", 1),
    ] {
        let cfg = dir.0.join(format!("{mode}.toml"));
        std::fs::write(
            &cfg,
            base.replace(
                "masquerade filtering address-and-port-dependent",
                &format!("masquerade filtering {mode}"),
            ),
        )
        .unwrap();
        for workers in [1, 2] {
            let (rep, [to_lan, _], _) = run_files(&cfg, [lan.clone(), wan.clone()], workers, None);
            assert_eq!(to_lan.len(), reached, "{mode}, {workers} workers");
            for f in &to_lan {
                assert_eq!(ipv4_at(f, 14 + 16).to_string(), "192.168.1.2", "{mode}");
                assert_eq!(port_at(f, 14 + 22), 5000, "{mode}");
            }
            assert_eq!(
                drops(&rep, Reason::NatFiltered),
                3 - reached as u64,
                "{mode}, {workers} workers"
            );
        }
    }
}
