//! The fused ip4-fast node against the full node path: random IPv4 frames —
//! well formed and damaged (checksum, options, fragments, TTL, martians,
//! lengths, VLAN tags, foreign MACs, link-layer broadcast and multicast,
//! well-formed, source-route and malformed options, padding) — give
//! byte-identical output
//! on every port and the same drop counts with the fast path on and off.

mod common;

use common::{Rig, udp};
use orbital_graph::Plain;
use orbital_pipeline::engine::EngineConfig;
use orbital_pipeline::worker::WorkerConfig;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Frame {
    dst: &'static str,
    len: usize,
    ttl: u8,
    df: bool,
    proto: u8,
    damage: u8,
    pad: usize,
}

fn frame() -> impl Strategy<Value = Frame> {
    (
        prop::sample::select(vec![
            "203.0.113.9",
            "203.0.113.200",
            "198.51.100.7",
            "10.0.0.9",
            "192.0.2.1",
            "127.0.0.1",
            "0.1.2.3",
            "224.0.0.5",
            "8.8.8.8",
            "192.0.2.253",
        ]),
        28usize..1500,
        prop::sample::select(vec![0u8, 1, 2, 3, 64, 255]),
        any::<bool>(),
        prop::sample::select(vec![17u8, 6, 1, 47]),
        0u8..18,
        prop::sample::select(vec![0usize, 0, 0, 6, 40]),
    )
        .prop_map(|(dst, len, ttl, df, proto, damage, pad)| Frame {
            dst,
            len,
            ttl,
            df,
            proto,
            damage,
            pad,
        })
}

/// The frame's bytes, damaged as `f.damage` says (0..=4: intact).
fn bytes(f: &Frame, i: usize) -> Vec<u8> {
    let mut b = udp(f.dst, 1000 + i as u16, f.len, f.ttl, f.df);
    b[23] = f.proto;
    if f.proto == 6 && f.len >= 40 {
        b[46] = 0x50; // a TCP data offset of 5 words
    }
    // Put the header checksum right for the protocol change.
    b[24] = 0;
    b[25] = 0;
    let c = orbital_wire::checksum::checksum(&b[14..34]);
    b[24..26].copy_from_slice(&c.to_be_bytes());
    match f.damage {
        5 => b[25] ^= 0x40,              // wrong header checksum
        6 => b[0] ^= 0x02,               // another station's MAC
        7 => b.truncate(14 + f.len / 2), // truncated
        8 => b[20] |= 0x20,              // a first fragment
        9 => b[14] = 0x46,               // IHL 6: option word
        10 => b.splice(12..12, [0x81, 0x00, 0, 10]).for_each(drop), // VLAN tag
        11 => b[16] = 0xff,              // total length too long
        12 => b[0..6].copy_from_slice(&[0xff; 6]), // link-layer broadcast
        13 => b[0..6].copy_from_slice(&[1, 0, 0x5e, 0, 0, 5]), // multicast
        14 => with_options(&mut b, &[148, 4, 0, 0]), // router alert
        15 => with_options(&mut b, &[131, 7, 4, 203, 0, 113, 9, 0]), // LSRR
        16 => with_options(&mut b, &[68, 8, 2, 0, 0, 0, 0, 0]), // bad timestamp
        17 => with_options(&mut b, &[148, 0, 0, 0]), // option length 0
        _ => {}
    }
    b.extend(std::iter::repeat_n(0xa5, f.pad));
    b
}

/// Put option bytes `opts` (a whole number of words) into the IPv4 header
/// of frame `b`, with IHL, total length and checksum to match.
fn with_options(b: &mut Vec<u8>, opts: &[u8]) {
    b.splice(34..34, opts.iter().copied());
    b[14] = 0x45 + (opts.len() / 4) as u8;
    let total = u16::from_be_bytes([b[16], b[17]]) + opts.len() as u16;
    b[16..18].copy_from_slice(&total.to_be_bytes());
    b[24] = 0;
    b[25] = 0;
    let c = orbital_wire::checksum::checksum(&b[14..34 + opts.len()]);
    b[24..26].copy_from_slice(&c.to_be_bytes());
}

/// Per port, the frames sent as (seq, sub, bytes).
type Sent = Vec<Vec<(u64, u16, Vec<u8>)>>;

fn run(frames: &[Frame], fast_path: bool) -> (Sent, Vec<u64>) {
    let mut rig = Rig::<Plain>::with(EngineConfig {
        worker: WorkerConfig {
            fast_path,
            ..WorkerConfig::default()
        },
        ..EngineConfig::default()
    });
    for (i, f) in frames.iter().enumerate() {
        rig.send(0, 0, &bytes(f, i));
    }
    rig.step();
    let mut outs: Sent = (0..2).map(|p| rig.out(p)).collect();
    for o in &mut outs {
        o.sort();
    }
    let s = rig.engine.handle().stats();
    let mut drops = s.total.drops.clone();
    for (d, x) in drops.iter_mut().zip(&s.slow.drops) {
        *d += x;
    }
    rig.finish();
    (outs, drops)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn fast_path_output_equals_the_full_path(frames in prop::collection::vec(frame(), 1..80)) {
        let (fast, fast_drops) = run(&frames, true);
        let (full, full_drops) = run(&frames, false);
        prop_assert_eq!(fast, full);
        prop_assert_eq!(fast_drops, full_drops);
    }
}

#[test]
fn the_fast_path_takes_the_common_case() {
    let f = Frame {
        dst: "203.0.113.9",
        len: 100,
        ttl: 64,
        df: true,
        proto: 17,
        damage: 0,
        pad: 0,
    };
    let mut rig = Rig::<Plain>::new(1);
    for i in 0..10 {
        rig.send(0, 0, &bytes(&f, i));
    }
    rig.step();
    assert_eq!(rig.out(1).len(), 10);
    let h = rig.engine.handle();
    let s = h.stats();
    let row = |n: &str| s.total.nodes[h.nodes.iter().position(|x| *x == n).unwrap()];
    assert_eq!(row("ip4-fast").packets, 10);
    assert_eq!(row("parse").packets, 0, "nothing left for the full path");
    assert_eq!(row("egress").packets, 10, "egress still sees every packet");
    rig.finish();
}
