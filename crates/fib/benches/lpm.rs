//! Bulk lookup cost of both LPMs on the real Internet table (when present)
//! with destinations drawn from its routes in random order, and on a
//! synthetic table otherwise. `orbital bench lpm` reports cycles and runs
//! beside dpdk-test-fib; this bench tracks regressions.

use std::hint::black_box;
use std::io::Read;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orbital_fib::{Ipv4Prefix, Ipv6Prefix, Lpm4Builder, Lpm6Builder};

fn table() -> (Vec<Ipv4Prefix>, Vec<Ipv6Prefix>) {
    let path = std::env::var_os("ORBITAL_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("routes/fulltable-v4v6-bart.txt.gz");
    let mut text = String::new();
    if let Ok(raw) = std::fs::read(path) {
        let _ = flate2::read::GzDecoder::new(&raw[..]).read_to_string(&mut text);
    }
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if l.contains(':') {
            v6.push(l.parse().unwrap());
        } else {
            v4.push(l.parse().unwrap());
        }
    }
    if v4.is_empty() {
        // Synthetic stand-in: 100k /24s and 20k /48s.
        let mut x = 0x1234_5678u32;
        for i in 0..100_000u32 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            v4.push(Ipv4Prefix::truncating(x.into(), 24));
            if i < 20_000 {
                let a = (0x2001u128 << 112) | (u128::from(x) << 80);
                v6.push(Ipv6Prefix::truncating(a.into(), 48));
            }
        }
    }
    (v4, v6)
}

fn bench(c: &mut Criterion) {
    let (v4, v6) = table();
    let mut b4 = Lpm4Builder::new();
    for (i, p) in v4.iter().enumerate() {
        b4.insert(*p, i as u32 % 1000 + 1);
    }
    let t4 = b4.build();
    let mut b6 = Lpm6Builder::new();
    for (i, p) in v6.iter().enumerate() {
        b6.insert(*p, i as u32 % 1000 + 1);
    }
    let t6 = b6.build();
    // Destinations from random routes: 64 Ki addresses, looked up 256 at a time.
    let mut x = 7u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let a4: Vec<u32> = (0..65_536)
        .map(|_| {
            let p = v4[next() as usize % v4.len()];
            p.bits() | (next() as u32 & (u32::MAX.checked_shr(u32::from(p.len())).unwrap_or(0)))
        })
        .collect();
    let a6: Vec<u128> = (0..65_536)
        .map(|_| {
            let p = v6[next() as usize % v6.len()];
            p.bits()
                | (u128::from(next()) & (u128::MAX.checked_shr(u32::from(p.len())).unwrap_or(0)))
        })
        .collect();
    let mut out = vec![0u32; 256];
    let mut g = c.benchmark_group("lpm");
    g.throughput(Throughput::Elements(a4.len() as u64));
    g.bench_function("ipv4 bulk, random routes", |b| {
        b.iter(|| {
            for chunk in a4.chunks(256) {
                t4.lookup_bulk(black_box(chunk), &mut out);
            }
        })
    });
    g.bench_function("ipv6 bulk, random routes", |b| {
        b.iter(|| {
            for chunk in a6.chunks(256) {
                t6.lookup_bulk(black_box(chunk), &mut out);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
