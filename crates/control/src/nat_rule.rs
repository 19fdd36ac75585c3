//! `[nat] rules = [...]`: NAT written as nftables writes it, one rule per
//! string, compiled to the same typed vocabulary as the `[[nat.source]]`,
//! `[[nat.forward]]` and `[[nat.static]]` tables (the data side sees no
//! difference):
//!
//! ```toml
//! [nat]
//! rules = [
//!   "oif wan0 ip saddr 192.168.1.0/24 masquerade",
//!   "oif wan0 ip saddr { 10.0.0.0/8, 172.16.0.0/12 } snat to 198.18.0.0/26 filtering endpoint-independent",
//!   "iif wan0 tcp dport 8080 dnat to 192.168.1.10:80",
//!   "iif wan0 ip daddr 203.0.113.7 udp dport 5000-5010 dnat to 192.168.1.20",
//!   "oif wan0 ip saddr 192.168.2.0/24 netmap to 203.0.113.0/24",
//!   "oif wan0 ip6 saddr fd01:203:405::/48 netmap to 2001:db8:1::/48",
//! ]
//! ```
//!
//! `masquerade` and `snat to` are stateful source NAT (the interface's
//! address, one address or a pool); `filtering` (RFC 4787 §5) is this
//! data plane's extension, default address-and-port-dependent. `dnat to`
//! is a port forward (`ct status dnat accept` lets it through the
//! firewall). `netmap to` is iptables' NETMAP: stateless prefix NAT both
//! ways, NPTv6 (RFC 6296) for IPv6. Only what the NAT can honour is
//! accepted: any other match is refused at its word, not ignored.

use std::net::Ipv4Addr;

use orbital_fib::{IfId, IpPrefix};
use orbital_nat::StaticNat;
use orbital_nat::rules::{Filtering, PortForward, SourceNat};

use crate::firewall::{RuleError, Tok, lex};
use crate::nat::{filtering_of, no_forward_address, pool_of, port_range, target_of};

/// What one rule string compiles to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NatRule {
    /// `netmap to`.
    Static(StaticNat),
    /// `masquerade`, `snat to`.
    Source(SourceNat),
    /// `dnat to`.
    Forward(PortForward),
}

/// The matches seen so far, each with where it was written.
#[derive(Default)]
struct Seen {
    iif: Option<(usize, IfId, String)>,
    oif: Option<(usize, IfId, String)>,
    saddr: Option<(usize, Vec<IpPrefix>)>,
    daddr: Option<(usize, Ipv4Addr)>,
    dport: Option<(usize, u8, (u16, u16))>,
}

fn fail<T>(at: usize, message: impl Into<String>) -> Result<T, RuleError> {
    Err(RuleError {
        at,
        message: message.into(),
    })
}

/// An address or prefix in a rule (`192.168.1.10` is a /32).
fn prefix_word(w: &str, v6: bool) -> Result<IpPrefix, String> {
    let p = if w.contains('/') {
        crate::vocab::prefix(w)?
    } else if v6 {
        crate::vocab::prefix(&format!("{w}/128"))?
    } else {
        crate::vocab::prefix(&format!("{w}/32"))?
    };
    match (p, v6) {
        (IpPrefix::V4(_), false) | (IpPrefix::V6(_), true) => Ok(p),
        _ => Err(format!(
            "`{w}` is not an {} prefix",
            if v6 { "IPv6" } else { "IPv4" }
        )),
    }
}

