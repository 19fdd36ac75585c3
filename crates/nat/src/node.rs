//! The NAT nodes, one at each end of the router:
//!
//! | hook | node | does |
//! |---|---|---|
//! | prerouting, after the raw chains, before conntrack | `nat-in` | destination translation (outside → inside) of packets to an outside address, whatever port they came in by; for those, hairpinning: an inside source gets its outside address too; an ICMP error's quoted source the same way |
//! | postrouting, after the confirm node (last) | `nat-out` | source translation (inside → outside) of packets leaving through the rule's outside interface; an ICMP error's quoted destination the same way |
//!
//! Why there: conntrack, the route lookup and the forward chains all see
//! the inside addresses, both ways (nftables' `dnat` at prerouting priority
//! -100 and `snat` at postrouting 100 do the same for Linux's filter
//! chains), so one connection entry covers a translated flow and rules
//! are written against the hosts' real addresses. `ct status dnat` /
//! `snat` match what these nodes did to the packet.
//!
//! Reads `info` (family, addresses, protocol, offsets), `egress.iface`
//! (`nat-out`); rewrites the frame's addresses and checksums in place and
//! updates `info` to match; sets `ct.status` bits. Drops: NPTv6 packets it
//! cannot translate (`nat-untranslatable`).

use orbital_graph::{Burst, Entry, Features, NatMeta, Node, NodeCx, Note, Reason, Verdict};
use orbital_wire::{L3Kind, PacketInfo};

use crate::dynamic::{Cx, Done, NatState, translate_src};
use crate::policy::NatPolicy;
use crate::translate::{
    Map4, Npt, Side, Untranslatable, quoted_v4, quoted_v6, rewrite_quoted_v4, rewrite_v4,
    set_v6_addr_at, v6_addr_at,
};

/// `ct.status` bit: the destination was translated (`ct status dnat`).
pub const STATUS_DNAT: u8 = 1;
/// `ct.status` bit: the source was translated (`ct status snat`).
pub const STATUS_SNAT: u8 = 2;

// Trace note kinds.
const DNAT: u64 = 1;
const SNAT: u64 = 2;
const QUOTED: u64 = 3;
/// Note flag: the words hold one IPv6 address, not IPv4 pairs.
const V6: u64 = 1 << 63;
/// Note flag: a stateful translation, the words hold address:port pairs.
const SESSION: u64 = 1 << 62;

/// Formatter of the NAT nodes' trace notes. IPv4: the first word holds up
/// to two translation kinds (bits 0–1, 2–3) and the rule (bits 8–23); each
/// other word one translation, old address high, new low. IPv6: the kind,
/// the rule, and the new address in the other two words.
fn nat_note(d: &[u64; 3]) -> String {
    let rule = (d[0] >> 8) & 0xffff;
    if d[0] & SESSION != 0 {
        let ep = |x: u64| {
            format!(
                "{}:{}",
                std::net::Ipv4Addr::from_bits((x >> 16) as u32),
                x as u16
            )
        };
        let what = match d[0] & 3 {
            1 => "snat",
            2 => "dnat",
            _ => "hairpin: dnat",
        };
        return format!("{what} {} -> {} (NAT session)", ep(d[1]), ep(d[2]));
    }
    if d[0] & V6 != 0 {
        let a = std::net::Ipv6Addr::from_bits((u128::from(d[1]) << 64) | u128::from(d[2]));
        let what = match d[0] & 3 {
            DNAT => "destination",
            SNAT => "source",
            _ => "quoted address",
        };
        return format!("NPTv6 {what} -> {a} (static rule {})", rule + 1);
    }
    let ip = |x: u64| std::net::Ipv4Addr::from_bits(x as u32);
    let mut parts = Vec::new();
    for (k, pair) in [(d[0] & 3, d[1]), ((d[0] >> 2) & 3, d[2])] {
        let what = match k {
            DNAT => "dnat",
            SNAT => "snat",
            QUOTED => "ICMP error: quoted",
            _ => continue,
        };
        parts.push(format!("{what} {} -> {}", ip(pair >> 32), ip(pair)));
    }
    let hairpin = if d[0] & 0xf == DNAT | (SNAT << 2) {
        "hairpin: "
    } else {
        ""
    };
    format!("{hairpin}{} (static rule {})", parts.join("; "), rule + 1)
}

