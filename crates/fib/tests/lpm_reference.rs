//! Both LPMs against references that cannot be clever:
//! - random small tables: a linear scan for the longest covering prefix;
//! - the real Internet table (../shared/data/routes): a hash probe per prefix
//!   length, longest first.
//!
//! Incremental updates are held to the same reference and to a full rebuild.

use std::collections::HashMap;
use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use orbital_fib::{Ipv4Prefix, Ipv6Prefix, Lpm4Builder, Lpm6Builder, NO_ROUTE};
use proptest::prelude::*;

fn naive4(routes: &[(Ipv4Prefix, u32)], a: Ipv4Addr) -> u32 {
    routes
        .iter()
        .filter(|(p, _)| p.contains(a))
        .max_by_key(|(p, _)| p.len())
        .map_or(NO_ROUTE, |&(_, nh)| nh)
}

fn naive6(routes: &[(Ipv6Prefix, u32)], a: Ipv6Addr) -> u32 {
    routes
        .iter()
        .filter(|(p, _)| p.contains(a))
        .max_by_key(|(p, _)| p.len())
        .map_or(NO_ROUTE, |&(_, nh)| nh)
}

/// Lengths around every stride boundary of both tries, plus anything.
fn len4() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(vec![0u8, 1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 28, 31, 32]),
        0..=32u8
    ]
}

fn len6() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(vec![
            0u8, 1, 16, 23, 24, 25, 31, 32, 33, 40, 47, 48, 49, 64, 127, 128
        ]),
        0..=128u8
    ]
}

/// Dedup by prefix, last one wins (as the builder does).
fn table<P: Copy + Eq + std::hash::Hash>(routes: Vec<(P, u32)>) -> Vec<(P, u32)> {
    let mut m = HashMap::new();
    for (p, nh) in routes {
        m.insert(p, nh);
    }
    m.into_iter().collect()
}

fn probes4(routes: &[(Ipv4Prefix, u32)], extra: &[u32]) -> Vec<Ipv4Addr> {
    let mut v: Vec<u32> = extra.to_vec();
    for (p, _) in routes {
        for a in [p.bits(), p.last()] {
            v.extend([a, a.wrapping_sub(1), a.wrapping_add(1)]);
        }
    }
    v.into_iter().map(Ipv4Addr::from_bits).collect()
}

fn probes6(routes: &[(Ipv6Prefix, u32)], extra: &[u128]) -> Vec<Ipv6Addr> {
    let mut v: Vec<u128> = extra.to_vec();
    for (p, _) in routes {
        for a in [p.bits(), p.last()] {
            v.extend([a, a.wrapping_sub(1), a.wrapping_add(1)]);
        }
    }
    v.into_iter().map(Ipv6Addr::from_bits).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ipv4_matches_naive_reference(
        routes in prop::collection::vec((any::<u32>(), len4(), 1..1000u32), 1..120),
        extra in prop::collection::vec(any::<u32>(), 64),
    ) {
        let routes = table(routes.into_iter().map(|(a, l, nh)| (Ipv4Prefix::truncating(a.into(), l), nh)).collect());
        let mut b = Lpm4Builder::new();
        for &(p, nh) in &routes { b.insert(p, nh); }
        let t = b.build();
        let probes = probes4(&routes, &extra);
        let bits: Vec<u32> = probes.iter().map(|a| a.to_bits()).collect();
        let mut bulk = vec![0; bits.len()];
        t.lookup_bulk(&bits, &mut bulk);
        for (a, got) in probes.iter().zip(bulk) {
            let want = naive4(&routes, *a);
            prop_assert_eq!(t.lookup(*a), want, "{}", a);
            prop_assert_eq!(got, want, "bulk {}", a);
        }
    }

    #[test]
    fn ipv6_matches_naive_reference(
        routes in prop::collection::vec((any::<u128>(), len6(), 1..1000u32), 1..80),
        extra in prop::collection::vec(any::<u128>(), 64),
    ) {
        let routes = table(routes.into_iter().map(|(a, l, nh)| (Ipv6Prefix::truncating(a.into(), l), nh)).collect());
        let mut b = Lpm6Builder::new();
        for &(p, nh) in &routes { b.insert(p, nh); }
        let t = b.build();
        let probes = probes6(&routes, &extra);
        let bits: Vec<u128> = probes.iter().map(|a| a.to_bits()).collect();
        let mut bulk = vec![0; bits.len()];
        t.lookup_bulk(&bits, &mut bulk);
        for (a, got) in probes.iter().zip(bulk) {
            let want = naive6(&routes, *a);
            prop_assert_eq!(t.lookup(*a), want, "{}", a);
            prop_assert_eq!(got, want, "bulk {}", a);
        }
    }

}

