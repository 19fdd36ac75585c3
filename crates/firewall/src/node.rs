//! The firewall's nodes, and the feature set that places them at the
//! hooks (nftables' priorities written down as tuple order):
//!
//! | hook | nodes |
//! |---|---|
//! | prerouting | `fw-raw-prerouting` (chains below conntrack's priority), `ct-in`, `fw-prerouting` |
//! | input | `fw-input`, `ct-confirm-input` |
//! | forward | `fw-forward` |
//! | output | `fw-raw-output`, `ct-out`, `fw-output` |
//! | postrouting | `fw-postrouting`, `ct-confirm` |
//!
//! A node with nothing to do under the snapshot (no chain at its hook, no
//! rule reading conntrack state) is inactive, so a firewall with input
//! rules only leaves forwarding on the fused fast path.

use std::sync::{Arc, Mutex};

use orbital_buf::MAX_BURST;
use orbital_conntrack::{Confirm, ConnTrack, CtConfig, CtDrop, CtHandle, CtState, Dir, l4_bytes};
use orbital_graph::ratelimit::TokenBucket;
use orbital_graph::verdict::CtMeta;
use orbital_graph::{Burst, Features, Hooks, Node, NodeCx, Note, Reason, Verdict};

use crate::eval::{Decider, Decision, Effects, Evaluator};
use crate::expand::KEY_LEN;
use crate::key;
use crate::log::{LogQueue, LogRecord};
use crate::policy::FirewallPolicy;
use crate::reject;
use crate::rules::{FwHook, ct_state};

/// What the snapshot carries for the firewall.
#[derive(Debug, Default)]
pub struct EdgePolicy {
    /// The compiled rules.
    pub firewall: FirewallPolicy,
    /// Connection tracking's settings (sizes: a change needs a restart).
    pub conntrack: CtConfig,
    /// Where `log` statements write (kept across reloads).
    pub log: Arc<LogQueue>,
    /// Per worker, where readers ask for a copy of its connection table
    /// (kept across reloads: the workers hold them).
    pub ct_views: Vec<Arc<CtView>>,
}

impl EdgePolicy {
    /// A policy for `workers` workers with fresh log queue and table views.
    pub fn new(firewall: FirewallPolicy, conntrack: CtConfig, workers: usize) -> EdgePolicy {
        EdgePolicy {
            firewall,
            conntrack,
            log: Arc::default(),
            ct_views: (0..workers.max(1)).map(|_| Arc::default()).collect(),
        }
    }

    /// The next version: new rules, the same log queue and views.
    pub fn with_firewall(&self, firewall: FirewallPolicy) -> EdgePolicy {
        EdgePolicy {
            firewall,
            conntrack: self.conntrack,
            log: self.log.clone(),
            ct_views: self.ct_views.clone(),
        }
    }
}

impl AsRef<EdgePolicy> for EdgePolicy {
    fn as_ref(&self) -> &EdgePolicy {
        self
    }
}

/// The firewall's part of a graph's policy.
#[inline]
fn edge<P: AsRef<EdgePolicy>>(p: &P) -> &EdgePolicy {
    p.as_ref()
}

/// Logged packets per second per worker.
const LOG_RATE: u64 = 100;
/// Rejects answered per second per worker (ICMP errors are rate-limited by
/// RFC 1812 §4.3.2.8; a reset storm is no better).
const REJECT_RATE: u64 = 1000;

/// One worker's firewall state.
#[derive(Debug)]
pub struct EdgeState {
    /// Its connection table.
    pub ct: ConnTrack,
    worker: usize,
    log_bucket: TokenBucket,
    reject_bucket: TokenBucket,
    keys: Vec<u32>,
    first: Vec<u32>,
    /// The burst's flow hashes (conntrack's lookup stages share them).
    hashes: Vec<Option<orbital_conntrack::FlowHash>>,
    /// Handle of the listing readers' requests (see [`CtView`]).
    pub view: Arc<CtView>,
    summary_at: u64,
}

