//! `orbital replay` on the example router and on real captures: byte-exact
//! outputs, what each output frame must contain, determinism, rate limits,
//! trace, and the counter invariant on every run.
//!
//! Golden files live in tests/golden; after an intended change of behaviour,
//! regenerate them with `ORBITAL_BLESS=1 cargo test -p orbital --test replay`
//! and review the diff with `tshark -r`.

use std::path::{Path, PathBuf};

use orbital_capture::{Capture, PcapWriter, Resolution};
use orbital_fib::PortId;
use orbital_io::{PcapRx, PcapTx};
use orbital_pipeline::drop::{DropReason, Reason};
use orbital_pipeline::replay::{ReplayConfig, ReplayInput, ReplayOutput, ReplayReport, replay};
use orbital_pipeline::trace::TraceFilter;
use orbital_wire::icmpv4::Icmpv4Packet;
use orbital_wire::ipv4::Ipv4Packet;
use orbital_wire::{EthernetAddress, LinkType, PacketInfo, parse};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A test's scratch directory under the system temp dir, removed when the
/// guard drops (the test passing or failing), so no run leaves files behind.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("orbital-replay-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    /// A file in it.
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Replay `inputs` (port, file) through `config`, writing the named ports'
/// output; returns the report and each output's bytes.
fn run(
    s: &Scratch,
    config: &Path,
    inputs: &[(&str, &Path)],
    outputs: &[&str],
    mut cfg: ReplayConfig,
    tag: &str,
) -> (ReplayReport, Vec<Vec<u8>>) {
    let (compiled, builder) = orbital_control::load(config).unwrap();
    let workers = cfg.engine.workers;
    orbital::replay::apply_engine_settings(&compiled.engine, &mut cfg.engine);
    cfg.engine.workers = workers;
    let id = |n: &str| compiled.port(n).unwrap().id;
    let ins = inputs
        .iter()
        .map(|(p, f)| ReplayInput {
            port: id(p),
            rx: PcapRx::open(f).unwrap(),
        })
        .collect();
    let paths: Vec<PathBuf> = outputs
        .iter()
        .map(|p| s.path(&format!("{tag}-{p}.pcap")))
        .collect();
    let outs = outputs
        .iter()
        .zip(&paths)
        .map(|(p, f)| ReplayOutput {
            port: id(p),
            tx: PcapTx::new(f),
        })
        .collect();
    let policy = orbital::policy(&compiled, workers, 1, None).unwrap();
    let rep =
        replay::<orbital::Graph>(&cfg, builder, policy, compiled.ports.len(), ins, outs).unwrap();
    assert!(
        rep.stats.total.balanced(),
        "fast-path accounting: {:?}",
        rep.stats.total
    );
    assert!(
        rep.stats.slow.balanced(),
        "slow-path accounting: {:?}",
        rep.stats.slow
    );
    assert_eq!(rep.stats.pool.in_use, 0, "every buffer came back");
    let bytes: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    for (port, b) in outputs.iter().zip(&bytes) {
        assert_time_order(&format!("{tag}: {port}"), b);
    }
    (rep, bytes)
}

/// Every capture a replay writes is in time order (capinfos: "Strict time
/// order: True"): each frame's timestamp at least its predecessor's.
fn assert_time_order(what: &str, bytes: &[u8]) {
    let ts = stamps(bytes);
    if let Some(i) = (1..ts.len()).find(|&i| ts[i] < ts[i - 1]) {
        panic!(
            "{what}: frame {} stamped {} ns before frame {} ({} < {})",
            i + 1,
            ts[i - 1] - ts[i],
            i,
            ts[i],
            ts[i - 1]
        );
    }
}

/// Each frame's timestamp, ns.
fn stamps(bytes: &[u8]) -> Vec<u64> {
    let c = Capture::from_bytes(bytes.to_vec()).unwrap();
    c.frames().map(|f| f.unwrap().ts_ns).collect()
}

