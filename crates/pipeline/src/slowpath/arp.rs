//! ARP (RFC 826) for the router's IPv4 addresses: answer requests, learn
//! senders by the merge rule, ignore the rest with a reason.

use super::*;

impl<P: Send + Sync + 'static> SlowPath<P> {
    pub(super) fn arp(&mut self, t: &Tables, p: Punt, now: u64) {
        let Some(iface) = t.ifs.iface(p.ctx.iface_in) else {
            return self.drop(p.pkt, Reason::UnknownPort);
        };
        let Ok(a) = ArpRepr::parse(&p.pkt[usize::from(p.ctx.info.l3_offset)..]) else {
            return self.drop(p.pkt, Reason::SlowPathInvalid);
        };
        let sender = a.sender_ip;
        let for_us = iface.v4.iter().any(|x| x.addr == a.target_ip);
        let sane = !sender.is_unspecified()
            && !orbital_fib::rfc1812::is_martian_source_v4(sender)
            && a.sender_mac.is_unicast()
            && iface.on_link_v4(sender)
            && iface.v4.iter().all(|x| x.addr != sender);
        // RFC 826 merge: update a known entry; add one when we are the target.
        let known = self.learned.contains_key(&IpAddr::V4(sender))
            || self.pending.contains_key(&IpAddr::V4(sender));
        if sane && (for_us || known) {
            self.learn(t, IpAddr::V4(sender), a.sender_mac, iface.id, now);
        }
        if a.operation == ArpOperation::Request && for_us && sane {
            let Some((to, mut l2)) = Self::reverse(t, &p, iface) else {
                return self.drop(p.pkt, Reason::UnknownPort);
            };
            l2.dst = a.sender_mac;
            match frames::arp_reply(&mut self.cache, l2, a.target_ip, sender) {
                Some(mut reply) => {
                    Self::stamp(&mut reply, &p.pkt, 1);
                    self.stats.arp_replies += 1;
                    self.send(p.worker, to, reply);
                    self.consume(p.pkt);
                }
                None => self.drop(p.pkt, Reason::NoBuffer),
            }
        } else if sane && (for_us || known) {
            self.consume(p.pkt);
        } else {
            self.drop(p.pkt, Reason::ArpIgnored);
        }
    }
}