impl AsMut<EdgeState> for EdgeState {
    fn as_mut(&mut self) -> &mut EdgeState {
        self
    }
}

/// What the API may read of a worker's connection table: a copy the worker
/// refreshes when asked (the table itself is the worker's alone).
#[derive(Debug, Default)]
pub struct CtView {
    /// Set by a reader, cleared by the worker when it has answered.
    pub wanted: std::sync::atomic::AtomicBool,
    /// The worker's last answer: the summary and up to [`CT_LIST_MAX`]
    /// entries.
    pub answer: Mutex<Option<CtListing>>,
    /// The worker's table summary, refreshed about once a second of engine
    /// time (what metrics read without waiting), with its time.
    pub summary: Mutex<Option<(u64, orbital_conntrack::CtSummary)>>,
}

/// Entries copied per listing.
pub const CT_LIST_MAX: usize = 10_000;

/// A worker's copy of its table for readers.
#[derive(Debug, Clone)]
pub struct CtListing {
    /// Counts, fill, evictions.
    pub summary: orbital_conntrack::CtSummary,
    /// Entries (at most [`CT_LIST_MAX`]).
    pub entries: Vec<orbital_conntrack::CtEntry>,
    /// Engine time of the copy.
    pub now_ns: u64,
}

impl EdgeState {
    /// A worker's state for `policy`.
    pub fn new(worker: usize, workers: usize, policy: &EdgePolicy) -> EdgeState {
        let w = workers.max(1) as u64;
        EdgeState {
            ct: ConnTrack::new(policy.conntrack),
            worker,
            log_bucket: TokenBucket::new(LOG_RATE.div_ceil(w), LOG_RATE.div_ceil(w)),
            reject_bucket: TokenBucket::new(REJECT_RATE.div_ceil(w), REJECT_RATE.div_ceil(w)),
            keys: vec![0; MAX_BURST * KEY_LEN],
            first: vec![0; MAX_BURST],
            hashes: vec![None; MAX_BURST],
            view: policy.ct_views.get(worker).cloned().unwrap_or_default(),
            summary_at: 0,
        }
    }
}

/// Registry of chain names, for trace notes (a note holds numbers; its
/// formatter runs with no policy at hand). Grows by distinct names only.
static CHAIN_NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

fn intern(name: &str) -> u64 {
    let mut v = CHAIN_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = v.iter().position(|n| *n == name) {
        return i as u64;
    }
    v.push(Box::leak(name.to_string().into_boxed_str()));
    (v.len() - 1) as u64
}

fn decision_code(d: Decision) -> u64 {
    match d {
        Decision::Accept => 0,
        Decision::Drop => 1,
        Decision::Reject(_) => 2,
        Decision::PolicyDrop => 3,
    }
}

/// Formatter of the filter nodes' trace notes.
fn fw_note(d: &[u64; 3]) -> String {
    let names = CHAIN_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let chain = names.get(d[0] as usize).copied().unwrap_or("?");
    let cached = if d[2] >> 8 != 0 {
        " (cached verdict of the connection)"
    } else {
        ""
    };
    let what = match d[2] & 0xff {
        0 => "accept",
        1 => "drop",
        2 => "reject",
        _ => "drop (policy)",
    };
    if d[1] == 0 || d[1] == 0xffff {
        format!("chain {chain}: no rule decided, {what}{cached}")
    } else {
        format!("chain {chain} rule {}: {what}{cached}", d[1])
    }
}

/// A filter node: the base chains at one hook (those before conntrack's
/// priority, or those after).
#[derive(Debug, Clone, Copy)]
pub struct Filter {
    hook: FwHook,
    raw: bool,
}

impl Filter {
    /// The node for `hook` (`raw`: the chains before connection tracking).
    pub const fn new(hook: FwHook, raw: bool) -> Filter {
        Filter { hook, raw }
    }
}