proptest! {
    // Fewer cases: each update copies the 64 MiB root, as a real update does.
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random adds/removes applied as incremental updates stay equal to the
    /// reference, and the previous version never changes.
    #[test]
    fn ipv4_incremental_updates(
        initial in prop::collection::vec((any::<u32>(), len4(), 1..1000u32), 0..60),
        ops in prop::collection::vec((any::<bool>(), any::<u32>(), len4(), 1..1000u32, any::<usize>()), 1..40),
    ) {
        let mut b = Lpm4Builder::new();
        let mut reference: HashMap<Ipv4Prefix, u32> = HashMap::new();
        for (a, l, nh) in initial {
            let p = Ipv4Prefix::truncating(a.into(), l);
            b.insert(p, nh);
            reference.insert(p, nh);
        }
        let mut current = b.build();
        for (add, a, l, nh, pick) in ops {
            let before: Vec<_> = reference.iter().map(|(&p, &n)| (p, n)).collect();
            let p = if add || reference.is_empty() {
                let p = Ipv4Prefix::truncating(a.into(), l);
                b.insert(p, nh);
                reference.insert(p, nh);
                p
            } else {
                let mut keys: Vec<_> = reference.keys().copied().collect();
                keys.sort();
                let p = keys[pick % keys.len()];
                b.remove(p);
                reference.remove(&p);
                p
            };
            let next = b.update(&current, &[p]);
            let routes: Vec<_> = reference.iter().map(|(&p, &n)| (p, n)).collect();
            for probe in probes4(&routes, &[a, a ^ 0xff, p.bits()]) {
                prop_assert_eq!(next.lookup(probe), naive4(&routes, probe), "after {:?} at {}", p, probe);
                prop_assert_eq!(current.lookup(probe), naive4(&before, probe), "old version changed at {}", probe);
            }
            current = next;
        }
        let rebuilt = b.build();
        for probe in probes4(&reference.iter().map(|(&p, &n)| (p, n)).collect::<Vec<_>>(), &[]) {
            prop_assert_eq!(current.lookup(probe), rebuilt.lookup(probe));
        }
    }

    #[test]
    fn ipv6_incremental_updates(
        initial in prop::collection::vec((any::<u128>(), len6(), 1..1000u32), 0..40),
        ops in prop::collection::vec((any::<bool>(), any::<u128>(), len6(), 1..1000u32, any::<usize>()), 1..30),
    ) {
        let mut b = Lpm6Builder::new();
        let mut reference: HashMap<Ipv6Prefix, u32> = HashMap::new();
        for (a, l, nh) in initial {
            let p = Ipv6Prefix::truncating(a.into(), l);
            b.insert(p, nh);
            reference.insert(p, nh);
        }
        let mut current = b.build();
        for (add, a, l, nh, pick) in ops {
            let p = if add || reference.is_empty() {
                let p = Ipv6Prefix::truncating(a.into(), l);
                b.insert(p, nh);
                reference.insert(p, nh);
                p
            } else {
                let mut keys: Vec<_> = reference.keys().copied().collect();
                keys.sort();
                let p = keys[pick % keys.len()];
                b.remove(p);
                reference.remove(&p);
                p
            };
            current = b.update(&current, &[p]);
            let routes: Vec<_> = reference.iter().map(|(&p, &n)| (p, n)).collect();
            for probe in probes6(&routes, &[a, p.bits()]) {
                prop_assert_eq!(current.lookup(probe), naive6(&routes, probe), "after {:?} at {}", p, probe);
            }
        }
    }
}

