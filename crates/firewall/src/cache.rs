//! The flow verdict cache: what the forward hook's chains decided for an
//! established connection, kept in its conntrack entry (one word per
//! direction), so the connection's later packets skip the key and the
//! classifier — the classifier costs hundreds of instructions a packet
//! with a thousand rules, a cache hit a dozen.
//!
//! pf, VPP's ACL plugin and Linux's flowtables skip the rules for
//! established connections altogether, which changes what the rules mean
//! (a later `drop` of an address no longer ends its connections). This
//! cache does not: it answers only when the full evaluation would give the
//! same answer, and counts the same rule. That holds because a hook is
//! cacheable only when every rule its chains can reach reads fields that
//! are constant for one direction of one established connection, given the
//! input and output interface:
//!
//! - addresses, family, protocol, ports, ICMP type and code — fixed by the
//!   conntrack tuple the packet matched (for TCP, UDP, ICMP and ICMPv6;
//!   other protocols' entries do not cover ports, so they are never
//!   cached);
//! - `ct state`, which must be `new` or `established` (a connection's
//!   original direction is `new` until the first reply), is stored in the
//!   word and compared;
//! - `iif` and `oif`, which are stored in the word and compared.
//!
//! Rules reading per-packet fields (TCP flags, length, DSCP, fragment, VLAN,
//! physical ports, `ct status`) or acting per packet (`limit`, `log`,
//! `notrack`), `jump`/`goto`/`return`, or more than one base chain at the
//! hook make it uncacheable; so does an evaluation in which more than the
//! deciding rule matched (a `counter` rule on the way must be counted). The
//! word is valid only under the policy version the entry was last checked
//! against ([`orbital_conntrack::ConnTrack::cached_verdict`]), and moving
//! the entry to a new version (the re-check) forgets it.
//!
//! The word: bits 0–14 the deciding rule's index in its chain plus one
//! (`0x7fff`: the chain's policy), bit 15 set for `established` (clear for
//! `new`), bits 16–23 `iif`, bits 24–31 `oif`; 0 is no verdict.
//! Interfaces 255 and up, and chains of 32,766 rules or more, are not
//! cached.

use crate::policy::FirewallPolicy;
use crate::rules::{Field, Policy, Ruleset, Verdict};

/// The word's rule value for "the chain's policy decided".
const POLICY: u32 = 0x7fff;

/// Fields that may differ between packets of one direction of one
/// established connection with the same interfaces.
const VARYING: [Field; 9] = [
    Field::Iport,
    Field::Oport,
    Field::Ivlan,
    Field::Ovlan,
    Field::TcpFlags,
    Field::CtStatus,
    Field::Dscp,
    Field::Length,
    Field::Frag,
];

/// Is the hook with base chains `hooked` (the first `raw` of them before
/// conntrack) cacheable under the rules of `rs`?
pub(crate) fn cacheable(rs: &Ruleset, hooked: &[u32], raw: usize) -> bool {
    let [c] = hooked else {
        return false;
    };
    if raw != 0 {
        return false;
    }
    let Some(chain) = rs.chains.get(*c as usize) else {
        return false;
    };
    chain.rules.len() < POLICY as usize - 1
        && chain.rules.iter().all(|r| {
            r.limit.is_none()
                && r.log.is_none()
                && !r.notrack
                && !matches!(
                    r.verdict,
                    Some(Verdict::Jump(_) | Verdict::Goto(_) | Verdict::Return)
                )
                && r.matches.iter().all(|m| !VARYING.contains(&m.field))
                && r.tuples
                    .iter()
                    .all(|t| t.fields.iter().all(|f| !VARYING.contains(f)))
        })
}

/// May a packet of protocol `proto` use the cache (does its conntrack
/// tuple cover every flow field of the key)?
#[inline]
pub(crate) const fn covered(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 1 | 58)
}

/// The bits of a word that say what it was cached for: `ct state`
/// (`established` or not), `iif`, `oif`.
#[inline]
const fn context(established: bool, iif: u32, oif: u32) -> u32 {
    (established as u32) << 15 | iif << 16 | oif << 24
}

/// The word for a decision by `rule` (index in its chain plus one; 0: the
/// chain's policy) for a packet in `ct state` established (else new) from
/// `iif` to `oif`; `None` when it cannot be encoded.
#[inline]
pub(crate) fn encode(rule: u32, established: bool, iif: u32, oif: u32) -> Option<u32> {
    let r = if rule == 0 { POLICY } else { rule };
    (r <= POLICY && iif < 0xff && oif < 0xff).then_some(r | context(established, iif, oif))
}

/// What word `w` says for a packet in `ct state` established (else new)
/// from `iif` to `oif` at the hook whose one base chain is `chain`: the
/// verdict, the deciding rule's global id (`None` for the policy) and its
/// index in the chain plus one; `None` when the word is empty or was
/// cached for another state or other interfaces.
#[inline]
pub(crate) fn decode(
    p: &FirewallPolicy,
    chain: u32,
    w: u32,
    established: bool,
    iif: u32,
    oif: u32,
) -> Option<(crate::eval::Decision, Option<u32>, u32)> {
    use crate::eval::Decision;
    if w == 0 || w & !POLICY != context(established, iif, oif) {
        return None;
    }
    let r = w & POLICY;
    let ch = p.chains.get(chain as usize)?;
    if r == POLICY {
        let d = match ch.base.map_or(Policy::Accept, |b| b.2) {
            Policy::Accept => Decision::Accept,
            Policy::Drop => Decision::PolicyDrop,
        };
        return Some((d, None, 0));
    }
    let gid = ch.first_rule + r - 1;
    let d = match p.rules.get(gid as usize)?.verdict? {
        Verdict::Accept => Decision::Accept,
        Verdict::Drop => Decision::Drop,
        Verdict::Reject(w) => Decision::Reject(w),
        Verdict::Jump(_) | Verdict::Goto(_) | Verdict::Return => return None,
    };
    Some((d, Some(gid), r))
}