impl<F: Features> Node<F> for Filter
where
    F::Policy: AsRef<EdgePolicy>,
    F::State: AsMut<EdgeState>,
{
    fn name(&self) -> &'static str {
        match (self.hook, self.raw) {
            (FwHook::Prerouting, true) => "fw-raw-prerouting",
            (FwHook::Output, true) => "fw-raw-output",
            (FwHook::Prerouting, false) => "fw-prerouting",
            (FwHook::Input, _) => "fw-input",
            (FwHook::Forward, _) => "fw-forward",
            (FwHook::Output, false) => "fw-output",
            (FwHook::Postrouting, _) => "fw-postrouting",
        }
    }

    fn active(&self, cx: &NodeCx<'_, F::Policy>) -> bool {
        edge::<F::Policy>(&cx.snap.policy)
            .firewall
            .filters(self.hook, self.raw)
    }

    fn run(&mut self, state: &mut F::State, cx: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        let snap = cx.snap;
        let edge: &EdgePolicy = edge::<F::Policy>(&snap.policy);
        let fw = &edge.firewall;
        let st = state.as_mut();
        let all = fw.at(self.hook);
        let h = FwHook::ALL
            .iter()
            .position(|x| *x == self.hook)
            .unwrap_or(0);
        let chains = if self.raw {
            &all[..fw.raw[h]]
        } else {
            &all[fw.raw[h]..]
        };
        let Some(&first_chain) = chains.first() else {
            return;
        };
        let counters = fw.counters[st.worker % fw.counters.len().max(1)].clone();
        // Only forwarding uses the flow verdict cache: a connection's entry
        // has one word per direction, and forwarded traffic is where the
        // large rule sets are.
        let cache_on = !self.raw && self.hook == FwHook::Forward && fw.flow_cache[h];
        let sel = b.sel;
        let n = sel.len().min(MAX_BURST);
        // Cache hits are decided now; the rest get keys, then the first
        // chain's first segment for all of them at once (most packets are
        // decided there).
        let mut todo = [0u8; MAX_BURST];
        let mut nt = 0;
        for &i in sel.iter().take(n) {
            let (Some(p), Some(c)) = (b.pkts.get(usize::from(i)), b.ctx.get_mut(usize::from(i)))
            else {
                continue;
            };
            if cache_on
                && let Some(slot) = cache_slot(c)
                && let (iif, oif) = key::interfaces(c)
                && let Some((d, gid, rule)) = crate::cache::decode(
                    fw,
                    first_chain,
                    st.ct.cached_verdict(slot.0, slot.1, fw.generation),
                    c.ct.state == ct_state::ESTABLISHED,
                    iif,
                    oif,
                )
            {
                if let Some(g) = gid {
                    counters.hit(g, u64::from(c.info.l3_len));
                }
                counters.cache_hit();
                let who = Decider {
                    chain: first_chain,
                    rule,
                };
                self.finish(st, cx, edge, p, c, i, d, who, true);
                continue;
            }
            st.keys[nt * KEY_LEN..(nt + 1) * KEY_LEN].copy_from_slice(&key::of(p, c));
            todo[nt] = i;
            nt += 1;
        }
        let first_seg = fw
            .chains
            .get(first_chain as usize)
            .and_then(|c| c.segments.first());
        if let Some(s) = first_seg
            && nt > 0
        {
            s.classifier
                .classify_bulk(&st.keys[..nt * KEY_LEN], &mut st.first[..nt]);
        }
        for (k, &i) in todo.iter().enumerate().take(nt) {
            let (Some(p), Some(c)) = (b.pkts.get(usize::from(i)), b.ctx.get_mut(usize::from(i)))
            else {
                continue;
            };
            let mut kb = [0u32; KEY_LEN];
            kb.copy_from_slice(&st.keys[k * KEY_LEN..(k + 1) * KEY_LEN]);
            let hint = first_seg.map(|s| {
                let e = st.first[k];
                (e != orbital_classifier::NO_MATCH).then(|| s.classifier.value(e))
            });
            let bytes = u64::from(c.info.l3_len);
            let mut fx = Effects::default();
            let mut ev = Evaluator {
                policy: fw,
                counters: &counters,
                limits: &fw.limits,
                // Packet time, not poll time: exact in replay.
                now_ns: p.meta.timestamp_ns,
            };
            // A connection judged under an older policy: would this policy
            // let it start? (Original direction only: the reply direction
            // never starts a connection.)
            if !self.raw && c.ct.has(CtMeta::RECHECK) {
                c.ct.flags &= !CtMeta::RECHECK;
                if !c.ct.has(CtMeta::REPLY)
                    && c.ct.state & (ct_state::ESTABLISHED | ct_state::RELATED) != 0
                {
                    let mut as_new = kb;
                    as_new[crate::expand::scalar_word(crate::rules::Field::CtState).unwrap_or(0)] =
                        u32::from(ct_state::NEW);
                    let (d, _) = ev.hook(chains, &as_new, 0, None, &mut Effects::default());
                    let h = CtHandle::from_parts(c.ct.slot.wrapping_sub(1), c.ct.generation);
                    if matches!(d, Decision::Accept) {
                        st.ct.set_policy_version(h, fw.generation);
                    } else {
                        st.ct.remove(h);
                        c.verdict = Verdict::Drop(Reason::FwRecheck.into());
                        continue;
                    }
                }
            }
            let (d, who): (Decision, Decider) = ev.hook(chains, &kb, bytes, hint, &mut fx);
            // Only what a cache hit would repeat exactly: the deciding rule
            // (or the policy) alone matched, with no side effect.
            if cache_on
                && fx.matched == u32::from(who.rule != 0)
                && !fx.notrack
                && fx.log.is_none()
                && who.chain == first_chain
                && let Some((h, dir)) = cache_slot(c)
                && let (iif, oif) = key::interfaces(c)
                && let Some(w) =
                    crate::cache::encode(who.rule, c.ct.state == ct_state::ESTABLISHED, iif, oif)
            {
                st.ct.cache_verdict(h, dir, fw.generation, w);
            }
            if fx.notrack {
                c.ct.flags |= CtMeta::NOTRACK;
                c.ct.state = ct_state::UNTRACKED;
            }
            if let Some(rule) = fx.log
                && st.log_bucket.allow(cx.now_ns)
            {
                edge.log.push(LogRecord {
                    time_ns: p.meta.timestamp_ns,
                    worker: u16::try_from(st.worker).unwrap_or(u16::MAX),
                    hook: self.hook,
                    rule,
                    generation: fw.generation,
                    port: p.meta.port,
                    info: c.info,
                });
            }
            self.finish(st, cx, edge, p, c, i, d, who, false);
        }
    }
}

