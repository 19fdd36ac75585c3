//! Cost of `ConnTrack::track` per packet: hits (UDP and established TCP)
//! and misses, at 1k and 1M entries, packets of random flows in random
//! order (so at 1M every lookup misses the caches, as on a busy router).
//! Also the two-phase insert (create unconfirmed, release) and the memory
//! per entry, printed at setup.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use orbital_conntrack::{ConnTrack, CtConfig, FlowHash};
use orbital_wire::{L3Kind, PacketInfo};

const BURST: usize = 256;

fn info(proto: u8, src: u32, dst: u32, sp: u16, dp: u16, flags: u16) -> PacketInfo {
    PacketInfo {
        l3: L3Kind::Ipv4,
        l3_offset: 0,
        l4_offset: 20,
        payload_offset: 28,
        l3_len: 60,
        protocol: proto,
        src: u128::from(src),
        dst: u128::from(dst),
        src_port: sp,
        dst_port: dp,
        l4_flags: flags,
        ..PacketInfo::default()
    }
}

/// Flow `i`'s client address and port.
fn client(i: u32) -> (u32, u16) {
    (0x0a00_0000 | (i >> 4), 10_000 + (i & 15) as u16)
}

const SERVER: u32 = 0xc000_0201;

fn tcp_l4(seq: u32, ack: u32, flags: u8) -> [u8; 20] {
    let mut t = [0u8; 20];
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&65535u16.to_be_bytes());
    t
}

fn shuffled(n: u32, count: usize) -> Vec<u32> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % u64::from(n)) as u32
        })
        .collect()
}

fn table(n: u32) -> ConnTrack {
    ConnTrack::new(CtConfig {
        max_entries: n + n / 8,
        ..CtConfig::default()
    })
}

fn bench(c: &mut Criterion) {
    let udp = [0u8; 8];
    let syn = tcp_l4(1000, 0, 0x02);
    let synack = tcp_l4(5000, 1001, 0x12);
    let ack = tcp_l4(1001, 5001, 0x10);
    let mut g = c.benchmark_group("track");
    g.sample_size(20);
    g.measurement_time(std::time::Duration::from_secs(3));
    g.throughput(Throughput::Elements(BURST as u64));
    for (label, n) in [("1k", 1_000u32), ("1M", 1_000_000)] {
        // UDP streams, replied.
        let mut ct = table(n);
        for i in 0..n {
            let (a, p) = client(i);
            let out = info(17, a, SERVER, p, 53, 0);
            let back = info(17, SERVER, a, 53, p, 0);
            let h = ct.track(&out, &udp, 0, 1, true).handle.unwrap();
            ct.confirm(h);
            ct.track(&back, &udp, 0, 1, true);
        }
        eprintln!(
            "{label}: {} entries, {} bytes per entry of capacity ({} B entry + index)",
            ct.len(),
            ct.bytes_per_entry(),
            ConnTrack::ENTRY_BYTES
        );
        let order = shuffled(n, 1 << 16);
        let hits: Vec<PacketInfo> = order
            .iter()
            .map(|&i| {
                let (a, p) = client(i);
                info(17, a, SERVER, p, 53, 0)
            })
            .collect();
        let misses: Vec<PacketInfo> = order
            .iter()
            .map(|&i| {
                let (a, p) = client(i);
                info(17, a, SERVER + 1, p, 53, 0)
            })
            .collect();
        let mut now = 1_000_000u64;
        let mut at = 0;
        g.bench_function(BenchmarkId::new("udp-hit", label), |b| {
            b.iter(|| {
                for _ in 0..BURST {
                    at = (at + 1) & 0xffff;
                    black_box(ct.track(&hits[at], &udp, now, 1, true));
                }
                now += 1000;
            })
        });
        g.bench_function(BenchmarkId::new("udp-hit-prefetched", label), |b| {
            b.iter(|| {
                // The burst pattern a node would use: bucket 8 ahead, entry
                // 4 ahead.
                let base = at;
                burst(&mut ct, &hits, base, &udp, now);
                at = (base + BURST) & 0xffff;
                now += 1000;
            })
        });
        g.bench_function(BenchmarkId::new("udp-miss", label), |b| {
            b.iter(|| {
                for _ in 0..BURST {
                    at = (at + 1) & 0xffff;
                    black_box(ct.track(&misses[at], &udp, now, 1, false));
                }
            })
        });
        g.bench_function(BenchmarkId::new("udp-new-unconfirmed", label), |b| {
            b.iter(|| {
                for _ in 0..BURST {
                    at = (at + 1) & 0xffff;
                    black_box(ct.track(&misses[at], &udp, now, 1, true));
                }
                ct.release_unconfirmed();
            })
        });
        drop(ct);

        // Established TCP.
        let mut ct = table(n);
        for i in 0..n {
            let (a, p) = client(i);
            let h = ct
                .track(&info(6, a, SERVER, p, 80, 0x02), &syn, 0, 1, true)
                .handle
                .unwrap();
            ct.confirm(h);
            ct.track(&info(6, SERVER, a, 80, p, 0x12), &synack, 0, 1, true);
            ct.track(&info(6, a, SERVER, p, 80, 0x10), &ack, 0, 1, true);
        }
        assert_eq!(ct.summary().assured, n);
        let hits: Vec<PacketInfo> = order
            .iter()
            .map(|&i| {
                let (a, p) = client(i);
                info(6, a, SERVER, p, 80, 0x10)
            })
            .collect();
        g.bench_function(BenchmarkId::new("tcp-hit", label), |b| {
            b.iter(|| {
                for _ in 0..BURST {
                    at = (at + 1) & 0xffff;
                    black_box(ct.track(&hits[at], &ack, now, 1, true));
                }
                now += 1000;
            })
        });
        g.bench_function(BenchmarkId::new("tcp-hit-prefetched", label), |b| {
            b.iter(|| {
                let base = at;
                burst(&mut ct, &hits, base, &ack, now);
                at = (base + BURST) & 0xffff;
                now += 1000;
            })
        });
        let misses: Vec<PacketInfo> = order
            .iter()
            .map(|&i| {
                let (a, p) = client(i);
                info(6, a, SERVER + 1, p, 80, 0x02)
            })
            .collect();
        g.bench_function(BenchmarkId::new("tcp-miss", label), |b| {
            b.iter(|| {
                for _ in 0..BURST {
                    at = (at + 1) & 0xffff;
                    black_box(ct.track(&misses[at], &syn, now, 1, false));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

/// A node's burst pattern: each packet hashed once, its bucket loaded 8
/// packets ahead, its entry 4 ahead.
fn burst(ct: &mut ConnTrack, pkts: &[PacketInfo], base: usize, l4: &[u8], now: u64) {
    let at = |i: usize| &pkts[(base + i) & 0xffff];
    let mut hs: [Option<FlowHash>; 16] = [None; 16];
    for (i, h) in hs.iter_mut().enumerate().take(8) {
        *h = ct.flow_hash(at(i));
        if let Some(h) = h {
            ct.prefetch(h);
        }
    }
    for i in 0..BURST {
        let ahead = ct.flow_hash(at(i + 8));
        if let Some(h) = &ahead {
            ct.prefetch(h);
        }
        hs[(i + 8) & 15] = ahead;
        if let Some(h) = &hs[(i + 4) & 15] {
            ct.prefetch_entry(h);
        }
        black_box(ct.track_hashed(at(i), l4, now, 1, true, hs[i & 15]));
    }
}
