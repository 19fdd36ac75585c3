//! Full checksum versus RFC 1624 incremental update, and our 32-bit
//! accumulation versus the textbook 16-bit loop it replaces.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orbital_wire::checksum;

/// RFC 1071's loop, one 16-bit word at a time: the baseline `accumulate` must beat.
fn naive_sum16(data: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u32::from(*b) << 8;
    }
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn bench(c: &mut Criterion) {
    let header: Vec<u8> = (0..20u8).collect();
    let segment: Vec<u8> = (0..1500u32).map(|i| (i * 7) as u8).collect();
    let mut g = c.benchmark_group("checksum");
    g.bench_function("full ipv4 header (20 B)", |b| {
        b.iter(|| checksum::checksum(black_box(&header)))
    });
    g.throughput(Throughput::Bytes(1500));
    g.bench_function("full 1500 B (8-lane accumulate)", |b| {
        b.iter(|| checksum::sum(black_box(&segment)))
    });
    g.bench_function("full 1500 B (naive 16-bit loop)", |b| {
        b.iter(|| naive_sum16(black_box(&segment)))
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("incremental u16 (TTL)", |b| {
        b.iter(|| checksum::update_u16(black_box(0x1234), black_box(0x4011), black_box(0x3f11)))
    });
    g.bench_function("incremental u32 (IPv4 address)", |b| {
        b.iter(|| {
            checksum::update_u32(
                black_box(0x1234),
                black_box(0x0a00_0001),
                black_box(0xc633_6401),
            )
        })
    });
    let (a, z) = ([0x20u8; 16], [0xfeu8; 16]);
    g.bench_function("incremental 16 B (IPv6 address)", |b| {
        b.iter(|| checksum::update_bytes(black_box(0x1234), black_box(&a), black_box(&z)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
