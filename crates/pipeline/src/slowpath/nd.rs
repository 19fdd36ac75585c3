//! Neighbour discovery (RFC 4861) for the router's IPv6 addresses: answer
//! solicitations, learn from advertisements; hop limit 255 or nothing.

use super::*;

impl<P: Send + Sync + 'static> SlowPath<P> {
    pub(super) fn nd(&mut self, t: &Tables, p: Punt, now: u64) {
        let Some(iface) = t.ifs.iface(p.ctx.iface_in) else {
            return self.drop(p.pkt, Reason::UnknownPort);
        };
        let (src, dst) = (p.ctx.info.src_v6(), p.ctx.info.dst_v6());
        let l4 = usize::from(p.ctx.info.l4_offset);
        let end = usize::from(p.ctx.info.l3_offset) + p.ctx.info.l3_len as usize;
        // RFC 4861 §7.1: hop limit 255 proves the sender is on the link.
        if p.ctx.info.ttl != 255 || l4 == 0 || end > p.pkt.len() {
            return self.drop(p.pkt, Reason::NdIgnored);
        }
        let msg = match Icmpv6Repr::parse(src, dst, &p.pkt[l4..end]) {
            Ok(Some(Icmpv6Repr::Ndisc(n))) => n,
            _ => return self.drop(p.pkt, Reason::SlowPathInvalid),
        };
        let frame_src = EthernetAddress::from_bytes(&p.pkt[6..12]);
        match msg {
            NdiscRepr::NeighborSolicit {
                target_addr,
                lladdr,
            } => {
                if !iface.v6.iter().any(|a| a.addr == target_addr) {
                    return self.drop(p.pkt, Reason::NdIgnored);
                }
                if src.is_unspecified() {
                    // Duplicate address detection by someone else: nothing to learn.
                    return self.consume(p.pkt);
                }
                let mac = lladdr.unwrap_or(frame_src);
                if iface.on_link_v6(src) {
                    self.learn(t, IpAddr::V6(src), mac, iface.id, now);
                }
                let Some((to, mut l2)) = Self::reverse(t, &p, iface) else {
                    return self.drop(p.pkt, Reason::UnknownPort);
                };
                l2.dst = mac;
                match frames::neighbor_advert(&mut self.cache, l2, target_addr, src) {
                    Some(mut na) => {
                        Self::stamp(&mut na, &p.pkt, 1);
                        self.stats.neighbor_adverts += 1;
                        self.send(p.worker, to, na);
                        self.consume(p.pkt);
                    }
                    None => self.drop(p.pkt, Reason::NoBuffer),
                }
            }
            NdiscRepr::NeighborAdvert {
                target_addr,
                lladdr,
                ..
            } => {
                if iface.on_link_v6(target_addr) && iface.v6.iter().all(|a| a.addr != target_addr) {
                    self.learn(
                        t,
                        IpAddr::V6(target_addr),
                        lladdr.unwrap_or(frame_src),
                        iface.id,
                        now,
                    );
                    self.consume(p.pkt);
                } else {
                    self.drop(p.pkt, Reason::NdIgnored);
                }
            }
            // Router solicitations, advertisements and redirects: this router
            // neither advertises nor follows redirects (yet).
            _ => self.drop(p.pkt, Reason::NdIgnored),
        }
    }
}
