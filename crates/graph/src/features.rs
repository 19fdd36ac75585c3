//! Features and hook points (ARCHITECTURE §2.1).
//!
//! The path of a burst is fixed: parse → L2 → **prerouting** → route →
//! **input** | **forward** → **output** → **postrouting** → rewrite →
//! **egress** → the egress node's queues → TX. The six hook points are where
//! features (firewall, conntrack, NAT, QoS) register their nodes, each hook
//! a [`Chain`]: a tuple of nodes run in the declared order, so a hook's
//! order is the tuple's (nftables' priorities, written down). A
//! [`Features`] type names the chains, the policy type the snapshot carries
//! for them, and the per-worker state they share. Everything is chosen at
//! compile time; a chain of `()` costs nothing.
//!
//! Every packet passes every hook on its way out, whatever way it came in
//! ([`crate::verdict::Origin`]): a packet resolved after a punt re-enters at
//! the forward hook, a fragment or flood copy at egress, a packet the router
//! made at output.

use crate::node::{Node, NodeCx, Position, Runner};

/// A hook point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    /// Received, not yet routed (DNAT, ingress filter, QoS classification).
    Prerouting,
    /// For the router itself.
    Input,
    /// Routed through the router.
    Forward,
    /// Made by the router.
    Output,
    /// Leaving, routed or made (SNAT, egress filter).
    Postrouting,
    /// Leaving, anything (QoS marking and policing before the queues).
    Egress,
}

impl Hook {
    /// Every hook, in path order.
    pub const ALL: [Hook; 6] = [
        Hook::Prerouting,
        Hook::Input,
        Hook::Forward,
        Hook::Output,
        Hook::Postrouting,
        Hook::Egress,
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
            Hook::Egress => "egress",
        }
    }

    /// The packets a node at this hook is given.
    pub fn position(self) -> Position {
        match self {
            Hook::Prerouting => Position::Receive,
            Hook::Input => Position::Input,
            Hook::Forward => Position::Forward,
            Hook::Output => Position::Output,
            Hook::Postrouting => Position::Postrouting,
            Hook::Egress => Position::Egress,
        }
    }
}

/// The nodes registered at one hook, in order: `()`, or a tuple of nodes.
pub trait Chain<F: Features>: Send {
    /// How many nodes.
    const LEN: usize;

    /// Their names, in order, appended to `out`.
    fn names(&self, out: &mut Vec<&'static str>);

    /// Whether any of its nodes has work under this snapshot (a fused fast
    /// path may skip a hook whose nodes all say no).
    fn active(&self, cx: &NodeCx<'_, F::Policy>) -> bool;

    /// Run every node over the burst; the first is node number `first`.
    fn run(
        &mut self,
        hook: Hook,
        first: usize,
        rn: &mut Runner<'_>,
        state: &mut F::State,
        cx: &mut NodeCx<'_, F::Policy>,
    );
}

impl<F: Features> Chain<F> for () {
    const LEN: usize = 0;

    fn names(&self, _out: &mut Vec<&'static str>) {}

    #[inline]
    fn active(&self, _cx: &NodeCx<'_, F::Policy>) -> bool {
        false
    }

    #[inline]
    fn run(
        &mut self,
        _hook: Hook,
        _first: usize,
        _rn: &mut Runner<'_>,
        _state: &mut F::State,
        _cx: &mut NodeCx<'_, F::Policy>,
    ) {
    }
}

macro_rules! chain_tuple {
    ($len:expr; $($n:ident $i:tt),+) => {
        impl<F: Features, $($n: Node<F>),+> Chain<F> for ($($n,)+) {
            const LEN: usize = $len;

            fn names(&self, out: &mut Vec<&'static str>) {
                $( out.push(self.$i.name()); )+
            }

            #[inline]
            fn active(&self, cx: &NodeCx<'_, F::Policy>) -> bool {
                false $( || self.$i.active(cx) )+
            }

            #[inline]
            fn run(
                &mut self,
                hook: Hook,
                first: usize,
                rn: &mut Runner<'_>,
                state: &mut F::State,
                cx: &mut NodeCx<'_, F::Policy>,
            ) {
                $( rn.run::<F, $n>(first + $i, hook.position(), &mut self.$i, state, cx); )+
            }
        }
    };
}

chain_tuple!(1; A 0);
chain_tuple!(2; A 0, B 1);
chain_tuple!(3; A 0, B 1, C 2);
chain_tuple!(4; A 0, B 1, C 2, D 3);
chain_tuple!(5; A 0, B 1, C 2, D 3, E 4);
chain_tuple!(6; A 0, B 1, C 2, D 3, E 4, G 5);

/// One worker's features: their shared state and the chain at each hook.
#[derive(Debug)]
pub struct Hooks<F: Features> {
    /// State the features' nodes share on this worker.
    pub state: F::State,
    /// At prerouting.
    pub prerouting: F::Prerouting,
    /// At input.
    pub input: F::Input,
    /// At forward.
    pub forward: F::Forward,
    /// At output.
    pub output: F::Output,
    /// At postrouting.
    pub postrouting: F::Postrouting,
    /// At egress.
    pub egress: F::Egress,
}

/// A set of features: what the graph runs at each hook.
pub trait Features: Sized + Send + 'static {
    /// The features' compiled policy, carried in every snapshot.
    type Policy: Send + Sync + Default + 'static;
    /// Per-worker state the nodes share (e.g. a connection-tracking shard).
    type State: Send;
    /// Chain at prerouting.
    type Prerouting: Chain<Self>;
    /// Chain at input.
    type Input: Chain<Self>;
    /// Chain at forward.
    type Forward: Chain<Self>;
    /// Chain at output.
    type Output: Chain<Self>;
    /// Chain at postrouting.
    type Postrouting: Chain<Self>;
    /// Chain at egress.
    type Egress: Chain<Self>;

    /// Build worker `worker`'s (of `workers`) state and nodes; `policy` is
    /// the first snapshot's (it sizes per-worker tables).
    fn hooks(worker: u16, workers: u16, policy: &Self::Policy) -> Hooks<Self>;

    /// After each burst has left the graph (a connection tracker drops
    /// entries no accepted packet confirmed).
    #[inline]
    fn end_burst(_state: &mut Self::State, _now_ns: u64) {}

    /// Once per poll, traffic or not: bounded housekeeping (timeouts).
    /// Returns work done (0: nothing; an idle worker may then sleep).
    #[inline]
    fn maintain(_state: &mut Self::State, _now_ns: u64) -> usize {
        0
    }
}

/// No features: forwarding only. Every hook is empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

/// The policy of a graph without features: nothing to decide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoPolicy;

impl Features for Plain {
    type Policy = NoPolicy;
    type State = ();
    type Prerouting = ();
    type Input = ();
    type Forward = ();
    type Output = ();
    type Postrouting = ();
    type Egress = ();

    fn hooks(_worker: u16, _workers: u16, _policy: &NoPolicy) -> Hooks<Self> {
        Hooks {
            state: (),
            prerouting: (),
            input: (),
            forward: (),
            output: (),
            postrouting: (),
            egress: (),
        }
    }
}