fn example(s: &Scratch, workers: usize, tag: &str) -> (ReplayReport, Vec<Vec<u8>>) {
    let mut cfg = ReplayConfig::default();
    cfg.engine.workers = workers;
    run(
        s,
        &root().join("examples/router.toml"),
        &[("lan0", &root().join("examples/lan.pcap"))],
        &["lan0", "wan0"],
        cfg,
        tag,
    )
}

fn frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    let c = Capture::from_bytes(bytes.to_vec()).unwrap();
    c.frames().map(|f| f.unwrap().data.to_vec()).collect()
}

fn info(frame: &[u8]) -> PacketInfo {
    let mut i = PacketInfo::default();
    parse(frame, LinkType::Ethernet, &mut i)
        .unwrap_or_else(|e| panic!("output frame does not parse: {e}"));
    i
}

fn mac(s: &str) -> EthernetAddress {
    s.parse().unwrap()
}

fn golden(name: &str, bytes: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("ORBITAL_BLESS").is_some() {
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with ORBITAL_BLESS=1", path.display()));
    assert!(
        want == bytes,
        "{name} differs from its golden file (tshark -r both to compare)"
    );
}

#[test]
fn router_example_is_byte_exact_and_right_frame_by_frame() {
    let s = Scratch::new("router_example_is_byte_exact_and_right_frame_by_frame");
    let (rep, out) = example(&s, 1, "exact");
    golden("router-lan0.pcap", &out[0]);
    golden("router-wan0.pcap", &out[1]);
    let input = frames(&std::fs::read(root().join("examples/lan.pcap")).unwrap());
    let lan = frames(&out[0]);
    let wan = frames(&out[1]);
    assert_eq!((lan.len(), wan.len()), (9, 8));
    let (router_lan, router_wan, gw, host) = (
        mac("02:00:00:00:00:01"),
        mac("02:00:00:00:01:01"),
        mac("02:00:00:00:01:fe"),
        mac("02:00:00:00:00:02"),
    );

    // Forwarded: TTL 63, checksum valid, MACs rewritten, the rest unchanged.
    for (w, i) in [(0, 2), (2, 4)] {
        let (o, inp) = (&wan[w], &input[i]);
        assert_eq!(
            (
                EthernetAddress::from_bytes(&o[0..6]),
                EthernetAddress::from_bytes(&o[6..12])
            ),
            (gw, router_wan)
        );
        let ip = Ipv4Packet::new_checked(&o[14..]).unwrap();
        assert_eq!(ip.ttl(), 63);
        assert!(ip.verify_checksum());
        let orig = Ipv4Packet::new_checked(&inp[14..]).unwrap();
        assert_eq!(ip.payload(), orig.payload());
        assert_eq!(
            o.len(),
            14 + usize::from(orig.total_len()),
            "Ethernet padding is not forwarded"
        );
    }
    // ARP: three requests for the unresolved 192.0.2.53, broadcast: on the
    // query's arrival and a second, two seconds after (time order).
    for f in [&wan[1], &wan[6], &wan[7]] {
        assert_eq!(
            EthernetAddress::from_bytes(&f[0..6]),
            EthernetAddress::BROADCAST
        );
        let a = orbital_wire::arp::ArpRepr::parse(&f[14..]).unwrap();
        assert_eq!(
            (a.sender_ip.to_string(), a.target_ip.to_string()),
            ("192.0.2.1".into(), "192.0.2.53".into())
        );
    }
    // The 1400-byte datagram without DF: two fragments that reassemble.
    let (f1, f2) = (
        Ipv4Packet::new_checked(&wan[3][14..]).unwrap(),
        Ipv4Packet::new_checked(&wan[4][14..]).unwrap(),
    );
    assert!(f1.more_frags() && !f2.more_frags());
    assert!(f1.verify_checksum() && f2.verify_checksum());
    assert!(wan[3].len() - 14 <= 1280);
    let orig = Ipv4Packet::new_checked(&input[8][14..]).unwrap();
    let mut joined = f1.payload().to_vec();
    assert_eq!(usize::from(f2.frag_offset()), joined.len());
    joined.extend_from_slice(f2.payload());
    assert_eq!(joined, orig.payload());
    // IPv6 forwarded with hop limit 63.
    assert_eq!(info(&wan[5]).ttl, 63);

    // LAN side: ARP reply, echo reply, then the ICMP errors in input order,
    // except host unreachable: last, when resolution has given up.
    let a = orbital_wire::arp::ArpRepr::parse(&lan[0][14..]).unwrap();
    assert_eq!((a.sender_mac, a.target_mac), (router_lan, host));
    let icmp = |f: &[u8]| {
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.src_addr().to_string(), "10.0.0.1");
        let p = Icmpv4Packet::new_checked(ip.payload().to_vec()).unwrap();
        assert!(p.verify_checksum());
        (
            u8::from(p.msg_type()),
            p.code(),
            p.next_hop_mtu(),
            p.data().to_vec(),
        )
    };
    assert_eq!(icmp(&lan[1]).0, 0, "echo reply");
    let (t, c, _, quote) = icmp(&lan[8]);
    assert_eq!(
        (t, c),
        (3, 1),
        "host unreachable after resolution timed out"
    );
    assert_eq!(&quote[..28], &input[3][14..42]);
    let (t, c, _, quote) = icmp(&lan[2]);
    assert_eq!((t, c), (11, 0), "time exceeded");
    assert_eq!(
        &quote[..],
        &input[5][14..14 + 33],
        "quotes the whole (short) datagram as received"
    );
    assert_eq!(icmp(&lan[3]).0, 3, "net unreachable");
    assert_eq!(icmp(&lan[3]).1, 0);
    let (t, c, mtu, quote) = icmp(&lan[4]);
    assert_eq!(
        (t, c, mtu),
        (3, 4, 1280),
        "fragmentation needed with the next-hop MTU"
    );
    assert_eq!(
        quote.len(),
        576 - 28,
        "RFC 1812: as much as fits in 576 bytes"
    );
    // IPv6: NA, echo reply, time exceeded.
    for (f, ty) in [(&lan[5], 136), (&lan[6], 129), (&lan[7], 3)] {
        let i = info(f);
        assert_eq!(i.icmp_type(), ty);
        assert_eq!(EthernetAddress::from_bytes(&f[0..6]), host);
    }

    // Counters: every drop under its reason.
    let d = |r: DropReason| rep.stats.total.drops[r.index()] + rep.stats.slow.drops[r.index()];
    assert_eq!(d(DropReason::Parse(orbital_wire::ParseError::BadIhl)), 1);
    assert_eq!(d(Reason::VlanNotAllowed.into()), 1);
    assert_eq!(d(Reason::MartianSource.into()), 1);
    assert_eq!(d(Reason::TtlExpired.into()), 2);
    assert_eq!(d(Reason::NoRoute.into()), 1);
    assert_eq!(d(Reason::TooBig.into()), 1);
    assert_eq!(d(Reason::NeighborUnresolved.into()), 1);
    let s = &rep.stats.slow;
    assert_eq!(
        (
            s.arp_replies,
            s.neighbor_adverts,
            s.echo_replies,
            s.icmp_errors,
            s.resolutions
        ),
        (1, 1, 2, 5, 3)
    );
    assert_eq!(s.learned, 2, "the LAN host's IPv4 and IPv6 addresses");
    assert_eq!(
        rep.stats.tables_version, 2,
        "what was learned was published"
    );
}

