//! Table size, timeouts and TCP tracking switches, with Linux's defaults.

use core::time::Duration;

use crate::entry::{CLASSES, TimeoutClass};

/// How long an entry lives after the last packet that refreshed it, per
/// protocol and state. Defaults are Linux's (`net.netfilter.nf_conntrack_*`
/// sysctls as of Linux 6.x).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// SYN seen, no answer (`tcp_timeout_syn_sent`, 120 s).
    pub tcp_syn_sent: Duration,
    /// SYN/ACK seen (`tcp_timeout_syn_recv`, 60 s).
    pub tcp_syn_recv: Duration,
    /// Handshake done (`tcp_timeout_established`, 5 days).
    pub tcp_established: Duration,
    /// FIN seen in one direction (`tcp_timeout_fin_wait`, 120 s).
    pub tcp_fin_wait: Duration,
    /// FIN acknowledged, other side still open (`tcp_timeout_close_wait`, 60 s).
    pub tcp_close_wait: Duration,
    /// FIN seen in both directions (`tcp_timeout_last_ack`, 30 s).
    pub tcp_last_ack: Duration,
    /// Last ACK seen (`tcp_timeout_time_wait`, 120 s).
    pub tcp_time_wait: Duration,
    /// Reset seen (`tcp_timeout_close`, 10 s).
    pub tcp_close: Duration,
    /// Simultaneous open: SYN from both sides (`tcp_timeout_syn_sent2`, 120 s).
    pub tcp_syn_sent2: Duration,
    /// Cap after [`CtConfig::tcp_max_retrans`] retransmissions, or while the
    /// receiver advertises a zero window (`tcp_timeout_max_retrans`, 300 s).
    pub tcp_retrans: Duration,
    /// Cap while data is unacknowledged, and for connections picked up
    /// mid-stream before they see a reply (`tcp_timeout_unacknowledged`, 300 s).
    pub tcp_unacknowledged: Duration,
    /// UDP before a reply, and the first 2 s after one (`udp_timeout`, 30 s).
    pub udp: Duration,
    /// UDP that saw a reply and is still active 2 s after its first packet
    /// (`udp_timeout_stream`, 120 s).
    pub udp_stream: Duration,
    /// ICMP and ICMPv6 queries (`icmp_timeout`, `icmpv6_timeout`, 30 s).
    pub icmp: Duration,
    /// Every other protocol (`generic_timeout`, 600 s).
    pub generic: Duration,
}

impl Timeouts {
    /// Linux's defaults.
    pub const LINUX: Timeouts = Timeouts {
        tcp_syn_sent: Duration::from_secs(120),
        tcp_syn_recv: Duration::from_secs(60),
        tcp_established: Duration::from_secs(5 * 24 * 3600),
        tcp_fin_wait: Duration::from_secs(120),
        tcp_close_wait: Duration::from_secs(60),
        tcp_last_ack: Duration::from_secs(30),
        tcp_time_wait: Duration::from_secs(120),
        tcp_close: Duration::from_secs(10),
        tcp_syn_sent2: Duration::from_secs(120),
        tcp_retrans: Duration::from_secs(300),
        tcp_unacknowledged: Duration::from_secs(300),
        udp: Duration::from_secs(30),
        udp_stream: Duration::from_secs(120),
        icmp: Duration::from_secs(30),
        generic: Duration::from_secs(600),
    };
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts::LINUX
    }
}

/// Configuration of one worker's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtConfig {
    /// Entries this worker may hold; all their memory is allocated by
    /// [`crate::ConnTrack::new`]. At most [`crate::MAX_ENTRIES`].
    pub max_entries: u32,
    /// Timeouts per protocol and state.
    pub timeouts: Timeouts,
    /// Pick up TCP connections whose SYN was not seen, from any in-window
    /// ACK (`nf_conntrack_tcp_loose`, default on). Picked-up connections are
    /// window-checked liberally until both sides were seen, as in Linux.
    pub tcp_loose: bool,
    /// Mark only out-of-window RSTs invalid; accept every other out-of-window
    /// segment (`nf_conntrack_tcp_be_liberal`, default off).
    pub tcp_be_liberal: bool,
    /// Identical retransmissions after which the entry's timeout is capped to
    /// [`Timeouts::tcp_retrans`] (`nf_conntrack_tcp_max_retrans`, 3; at most 15).
    pub tcp_max_retrans: u8,
    /// Do not mark RSTs below the peer's highest ACK invalid
    /// (`nf_conntrack_tcp_ignore_invalid_rst`, default off).
    pub tcp_ignore_invalid_rst: bool,
    /// Keep packet and byte counters per direction (`nf_conntrack_acct`,
    /// default off as in Linux): 32 more bytes per entry, allocated up front.
    pub accounting: bool,
    /// Key of the tuple hash. Fixed (the default) makes replays identical;
    /// draw it at random per worker on a live router.
    pub hash_seed: u64,
}

impl Default for CtConfig {
    fn default() -> CtConfig {
        CtConfig {
            max_entries: 65_536,
            timeouts: Timeouts::LINUX,
            tcp_loose: true,
            tcp_be_liberal: false,
            tcp_max_retrans: 3,
            tcp_ignore_invalid_rst: false,
            accounting: false,
            hash_seed: 0x6f72_6269_7461_6c21,
        }
    }
}

/// The configuration as the fast path reads it: one timeout per class in
/// nanoseconds and the TCP switches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    pub(crate) timeout: [u64; CLASSES],
    pub(crate) loose: bool,
    pub(crate) liberal: bool,
    pub(crate) max_retrans: u8,
    pub(crate) ignore_invalid_rst: bool,
}

/// Longest timeout accepted: far beyond Linux's longest default (5 days),
/// short enough that deadlines never overflow.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

impl Tuning {
    pub(crate) fn new(c: &CtConfig) -> Tuning {
        let t = &c.timeouts;
        let ns = |d: Duration| d.min(MAX_TIMEOUT).as_nanos() as u64;
        let mut timeout = [0; CLASSES];
        for (class, d) in [
            (TimeoutClass::TcpSynSent, t.tcp_syn_sent),
            (TimeoutClass::TcpSynRecv, t.tcp_syn_recv),
            (TimeoutClass::TcpEstablished, t.tcp_established),
            (TimeoutClass::TcpFinWait, t.tcp_fin_wait),
            (TimeoutClass::TcpCloseWait, t.tcp_close_wait),
            (TimeoutClass::TcpLastAck, t.tcp_last_ack),
            (TimeoutClass::TcpTimeWait, t.tcp_time_wait),
            (TimeoutClass::TcpClose, t.tcp_close),
            (TimeoutClass::TcpSynSent2, t.tcp_syn_sent2),
            (TimeoutClass::TcpRetrans, t.tcp_retrans),
            (TimeoutClass::TcpUnack, t.tcp_unacknowledged),
            (TimeoutClass::Udp, t.udp),
            (TimeoutClass::UdpStream, t.udp_stream),
            (TimeoutClass::Icmp, t.icmp),
            (TimeoutClass::Generic, t.generic),
        ] {
            timeout[class as usize] = ns(d);
        }
        Tuning {
            timeout,
            loose: c.tcp_loose,
            liberal: c.tcp_be_liberal,
            max_retrans: c.tcp_max_retrans.min(15),
            ignore_invalid_rst: c.tcp_ignore_invalid_rst,
        }
    }

    #[inline]
    pub(crate) fn of(&self, class: TimeoutClass) -> u64 {
        self.timeout[class as usize]
    }
}
