//! Ethernet framing of a packet in place: replace its L2 header (MACs, an
//! 802.1Q tag, the EtherType) using the buffer's headroom, so the payload
//! never moves.

use orbital_buf::Packet;
use orbital_wire::ethernet::EtherType;
use orbital_wire::vlan::VlanHeader;
use orbital_wire::{EthernetAddress, EthernetFrame};

/// Replace the first `old_l2` bytes of `p` (its L2 header) by an Ethernet
/// header with an optional 802.1Q tag, moving only the front of the buffer
/// (headroom). Returns the new header length, or `None` without headroom.
#[inline]
pub fn set_l2(
    p: &mut Packet,
    old_l2: u16,
    dst: EthernetAddress,
    src: EthernetAddress,
    tag: Option<u16>,
    ethertype: EtherType,
) -> Option<usize> {
    let new_l2 = if tag.is_some() { 18 } else { 14 };
    let old = usize::from(old_l2);
    if new_l2 < old {
        p.strip_front(old - new_l2);
    } else if new_l2 > old {
        p.prepend(new_l2 - old)?;
    }
    let mut eth = EthernetFrame::new_unchecked(&mut p[..new_l2]);
    eth.set_dst_addr(dst);
    eth.set_src_addr(src);
    match tag {
        Some(v) => {
            eth.set_ethertype(EtherType::Vlan);
            let mut t = VlanHeader::new_unchecked(&mut p[14..new_l2]);
            t.set_tci(v & 0x0fff);
            t.set_ethertype(ethertype);
        }
        None => eth.set_ethertype(ethertype),
    }
    Some(new_l2)
}

/// Give a bridged frame (L2 header of `l2_len` bytes) the egress tag `tag`,
/// keeping its MACs and inner EtherType. False without headroom.
#[inline]
pub fn set_vlan(p: &mut Packet, l2_len: u16, tag: Option<u16>) -> bool {
    let l2 = usize::from(l2_len);
    if l2 < 14 || p.len() < l2 {
        return false;
    }
    let dst = EthernetAddress::from_bytes(&p[0..6]);
    let src = EthernetAddress::from_bytes(&p[6..12]);
    let inner = EtherType::from(u16::from_be_bytes([p[l2 - 2], p[l2 - 1]]));
    set_l2(p, l2_len, dst, src, tag, inner).is_some()
}
