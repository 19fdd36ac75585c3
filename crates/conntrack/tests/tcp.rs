//! TCP state sequences, timeouts and window tracking against Linux's
//! behaviour, on virtual time.

mod common;

use common::*;
use orbital_conntrack::{
    Confirm, ConnTrack, CtConfig, CtState, Dir, InvalidReason, TcpState, Timeouts,
};

fn table() -> ConnTrack {
    ConnTrack::new(CtConfig {
        max_entries: 1024,
        ..CtConfig::default()
    })
}

fn flow() -> Flow {
    Flow::v4([10, 0, 0, 1], 40000, [192, 0, 2, 80], 80)
}

fn state(ct: &ConnTrack, h: orbital_conntrack::CtHandle) -> (TcpState, u64, bool) {
    let e = ct.get(h).expect("entry alive");
    (e.tcp_state.unwrap(), e.timeout_left_ns / SEC, e.assured)
}

#[test]
fn handshake_data_and_close_follow_linux() {
    let mut ct = table();
    let f = flow();
    let t0 = 100 * SEC;
    let syn = go(&mut ct, &f.ab(1000, 0, SYN, 64240, &[], 0), t0);
    assert_eq!((syn.state, syn.dir), (CtState::New, Dir::Original));
    let h = syn.handle.unwrap();
    assert_eq!(state(&ct, h), (TcpState::SynSent, 120, false));

    let synack = go(&mut ct, &f.ba(5000, 1001, SYN | ACK, 65160, &[], 0), t0);
    assert_eq!(
        (synack.state, synack.dir),
        (CtState::Established, Dir::Reply)
    );
    assert_eq!(synack.handle, Some(h));
    assert_eq!(state(&ct, h), (TcpState::SynRecv, 60, false));

    let ack = go(&mut ct, &f.ab(1001, 5001, ACK, 502, &[], 0), t0);
    assert_eq!(ack.state, CtState::Established);
    assert_eq!(state(&ct, h), (TcpState::Established, 5 * 24 * 3600, true));

    // Data not yet acknowledged caps the timeout to 300 s.
    go(
        &mut ct,
        &f.ab(1001, 5001, ACK | PSH, 502, &[], 100),
        t0 + SEC,
    );
    assert_eq!(state(&ct, h), (TcpState::Established, 300, true));
    go(&mut ct, &f.ba(5001, 1101, ACK, 65160, &[], 0), t0 + SEC);
    assert_eq!(state(&ct, h), (TcpState::Established, 5 * 24 * 3600, true));

    // Client closes.
    go(
        &mut ct,
        &f.ab(1101, 5001, FIN | ACK, 502, &[], 0),
        t0 + 2 * SEC,
    );
    assert_eq!(state(&ct, h).0, TcpState::FinWait);
    go(&mut ct, &f.ba(5001, 1102, ACK, 65160, &[], 0), t0 + 2 * SEC);
    assert_eq!(state(&ct, h), (TcpState::CloseWait, 60, true));
    go(
        &mut ct,
        &f.ba(5001, 1102, FIN | ACK, 65160, &[], 0),
        t0 + 3 * SEC,
    );
    assert_eq!(state(&ct, h).0, TcpState::LastAck);
    assert_eq!(state(&ct, h).1, 30);
    go(&mut ct, &f.ab(1102, 5002, ACK, 502, &[], 0), t0 + 3 * SEC);
    assert_eq!(state(&ct, h), (TcpState::TimeWait, 120, true));

    // TIME_WAIT lasts 120 s on the engine clock.
    let end = t0 + 3 * SEC + 120 * SEC;
    assert_eq!(ct.expire(end - 1, 64), 0);
    assert!(ct.get(h).is_some());
    assert_eq!(ct.expire(end, 64), 1);
    assert!(ct.get(h).is_none());
    assert!(ct.is_empty());
    ct.audit().unwrap();
}

#[test]
fn reset_closes_and_reset_answering_syn_removes() {
    let mut ct = table();
    let f = flow();
    let h = handshake(&mut ct, &f, SEC);
    let rst = go(&mut ct, &f.ba(5001, 0, RST, 0, &[], 0), 2 * SEC);
    assert_eq!(rst.state, CtState::Established);
    assert_eq!(state(&ct, h), (TcpState::Close, 10, true));

    // A SYN answered by RST/ACK (port closed): the entry goes at once.
    let g = Flow::v4([10, 0, 0, 1], 40001, [192, 0, 2, 80], 81);
    let syn = go(&mut ct, &g.ab(7000, 0, SYN, 64240, &[], 0), 3 * SEC);
    let hs = syn.handle.unwrap();
    let r = go(&mut ct, &g.ba(0, 7001, RST | ACK, 0, &[], 0), 3 * SEC);
    assert_eq!(
        (r.state, r.dir, r.handle),
        (CtState::Established, Dir::Reply, None)
    );
    assert!(ct.get(hs).is_none(), "stale handle detected");
    assert_eq!(ct.stats().reset, 1);
    ct.audit().unwrap();
}

