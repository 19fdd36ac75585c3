//! RFC 1812 forwarding defects of issue 13, each as a replay of a small
//! capture built here (deterministically) through `examples/router.toml`:
//! the LAN host sends what a router must not forward, and the golden result
//! is nothing on the WAN and the drop counted under its named reason.

use std::path::{Path, PathBuf};

use orbital_capture::{Capture, PcapWriter, Resolution};
use orbital_io::{PcapRx, PcapTx};
use orbital_pipeline::drop::{DropReason, Reason};
use orbital_pipeline::replay::{ReplayConfig, ReplayInput, ReplayOutput, ReplayReport, replay};
use orbital_wire::checksum;
use orbital_wire::{LinkType, PacketInfo, ParseError, parse};

const ROUTER_LAN: [u8; 6] = [2, 0, 0, 0, 0, 1];
const ROUTER_WAN: [u8; 6] = [2, 0, 0, 0, 1, 1];
const HOST: [u8; 6] = [2, 0, 0, 0, 0, 2];
const BROADCAST: [u8; 6] = [0xff; 6];
/// The frames' first timestamp (2023-11-14, ns).
const T0: u64 = 1_700_000_000_000_000_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A per-test scratch directory, removed when the guard drops.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("orbital-rfc1812-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// A pcap of `frames`, `gap_ns` apart from [`T0`].
    fn capture(&self, name: &str, frames: &[Vec<u8>], gap_ns: u64) -> PathBuf {
        let path = self.path(name);
        let file = std::fs::File::create(&path).unwrap();
        let mut w = PcapWriter::new(file, 1, 65535, Resolution::Nano).unwrap();
        for (i, f) in frames.iter().enumerate() {
            w.write(T0 + i as u64 * gap_ns, f).unwrap();
        }
        w.finish().unwrap();
        path
    }

    /// `examples/router.toml` with `engine` lines added to its `[engine]`.
    fn config(&self, engine: &str) -> PathBuf {
        let text = std::fs::read_to_string(root().join("examples/router.toml"))
            .unwrap()
            .replace(
                "[engine]\nworkers = 1",
                &format!("[engine]\nworkers = 1\n{engine}"),
            );
        let path = self.path("router.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Replay `lan` (and `wan`) into the router of `config`; the report and the
/// frames sent on lan0 and wan0. Every run must balance its counters.
fn run(
    s: &Scratch,
    config: &Path,
    lan: &Path,
    wan: Option<&Path>,
) -> (ReplayReport, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (compiled, builder) = orbital_control::load(config).unwrap();
    let mut cfg = ReplayConfig::default();
    orbital::replay::apply_engine_settings(&compiled.engine, &mut cfg.engine);
    let id = |n: &str| compiled.port(n).unwrap().id;
    let mut ins = vec![ReplayInput {
        port: id("lan0"),
        rx: PcapRx::open(lan).unwrap(),
    }];
    if let Some(w) = wan {
        ins.push(ReplayInput {
            port: id("wan0"),
            rx: PcapRx::open(w).unwrap(),
        });
    }
    let (lan_out, wan_out) = (s.path("out-lan0.pcap"), s.path("out-wan0.pcap"));
    let outs = vec![
        ReplayOutput {
            port: id("lan0"),
            tx: PcapTx::new(&lan_out),
        },
        ReplayOutput {
            port: id("wan0"),
            tx: PcapTx::new(&wan_out),
        },
    ];
    let workers = cfg.engine.workers;
    let policy = orbital::policy(&compiled, workers, 1, None).unwrap();
    let rep =
        replay::<orbital::Graph>(&cfg, builder, policy, compiled.ports.len(), ins, outs).unwrap();
    assert!(rep.stats.total.balanced(), "{:?}", rep.stats.total);
    assert!(rep.stats.slow.balanced(), "{:?}", rep.stats.slow);
    assert_eq!(rep.stats.pool.in_use, 0, "every buffer came back");
    let read = |p: &Path| {
        let c = Capture::from_bytes(std::fs::read(p).unwrap()).unwrap();
        // In time order, as every capture a replay writes.
        let ts: Vec<u64> = c.frames().map(|f| f.unwrap().ts_ns).collect();
        assert!(
            ts.windows(2).all(|w| w[0] <= w[1]),
            "{}: not in time order: {ts:?}",
            p.display()
        );
        c.frames()
            .map(|f| f.unwrap().data.to_vec())
            .collect::<Vec<_>>()
    };
    (rep, read(&lan_out), read(&wan_out))
}

/// Drops under `r`, fast path and slow path together.
fn drops(rep: &ReplayReport, r: DropReason) -> u64 {
    let i = r.index();
    rep.stats.total.drops[i] + rep.stats.slow.drops.get(i).copied().unwrap_or(0)
}

fn info(frame: &[u8]) -> PacketInfo {
    let mut i = PacketInfo::default();
    parse(frame, LinkType::Ethernet, &mut i).unwrap();
    i
}

/// Ethernet to `dst_mac` from `src_mac` carrying IPv4 `src` → `dst` with
/// option bytes `opts` (padded to a word with END) and a UDP datagram of
/// `data` bytes; checksums right.
fn ipv4_udp(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    opts: &[u8],
    data: usize,
) -> Vec<u8> {
    let mut opts = opts.to_vec();
    while opts.len() % 4 != 0 {
        opts.push(0);
    }
    let hlen = 20 + opts.len();
    let total = hlen + 8 + data;
    let mut f = Vec::with_capacity(14 + total);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    f.push(0x40 | (hlen / 4) as u8);
    f.push(0);
    f.extend_from_slice(&(total as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0]); // ident 1, TTL 64, UDP
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&opts);
    let c = checksum::checksum(&f[14..14 + hlen]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&4000u16.to_be_bytes());
    f.extend_from_slice(&5000u16.to_be_bytes());
    f.extend_from_slice(&((8 + data) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]); // no UDP checksum
    f.extend((0..data).map(|i| i as u8));
    f
}

const LAN_HOST: [u8; 4] = [10, 0, 0, 2];
/// Routed via 192.0.2.254, whose MAC is configured: forwarded at once.
const REMOTE: [u8; 4] = [198, 51, 100, 7];

#[test]
fn malformed_ipv4_options_are_not_forwarded() {
    let s = Scratch::new("options");
    let bad: &[&[u8]] = &[
        &[148, 0, 0, 0],                         // router alert, length 0
        &[1, 7, 1, 0],                           // record route, length 1
        &[148, 12, 0, 0],                        // longer than the option space
        &[68, 12, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0], // timestamp pointer below 5 (RFC 781)
        &[68, 8, 6, 1, 0, 0, 0, 0],              // timestamp entry would not fit
        &[7, 7, 2, 0, 0, 0, 0, 0],               // record route pointer below 4
        &[7, 7, 5, 0, 0, 0, 0, 0],               // record route address would not fit
    ];
    let frames: Vec<Vec<u8>> = bad
        .iter()
        .map(|o| ipv4_udp(ROUTER_LAN, HOST, LAN_HOST, REMOTE, o, 32))
        .collect();
    let lan = s.capture("bad-options.pcap", &frames, 1_000);
    let (rep, _, wan) = run(&s, &root().join("examples/router.toml"), &lan, None);
    assert!(wan.is_empty(), "nothing on the WAN: {} frames", wan.len());
    let n = bad.len() as u64;
    assert_eq!(drops(&rep, DropReason::Parse(ParseError::BadIpv4Option)), n);

    // The same harness forwards well-formed options untouched (a record
    // route with room, a router alert, a timestamp), and one too big for
    // the WAN's MTU is fragmented with its options.
    let good: &[&[u8]] = &[
        &[7, 7, 4, 0, 0, 0, 0],
        &[148, 4, 0, 0],
        &[68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ];
    let mut frames: Vec<Vec<u8>> = good
        .iter()
        .map(|o| ipv4_udp(ROUTER_LAN, HOST, LAN_HOST, REMOTE, o, 32))
        .collect();
    // DF is clear in these frames: the big one may be fragmented.
    frames.push(ipv4_udp(ROUTER_LAN, HOST, LAN_HOST, REMOTE, good[1], 1400));
    let lan = s.capture("good-options.pcap", &frames, 1_000);
    let (rep, _, wan) = run(&s, &root().join("examples/router.toml"), &lan, None);
    assert_eq!(wan.len(), 3 + 2, "three forwarded, one in two fragments");
    for (f, o) in wan.iter().zip(good) {
        assert_eq!(&f[34..34 + o.len()], *o, "options passed on untouched");
    }
    assert_eq!(drops(&rep, DropReason::Parse(ParseError::BadIpv4Option)), 0);
}

/// Ethernet to `dst_mac` carrying IPv6 UDP from the LAN host to `dst`.
fn ipv6_udp(dst_mac: [u8; 6], dst: &str) -> Vec<u8> {
    let src: std::net::Ipv6Addr = "2001:db8::2".parse().unwrap();
    let dst: std::net::Ipv6Addr = dst.parse().unwrap();
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&HOST);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 12, 17, 64]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&[0x0f, 0xa0, 0x13, 0x88, 0, 12]);
    let pseudo = checksum::pseudo_header_v6(src, dst, orbital_wire::IpProtocol::Udp, 12);
    let mut seg = f[54..].to_vec();
    seg.extend_from_slice(&[0, 0, 1, 2, 3, 4]);
    let c = checksum::transport(pseudo, &seg);
    f.extend_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&[1, 2, 3, 4]);
    f
}

