//! The node: one step of the per-burst path, like a VPP graph node.
//!
//! A node is a type implementing [`Node`], one per file. It documents what
//! packet metadata ([`PacketCtx`]) it reads and sets, owns its per-worker
//! state (`&mut self`: one instance per worker), names its drop reasons
//! (from [`crate::drop`]), and may leave a [`Note`] per traced packet with
//! a formatter of its own. It is given the packets its position selects
//! (the input arc: [`Position::selects`]), as indices into the burst, and a
//! [`NodeCx`] with the clock, the buffer cache, the snapshot, the flow hash
//! and indirection table, and a way to make packets ([`NodeCx::emit`]).
//!
//! The worker runs the nodes in a fixed order chosen at compile time
//! (static dispatch: generics, no `dyn` per packet or per burst). The
//! [`Runner`] around each node builds its selection, times it, counts the
//! packets it was given and the ones it dropped (a drop is counted once, at
//! the node that decided it), and records its trace step — so every node
//! has a `show runtime` row and a trace line without writing either.

use orbital_buf::{MAX_BURST, Packet, PoolCache};
use orbital_fib::l2::MacTable;

use crate::counters::NodeSnapshot;
use crate::features::Features;
use crate::rss::{Reta, Toeplitz};
use crate::snapshot::Snapshot;
use crate::trace::{Note, WorkerTrace};
use crate::verdict::{Entry, Origin, PacketCtx, PuntReason, Verdict};

// Burst indices are bytes.
const _: () = assert!(MAX_BURST <= 256);

/// The packets of a burst a node is given: the burst's packets and contexts
/// side by side, and the indices the node's position selected.
#[derive(Debug)]
pub struct Burst<'a> {
    /// Every packet of the burst.
    pub pkts: &'a mut [Packet],
    /// Their contexts.
    pub ctx: &'a mut [PacketCtx],
    /// Indices of the packets for this node, in burst order.
    pub sel: &'a [u8],
}

impl Burst<'_> {
    /// The packet and context at burst index `i` (from `sel`).
    #[inline]
    pub fn at(&mut self, i: u8) -> Option<(&mut Packet, &mut PacketCtx)> {
        let i = usize::from(i);
        Some((self.pkts.get_mut(i)?, self.ctx.get_mut(i)?))
    }
}

/// A packet a node made, with where it enters the graph.
#[derive(Debug)]
pub struct Emitted {
    /// The packet.
    pub pkt: Packet,
    /// Its context (`origin` says how it was made).
    pub ctx: PacketCtx,
    /// Where it enters.
    pub at: Entry,
}

/// Most packets the nodes of one poll may make (fragments, flood copies,
/// rejects). Bounded so a loop of nodes making packets cannot grow a
/// worker's memory; beyond it, making a packet fails and the maker counts
/// `created-overflow`.
pub const MAX_EMITTED: usize = 4 * MAX_BURST;

/// What a node may use besides the burst.
pub struct NodeCx<'a, P> {
    /// The snapshot of this poll: tables, policy, settings.
    pub snap: &'a Snapshot<P>,
    /// Engine time of this poll (virtual in replay), ns.
    pub now_ns: u64,
    /// This worker.
    pub worker: u16,
    /// Workers in the engine.
    pub workers: u16,
    /// The worker's buffers.
    pub cache: &'a mut PoolCache,
    /// The flow hasher a NIC would use (symmetric Toeplitz).
    pub rss: &'a Toeplitz,
    /// Hash → worker, as the NIC's RSS indirection table.
    pub reta: &'a Reta,
    /// The worker's bridge learning table (L2 learns into it; a routed
    /// packet leaving through a bridge interface finds its port in it).
    pub macs: &'a mut MacTable,
    pub(crate) emitted: &'a mut Vec<Emitted>,
    pub(crate) notes: &'a mut Vec<(u8, Note)>,
    pub(crate) tracing: bool,
}

impl<P> core::fmt::Debug for NodeCx<'_, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NodeCx")
            .field("version", &self.snap.version)
            .field("now_ns", &self.now_ns)
            .field("worker", &self.worker)
            .finish()
    }
}

