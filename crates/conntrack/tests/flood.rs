//! Pressure: a SYN flood into a small table, and a table of assured flows
//! that must refuse new ones rather than evict them.

mod common;

use common::*;
use orbital_conntrack::{ConnTrack, CtConfig, CtDrop, CtState, TcpState};

#[test]
fn syn_flood_evicts_unreplied_and_spares_established() {
    let max = 10_000;
    let mut ct = ConnTrack::new(CtConfig {
        max_entries: max,
        ..CtConfig::default()
    });
    let memory = ct.memory_bytes();
    // 200 established connections and a UDP stream, made before the flood.
    let mut good = Vec::new();
    for i in 0..200u16 {
        let f = Flow::v4(
            [10, 1, (i >> 8) as u8, i as u8],
            30000 + i,
            [192, 0, 2, 1],
            443,
        );
        handshake(&mut ct, &f, 0);
        good.push(f);
    }
    let dns = Flow::v4([10, 2, 0, 1], 5000, [192, 0, 2, 53], 53);
    go(&mut ct, &dns.udp_ab(30), 0);
    go(&mut ct, &dns.udp_ba(90), 0);
    go(&mut ct, &dns.udp_ab(30), 3 * SEC);
    assert_eq!(ct.summary().assured, 201);

    // 200k SYNs from random sources, accepted by the firewall, one per µs.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let t0 = 4 * SEC;
    for i in 0..200_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let src = (x as u32).to_be_bytes();
        let f = Flow::v4(src, (x >> 32) as u16 | 1024, [192, 0, 2, 1], 80);
        let now = t0 + i * 1000;
        let t = go(&mut ct, &f.ab(x as u32, 0, SYN, 1024, &[], 0), now);
        assert_eq!(t.state, CtState::New);
        assert!(t.drop.is_none(), "flood SYN {i} dropped");
        assert!(ct.len() <= max as usize);
        if i % 256 == 255 {
            ct.expire(now, 64);
        }
        // Keep the established flows talking now and then.
        if i % 20_000 == 0 {
            for f in &good {
                go(&mut ct, &f.ab(1001, 5001, ACK, 65535, &[], 0), now);
            }
        }
    }
    let s = ct.summary();
    assert_eq!(s.entries, max);
    assert!(
        s.stats.evicted[0] >= 200_000 - u64::from(max),
        "{:?}",
        s.stats
    );
    assert_eq!(s.stats.evicted[1] + s.stats.evicted[2], 0);
    assert_eq!(s.assured, 201, "no assured flow evicted");
    for f in &good {
        let p = f.ab(1001, 5001, ACK, 65535, &[], 0);
        let (h, _) = ct
            .lookup(&p.info)
            .expect("established flow survives the flood");
        assert_eq!(ct.get(h).unwrap().tcp_state, Some(TcpState::Established));
    }
    assert!(ct.lookup(&dns.udp_ba(1).info).is_some());

    // New connections still work: they evict the oldest SYN_SENT.
    let now = t0 + 200_000 * 1000 + SEC;
    let f = Flow::v4([10, 9, 9, 9], 45678, [192, 0, 2, 1], 22);
    let h = handshake(&mut ct, &f, now);
    assert_eq!(ct.get(h).unwrap().tcp_state, Some(TcpState::Established));
    assert!(ct.get(h).unwrap().assured);
    assert_eq!(ct.memory_bytes(), memory, "no allocation after new()");
    ct.audit().unwrap();

    // Once the flood's SYN_SENT entries time out, collection frees them in
    // bounded steps.
    let later = now + 121 * SEC;
    let mut rounds = 0;
    while ct.expire(later, 512) > 0 {
        rounds += 1;
    }
    assert!(rounds >= (max as usize - 202) / 512);
    // The handshakes (their ACKs capped at 300 s by retransmissions) and the
    // new connection stay; the SYNs and the DNS stream (120 s) are gone.
    assert_eq!(ct.len(), 201);
    ct.audit().unwrap();
}

#[test]
fn full_table_of_assured_flows_drops_new_ones() {
    let mut ct = ConnTrack::new(CtConfig {
        max_entries: 16,
        ..CtConfig::default()
    });
    for i in 0..16u8 {
        handshake(
            &mut ct,
            &Flow::v4([10, 0, 0, i], 1000, [10, 0, 1, 1], 80),
            0,
        );
    }
    let f = Flow::v4([10, 0, 0, 99], 1000, [10, 0, 1, 1], 80);
    let t = go(&mut ct, &f.ab(1, 0, SYN, 1000, &[], 0), SEC);
    assert_eq!(t.drop, Some(CtDrop::TableFull));
    assert_eq!(t.handle, None);
    assert_eq!(ct.stats().drops[CtDrop::TableFull.index()], 1);
    assert_eq!(ct.len(), 16);
    // A closing assured flow may go, after unreplied and replied ones.
    let c = Flow::v4([10, 0, 0, 3], 1000, [10, 0, 1, 1], 80);
    go(&mut ct, &c.ab(1001, 5001, FIN | ACK, 65535, &[], 0), SEC);
    let t = go(&mut ct, &f.ab(1, 0, SYN, 1000, &[], 0), SEC);
    assert!(t.drop.is_none());
    assert_eq!(ct.stats().evicted[2], 1);
    ct.audit().unwrap();
}

#[test]
fn memory_per_entry_stays_within_128_bytes() {
    assert_eq!(ConnTrack::ENTRY_BYTES, 120);
    // From 64 entries on (below, one 64-byte bucket is a large share).
    for n in [
        64u32, 100, 1000, 4096, 4097, 8500, 8501, 10_000, 65_536, 65_537, 81_920, 100_000,
        1_250_000,
    ] {
        let ct = ConnTrack::new(CtConfig {
            max_entries: n,
            ..CtConfig::default()
        });
        let b = ct.bytes_per_entry();
        assert!(b <= 128.0, "{n} entries: {b} bytes each");
    }
}