/// The LAN host's broadcast ARP request for the router.
fn arp_request() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&HOST);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&HOST);
    f.extend_from_slice(&[10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1]);
    f
}

#[test]
fn link_layer_broadcast_and_multicast_are_not_routed() {
    let s = Scratch::new("broadcast");
    let mcast4 = [0x01, 0x00, 0x5e, 0, 0, 1];
    let mcast6 = [0x33, 0x33, 0, 0, 0, 1];
    let mut ttl1 = ipv4_udp(BROADCAST, HOST, LAN_HOST, REMOTE, &[], 32);
    ttl1[22] = 1;
    ttl1[24..26].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&ttl1[14..34]);
    ttl1[24..26].copy_from_slice(&c.to_be_bytes());
    let frames = vec![
        arp_request(),
        ipv4_udp(BROADCAST, HOST, LAN_HOST, REMOTE, &[], 32),
        ipv4_udp(mcast4, HOST, LAN_HOST, REMOTE, &[], 32),
        // No route for 100.64/10: still no ICMP error about a broadcast.
        ipv4_udp(BROADCAST, HOST, LAN_HOST, [100, 64, 0, 1], &[], 32),
        ttl1,
        ipv6_udp(mcast6, "2001:db8:ffff::1"),
        // The control: the same datagram to the router's own MAC goes out.
        ipv4_udp(ROUTER_LAN, HOST, LAN_HOST, REMOTE, &[], 32),
    ];
    let lan = s.capture("broadcast.pcap", &frames, 1_000);
    let (rep, lan_out, wan) = run(&s, &root().join("examples/router.toml"), &lan, None);
    assert_eq!(wan.len(), 1, "only the unicast control reaches the WAN");
    assert_eq!(info(&wan[0]).dst_v4(), std::net::Ipv4Addr::from(REMOTE));
    assert_eq!(
        drops(&rep, Reason::L2BroadcastNotForwarded.into()),
        5,
        "every group frame counted under its reason"
    );
    assert_eq!(rep.stats.slow.icmp_errors, 0, "no ICMP error about them");
    // What is for the router is still delivered: the broadcast ARP request
    // is answered.
    assert_eq!(rep.stats.slow.arp_replies, 1);
    assert!(lan_out.iter().any(|f| f[12..14] == [0x08, 0x06]));
}

