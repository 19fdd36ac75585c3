//! Packets for the router itself: echo requests answered (v4 and v6); UDP
//! to a port nothing listens on gets port unreachable, the rest is dropped.

use super::*;

impl<P: Send + Sync + 'static> SlowPath<P> {
    pub(super) fn local(&mut self, t: &Tables, p: Punt) {
        let Some(iface) = t.ifs.iface(p.ctx.iface_in) else {
            return self.drop(p.pkt, Reason::UnknownPort);
        };
        let l3 = usize::from(p.ctx.info.l3_offset);
        let end = l3 + p.ctx.info.l3_len as usize;
        let l4 = usize::from(p.ctx.info.l4_offset);
        let proto = p.ctx.info.ip_protocol();
        let echo_v4 = p.ctx.info.l3 == L3Kind::Ipv4
            && proto == IpProtocol::Icmp
            && p.ctx.info.icmp_type() == 8;
        let echo_v6 = p.ctx.info.l3 == L3Kind::Ipv6
            && proto == IpProtocol::Icmpv6
            && p.ctx.info.icmp_type() == 128;
        if (echo_v4 || echo_v6) && l4 != 0 && end <= p.pkt.len() && !p.ctx.info.frag.is_fragment() {
            let Some((to, l2)) = Self::reverse(t, &p, iface) else {
                return self.drop(p.pkt, Reason::UnknownPort);
            };
            let reply = if echo_v4 {
                match Icmpv4Repr::parse(&p.pkt[l4..end]) {
                    Ok(Some(Icmpv4Repr::EchoRequest {
                        ident,
                        seq_no,
                        data,
                    })) => frames::icmpv4(
                        &mut self.cache,
                        l2,
                        p.ctx.info.dst_v4(),
                        p.ctx.info.src_v4(),
                        &Icmpv4Repr::EchoReply {
                            ident,
                            seq_no,
                            data,
                        },
                    ),
                    _ => return self.drop(p.pkt, Reason::SlowPathInvalid),
                }
            } else {
                let (s, d) = (p.ctx.info.src_v6(), p.ctx.info.dst_v6());
                match Icmpv6Repr::parse(s, d, &p.pkt[l4..end]) {
                    Ok(Some(Icmpv6Repr::EchoRequest {
                        ident,
                        seq_no,
                        data,
                    })) if !d.is_multicast() => frames::icmpv6(
                        &mut self.cache,
                        l2,
                        d,
                        s,
                        64,
                        &Icmpv6Repr::EchoReply {
                            ident,
                            seq_no,
                            data,
                        },
                    ),
                    _ => return self.drop(p.pkt, Reason::SlowPathInvalid),
                }
            };
            match reply {
                Some(mut r) => {
                    Self::stamp(&mut r, &p.pkt, 1);
                    self.stats.echo_replies += 1;
                    self.send(p.worker, to, r);
                    self.consume(p.pkt);
                }
                None => self.drop(p.pkt, Reason::NoBuffer),
            }
            return;
        }
        // Nothing listens on the router yet: UDP gets port unreachable (so a
        // traceroute to the router ends), everything else is dropped.
        if proto == IpProtocol::Udp && p.ctx.info.has_l4() {
            let err = IcmpError::Unreachable(if p.ctx.info.l3 == L3Kind::Ipv4 {
                unreach4::PORT
            } else {
                unreach6::PORT
            });
            return self.icmp_error(t, p, err, Reason::LocalNoListener.into());
        }
        self.drop(p.pkt, Reason::LocalNoListener)
    }
}