/// What a node did to one IPv4 packet, for its trace note: the first two
/// translations (a third, a hairpinned ICMP error's quote, goes unsaid).
#[derive(Debug, Default, Clone, Copy)]
struct Did {
    n: u8,
    kinds: u64,
    pairs: [u64; 2],
    rule: usize,
}

impl Did {
    fn add(&mut self, kind: u64, rule: usize, old: u32, new: u32) {
        if self.n == 0 {
            self.rule = rule;
        }
        if let Some(p) = self.pairs.get_mut(usize::from(self.n)) {
            *p = (u64::from(old) << 32) | u64::from(new);
            self.kinds |= kind << (2 * self.n);
            self.n += 1;
        }
    }

    fn note(&self) -> Option<Note> {
        (self.n > 0).then_some(Note {
            data: [
                self.kinds | ((self.rule as u64) << 8),
                self.pairs[0],
                self.pairs[1],
            ],
            fmt: nat_note,
        })
    }
}

/// The note of a stateful translation: the tuple before and after.
fn session_note(before: (u32, u16, u32, u16), info: &PacketInfo) -> Note {
    let pack = |a: u32, p: u16| (u64::from(a) << 16) | u64::from(p);
    let (s, sp, d, dp) = before;
    let (ns, nsp, nd, ndp) = (
        info.src as u32,
        info.src_port,
        info.dst as u32,
        info.dst_port,
    );
    // Which side changed (both: hairpinning).
    let kind = u64::from(s != ns || sp != nsp) | (u64::from(d != nd || dp != ndp) << 1);
    let (a, b) = if kind == 1 {
        (pack(s, sp), pack(ns, nsp))
    } else {
        (pack(d, dp), pack(nd, ndp))
    };
    Note {
        data: [kind | SESSION, a, b],
        fmt: nat_note,
    }
}

fn note6(kind: u64, rule: usize, a: u128) -> Note {
    Note {
        data: [kind | V6 | ((rule as u64) << 8), (a >> 64) as u64, a as u64],
        fmt: nat_note,
    }
}

/// The NAT part of a graph's policy.
#[inline]
fn nat<P: AsRef<NatPolicy>>(p: &P) -> &NatPolicy {
    p.as_ref()
}

/// Rewrite the IPv4 address on `side` when `find` has a translation for
/// it: (old, new, rule).
#[inline]
fn outer4(
    p: &mut [u8],
    info: &mut PacketInfo,
    side: Side,
    find: impl Fn(u32) -> Option<(Map4, usize)>,
) -> Option<(u32, u32, usize)> {
    let a = match side {
        Side::Src => info.src,
        Side::Dst => info.dst,
    } as u32;
    let (m, r) = find(a)?;
    let new = m.apply(a);
    rewrite_v4(p, info, side, new)?;
    Some((a, new, r))
}

/// Rewrite the address on `side` of the header an ICMPv4 error quotes
/// when `find` has a translation for it: (old, new, rule).
#[inline]
fn quoted4(
    p: &mut [u8],
    info: &PacketInfo,
    side: Side,
    find: impl Fn(u32) -> Option<(Map4, usize)>,
) -> Option<(u32, u32, usize)> {
    let (q, inner) = quoted_v4(p, info, side)?;
    let (m, r) = find(q)?;
    rewrite_quoted_v4(p, info, inner, side, m.apply(q)).then_some((q, m.apply(q), r))
}