#[test]
fn source_routed_packets_are_dropped_unless_accepted() {
    let s = Scratch::new("srr");
    let lsrr = [131, 7, 4, 198, 51, 100, 9];
    let ssrr = [137, 7, 4, 198, 51, 100, 9];
    let frames = vec![
        ipv4_udp(ROUTER_LAN, HOST, LAN_HOST, REMOTE, &lsrr, 32),
        ipv4_udp(
            ROUTER_LAN,
            HOST,
            LAN_HOST,
            REMOTE,
            &[1, 1, 1, 1, 1]
                .iter()
                .chain(&ssrr)
                .copied()
                .collect::<Vec<_>>(),
            32,
        ),
        // For the router itself: dropped too (Linux drops in ip_rcv_options).
        ipv4_udp(ROUTER_LAN, HOST, LAN_HOST, [10, 0, 0, 1], &lsrr, 32),
    ];
    let lan = s.capture("srr.pcap", &frames, 1_000);
    // Default: not accepted (Linux accept_source_route = 0).
    let (rep, _, wan) = run(&s, &root().join("examples/router.toml"), &lan, None);
    assert!(wan.is_empty(), "nothing on the WAN: {} frames", wan.len());
    assert_eq!(drops(&rep, Reason::Ipv4SourceRoute.into()), 3);
    // Accepted: routed on the destination address, option untouched.
    let config = s.config("accept_source_route = true");
    let (rep, _, wan) = run(&s, &config, &lan, None);
    assert_eq!(wan.len(), 2);
    assert_eq!(&wan[0][34..41], &lsrr, "option passed on unprocessed");
    assert_eq!(drops(&rep, Reason::Ipv4SourceRoute.into()), 0);
}

