//! The node graph end to end, with probe features registered at the hooks:
//! every packet passes every hook after its entry point — received, resolved
//! after a punt, fragmented, made by the slow path — and a hand-off between
//! workers keeps each flow's order. Driven step by step on the virtual
//! clock, so every run is the same.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr};

use orbital_buf::{Packet, PoolCache};
use orbital_fib::{
    Attach, Gateway, IfId, IpPrefix, NeighborState, PortConfig, PortId, PortMode, RouteTarget,
    TableUpdate as U, TablesBuilder,
};
use orbital_graph::{Burst, Entry, Features, Hook, Hooks, NoPolicy, Node, NodeCx, Origin, Verdict};
use orbital_io::{AnyPort, MemoryPort, RingRx, RingTx, ring};
use orbital_pipeline::Clock;
use orbital_pipeline::engine::{Engine, EngineConfig};
use orbital_pipeline::slowpath::frames::{self, L2};
use orbital_wire::arp::{ArpOperation, ArpRepr};
use orbital_wire::ip::IpProtocol;
use orbital_wire::ipv4::Ipv4Repr;
use orbital_wire::{EthernetAddress, L3Kind};

const LAN_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const WAN_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 1]);
const HOST_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const GW_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 0xfe]);
const STATIC_GW_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 0xfd]);

/// What a probe node saw: hook, origin, seq, sub, L3 kind.
type Seen = (Hook, Origin, u64, u16, L3Kind);

thread_local! {
    // The engine is stepped in the test's own thread: each test has its log.
    static LOG: RefCell<Vec<Seen>> = const { RefCell::new(Vec::new()) };
}

fn log() -> Vec<Seen> {
    LOG.with(|l| l.borrow().clone())
}

/// A node that records every packet it is given.
struct Probe(Hook);

impl<F: Features> Node<F> for Probe {
    fn name(&self) -> &'static str {
        match self.0 {
            Hook::Prerouting => "probe-prerouting",
            Hook::Input => "probe-input",
            Hook::Forward => "probe-forward",
            Hook::Output => "probe-output",
            Hook::Postrouting => "probe-postrouting",
            Hook::Egress => "probe-egress",
        }
    }

    fn run(&mut self, _: &mut F::State, _: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        for &i in b.sel {
            let (p, c) = (&b.pkts[usize::from(i)], &b.ctx[usize::from(i)]);
            LOG.with(|l| {
                l.borrow_mut()
                    .push((self.0, c.origin, p.meta.seq, p.meta.sub, c.info.l3))
            });
        }
    }
}

/// A probe at every hook.
struct Probed;

impl Features for Probed {
    type Policy = NoPolicy;
    type State = ();
    type Prerouting = (Probe,);
    type Input = (Probe,);
    type Forward = (Probe,);
    type Output = (Probe,);
    type Postrouting = (Probe,);
    type Egress = (Probe,);

    fn hooks(_: u16, _: u16) -> Hooks<Self> {
        Hooks {
            state: (),
            prerouting: (Probe(Hook::Prerouting),),
            input: (Probe(Hook::Input),),
            forward: (Probe(Hook::Forward),),
            output: (Probe(Hook::Output),),
            postrouting: (Probe(Hook::Postrouting),),
            egress: (Probe(Hook::Egress),),
        }
    }
}

/// Hands every packet to worker 1 (the "owner" of every flow), from the
/// prerouting hook, and lets it through there.
struct ToOwner;

impl<F: Features> Node<F> for ToOwner {
    fn name(&self) -> &'static str {
        "to-owner"
    }

    fn run(&mut self, _: &mut F::State, cx: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        for &i in b.sel {
            if cx.worker != 1 {
                b.ctx[usize::from(i)].verdict = Verdict::Handoff {
                    worker: 1,
                    at: Entry::Prerouting,
                };
            }
        }
    }
}

struct Owned;

impl Features for Owned {
    type Policy = NoPolicy;
    type State = ();
    type Prerouting = (ToOwner,);
    type Input = ();
    type Forward = ();
    type Output = ();
    type Postrouting = ();
    type Egress = ();