/// Rewrite the IPv6 address on `side` when `find` has a translation for
/// it: (new, rule).
#[inline]
fn outer6(
    p: &mut [u8],
    info: &mut PacketInfo,
    side: Side,
    find: impl Fn(u128) -> Option<(Npt, usize)>,
) -> Result<Option<(u128, usize)>, Untranslatable> {
    let a = match side {
        Side::Src => info.src,
        Side::Dst => info.dst,
    };
    let Some((n, r)) = find(a) else {
        return Ok(None);
    };
    let new = n.apply(a)?;
    if !set_v6_addr_at(p, usize::from(info.l3_offset), side, new) {
        return Ok(None);
    }
    match side {
        Side::Src => info.src = new,
        Side::Dst => info.dst = new,
    }
    Ok(Some((new, r)))
}

/// Rewrite the address on `side` of the header an ICMPv6 error quotes when
/// `find` has a translation for it (checksum-neutral: the ICMPv6 checksum
/// over the quote stays right): (new, rule).
#[inline]
fn quoted6(
    p: &mut [u8],
    info: &PacketInfo,
    side: Side,
    find: impl Fn(u128) -> Option<(Npt, usize)>,
) -> Option<(u128, usize)> {
    let inner = quoted_v6(p, info)?;
    let q = v6_addr_at(p, inner, side)?;
    let (n, r) = find(q)?;
    let new = n.apply(q).ok()?;
    set_v6_addr_at(p, inner, side, new).then_some((new, r))
}

/// What the stateful NAT needs of a node's context.
fn stateful_cx<'a, P>(cx: &NodeCx<'a, P>) -> Cx<'a> {
    Cx {
        now: cx.now_ns,
        worker: cx.worker,
        workers: cx.workers,
        rss: cx.rss,
        reta: cx.reta,
    }
}

/// Destination translation at prerouting (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct NatIn;

/// Source translation at postrouting (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct NatOut;