#[test]
fn output_is_identical_across_runs_and_worker_counts() {
    let s = Scratch::new("output_is_identical_across_runs_and_worker_counts");
    let (_, one) = example(&s, 1, "det1");
    let (_, again) = example(&s, 1, "det1b");
    let (_, two) = example(&s, 2, "det2");
    let (_, three) = example(&s, 3, "det3");
    assert_eq!(one, again, "two runs");
    assert_eq!(one, two, "1 vs 2 workers");
    assert_eq!(one, three, "1 vs 3 workers");
}

/// The frames of `frames` (lan0 or wan0 output) that are ARP requests for
/// `target`, and the ICMP host unreachables quoting a packet to it, with
/// their timestamps.
fn resolution_story(out: &[Vec<u8>], target: &str) -> (Vec<u64>, Vec<u64>) {
    let target: std::net::Ipv4Addr = target.parse().unwrap();
    let stamped = |b: &[u8]| stamps(b).into_iter().zip(frames(b)).collect::<Vec<_>>();
    let arps = stamped(&out[1])
        .into_iter()
        .filter(|(_, f)| {
            orbital_wire::arp::ArpRepr::parse(&f[14..]).is_ok_and(|a| a.target_ip == target)
        })
        .map(|(t, _)| t)
        .collect();
    let unreachables = stamped(&out[0])
        .into_iter()
        .filter(|(_, f)| {
            let Ok(ip) = Ipv4Packet::new_checked(&f[14..]) else {
                return false;
            };
            let Ok(icmp) = Icmpv4Packet::new_checked(ip.payload()) else {
                return false;
            };
            let quoted = Ipv4Packet::new_checked(icmp.data());
            (u8::from(icmp.msg_type()), icmp.code()) == (3, 1)
                && quoted.is_ok_and(|q| q.dst_addr() == target)
        })
        .map(|(t, _)| t)
        .collect();
    (arps, unreachables)
}