#[test]
fn syn_timeout_is_exact_and_syn_retransmit_does_not_extend() {
    let mut ct = table();
    let f = flow();
    let h = go(&mut ct, &f.ab(1, 0, SYN, 1000, &[], 0), 0)
        .handle
        .unwrap();
    // A retransmitted SYN at 60 s does not renew (Linux: port reuse must
    // not keep an unanswered entry alive).
    let again = go(&mut ct, &f.ab(1, 0, SYN, 1000, &[], 0), 60 * SEC);
    assert_eq!(again.handle, Some(h));
    assert!(ct.lookup(&f.ab(1, 0, SYN, 1000, &[], 0).info).is_some());
    ct.expire(120 * SEC - 1, 10);
    assert!(ct.get(h).is_some());
    // At the deadline a lookup no longer sees it, even before collection.
    ct.expire(120 * SEC, 0);
    assert!(ct.lookup(&f.ab(1, 0, SYN, 1000, &[], 0).info).is_none());
    let again = go(&mut ct, &f.ab(1, 0, SYN, 1000, &[], 0), 120 * SEC);
    assert_eq!(again.state, CtState::New);
    assert_ne!(again.handle, Some(h));
    assert!(ct.get(h).is_none());
    assert_eq!(ct.stats().expired, 1);
}

#[test]
fn out_of_window_is_invalid_with_its_reason_and_changes_nothing() {
    let mut ct = table();
    let f = flow();
    let h = handshake(&mut ct, &f, SEC);
    let before = ct.get(h).unwrap();
    // Far beyond the receiver's window.
    let far = f.ab(1001 + 10_000_000, 5001, ACK | PSH, 65535, &[], 100);
    let t = ct.track(&far.info, far.l4(), 2 * SEC, 1, true);
    assert_eq!(t.state, CtState::Invalid(InvalidReason::TcpSeqOutOfWindow));
    assert_eq!(t.handle, None);
    // Acknowledging data the server never sent.
    let ack = f.ab(1001, 5001 + 1_000_000, ACK, 65535, &[], 0);
    let t = ct.track(&ack.info, ack.l4(), 2 * SEC, 1, true);
    assert_eq!(t.state, CtState::Invalid(InvalidReason::TcpAckOutOfWindow));
    let s = ct.stats();
    assert_eq!(s.invalid[InvalidReason::TcpSeqOutOfWindow.index()], 1);
    assert_eq!(s.invalid[InvalidReason::TcpAckOutOfWindow.index()], 1);
    // Not refreshed, not moved, not removed.
    let after = ct.get(h).unwrap();
    assert_eq!(after.tcp_state, before.tcp_state);
    assert_eq!(after.timeout_left_ns + SEC, before.timeout_left_ns);
    // In-window data passes; its retransmission passes too (ignored).
    let d = f.ab(1001, 5001, ACK | PSH, 65535, &[], 1000);
    assert_eq!(go(&mut ct, &d, 3 * SEC).state, CtState::Established);
    go(&mut ct, &f.ba(5001, 2001, ACK, 65535, &[], 0), 3 * SEC);
    assert_eq!(go(&mut ct, &d, 4 * SEC).state, CtState::Established);
    assert_eq!(ct.get(h).unwrap().tcp_state, Some(TcpState::Established));
    ct.audit().unwrap();
}

#[test]
fn window_scaling_is_honoured_only_when_both_sides_offer_it() {
    // Client window 512 << 7 = 64 KiB; server's SYN/ACK also scales.
    let run = |server_scales: bool| {
        let mut ct = table();
        let f = flow();
        go(&mut ct, &f.ab(1000, 0, SYN, 512, &wscale(7), 0), 0);
        let opts: &[u8] = if server_scales { &wscale(7) } else { &[] };
        go(&mut ct, &f.ba(5000, 1001, SYN | ACK, 512, opts, 0), 0);
        go(&mut ct, &f.ab(1001, 5001, ACK, 512, &[], 0), 0);
        // The server may send up to ack + 512 << 7 = 1001 + 65536: a segment
        // starting 60,000 bytes in fits only if the scale applies.
        let seg = f.ba(5001 + 60_000, 1001, ACK, 512, &[], 100);
        ct.track(&seg.info, seg.l4(), SEC, 1, true).state
    };
    assert_eq!(run(true), CtState::Established);
    assert_eq!(
        run(false),
        CtState::Invalid(InvalidReason::TcpSeqOutOfWindow)
    );
}