struct Words<'a> {
    toks: Vec<(usize, Tok<'a>)>,
    pos: usize,
    end: usize,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Option<(usize, Tok<'a>)> {
        let t = self.toks.get(self.pos).copied();
        self.pos += usize::from(t.is_some());
        t
    }

    fn word(&mut self, what: &str) -> Result<(usize, &'a str), RuleError> {
        match self.next() {
            Some((at, Tok::Word(w))) => Ok((at, w)),
            Some((at, _)) => fail(at, format!("expected {what}")),
            None => fail(self.end, format!("expected {what} at the end")),
        }
    }

    fn eat(&mut self, w: &str) -> bool {
        if matches!(self.toks.get(self.pos), Some((_, Tok::Word(x))) if *x == w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// One word, or `{ a, b, ... }`.
    fn list(&mut self, what: &str) -> Result<Vec<(usize, &'a str)>, RuleError> {
        if !matches!(self.toks.get(self.pos), Some((_, Tok::Open))) {
            return Ok(vec![self.word(what)?]);
        }
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            out.push(self.word(what)?);
            match self.next() {
                Some((_, Tok::Comma)) => {}
                Some((_, Tok::Close)) => return Ok(out),
                Some((at, _)) => return fail(at, "expected `,` or `}`"),
                None => return fail(self.end, "expected `}` at the end"),
            }
        }
    }
}

/// Parse one NAT rule. `ifaces` names the interfaces; `address_of` gives
/// an interface's IPv4 address (for `masquerade` and for `dnat` without
/// `ip daddr`).
///
/// # Errors
/// The first word that does not fit, with its offset in `text` and what
/// was expected.
pub(crate) fn parse_nat_rule(
    text: &str,
    ifaces: &[(String, IfId)],
    address_of: &dyn Fn(IfId) -> Option<Ipv4Addr>,
) -> Result<NatRule, RuleError> {
    let mut w = Words {
        toks: lex(text)?,
        pos: 0,
        end: text.len(),
    };
    let mut seen = Seen::default();
    let iface = |at: usize, name: &str| {
        ifaces
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, id)| (at, id, name.to_string()))
            .ok_or_else(|| RuleError {
                at,
                message: format!("no port or bridge interface named `{name}`"),
            })
    };
    let twice = |at: usize, what: &str| fail::<()>(at, format!("`{what}` given twice"));
    loop {
        let (at, word) = w.word("a match (iif, oif, ip, ip6, tcp, udp) or a NAT statement (masquerade, snat to, dnat to, netmap to)")?;
        match word {
            "iif" | "iifname" | "oif" | "oifname" => {
                let (nat, name) = w.word("an interface name")?;
                let slot = if word.starts_with('i') {
                    &mut seen.iif
                } else {
                    &mut seen.oif
                };
                if slot.is_some() {
                    twice(at, word)?;
                }
                let (_, id, name) = iface(nat, name)?;
                *slot = Some((at, id, name));
            }
            "ip" | "ip6" => {
                let v6 = word == "ip6";
                let (fat, field) = w.word("saddr or daddr")?;
                match field {
                    "saddr" => {
                        if seen.saddr.is_some() {
                            twice(fat, "saddr")?;
                        }
                        let mut ps = Vec::new();
                        for (vat, v) in w.list("a prefix")? {
                            ps.push(
                                prefix_word(v, v6)
                                    .map_err(|message| RuleError { at: vat, message })?,
                            );
                        }
                        seen.saddr = Some((at, ps));
                    }
                    "daddr" if !v6 => {
                        let (vat, v) = w.word("an IPv4 address")?;
                        let a = v.parse().map_err(|_| RuleError {
                            at: vat,
                            message: format!(
                                "`{v}` is not an IPv4 address (a port forward's external address)"
                            ),
                        })?;
                        if seen.daddr.is_some() {
                            twice(fat, "daddr")?;
                        }
                        seen.daddr = Some((at, a));
                    }
                    _ => {
                        return fail(
                            fat,
                            format!(
                                "`{word} {field}`: a NAT rule matches `ip saddr`, `ip6 saddr` or `ip daddr`"
                            ),
                        );
                    }
                }
            }
            "tcp" | "udp" => {
                let (fat, field) = w.word("dport")?;
                if field != "dport" {
                    return fail(
                        fat,
                        format!("`{word} {field}`: a port forward matches `{word} dport` only"),
                    );
                }
                let (vat, v) = w.word("a port or a range")?;
                let r = port_range(v).map_err(|message| RuleError { at: vat, message })?;
                if seen.dport.is_some() {
                    twice(at, "dport")?;
                }
                seen.dport = Some((at, if word == "tcp" { 6 } else { 17 }, r));
            }
            "counter" => {} // every NAT rule counts anyway
            "masquerade" | "snat" => {
                let to = if word == "snat" {
                    if !w.eat("to") {
                        return fail(w.end.min(at + 5), "expected `to` after `snat`");
                    }
                    Some(w.word("an IPv4 address or a pool prefix")?)
                } else {
                    None
                };
                let mut filtering = Filtering::default();
                if w.eat("filtering") {
                    let (fat, f) = w.word("a filtering mode")?;
                    filtering =
                        filtering_of(f).map_err(|message| RuleError { at: fat, message })?;
                }
                finished(&mut w)?;
                return source(seen, at, to, filtering, address_of);
            }
            "dnat" => {
                if !w.eat("to") {
                    return fail(at, "expected `to` after `dnat`");
                }
                let (tat, to) = w.word("ADDRESS or ADDRESS:PORT")?;
                finished(&mut w)?;
                return forward(seen, at, (tat, to), address_of);
            }
            "netmap" => {
                if !w.eat("to") {
                    return fail(at, "expected `to` after `netmap`");
                }
                let (tat, to) = w.word("a prefix")?;
                finished(&mut w)?;
                return netmap(seen, at, (tat, to));
            }
            "accept" | "drop" | "reject" | "jump" | "goto" | "return" | "ct" | "meta" => {
                return fail(
                    at,
                    format!(
                        "`{word}` belongs in a firewall chain; a NAT rule ends in masquerade, snat to, dnat to or netmap to"
                    ),
                );
            }
            other => {
                return fail(
                    at,
                    format!(
                        "`{other}`: expected a match (iif, oif, ip saddr, ip daddr, tcp dport, udp dport) or a NAT statement (masquerade, snat to, dnat to, netmap to)"
                    ),
                );
            }
        }
    }
}