#[test]
fn outputs_are_in_time_order_and_their_timestamps_tell_the_true_sequence() {
    let s = Scratch::new("outputs_are_in_time_order_and_their_timestamps_tell_the_true_sequence");
    const S: u64 = 1_000_000_000;
    // The example: `run` checks each output is in time order. The DNS query
    // to the silent 192.0.2.53 (frame 4) is asked for on arrival and every
    // second after, and its sender told "host unreachable" only when the
    // third request has gone unanswered for a second — after all of them,
    // not at the query's own time.
    let (_, out) = example(&s, 1, "order");
    let input = std::fs::read(root().join("examples/lan.pcap")).unwrap();
    let query = stamps(&input)[3];
    let (arps, unreachables) = resolution_story(&out, "192.0.2.53");
    assert_eq!(arps, [query, query + S, query + 2 * S], "ARP requests");
    assert_eq!(unreachables, [query + 3 * S], "host unreachable");

    // Two packets to the silent neighbour 3.5 s apart, replayed in one
    // round: the first resolution has given up (at +3 s) before the second
    // packet arrives, which starts its own. Nothing answers a packet before
    // it arrived, whatever the replay's rounds.
    let path = s.path("order-two-queries.pcap");
    let dns = &frames(&input)[3];
    let t0 = 1_000 * S;
    let mut w = PcapWriter::new(
        std::fs::File::create(&path).unwrap(),
        1,
        65535,
        Resolution::Nano,
    )
    .unwrap();
    w.write(t0, dns).unwrap();
    w.write(t0 + 3 * S + S / 2, dns).unwrap();
    w.finish().unwrap();
    let t1 = t0 + 3 * S + S / 2;
    for workers in [1, 2] {
        let mut cfg = ReplayConfig::default();
        cfg.engine.workers = workers;
        cfg.settle_ns = 10 * S;
        let (_, out) = run(
            &s,
            &root().join("examples/router.toml"),
            &[("lan0", &path)],
            &["lan0", "wan0"],
            cfg,
            &format!("order-two-{workers}"),
        );
        let (arps, unreachables) = resolution_story(&out, "192.0.2.53");
        assert_eq!(
            arps,
            [t0, t0 + S, t0 + 2 * S, t1, t1 + S, t1 + 2 * S],
            "{workers} worker(s): each packet's own resolution"
        );
        assert_eq!(
            unreachables,
            [t0 + 3 * S, t1 + 3 * S],
            "{workers} worker(s): each told after its own requests"
        );
    }
}

