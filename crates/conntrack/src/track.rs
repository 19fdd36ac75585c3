//! What [`crate::ConnTrack::track`] says about a packet, and the named
//! reasons behind it.

use crate::tuple::Dir;

macro_rules! reasons {
    ($(#[$tdoc:meta])* $ty:ident { $( $(#[$doc:meta])* $variant:ident => $name:literal, $desc:literal; )+ }) => {
        $(#[$tdoc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $ty {
            $( $(#[$doc])* $variant, )+
        }

        impl $ty {
            /// Every reason, in [`Self::index`] order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// Counter name (`orbctl`, Prometheus).
            pub const fn name(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }

            /// One-line description.
            pub const fn description(self) -> &'static str {
                match self { $($ty::$variant => $desc),+ }
            }

            /// Position in [`Self::ALL`], for counter arrays.
            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

reasons! {
    /// Why a packet is [`CtState::Invalid`]. Every one is counted (see
    /// [`crate::CtStats::invalid`]); none changes the entry the packet was
    /// checked against, none drops the packet by itself and none makes
    /// conntrack send anything: the ruleset decides (`ct state invalid drop`
    /// is the usual rule; a `reject with tcp reset` rule is the only way a
    /// reset is sent).
    InvalidReason {
        /// Transport header missing or shorter than its own length fields.
        Truncated => "ct-truncated", "transport header truncated or malformed";
        /// A TCP flag combination no stack sends (Linux's `tcp_valid_flags`).
        TcpBadFlags => "ct-tcp-bad-flags", "invalid TCP flag combination";
        /// No entry, and the segment cannot open one (not a SYN, or a
        /// mid-stream ACK with `tcp_loose` off).
        TcpInvalidNew => "ct-tcp-invalid-new", "TCP segment that cannot start a connection";
        /// Flags the connection's state does not allow (a SYN/ACK from the
        /// client, data before the handshake, …).
        TcpInvalidState => "ct-tcp-invalid-state", "TCP flags not valid in the connection's state";
        /// Out of window: the segment starts beyond the right edge of the
        /// receiver's window (RFC 9293 §3.10.7.4's acceptability test).
        TcpSeqOutOfWindow => "ct-tcp-seq-out-of-window", "TCP sequence beyond the receiver's window";
        /// Out of window: the segment acknowledges data the other side never
        /// sent.
        TcpAckOutOfWindow => "ct-tcp-ack-out-of-window", "TCP acknowledges data not yet sent";
        /// A reset below what the peer already acknowledged (RFC 5961 §3).
        TcpInvalidRst => "ct-tcp-invalid-rst", "TCP reset outside the acceptable range";
        /// An ICMP type that is neither a query, a reply nor an error
        /// (or ICMPv4 carried by IPv6 and vice versa).
        IcmpUnknownType => "ct-icmp-unknown-type", "ICMP type that cannot be tracked";
        /// An ICMP reply (echo reply, …) with no tracked query.
        IcmpNotQuery => "ct-icmp-not-query", "ICMP reply without a tracked request";
        /// An ICMP error quoting a packet of no tracked connection.
        IcmpErrorNoMatch => "ct-icmp-error-no-match", "ICMP error quoting no tracked connection";
        /// An ICMP error about a tracked connection but sent to an address that
        /// is not on it (Linux's "outer daddr != inner" check).
        IcmpErrorMismatch => "ct-icmp-error-mismatch", "ICMP error sent to an address not on the quoted connection";
        /// An ICMP error whose quoted header cannot be read.
        IcmpErrorMalformed => "ct-icmp-error-malformed", "ICMP error with a truncated or malformed quoted header";
    }
}

reasons! {
    /// Why conntrack itself drops a packet: the table could not take its new
    /// connection. Never a stall; always counted.
    CtDrop {
        /// `max_entries` live entries and none may be evicted (all assured).
        TableFull => "ct-table-full", "connection table full of entries that may not be evicted";
        /// The index found no slot for the new entry (practically never at
        /// the sizes the index is built for).
        InsertFailed => "ct-insert-failed", "connection index could not place a new entry";
    }
}

/// Connection-tracking state of a packet, as nftables' `ct state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtState {
    /// The connection has seen packets in the original direction only
    /// (including the packet that creates it).
    New,
    /// The connection has seen packets both ways (a reply-direction packet
    /// is always established).
    Established,
    /// An ICMP error about a tracked connection.
    Related,
    /// Not a valid part of any connection, for the reason given.
    Invalid(InvalidReason),
    /// Deliberately not tracked: not IP, a later fragment, or ICMPv6
    /// neighbour discovery / multicast listener messages (Linux untracks
    /// those too).
    Untracked,
}

impl CtState {
    /// Lower-case name as nftables prints it.
    pub const fn name(self) -> &'static str {
        match self {
            CtState::New => "new",
            CtState::Established => "established",
            CtState::Related => "related",
            CtState::Invalid(_) => "invalid",
            CtState::Untracked => "untracked",
        }
    }
}

/// A reference to one entry: its slot and the slot's generation, so a
/// handle kept past its entry's end is recognised as stale rather than
/// naming whatever took the slot. Handles are meant to live for one
/// packet's trip through the graph; the 16-bit generation tells a stale
/// one apart as long as its slot was reused fewer than 65,536 times since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CtHandle {
    pub(crate) index: u32,
    pub(crate) generation: u16,
}

impl CtHandle {
    /// The entry's slot number, `0..max_entries`: the key of any per-entry
    /// side table a later feature keeps (NAT's translation will).
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The slot's generation when the handle was made.
    pub const fn generation(self) -> u16 {
        self.generation
    }

    /// A handle from its parts, as carried in a packet's context between
    /// nodes. Safe to forge: a wrong or old pair is a stale handle, which
    /// every use detects (the generation no longer matches).
    pub const fn from_parts(index: u32, generation: u16) -> CtHandle {
        CtHandle { index, generation }
    }
}

/// The outcome of tracking one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Track {
    /// The packet's state.
    pub state: CtState,
    /// Its direction on the connection (meaningful with a handle).
    pub dir: Dir,
    /// The entry, for [`CtState::New`], [`CtState::Established`] and
    /// [`CtState::Related`]; `None` when nothing is tracked (invalid,
    /// untracked, a drop, a miss with `create == false`, or an entry this
    /// very packet ended — a reset answering a SYN).
    pub handle: Option<CtHandle>,
    /// The entry was last checked against an older policy version than the
    /// one passed in: re-run the rules, then
    /// [`crate::ConnTrack::set_policy_version`].
    pub recheck: bool,
    /// Conntrack drops the packet: no room for its new connection.
    pub drop: Option<CtDrop>,
}

impl Track {
    pub(crate) const fn bare(state: CtState) -> Track {
        Track {
            state,
            dir: Dir::Original,
            handle: None,
            recheck: false,
            drop: None,
        }
    }
}

/// What [`crate::ConnTrack::confirm`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// The entry is now in the table for good.
    Confirmed,
    /// It already was (a packet of an existing connection, or a second
    /// packet of a new one in the same burst).
    AlreadyConfirmed,
    /// The handle's entry is gone (released unconfirmed at the end of its
    /// burst, expired, or reset): track the packet again to recreate it.
    Stale,
}
