//! The mapping log: a record when a NAT mapping is made and when it is
//! given back — the inside endpoint, the external address and port, the
//! protocol and the time — what a carrier-grade NAT operator must keep to
//! answer "who had 203.0.113.1:5124 at 14:02?" (RFC 6888 REQ-12, RFC 7422
//! §1). Off unless `[nat] log = true`.
//!
//! Workers push into a bounded lock-free queue the API drains (`orbctl show
//! nat log`); a record that finds it full is counted as lost, never waited
//! for. One record per mapping event, not per session or packet, so the
//! cost is at the rate mappings are made.

/// One mapping event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingEvent {
    /// Engine time, ns.
    pub time_ns: u64,
    /// Worker that made or ended it.
    pub worker: u16,
    /// Made (true) or given back (false).
    pub created: bool,
    /// IP protocol (6, 17, 1).
    pub proto: u8,
    /// Inside address.
    pub inside: u32,
    /// Inside port (ICMP: identifier).
    pub inside_port: u16,
    /// External address.
    pub external: u32,
    /// External port (ICMP: identifier).
    pub external_port: u16,
}

/// Records waiting for a reader: the firewall's bounded queue (the newest
/// are lost when it is full, and counted).
pub type MappingLog = orbital_firewall::log::LogQueue<MappingEvent>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_counted() {
        let l = MappingLog::default();
        let e = MappingEvent {
            time_ns: 1,
            worker: 0,
            created: true,
            proto: 17,
            inside: 1,
            inside_port: 2,
            external: 3,
            external_port: 4,
        };
        let cap = orbital_firewall::log::LOG_CAPACITY;
        for _ in 0..cap + 3 {
            l.push(e);
        }
        assert_eq!(l.counts(), (cap as u64 + 3, 3));
        assert_eq!(l.pop(), Some(e));
    }
}