    fn hooks(_: u16, _: u16) -> Hooks<Self> {
        Hooks {
            state: (),
            prerouting: (ToOwner,),
            input: (),
            forward: (),
            output: (),
            postrouting: (),
            egress: (),
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// lan0 (10.0.0.1/24) and wan0 (192.0.2.1/24, MTU 1280); 198.51.100.0/24
/// via 192.0.2.254 (not resolved), 203.0.113.0/24 via 192.0.2.253 (static).
fn tables() -> TablesBuilder {
    let mut u = Vec::new();
    for (i, mac, addr, mtu) in [
        (0u16, LAN_MAC, "10.0.0.1", 1500),
        (1, WAN_MAC, "192.0.2.1", 1280),
    ] {
        u.push(U::SetPort(PortConfig {
            id: PortId(i),
            name: ["lan0", "wan0"][usize::from(i)].into(),
            mode: PortMode::Routed { iface: IfId(i) },
        }));
        u.push(U::SetInterface {
            id: IfId(i),
            name: ["lan0", "wan0"][usize::from(i)].into(),
            mac,
            mtu,
            attach: Attach::Port(PortId(i)),
        });
        u.push(U::AddAddress {
            iface: IfId(i),
            addr: ip(addr),
            len: 24,
        });
    }
    u.push(U::AddNeighbor {
        addr: ip("192.0.2.253"),
        mac: STATIC_GW_MAC,
        iface: IfId(1),
        state: NeighborState::Static,
    });
    for (p, gw) in [
        ("198.51.100.0/24", "192.0.2.254"),
        ("203.0.113.0/24", "192.0.2.253"),
    ] {
        u.push(U::AddRoute {
            prefix: p.parse::<IpPrefix>().unwrap(),
            target: RouteTarget::Via(vec![Gateway {
                addr: ip(gw),
                iface: None,
            }]),
        });
    }
    let mut b = TablesBuilder::new();
    b.apply(&u).unwrap();
    b
}

struct Rig<F: Features> {
    engine: Engine<F>,
    rx: Vec<Vec<RingTx<Packet>>>,
    tx: Vec<Vec<RingRx<Packet>>>,
    cache: PoolCache,
    clock: Clock,
    seq: u64,
}

impl<F: Features> Rig<F> {
    fn new(workers: usize) -> Rig<F> {
        let mut rx: Vec<Vec<RingTx<Packet>>> = (0..workers).map(|_| Vec::new()).collect();
        let mut tx: Vec<Vec<RingRx<Packet>>> = (0..workers).map(|_| Vec::new()).collect();
        let clock = Clock::virtual_at(1_000_000_000);
        let cfg = EngineConfig {
            workers,
            ..EngineConfig::default()
        };
        let engine = Engine::<F>::new(
            &cfg,
            tables(),
            F::Policy::default(),
            2,
            |w, _| {
                let (itx, irx, _) = ring(1024);
                let (otx, orx, _) = ring(1024);
                rx[w].push(itx);
                tx[w].push(orx);
                AnyPort::Memory(MemoryPort::new(Some(irx), Some(otx)))
            },
            clock.clone(),
        )
        .unwrap();
        let cache = engine.handle().pool.cache(64);
        Rig {
            engine,
            rx,
            tx,
            cache,
            clock,
            seq: 0,
        }
    }

    /// Receive `frame` on `port` of `worker`.
    fn send(&mut self, worker: usize, port: usize, frame: &[u8]) -> u64 {
        let mut p = self.cache.alloc().unwrap();
        assert!(p.extend_from_slice(frame));
        p.meta.seq = self.seq;
        p.meta.timestamp_ns = self.clock.now_ns();
        self.seq += 1;
        assert!(self.rx[worker][port].push(p).is_ok());
        self.seq - 1
    }

    fn step(&mut self) {
        while self.engine.step() > 0 {}
    }

    /// Frames sent on `port`, any worker, as (seq, sub, bytes).
    fn out(&mut self, port: usize) -> Vec<(u64, u16, Vec<u8>)> {
        let mut v = Vec::new();
        for w in &mut self.tx {
            while let Some(p) = w[port].pop() {
                v.push((p.meta.seq, p.meta.sub, p.to_vec()));
                self.cache.free(p);
            }
        }
        v
    }

    fn finish(mut self) {
        self.step();
        for port in 0..2 {
            let _ = self.out(port);
        }
        self.engine.drain();
        drop(self.cache);
        let s = self.engine.handle().stats();
        assert!(s.total.balanced(), "{:?}", s.total);
        assert!(s.slow.balanced(), "{:?}", s.slow);
        assert_eq!(s.pool.in_use, 0, "every buffer came back");
    }
}

/// An Ethernet/IPv4/UDP frame from the LAN host.
fn udp(dst: &str, sport: u16, total: usize, ttl: u8, df: bool) -> Vec<u8> {
    let mut f = vec![0u8; 14 + total];
    f[0..6].copy_from_slice(&LAN_MAC.0);
    f[6..12].copy_from_slice(&HOST_MAC.0);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let payload = total - 20;
    Ipv4Repr {
        src_addr: Ipv4Addr::new(10, 0, 0, 2),
        dst_addr: dst.parse().unwrap(),
        protocol: IpProtocol::Udp,
        payload_len: payload,
        ttl,
        dscp_ecn: 0,
        ident: sport,
        dont_frag: df,
    }
    .emit(&mut f[14..]);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&9u16.to_be_bytes());
    f[38..40].copy_from_slice(&(payload as u16).to_be_bytes());
    f
}

fn seen(l: &[Seen], hook: Hook, origin: Origin) -> Vec<(u64, u16)> {
    l.iter()
        .filter(|s| s.0 == hook && s.1 == origin)
        .map(|s| (s.2, s.3))
        .collect()
}

#[test]
fn packets_resolved_after_a_punt_pass_forward_and_postrouting() {
    let mut rig = Rig::<Probed>::new(1);
    let sent: Vec<u64> = (0..3)
        .map(|i| rig.send(0, 0, &udp("198.51.100.7", 1000 + i, 100, 64, true)))
        .collect();
    rig.step();
    // Held for resolution: an ARP request went out, nothing else.
    let out = rig.out(1);
    assert_eq!(out.len(), 1, "only the ARP request");
    assert_eq!(&out[0].2[12..14], &[0x08, 0x06]);
    let l = log();
    for h in [Hook::Output, Hook::Postrouting, Hook::Egress] {
        assert_eq!(seen(&l, h, Origin::Local).len(), 1, "ARP request at {h:?}");
    }
    assert!(
        seen(&l, Hook::Forward, Origin::Rx).is_empty(),
        "not forwarded yet"
    );
    // The gateway answers.
    let reply = frames::arp(
        &mut rig.cache,
        L2 {
            dst: WAN_MAC,
            src: GW_MAC,
            tag: None,
        },
        &ArpRepr {
            operation: ArpOperation::Reply,
            sender_mac: GW_MAC,
            sender_ip: "192.0.2.254".parse().unwrap(),
            target_mac: WAN_MAC,
            target_ip: "192.0.2.1".parse().unwrap(),
        },
    )
    .unwrap();
    let bytes = reply.to_vec();
    rig.cache.free(reply);
    rig.send(0, 1, &bytes);
    rig.step();
    let out = rig.out(1);
    assert_eq!(out.len(), 3, "the held packets, released");
    for (seq, _, f) in &out {
        assert!(sent.contains(seq));
        assert_eq!(&f[0..6], &GW_MAC.0, "to the resolved gateway");
        assert_eq!(f[14 + 8], 63, "TTL decremented once");
    }
    let l = log();
    let want: Vec<(u64, u16)> = sent.iter().map(|&s| (s, 0)).collect();
    for h in [Hook::Forward, Hook::Postrouting, Hook::Egress] {
        assert_eq!(
            seen(&l, h, Origin::Resolved),
            want,
            "resolved packets at {h:?}"
        );
    }
    // Each passed prerouting once, on receive (the ARP reply is not IP:
    // L2 gives it to the slow path), and never the output hook.
    assert_eq!(seen(&l, Hook::Prerouting, Origin::Rx).len(), 3);
    assert_eq!(seen(&l, Hook::Output, Origin::Resolved), vec![]);
    rig.finish();
}

#[test]
fn fragments_and_router_made_packets_pass_egress() {
    let mut rig = Rig::<Probed>::new(1);
    // 1400 bytes to a resolved gateway, through a 1280-byte MTU: fragmented.
    let big = rig.send(0, 0, &udp("203.0.113.9", 2000, 1400, 64, false));
    // TTL 1: time exceeded, made by the slow path.
    let expiring = rig.send(0, 0, &udp("203.0.113.9", 2001, 100, 1, false));
    rig.step();
    let wan = rig.out(1);
    assert_eq!(
        wan.iter().map(|o| (o.0, o.1)).collect::<Vec<_>>(),
        vec![(big, 0), (big, 1)],
        "two fragments"
    );
    let lan = rig.out(0);
    assert_eq!(lan.len(), 1, "the ICMP time exceeded");
    let l = log();
    assert_eq!(seen(&l, Hook::Forward, Origin::Rx), vec![(big, 0)]);
    assert_eq!(seen(&l, Hook::Postrouting, Origin::Rx), vec![(big, 0)]);
    assert_eq!(
        seen(&l, Hook::Egress, Origin::Created),
        vec![(big, 0), (big, 1)],
        "both fragments at egress"
    );
    assert!(
        seen(&l, Hook::Egress, Origin::Rx).is_empty(),
        "the original was replaced by its fragments before egress"
    );
    for h in [Hook::Output, Hook::Postrouting, Hook::Egress] {
        let s = seen(&l, h, Origin::Local);
        assert_eq!(s.len(), 1, "{h:?}: {s:?}");
        assert_eq!(s[0].0, expiring, "the error is stamped with its cause");
    }
    rig.finish();
}

#[test]
fn handoff_keeps_each_flows_order() {
    let mut rig = Rig::<Owned>::new(2);
    // Two flows, interleaved, all received on worker 0 and owned by 1.
    let mut sent = Vec::new();
    for _ in 0..3 {
        for i in 0..40u16 {
            let sport = 3000 + (i % 2);
            sent.push((
                sport,
                rig.send(0, 0, &udp("203.0.113.5", sport, 64 + i as usize, 64, true)),
            ));
        }
        rig.step();
    }
    let out = rig.out(1);
    assert_eq!(out.len(), sent.len(), "nothing lost");
    for sport in [3000u16, 3001] {
        let want: Vec<u64> = sent.iter().filter(|s| s.0 == sport).map(|s| s.1).collect();
        let got: Vec<u64> = out
            .iter()
            .filter(|o| u16::from_be_bytes([o.2[34], o.2[35]]) == sport)
            .map(|o| o.0)
            .collect();
        assert_eq!(got, want, "flow {sport} in order");
    }
    let s = rig.engine.handle().stats();
    assert_eq!(s.workers[0].handoff_out, sent.len() as u64);
    assert_eq!(s.workers[1].handoff_in, sent.len() as u64);
    assert_eq!(s.workers[1].tx, sent.len() as u64, "sent by the owner");
    let ring = s
        .rings
        .iter()
        .find(|(n, _)| n == "handoff/worker0->worker1")
        .unwrap();
    assert_eq!(ring.1.pushed, sent.len() as u64);
    rig.finish();
}

#[test]
fn every_node_has_a_row_in_graph_order() {
    let rig = Rig::<Probed>::new(1);
    let names = rig.engine.handle().nodes.clone();
    assert_eq!(
        &names[..],
        [
            "rx",
            "parse",
            "l2",
            "probe-prerouting",
            "route",
            "probe-input",
            "probe-forward",
            "probe-output",
            "probe-postrouting",
            "rewrite",
            "probe-egress",
            "egress",
            "tx"
        ]
    );
    rig.finish();
}