impl<F: Features> Node<F> for NatIn
where
    F::Policy: AsRef<NatPolicy>,
    F::State: AsMut<NatState>,
{
    fn name(&self) -> &'static str {
        "nat-in"
    }

    fn active(&self, cx: &NodeCx<'_, F::Policy>) -> bool {
        nat::<F::Policy>(&cx.snap.policy).active()
    }

    fn run(&mut self, state: &mut F::State, cx: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        let snap = cx.snap;
        let nat = nat::<F::Policy>(&snap.policy);
        let Some(counters) = nat.counters.get(usize::from(cx.worker)) else {
            return;
        };
        let st = state.as_mut();
        let stateful = nat.stateful();
        if stateful {
            st.follow(nat, usize::from(cx.worker), cx.rss);
        }
        let dcx = stateful_cx(cx);
        if stateful {
            let ctx = &*b.ctx;
            st.warm(
                b.sel
                    .iter()
                    .filter_map(|&i| ctx.get(usize::from(i)))
                    .filter(|c| c.info.l3 == L3Kind::Ipv4)
                    .map(|c| &c.info),
                false,
            );
        }
        let in4 = |a| nat.in_v4(a).map(|(m, _, r)| (m, r));
        let out4 = |a| nat.out_v4(a).map(|(m, _, r)| (m, r));
        let in6 = |a| nat.in_v6(a).map(|(m, _, r)| (m, r));
        let out6 = |a| nat.out_v6(a).map(|(m, _, r)| (m, r));
        for &i in b.sel {
            let Some((p, c)) = b.at(i) else { continue };
            match c.info.l3 {
                L3Kind::Ipv4 => {
                    let mut did = Did::default();
                    if let Some((old, new, r)) = outer4(p, &mut c.info, Side::Dst, in4) {
                        counters.translated_in(r);
                        c.ct.status |= STATUS_DNAT;
                        did.add(DNAT, r, old, new);
                        // Hairpinning (RFC 4787 REQ-9): an inside host
                        // reaching another's outside address is seen from
                        // its outside address, as the Internet sees it, so
                        // the answer comes back through the router too.
                        // Decided here, done at postrouting (`PacketCtx::nat`).
                        let src = c.info.src as u32;
                        if let Some((m, r)) = out4(src) {
                            counters.translated_out(r);
                            c.nat = NatMeta {
                                pending: true,
                                src: m.apply(src),
                                sport: c.info.src_port,
                            };
                            did.add(SNAT, r, src, m.apply(src));
                        }
                    }
                    // An error about a packet translated on its way out
                    // quotes its outside source.
                    if let Some((old, new, r)) = quoted4(p, &c.info, Side::Src, in4) {
                        did.add(QUOTED, r, old, new);
                    }
                    if did.n == 0 && stateful {
                        let before = (
                            c.info.src as u32,
                            c.info.src_port,
                            c.info.dst as u32,
                            c.info.dst_port,
                        );
                        let waiting = st.frags.ready.len();
                        let done = st.inbound(p, c, nat, &dcx);
                        // Fragments that waited for this one leave as its
                        // consequences, after it (replay orders by cause).
                        for (k, w) in st.frags.ready[waiting..].iter_mut().enumerate() {
                            w.meta.seq = p.meta.seq;
                            w.meta.sub = p.meta.sub.saturating_add(1 + k as u16);
                        }
                        match done {
                            Done::Translated if c.traced => {
                                cx.note(i, session_note(before, &c.info));
                            }
                            Done::Hold(key) => {
                                // Copied out: it comes back through the
                                // graph when its first fragment has come.
                                c.verdict = if st.frags.hold(key, p, p.meta, *c, cx.now_ns) {
                                    Verdict::Consumed
                                } else {
                                    Verdict::Drop(Reason::NatFragment.into())
                                };
                                if c.traced {
                                    cx.note(
                                        i,
                                        Note {
                                            data: [u64::from(key.ident), 0, 0],
                                            fmt: |d| {
                                                format!(
                                                    "fragment (id {}) held until its first fragment comes",
                                                    d[0]
                                                )
                                            },
                                        },
                                    );
                                }
                            }
                            _ => {}
                        }
                        continue;
                    }
                    if c.traced
                        && let Some(n) = did.note()
                    {
                        cx.note(i, n);
                    }
                }
                L3Kind::Ipv6 => {
                    match outer6(p, &mut c.info, Side::Dst, in6) {
                        Ok(Some((new, r))) => {
                            counters.translated_in(r);
                            c.ct.status |= STATUS_DNAT;
                            if c.traced {
                                cx.note(i, note6(DNAT, r, new));
                            }
                            if let Ok(Some((_, r))) = outer6(p, &mut c.info, Side::Src, out6) {
                                counters.translated_out(r);
                                c.ct.status |= STATUS_SNAT;
                            }
                        }
                        Ok(None) => {}
                        Err(Untranslatable) => {
                            counters.untranslatable();
                            c.verdict = Verdict::Drop(Reason::NatUntranslatable.into());
                            continue;
                        }
                    }
                    if let Some((new, r)) = quoted6(p, &c.info, Side::Src, in6)
                        && c.traced
                    {
                        cx.note(i, note6(QUOTED, r, new));
                    }
                }
                _ => {}
            }
        }
        // Held fragments whose first fragment came: through the graph
        // again, from prerouting, as received.
        for w in st.frags.ready.drain(..) {
            let Some(mut pkt) = cx.cache.alloc() else {
                st.frags.dropped += 1;
                continue;
            };
            if !pkt.extend_from_slice(&w.frame) {
                cx.cache.free(pkt);
                st.frags.dropped += 1;
                continue;
            }
            pkt.meta = w.meta;
            pkt.meta.timestamp_ns = cx.now_ns;
            let mut ctx = w.ctx;
            ctx.verdict = Verdict::Continue;
            if let Err(pkt) = cx.emit(Entry::Prerouting, pkt, ctx) {
                cx.cache.free(pkt);
                st.frags.dropped += 1;
            }
        }
    }
}