/// The connection entry and direction a packet may cache its verdict in:
/// a new or established packet (not up for a re-check) of a protocol whose
/// tuple covers the key's flow fields.
#[inline]
fn cache_slot(c: &orbital_graph::PacketCtx) -> Option<(CtHandle, Dir)> {
    (c.ct.slot != 0
        && (c.ct.state == ct_state::ESTABLISHED || c.ct.state == ct_state::NEW)
        && !c.ct.has(CtMeta::RECHECK)
        && crate::cache::covered(c.info.protocol))
    .then(|| {
        let dir = if c.ct.has(CtMeta::REPLY) {
            Dir::Reply
        } else {
            Dir::Original
        };
        (
            CtHandle::from_parts(c.ct.slot.wrapping_sub(1), c.ct.generation),
            dir,
        )
    })
}

impl Filter {
    /// Act on a decision: the trace note, the verdict, a reject's answer.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn finish<P>(
        &self,
        st: &mut EdgeState,
        cx: &mut NodeCx<'_, P>,
        edge: &EdgePolicy,
        p: &orbital_buf::Packet,
        c: &mut orbital_graph::PacketCtx,
        i: u8,
        d: Decision,
        who: Decider,
        cached: bool,
    ) {
        let fw = &edge.firewall;
        if c.traced {
            cx.note(
                i,
                Note {
                    data: [
                        fw.chains
                            .get(who.chain as usize)
                            .map_or(u64::MAX, |ch| intern(&ch.name)),
                        u64::from(who.rule),
                        decision_code(d) | u64::from(cached) << 8,
                    ],
                    fmt: fw_note,
                },
            );
        }
        let invalid = c.ct.state & ct_state::INVALID != 0;
        c.verdict = match d {
            Decision::Accept => return,
            Decision::Drop if invalid => Verdict::Drop(Reason::FwDropInvalid.into()),
            Decision::Drop => Verdict::Drop(Reason::FwDrop.into()),
            Decision::PolicyDrop => Verdict::Drop(Reason::FwPolicy.into()),
            Decision::Reject(with) => {
                if st.reject_bucket.allow(cx.now_ns) {
                    let snap_fib = &cx.snap.fib;
                    let c2 = *c;
                    reject::answer(cx, snap_fib, p, &c2, with);
                }
                Verdict::Drop(Reason::FwReject.into())
            }
        };
    }
}