/// A capture of `n` pings to the router, `gap_ns` apart.
fn pings(s: &Scratch, n: usize, gap_ns: u64) -> PathBuf {
    let path = s.path(&format!("pings-{n}-{gap_ns}.pcap"));
    let input = frames(&std::fs::read(root().join("examples/lan.pcap")).unwrap());
    let ping = &input[1];
    let mut w = PcapWriter::new(
        std::fs::File::create(&path).unwrap(),
        1,
        65535,
        Resolution::Nano,
    )
    .unwrap();
    for i in 0..n {
        w.write(1_000_000_000 + i as u64 * gap_ns, ping).unwrap();
    }
    w.finish().unwrap();
    path
}

#[test]
fn punts_are_rate_limited_per_worker_on_engine_time() {
    let s = Scratch::new("punts_are_rate_limited_per_worker_on_engine_time");
    let config = s.path("ratelimit.toml");
    let text = std::fs::read_to_string(root().join("examples/router.toml"))
        .unwrap()
        .replace(
            "[engine]\nworkers = 1",
            "[engine]\nworkers = 1\npunt_rate = 100\npunt_burst = 5",
        );
    std::fs::write(&config, text).unwrap();
    // 50 pings in the same nanosecond: the burst passes, the rest do not.
    let (rep, out) = run(
        &s,
        &config,
        &[("lan0", &pings(&s, 50, 0))],
        &["lan0"],
        ReplayConfig::default(),
        "rl0",
    );
    assert_eq!(frames(&out[0]).len(), 5);
    assert_eq!(
        rep.stats.total.drops[DropReason::from(Reason::PuntRateLimited).index()],
        45
    );
    // 50 pings 1 ms apart over 49 ms at 100/s: burst 5, plus 4 refilled tokens.
    let (rep, out) = run(
        &s,
        &config,
        &[("lan0", &pings(&s, 50, 1_000_000))],
        &["lan0"],
        ReplayConfig::default(),
        "rl1",
    );
    assert_eq!(frames(&out[0]).len(), 9);
    assert_eq!(rep.stats.slow.echo_replies, 9);
}

#[test]
fn trace_shows_every_stage_of_the_chosen_packets() {
    let s = Scratch::new("trace_shows_every_stage_of_the_chosen_packets");
    let cfg = ReplayConfig {
        trace: Some((
            10,
            TraceFilter {
                dst: Some("198.51.100.0/24".parse().unwrap()),
                ..TraceFilter::default()
            },
        )),
        ..ReplayConfig::default()
    };
    let (rep, _) = run(
        &s,
        &root().join("examples/router.toml"),
        &[("lan0", &root().join("examples/lan.pcap"))],
        &[],
        cfg,
        "trace",
    );
    // SYN, traceroute probe, DF too big, fragmentable, the martian, and the
    // VLAN-tagged frame.
    let seqs: Vec<u64> = rep.trace.iter().map(|t| t.seq).collect();
    assert_eq!(seqs, vec![2, 5, 7, 8, 9, 11]);
    let names = |p: PortId| ["lan0", "wan0"][usize::from(p.0)].to_string();
    let syn = rep.trace[0].render(&names);
    for stage in ["parse", "l2", "route", "rewrite", "egress"] {
        assert!(syn.contains(stage), "{syn}");
    }
    // No firewall, NAT or QoS is configured, so the hook points are compiled
    // out of this worker and the trace must not pretend they ran.
    for hook in ["prerouting", "input-forward", "postrouting"] {
        assert!(!syn.contains(hook), "{syn}");
    }
    assert!(syn.contains("transmit on wan0"), "{syn}");
    assert!(
        rep.trace[1]
            .render(&names)
            .contains("punt to slow path: icmp-error")
    );
    assert!(rep.trace[4].render(&names).contains("drop: martian-source"));
    assert!(
        rep.trace[5]
            .render(&names)
            .contains("drop: vlan-not-allowed")
    );
}

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("ORBITAL_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/data"))
        .join("pcap");
    dir.join("INDEX.tsv").exists().then_some(dir)
}