impl<'a, P> NodeCx<'a, P> {
    /// A context over the given parts (the worker makes one per burst; tests
    /// make their own).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        snap: &'a Snapshot<P>,
        now_ns: u64,
        worker: u16,
        workers: u16,
        cache: &'a mut PoolCache,
        rss: &'a Toeplitz,
        reta: &'a Reta,
        macs: &'a mut MacTable,
        scratch: &'a mut Scratch,
    ) -> NodeCx<'a, P> {
        NodeCx {
            snap,
            now_ns,
            worker,
            workers,
            cache,
            rss,
            reta,
            macs,
            emitted: &mut scratch.emitted,
            notes: &mut scratch.notes,
            tracing: false,
        }
    }

    /// Hand a packet made by this node to the graph, entering at `at` after
    /// the current burst. The packet comes back when the poll's bound is
    /// reached (the caller frees it and counts `created-overflow`).
    ///
    /// # Errors
    /// The packet, when [`MAX_EMITTED`] packets were made this poll.
    pub fn emit(&mut self, at: Entry, pkt: Packet, ctx: PacketCtx) -> Result<(), Packet> {
        if self.emitted.len() >= MAX_EMITTED {
            return Err(pkt);
        }
        self.emitted.push(Emitted { pkt, ctx, at });
        Ok(())
    }

    /// Packets made so far this poll.
    pub fn emitted(&self) -> usize {
        self.emitted.len()
    }

    /// True when some packet of the burst is traced (a node writes notes
    /// only then).
    #[inline]
    pub fn tracing(&self) -> bool {
        self.tracing
    }

    /// Leave this node's note about the traced packet at burst index `i`.
    pub fn note(&mut self, i: u8, note: Note) {
        if self.tracing && self.notes.len() < MAX_BURST {
            self.notes.push((i, note));
        }
    }
}

/// Per-worker buffers the context lends out, kept between polls so nothing
/// is allocated per burst.
#[derive(Debug, Default)]
pub struct Scratch {
    emitted: Vec<Emitted>,
    notes: Vec<(u8, Note)>,
}

impl Scratch {
    /// Empty, with room for a poll's worth.
    pub fn new() -> Scratch {
        Scratch {
            emitted: Vec::with_capacity(MAX_EMITTED),
            notes: Vec::with_capacity(MAX_BURST),
        }
    }

    /// Take what the nodes made, leaving the storage.
    pub fn take_emitted(&mut self) -> std::vec::Drain<'_, Emitted> {
        self.emitted.drain(..)
    }

    /// Anything made and not yet taken.
    pub fn has_emitted(&self) -> bool {
        !self.emitted.is_empty()
    }
}

/// A processing step. One instance per worker; `&mut self` is its
/// per-worker state.
pub trait Node<F: Features>: Send {
    /// Its name: its row in `show runtime` and its trace lines.
    fn name(&self) -> &'static str;

    /// Whether it has work under this snapshot. A feature with no policy
    /// says no and costs one call per burst.
    #[inline]
    fn active(&self, _cx: &NodeCx<'_, F::Policy>) -> bool {
        true
    }

    /// Whether it ever drops a packet. A node that never does spares the
    /// runner the pass that counts its drops.
    #[inline]
    fn drops(&self) -> bool {
        true
    }

    /// Process the packets `b.sel`: set verdicts, rewrite headers, make
    /// packets. `state` is the per-worker state the graph's features share
    /// (a conntrack shard).
    fn run(&mut self, state: &mut F::State, cx: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>);
}

/// Where a node sits, which decides the packets it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Every received packet (the parse node).
    Rx,
    /// Not yet routed or bridged: L2, the prerouting hook, the route node.
    Receive,
    /// The input hook: packets for the router itself.
    Input,
    /// The forward hook: routed packets of others (received or resolved).
    Forward,
    /// The output hook: packets the router made.
    Output,
    /// The postrouting hook: every routed or router-made packet leaving.
    Postrouting,
    /// Routed packets of others leaving (the rewrite node: TTL, MACs).
    Rewrite,
    /// The egress hook and the egress node: everything leaving.
    Egress,
}

impl Position {
    /// Does a packet with context `c` go to a node at this position?
    #[inline]
    pub fn selects(self, c: &PacketCtx) -> bool {
        match self {
            // `matches!`, not `==`: the derived comparison of the verdict
            // compares payloads too, several instructions per packet per node.
            Position::Rx => {
                matches!(c.origin, Origin::Rx) && matches!(c.verdict, Verdict::Continue)
            }
            Position::Receive => matches!(c.verdict, Verdict::Continue),
            Position::Input => {
                matches!(c.verdict, Verdict::Punt(PuntReason::Local | PuntReason::Nd))
            }
            Position::Forward => {
                matches!(c.verdict, Verdict::Tx)
                    && c.egress.routed
                    && matches!(c.origin, Origin::Rx | Origin::Resolved)
            }
            Position::Output => matches!(c.verdict, Verdict::Tx) && c.origin == Origin::Local,
            Position::Postrouting => {
                matches!(c.verdict, Verdict::Tx)
                    && match c.origin {
                        Origin::Rx | Origin::Resolved => c.egress.routed,
                        Origin::Local => true,
                        Origin::Created => false,
                    }
            }
            Position::Rewrite => {
                matches!(c.verdict, Verdict::Tx)
                    && c.egress.routed
                    && !c.rewritten
                    && !matches!(c.origin, Origin::Local | Origin::Created)
            }
            Position::Egress => matches!(c.verdict, Verdict::Tx),
        }
    }
}

