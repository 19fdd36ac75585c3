//! Versioned tables as the pipeline and the control side use them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use orbital_fib::nexthop::RouteDrop;
use orbital_fib::tables::{RouteOrigin, UpdateErrorKind};
use orbital_fib::{
    Attach, Gateway, IfId, IpPrefix, Ipv4Prefix, Ipv6Prefix, NeighborState, PortConfig, PortId,
    PortMode, Resolved, RouteTarget, SharedTables, TableUpdate as U, TablesBuilder,
};
use orbital_wire::EthernetAddress;

fn mac(n: u8) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 0, 0, n])
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// lan0 (port 0, 10.0.0.1/24, 2001:db8::1/64) and wan0 (port 1, 192.0.2.1/24).
fn router() -> Vec<U> {
    let mut v = Vec::new();
    for (i, name, m) in [(0u16, "lan0", 1u8), (1, "wan0", 0x11)] {
        v.push(U::SetPort(PortConfig {
            id: PortId(i),
            name: name.into(),
            mode: PortMode::Routed { iface: IfId(i) },
        }));
        v.push(U::SetInterface {
            id: IfId(i),
            name: name.into(),
            mac: mac(m),
            mtu: 1500,
            attach: Attach::Port(PortId(i)),
        });
    }
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
        iface: IfId(1),
        addr: ip("192.0.2.1"),
        len: 24,
    });
    v.push(U::AddRoute {
        prefix: "0.0.0.0/0".parse().unwrap(),
        target: RouteTarget::Via(vec![Gateway {
            addr: ip("192.0.2.254"),
            iface: None,
        }]),
    });
    v
}

#[test]
fn a_small_router_resolves_every_kind_of_destination() {
    let mut b = TablesBuilder::new();
    let t = b.apply(&router()).unwrap();
    assert_eq!(t.version, 1);
    // Connected: neighbour lookup of the destination itself, missing → punt.
    let Resolved::Forward(adj) = t.route_v4("10.0.0.7".parse().unwrap(), 0) else {
        panic!()
    };
    assert_eq!(
        (adj.iface, adj.gateway, adj.src_mac),
        (IfId(0), None, mac(1))
    );
    assert_eq!(t.neighbor_mac(adj, ip("10.0.0.7")), None);
    // Local addresses and the subnet broadcast are for the router.
    assert_eq!(t.route_v4("10.0.0.1".parse().unwrap(), 0), Resolved::Local);
    assert_eq!(
        t.route_v4("10.0.0.255".parse().unwrap(), 0),
        Resolved::Local
    );
    assert_eq!(
        t.route_v6("2001:db8::1".parse().unwrap(), 0),
        Resolved::Local
    );
    // Default route through an unresolved gateway.
    let Resolved::Forward(adj) = t.route_v4("198.51.100.1".parse().unwrap(), 0) else {
        panic!()
    };
    assert_eq!(
        (adj.iface, adj.gateway, adj.dst_mac),
        (IfId(1), Some(ip("192.0.2.254")), None)
    );
    // No IPv6 default: no route.
    assert_eq!(
        t.route_v6("2001:db8:ff::1".parse().unwrap(), 0),
        Resolved::Drop(RouteDrop::NoRoute)
    );

    // Learning the gateway resolves the adjacency in the next version only.
    let t2 = b
        .apply(&[
            U::AddNeighbor {
                addr: ip("192.0.2.254"),
                mac: mac(0xfe),
                iface: IfId(1),
                state: NeighborState::Reachable,
            },
            U::AddNeighbor {
                addr: ip("10.0.0.7"),
                mac: mac(7),
                iface: IfId(0),
                state: NeighborState::Stale,
            },
        ])
        .unwrap();
    assert_eq!(t2.version, 2);
    let Resolved::Forward(adj) = t2.route_v4("198.51.100.1".parse().unwrap(), 0) else {
        panic!()
    };
    assert_eq!(adj.dst_mac, Some(mac(0xfe)));
    let Resolved::Forward(adj) = t2.route_v4("10.0.0.7".parse().unwrap(), 0) else {
        panic!()
    };
    assert_eq!(t2.neighbor_mac(adj, ip("10.0.0.7")), Some(mac(7)));
    let Resolved::Forward(old) = t.route_v4("198.51.100.1".parse().unwrap(), 0) else {
        panic!()
    };
    assert_eq!(old.dst_mac, None, "the published version 1 never changes");
    // The LPM was not touched by a neighbour change: shared, not copied.
    assert!(Arc::ptr_eq(&t.fib4, &t2.fib4));
}

