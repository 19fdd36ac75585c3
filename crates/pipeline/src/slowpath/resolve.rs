//! Next-hop resolution: hold packets for a neighbour not yet known, ask
//! (ARP request, neighbour solicitation), retry, give up with host
//! unreachable (RFC 1812 §4.3.3.1, RFC 4443 address unreachable).

use super::*;

impl<P: Send + Sync + 'static> SlowPath<P> {
    /// Hold `p` for `next_hop`, asking for it if nobody is yet; `at` is
    /// the packet's time (see [`SlowPath::handle`]).
    pub(super) fn resolve(&mut self, t: &Tables, p: Punt, next_hop: IpAddr, at: u64) {
        if let Some(mac) = self.neighbor_mac(t, next_hop) {
            // Learned since the worker looked.
            let h = Held {
                pkt: p.pkt,
                ctx: p.ctx,
                worker: p.worker,
            };
            return self.release(h, mac, at);
        }
        // Bounded per neighbour (Linux's unres_qlen_bytes) and in total, so
        // many unresolved neighbours cannot hold the pool: a full total
        // takes on no new neighbour either (the map stays as small as what
        // it holds). The new packet is the one dropped, so a flow's first
        // packets (a SYN) are the ones that wait.
        if self.held >= self.hold_total {
            return self.drop(p.pkt, Reason::HoldQueueFull);
        }
        let limit = self.hold_per_neighbor;
        let is_new = !self.pending.contains_key(&next_hop);
        let pending = self.pending.entry(next_hop).or_insert(Pending {
            iface: p.ctx.egress.iface,
            held: Vec::new(),
            tries: 0,
            next_ns: at,
            worker: p.worker,
            seq: p.pkt.meta.seq,
        });
        if pending.held.len() >= limit {
            return self.drop(p.pkt, Reason::HoldQueueFull);
        }
        pending.held.push(Held {
            pkt: p.pkt,
            ctx: p.ctx,
            worker: p.worker,
        });
        self.held += 1;
        if is_new {
            self.solicit(t, next_hop, at);
        }
    }

    /// Send (or resend) the ARP request / neighbour solicitation for `a`,
    /// as of time `at` (the first packet's arrival, then each due time):
    /// stamped `at`, the next due an interval later.
    pub(super) fn solicit(&mut self, t: &Tables, a: IpAddr, at: u64) {
        let Some(pend) = self.pending.get_mut(&a) else {
            return;
        };
        pend.tries += 1;
        pend.next_ns = at.saturating_add(self.cfg.resolve_interval_ns);
        self.next_due = self.next_due.min(pend.next_ns);
        let (iface_id, worker, seq, tries) = (pend.iface, pend.worker, pend.seq, pend.tries);
        let Some(iface) = t.ifs.iface(iface_id) else {
            return;
        };
        let to = match iface.attach {
            Attach::Port(p) => InjectTo::Port(p),
            Attach::Bridge(vlan) => InjectTo::Bridge { vlan, except: None },
        };
        let frame = match a {
            IpAddr::V4(target) => {
                let src = iface
                    .v4
                    .iter()
                    .find(|x| orbital_fib::Ipv4Prefix::truncating(x.addr, x.len).contains(target))
                    .or(iface.v4.first())
                    .map(|x| x.addr);
                src.and_then(|s| frames::arp_request(&mut self.cache, iface.mac, None, s, target))
            }
            IpAddr::V6(target) => {
                let src = iface
                    .v6
                    .iter()
                    .find(|x| x.addr.is_unicast_link_local())
                    .or(iface.v6.first())
                    .map(|x| x.addr);
                src.and_then(|s| {
                    frames::neighbor_solicit(&mut self.cache, iface.mac, None, s, target)
                })
            }
        };
        if let Some(mut f) = frame {
            f.meta.seq = seq;
            f.meta.sub = 1 + tries as u16;
            f.meta.timestamp_ns = at;
            self.stats.resolutions += 1;
            self.send(worker, to, f);
        }
    }

    /// Run every resolution timer due at or before `upto`, earliest first,
    /// each as of its due time: a request is resent (stamped then), or
    /// after the last one the held packets' senders are told (stamped
    /// then). The schedule is the first packet's arrival plus whole
    /// intervals, whenever the polls happen to notice it: a replay's clock
    /// jumps by rounds (a late poll catches up on every timer it passed),
    /// and a live slow path polls far more often than the interval.
    pub(super) fn run_timers(&mut self, t: &Tables, upto: u64) {
        // Each pass takes every timer due by `upto` (in time order, ties in
        // address order: deterministic); a resend due again by `upto` (a
        // poll more than an interval late) is taken by the next pass. One
        // sort per pass, not a scan per timer: a flood makes thousands due
        // at once.
        while self.next_due <= upto {
            let mut due: Vec<(u64, IpAddr)> = self
                .pending
                .iter()
                .filter(|(_, p)| p.next_ns <= upto)
                .map(|(a, p)| (p.next_ns, *a))
                .collect();
            due.sort_unstable();
            for (at, a) in due {
                let Some(tries) = self.pending.get(&a).map(|p| p.tries) else {
                    continue;
                };
                if tries < self.cfg.resolve_tries {
                    self.solicit(t, a, at);
                } else {
                    self.give_up(t, a, at);
                }
            }
            self.next_due = self
                .pending
                .values()
                .map(|p| p.next_ns)
                .min()
                .unwrap_or(u64::MAX);
        }
    }

    /// Nobody answered for `a`: the held packets' senders learn so at `at`
    /// (RFC 1812 §4.3.3.1 host unreachable / RFC 4443 address unreachable).
    fn give_up(&mut self, t: &Tables, a: IpAddr, at: u64) {
        let Some(p) = self.take_pending(&a) else {
            return;
        };
        for mut h in p.held {
            let err = IcmpError::Unreachable(if a.is_ipv4() {
                unreach4::HOST
            } else {
                unreach6::ADDRESS
            });
            // The error is sent now, not when the packet arrived.
            h.pkt.meta.timestamp_ns = h.pkt.meta.timestamp_ns.max(at);
            let punt = Punt {
                pkt: h.pkt,
                reason: PuntReason::Local,
                ctx: h.ctx,
                worker: h.worker,
            };
            let dst_mac = EthernetAddress::from_bytes(&punt.pkt[0..6]);
            let info = &punt.ctx.info;
            let allowed = match info.l3 {
                L3Kind::Ipv4 => orbital_fib::rfc1812::may_send_icmpv4_error(info, dst_mac),
                _ => orbital_fib::rfc1812::may_send_icmpv6_error(info, dst_mac, err),
            };
            if allowed {
                self.icmp_error(t, punt, err, Reason::NeighborUnresolved.into());
            } else {
                self.drop(punt.pkt, Reason::NeighborUnresolved);
            }
        }
    }

    /// End of a poll: resolution timers due by `now`, then neighbour aging.
    pub(super) fn timers(&mut self, t: &Tables, now: u64) {
        self.run_timers(t, now);
        // RFC 4861 §7.3.3: unconfirmed for REACHABLE_TIME → STALE (still used).
        let reachable = self.cfg.reachable_ns;
        for (a, l) in self.learned.iter_mut() {
            if !l.stale && now.saturating_sub(l.confirmed_ns) > reachable {
                l.stale = true;
                self.updates.push(TableUpdate::AddNeighbor {
                    addr: *a,
                    mac: l.mac,
                    iface: l.iface,
                    state: NeighborState::Stale,
                });
            }
        }
    }
}