/// The conntrack lookup node (prerouting for received packets, output for
/// the router's own): finds or creates each packet's connection and says
/// its state for the rules.
#[derive(Debug, Clone, Copy)]
pub struct Track {
    output: bool,
}

impl Track {
    /// At prerouting (`false`) or output (`true`).
    pub const fn new(output: bool) -> Track {
        Track { output }
    }
}

/// The flow hash of the connection an ICMP error quotes (the symmetric
/// Toeplitz hash the NIC gave that connection's packets), or `None` when
/// the packet is not an ICMP error or quotes too little. An error's own
/// hash covers its addresses only, so it may land on another worker than
/// its connection: this says which worker owns it.
fn quoted_flow_hash(
    rss: &orbital_graph::rss::Toeplitz,
    info: &orbital_wire::PacketInfo,
    l4: &[u8],
) -> Option<u32> {
    let v6 = match (info.protocol, info.icmp_type()) {
        (1, 3 | 4 | 5 | 11 | 12) => false,
        (58, 1..=4) => true,
        _ => return None,
    };
    let inner = l4.get(8..)?;
    let mut buf = [0u8; 36];
    let (n, proto, l4_at, frag) = if v6 {
        let h = inner.get(..40)?;
        buf[..32].copy_from_slice(&h[8..40]);
        (32, h[6], 40, false)
    } else {
        let h = inner.get(..20)?;
        if h[0] >> 4 != 4 {
            return None;
        }
        buf[..8].copy_from_slice(&h[12..20]);
        let frag = u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0;
        (8, h[9], usize::from(h[0] & 0x0f) * 4, frag)
    };
    let n = match (proto, inner.get(l4_at..l4_at + 4)) {
        (6 | 17 | 132, Some(ports)) if !frag => {
            buf[n..n + 4].copy_from_slice(ports);
            n + 4
        }
        _ => n,
    };
    Some(rss.hash(&buf[..n]))
}

fn state_bit(s: CtState) -> u8 {
    match s {
        CtState::New => ct_state::NEW,
        CtState::Established => ct_state::ESTABLISHED,
        CtState::Related => ct_state::RELATED,
        CtState::Invalid(_) => ct_state::INVALID,
        CtState::Untracked => ct_state::UNTRACKED,
    }
}