/// The ARP reply of WAN station `ip` (MAC 02:00:00:00:01:ip) to the router.
fn arp_reply_from(ip: [u8; 4]) -> Vec<u8> {
    let mac = [2, 0, 0, 0, 1, ip[3]];
    let mut f = Vec::new();
    f.extend_from_slice(&ROUTER_WAN);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&ROUTER_WAN);
    f.extend_from_slice(&[192, 0, 2, 1]);
    f
}

#[test]
fn a_burst_towards_a_fresh_neighbor_is_held_whole() {
    // 50 new flows at once towards 192.0.2.50 (on wan0, not yet resolved):
    // Linux holds unres_qlen_bytes (212,992 bytes) of them, not 3 packets.
    let s = Scratch::new("hold");
    let frames: Vec<Vec<u8>> = (0..50)
        .map(|i| {
            let mut f = ipv4_udp(ROUTER_LAN, HOST, LAN_HOST, [192, 0, 2, 50], &[], 64);
            f[34..36].copy_from_slice(&(4000 + i as u16).to_be_bytes()); // its own flow
            f
        })
        .collect();
    let lan = s.capture("burst.pcap", &frames, 1);
    // The neighbour answers the router's request 1 ms later.
    let path = s.path("answer.pcap");
    let file = std::fs::File::create(&path).unwrap();
    let mut w = PcapWriter::new(file, 1, 65535, Resolution::Nano).unwrap();
    w.write(T0 + 1_000_000, &arp_reply_from([192, 0, 2, 50]))
        .unwrap();
    w.finish().unwrap();
    let (rep, _, wan) = run(&s, &root().join("examples/router.toml"), &lan, Some(&path));
    let udp: Vec<_> = wan.iter().filter(|f| info(f).protocol == 17).collect();
    assert_eq!(udp.len(), 50, "every packet of the burst delivered");
    assert_eq!(drops(&rep, Reason::HoldQueueFull.into()), 0);
    assert_eq!(rep.stats.slow.released, 50);
}

#[test]
fn a_flood_towards_many_unresolved_neighbors_is_bounded() {
    // 4 packets to each of 200 silent neighbours on wan0, with room for 2
    // per neighbour and 100 in all (the default stride of a buffer is 2,176
    // bytes): 50 neighbours are taken on, the other 700 packets dropped.
    let s = Scratch::new("flood");
    let stride = 2176;
    let config = s.config(&format!(
        "punt_burst = 100000\nneighbor_hold_bytes = {}\nneighbor_hold_total_bytes = {}",
        2 * stride,
        100 * stride
    ));
    let frames: Vec<Vec<u8>> = (0..800)
        .map(|i| {
            ipv4_udp(
                ROUTER_LAN,
                HOST,
                LAN_HOST,
                [192, 0, 2, 2 + (i / 4) as u8],
                &[],
                64,
            )
        })
        .collect();
    let lan = s.capture("flood.pcap", &frames, 1_000);
    let (rep, _, wan) = run(&s, &config, &lan, None);
    assert_eq!(drops(&rep, Reason::HoldQueueFull.into()), 700);
    let requests = wan.iter().filter(|f| f[12..14] == [0x08, 0x06]).count();
    assert_eq!(
        requests,
        50 * 3,
        "only the neighbours taken on are asked (3 tries each)"
    );
    assert!(
        wan.iter().all(|f| info(f).protocol != 17),
        "nothing resolved"
    );
    // The 100 held ones time out as unresolved.
    assert_eq!(drops(&rep, Reason::NeighborUnresolved.into()), 100);
}
