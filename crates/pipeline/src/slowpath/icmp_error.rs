//! ICMP errors the fast path decided on (RFC 1812 §4.3, RFC 4443):
//! rate-limited (RFC 1812 §4.3.2.8), sourced from the ingress interface
//! (§4.3.2.4), quoting the offending packet.

use super::*;

impl<P: Send + Sync + 'static> SlowPath<P> {
    /// Source address for an error or reply leaving `iface` (RFC 1812
    /// §4.3.2.4): its own address, else any of the router's.
    pub(super) fn source_v4(t: &Tables, iface: IfId) -> Option<Ipv4Addr> {
        t.ifs
            .iface(iface)
            .and_then(Interface::primary_v4)
            .or_else(|| t.ifs.iter_ifaces().find_map(Interface::primary_v4))
    }

    pub(super) fn source_v6(t: &Tables, iface: IfId) -> Option<Ipv6Addr> {
        t.ifs
            .iface(iface)
            .and_then(Interface::primary_v6)
            .or_else(|| t.ifs.iter_ifaces().find_map(Interface::primary_v6))
    }

    pub(super) fn icmp_error(&mut self, t: &Tables, p: Punt, err: IcmpError, why: DropReason) {
        if !self
            .icmp
            .allow(self.clock.now_ns().max(p.pkt.meta.timestamp_ns))
        {
            self.stats.icmp_rate_limited += 1;
            return self.drop(p.pkt, why);
        }
        let Some(iface) = t.ifs.iface(p.ctx.iface_in) else {
            return self.drop(p.pkt, Reason::UnknownPort);
        };
        let Some((to, l2)) = Self::reverse(t, &p, iface) else {
            return self.drop(p.pkt, Reason::UnknownPort);
        };
        let l3 = usize::from(p.ctx.info.l3_offset);
        let end = (l3 + p.ctx.info.l3_len as usize).min(p.pkt.len());
        let offending = &p.pkt[l3..end];
        let frame = match p.ctx.info.l3 {
            L3Kind::Ipv4 => match Self::source_v4(t, p.ctx.iface_in) {
                Some(src) => frames::icmpv4_error(&mut self.cache, l2, err, offending, src),
                None => return self.drop(p.pkt, Reason::NoSourceAddress),
            },
            _ => match Self::source_v6(t, p.ctx.iface_in) {
                Some(src) => frames::icmpv6_error(&mut self.cache, l2, err, offending, src),
                None => return self.drop(p.pkt, Reason::NoSourceAddress),
            },
        };
        match frame {
            Some(mut f) => {
                Self::stamp(&mut f, &p.pkt, 1);
                self.stats.icmp_errors += 1;
                self.send(p.worker, to, f);
                // The offending packet itself is dropped, under its reason.
                self.drop(p.pkt, why);
            }
            None => self.drop(p.pkt, Reason::NoBuffer),
        }
    }
}