impl<F: Features> Node<F> for Track
where
    F::Policy: AsRef<EdgePolicy>,
    F::State: AsMut<EdgeState>,
{
    fn name(&self) -> &'static str {
        if self.output { "ct-out" } else { "ct-in" }
    }

    fn active(&self, cx: &NodeCx<'_, F::Policy>) -> bool {
        edge::<F::Policy>(&cx.snap.policy).firewall.tracks
    }

    fn run(&mut self, state: &mut F::State, cx: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        let generation = edge::<F::Policy>(&cx.snap.policy).firewall.generation;
        let st = state.as_mut();
        let sel = b.sel;
        // Each packet hashed once; the table loads started a few packets
        // ahead (the bucket, then the entry), as the table's docs advise
        // for a burst.
        let n = sel.len().min(MAX_BURST);
        for (k, &i) in sel.iter().enumerate().take(n) {
            st.hashes[k] = b
                .ctx
                .get(usize::from(i))
                .and_then(|c| st.ct.flow_hash(&c.info));
            if k < 8
                && let Some(h) = &st.hashes[k]
            {
                st.ct.prefetch(h);
            }
        }
        for (k, &i) in sel.iter().enumerate().take(n) {
            if let Some(Some(h)) = st.hashes[..n].get(k + 8) {
                st.ct.prefetch(h);
            }
            if let Some(Some(h)) = st.hashes[..n].get(k + 4) {
                st.ct.prefetch_entry(h);
            }
            let (Some(p), Some(c)) = (b.pkts.get(usize::from(i)), b.ctx.get_mut(usize::from(i)))
            else {
                continue;
            };
            if c.ct.has(CtMeta::NOTRACK) {
                c.ct.state = ct_state::UNTRACKED;
                continue;
            }
            // An ICMP error belongs to the worker of the connection it
            // quotes (only there can it be `related`): hand it over.
            if cx.workers > 1 && !self.output {
                let l4 = l4_bytes(p, &c.info);
                if let Some(h) = quoted_flow_hash(cx.rss, &c.info, l4) {
                    let owner = cx.reta.worker(h);
                    if owner != usize::from(cx.worker) {
                        c.verdict = Verdict::Handoff {
                            worker: u16::try_from(owner).unwrap_or(0),
                            at: orbital_graph::Entry::Prerouting,
                        };
                        continue;
                    }
                }
            }
            let tr = st.ct.track_hashed(
                &c.info,
                l4_bytes(p, &c.info),
                cx.now_ns,
                generation,
                true,
                st.hashes[k],
            );
            c.ct.state = state_bit(tr.state);
            c.ct.flags = 0;
            if tr.dir == Dir::Reply {
                c.ct.flags |= CtMeta::REPLY;
            }
            if tr.recheck {
                c.ct.flags |= CtMeta::RECHECK;
            }
            // Bits 1 and 2 (dnat, snat) are the NAT nodes' to set: a
            // stateless translation at prerouting ran before this node.
            c.ct.status = (c.ct.status & 3)
                | if tr.state == CtState::Established {
                    4
                } else {
                    0
                };
            match tr.handle {
                Some(h) => {
                    c.ct.slot = h.index().wrapping_add(1);
                    c.ct.generation = h.generation();
                    if tr.state == CtState::New {
                        c.ct.flags |= CtMeta::UNCONFIRMED;
                    }
                }
                None => c.ct.slot = 0,
            }
            if let Some(d) = tr.drop {
                c.verdict = Verdict::Drop(
                    match d {
                        CtDrop::TableFull => Reason::CtTableFull,
                        CtDrop::InsertFailed => Reason::CtInsertFailed,
                    }
                    .into(),
                );
            }
        }
    }
}

/// The conntrack confirm node (the last node of input and postrouting):
/// connections whose packet got this far are kept.
#[derive(Debug, Clone, Copy)]
pub struct ConfirmNode {
    input: bool,
}

impl ConfirmNode {
    /// At input (`true`) or postrouting (`false`).
    pub const fn new(input: bool) -> ConfirmNode {
        ConfirmNode { input }
    }
}

