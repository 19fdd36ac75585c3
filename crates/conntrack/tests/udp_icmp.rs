//! UDP pseudo-states, ICMP queries, ICMP errors related to the flows they
//! quote (IPv4 and IPv6), untracked and generic traffic.

mod common;

use common::*;
use orbital_conntrack::{ConnTrack, CtConfig, CtState, Dir, InvalidReason};

fn table() -> ConnTrack {
    ConnTrack::new(CtConfig {
        max_entries: 256,
        ..CtConfig::default()
    })
}

fn left(ct: &ConnTrack, h: orbital_conntrack::CtHandle) -> (u64, bool, bool) {
    let e = ct.get(h).unwrap();
    (e.timeout_left_ns / SEC, e.seen_reply, e.assured)
}

#[test]
fn udp_unreplied_replied_stream() {
    let mut ct = table();
    let f = Flow::v4([10, 0, 0, 1], 5353, [10, 0, 0, 2], 53);
    let t = go(&mut ct, &f.udp_ab(40), 0);
    assert_eq!(t.state, CtState::New);
    let h = t.handle.unwrap();
    assert_eq!(left(&ct, h), (30, false, false));
    // A second query before any answer is still new.
    assert_eq!(go(&mut ct, &f.udp_ab(40), SEC / 2).state, CtState::New);
    // The answer: established, still the 30 s timeout (Linux picks it
    // before marking the reply).
    let r = go(&mut ct, &f.udp_ba(80), SEC);
    assert_eq!((r.state, r.dir), (CtState::Established, Dir::Reply));
    assert_eq!(left(&ct, h), (30, true, false));
    // Within 2 s of the first packet: replied, 30 s, not assured.
    go(&mut ct, &f.udp_ab(40), 2 * SEC);
    assert_eq!(left(&ct, h), (30, true, false));
    // Later: a stream, 120 s, assured.
    let s = go(&mut ct, &f.udp_ab(40), 2 * SEC + 1);
    assert_eq!(s.state, CtState::Established);
    assert_eq!(left(&ct, h), (120, true, true));
    assert_eq!(ct.expire(2 * SEC + 1 + 120 * SEC, 8), 1);
    assert!(ct.is_empty());

    // Unreplied: gone after exactly 30 s.
    let h = go(&mut ct, &f.udp_ab(1), 1000 * SEC).handle.unwrap();
    assert_eq!(ct.expire(1030 * SEC - 1, 8), 0);
    assert!(ct.get(h).is_some());
    assert_eq!(ct.expire(1030 * SEC, 8), 1);
}

fn echo(src: u128, dst: u128, ty: u8, id: u16, ipv6: bool) -> Pkt {
    let proto = if ipv6 { 58 } else { 1 };
    Pkt::new(ip(src, dst, proto, &icmp_l4(ty, 0, id, 1, b"ping"), ipv6))
}

#[test]
fn icmp_echo_v4_and_v6() {
    let mut ct = table();
    for (a, b, req, rep, ipv6) in [
        (v4([10, 0, 0, 1]), v4([8, 8, 8, 8]), 8, 0, false),
        (v6("2001:db8::1"), v6("2001:db8::8"), 128, 129, true),
    ] {
        let t = go(&mut ct, &echo(a, b, req, 77, ipv6), 0);
        assert_eq!(t.state, CtState::New);
        let h = t.handle.unwrap();
        assert_eq!(left(&ct, h), (30, false, false));
        let r = go(&mut ct, &echo(b, a, rep, 77, ipv6), SEC);
        assert_eq!(
            (r.state, r.dir, r.handle),
            (CtState::Established, Dir::Reply, Some(h))
        );
        assert_eq!(left(&ct, h), (30, true, false));
        // A reply nobody asked for (other identifier) is invalid.
        let stray = go(&mut ct, &echo(b, a, rep, 78, ipv6), SEC);
        assert_eq!(stray.state, CtState::Invalid(InvalidReason::IcmpNotQuery));
        // The other side pinging back with the same identifier is its own
        // connection, not a reply.
        let back = go(&mut ct, &echo(b, a, req, 77, ipv6), SEC);
        assert_eq!(back.state, CtState::New);
        assert_ne!(back.handle, Some(h));
    }
    assert_eq!(ct.len(), 4);
    // Router advertisement (v4 type 9): nothing to pair it with.
    let ra = go(
        &mut ct,
        &echo(v4([10, 0, 0, 9]), v4([224, 0, 0, 1]), 9, 0, false),
        SEC,
    );
    assert_eq!(ra.state, CtState::Invalid(InvalidReason::IcmpUnknownType));
    // ICMPv6 neighbour solicitation: untracked, as in Linux.
    let ns = go(
        &mut ct,
        &echo(v6("fe80::1"), v6("ff02::1:ff00:2"), 135, 0, true),
        SEC,
    );
    assert_eq!(ns.state, CtState::Untracked);
    ct.audit().unwrap();
}

