//! RFC 1812 / RFC 4443 decisions on a small router's tables.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use orbital_fib::nexthop::RouteDrop;
use orbital_fib::rfc1812::{
    Forwarding, IcmpError, NotForwarded, decide_v4, decide_v6, may_send_icmpv4_error,
    may_send_icmpv6_error,
};
use orbital_fib::{
    Attach, Gateway, IfId, PortConfig, PortId, PortMode, RouteTarget, TableUpdate as U, Tables,
    TablesBuilder,
};
use orbital_wire::{EthernetAddress, FragInfo, L3Kind, PacketInfo};

/// Port/interface 0 (MTU 1500) and 1 (MTU 1280), routed, no addresses yet.
fn two_routed_ports() -> Vec<U> {
    let mut v = Vec::new();
    for (i, mtu) in [(0u16, 1500u16), (1, 1280)] {
        v.push(U::SetPort(PortConfig {
            id: PortId(i),
            name: format!("p{i}"),
            mode: PortMode::Routed { iface: IfId(i) },
        }));
        v.push(U::SetInterface {
            id: IfId(i),
            name: format!("if{i}"),
            mac: EthernetAddress([2, 0, 0, 0, 0, i as u8 + 1]),
            mtu,
            attach: Attach::Port(PortId(i)),
        });
    }
    v
}

fn tables() -> std::sync::Arc<Tables> {
    let mut b = TablesBuilder::new();
    let mut v = two_routed_ports();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    v.push(U::AddAddress {
        iface: IfId(0),
        addr: ip("10.0.0.1"),
        len: 24,
    });
    v.push(U::AddAddress {
        iface: IfId(0),
        addr: ip("2001:db8::1"),
        len: 64,
    });
    v.push(U::AddAddress {
        iface: IfId(0),
        addr: ip("fe80::1"),
        len: 64,
    });
    v.push(U::AddAddress {
        iface: IfId(1),
        addr: ip("192.0.2.1"),
        len: 24,
    });
    v.push(U::AddAddress {
        iface: IfId(1),
        addr: ip("2001:db8:1::1"),
        len: 64,
    });
    v.push(U::AddRoute {
        prefix: "198.51.100.0/24".parse().unwrap(),
        target: RouteTarget::Via(vec![Gateway {
            addr: ip("192.0.2.254"),
            iface: None,
        }]),
    });
    v.push(U::AddRoute {
        prefix: "2001:db8:ffff::/48".parse().unwrap(),
        target: RouteTarget::Via(vec![Gateway {
            addr: ip("2001:db8:1::fe"),
            iface: None,
        }]),
    });
    v.push(U::AddRoute {
        prefix: "203.0.113.0/24".parse().unwrap(),
        target: RouteTarget::Prohibit,
    });
    b.apply(&v).unwrap()
}

fn v4(src: &str, dst: &str, ttl: u8, len: u32, df: bool) -> PacketInfo {
    PacketInfo {
        l3: L3Kind::Ipv4,
        src: u128::from(src.parse::<Ipv4Addr>().unwrap().to_bits()),
        dst: u128::from(dst.parse::<Ipv4Addr>().unwrap().to_bits()),
        ttl,
        l3_len: len,
        dont_frag: df,
        protocol: 17,
        ..PacketInfo::default()
    }
}

fn v6(src: &str, dst: &str, hops: u8, len: u32) -> PacketInfo {
    PacketInfo {
        l3: L3Kind::Ipv6,
        src: src.parse::<Ipv6Addr>().unwrap().to_bits(),
        dst: dst.parse::<Ipv6Addr>().unwrap().to_bits(),
        ttl: hops,
        l3_len: len,
        protocol: 17,
        ..PacketInfo::default()
    }
}