#[test]
fn special_routes_and_ecmp() {
    let mut b = TablesBuilder::new();
    b.apply(&router()).unwrap();
    let t = b
        .apply(&[
            U::AddRoute {
                prefix: "203.0.113.0/24".parse().unwrap(),
                target: RouteTarget::Blackhole,
            },
            U::AddRoute {
                prefix: "198.18.0.0/15".parse().unwrap(),
                target: RouteTarget::Unreachable,
            },
            U::AddRoute {
                prefix: "100.64.0.0/10".parse().unwrap(),
                target: RouteTarget::Prohibit,
            },
            U::AddRoute {
                prefix: "172.16.0.0/12".parse().unwrap(),
                target: RouteTarget::Via(vec![
                    Gateway {
                        addr: ip("10.0.0.2"),
                        iface: None,
                    },
                    Gateway {
                        addr: ip("10.0.0.3"),
                        iface: None,
                    },
                    Gateway {
                        addr: ip("192.0.2.9"),
                        iface: Some(IfId(1)),
                    },
                ]),
            },
        ])
        .unwrap();
    let r = |a: &str| t.route_v4(a.parse().unwrap(), 0);
    assert_eq!(r("203.0.113.9"), Resolved::Drop(RouteDrop::Blackhole));
    assert_eq!(r("198.19.1.1"), Resolved::Drop(RouteDrop::Unreachable));
    assert_eq!(r("100.100.1.1"), Resolved::Drop(RouteDrop::Prohibit));
    let mut seen = std::collections::BTreeSet::new();
    for h in 0..=255u32 {
        let Resolved::Forward(a) = t.route_v4("172.20.0.1".parse().unwrap(), h << 24) else {
            panic!()
        };
        seen.insert(a.gateway.unwrap());
        // Stable for a flow.
        let Resolved::Forward(b2) = t.route_v4("172.20.0.1".parse().unwrap(), h << 24) else {
            panic!()
        };
        assert_eq!(a, b2);
    }
    assert_eq!(seen.len(), 3);
}

#[test]
fn a_bad_batch_changes_nothing() {
    let mut b = TablesBuilder::new();
    let t1 = b.apply(&router()).unwrap();
    let before = b.routes();
    let bad = [
        U::AddRoute {
            prefix: "10.99.0.0/16".parse().unwrap(),
            target: RouteTarget::Blackhole,
        },
        U::DelAddress {
            iface: IfId(0),
            addr: ip("10.0.0.1"),
        },
        U::AddRoute {
            prefix: "172.16.0.0/12".parse().unwrap(),
            target: RouteTarget::Via(vec![Gateway {
                addr: ip("8.8.8.8"),
                iface: None,
            }]),
        },
    ];
    let e = b.apply(&bad).unwrap_err();
    assert_eq!(e.index, Some(2));
    assert_eq!(e.kind, UpdateErrorKind::GatewayNotOnLink(ip("8.8.8.8")));
    assert!(
        e.to_string().contains("update 3 (add route 172.16.0.0/12)"),
        "{e}"
    );
    assert_eq!(b.routes(), before, "routes restored");
    assert!(
        b.interfaces()
            .local_v4("10.0.0.1".parse().unwrap())
            .is_some(),
        "address restored"
    );
    assert_eq!(b.current().version, t1.version, "nothing published");
    // Wrong family, too many paths, dangling wiring, unknown things.
    let cases: Vec<(U, UpdateErrorKind)> = vec![
        (
            U::AddRoute {
                prefix: "2001:db8:1::/48".parse().unwrap(),
                target: RouteTarget::Via(vec![Gateway {
                    addr: ip("10.0.0.2"),
                    iface: None,
                }]),
            },
            UpdateErrorKind::FamilyMismatch(ip("10.0.0.2")),
        ),
        (
            U::AddRoute {
                prefix: "10.1.0.0/16".parse().unwrap(),
                target: RouteTarget::Via(vec![
                    Gateway {
                        addr: ip("10.0.0.2"),
                        iface: None
                    };
                    17
                ]),
            },
            UpdateErrorKind::PathCount(17),
        ),
        (
            U::DelRoute("10.200.0.0/16".parse().unwrap()),
            UpdateErrorKind::NoSuchRoute("10.200.0.0/16".parse().unwrap()),
        ),
        (
            U::DelNeighbor(ip("10.0.0.9")),
            UpdateErrorKind::NoSuchNeighbor(ip("10.0.0.9")),
        ),
        (
            U::AddAddress {
                iface: IfId(1),
                addr: ip("10.0.0.1"),
                len: 24,
            },
            UpdateErrorKind::AddressInUse(ip("10.0.0.1"), 0),
        ),
        (
            U::AddAddress {
                iface: IfId(9),
                addr: ip("10.9.0.1"),
                len: 24,
            },
            UpdateErrorKind::NoSuchInterface(9),
        ),
        (
            U::SetInterface {
                id: IfId(0),
                name: "x".into(),
                mac: EthernetAddress::BROADCAST,
                mtu: 1500,
                attach: Attach::Port(PortId(0)),
            },
            UpdateErrorKind::GroupMac(EthernetAddress::BROADCAST),
        ),
        (
            U::SetInterface {
                id: IfId(0),
                name: "x".into(),
                mac: mac(1),
                mtu: 40,
                attach: Attach::Port(PortId(0)),
            },
            UpdateErrorKind::BadMtu(40),
        ),
        (
            U::SetBridge {
                vlan: 4095,
                aging_secs: 300,
                bvi: None,
            },
            UpdateErrorKind::BadVlan(4095),
        ),
    ];
    for (u, want) in cases {
        let e = b.apply(std::slice::from_ref(&u)).unwrap_err();
        assert_eq!(e.kind, want, "{u}");
    }
    // A port left pointing at a removed interface is caught at the end.
    let e = b.apply(&[U::RemoveInterface(IfId(1))]).unwrap_err();
    assert!(matches!(e.kind, UpdateErrorKind::Dangling(_)), "{e}");
    assert_eq!(b.routes(), before);
    assert_eq!(b.current().version, 1);
}