/// Every Ethernet capture of the corpus, through a two-port bridge and
/// through the router: no panic, no leaked buffer, counters that balance.
#[test]
fn real_captures_through_bridge_and_router() {
    let s = Scratch::new("real_captures_through_bridge_and_router");
    let Some(dir) = corpus() else {
        eprintln!("SKIPPED: ../shared/data/pcap not present (set ORBITAL_SHARED_DATA)");
        return;
    };
    let bridge = s.path("bridge.toml");
    std::fs::write(
        &bridge,
        "[[bridge]]\nvlan = 1\n\n[[port]]\nname = \"a\"\nmac = \"02:00:00:00:00:0a\"\nmode = \"trunk\"\nvlans = [1, 2, 3, 100, 200]\nnative = 1\n\n[[port]]\nname = \"b\"\nmac = \"02:00:00:00:00:0b\"\nmode = \"access\"\nvlan = 1\n\n[[bridge]]\nvlan = 2\n\n[[bridge]]\nvlan = 3\n\n[[bridge]]\nvlan = 100\n\n[[bridge]]\nvlan = 200\n",
    )
    .unwrap();
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap();
    let mut cfg = ReplayConfig::default();
    cfg.engine.pool.buffers = 4096;
    cfg.settle_ns = 0;
    let (mut files, mut frames_in, mut forwarded, mut punted) = (0, 0, 0, 0);
    let mut drops = vec![0u64; DropReason::COUNT];
    for line in index.lines().skip(1) {
        let cols: Vec<_> = line.split('\t').collect();
        if cols[1] != "ether" {
            continue;
        }
        let path = dir.join(cols[0]);
        if PcapRx::open(&path).is_err() {
            continue;
        }
        files += 1;
        let (rep, _) = run(&s, &bridge, &[("a", &path)], &[], cfg.clone(), "bridge");
        frames_in += rep.frames_in;
        forwarded += rep.stats.total.tx;
        punted += rep.stats.total.punted;
        for (a, b) in drops.iter_mut().zip(&rep.stats.total.drops) {
            *a += b;
        }
        let (rep, _) = run(
            &s,
            &root().join("examples/router.toml"),
            &[("lan0", &path)],
            &[],
            cfg.clone(),
            "router",
        );
        assert!(rep.stats.total.rx <= rep.frames_in);
    }
    eprintln!("replayed {files} captures, {frames_in} frames; the bridge forwarded {forwarded}");
    for r in DropReason::all() {
        if drops[r.index()] > 0 {
            eprintln!("  bridge dropped {:>6} {}", drops[r.index()], r.name());
        }
    }
    assert!(files > 800);
    // A bridge forwards every frame (flooding unknowns to port b) except
    // for L2 reasons: both stations behind port a, a VLAN it does not carry,
    // a broken Ethernet/VLAN header. Whatever is inside does not matter.
    let l2_reasons = [
        DropReason::from(Reason::SamePort),
        Reason::VlanNotAllowed.into(),
        DropReason::Parse(orbital_wire::ParseError::TruncatedLink),
        DropReason::Parse(orbital_wire::ParseError::TruncatedVlan),
        DropReason::Parse(orbital_wire::ParseError::TooManyVlans),
    ];
    let l2_drops: u64 = l2_reasons.iter().map(|r| drops[r.index()]).sum();
    let all_drops: u64 = drops.iter().sum();
    assert_eq!(all_drops, l2_drops, "only L2 reasons drop bridged frames");
    // (Each run's accounting already balanced; frames flooded in a bridge
    // with no other member are consumed.)
    assert_eq!(punted, 0, "a bridge without an interface punts nothing");
    assert!(forwarded > 9000, "{forwarded}");
}

fn edge(s: &Scratch, workers: usize, tag: &str) -> (ReplayReport, Vec<Vec<u8>>) {
    let mut cfg = ReplayConfig::default();
    cfg.engine.workers = workers;
    run(
        s,
        &root().join("examples/edge-firewall.toml"),
        &[
            ("lan0", &root().join("examples/edge-lan.pcap")),
            ("wan0", &root().join("examples/edge-wan.pcap")),
        ],
        &["lan0", "wan0"],
        cfg,
        tag,
    )
}