#[test]
fn ipv4_decisions_in_linux_order() {
    let t = tables();
    let d = |i: &PacketInfo| decide_v4(&t, i, 0);
    match d(&v4("10.0.0.2", "198.51.100.7", 64, 100, true)) {
        Forwarding::Forward {
            adj,
            next_hop,
            fragment,
        } => {
            assert_eq!(adj.iface, IfId(1));
            assert_eq!(next_hop, "192.0.2.254".parse::<IpAddr>().unwrap());
            assert!(!fragment);
        }
        other => panic!("{other:?}"),
    }
    // Connected: the neighbour is the destination itself.
    let Forwarding::Forward { next_hop, .. } = d(&v4("192.0.2.9", "10.0.0.5", 64, 100, true))
    else {
        panic!()
    };
    assert_eq!(next_hop, "10.0.0.5".parse::<IpAddr>().unwrap());
    assert_eq!(
        d(&v4("10.0.0.2", "10.0.0.1", 1, 100, true)),
        Forwarding::Local,
        "TTL does not matter for us"
    );
    assert_eq!(
        d(&v4("10.0.0.2", "198.51.100.7", 1, 100, true)),
        Forwarding::Error(NotForwarded::TtlExpired, IcmpError::TimeExceeded)
    );
    assert_eq!(
        d(&v4("10.0.0.2", "8.8.8.8", 1, 100, true)),
        Forwarding::Error(
            NotForwarded::Route(RouteDrop::NoRoute),
            IcmpError::Unreachable(0)
        ),
        "no route is decided before TTL"
    );
    assert_eq!(
        d(&v4("10.0.0.2", "203.0.113.1", 64, 100, true)),
        Forwarding::Error(
            NotForwarded::Route(RouteDrop::Prohibit),
            IcmpError::Unreachable(13)
        )
    );
    assert_eq!(
        d(&v4("10.0.0.2", "198.51.100.7", 64, 1400, true)),
        Forwarding::Error(NotForwarded::TooBig, IcmpError::TooBig(1280))
    );
    let Forwarding::Forward { fragment, .. } = d(&v4("10.0.0.2", "198.51.100.7", 64, 1400, false))
    else {
        panic!()
    };
    assert!(fragment);
    assert_eq!(
        d(&v4("127.0.0.1", "198.51.100.7", 64, 100, true)),
        Forwarding::Drop(NotForwarded::MartianSource)
    );
    assert_eq!(
        d(&v4("10.0.0.2", "224.0.0.5", 64, 100, true)),
        Forwarding::Drop(NotForwarded::Multicast)
    );
    assert_eq!(
        d(&v4("10.0.0.2", "0.0.0.9", 64, 100, true)),
        Forwarding::Drop(NotForwarded::MartianDestination)
    );
}

#[test]
fn ipv6_decisions() {
    let t = tables();
    let d = |i: &PacketInfo| decide_v6(&t, i, 0);
    let Forwarding::Forward { adj, next_hop, .. } =
        d(&v6("2001:db8::2", "2001:db8:ffff::10", 64, 100))
    else {
        panic!()
    };
    assert_eq!(
        (adj.iface, next_hop),
        (IfId(1), "2001:db8:1::fe".parse::<IpAddr>().unwrap())
    );
    assert_eq!(
        d(&v6("2001:db8::2", "2001:db8:ffff::10", 1, 100)),
        Forwarding::Error(NotForwarded::TtlExpired, IcmpError::TimeExceeded)
    );
    assert_eq!(
        d(&v6("2001:db8::2", "2001:db8:ffff::10", 64, 1300)),
        Forwarding::Error(NotForwarded::TooBig, IcmpError::TooBig(1280))
    );
    assert_eq!(
        d(&v6("2001:db8::2", "2001:db9::1", 64, 100)),
        Forwarding::Error(
            NotForwarded::Route(RouteDrop::NoRoute),
            IcmpError::Unreachable(0)
        )
    );
    assert_eq!(d(&v6("fe80::2", "fe80::1", 64, 100)), Forwarding::Local);
    assert_eq!(
        d(&v6("2001:db8::2", "fe80::9", 64, 100)),
        Forwarding::Drop(NotForwarded::LinkLocal)
    );
    assert_eq!(
        d(&v6("fe80::2", "2001:db8:ffff::10", 64, 100)),
        Forwarding::Error(NotForwarded::LinkLocal, IcmpError::Unreachable(2))
    );
    assert_eq!(
        d(&v6("ff02::1", "2001:db8:ffff::10", 64, 100)),
        Forwarding::Drop(NotForwarded::MartianSource)
    );
    assert_eq!(
        d(&v6("2001:db8::2", "ff05::1", 64, 100)),
        Forwarding::Drop(NotForwarded::Multicast)
    );
}

