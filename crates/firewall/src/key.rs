//! A packet's classification key: its fields as the rules see them, from
//! the parse summary, the routing decision and conntrack's view, laid out
//! as [`crate::expand::LAYOUT`] says.

use orbital_buf::Packet;
use orbital_graph::{Origin, PacketCtx, Verdict};
use orbital_wire::L3Kind;

use crate::expand::KEY_LEN;
use crate::rules::{Field, ct_state};

/// The value of an interface or port field that names none (a packet the
/// router made has no input interface; one not yet routed, no output).
pub const NONE: u32 = 0xffff;

/// The `iif` and `oif` key values of a packet with context `c`.
#[inline]
pub fn interfaces(c: &PacketCtx) -> (u32, u32) {
    let iif = if c.origin != Origin::Local {
        u32::from(c.iface_in.0)
    } else {
        NONE
    };
    let oif = if matches!(c.verdict, Verdict::Tx) && c.egress.routed {
        u32::from(c.egress.iface.0)
    } else {
        NONE
    };
    (iif, oif)
}

/// The key of packet `p` with context `c`. Straight stores at fixed
/// positions: this runs for every packet at every active hook.
#[inline]
pub fn of(p: &Packet, c: &PacketCtx) -> [u32; KEY_LEN] {
    use crate::expand::{addr_word, word_of};
    let i = &c.info;
    let (ip, family) = match i.l3 {
        L3Kind::Ipv4 => (true, 4),
        L3Kind::Ipv6 => (true, 6),
        _ => (false, 0),
    };
    let l4 = ip && i.has_l4();
    let proto = if ip { u32::from(i.protocol) } else { 0 };
    let ports = l4 && matches!(i.protocol, 6 | 17 | 132);
    let icmp = l4 && matches!(i.protocol, 1 | 58);
    let leaving = matches!(c.verdict, Verdict::Tx);
    let received = c.origin != Origin::Local;
    let mut k = [0u32; KEY_LEN];
    k[word_of(Field::Family)] = family;
    k[word_of(Field::L4Proto)] = proto;
    if ports {
        k[word_of(Field::Sport)] = u32::from(i.src_port);
        k[word_of(Field::Dport)] = u32::from(i.dst_port);
    }
    if icmp {
        k[word_of(Field::IcmpType)] = u32::from(i.icmp_type());
        k[word_of(Field::IcmpCode)] = u32::from(i.icmp_code());
    }
    if l4 && i.protocol == 6 {
        k[word_of(Field::TcpFlags)] = u32::from(i.l4_flags & 0xff);
    }
    k[word_of(Field::CtState)] = if c.ct.state == 0 {
        u32::from(ct_state::UNTRACKED)
    } else {
        u32::from(c.ct.state)
    };
    k[word_of(Field::CtStatus)] = u32::from(c.ct.status);
    let (iif, oif) = interfaces(c);
    k[word_of(Field::Iif)] = iif;
    k[word_of(Field::Oif)] = oif;
    k[word_of(Field::Iport)] = if received {
        u32::from(p.meta.port)
    } else {
        NONE
    };
    k[word_of(Field::Oport)] = if leaving {
        u32::from(c.egress.port.0)
    } else {
        NONE
    };
    k[word_of(Field::Ivlan)] = c.vlan.map_or(0, u32::from);
    k[word_of(Field::Ovlan)] = if leaving {
        c.egress.vlan_tag.map_or(0, u32::from)
    } else {
        0
    };
    k[word_of(Field::Dscp)] = u32::from(i.tos >> 2);
    k[word_of(Field::Length)] = i.l3_len.min(u32::from(u16::MAX));
    k[word_of(Field::Frag)] = if !i.frag.is_fragment() {
        0
    } else if i.frag.offset == 0 {
        1
    } else {
        2
    };
    if ip {
        for n in 0..4u8 {
            let shift = 96 - 32 * u32::from(n);
            k[addr_word(false, n)] = (i.src >> shift) as u32;
            k[addr_word(true, n)] = (i.dst >> shift) as u32;
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expand::key;

    #[test]
    fn the_fast_key_is_the_layouts_key() {
        let mut c = PacketCtx::default();
        c.info.l3 = L3Kind::Ipv6;
        c.info.protocol = 6;
        c.info.l4_offset = 54;
        c.info.src = 0x2001_0db8_0000_0000_0000_0000_0000_0002;
        c.info.dst = 0x2001_0db8_0001_0000_0000_0000_0000_0009;
        c.info.src_port = 40000;
        c.info.dst_port = 443;
        c.info.l4_flags = 0x12;
        c.info.tos = 46 << 2;
        c.info.l3_len = 60;
        c.ct.state = ct_state::NEW;
        c.iface_in = orbital_fib::IfId(1);
        c.verdict = Verdict::Tx;
        c.egress.routed = true;
        c.egress.iface = orbital_fib::IfId(2);
        c.egress.port = orbital_fib::PortId(2);
        let pool = orbital_buf::Pool::new(orbital_buf::PoolConfig {
            buffers: 2,
            ..orbital_buf::PoolConfig::default()
        })
        .unwrap();
        let mut p = pool.alloc().unwrap();
        p.meta.port = 1;
        let want = key(
            |f| match f {
                Field::Family => 6,
                Field::L4Proto => 6,
                Field::Sport => 40000,
                Field::Dport => 443,
                Field::TcpFlags => 0x12,
                Field::CtState => u32::from(ct_state::NEW),
                Field::Iif | Field::Iport => 1,
                Field::Oif | Field::Oport => 2,
                Field::Dscp => 46,
                Field::Length => 60,
                _ => 0,
            },
            c.info.src,
            c.info.dst,
        );
        assert_eq!(of(&p, &c), want);
        p.truncate(0);
    }
}