#[test]
fn removing_an_address_removes_its_routes() {
    let mut b = TablesBuilder::new();
    b.apply(&router()).unwrap();
    let t = b
        .apply(&[U::DelAddress {
            iface: IfId(0),
            addr: ip("10.0.0.1"),
        }])
        .unwrap();
    assert_eq!(
        t.route_v4("10.0.0.1".parse().unwrap(), 0),
        Resolved::Drop(RouteDrop::NoRoute).into_forward_default(&t)
    );
}

trait DefaultRoute {
    fn into_forward_default(self, t: &orbital_fib::Tables) -> Resolved<'_>;
}

impl DefaultRoute for Resolved<'_> {
    /// With the subnet gone, 10.0.0.1 follows the default route.
    fn into_forward_default(self, t: &orbital_fib::Tables) -> Resolved<'_> {
        t.route_v4("198.51.100.1".parse().unwrap(), 0)
    }
}

#[test]
fn bridge_with_bvi_and_static_mac() {
    let mut b = TablesBuilder::new();
    let t = b
        .apply(&[
            U::SetBridge {
                vlan: 10,
                aging_secs: 300,
                bvi: Some(IfId(5)),
            },
            U::SetPort(PortConfig {
                id: PortId(0),
                name: "p0".into(),
                mode: PortMode::Access { vlan: 10 },
            }),
            U::SetPort(PortConfig {
                id: PortId(1),
                name: "p1".into(),
                mode: PortMode::Trunk {
                    vlans: [10].into_iter().collect(),
                    native: None,
                },
            }),
            U::SetInterface {
                id: IfId(5),
                name: "bvi10".into(),
                mac: mac(0x55),
                mtu: 1500,
                attach: Attach::Bridge(10),
            },
            U::AddAddress {
                iface: IfId(5),
                addr: ip("10.10.0.1"),
                len: 24,
            },
            U::AddStaticMac {
                vlan: 10,
                mac: mac(9),
                port: PortId(1),
            },
        ])
        .unwrap();
    let bd = t.ifs.bridge(10).unwrap();
    assert_eq!(bd.members, vec![PortId(0), PortId(1)]);
    assert_eq!(bd.statics, vec![(mac(9), PortId(1))]);
    assert_eq!(t.route_v4("10.10.0.1".parse().unwrap(), 0), Resolved::Local);
    // A static MAC on a port outside the bridge is refused.
    b.apply(&[U::SetPort(PortConfig {
        id: PortId(2),
        name: "p2".into(),
        mode: PortMode::Access { vlan: 10 },
    })])
    .unwrap();
    let e = b
        .apply(&[U::SetPort(PortConfig {
            id: PortId(1),
            name: "p1".into(),
            mode: PortMode::Access { vlan: 20 },
        })])
        .unwrap_err();
    assert!(matches!(e.kind, UpdateErrorKind::Dangling(_)), "{e}");
}