fn finished(w: &mut Words<'_>) -> Result<(), RuleError> {
    match w.next() {
        None => Ok(()),
        Some((at, _)) => fail(at, "nothing may follow the NAT statement"),
    }
}

/// A match the statement at `at` cannot use.
fn refuse(what: Option<usize>, message: &str) -> Result<(), RuleError> {
    match what {
        Some(at) => fail(at, message.to_string()),
        None => Ok(()),
    }
}

/// The outside interface of a source-side statement (`masquerade`,
/// `snat`, `netmap`): only `oif` and `saddr` may come with it.
fn outbound_only(
    seen: &Seen,
    at: usize,
    only: &str,
    needs: &str,
) -> Result<(IfId, String), RuleError> {
    refuse(seen.iif.as_ref().map(|i| i.0), only)?;
    refuse(seen.daddr.map(|d| d.0), only)?;
    refuse(seen.dport.map(|d| d.0), only)?;
    match &seen.oif {
        Some((_, iface, name)) => Ok((*iface, name.clone())),
        None => fail(at, needs),
    }
}

fn source(
    seen: Seen,
    at: usize,
    to: Option<(usize, &str)>,
    filtering: Filtering,
    address_of: &dyn Fn(IfId) -> Option<Ipv4Addr>,
) -> Result<NatRule, RuleError> {
    let (iface, iface_name) = outbound_only(
        &seen,
        at,
        "source NAT matches `oif` and `ip saddr` only",
        "source NAT needs `oif IFACE` (where the translated packets leave)",
    )?;
    let inside = match seen.saddr {
        Some((sat, ps)) => {
            if ps.iter().any(|p| matches!(p, IpPrefix::V6(_))) {
                return fail(
                    sat,
                    "stateful NAT is IPv4 (NAT44); for IPv6 use `netmap to` (NPTv6)",
                );
            }
            ps
        }
        None => vec![prefix_word("0.0.0.0/0", false).map_err(|message| RuleError { at, message })?],
    };
    let (tat, text) = to.unwrap_or((at, "masquerade"));
    let (pool, masquerade) = pool_of(text, &iface_name, address_of(iface))
        .map_err(|message| RuleError { at: tat, message })?;
    Ok(NatRule::Source(SourceNat {
        iface,
        iface_name,
        inside,
        pool,
        masquerade,
        filtering,
    }))
}