fn drops(rep: &ReplayReport, r: Reason) -> u64 {
    let i = DropReason::Other(r).index();
    rep.stats.total.drops[i] + rep.stats.slow.drops[i]
}

#[test]
fn edge_firewall_keeps_state_and_says_why_it_drops() {
    let s = Scratch::new("edge_firewall_keeps_state_and_says_why_it_drops");
    let (rep, out) = edge(&s, 1, "edge1");
    golden("edge-lan0.pcap", &out[0]);
    golden("edge-wan0.pcap", &out[1]);
    let lan = frames(&out[0]);
    let wan = frames(&out[1]);
    // LAN to WAN passes, and its connections come back: the whole TCP
    // exchange both ways, the DNS answer, and the ICMP error about the
    // closed UDP port (related).
    let tcp_to_lan: Vec<u16> = lan
        .iter()
        .map(|f| info(f))
        .filter(|i| i.protocol == 6)
        .map(|i| i.l4_flags)
        .collect();
    assert_eq!(
        tcp_to_lan,
        vec![0x12, 0x18, 0x11, 0x10],
        "SYN/ACK, data, FIN, last ACK"
    );
    assert!(
        lan.iter()
            .map(|f| info(f))
            .any(|i| i.protocol == 17 && i.src_port == 53),
        "DNS answer"
    );
    let related = lan.iter().map(|f| info(f)).find(|i| {
        i.protocol == 1
            && i.icmp_type() == 3
            && i.src_v4() == "198.51.100.99".parse::<std::net::Ipv4Addr>().unwrap()
    });
    assert!(related.is_some(), "the related ICMP error reached the LAN");
    // Nothing the WAN started reached the LAN (the blocklisted source, the
    // unsolicited UDP, the SSH attempt, the invalid segments).
    assert!(!lan.iter().map(|f| info(f)).any(|i| i.src_port == 5556
        || i.src_port == 9999
        || i.dst_port == 22
        || i.dst_port == 41000));
    // The SSH attempt got a reset from "10.0.0.2", per RFC 9293.
    let rst = wan
        .iter()
        .map(|f| info(f))
        .find(|i| i.protocol == 6 && i.l4_flags & 0x04 != 0)
        .expect("a reset");
    assert_eq!(
        (
            rst.src_v4().to_string().as_str(),
            rst.src_port,
            rst.dst_port,
            rst.l4_flags
        ),
        ("10.0.0.2", 22, 5555, 0x14)
    );
    // The router answered one ping and four of the flood (limit 10/second,
    // burst 5), nothing else from the WAN.
    let replies = wan
        .iter()
        .map(|f| info(f))
        .filter(|i| i.protocol == 1 && i.icmp_type() == 0)
        .count();
    assert_eq!(replies, 5);
    assert_eq!(rep.stats.slow.echo_replies, 5);
    assert_eq!(
        drops(&rep, Reason::FwDropInvalid),
        2,
        "SYN/ACK for no connection, segment out of window"
    );
    assert_eq!(drops(&rep, Reason::FwDrop), 1, "the blocklist");
    assert_eq!(drops(&rep, Reason::FwReject), 1, "the SSH attempt");
    assert_eq!(
        drops(&rep, Reason::FwPolicy),
        13,
        "unsolicited UDP, SSH to the router, 11 pings over the limit"
    );
}

#[test]
fn edge_firewall_output_is_identical_across_worker_counts() {
    let s = Scratch::new("edge_firewall_output_is_identical_across_worker_counts");
    let (_, one) = edge(&s, 1, "edge-w1");
    for w in [2, 3] {
        let (rep, many) = edge(&s, w, &format!("edge-w{w}"));
        assert_eq!(one, many, "{w} workers");
        assert_eq!(drops(&rep, Reason::FwPolicy), 13);
    }
}