fn real_table() -> Option<String> {
    let path = std::env::var_os("ORBITAL_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("routes/fulltable-v4v6-bart.txt.gz");
    let raw = std::fs::read(path).ok()?;
    let mut s = String::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

/// Every prefix's first and last address, and a million random addresses,
/// agree with a per-length hash probe on the full Internet table.
#[test]
fn real_internet_table_agrees_with_reference() {
    let Some(text) = real_table() else {
        eprintln!("SKIPPED: ../shared/data/routes not present (set ORBITAL_SHARED_DATA)");
        return;
    };
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let s = line.trim();
        let nh = (i as u32 % 100_000) + 1;
        if s.contains(':') {
            v6.push((s.parse::<Ipv6Prefix>().unwrap(), nh));
        } else if !s.is_empty() {
            v4.push((s.parse::<Ipv4Prefix>().unwrap(), nh));
        }
    }
    assert_eq!((v4.len(), v6.len()), (901_899, 160_147));
    let mut rng = proptest::test_runner::TestRng::deterministic_rng(
        proptest::test_runner::RngAlgorithm::ChaCha,
    );

    let mut b4 = Lpm4Builder::new();
    let mut by_len4: Vec<HashMap<u32, u32>> = vec![HashMap::new(); 33];
    for &(p, nh) in &v4 {
        b4.insert(p, nh);
        by_len4[p.len() as usize].insert(p.bits(), nh);
    }
    let t4 = b4.build();
    let ref4 = |a: u32| {
        (0..=32u32)
            .rev()
            .find_map(|l| {
                let m = if l == 0 { 0 } else { u32::MAX << (32 - l) };
                by_len4[l as usize].get(&(a & m)).copied()
            })
            .unwrap_or(NO_ROUTE)
    };
    let mut addrs4: Vec<u32> = v4.iter().flat_map(|(p, _)| [p.bits(), p.last()]).collect();
    addrs4.extend((0..1_000_000).map(|_| rng.random::<u32>()));
    let mut out = vec![0; addrs4.len()];
    t4.lookup_bulk(&addrs4, &mut out);
    for (a, got) in addrs4.iter().zip(&out) {
        assert_eq!(*got, ref4(*a), "IPv4 {}", Ipv4Addr::from_bits(*a));
    }

    let mut b6 = Lpm6Builder::new();
    let mut by_len6: Vec<HashMap<u128, u32>> = vec![HashMap::new(); 129];
    for &(p, nh) in &v6 {
        b6.insert(p, nh);
        by_len6[p.len() as usize].insert(p.bits(), nh);
    }
    let t6 = b6.build();
    let ref6 = |a: u128| {
        (0..=128u32)
            .rev()
            .find_map(|l| {
                let m = if l == 0 { 0 } else { u128::MAX << (128 - l) };
                by_len6[l as usize].get(&(a & m)).copied()
            })
            .unwrap_or(NO_ROUTE)
    };
    let mut addrs6: Vec<u128> = v6.iter().flat_map(|(p, _)| [p.bits(), p.last()]).collect();
    // Random addresses inside 2000::/3, where the table lives, and anywhere.
    addrs6.extend((0..500_000).map(|_| (rng.random::<u128>() >> 3) | (1u128 << 125)));
    addrs6.extend((0..100_000).map(|_| rng.random::<u128>()));
    let mut out = vec![0; addrs6.len()];
    t6.lookup_bulk(&addrs6, &mut out);
    for (a, got) in addrs6.iter().zip(&out) {
        assert_eq!(*got, ref6(*a), "IPv6 {}", Ipv6Addr::from_bits(*a));
    }
}