fn forward(
    seen: Seen,
    at: usize,
    (tat, to): (usize, &str),
    address_of: &dyn Fn(IfId) -> Option<Ipv4Addr>,
) -> Result<NatRule, RuleError> {
    let msg = "a port forward matches `iif`, `ip daddr` and `tcp dport` / `udp dport` only";
    refuse(seen.oif.as_ref().map(|o| o.0), msg)?;
    refuse(seen.saddr.as_ref().map(|s| s.0), msg)?;
    let Some((_, iface, iface_name)) = seen.iif else {
        return fail(
            at,
            "a port forward needs `iif IFACE` (where the connections arrive)",
        );
    };
    let Some((_, proto, ports)) = seen.dport else {
        return fail(
            at,
            "a port forward needs `tcp dport PORT` or `udp dport PORT` before `dnat`",
        );
    };
    let (to, to_port) = target_of(to, ports.0).map_err(|message| RuleError { at: tat, message })?;
    let addr = match seen.daddr {
        Some((_, a)) => a,
        None => address_of(iface).ok_or_else(|| RuleError {
            at,
            message: no_forward_address(&iface_name) + " (give `ip daddr`)",
        })?,
    };
    Ok(NatRule::Forward(PortForward {
        iface,
        iface_name,
        proto,
        addr,
        ports,
        to,
        to_port,
    }))
}