/// An ICMP error from `from` to `to` quoting the first bytes of `quoted`.
fn icmp_error(from: u128, to: u128, ty: u8, code: u8, quoted: &Pkt, ipv6: bool) -> Pkt {
    let q = &quoted.frame[..quoted.frame.len().min(if ipv6 { 40 + 8 } else { 28 })];
    let proto = if ipv6 { 58 } else { 1 };
    Pkt::new(ip(from, to, proto, &icmp_l4(ty, code, 0, 0, q), ipv6))
}

#[test]
fn icmpv4_errors_are_related_to_the_flow_they_quote() {
    let mut ct = table();
    let f = Flow::v4([10, 0, 0, 1], 40000, [198, 51, 100, 7], 33434);
    let probe = f.udp_ab(20);
    let h = go(&mut ct, &probe, 0).handle.unwrap();
    let router = v4([203, 0, 113, 1]);
    // Time exceeded from a router on the path, back to the client.
    let te = icmp_error(router, f.a, 11, 0, &probe, false);
    let t = go(&mut ct, &te, SEC);
    assert_eq!(
        (t.state, t.dir, t.handle),
        (CtState::Related, Dir::Reply, Some(h))
    );
    // Related packets do not refresh or change the entry.
    assert_eq!(left(&ct, h), (29, false, false));
    // Port unreachable from the destination.
    let pu = icmp_error(f.b, f.a, 3, 3, &probe, false);
    assert_eq!(go(&mut ct, &pu, SEC).state, CtState::Related);
    // Quoting a flow nobody tracks: invalid, as Linux.
    let other = Flow::v4([10, 0, 0, 1], 40001, [198, 51, 100, 7], 53).udp_ab(20);
    let t = go(&mut ct, &icmp_error(router, f.a, 3, 1, &other, false), SEC);
    assert_eq!(t.state, CtState::Invalid(InvalidReason::IcmpErrorNoMatch));
    // About our flow but addressed to someone not on it.
    let t = go(
        &mut ct,
        &icmp_error(router, v4([10, 0, 0, 66]), 11, 0, &probe, false),
        SEC,
    );
    assert_eq!(t.state, CtState::Invalid(InvalidReason::IcmpErrorMismatch));
    // Truncated quote.
    let mut cut = icmp_error(router, f.a, 11, 0, &probe, false).frame;
    cut.truncate(20 + 8 + 22);
    cut[2..4].copy_from_slice(&50u16.to_be_bytes());
    let t = go(&mut ct, &Pkt::new(cut), SEC);
    assert_eq!(t.state, CtState::Invalid(InvalidReason::IcmpErrorMalformed));
    // An error about an echo request is related to the echo.
    let ping = echo(f.a, f.b, 8, 9, false);
    let hp = go(&mut ct, &ping, SEC).handle.unwrap();
    let unreach = icmp_error(f.b, f.a, 3, 1, &ping, false);
    assert_eq!(go(&mut ct, &unreach, SEC).handle, Some(hp));
    assert_eq!(ct.stats().related, 3);
}

