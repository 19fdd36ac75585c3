//! TCP connection tracking as Linux's nf_conntrack does it: the state
//! machine (a table by direction, segment kind and state) and window
//! tracking (the crate documentation states the rules and their sources).

use orbital_wire::tcp::{TcpOption, TcpPacket, flags as f};

use crate::config::Tuning;
use crate::entry::{Entry, TimeoutClass, status};
use crate::track::InvalidReason;
use crate::tuple::Dir;

/// TCP connection state, as nf_conntrack names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    /// No segment seen yet (only inside a table lookup).
    None = 0,
    /// SYN seen.
    SynSent,
    /// SYN/ACK seen.
    SynRecv,
    /// The handshake's ACK seen.
    Established,
    /// FIN seen in one direction.
    FinWait,
    /// That FIN acknowledged.
    CloseWait,
    /// FIN seen in both directions.
    LastAck,
    /// The last FIN acknowledged.
    TimeWait,
    /// Reset.
    Close,
    /// SYN seen from both sides (simultaneous open, RFC 9293 §3.5 figure 7).
    SynSent2,
}

impl TcpState {
    /// Every state, in `as u8` order.
    pub const ALL: [TcpState; 10] = [
        TcpState::None,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::Established,
        TcpState::FinWait,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::SynSent2,
    ];

    /// The name `conntrack -L` prints.
    pub const fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::SynSent2 => "SYN_SENT2",
        }
    }

    pub(crate) const fn from_u8(v: u8) -> TcpState {
        if (v as usize) < TcpState::ALL.len() {
            TcpState::ALL[v as usize]
        } else {
            TcpState::None
        }
    }

    /// A closing state: an assured entry here may be evicted under
    /// pressure (Linux's `tcp_can_early_drop`).
    pub(crate) const fn closing(self) -> bool {
        matches!(
            self,
            TcpState::FinWait
                | TcpState::CloseWait
                | TcpState::LastAck
                | TcpState::TimeWait
                | TcpState::Close
        )
    }

    const fn class(self) -> TimeoutClass {
        match self {
            TcpState::None | TcpState::SynSent => TimeoutClass::TcpSynSent,
            TcpState::SynRecv => TimeoutClass::TcpSynRecv,
            TcpState::Established => TimeoutClass::TcpEstablished,
            TcpState::FinWait => TimeoutClass::TcpFinWait,
            TcpState::CloseWait => TimeoutClass::TcpCloseWait,
            TcpState::LastAck => TimeoutClass::TcpLastAck,
            TcpState::TimeWait => TimeoutClass::TcpTimeWait,
            TcpState::Close => TimeoutClass::TcpClose,
            TcpState::SynSent2 => TimeoutClass::TcpSynSent2,
        }
    }
}

// What kind of segment, by its flags (RST wins, then SYN, FIN, ACK).
const K_SYN: usize = 0;
const K_SYNACK: usize = 1;
const K_FIN: usize = 2;
const K_ACK: usize = 3;
const K_RST: usize = 4;
const K_NONE: usize = 5;

// Table cells that are not states.
const IV: u8 = 0xfe; // invalid
const IG: u8 = 0xfd; // ignore: maybe our view is out of sync; let it pass unexamined

const NO: u8 = TcpState::None as u8;
const SS: u8 = TcpState::SynSent as u8;
const SR: u8 = TcpState::SynRecv as u8;
const ES: u8 = TcpState::Established as u8;
const FW: u8 = TcpState::FinWait as u8;
const CW: u8 = TcpState::CloseWait as u8;
const LA: u8 = TcpState::LastAck as u8;
const TW: u8 = TcpState::TimeWait as u8;
const CL: u8 = TcpState::Close as u8;
const S2: u8 = TcpState::SynSent2 as u8;