#[test]
fn simultaneous_open_reaches_established() {
    let mut ct = table();
    let f = flow();
    let h = go(&mut ct, &f.ab(1000, 0, SYN, 65535, &[], 0), 0)
        .handle
        .unwrap();
    let s2 = go(&mut ct, &f.ba(5000, 0, SYN, 65535, &[], 0), 0);
    assert_eq!(s2.state, CtState::Established);
    assert_eq!(state(&ct, h).0, TcpState::SynSent2);
    go(&mut ct, &f.ab(1000, 5001, SYN | ACK, 65535, &[], 0), 0);
    assert_eq!(state(&ct, h).0, TcpState::SynRecv);
    go(&mut ct, &f.ba(5000, 1001, SYN | ACK, 65535, &[], 0), 0);
    go(&mut ct, &f.ba(5001, 1001, ACK, 65535, &[], 0), 0);
    assert_eq!(state(&ct, h), (TcpState::Established, 5 * 24 * 3600, true));
}

#[test]
fn bad_flags_and_segments_that_cannot_open() {
    let mut ct = table();
    let f = flow();
    let t = go(&mut ct, &f.ab(1, 0, SYN | FIN, 1000, &[], 0), 0);
    assert_eq!(t.state, CtState::Invalid(InvalidReason::TcpBadFlags));
    let t = go(&mut ct, &f.ab(1, 0, 0, 1000, &[], 0), 0);
    assert_eq!(t.state, CtState::Invalid(InvalidReason::TcpBadFlags));
    let t = go(&mut ct, &f.ab(1, 0, FIN | ACK, 1000, &[], 0), 0);
    assert_eq!(t.state, CtState::Invalid(InvalidReason::TcpInvalidNew));
    let t = go(&mut ct, &f.ab(1, 9, RST | ACK, 1000, &[], 0), 0);
    assert_eq!(t.state, CtState::Invalid(InvalidReason::TcpInvalidNew));
    // SYN/ACK from the client after its SYN.
    go(&mut ct, &f.ab(1, 0, SYN, 1000, &[], 0), 0);
    let t = go(&mut ct, &f.ab(1, 0, SYN | ACK, 1000, &[], 0), 0);
    assert_eq!(t.state, CtState::Invalid(InvalidReason::TcpInvalidState));
    assert_eq!(ct.len(), 1);
}

#[test]
fn loose_pickup_and_strict_mode() {
    let mut ct = table();
    let f = flow();
    let t = go(&mut ct, &f.ab(1_000_000, 2_000_000, ACK, 1000, &[], 10), 0);
    assert_eq!(t.state, CtState::New);
    let h = t.handle.unwrap();
    assert_eq!(state(&ct, h), (TcpState::Established, 300, false));
    let r = go(&mut ct, &f.ba(2_000_000, 1_000_010, ACK, 1000, &[], 0), 0);
    assert_eq!(r.state, CtState::Established);
    // As Linux: the reply bit is set after the answer is examined, so the
    // next valid segment assures the connection.
    assert!(!state(&ct, h).2);
    go(&mut ct, &f.ab(1_000_010, 2_000_000, ACK, 1000, &[], 0), 0);
    assert!(state(&ct, h).2, "answered pickup is assured");

    let mut strict = ConnTrack::new(CtConfig {
        tcp_loose: false,
        ..CtConfig::default()
    });
    let t = go(
        &mut strict,
        &f.ab(1_000_000, 2_000_000, ACK, 1000, &[], 10),
        0,
    );
    assert_eq!(t.state, CtState::Invalid(InvalidReason::TcpInvalidNew));
    assert!(strict.is_empty());
}

#[test]
fn syn_after_close_reopens() {
    let mut ct = table();
    let f = flow();
    handshake(&mut ct, &f, 0);
    go(&mut ct, &f.ab(1001, 5001, FIN | ACK, 65535, &[], 0), 0);
    go(&mut ct, &f.ba(5001, 1002, FIN | ACK, 65535, &[], 0), 0);
    go(&mut ct, &f.ab(1002, 5002, ACK, 65535, &[], 0), 0);
    let t = go(&mut ct, &f.ab(90_000, 0, SYN, 65535, &[], 0), SEC);
    assert_eq!(t.state, CtState::New);
    assert_eq!(ct.stats().reopened, 1);
    assert_eq!(state(&ct, t.handle.unwrap()).0, TcpState::SynSent);
    assert_eq!(ct.len(), 1);
}

