//! Parse cost per frame over a realistic mix, and over a real capture when the
//! shared corpus is present.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orbital_wire::{LinkType, PacketInfo, parse};

fn eth(t: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    f.extend_from_slice(&t.to_be_bytes());
    f
}

fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
    let total = (20 + l4.len()) as u16;
    let mut v = vec![0x45, 0];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0, 10, 1, 2, 3, 198, 18, 1, 2]);
    v.extend_from_slice(l4);
    v
}

fn ipv6(next: u8, l4: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    v.extend_from_slice(&[next, 64]);
    v.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    v.extend_from_slice(l4);
    v
}

/// 100 frames: 60 IPv4/TCP, 20 IPv4/UDP, 5 VLAN IPv4/UDP, 10 IPv6/TCP, 3
/// IPv6/UDP, 2 ARP — roughly an Internet edge mix.
fn mix() -> Vec<Vec<u8>> {
    let mut tcp = vec![
        0x04, 0xd2, 1, 0xbb, 0, 0, 0, 1, 0, 0, 0, 1, 0x80, 0x10, 0xff, 0xff, 0, 0, 0, 0,
    ];
    tcp.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    tcp.extend_from_slice(&[0u8; 100]);
    let mut udp = vec![0x30, 0x39, 0, 53, 0, 40, 0, 0];
    udp.extend_from_slice(&[0u8; 32]);
    let mut out = Vec::new();
    let v4 = |p, l4: &[u8]| [eth(0x0800), ipv4(p, l4)].concat();
    out.extend((0..60).map(|_| v4(6, &tcp)));
    out.extend((0..20).map(|_| v4(17, &udp)));
    out.extend((0..5).map(|_| [eth(0x8100), vec![0, 100, 8, 0], ipv4(17, &udp)].concat()));
    out.extend((0..10).map(|_| [eth(0x86dd), ipv6(6, &tcp)].concat()));
    out.extend((0..3).map(|_| [eth(0x86dd), ipv6(17, &udp)].concat()));
    let arp = [
        0u8, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
    ];
    out.extend((0..2).map(|_| [eth(0x0806), arp.to_vec()].concat()));
    out
}

fn corpus_frames() -> Option<Vec<Vec<u8>>> {
    let path = std::env::var_os("ORBITAL_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("pcap/pcapplusplus/ExamplesTest/pcap_examples/many-protocols.pcap");
    let bytes = std::fs::read(path).ok()?;
    // Minimal classic-pcap walk (little-endian, microseconds): enough for this file.
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().ok()?) as usize;
        let end = at + 16 + incl;
        frames.push(bytes.get(at + 16..end)?.to_vec());
        at = end;
    }
    Some(frames)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    let frames = mix();
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("edge mix (per 100 frames)", |b| {
        let mut info = PacketInfo::default();
        b.iter(|| {
            for f in &frames {
                let _ = black_box(parse(black_box(f), LinkType::Ethernet, &mut info));
            }
        })
    });
    if let Some(real) = corpus_frames() {
        g.throughput(Throughput::Elements(real.len() as u64));
        g.bench_function("many-protocols.pcap (4,709 frames)", |b| {
            let mut info = PacketInfo::default();
            b.iter(|| {
                for f in &real {
                    let _ = black_box(parse(black_box(f), LinkType::Ethernet, &mut info));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