/// Next state by direction, segment kind and current state (columns in
/// `TcpState` order: NONE SYN_SENT SYN_RECV ESTABLISHED FIN_WAIT CLOSE_WAIT
/// LAST_ACK TIME_WAIT CLOSE SYN_SENT2). The transitions are those of
/// Linux 6.x (net/netfilter/nf_conntrack_proto_tcp.c), which follow the
/// RFC 9293 §3.3.2 diagram as a middlebox can see it.
static NEXT: [[[u8; 10]; 6]; 2] = [
    // Original direction (the side that sent the first SYN).
    [
        // SYN: opens; retransmitted; in a live connection ignored (the
        // endpoints may know better, their RST will tell); in TIME_WAIT or
        // CLOSE a new incarnation (RFC 9293 §3.10.7.4 / RFC 1122 4.2.2.13).
        [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
        // SYN/ACK from the client is wrong except in simultaneous open.
        [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR],
        // FIN: not before the SYN/ACK.
        [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        // ACK: picks up a connection from nothing (loose), completes the
        // handshake, acknowledges FINs.
        [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
        // RST closes anything open.
        [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        // No SYN, FIN, ACK or RST: never valid.
        [IV; 10],
    ],
    // Reply direction.
    [
        // SYN from the server: simultaneous open; in TIME_WAIT the roles may
        // have switched.
        [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2],
        // SYN/ACK answers the SYN; a late or repeated one is ignored.
        [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
        [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        // ACK in SYN_SENT may be a challenge ACK (RFC 5961 §4) or a
        // half-open connection: ignored.
        [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
        [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        [IV; 10],
    ],
];

// Per-direction flags (`TcpTrack::flags`), as nf_conntrack's IP_CT_TCP_FLAG_*.
const WSCALE: u8 = 0x01; // SYN carried window scale
const SACK_PERM: u8 = 0x02; // SYN carried SACK-permitted
const CLOSE_INIT: u8 = 0x04; // this side sent the first FIN
const BE_LIBERAL: u8 = 0x08; // accept out-of-window (picked up mid-stream)
const DATA_UNACK: u8 = 0x10; // sent data not acknowledged yet
const MAXACK_SET: u8 = 0x20; // `maxack` holds a value

// `TcpTrack::last_opts` high nibble.
const L_WSCALE: u8 = 0x1;
const L_SACK_PERM: u8 = 0x2;
const L_CHALLENGE: u8 = 0x4; // an ignored SYN in LAST_ACK may draw a challenge ACK
const L_SIMOPEN: u8 = 0x8; // simultaneous open seen

/// Largest window the ACK lower bound tolerates as a constant (Linux's
/// MAXACKWINCONST).
const MAX_ACK_WINDOW: u32 = 66_000;

/// Per-connection TCP tracking state: 48 bytes, arrays indexed by
/// [`Dir::index`]. Fields are flat arrays rather than a per-side struct so
/// that no padding creeps in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TcpTrack {
    pub(crate) end: [u32; 2],
    pub(crate) maxend: [u32; 2],
    pub(crate) maxwin: [u32; 2],
    pub(crate) maxack: [u32; 2],
    pub(crate) scale: [u8; 2],
    pub(crate) flags: [u8; 2],
    /// End of the last segment examined (Linux's `last_end`).
    pub(crate) last_end: u32,
    /// A fingerprint of (seq, ack) of the last segment, for retransmission
    /// detection; in SYN_SENT, the ACK number of an ignored reply ACK (a
    /// possible challenge ACK). Linux keeps `last_seq` and `last_ack`
    /// apart; one word does both jobs here.
    pub(crate) last_mark: u32,
    /// Raw window of the last segment.
    pub(crate) last_win: u16,
    /// Bit 0: direction; bits 1–3: segment kind; bits 4–7: retransmissions.
    pub(crate) last: u8,
    /// Bits 0–3: window scale of an ignored SYN; bits 4–7: `L_*` flags.
    pub(crate) last_opts: u8,
}

impl TcpTrack {
    fn last_dir(&self) -> usize {
        usize::from(self.last & 1)
    }
    fn last_kind(&self) -> usize {
        usize::from((self.last >> 1) & 0x7)
    }
    fn set_last(&mut self, dir: usize, kind: usize) {
        self.last = (self.last & 0xf0) | (kind as u8) << 1 | dir as u8;
    }
    pub(crate) fn retrans(&self) -> u8 {
        self.last >> 4
    }
    fn set_retrans(&mut self, n: u8) {
        self.last = (self.last & 0x0f) | n.min(15) << 4;
    }
    fn lflags(&self) -> u8 {
        self.last_opts >> 4
    }
    fn set_lflags(&mut self, v: u8) {
        self.last_opts = (self.last_opts & 0x0f) | v << 4;
    }

    /// UDP entries keep the time after which a replied flow counts as a
    /// stream (Linux's `stream_ts`) in the otherwise unused window words.
    pub(crate) fn stash(&mut self, v: u64) {
        self.end = [v as u32, (v >> 32) as u32];
    }
    pub(crate) fn stashed(&self) -> u64 {
        u64::from(self.end[0]) | u64::from(self.end[1]) << 32
    }
}

#[inline]
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

#[inline]
fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

fn mark(seq: u32, ack: u32) -> u32 {
    seq ^ ack.rotate_left(16)
}

/// A TCP segment as the tracker reads it.
#[derive(Debug)]
pub(crate) struct Segment<'a> {
    pkt: TcpPacket<&'a [u8]>,
    seq: u32,
    ack: u32,
    win: u16,
    flags: u16,
    /// `seq` + payload length + 1 for SYN + 1 for FIN.
    end: u32,
    kind: usize,
}

impl<'a> Segment<'a> {
    /// Read and sanity-check a segment (Linux's `tcp_error`, without the
    /// checksum, which the parse stage or the NIC owns).
    pub(crate) fn parse(l4: &'a [u8]) -> Result<Segment<'a>, InvalidReason> {
        let pkt = TcpPacket::new_checked(l4).map_err(|_| InvalidReason::Truncated)?;
        let flags = pkt.flags();
        // PSH, ECE, CWR (and AE) may be set with anything.
        let core = flags & (f::FIN | f::SYN | f::RST | f::ACK | f::URG);
        const SU: u16 = f::SYN | f::URG;
        const SA: u16 = f::SYN | f::ACK;
        const RA: u16 = f::RST | f::ACK;
        const FA: u16 = f::FIN | f::ACK;
        const FAU: u16 = f::FIN | f::ACK | f::URG;
        const AU: u16 = f::ACK | f::URG;
        let valid = matches!(
            core,
            f::SYN | SU | SA | f::RST | RA | FA | FAU | f::ACK | AU
        );
        if !valid {
            return Err(InvalidReason::TcpBadFlags);
        }
        let kind = if flags & f::RST != 0 {
            K_RST
        } else if flags & f::SYN != 0 {
            if flags & f::ACK != 0 { K_SYNACK } else { K_SYN }
        } else if flags & f::FIN != 0 {
            K_FIN
        } else if flags & f::ACK != 0 {
            K_ACK
        } else {
            K_NONE
        };
        let seq = pkt.seq_number();
        let len = (l4.len() - pkt.header_len()) as u32;
        let end = seq
            .wrapping_add(len)
            .wrapping_add(u32::from(flags & f::SYN != 0))
            .wrapping_add(u32::from(flags & f::FIN != 0));
        Ok(Segment {
            seq,
            ack: pkt.ack_number(),
            win: pkt.window(),
            flags,
            end,
            kind,
            pkt,
        })
    }

    fn has(&self, bit: u16) -> bool {
        self.flags & bit != 0
    }

    /// Window scale and SACK-permitted from the options (Linux's
    /// `tcp_options`): the shift is capped at 14 (RFC 7323 §2.3). Parsing
    /// stops at the first malformed option, keeping what came before.
    fn options(&self) -> (u8, u8) {
        let (mut scale, mut fl) = (0, 0);
        for o in self.pkt.options() {
            match o {
                Ok(TcpOption::WindowScale(s)) => {
                    scale = s.min(14);
                    fl |= WSCALE;
                }
                Ok(TcpOption::SackPermitted) => fl |= SACK_PERM,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        (scale, fl)
    }

    /// The highest right edge among the SACK blocks, if beyond `ack`.
    fn highest_sack(&self, ack: u32) -> u32 {
        let mut sack = ack;
        for o in self.pkt.options() {
            match o {
                Ok(TcpOption::Sack(blocks)) => {
                    for b in blocks.chunks_exact(8) {
                        let right = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                        if after(right, sack) {
                            sack = right;
                        }
                    }
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        sack
    }
}

/// What the table must do after a segment was examined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TcpOutcome {
    /// In window: state updated. Refresh the deadline on `class` unless
    /// `refresh` is false (a retransmitted SYN must not keep a dead entry
    /// alive).
    Accept { class: TimeoutClass, refresh: bool },
    /// Let through without changing the entry (our view may be out of sync).
    Ignore,
    /// Invalid; `shorten`: cap an assured entry's remaining life to the
    /// unacknowledged timeout (an out-of-window FIN/RST answered one from
    /// the other side: the endpoints are probably gone).
    Invalid {
        reason: InvalidReason,
        shorten: bool,
    },
    /// Accepted, and the entry ends now: a reset before any reply.
    Kill,
    /// A SYN reopening a closed connection: remove the entry and track the
    /// SYN as a new connection.
    Reopen,
}

/// Initialise a new entry from its first segment (Linux's `tcp_new`).
pub(crate) fn open(t: &mut TcpTrack, seg: &Segment<'_>, cfg: &Tuning) -> Result<(), InvalidReason> {
    let next = NEXT[0][seg.kind][NO as usize];
    if next == IV {
        return Err(InvalidReason::TcpInvalidNew);
    }
    *t = TcpTrack::default();
    t.end[0] = seg.end;
    t.maxwin[0] = u32::from(seg.win).max(1);
    if next == SS {
        t.maxend[0] = seg.end;
        let (scale, fl) = seg.options();
        t.scale[0] = scale;
        t.flags[0] = fl;
    } else if !cfg.loose {
        return Err(InvalidReason::TcpInvalidNew);
    } else {
        // Picked up mid-stream: the history (and window scale) is lost;
        // assume SACK and be liberal until both sides were seen.
        t.maxend[0] = seg.end.wrapping_add(t.maxwin[0]);
        t.flags = [SACK_PERM | BE_LIBERAL; 2];
    }
    t.set_last(0, K_NONE);
    Ok(())
}

/// Initialise the sender's side from its SYN or SYN/ACK.
fn init_sender(t: &mut TcpTrack, s: usize, seg: &Segment<'_>, end: u32, win: u32) {
    t.end[s] = end;
    t.maxend[s] = end;
    t.maxwin[s] = win.max(1);
    let (scale, fl) = seg.options();
    t.scale[s] = scale;
    t.flags[s] = (t.flags[s] & BE_LIBERAL) | fl;
    // RFC 7323 §2.2: scaling only if both SYNs carried the option.
    if s == 1 && !(t.flags[0] & WSCALE != 0 && t.flags[1] & WSCALE != 0) {
        t.scale = [0; 2];
    }
}

enum Window {
    Accept,
    Ignore,
    Invalid(InvalidReason),
}

/// The window check and update (Linux's `tcp_in_window`).
fn in_window(t: &mut TcpTrack, state: u8, s: usize, seg: &Segment<'_>, cfg: &Tuning) -> Window {
    let r = 1 - s;
    let liberal = t.flags[s] & BE_LIBERAL != 0 || cfg.liberal;
    let soft = |w: Window| if liberal { Window::Accept } else { w };
    let mut seq = seg.seq;
    let mut ack = seg.ack;
    let mut sack = if t.flags[r] & SACK_PERM != 0 {
        seg.highest_sack(ack)
    } else {
        ack
    };
    let mut win = u32::from(seg.win);
    let mut end = seg.end;

    if t.maxwin[s] == 0 {
        if seg.has(f::SYN) {
            // SYN/ACK answering the SYN, or the reply-side SYN of a
            // simultaneous open.
            init_sender(t, s, seg, end, win);
            if !seg.has(f::ACK) {
                return Window::Accept;
            }
        } else {
            // First segment from this side of a picked-up connection.
            t.end[s] = end;
            t.maxwin[s] = (win << t.scale[s]).max(1);
            t.maxend[s] = end.wrapping_add(t.maxwin[s]);
            if t.maxwin[r] == 0 {
                // Nothing from the other side yet: let its ACK pass 3 and 4.
                t.end[r] = sack;
                t.maxend[r] = sack;
            } else if sack == t.end[r].wrapping_add(1) {
                // Likely the answer to a keep-alive probe.
                t.end[r] = t.end[r].wrapping_add(1);
            }
        }
    } else if seg.has(f::SYN) && after(end, t.end[s]) && (state == SS || state == SR) {
        // A new SYN (or SYN/ACK) with higher sequence numbers: the endpoint
        // restarted (RFC 9293 §3.4.1); take its values afresh.
        init_sender(t, s, seg, end, win);
        if s == 1 && !seg.has(f::ACK) {
            return Window::Accept;
        }
    }

    if !seg.has(f::ACK) {
        // No ACK: pretend it acknowledged everything, so only 1 and 2 count.
        ack = t.end[r];
        sack = ack;
    } else if seg.has(f::RST) && ack == 0 {
        // Stacks that send RST+ACK with a zero ACK number.
        ack = t.end[r];
        sack = ack;
    }
    if seg.has(f::RST) && seq == 0 && state == SS {
        // A reset answering a SYN.
        seq = t.end[s];
        end = seq;
    }

    let max_ack_window = t.maxwin[s].max(MAX_ACK_WINDOW);
    if !before(seq, t.maxend[s].wrapping_add(1)) {
        // Beyond the right edge. Some stacks overshoot the window a little;
        // if everything else is in order, note the data (so its ACK is not
        // judged "data not seen") and let it pass as ignored.
        let overshot = end.wrapping_sub(t.maxend[s]).wrapping_add(1);
        let ack_ok = after(sack, t.end[r].wrapping_sub(max_ack_window).wrapping_sub(1));
        let in_recv_win =
            t.maxwin[r] != 0 && after(end, t.end[s].wrapping_sub(t.maxwin[r]).wrapping_sub(1));
        if in_recv_win
            && ack_ok
            && overshot <= t.maxwin[r]
            && before(sack, t.end[r].wrapping_add(1))
        {
            t.end[s] = end;
            t.flags[s] |= DATA_UNACK;
            return soft(Window::Ignore);
        }
        return soft(Window::Invalid(InvalidReason::TcpSeqOutOfWindow));
    }
    if !before(sack, t.end[r].wrapping_add(1)) {
        return soft(Window::Invalid(InvalidReason::TcpAckOutOfWindow));
    }
    let in_recv_win =
        t.maxwin[r] == 0 || after(end, t.end[s].wrapping_sub(t.maxwin[r]).wrapping_sub(1));
    if !in_recv_win {
        // Data already acknowledged, retransmitted: harmless.
        return soft(Window::Ignore);
    }
    if !after(sack, t.end[r].wrapping_sub(max_ack_window).wrapping_sub(1)) {
        // An overly delayed ACK.
        return soft(Window::Ignore);
    }

    if !seg.has(f::SYN) {
        // RFC 7323 §2.3: the window of a SYN is never scaled.
        win <<= t.scale[s];
    }
    let swin = win.wrapping_add(sack.wrapping_sub(ack));
    if t.maxwin[s] < swin {
        t.maxwin[s] = swin;
    }
    if after(end, t.end[s]) {
        t.end[s] = end;
        t.flags[s] |= DATA_UNACK;
    }
    if seg.has(f::ACK) {
        if t.flags[s] & MAXACK_SET == 0 {
            t.maxack[s] = ack;
            t.flags[s] |= MAXACK_SET;
        } else if after(ack, t.maxack[s]) {
            t.maxack[s] = ack;
        }
    }
    if t.maxwin[r] != 0 && after(end, t.maxend[s]) {
        t.maxwin[r] = t.maxwin[r].wrapping_add(end.wrapping_sub(t.maxend[s]));
    }
    if after(sack.wrapping_add(win), t.maxend[r].wrapping_sub(1)) {
        t.maxend[r] = sack.wrapping_add(win);
        if win == 0 {
            t.maxend[r] = t.maxend[r].wrapping_add(1);
        }
    }
    if ack == t.end[r] {
        t.flags[r] &= !DATA_UNACK;
    }
    if seg.kind == K_ACK {
        // A segment identical to the previous one from the same side is a
        // retransmission (or a duplicate ACK).
        let m = mark(seq, ack);
        if t.last_dir() == s && t.last_mark == m && t.last_end == end && t.last_win == seg.win {
            t.set_retrans(t.retrans() + 1);
        } else {
            t.set_last(s, t.last_kind());
            t.last_mark = m;
            t.last_end = end;
            t.last_win = seg.win;
            t.set_retrans(0);
        }
    }
    Window::Accept
}

/// The state machine for one segment on an existing (or just opened)
/// entry (Linux's `nf_conntrack_tcp_packet`).
pub(crate) fn packet(
    e: &mut Entry,
    dir: Dir,
    seg: &Segment<'_>,
    cfg: &Tuning,
    now: u64,
) -> TcpOutcome {
    let d = dir.index();
    let kind = seg.kind;
    let mut old = e.state;
    let mut new = NEXT[d][kind][usize::from(old)];
    let assured = e.has(status::ASSURED);
    let seen_reply = e.has(status::SEEN_REPLY);
    let expires = e.expires;
    let t = &mut e.tcp;
    let mut check_window = true;

    let ignore = match new {
        SS if old >= TW => {
            // A SYN in TIME_WAIT or CLOSE. If the connection was closed
            // properly (a FIN was seen) or reset by this side, it is a new
            // incarnation: start over. Otherwise we may be out of sync: ignore.
            if (t.flags[0] | t.flags[1]) & CLOSE_INIT != 0
                || (t.last_dir() == d && t.last_kind() == K_RST)
            {
                return TcpOutcome::Reopen;
            }
            true
        }
        IG => true,
        IV => {
            return TcpOutcome::Invalid {
                reason: InvalidReason::TcpInvalidState,
                shorten: false,
            };
        }
        TW => {
            // RFC 5961 §4: a SYN in LAST_ACK draws a challenge ACK, which must
            // not be taken for the ACK of the last FIN.
            if old == LA
                && kind == K_ACK
                && t.last_dir() != d
                && t.last_kind() == K_SYN
                && t.lflags() & L_CHALLENGE != 0
            {
                t.set_lflags(t.lflags() & !L_CHALLENGE);
                return TcpOutcome::Ignore;
            }
            false
        }
        S2 => {
            t.set_lflags(t.lflags() | L_SIMOPEN);
            false
        }
        SR => {
            if dir == Dir::Reply && kind == K_ACK && t.lflags() & L_SIMOPEN != 0 {
                new = ES;
            }
            false
        }
        CL if kind == K_RST => {
            let state = TcpState::from_u8(old);
            let established = old == ES && assured;
            let r = 1 - d;
            if state.closing() {
                // Closing: the tuple may already be reused, our sequence
                // state is stale; accept the reset as is.
                check_window = false;
            } else {
                let mut keep_state = false;
                if t.flags[r] & MAXACK_SET != 0 && t.last_kind() != K_SYN {
                    let seq = seg.seq;
                    if seq == 0 && !established {
                        // Answer to a SYN we let through.
                    } else if before(seq, t.maxack[r]) && !cfg.ignore_invalid_rst {
                        return TcpOutcome::Invalid {
                            reason: InvalidReason::TcpInvalidRst,
                            shorten: false,
                        };
                    } else if !established || seq == t.maxack[r] {
                        // Exactly where the peer expects it (RFC 5961 §3.2).
                    } else if t.last_kind() == K_ACK && t.last_dir() == d && seq == t.last_end {
                        // The reset ends a train of data from this side.
                    } else {
                        // In window but not exact: the endpoint answers with a
                        // challenge ACK; keep the state.
                        keep_state = true;
                    }
                }
                if keep_state {
                    new = old;
                }
                if ((seen_reply && t.last_kind() == K_SYN) || (!assured && t.last_kind() == K_ACK))
                    && seg.ack == t.last_end
                {
                    // A reset answering a SYN or ACK we ignored: it may
                    // acknowledge what we did not track; skip the window.
                    check_window = false;
                } else if old == SS
                    && t.last_kind() == K_ACK
                    && t.last_dir() == 1
                    && seg.seq == t.last_mark
                {
                    // A reset answering a challenge ACK we let through.
                    check_window = false;
                }
            }
            false
        }
        _ => false,
    };

    if ignore {
        if kind == K_SYNACK && t.last_kind() == K_SYN && t.last_dir() != d && seg.ack == t.last_end
        {
            // This SYN/ACK answers a SYN we ignored: the endpoints are in sync
            // and we are not. Resynchronise from what we noted of that SYN.
            old = SS;
            new = SR;
            let ld = t.last_dir();
            t.end[ld] = t.last_end;
            t.maxend[ld] = t.last_end;
            t.maxwin[ld] = u32::from(t.last_win).max(1);
            t.scale[ld] = t.last_opts & 0x0f;
            let lf = t.lflags() & !L_CHALLENGE;
            t.set_lflags(lf);
            t.flags[ld] = lf & (L_WSCALE | L_SACK_PERM);
            let other = 1 - ld;
            t.end[other] = 0;
            t.maxend[other] = 0;
            t.maxwin[other] = 0;
            t.maxack[other] = 0;
            t.scale[other] = 0;
            t.flags[other] &= BE_LIBERAL;
        } else {
            t.set_last(d, kind);
            t.last_mark = mark(seg.seq, seg.ack);
            t.last_end = seg.end;
            t.last_win = seg.win;
            if kind == K_SYN && dir == Dir::Original {
                // Note the SYN's options: if the server answers it, we resync.
                let (scale, fl) = seg.options();
                let mut lf = 0;
                if fl & WSCALE != 0 {
                    lf |= L_WSCALE;
                }
                if fl & SACK_PERM != 0 {
                    lf |= L_SACK_PERM;
                }
                if old == LA {
                    lf |= L_CHALLENGE;
                }
                t.last_opts = scale | lf << 4;
            }
            if old == SS && kind == K_ACK && dir == Dir::Reply {
                // Possibly a challenge ACK: remember its number for the RST.
                t.last_mark = seg.ack;
            }
            return TcpOutcome::Ignore;
        }
    }

    if check_window {
        match in_window(t, old, d, seg, cfg) {
            Window::Accept => {}
            Window::Ignore => return TcpOutcome::Ignore,
            Window::Invalid(reason) => {
                let shorten = invalid_fin_rst(t, assured, d, kind, expires, now, cfg);
                return TcpOutcome::Invalid { reason, shorten };
            }
        }
    }

    // In window from here on.
    let t = &mut e.tcp;
    t.set_last(d, kind);
    e.state = new;
    if old != new && new == FW {
        t.flags[d] |= CLOSE_INIT;
    }
    let state_class = TcpState::from_u8(new).class();
    let tmo = |c: TimeoutClass| cfg.of(c);
    let mut class =
        if t.retrans() >= cfg.max_retrans && tmo(state_class) > tmo(TimeoutClass::TcpRetrans) {
            TimeoutClass::TcpRetrans
        } else if kind == K_RST {
            TimeoutClass::TcpClose
        } else if (t.flags[0] | t.flags[1]) & DATA_UNACK != 0
            && tmo(state_class) > tmo(TimeoutClass::TcpUnack)
        {
            TimeoutClass::TcpUnack
        } else if t.last_win == 0 && tmo(state_class) > tmo(TimeoutClass::TcpRetrans) {
            // A zero window: the receiver may be gone.
            TimeoutClass::TcpRetrans
        } else {
            state_class
        };

    if !seen_reply {
        if seg.has(f::RST) {
            // Only a reset came back (or the client gave up): nothing
            // established; remove the entry at once.
            return TcpOutcome::Kill;
        }
        if kind == K_SYN && old == SS {
            return TcpOutcome::Accept {
                class,
                refresh: false,
            };
        }
        if new == ES && tmo(class) > tmo(TimeoutClass::TcpUnack) {
            // Picked up mid-stream, no answer yet: not worth five days.
            class = TimeoutClass::TcpUnack;
        }
    } else if !assured && (old == SR || old == ES) && new == ES {
        // A valid ACK after the SYN/ACK, or an answer to a picked-up
        // connection: worth keeping.
        e.status |= status::ASSURED;
    }
    TcpOutcome::Accept {
        class,
        refresh: true,
    }
}

/// Linux's `nf_tcp_handle_invalid`: an out-of-window FIN or RST answering
/// one from the other side on an assured connection shortens its life.
fn invalid_fin_rst(
    t: &mut TcpTrack,
    assured: bool,
    d: usize,
    kind: usize,
    expires: u64,
    now: u64,
    cfg: &Tuning,
) -> bool {
    if !assured || !(kind == K_RST || kind == K_FIN) {
        return false;
    }
    if t.last_dir() != d && (t.last_kind() == K_FIN || t.last_kind() == K_RST) {
        let left = expires.saturating_sub(now);
        left >= 120_000_000_000 && left > cfg.of(TimeoutClass::TcpUnack)
    } else {
        t.set_last(d, kind);
        false
    }
}
