//! Shared by the pipeline's integration tests: a two-port router (lan0,
//! wan0) on memory ports, stepped on the virtual clock, and frame builders.
#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, Ipv4Addr};

use orbital_buf::{Packet, PoolCache};
use orbital_fib::{
    Attach, Gateway, IfId, IpPrefix, NeighborState, PortConfig, PortId, PortMode, RouteTarget,
    TableUpdate as U, TablesBuilder,
};
use orbital_graph::Features;
use orbital_io::{AnyPort, MemoryPort, RingRx, RingTx, ring};
use orbital_pipeline::Clock;
use orbital_pipeline::engine::{Engine, EngineConfig};
use orbital_wire::EthernetAddress;
use orbital_wire::ip::IpProtocol;
use orbital_wire::ipv4::Ipv4Repr;

pub const LAN_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
pub const WAN_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 1]);
pub const HOST_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
pub const GW_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 0xfe]);
pub const STATIC_GW_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 0xfd]);

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// lan0 (10.0.0.1/24) and wan0 (192.0.2.1/24, MTU 1280); 198.51.100.0/24
/// via 192.0.2.254 (not resolved), 203.0.113.0/24 via 192.0.2.253 (static).
pub fn tables() -> TablesBuilder {
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

pub struct Rig<F: Features> {
    pub engine: Engine<F>,
    rx: Vec<Vec<RingTx<Packet>>>,
    tx: Vec<Vec<RingRx<Packet>>>,
    pub cache: PoolCache,
    clock: Clock,
    seq: u64,
}

impl<F: Features> Rig<F> {
    pub fn new(workers: usize) -> Rig<F> {
        Self::with(EngineConfig {
            workers,
            ..EngineConfig::default()
        })
    }

    /// A rig over an engine configured as `cfg`.
    pub fn with(cfg: EngineConfig) -> Rig<F> {
        let workers = cfg.workers;
        let mut rx: Vec<Vec<RingTx<Packet>>> = (0..workers).map(|_| Vec::new()).collect();
        let mut tx: Vec<Vec<RingRx<Packet>>> = (0..workers).map(|_| Vec::new()).collect();
        let clock = Clock::virtual_at(1_000_000_000);
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
    pub fn send(&mut self, worker: usize, port: usize, frame: &[u8]) -> u64 {
        let mut p = self.cache.alloc().unwrap();
        assert!(p.extend_from_slice(frame));
        p.meta.seq = self.seq;
        p.meta.timestamp_ns = self.clock.now_ns();
        self.seq += 1;
        assert!(self.rx[worker][port].push(p).is_ok());
        self.seq - 1
    }

    pub fn step(&mut self) {
        while self.engine.step() > 0 {}
    }

    /// Frames sent on `port`, any worker, as (seq, sub, bytes).
    pub fn out(&mut self, port: usize) -> Vec<(u64, u16, Vec<u8>)> {
        let mut v = Vec::new();
        for w in &mut self.tx {
            while let Some(p) = w[port].pop() {
                v.push((p.meta.seq, p.meta.sub, p.to_vec()));
                self.cache.free(p);
            }
        }
        v
    }

    pub fn finish(mut self) {
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
pub fn udp(dst: &str, sport: u16, total: usize, ttl: u8, df: bool) -> Vec<u8> {
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
