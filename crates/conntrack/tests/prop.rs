//! Random packet sequences: never a panic, never more than `max_entries`,
//! constant memory, handles that always name what they named or are
//! recognised as stale, and every internal invariant after every step.

mod common;

use common::*;
use std::sync::atomic::{AtomicU64, Ordering};

use orbital_conntrack::{ConnTrack, CtConfig, CtHandle, CtState, Tuple};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Tcp {
        a: u8,
        b: u8,
        sp: u8,
        fwd: bool,
        flags: u8,
        seq: u8,
        ack: u8,
        win: u16,
        len: u16,
        ws: Option<u8>,
    },
    Udp {
        a: u8,
        b: u8,
        sp: u8,
        fwd: bool,
    },
    Icmp {
        a: u8,
        b: u8,
        ty: u8,
        id: u8,
        quote: u8,
    },
    Other {
        a: u8,
        b: u8,
        proto: u8,
    },
    Advance(u64),
    Confirm(u8),
    Release,
    Expire(u8),
    Remove(u8),
    /// The plausible answer to a recent packet (SYN → SYN/ACK, data → ACK,
    /// UDP → UDP back), so that connections get established.
    Answer(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let flags = prop::sample::select(vec![
        SYN,
        SYN | ACK,
        ACK,
        ACK | PSH,
        FIN | ACK,
        RST,
        RST | ACK,
        FIN,
        SYN | FIN,
        0,
    ]);
    prop_oneof![
        6 => (0u8..4, 0u8..4, 0u8..3, any::<bool>(), flags, any::<u8>(), any::<u8>(), any::<u16>(), 0u16..3000, prop::option::of(0u8..16))
            .prop_map(|(a, b, sp, fwd, flags, seq, ack, win, len, ws)| Op::Tcp { a, b, sp, fwd, flags, seq, ack, win, len, ws }),
        3 => (0u8..4, 0u8..4, 0u8..3, any::<bool>()).prop_map(|(a, b, sp, fwd)| Op::Udp { a, b, sp, fwd }),
        2 => (0u8..4, 0u8..4, prop::sample::select(vec![0u8, 8, 3, 11, 9, 13, 14]), 0u8..3, any::<u8>())
            .prop_map(|(a, b, ty, id, quote)| Op::Icmp { a, b, ty, id, quote }),
        1 => (0u8..4, 0u8..4, prop::sample::select(vec![47u8, 50, 132])).prop_map(|(a, b, proto)| Op::Other { a, b, proto }),
        2 => prop::sample::select(vec![0u64, 1, 1_000_000_000, 31 * SEC, 121 * SEC, 301 * SEC, 6 * 24 * 3600 * SEC]).prop_map(Op::Advance),
        3 => any::<u8>().prop_map(Op::Confirm),
        1 => Just(Op::Release),
        1 => any::<u8>().prop_map(Op::Expire),
        1 => any::<u8>().prop_map(Op::Remove),
        4 => any::<u8>().prop_map(Op::Answer),
    ]
}

/// Sequence numbers near the values a handshake would use, so that window
/// tracking is exercised, not only rejected.
fn seqno(x: u8) -> u32 {
    const BASE: [u32; 8] = [0, 1000, 1001, 5000, 5001, 0x7fff_ffff, 0xffff_fff0, 70_000];
    BASE[usize::from(x & 7)].wrapping_add(u32::from(x >> 3) * 700)
}

fn answer(q: &Pkt) -> Option<Pkt> {
    let i = &q.info;
    let ipv6 = i.l3 == orbital_wire::L3Kind::Ipv6;
    match i.protocol {
        6 => {
            let l4 = q.l4();
            let seq = u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]);
            let ack = u32::from_be_bytes([l4[8], l4[9], l4[10], l4[11]]);
            let fl = l4[13];
            let len = (l4.len() - usize::from(l4[12] >> 4) * 4) as u32;
            let end = seq
                .wrapping_add(len)
                .wrapping_add(u32::from(fl & (SYN | FIN) != 0));
            let (rseq, rfl) = if fl & SYN != 0 && fl & ACK == 0 {
                (0x5000, SYN | ACK)
            } else {
                (ack, ACK)
            };
            let seg = tcp_l4(i.dst_port, i.src_port, rseq, end, rfl, 65535, &[], 0);
            Some(Pkt::new(ip(i.dst, i.src, 6, &seg, ipv6)))
        }
        17 => Some(Pkt::new(ip(
            i.dst,
            i.src,
            17,
            &udp_l4(i.dst_port, i.src_port, 4),
            ipv6,
        ))),
        _ => None,
    }
}

fn addr(i: u8) -> u128 {
    v4([10, 0, 0, i + 1])
}

/// How often each state came out, over all cases: the run must reach every
/// one, or the sequences are not exercising the trackers.
static SEEN_STATES: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

fn state_slot(s: CtState) -> usize {
    match s {
        CtState::New => 0,
        CtState::Established => 1,
        CtState::Related => 2,
        CtState::Invalid(_) => 3,
        CtState::Untracked => 4,
    }
}