#[test]
fn unconfirmed_entries_leave_no_state() {
    let mut ct = table();
    let f = flow();
    let syn = f.ab(1000, 0, SYN, 65535, &[], 0);
    // The firewall drops the SYN: no confirm.
    let t = ct.track(&syn.info, syn.l4(), 0, 1, true);
    let h = t.handle.unwrap();
    assert_eq!(ct.summary().unconfirmed, 1);
    assert_eq!(ct.release_unconfirmed(), 1);
    assert!(ct.is_empty());
    assert_eq!(ct.confirm(h), Confirm::Stale);

    // SYN and SYN/ACK in one burst: the second finds the unconfirmed entry.
    let t = ct.track(&syn.info, syn.l4(), 0, 1, true);
    let sa = f.ba(5000, 1001, SYN | ACK, 65535, &[], 0);
    let r = ct.track(&sa.info, sa.l4(), 0, 1, true);
    assert_eq!(r.handle, t.handle);
    assert_eq!(r.state, CtState::Established);
    assert_eq!(ct.confirm(t.handle.unwrap()), Confirm::Confirmed);
    assert_eq!(ct.confirm(r.handle.unwrap()), Confirm::AlreadyConfirmed);
    assert_eq!(ct.release_unconfirmed(), 0);
    assert_eq!(state(&ct, t.handle.unwrap()).0, TcpState::SynRecv);
    ct.audit().unwrap();
}

#[test]
fn policy_version_recheck() {
    let mut ct = table();
    let f = flow();
    let h = handshake(&mut ct, &f, 0);
    let p = f.ab(1001, 5001, ACK, 65535, &[], 0);
    assert!(!ct.track(&p.info, p.l4(), 0, 1, true).recheck);
    let t = ct.track(&p.info, p.l4(), 0, 2, true);
    assert!(t.recheck);
    assert!(ct.set_policy_version(h, 2));
    assert!(!ct.track(&p.info, p.l4(), 0, 2, true).recheck);
    assert!(ct.remove(h));
    assert!(!ct.set_policy_version(h, 3));
}

#[test]
fn configured_timeouts_apply() {
    let mut ct = ConnTrack::new(CtConfig {
        timeouts: Timeouts {
            tcp_syn_sent: core::time::Duration::from_secs(5),
            ..Timeouts::LINUX
        },
        ..CtConfig::default()
    });
    let f = flow();
    let h = go(&mut ct, &f.ab(1, 0, SYN, 1000, &[], 0), 0)
        .handle
        .unwrap();
    assert_eq!(state(&ct, h).1, 5);
    assert_eq!(ct.expire(5 * SEC, 10), 1);
}

#[test]
fn ipv6_and_listing() {
    let mut ct = ConnTrack::new(CtConfig {
        accounting: true,
        ..CtConfig::default()
    });
    let f = Flow {
        a: v6("2001:db8::1"),
        b: v6("2001:db8::2"),
        ap: 1234,
        bp: 443,
        ipv6: true,
    };
    let h = handshake(&mut ct, &f, 0);
    let e = ct.get(h).unwrap();
    let line = e.to_string();
    assert!(line.starts_with("tcp      6 432000 ESTABLISHED src=2001:db8::1 dst=2001:db8::2 sport=1234 dport=443 packets=2 bytes=120 src=2001:db8::2"), "{line}");
    assert!(line.contains("[ASSURED]"), "{line}");
    assert_eq!(ct.iter().count(), 1);
    let s = ct.summary();
    assert_eq!(
        (
            s.entries,
            s.assured,
            s.tcp_states[TcpState::Established as usize]
        ),
        (1, 1, 1)
    );
    assert!(s.to_string().contains("entries 1/65536"));
}

#[test]
fn clock_extremes_and_going_back_do_not_panic() {
    let mut ct = table();
    let f = flow();
    let h = handshake(&mut ct, &f, u64::MAX - 10);
    assert_eq!(ct.get(h).unwrap().timeout_left_ns, 10, "deadline saturates");
    // Time never goes back: an older timestamp is taken as "now".
    let t = go(&mut ct, &f.ab(1001, 5001, ACK, 65535, &[], 0), 5);
    assert_eq!(t.state, CtState::Established);
    ct.expire(u64::MAX, 100);
    assert!(ct.is_empty());
    ct.audit().unwrap();
}