#[test]
fn icmp_errors_are_not_sent_about_the_wrong_packets() {
    let unicast = EthernetAddress([2, 0, 0, 0, 0, 1]);
    let ok = v4("10.0.0.2", "198.51.100.7", 1, 100, true);
    assert!(may_send_icmpv4_error(&ok, unicast));
    assert!(
        !may_send_icmpv4_error(&ok, EthernetAddress::BROADCAST),
        "link-layer broadcast"
    );
    let mut later = ok;
    later.frag = FragInfo {
        present: true,
        more: false,
        offset: 1480,
        ident: 1,
    };
    assert!(
        !may_send_icmpv4_error(&later, unicast),
        "non-first fragment"
    );
    let mut icmp_err = ok;
    icmp_err.protocol = 1;
    icmp_err.l4_offset = 34;
    icmp_err.l4_flags = 11 << 8; // time exceeded
    assert!(
        !may_send_icmpv4_error(&icmp_err, unicast),
        "about an ICMP error"
    );
    icmp_err.l4_flags = 8 << 8; // echo request is fine
    assert!(may_send_icmpv4_error(&icmp_err, unicast));
    assert!(!may_send_icmpv4_error(
        &v4("0.0.0.0", "198.51.100.7", 1, 100, true),
        unicast
    ));
    assert!(!may_send_icmpv4_error(
        &v4("10.0.0.2", "255.255.255.255", 1, 100, true),
        unicast
    ));

    let ok6 = v6("2001:db8::2", "2001:db8:ffff::10", 1, 100);
    assert!(may_send_icmpv6_error(
        &ok6,
        unicast,
        IcmpError::TimeExceeded
    ));
    let group = v6("2001:db8::2", "ff0e::1", 1, 1400);
    assert!(!may_send_icmpv6_error(
        &group,
        unicast,
        IcmpError::TimeExceeded
    ));
    assert!(
        may_send_icmpv6_error(&group, unicast, IcmpError::TooBig(1280)),
        "RFC 4443 2.4(e.3)"
    );
    let mut err6 = ok6;
    err6.protocol = 58;
    err6.l4_offset = 54;
    err6.l4_flags = 1 << 8;
    assert!(!may_send_icmpv6_error(
        &err6,
        unicast,
        IcmpError::TimeExceeded
    ));
    assert!(!may_send_icmpv6_error(
        &v6("::", "2001:db8:ffff::10", 1, 100),
        unicast,
        IcmpError::TimeExceeded
    ));
}

mod fast_path {
    use super::*;
    use orbital_fib::rfc1812::{decide_v4_with, fast_forward_v4};
    use orbital_fib::{NeighborState, Resolved};
    use proptest::prelude::*;

    /// Tables with every kind of next hop: resolved gateway, unresolved
    /// gateway, connected, ECMP, local, blackhole, prohibit.
    fn varied() -> std::sync::Arc<Tables> {
        let mut b2 = TablesBuilder::new();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut v = two_routed_ports();
        v.push(U::AddAddress {
            iface: IfId(0),
            addr: ip("10.0.0.1"),
            len: 24,
        });
        v.push(U::AddAddress {
            iface: IfId(1),
            addr: ip("192.0.2.1"),
            len: 24,
        });
        v.push(U::AddNeighbor {
            addr: ip("192.0.2.254"),
            mac: EthernetAddress([2, 0, 0, 0, 1, 0xfe]),
            iface: IfId(1),
            state: NeighborState::Reachable,
        });
        let via = |g: &str| {
            RouteTarget::Via(vec![Gateway {
                addr: ip(g),
                iface: None,
            }])
        };
        v.push(U::AddRoute {
            prefix: "64.0.0.0/2".parse().unwrap(),
            target: via("192.0.2.254"),
        });
        v.push(U::AddRoute {
            prefix: "128.0.0.0/3".parse().unwrap(),
            target: via("192.0.2.253"),
        });
        v.push(U::AddRoute {
            prefix: "160.0.0.0/3".parse().unwrap(),
            target: RouteTarget::Via(vec![
                Gateway {
                    addr: ip("192.0.2.254"),
                    iface: None,
                },
                Gateway {
                    addr: ip("10.0.0.9"),
                    iface: None,
                },
            ]),
        });
        v.push(U::AddRoute {
            prefix: "192.0.0.0/4".parse().unwrap(),
            target: RouteTarget::Blackhole,
        });
        v.push(U::AddRoute {
            prefix: "0.0.0.0/2".parse().unwrap(),
            target: RouteTarget::Prohibit,
        });
        b2.apply(&v).unwrap()
    }