#[test]
fn random_traffic_reaches_every_state() {
    random_traffic_keeps_every_invariant();
    for (i, n) in SEEN_STATES.iter().enumerate() {
        assert!(n.load(Ordering::Relaxed) > 0, "state {i} never reached");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    fn random_traffic_keeps_every_invariant(ops in prop::collection::vec(op(), 1..300), v6_family in any::<bool>()) {
        let max = 24;
        let mut ct = ConnTrack::new(CtConfig { max_entries: max, accounting: true, ..CtConfig::default() });
        let memory = ct.memory_bytes();
        let mut now = 0u64;
        // Every handle ever handed out, with the tuple it was created for.
        let mut seen: Vec<(CtHandle, Tuple)> = Vec::new();
        let mut last: Vec<Pkt> = Vec::new();
        let fam = |a: u128| if v6_family { (a << 64) | 0x2001 } else { a };
        for op in ops {
            let pkt = match op {
                Op::Tcp { a, b, sp, fwd, flags, seq, ack, win, len, ws } => {
                    let f = Flow { a: fam(addr(a)), b: fam(addr(b)), ap: 1000 + u16::from(sp), bp: 80, ipv6: v6_family };
                    let opts: Vec<u8> = ws.map(|s| wscale(s).to_vec()).unwrap_or_default();
                    let (s, k) = (seqno(seq), seqno(ack));
                    Some(if fwd { f.ab(s, k, flags, win, &opts, usize::from(len)) } else { f.ba(s, k, flags, win, &opts, usize::from(len)) })
                }
                Op::Udp { a, b, sp, fwd } => {
                    let f = Flow { a: fam(addr(a)), b: fam(addr(b)), ap: 2000 + u16::from(sp), bp: 53, ipv6: v6_family };
                    Some(if fwd { f.udp_ab(10) } else { f.udp_ba(10) })
                }
                Op::Icmp { a, b, ty, id, quote } => {
                    let (ty, proto) = if v6_family {
                        (match ty { 0 => 129, 8 => 128, 3 => 1, 11 => 3, t => t + 120 }, 58)
                    } else {
                        (ty, 1)
                    };
                    let data: Vec<u8> = if quote > 0 && !last.is_empty() {
                        let q = &last[usize::from(quote) % last.len()].frame;
                        q[..q.len().min(usize::from(quote % 64) + 20)].to_vec()
                    } else {
                        b"data".to_vec()
                    };
                    Some(Pkt::new(ip(fam(addr(a)), fam(addr(b)), proto, &icmp_l4(ty, 0, u16::from(id), 1, &data), v6_family)))
                }
                Op::Other { a, b, proto } => Some(Pkt::new(ip(fam(addr(a)), fam(addr(b)), proto, &[0; 12], v6_family))),
                Op::Advance(dt) => { now += dt; None }
                Op::Confirm(i) => {
                    if !seen.is_empty() {
                        let (h, _) = seen[usize::from(i) % seen.len()];
                        ct.confirm(h);
                    }
                    None
                }
                Op::Release => { ct.release_unconfirmed(); None }
                Op::Expire(b) => { ct.expire(now, usize::from(b % 8)); None }
                Op::Answer(i) if !last.is_empty() => {
                    let q = &last[usize::from(i) % last.len()];
                    answer(q)
                }
                Op::Answer(_) => None,
                Op::Remove(i) => {
                    if !seen.is_empty() {
                        let (h, _) = seen[usize::from(i) % seen.len()];
                        ct.remove(h);
                    }
                    None
                }
            };
            if let Some(p) = pkt {
                let t = ct.track(&p.info, p.l4(), now, 1, true);
                SEEN_STATES[state_slot(t.state)].fetch_add(1, Ordering::Relaxed);
                if let Some(h) = t.handle {
                    let e = ct.get(h).expect("a returned handle is live");
                    // The packet travels on the entry, in the direction said.
                    let pt = Tuple::from_packet(&p.info).unwrap();
                    if t.state != orbital_conntrack::CtState::Related {
                        let want = match t.dir { orbital_conntrack::Dir::Original => e.original, orbital_conntrack::Dir::Reply => e.reply };
                        prop_assert_eq!(pt, want);
                    }
                    if !seen.iter().any(|(s, _)| *s == h) {
                        seen.push((h, e.original));
                    }
                }
                last.push(p);
                if last.len() > 16 { last.remove(0); }
            }
            prop_assert!(ct.len() <= max as usize);
            prop_assert_eq!(ct.memory_bytes(), memory);
            for (h, tuple) in &seen {
                if let Some(e) = ct.get(*h) {
                    prop_assert_eq!(e.original, *tuple);
                    if e.timeout_left_ns > 0 || !e.confirmed {
                        prop_assert_eq!(ct.lookup_tuple(tuple).map(|x| x.0), Some(*h));
                    }
                }
            }
            if let Err(msg) = ct.audit() {
                prop_assert!(false, "{}", msg);
            }
        }
    }
}