/// Readers looking up while the control side publishes thousands of versions
/// always see one consistent version: in version v, 172.16.0.0/12 goes via
/// gateway 10.0.0.(2 + v % 2), the neighbour of that gateway has MAC
/// ...(v % 256), and the fixed 10.42.0.0/16 route is always there.
#[test]
fn readers_see_one_consistent_version_across_swaps() {
    let mut b = TablesBuilder::new();
    let mut base = router();
    base.push(U::AddRoute {
        prefix: "10.42.0.0/16".parse().unwrap(),
        target: RouteTarget::Via(vec![Gateway {
            addr: ip("10.0.0.2"),
            iface: None,
        }]),
    });
    let first = b.apply(&base).unwrap();
    let shared = Arc::new(SharedTables::new(first));
    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (shared, stop, checks) = (shared.clone(), stop.clone(), checks.clone());
            std::thread::spawn(move || {
                let mut last = 0;
                while !stop.load(Ordering::Relaxed) {
                    let t = shared.load();
                    assert!(t.version >= last, "versions only move forward");
                    last = t.version;
                    assert!(matches!(
                        t.route_v4(Ipv4Addr::new(10, 42, 1, 1), 7),
                        Resolved::Forward(_)
                    ));
                    if t.version < 2 {
                        continue;
                    }
                    let Resolved::Forward(adj) = t.route_v4(Ipv4Addr::new(172, 16, 0, 1), 7) else {
                        panic!("v{}: 172.16/12 missing", t.version)
                    };
                    let want_gw = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2 + (t.version % 2) as u8));
                    assert_eq!(adj.gateway, Some(want_gw), "v{}", t.version);
                    assert_eq!(
                        adj.dst_mac,
                        Some(mac((t.version % 256) as u8)),
                        "v{}",
                        t.version
                    );
                    let _ = t.route_v6(Ipv6Addr::LOCALHOST, 0);
                    checks.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for v in 2..2002u64 {
        let gw = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2 + (v % 2) as u8));
        let t = b
            .apply(&[
                U::AddRoute {
                    prefix: "172.16.0.0/12".parse().unwrap(),
                    target: RouteTarget::Via(vec![Gateway {
                        addr: gw,
                        iface: None,
                    }]),
                },
                U::AddNeighbor {
                    addr: gw,
                    mac: mac((v % 256) as u8),
                    iface: IfId(0),
                    state: NeighborState::Reachable,
                },
            ])
            .unwrap();
        assert_eq!(t.version, v);
        shared.publish(t);
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(checks.load(Ordering::Relaxed) > 0);
    assert_eq!(shared.load().version, 2001);
}

/// `router()` plus `n4` IPv4 /24s and /20s and `n6` IPv6 /48s spread over the
/// address space through two gateways: a table large enough that copying it
/// would show, built as one batch the way a configuration load does.
fn big_table(n4: u32, n6: u32) -> Vec<U> {
    let mut v = router();
    let gw = |a: &str| {
        RouteTarget::Via(vec![Gateway {
            addr: ip(a),
            iface: None,
        }])
    };
    let mut x = 0x2545_f491u32;
    for i in 0..n4 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let len = if i % 8 == 0 { 20 } else { 24 };
        v.push(U::AddRoute {
            prefix: IpPrefix::V4(Ipv4Prefix::truncating(Ipv4Addr::from_bits(x), len)),
            target: gw(if i % 2 == 0 {
                "192.0.2.10"
            } else {
                "192.0.2.11"
            }),
        });
    }
    for i in 0..n6 {
        let a = (0x2000u128 << 112) | (u128::from(i.wrapping_mul(0x9e37_79b9)) << 80);
        v.push(U::AddRoute {
            prefix: IpPrefix::V6(Ipv6Prefix::truncating(Ipv6Addr::from_bits(a), 48)),
            target: RouteTarget::Dev(IfId(0)),
        });
    }
    v
}

