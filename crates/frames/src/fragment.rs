//! Software fragmentation of IPv4 packets (RFC 791 §3.2, RFC 1812 §5.2.6)
//! for an egress whose MTU is smaller than the packet.

use orbital_buf::{Packet, PoolCache};
use orbital_wire::ipv4::{self, Ipv4Packet};

/// Why a packet could not be fragmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// Not a valid IPv4 packet.
    #[error("not a valid IPv4 packet")]
    Malformed,
    /// DF is set: the sender must be told instead (Fragmentation Needed).
    #[error("don't-fragment is set")]
    DontFragment,
    /// The MTU cannot hold the header and eight bytes of data.
    #[error("MTU {0} is too small to fragment into")]
    MtuTooSmall(u16),
    /// The options are malformed (RFC 1812 §5.2.4): a fragment cannot be
    /// given a header the original does not properly have.
    #[error("malformed IPv4 options")]
    BadOption,
    /// The pool ran out of buffers part way; fragments made so far are freed.
    #[error("no buffer for a fragment")]
    NoBuffer,
}

/// Cut IPv4 packet `ip` (header to total length) into fragments of at most
/// `mtu` bytes (RFC 791 §3.2, RFC 1812 §5.2.6), each a new L3 packet from
/// `cache` with the original's metadata, pushed to `out` in order. The first
/// fragment keeps every option; later ones only those with the copied flag.
/// A packet that is itself a fragment is fragmented further (offsets and MF
/// carry over).
///
/// # Errors
/// [`FragmentError`]; nothing is pushed to `out` on error.
pub fn fragment_ipv4(
    ip: &[u8],
    meta: orbital_buf::Meta,
    mtu: u16,
    cache: &mut PoolCache,
    out: &mut Vec<Packet>,
) -> Result<usize, FragmentError> {
    let p = Ipv4Packet::new_checked(ip).map_err(|_| FragmentError::Malformed)?;
    if p.dont_frag() {
        return Err(FragmentError::DontFragment);
    }
    let hlen = p.header_len();
    let total = usize::from(p.total_len());
    let payload = &ip[hlen..total];
    // Options that go into every fragment (copied flag, RFC 791 §3.1). A
    // malformed list is refused whole, never cut at the defect: later
    // fragments would carry a different, truncated option list.
    ipv4::validate_options(&ip[ipv4::HEADER_LEN..hlen]).map_err(|_| FragmentError::BadOption)?;
    let mut later_header = ip[..ipv4::HEADER_LEN].to_vec();
    for opt in p.options() {
        let opt = opt.map_err(|_| FragmentError::BadOption)?;
        if opt.kind & 0x80 != 0 {
            later_header.push(opt.kind);
            later_header.push((opt.data.len() + 2) as u8);
            later_header.extend_from_slice(opt.data);
        }
    }
    while later_header.len() % 4 != 0 {
        later_header.push(0); // end of option list
    }
    let mtu = usize::from(mtu);
    let first_room = mtu.saturating_sub(hlen) & !7;
    let later_room = mtu.saturating_sub(later_header.len()) & !7;
    if first_room == 0 || later_room == 0 {
        return Err(FragmentError::MtuTooSmall(mtu as u16));
    }
    let base_offset = usize::from(p.frag_offset());
    let last_more = p.more_frags();
    let start = out.len();
    let mut pos = 0;
    while pos < payload.len() {
        let (header, room) = if pos == 0 {
            (&ip[..hlen], first_room)
        } else {
            (&later_header[..], later_room)
        };
        let take = room.min(payload.len() - pos);
        let more = pos + take < payload.len() || last_more;
        let Some(mut f) = cache.alloc() else {
            cache.free_all(out.drain(start..));
            return Err(FragmentError::NoBuffer);
        };
        f.meta = meta;
        let Some(buf) = f.append(header.len() + take) else {
            cache.free(f);
            cache.free_all(out.drain(start..));
            return Err(FragmentError::NoBuffer);
        };
        buf[..header.len()].copy_from_slice(header);
        buf[header.len()..].copy_from_slice(&payload[pos..pos + take]);
        let mut fp = Ipv4Packet::new_unchecked(&mut buf[..]);
        fp.set_version_and_header_len(header.len());
        fp.set_total_len((header.len() + take) as u16);
        fp.set_frag(false, more, (base_offset + pos) as u16);
        fp.fill_checksum();
        out.push(f);
        pos += take;
    }
    Ok(out.len() - start)
}
