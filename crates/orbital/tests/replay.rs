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

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("orbital-replay-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// Replay `inputs` (port, file) through `config`, writing the named ports'
/// output; returns the report and each output's bytes.
fn run(
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
        .map(|p| tmp(&format!("{tag}-{p}.pcap")))
        .collect();
    let outs = outputs
        .iter()
        .zip(&paths)
        .map(|(p, f)| ReplayOutput {
            port: id(p),
            tx: PcapTx::new(f),
        })
        .collect();
    let rep = replay::<orbital::Graph>(
        &cfg,
        builder,
        Default::default(),
        compiled.ports.len(),
        ins,
        outs,
    )
    .unwrap();
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
    let bytes = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    (rep, bytes)
}

fn example(workers: usize, tag: &str) -> (ReplayReport, Vec<Vec<u8>>) {
    let mut cfg = ReplayConfig::default();
    cfg.engine.workers = workers;
    run(
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
    let (rep, out) = example(1, "exact");
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
    for (w, i) in [(0, 2), (4, 4)] {
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
    // ARP: three requests for the unresolved 192.0.2.53, broadcast.
    for f in &wan[1..4] {
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
        Ipv4Packet::new_checked(&wan[5][14..]).unwrap(),
        Ipv4Packet::new_checked(&wan[6][14..]).unwrap(),
    );
    assert!(f1.more_frags() && !f2.more_frags());
    assert!(f1.verify_checksum() && f2.verify_checksum());
    assert!(wan[5].len() - 14 <= 1280);
    let orig = Ipv4Packet::new_checked(&input[8][14..]).unwrap();
    let mut joined = f1.payload().to_vec();
    assert_eq!(usize::from(f2.frag_offset()), joined.len());
    joined.extend_from_slice(f2.payload());
    assert_eq!(joined, orig.payload());
    // IPv6 forwarded with hop limit 63.
    assert_eq!(info(&wan[7]).ttl, 63);

    // LAN side: ARP reply, echo reply, then the ICMP errors in input order.
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
    let (t, c, _, quote) = icmp(&lan[2]);
    assert_eq!(
        (t, c),
        (3, 1),
        "host unreachable after resolution timed out"
    );
    assert_eq!(&quote[..28], &input[3][14..42]);
    let (t, c, _, quote) = icmp(&lan[3]);
    assert_eq!((t, c), (11, 0), "time exceeded");
    assert_eq!(
        &quote[..],
        &input[5][14..14 + 33],
        "quotes the whole (short) datagram as received"
    );
    assert_eq!(icmp(&lan[4]).0, 3, "net unreachable");
    assert_eq!(icmp(&lan[4]).1, 0);
    let (t, c, mtu, quote) = icmp(&lan[5]);
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
    for (f, ty) in [(&lan[6], 136), (&lan[7], 129), (&lan[8], 3)] {
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
    let (_, one) = example(1, "det1");
    let (_, again) = example(1, "det1b");
    let (_, two) = example(2, "det2");
    let (_, three) = example(3, "det3");
    assert_eq!(one, again, "two runs");
    assert_eq!(one, two, "1 vs 2 workers");
    assert_eq!(one, three, "1 vs 3 workers");
}

/// A capture of `n` pings to the router, `gap_ns` apart.
fn pings(n: usize, gap_ns: u64) -> PathBuf {
    let path = tmp(&format!("pings-{n}-{gap_ns}.pcap"));
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
    let config = tmp("ratelimit.toml");
    let text = std::fs::read_to_string(root().join("examples/router.toml"))
        .unwrap()
        .replace(
            "[engine]\nworkers = 1",
            "[engine]\nworkers = 1\npunt_rate = 100\npunt_burst = 5",
        );
    std::fs::write(&config, text).unwrap();
    // 50 pings in the same nanosecond: the burst passes, the rest do not.
    let (rep, out) = run(
        &config,
        &[("lan0", &pings(50, 0))],
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
        &config,
        &[("lan0", &pings(50, 1_000_000))],
        &["lan0"],
        ReplayConfig::default(),
        "rl1",
    );
    assert_eq!(frames(&out[0]).len(), 9);
    assert_eq!(rep.stats.slow.echo_replies, 9);
}

#[test]
fn trace_shows_every_stage_of_the_chosen_packets() {
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
    let Some(dir) = corpus() else {
        eprintln!("SKIPPED: ../shared/data/pcap not present (set ORBITAL_SHARED_DATA)");
        return;
    };
    let bridge = tmp("bridge.toml");
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
        let (rep, _) = run(&bridge, &[("a", &path)], &[], cfg.clone(), "bridge");
        frames_in += rep.frames_in;
        forwarded += rep.stats.total.tx;
        punted += rep.stats.total.punted;
        for (a, b) in drops.iter_mut().zip(&rep.stats.total.drops) {
            *a += b;
        }
        let (rep, _) = run(
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