/// Publishing one route after a large table copies the chunks it writes and
/// shares everything else with the previous version, which stays as it was.
#[test]
fn a_one_route_update_copies_only_the_chunks_it_touches() {
    const CHUNK_BYTES: usize = 256 * 1024;
    let mut b = TablesBuilder::new();
    let full = b.apply(&big_table(200_000, 50_000)).unwrap();
    assert!(
        full.fib4.memory_bytes() > 40 * CHUNK_BYTES,
        "a table worth copying"
    );

    // A /24: one root chunk. Same gateway as existing routes: no new next hop.
    let p: IpPrefix = "203.0.113.0/24".parse().unwrap();
    let before = full.route_v4(Ipv4Addr::new(203, 0, 113, 9), 0);
    let gw = RouteTarget::Via(vec![Gateway {
        addr: ip("192.0.2.10"),
        iface: None,
    }]);
    let t1 = b
        .apply(&[U::AddRoute {
            prefix: p,
            target: gw.clone(),
        }])
        .unwrap();
    assert_eq!(t1.fib4.unshared_bytes(&full.fib4), CHUNK_BYTES);
    assert!(Arc::ptr_eq(&t1.fib6, &full.fib6));
    assert!(Arc::ptr_eq(&t1.next_hops, &full.next_hops));
    assert!(Arc::ptr_eq(&t1.ifs, &full.ifs));
    let Resolved::Forward(adj) = t1.route_v4(Ipv4Addr::new(203, 0, 113, 9), 0) else {
        panic!()
    };
    assert_eq!(adj.gateway, Some(ip("192.0.2.10")));
    assert_eq!(full.route_v4(Ipv4Addr::new(203, 0, 113, 9), 0), before);

    // A /28 inside it: the root chunk again and the chunk of its new group.
    let t2 = b
        .apply(&[U::AddRoute {
            prefix: "203.0.113.16/28".parse().unwrap(),
            target: RouteTarget::Blackhole,
        }])
        .unwrap();
    assert!(t2.fib4.unshared_bytes(&t1.fib4) <= 2 * CHUNK_BYTES);
    assert_eq!(
        t2.route_v4(Ipv4Addr::new(203, 0, 113, 17), 0),
        Resolved::Drop(RouteDrop::Blackhole)
    );

    // An IPv6 /48 copies chunks of the IPv6 trie only.
    let t3 = b
        .apply(&[U::AddRoute {
            prefix: "2001:db8:77::/48".parse().unwrap(),
            target: RouteTarget::Dev(IfId(1)),
        }])
        .unwrap();
    assert!(Arc::ptr_eq(&t3.fib4, &t2.fib4));
    assert!(t3.fib6.unshared_bytes(&t2.fib6) <= 3 * CHUNK_BYTES);

    // Deleting puts the old answer back, still by copying one chunk.
    let t4 = b.apply(&[U::DelRoute(p)]).unwrap();
    assert!(t4.fib4.unshared_bytes(&t3.fib4) <= 2 * CHUNK_BYTES);
    assert_eq!(t4.route_v4(Ipv4Addr::new(203, 0, 113, 9), 0), before);
}

/// Routes listed back after a large batch are what was configured, with
/// interned targets expanded, and a failed batch leaves them as they were.
#[test]
fn a_large_batch_lists_back_and_rolls_back() {
    let mut b = TablesBuilder::new();
    let batch = big_table(20_000, 5_000);
    b.apply(&batch).unwrap();
    let listed = b.routes();
    let want: std::collections::BTreeMap<IpPrefix, RouteTarget> = batch
        .iter()
        .filter_map(|u| match u {
            U::AddRoute { prefix, target } => Some((*prefix, target.clone())),
            _ => None,
        })
        .collect();
    let got: std::collections::BTreeMap<IpPrefix, RouteTarget> = listed
        .iter()
        .filter(|r| r.origin == RouteOrigin::Static)
        .map(|r| (r.prefix, r.target.clone()))
        .collect();
    assert_eq!(got, want);
    // Replace every route's gateway, then fail at the end: nothing changes.
    let mut bad: Vec<U> = want
        .keys()
        .map(|&prefix| U::AddRoute {
            prefix,
            target: RouteTarget::Blackhole,
        })
        .collect();
    // Lengths 20 and 24 only: no such /32.
    bad.push(U::DelRoute("198.51.100.7/32".parse().unwrap()));
    let before = b.current();
    assert!(b.apply(&bad).is_err());
    assert_eq!(b.routes(), listed);
    let t = b.apply(&[]).unwrap();
    assert!(Arc::ptr_eq(&t.fib4, &before.fib4));
}
