//! The node graph end to end, with probe features registered at the hooks:
//! every packet passes every hook after its entry point — received, resolved
//! after a punt, fragmented, made by the slow path — and a hand-off between
//! workers keeps each flow's order. Driven step by step on the virtual
//! clock, so every run is the same.

mod common;

use std::cell::RefCell;

use common::{GW_MAC, Rig, WAN_MAC, udp};
use orbital_graph::{Burst, Entry, Features, Hook, Hooks, NoPolicy, Node, NodeCx, Origin, Verdict};
use orbital_pipeline::slowpath::frames::{self, L2};
use orbital_wire::L3Kind;
use orbital_wire::arp::{ArpOperation, ArpRepr};

/// What a probe node saw: hook, origin, seq, sub, L3 kind.
type Seen = (Hook, Origin, u64, u16, L3Kind);

thread_local! {
    // The engine is stepped in the test's own thread: each test has its log.
    static LOG: RefCell<Vec<Seen>> = const { RefCell::new(Vec::new()) };
}

fn log() -> Vec<Seen> {
    LOG.with(|l| l.borrow().clone())
}

/// A node that records every packet it is given.
struct Probe(Hook);

impl<F: Features> Node<F> for Probe {
    fn name(&self) -> &'static str {
        match self.0 {
            Hook::Prerouting => "probe-prerouting",
            Hook::Input => "probe-input",
            Hook::Forward => "probe-forward",
            Hook::Output => "probe-output",
            Hook::Postrouting => "probe-postrouting",
            Hook::Egress => "probe-egress",
        }
    }

    fn run(&mut self, _: &mut F::State, _: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        for &i in b.sel {
            let (p, c) = (&b.pkts[usize::from(i)], &b.ctx[usize::from(i)]);
            LOG.with(|l| {
                l.borrow_mut()
                    .push((self.0, c.origin, p.meta.seq, p.meta.sub, c.info.l3))
            });
        }
    }
}

/// A probe at every hook.
struct Probed;

impl Features for Probed {
    type Policy = NoPolicy;
    type State = ();
    type Prerouting = (Probe,);
    type Input = (Probe,);
    type Forward = (Probe,);
    type Output = (Probe,);
    type Postrouting = (Probe,);
    type Egress = (Probe,);

    fn hooks(_: u16, _: u16, _: &NoPolicy) -> Hooks<Self> {
        Hooks {
            state: (),
            prerouting: (Probe(Hook::Prerouting),),
            input: (Probe(Hook::Input),),
            forward: (Probe(Hook::Forward),),
            output: (Probe(Hook::Output),),
            postrouting: (Probe(Hook::Postrouting),),
            egress: (Probe(Hook::Egress),),
        }
    }
}

/// Hands every packet to worker 1 (the "owner" of every flow), from the
/// prerouting hook, and lets it through there.
struct ToOwner;

impl<F: Features> Node<F> for ToOwner {
    fn name(&self) -> &'static str {
        "to-owner"
    }

    fn run(&mut self, _: &mut F::State, cx: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        for &i in b.sel {
            if cx.worker != 1 {
                b.ctx[usize::from(i)].verdict = Verdict::Handoff {
                    worker: 1,
                    at: Entry::Prerouting,
                };
            }
        }
    }
}

struct Owned;

impl Features for Owned {
    type Policy = NoPolicy;
    type State = ();
    type Prerouting = (ToOwner,);
    type Input = ();
    type Forward = ();
    type Output = ();
    type Postrouting = ();
    type Egress = ();

    fn hooks(_: u16, _: u16, _: &NoPolicy) -> Hooks<Self> {
        Hooks {
            state: (),
            prerouting: (ToOwner,),
            input: (),
            forward: (),
            output: (),
            postrouting: (),
            egress: (),
        }
    }
}

fn seen(l: &[Seen], hook: Hook, origin: Origin) -> Vec<(u64, u16)> {
    l.iter()
        .filter(|s| s.0 == hook && s.1 == origin)
        .map(|s| (s.2, s.3))
        .collect()
}