fn netmap(seen: Seen, at: usize, (tat, to): (usize, &str)) -> Result<NatRule, RuleError> {
    let (iface, iface_name) = outbound_only(
        &seen,
        at,
        "netmap matches `oif` and one `ip saddr` / `ip6 saddr` prefix only",
        "netmap needs `oif IFACE` (where the inside prefix leaves)",
    )?;
    let inside = match seen.saddr {
        Some((_, ps)) if ps.len() == 1 => ps[0],
        Some((sat, _)) => return fail(sat, "netmap maps one prefix: give one `saddr`"),
        None => return fail(at, "netmap needs `ip saddr PREFIX` (or `ip6 saddr`)"),
    };
    let outside = prefix_word(to, matches!(inside, IpPrefix::V6(_)))
        .map_err(|message| RuleError { at: tat, message })?;
    Ok(NatRule::Static(StaticNat {
        inside,
        outside,
        iface,
        iface_name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<(String, IfId)> {
        vec![("lan0".into(), IfId(0)), ("wan0".into(), IfId(1))]
    }

    fn parse(t: &str) -> Result<NatRule, RuleError> {
        let addr = |i: IfId| (i == IfId(1)).then(|| Ipv4Addr::new(203, 0, 113, 1));
        parse_nat_rule(t, &names(), &addr)
    }

    #[test]
    fn the_issues_forms_compile_to_the_table_forms() {
        let NatRule::Source(s) = parse("oif wan0 ip saddr 192.168.1.0/24 masquerade").unwrap()
        else {
            panic!()
        };
        assert_eq!(s.iface, IfId(1));
        assert_eq!(s.pool, vec![Ipv4Addr::new(203, 0, 113, 1)]);
        assert!(s.masquerade);
        assert_eq!(s.filtering, Filtering::AddressAndPortDependent);
        assert_eq!(s.inside[0].to_string(), "192.168.1.0/24");
        let NatRule::Source(s) = parse(
            "oif wan0 ip saddr { 10.0.0.0/8, 172.16.0.1 } snat to 198.18.0.0/30 filtering endpoint-independent",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(s.pool.len(), 4);
        assert!(!s.masquerade);
        assert_eq!(s.filtering, Filtering::EndpointIndependent);
        assert_eq!(s.inside[1].to_string(), "172.16.0.1/32");
        let NatRule::Forward(f) = parse("iif wan0 tcp dport 8080 dnat to 192.168.1.10:80").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (f.proto, f.ports, f.to, f.to_port, f.addr),
            (
                6,
                (8080, 8080),
                Ipv4Addr::new(192, 168, 1, 10),
                80,
                Ipv4Addr::new(203, 0, 113, 1)
            )
        );
        let NatRule::Forward(f) =
            parse("iif wan0 ip daddr 203.0.113.7 udp dport 5000-5010 dnat to 192.168.1.20")
                .unwrap()
        else {
            panic!()
        };
        assert_eq!((f.proto, f.ports, f.to_port), (17, (5000, 5010), 5000));
        assert_eq!(f.addr, Ipv4Addr::new(203, 0, 113, 7));
        let NatRule::Static(s) =
            parse("oif wan0 ip6 saddr fd01:203:405::/48 netmap to 2001:db8:1::/48").unwrap()
        else {
            panic!()
        };
        assert_eq!(s.outside.to_string(), "2001:db8:1::/48");
        // Without `ip saddr`, masquerade translates everything leaving.
        let NatRule::Source(s) = parse("oif wan0 counter masquerade").unwrap() else {
            panic!()
        };
        assert_eq!(s.inside[0].to_string(), "0.0.0.0/0");
    }

    #[test]
    fn errors_point_at_the_word() {
        let at = |t: &str, word: &str| {
            let e = parse(t).unwrap_err();
            assert_eq!(
                e.at,
                t.find(word).unwrap(),
                "{t}: {} (wanted at `{word}`)",
                e.message
            );
            e.message
        };
        assert!(at("oif wan9 masquerade", "wan9").contains("no port or bridge interface"));
        assert!(at("iif lan0 oif wan0 masquerade", "iif").contains("oif` and `ip saddr` only"));
        assert!(
            at(
                "oif wan0 ip saddr 10.0.0.0/8 snat to 198.18.0.0/24",
                "198.18"
            )
            .contains("larger than /26")
        );
        assert!(at("iif wan0 dnat to 10.0.0.1", "dnat").contains("tcp dport"));
        assert!(at("iif wan0 tcp dport 0 dnat to 10.0.0.1", "0 dnat").contains("1-65535"));
        assert!(at("iif wan0 tcp sport 80 dnat to 10.0.0.1", "sport").contains("dport` only"));
        assert!(at("iif wan0 tcp dport 80 dnat to 10.0.0.1:x", "10.0.0.1:x").contains("1-65535"));
        assert!(at("oif wan0 masquerade filtering full-cone", "full-cone").contains("RFC 4787"));
        assert!(at("oif wan0 masquerade accept", "accept").contains("nothing may follow"));
        assert!(at("oif wan0 accept", "accept").contains("firewall chain"));
        assert!(at("oif wan0 ip6 saddr 2001:db8::/32 masquerade", "ip6 saddr").contains("NPTv6"));
        assert!(
            at("oif wan0 ip saddr fd00::/8 netmap to 10.0.0.0/8", "fd00")
                .contains("not an IPv4 prefix")
        );
        assert!(
            at(
                "oif wan0 ip6 saddr fd00::/8 netmap to 10.0.0.0/8",
                "10.0.0.0"
            )
            .contains("not an IPv6 prefix")
        );
        // A rule without its statement is refused at its end.
        let e = parse("oif wan0 ip saddr 10.0.0.0/8").unwrap_err();
        assert_eq!(e.at, "oif wan0 ip saddr 10.0.0.0/8".len());
        assert!(e.message.contains("NAT statement"), "{}", e.message);
    }
}