#[test]
fn icmpv6_errors_are_related_through_extension_headers() {
    let mut ct = table();
    let f = Flow {
        a: v6("2001:db8:1::10"),
        b: v6("2001:db8:2::20"),
        ap: 50000,
        bp: 443,
        ipv6: true,
    };
    let syn = f.ab(1, 0, SYN, 65535, &[], 0);
    let h = go(&mut ct, &syn, 0).handle.unwrap();
    let router = v6("2001:db8:ff::1");
    // Packet too big, quoting the SYN.
    let ptb = icmp_error(router, f.a, 2, 0, &syn, true);
    let t = go(&mut ct, &ptb, SEC);
    assert_eq!(
        (t.state, t.dir, t.handle),
        (CtState::Related, Dir::Reply, Some(h))
    );
    // The same SYN behind a destination-options header in the quote.
    let mut quoted = syn.frame.clone();
    quoted[6] = 60; // next header: destination options
    quoted.splice(40..40, [6, 0, 1, 4, 0, 0, 0, 0]); // -> TCP, 8 bytes, PadN
    let len = (quoted.len() - 40) as u16;
    quoted[4..6].copy_from_slice(&len.to_be_bytes());
    let inner = Pkt::new(quoted);
    let q = &inner.frame[..40 + 8 + 8];
    let err = Pkt::new(ip(router, f.a, 58, &icmp_l4(1, 4, 0, 0, q), true));
    assert_eq!(go(&mut ct, &err, SEC).state, CtState::Related);
    // Quoting nothing tracked.
    let g = Flow { bp: 444, ..f };
    let t = go(
        &mut ct,
        &icmp_error(router, f.a, 1, 0, &g.ab(1, 0, SYN, 1, &[], 0), true),
        SEC,
    );
    assert_eq!(t.state, CtState::Invalid(InvalidReason::IcmpErrorNoMatch));
}

#[test]
fn generic_protocols_and_untracked() {
    let mut ct = table();
    let (a, b) = (v4([10, 0, 0, 1]), v4([10, 0, 0, 2]));
    let gre = Pkt::new(ip(a, b, 47, &[0; 8], false));
    let t = go(&mut ct, &gre, 0);
    assert_eq!(t.state, CtState::New);
    let h = t.handle.unwrap();
    assert_eq!(left(&ct, h), (600, false, false));
    let back = Pkt::new(ip(b, a, 47, &[0; 8], false));
    assert_eq!(go(&mut ct, &back, SEC).state, CtState::Established);
    // A later fragment has no ports: untracked.
    let mut frag = Flow::v4([10, 0, 0, 1], 1, [10, 0, 0, 2], 2)
        .udp_ab(100)
        .frame;
    frag[6] = 0x00;
    frag[7] = 0x10; // offset 128 bytes
    let p = Pkt::new(frag);
    assert_eq!(go(&mut ct, &p, SEC).state, CtState::Untracked);
    assert_eq!(ct.len(), 1);
}

#[test]
fn cached_verdicts_live_per_direction_and_policy_version() {
    let mut ct = table();
    let f = Flow::v4([10, 0, 0, 1], 5353, [10, 0, 0, 2], 53);
    // `go` tracks under policy version 1.
    let h = go(&mut ct, &f.udp_ab(40), 0).handle.unwrap();
    assert_eq!(ct.cached_verdict(h, Dir::Original, 1), 0, "none yet");
    assert!(ct.cache_verdict(h, Dir::Original, 1, 7));
    assert!(ct.cache_verdict(h, Dir::Reply, 1, 9));
    assert_eq!(ct.cached_verdict(h, Dir::Original, 1), 7);
    assert_eq!(ct.cached_verdict(h, Dir::Reply, 1), 9);
    // Another version: not read, not stored.
    assert_eq!(ct.cached_verdict(h, Dir::Original, 2), 0);
    assert!(!ct.cache_verdict(h, Dir::Original, 2, 8));
    // Moving the entry to version 2 forgets what version 1 cached.
    assert!(ct.set_policy_version(h, 2));
    assert_eq!(ct.cached_verdict(h, Dir::Original, 2), 0);
    assert_eq!(ct.cached_verdict(h, Dir::Reply, 2), 0);
    assert!(ct.cache_verdict(h, Dir::Original, 2, 8));
    assert_eq!(ct.cached_verdict(h, Dir::Original, 2), 8);
    // A removed entry's handle reads nothing, and its slot's next tenant
    // starts with nothing cached.
    assert!(ct.remove(h));
    assert_eq!(ct.cached_verdict(h, Dir::Original, 2), 0);
    assert!(!ct.cache_verdict(h, Dir::Original, 2, 8));
    let g = Flow::v4([10, 0, 0, 3], 1, [10, 0, 0, 4], 2);
    let h2 = go(&mut ct, &g.udp_ab(40), SEC).handle.unwrap();
    assert_eq!(ct.cached_verdict(h2, Dir::Original, 1), 0);
}
