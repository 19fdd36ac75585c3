//! `orbital inspect FILE [--json]`: run every frame of a capture through the
//! data plane's own parser ([`orbital_wire::parse`]) and count what it finds.
//!
//! This is the parser's view, not a dissector's: it reports what the fast path
//! would see (up to two VLAN tags, ARP, IPv4, IPv6 with its extension headers,
//! TCP/UDP/ICMP), which parse error each malformed frame would be dropped for,
//! and which frames a data-plane port could never carry (unsupported link
//! types).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use orbital_capture::{Capture, Format};
use orbital_wire::{IpProtocol, L3Kind, LinkType, PacketInfo, ParseError, parse};
use serde::Serialize;

/// Per-protocol frame counts. A frame counts once per protocol it carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProtocolCounts {
    /// Frames with an Ethernet II header.
    pub ethernet: u64,
    /// Frames with at least one 802.1Q/802.1ad tag.
    pub vlan: u64,
    /// Frames whose layer 3 is ARP.
    pub arp: u64,
    /// Frames whose layer 3 is IPv4 (even if the IPv4 header is malformed).
    pub ipv4: u64,
    /// Frames whose layer 3 is IPv6.
    pub ipv6: u64,
    /// IP frames whose upper layer is ICMP (first or only fragment).
    pub icmp: u64,
    /// ... ICMPv6.
    pub icmpv6: u64,
    /// ... TCP.
    pub tcp: u64,
    /// ... UDP.
    pub udp: u64,
    /// IP fragments (IPv4 MF/offset, IPv6 fragment header with M or offset).
    pub fragments: u64,
    /// Frames of another EtherType, or 802.3/LLC frames.
    pub other: u64,
}

/// What `inspect` found in one capture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The file inspected.
    pub file: String,
    /// `pcap` or `pcapng`.
    pub format: String,
    /// Frames read.
    pub frames: u64,
    /// Captured bytes (what the file holds).
    pub bytes: u64,
    /// Bytes on the wire (original lengths).
    pub wire_bytes: u64,
    /// Protocol counts over frames of supported link types.
    pub protocols: ProtocolCounts,
    /// Frames that failed to parse, by error name.
    pub errors: BTreeMap<String, u64>,
    /// Frames whose link type the data plane does not read.
    pub unsupported_frames: u64,
    /// Those frames by pcap LINKTYPE_ value.
    pub unsupported_link_types: BTreeMap<u32, u64>,
    /// A problem with the file itself (truncation, bad block) that ended
    /// reading early; the counts cover the frames before it.
    pub capture_error: Option<String>,
}

/// How one frame was classified; used by `inspect` and by tests that compare
/// the parser with other tools frame by frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameView {
    /// Link type the frame was read as, `None` if unsupported.
    pub link: Option<LinkType>,
    /// The parse summary (partial on error).
    pub info: PacketInfo,
    /// The parse error, if any.
    pub error: Option<ParseError>,
}

/// Classify one frame of link type `linktype` (a pcap LINKTYPE_ value).
pub fn classify(linktype: u32, data: &[u8]) -> FrameView {
    let mut info = PacketInfo::default();
    let Some(link) = LinkType::from_pcap(linktype) else {
        return FrameView {
            link: None,
            info,
            error: None,
        };
    };
    let error = parse(data, link, &mut info).err();
    FrameView {
        link: Some(link),
        info,
        error,
    }
}

/// Inspect a capture file.
///
/// # Errors
/// If the file cannot be opened or is not a capture at all. Damage inside the
/// file is reported in [`Summary::capture_error`] instead.
pub fn inspect(path: &Path) -> anyhow::Result<Summary> {
    let cap = Capture::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut s = Summary {
        file: path.display().to_string(),
        format: match cap.format() {
            Format::Pcap => "pcap",
            Format::PcapNg => "pcapng",
        }
        .to_string(),
        ..Summary::default()
    };
    let mut errors = [0u64; ParseError::COUNT];
    for frame in cap.frames() {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                s.capture_error = Some(e.to_string());
                break;
            }
        };
        s.frames += 1;
        s.bytes += frame.data.len() as u64;
        s.wire_bytes += u64::from(frame.orig_len);
        let v = classify(frame.linktype, frame.data);
        let Some(link) = v.link else {
            s.unsupported_frames += 1;
            *s.unsupported_link_types.entry(frame.linktype).or_default() += 1;
            continue;
        };
        count(&mut s.protocols, link, &v, frame.data.len());
        if let Some(e) = v.error {
            errors[e.index()] += 1;
        }
    }
    for e in ParseError::ALL {
        if errors[e.index()] > 0 {
            s.errors.insert(e.name().to_string(), errors[e.index()]);
        }
    }
    Ok(s)
}

fn count(p: &mut ProtocolCounts, link: LinkType, v: &FrameView, len: usize) {
    let i = &v.info;
    if link == LinkType::Ethernet && len >= 14 {
        p.ethernet += 1;
    }
    if i.vlan_count > 0 || v.error == Some(ParseError::TooManyVlans) {
        p.vlan += 1;
    }
    match i.l3 {
        L3Kind::Arp => p.arp += 1,
        L3Kind::Ipv4 => p.ipv4 += 1,
        L3Kind::Ipv6 => p.ipv6 += 1,
        L3Kind::Other => p.other += 1,
        L3Kind::None => {}
    }
    let ip_header_ok = matches!(i.l3, L3Kind::Ipv4 | L3Kind::Ipv6) && i.l3_len != 0;
    if !ip_header_ok {
        return;
    }
    if i.frag.is_fragment() {
        p.fragments += 1;
    }
    if i.frag.is_later_fragment() {
        return;
    }
    match i.ip_protocol() {
        IpProtocol::Icmp => p.icmp += 1,
        IpProtocol::Icmpv6 => p.icmpv6 += 1,
        IpProtocol::Tcp => p.tcp += 1,
        IpProtocol::Udp => p.udp += 1,
        _ => {}
    }
}

/// Render a summary for people.
pub fn render_text(s: &Summary) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{} ({})", s.file, s.format);
    let _ = writeln!(
        o,
        "  frames {:>10}   bytes {:>12}   on the wire {:>12}",
        s.frames, s.bytes, s.wire_bytes
    );
    let p = &s.protocols;
    let _ = writeln!(o, "  protocols");
    for (name, n) in [
        ("ethernet", p.ethernet),
        ("vlan", p.vlan),
        ("arp", p.arp),
        ("ipv4", p.ipv4),
        ("ipv6", p.ipv6),
        ("icmp", p.icmp),
        ("icmpv6", p.icmpv6),
        ("tcp", p.tcp),
        ("udp", p.udp),
        ("fragments", p.fragments),
        ("other", p.other),
    ] {
        let _ = writeln!(o, "    {name:<28}{n:>10}");
    }
    if !s.errors.is_empty() {
        let _ = writeln!(o, "  parse errors (frames the fast path would drop)");
        for (name, n) in &s.errors {
            let _ = writeln!(o, "    {name:<28}{n:>10}");
        }
    }
    if s.unsupported_frames > 0 {
        let _ = writeln!(o, "  unsupported link types");
        for (lt, n) in &s.unsupported_link_types {
            let _ = writeln!(o, "    linktype {lt:<19}{n:>10}");
        }
    }
    if let Some(e) = &s.capture_error {
        let _ = writeln!(
            o,
            "  capture damaged: {e} (counts cover the frames before it)"
        );
    }
    o
}