/// What runs each node of a burst: selection, timing, counters, trace.
pub struct Runner<'a> {
    /// The burst's packets.
    pub pkts: &'a mut [Packet],
    /// Their contexts.
    pub ctx: &'a mut [PacketCtx],
    /// Per-node counters of the worker, indexed by node number.
    pub counters: &'a mut [NodeSnapshot],
    /// The worker's trace.
    pub trace: &'a mut WorkerTrace,
    sel: [u8; MAX_BURST],
}

impl core::fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Runner")
            .field("packets", &self.pkts.len())
            .finish()
    }
}

impl<'a> Runner<'a> {
    /// A runner over one burst.
    pub fn new(
        pkts: &'a mut [Packet],
        ctx: &'a mut [PacketCtx],
        counters: &'a mut [NodeSnapshot],
        trace: &'a mut WorkerTrace,
    ) -> Runner<'a> {
        Runner {
            pkts,
            ctx,
            counters,
            trace,
            sel: [0; MAX_BURST],
        }
    }

    /// Trace: after the parse node (named `name`) ran over a received
    /// burst, choose the packets to trace (the request's filter sees the
    /// parse summary) and record their parse step.
    pub fn begin_trace(&mut self, name: &'static str) {
        let n = self.ctx.len().min(self.pkts.len()).min(MAX_BURST);
        for i in 0..n {
            self.trace.consider(i, &self.pkts[i], &mut self.ctx[i]);
        }
        if self.trace.active() {
            for (k, s) in self.sel.iter_mut().enumerate().take(n) {
                *s = k as u8;
            }
            self.trace.step(name, &self.sel[..n], &self.ctx[..n], &[]);
        }
    }

    /// Trace: packets re-entering the graph that were traced before (a
    /// punted packet coming back resolved, a hand-off) get a record of
    /// their own. Fragments and flood copies do not: their original's
    /// record ends with it being consumed by them.
    pub fn adopt_traced(&mut self) {
        let n = self.ctx.len().min(self.pkts.len()).min(MAX_BURST);
        for i in 0..n {
            let c = &mut self.ctx[i];
            if c.origin == Origin::Created {
                c.traced = false;
            } else if c.traced {
                self.trace.adopt(i, &self.pkts[i], &self.ctx[i]);
            }
        }
    }

    /// Run node number `index` at `pos` over the burst.
    #[inline]
    pub fn run<F: Features, N: Node<F>>(
        &mut self,
        index: usize,
        pos: Position,
        node: &mut N,
        state: &mut F::State,
        cx: &mut NodeCx<'_, F::Policy>,
    ) {
        let n = self.ctx.len().min(self.pkts.len()).min(MAX_BURST);
        let mut k = 0;
        for (i, c) in self.ctx[..n].iter().enumerate() {
            // Branch-free append: the index is written every time and kept
            // only when selected.
            self.sel[k] = i as u8;
            k += usize::from(pos.selects(c));
        }
        if k == 0 || !node.active(cx) {
            return;
        }
        let tracing = self.trace.active();
        cx.tracing = tracing;
        cx.notes.clear();
        let c0 = orbital_cpu::cycles();
        node.run(
            state,
            cx,
            &mut Burst {
                pkts: &mut self.pkts[..n],
                ctx: &mut self.ctx[..n],
                sel: &self.sel[..k],
            },
        );
        let cycles = orbital_cpu::cycles().wrapping_sub(c0);
        let drops = if node.drops() {
            self.sel[..k]
                .iter()
                .filter(|&&i| {
                    self.ctx
                        .get(usize::from(i))
                        .is_some_and(|c| matches!(c.verdict, Verdict::Drop(_)))
                })
                .count() as u64
        } else {
            0
        };
        if let Some(s) = self.counters.get_mut(index) {
            s.calls += 1;
            s.packets += k as u64;
            s.drops += drops;
            s.cycles += cycles;
        }
        if tracing {
            self.trace
                .step(node.name(), &self.sel[..k], &self.ctx[..n], cx.notes);
        }
        cx.tracing = false;
    }
}