/// A LAN host's UDP to the WAN, and the WAN's answer `gap` later.
fn udp_exchange(s: &Scratch, gap_ns: u64) -> (PathBuf, PathBuf) {
    let eth = |dst: &str, src: &str, ip: &[u8]| {
        let mut f = Vec::new();
        f.extend_from_slice(&mac(dst).0);
        f.extend_from_slice(&mac(src).0);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(ip);
        f
    };
    let udp = |src: &str, dst: &str, sport: u16, dport: u16| {
        let mut ip = vec![0u8; 20 + 8 + 4];
        orbital_wire::ipv4::Ipv4Repr {
            src_addr: src.parse().unwrap(),
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
        ip
    };
    let t0 = 1_700_000_000_000_000_000u64;
    let write = |name: &str, frames: &[(u64, Vec<u8>)]| {
        let path = s.path(name);
        let mut w = PcapWriter::new(
            std::fs::File::create(&path).unwrap(),
            1,
            65535,
            Resolution::Nano,
        )
        .unwrap();
        for (t, f) in frames {
            w.write(*t, f).unwrap();
        }
        w.finish().unwrap();
        path
    };
    let arp_and_query = vec![
        (t0, {
            // The host makes itself known (ARP request for the router).
            let mut f = Vec::new();
            f.extend_from_slice(&[0xff; 6]);
            f.extend_from_slice(&mac("02:00:00:00:00:02").0);
            f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
            f.extend_from_slice(&mac("02:00:00:00:00:02").0);
            f.extend_from_slice(&[10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1]);
            f
        }),
        (
            t0 + 1_000,
            eth(
                "02:00:00:00:00:01",
                "02:00:00:00:00:02",
                &udp("10.0.0.2", "198.51.100.5", 4000, 5000),
            ),
        ),
    ];
    let answer = vec![(
        t0 + 1_000 + gap_ns,
        eth(
            "02:00:00:00:01:01",
            "02:00:00:00:01:fe",
            &udp("198.51.100.5", "10.0.0.2", 5000, 4000),
        ),
    )];
    (
        write(&format!("udp-lan-{gap_ns}.pcap"), &arp_and_query),
        write(&format!("udp-wan-{gap_ns}.pcap"), &answer),
    )
}

#[test]
fn an_unreplied_udp_flow_times_out_on_the_virtual_clock() {
    let s = Scratch::new("an_unreplied_udp_flow_times_out_on_the_virtual_clock");
    // Linux's unreplied UDP timeout is 30 s: an answer at 29 s is the
    // flow's, one at 31 s is a stranger's.
    for (gap, delivered) in [(29_000_000_000u64, true), (31_000_000_000, false)] {
        let (lan_in, wan_in) = udp_exchange(&s, gap);
        let (rep, out) = run(
            &s,
            &root().join("examples/edge-firewall.toml"),
            &[("lan0", &lan_in), ("wan0", &wan_in)],
            &["lan0", "wan0"],
            ReplayConfig::default(),
            &format!("udp-timeout-{gap}"),
        );
        let to_lan = frames(&out[0])
            .iter()
            .filter(|f| info(f).protocol == 17)
            .count();
        assert_eq!(to_lan == 1, delivered, "answer after {gap} ns");
        assert_eq!(drops(&rep, Reason::FwPolicy), u64::from(!delivered));
    }
}

/// The replay tests clean up after themselves: two of them, run by this
/// very binary with a temp dir of their own, leave it empty.
#[test]
fn replay_tests_leave_nothing_in_the_temp_dir() {
    // The inner run must not start this test again.
    if std::env::var_os("ORBITAL_REPLAY_INNER").is_some() {
        return;
    }
    let s = Scratch::new("replay_tests_leave_nothing_in_the_temp_dir");
    let tmpdir = s.path("tmp");
    std::fs::create_dir_all(&tmpdir).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "router_example_is_byte_exact_and_right_frame_by_frame",
            "punts_are_rate_limited_per_worker_on_engine_time",
            "--test-threads",
            "1",
        ])
        .env("TMPDIR", &tmpdir)
        .env("ORBITAL_REPLAY_INNER", "1")
        .env_remove("ORBITAL_BLESS")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("2 passed"), "both ran: {said}");
    let left: Vec<_> = std::fs::read_dir(&tmpdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