impl<F: Features> Node<F> for ConfirmNode
where
    F::Policy: AsRef<EdgePolicy>,
    F::State: AsMut<EdgeState>,
{
    fn name(&self) -> &'static str {
        if self.input {
            "ct-confirm-input"
        } else {
            "ct-confirm"
        }
    }

    fn active(&self, cx: &NodeCx<'_, F::Policy>) -> bool {
        edge::<F::Policy>(&cx.snap.policy).firewall.tracks
    }

    fn drops(&self) -> bool {
        false
    }

    fn run(&mut self, state: &mut F::State, cx: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        let generation = edge::<F::Policy>(&cx.snap.policy).firewall.generation;
        let st = state.as_mut();
        for &i in b.sel {
            let (Some(p), Some(c)) = (b.pkts.get(usize::from(i)), b.ctx.get_mut(usize::from(i)))
            else {
                continue;
            };
            if !c.ct.has(CtMeta::UNCONFIRMED) || c.ct.slot == 0 {
                continue;
            }
            c.ct.flags &= !CtMeta::UNCONFIRMED;
            let h = CtHandle::from_parts(c.ct.slot - 1, c.ct.generation);
            if st.ct.confirm(h) == Confirm::Stale {
                // Held across bursts (neighbour resolution): its entry was
                // released meanwhile. Track it again and keep it.
                let tr = st
                    .ct
                    .track(&c.info, l4_bytes(p, &c.info), cx.now_ns, generation, true);
                if let Some(h) = tr.handle {
                    let _ = st.ct.confirm(h);
                }
            }
        }
    }
}

/// Garbage-collection work per poll (entries looked at).
const EXPIRE_BUDGET: usize = 64;

/// The edge router's features: the stateful firewall at the five hooks.
#[derive(Debug)]
pub struct Edge;

impl Features for Edge {
    type Policy = EdgePolicy;
    type State = EdgeState;
    type Prerouting = (Filter, Track, Filter);
    type Input = (Filter, ConfirmNode);
    type Forward = (Filter,);
    type Output = (Filter, Track, Filter);
    type Postrouting = (Filter, ConfirmNode);
    type Egress = ();

    fn hooks(worker: u16, workers: u16, policy: &EdgePolicy) -> Hooks<Self> {
        Hooks {
            state: EdgeState::new(usize::from(worker), usize::from(workers), policy),
            prerouting: (
                Filter::new(FwHook::Prerouting, true),
                Track::new(false),
                Filter::new(FwHook::Prerouting, false),
            ),
            input: (Filter::new(FwHook::Input, false), ConfirmNode::new(true)),
            forward: (Filter::new(FwHook::Forward, false),),
            output: (
                Filter::new(FwHook::Output, true),
                Track::new(true),
                Filter::new(FwHook::Output, false),
            ),
            postrouting: (
                Filter::new(FwHook::Postrouting, false),
                ConfirmNode::new(false),
            ),
            egress: (),
        }
    }

    fn end_burst(state: &mut EdgeState, _now_ns: u64) {
        state.ct.release_unconfirmed();
    }

    fn maintain(state: &mut EdgeState, now_ns: u64) -> usize {
        let n = state.ct.expire(now_ns, EXPIRE_BUDGET);
        let v = state.view.clone();
        if now_ns.saturating_sub(state.summary_at) >= 1_000_000_000 || state.summary_at == 0 {
            state.summary_at = now_ns.max(1);
            if let Ok(mut s) = v.summary.lock() {
                *s = Some((now_ns, state.ct.summary()));
            }
        }
        if v.wanted.load(std::sync::atomic::Ordering::Acquire) {
            let listing = CtListing {
                summary: state.ct.summary(),
                entries: state.ct.iter().take(CT_LIST_MAX).collect(),
                now_ns,
            };
            if let Ok(mut a) = v.answer.lock() {
                *a = Some(listing);
            }
            v.wanted.store(false, std::sync::atomic::Ordering::Release);
        }
        n
    }
}