impl<F: Features> Node<F> for NatOut
where
    F::Policy: AsRef<NatPolicy>,
    F::State: AsMut<NatState>,
{
    fn name(&self) -> &'static str {
        "nat-out"
    }

    fn active(&self, cx: &NodeCx<'_, F::Policy>) -> bool {
        nat::<F::Policy>(&cx.snap.policy).active()
    }

    fn run(&mut self, state: &mut F::State, cx: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        let snap = cx.snap;
        let nat = nat::<F::Policy>(&snap.policy);
        let Some(counters) = nat.counters.get(usize::from(cx.worker)) else {
            return;
        };
        let st = state.as_mut();
        let stateful = nat.stateful();
        if stateful {
            st.follow(nat, usize::from(cx.worker), cx.rss);
        }
        let dcx = stateful_cx(cx);
        if stateful {
            let ctx = &*b.ctx;
            st.warm(
                b.sel
                    .iter()
                    .filter_map(|&i| ctx.get(usize::from(i)))
                    .filter(|c| {
                        c.info.l3 == L3Kind::Ipv4 && !c.nat.pending && nat.outside(c.egress.iface)
                    })
                    .map(|c| &c.info),
                true,
            );
        }
        for &i in b.sel {
            let Some((p, c)) = b.at(i) else { continue };
            // Only packets leaving by the rule's outside interface.
            let oif = c.egress.iface;
            let out4 = |a| {
                nat.out_v4(a)
                    .filter(|&(_, f, _)| f == oif)
                    .map(|(m, _, r)| (m, r))
            };
            let out6 = |a| {
                nat.out_v6(a)
                    .filter(|&(_, f, _)| f == oif)
                    .map(|(m, _, r)| (m, r))
            };
            match c.info.l3 {
                L3Kind::Ipv4 if c.nat.pending => {
                    // Hairpinned at prerouting: the source it decided.
                    let before = (
                        c.info.src as u32,
                        c.info.src_port,
                        c.info.dst as u32,
                        c.info.dst_port,
                    );
                    translate_src(p, &mut c.info, c.nat.src, c.nat.sport);
                    c.nat.pending = false;
                    c.ct.status |= STATUS_SNAT;
                    if c.traced {
                        cx.note(i, session_note(before, &c.info));
                    }
                }
                L3Kind::Ipv4 => {
                    let mut did = Did::default();
                    if let Some((old, new, r)) = outer4(p, &mut c.info, Side::Src, out4) {
                        counters.translated_out(r);
                        c.ct.status |= STATUS_SNAT;
                        did.add(SNAT, r, old, new);
                    }
                    // An error about a packet translated on its way in
                    // (ours or an inside host's) quotes its inside
                    // destination.
                    if let Some((old, new, r)) = quoted4(p, &c.info, Side::Dst, out4) {
                        did.add(QUOTED, r, old, new);
                    }
                    if did.n == 0 && stateful && nat.outside(oif) {
                        let before = (
                            c.info.src as u32,
                            c.info.src_port,
                            c.info.dst as u32,
                            c.info.dst_port,
                        );
                        if st.outbound(p, c, nat, &dcx) == Done::Translated && c.traced {
                            cx.note(i, session_note(before, &c.info));
                        }
                        continue;
                    }
                    if c.traced
                        && let Some(n) = did.note()
                    {
                        cx.note(i, n);
                    }
                }
                L3Kind::Ipv6 => {
                    match outer6(p, &mut c.info, Side::Src, out6) {
                        Ok(Some((new, r))) => {
                            counters.translated_out(r);
                            c.ct.status |= STATUS_SNAT;
                            if c.traced {
                                cx.note(i, note6(SNAT, r, new));
                            }
                        }
                        Ok(None) => {}
                        Err(Untranslatable) => {
                            counters.untranslatable();
                            c.verdict = Verdict::Drop(Reason::NatUntranslatable.into());
                            continue;
                        }
                    }
                    if let Some((new, r)) = quoted6(p, &c.info, Side::Dst, out6)
                        && c.traced
                    {
                        cx.note(i, note6(QUOTED, r, new));
                    }
                }
                _ => {}
            }
        }
    }
}