#[test]
fn packets_resolved_after_a_punt_pass_forward_and_postrouting() {
    let mut rig = Rig::<Probed>::new(1);
    let sent: Vec<u64> = (0..3)
        .map(|i| rig.send(0, 0, &udp("198.51.100.7", 1000 + i, 100, 64, true)))
        .collect();
    rig.step();
    // Held for resolution: an ARP request went out, nothing else.
    let out = rig.out(1);
    assert_eq!(out.len(), 1, "only the ARP request");
    assert_eq!(&out[0].2[12..14], &[0x08, 0x06]);
    let l = log();
    for h in [Hook::Output, Hook::Postrouting, Hook::Egress] {
        assert_eq!(seen(&l, h, Origin::Local).len(), 1, "ARP request at {h:?}");
    }
    assert!(
        seen(&l, Hook::Forward, Origin::Rx).is_empty(),
        "not forwarded yet"
    );
    // The gateway answers.
    let reply = frames::arp(
        &mut rig.cache,
        L2 {
            dst: WAN_MAC,
            src: GW_MAC,
            tag: None,
        },
        &ArpRepr {
            operation: ArpOperation::Reply,
            sender_mac: GW_MAC,
            sender_ip: "192.0.2.254".parse().unwrap(),
            target_mac: WAN_MAC,
            target_ip: "192.0.2.1".parse().unwrap(),
        },
    )
    .unwrap();
    let bytes = reply.to_vec();
    rig.cache.free(reply);
    rig.send(0, 1, &bytes);
    rig.step();
    let out = rig.out(1);
    assert_eq!(out.len(), 3, "the held packets, released");
    for (seq, _, f) in &out {
        assert!(sent.contains(seq));
        assert_eq!(&f[0..6], &GW_MAC.0, "to the resolved gateway");
        assert_eq!(f[14 + 8], 63, "TTL decremented once");
    }
    let l = log();
    let want: Vec<(u64, u16)> = sent.iter().map(|&s| (s, 0)).collect();
    for h in [Hook::Forward, Hook::Postrouting, Hook::Egress] {
        assert_eq!(
            seen(&l, h, Origin::Resolved),
            want,
            "resolved packets at {h:?}"
        );
    }
    // Each passed prerouting once, on receive (the ARP reply is not IP:
    // L2 gives it to the slow path), and never the output hook.
    assert_eq!(seen(&l, Hook::Prerouting, Origin::Rx).len(), 3);
    assert_eq!(seen(&l, Hook::Output, Origin::Resolved), vec![]);
    rig.finish();
}

#[test]
fn fragments_and_router_made_packets_pass_egress() {
    let mut rig = Rig::<Probed>::new(1);
    // 1400 bytes to a resolved gateway, through a 1280-byte MTU: fragmented.
    let big = rig.send(0, 0, &udp("203.0.113.9", 2000, 1400, 64, false));
    // TTL 1: time exceeded, made by the slow path.
    let expiring = rig.send(0, 0, &udp("203.0.113.9", 2001, 100, 1, false));
    rig.step();
    let wan = rig.out(1);
    assert_eq!(
        wan.iter().map(|o| (o.0, o.1)).collect::<Vec<_>>(),
        vec![(big, 0), (big, 1)],
        "two fragments"
    );
    let lan = rig.out(0);
    assert_eq!(lan.len(), 1, "the ICMP time exceeded");
    let l = log();
    assert_eq!(seen(&l, Hook::Forward, Origin::Rx), vec![(big, 0)]);
    assert_eq!(seen(&l, Hook::Postrouting, Origin::Rx), vec![(big, 0)]);
    assert_eq!(
        seen(&l, Hook::Egress, Origin::Created),
        vec![(big, 0), (big, 1)],
        "both fragments at egress"
    );
    assert!(
        seen(&l, Hook::Egress, Origin::Rx).is_empty(),
        "the original was replaced by its fragments before egress"
    );
    for h in [Hook::Output, Hook::Postrouting, Hook::Egress] {
        let s = seen(&l, h, Origin::Local);
        assert_eq!(s.len(), 1, "{h:?}: {s:?}");
        assert_eq!(s[0].0, expiring, "the error is stamped with its cause");
    }
    rig.finish();
}

#[test]
fn handoff_keeps_each_flows_order() {
    let mut rig = Rig::<Owned>::new(2);
    // Two flows, interleaved, all received on worker 0 and owned by 1.
    let mut sent = Vec::new();
    for _ in 0..3 {
        for i in 0..40u16 {
            let sport = 3000 + (i % 2);
            sent.push((
                sport,
                rig.send(0, 0, &udp("203.0.113.5", sport, 64 + i as usize, 64, true)),
            ));
        }
        rig.step();
    }
    let out = rig.out(1);
    assert_eq!(out.len(), sent.len(), "nothing lost");
    for sport in [3000u16, 3001] {
        let want: Vec<u64> = sent.iter().filter(|s| s.0 == sport).map(|s| s.1).collect();
        let got: Vec<u64> = out
            .iter()
            .filter(|o| u16::from_be_bytes([o.2[34], o.2[35]]) == sport)
            .map(|o| o.0)
            .collect();
        assert_eq!(got, want, "flow {sport} in order");
    }
    let s = rig.engine.handle().stats();
    assert_eq!(s.workers[0].handoff_out, sent.len() as u64);
    assert_eq!(s.workers[1].handoff_in, sent.len() as u64);
    assert_eq!(s.workers[1].tx, sent.len() as u64, "sent by the owner");
    let ring = s
        .rings
        .iter()
        .find(|(n, _)| n == "handoff/worker0->worker1")
        .unwrap();
    assert_eq!(ring.1.pushed, sent.len() as u64);
    rig.finish();
}

#[test]
fn every_node_has_a_row_in_graph_order() {
    let rig = Rig::<Probed>::new(1);
    let names = rig.engine.handle().nodes.clone();
    assert_eq!(
        &names[..],
        [
            "rx",
            "ip4-fast",
            "parse",
            "l2",
            "probe-prerouting",
            "route",
            "probe-input",
            "probe-forward",
            "probe-output",
            "probe-postrouting",
            "rewrite",
            "probe-egress",
            "egress",
            "tx"
        ]
    );
    rig.finish();
}
