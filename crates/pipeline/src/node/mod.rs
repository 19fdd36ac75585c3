//! The built-in nodes of the forwarding path, one file each, in graph
//! order: [`ip4_fast`] (the fused common case, when the hooks it would skip
//! are idle) → [`parse`] → [`l2`] → *prerouting hook* → [`route`] → *input* |
//! *forward hook* → *output hook* → *postrouting hook* → [`rewrite`] →
//! *egress hook* → [`egress`] (queues, TX). The hooks' nodes come from the
//! worker's [`orbital_graph::Features`]; the worker runs all of them
//! through the same [`orbital_graph::Runner`], so each has its row in
//! `show runtime` and its steps in the trace.

pub mod egress;
pub mod ip4_fast;
pub mod l2;
pub mod parse;
pub mod rewrite;
pub mod route;

/// The built-in nodes of one worker.
#[derive(Debug)]
pub struct Builtins {
    /// The fused common case.
    pub ip4_fast: ip4_fast::Ip4Fast,
    /// Parse.
    pub parse: parse::Parse,
    /// L2.
    pub l2: l2::L2,
    /// Route.
    pub route: route::Route,
    /// Rewrite.
    pub rewrite: rewrite::Rewrite,
    /// Egress (queues).
    pub egress: egress::Egress,
}

impl Builtins {
    /// Nodes for `ports` ports, egress queues of `queue_limit` packets.
    pub fn new(ports: usize, queue_limit: usize) -> Builtins {
        Builtins {
            ip4_fast: ip4_fast::Ip4Fast::default(),
            parse: parse::Parse,
            l2: l2::L2,
            route: route::Route::default(),
            rewrite: rewrite::Rewrite::default(),
            egress: egress::Egress::new(ports, queue_limit),
        }
    }
}