    /// The property below is only worth something if the fast path really
    /// takes the common case and really declines the rest.
    #[test]
    fn fast_path_takes_plain_forwarding_only() {
        let t = varied();
        let pkt = |dst: &str, ttl: u8, len: u32| PacketInfo {
            l3: L3Kind::Ipv4,
            src: u128::from(u32::from(Ipv4Addr::new(10, 0, 0, 2))),
            dst: u128::from(u32::from(dst.parse::<Ipv4Addr>().unwrap())),
            ttl,
            l3_len: len,
            dont_frag: true,
            protocol: 17,
            ..PacketInfo::default()
        };
        let go = |i: &PacketInfo| {
            let d = Ipv4Addr::from_bits(i.dst as u32);
            fast_forward_v4(&t, i, t.fib4.lookup(d))
        };
        assert!(go(&pkt("64.1.2.3", 64, 100)).is_some());
        // TTL expiry, unresolved gateway, too big with DF, blackhole, local.
        assert!(go(&pkt("64.1.2.3", 1, 100)).is_none());
        assert!(go(&pkt("128.1.2.3", 64, 100)).is_none());
        assert!(go(&pkt("64.1.2.3", 64, 1501)).is_none());
        assert!(go(&pkt("200.1.2.3", 64, 100)).is_none());
        assert!(go(&pkt("10.0.0.1", 64, 100)).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Whenever the fast path says "forward through adj", the full RFC 1812
        /// decision says exactly that, unfragmented.
        #[test]
        fn fast_path_agrees_with_the_full_decision(
            src in any::<u32>(),
            dst in any::<u32>(),
            ttl in prop::sample::select(vec![0u8, 1, 2, 64, 255]),
            len in prop::sample::select(vec![20u32, 1280, 1281, 1500, 1501, 9000]),
            df in any::<bool>(),
            edge_s in prop::sample::select(vec![0u32, 127, 223, 224, 239, 240, 255, 10, 192]),
            edge_d in prop::sample::select(vec![0u32, 127, 223, 224, 239, 240, 255, 64, 160]),
            use_edges in any::<bool>(),
        ) {
            // Building a table clears the 16 Mi-entry first level; once is enough.
            static TABLES: std::sync::OnceLock<std::sync::Arc<Tables>> = std::sync::OnceLock::new();
            let t = TABLES.get_or_init(varied);
            let (src, dst) = if use_edges { ((edge_s << 24) | (src & 0xff_ffff), (edge_d << 24) | (dst & 0xff_ffff)) } else { (src, dst) };
            let info = PacketInfo {
                l3: L3Kind::Ipv4,
                src: u128::from(src),
                dst: u128::from(dst),
                ttl,
                l3_len: len,
                dont_frag: df,
                protocol: 17,
                ..PacketInfo::default()
            };
            let nh = t.fib4.lookup(Ipv4Addr::from_bits(dst));
            if let Some(adj) = fast_forward_v4(t, &info, nh) {
                match decide_v4_with(t, &info, nh, 0) {
                    Forwarding::Forward { adj: full, fragment, .. } => {
                        prop_assert_eq!(full, adj);
                        prop_assert!(!fragment);
                    }
                    other => prop_assert!(false, "fast path forwarded, full decision says {:?}", other),
                }
                prop_assert!(matches!(t.next_hops.resolve(nh, 0), Resolved::Forward(_)));
            }
        }
    }
}
