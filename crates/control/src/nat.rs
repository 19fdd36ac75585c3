//! `[nat]`: the configuration's NAT rules, compiled to the NAT crate's
//! typed vocabulary ([`orbital_nat::NatRules`]) on the control side.
//!
//! ```toml
//! [[nat.static]]            # 1:1 NAT44
//! inside = "192.168.1.10/32"
//! outside = "203.0.113.10/32"
//! interface = "wan0"
//!
//! [[nat.static]]            # NPTv6 (RFC 6296)
//! inside = "fd01:203:405::/48"
//! outside = "2001:db8:1::/48"
//! interface = "wan0"
//!
//! [[nat.source]]            # stateful: masquerade the LAN
//! interface = "wan0"
//! inside = ["192.168.0.0/16"]
//! to = "masquerade"         # or an address, or a prefix (a pool)
//! filtering = "address-and-port-dependent"
//!
//! [[nat.forward]]           # a port forward
//! interface = "wan0"
//! protocol = "tcp"
//! port = 8080               # or "8000-8010"
//! to = "192.168.1.10:80"
//!
//! [nat]
//! max_sessions = 65536      # per worker
//! max_sessions_per_host = 10240   # all workers together
//! max_ports_per_host = 4096
//! log = true                # the mapping log (`orbctl show nat log`)
//! [nat.timeouts]            # seconds; the RFCs' floors are enforced
//! udp = 300
//! ```

use std::ops::Range;

use std::net::Ipv4Addr;

use orbital_fib::IfId;
use orbital_nat::rules::{Filtering, PortForward, SourceNat};
use orbital_nat::session::{Class, MIN_TIMEOUTS_S};
use orbital_nat::{NatPolicy, NatRules, StaticNat};
use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;
use crate::nat_rule::NatRule;

/// `[nat]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NatSection {
    #[serde(default, rename = "static")]
    statics: Vec<Spanned<StaticSection>>,
    #[serde(default, rename = "source")]
    sources: Vec<Spanned<SourceSection>>,
    #[serde(default, rename = "forward")]
    forwards: Vec<Spanned<ForwardSection>>,
    /// nftables-style rules (`"oif wan0 masquerade"`), after the tables.
    #[serde(default)]
    rules: Vec<Spanned<String>>,
    max_sessions: Option<Spanned<u32>>,
    max_sessions_per_host: Option<Spanned<u32>>,
    max_ports_per_host: Option<Spanned<u32>>,
    /// Keep the mapping log.
    log: Option<bool>,
    #[serde(default)]
    timeouts: std::collections::BTreeMap<String, Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceSection {
    interface: Spanned<String>,
    inside: Vec<Spanned<String>>,
    to: Spanned<String>,
    filtering: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PortSpec {
    One(u16),
    Range(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForwardSection {
    interface: Spanned<String>,
    protocol: Spanned<String>,
    port: Spanned<PortSpec>,
    to: Spanned<String>,
    address: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StaticSection {
    inside: Spanned<String>,
    outside: Spanned<String>,
    interface: Spanned<String>,
}

impl NatSection {
    /// The rules, with where each sits in the file; checked as the data
    /// plane will compile them, so a bad rule is refused here, located.
    pub(crate) fn rules(
        &self,
        source: &str,
        ifaces: &[(String, IfId)],
        address_of: &dyn Fn(IfId) -> Option<Ipv4Addr>,
        err: &dyn Fn(Range<usize>, String) -> ConfigError,
    ) -> Result<(NatRules, Vec<Range<usize>>), ConfigError> {
        let mut rules = NatRules::default();
        // Kept per kind: errors number static, then source, then forward.
        let mut spans: [Vec<Range<usize>>; 3] = Default::default();
        let iface = |n: &Spanned<String>| {
            let name = n.get_ref();
            ifaces
                .iter()
                .find(|(m, _)| m == name)
                .map(|&(_, id)| (id, name.clone()))
                .ok_or_else(|| {
                    err(
                        n.span(),
                        format!("no port or bridge interface named `{name}`"),
                    )
                })
        };
        let prefix =
            |p: &Spanned<String>| crate::vocab::prefix(p.get_ref()).map_err(|m| err(p.span(), m));
        let v4 = |p: &Spanned<String>| -> Result<Ipv4Addr, ConfigError> {
            p.get_ref().parse().map_err(|_| {
                err(
                    p.span(),
                    format!("`{}` is not an IPv4 address", p.get_ref()),
                )
            })
        };
        for s in &self.statics {
            let span = s.span();
            let s = s.get_ref();
            let inside = prefix(&s.inside)?;
            let outside = prefix(&s.outside)?;
            let (iface, iface_name) = iface(&s.interface)?;
            rules.statics.push(StaticNat {
                inside,
                outside,
                iface,
                iface_name,
            });
            spans[0].push(span);
        }
        for s in &self.sources {
            let span = s.span();
            let s = s.get_ref();
            let (id, iface_name) = iface(&s.interface)?;
            let inside = s.inside.iter().map(prefix).collect::<Result<Vec<_>, _>>()?;
            if inside.is_empty() {
                return Err(err(
                    span,
                    "`inside` lists no prefix: name the sources to translate".into(),
                ));
            }
            let (pool, masquerade) = pool_of(s.to.get_ref(), &iface_name, address_of(id))
                .map_err(|m| err(s.to.span(), m))?;
            let filtering = match &s.filtering {
                None => Filtering::default(),
                Some(f) => filtering_of(f.get_ref()).map_err(|m| err(f.span(), m))?,
            };
            rules.sources.push(SourceNat {
                iface: id,
                iface_name,
                inside,
                pool,
                masquerade,
                filtering,
            });
            spans[1].push(span);
        }
        for f in &self.forwards {
            let span = f.span();
            let f = f.get_ref();
            let (id, iface_name) = iface(&f.interface)?;
            let proto = match f.protocol.get_ref().as_str() {
                "tcp" => 6,
                "udp" => 17,
                other => {
                    return Err(err(
                        f.protocol.span(),
                        format!("protocol `{other}`: a port forward is `tcp` or `udp`"),
                    ));
                }
            };
            let ports = match f.port.get_ref() {
                PortSpec::One(p) => port_range(&p.to_string()),
                PortSpec::Range(r) => port_range(r),
            }
            .map_err(|m| err(f.port.span(), m))?;
            let (to, to_port) =
                target_of(f.to.get_ref(), ports.0).map_err(|m| err(f.to.span(), m))?;
            let addr = match &f.address {
                Some(a) => v4(a)?,
                None => address_of(id)
                    .ok_or_else(|| err(f.interface.span(), no_forward_address(&iface_name)))?,
            };
            rules.forwards.push(PortForward {
                iface: id,
                iface_name,
                proto,
                addr,
                ports,
                to,
                to_port,
            });
            spans[2].push(span);
        }
        for r in &self.rules {
            let text = r.get_ref();
            let rule = crate::nat_rule::parse_nat_rule(text, ifaces, address_of).map_err(|e| {
                let at = crate::firewall::in_string(source, &r.span(), text, e.at);
                err(at..at, e.message)
            })?;
            match rule {
                NatRule::Static(s) => {
                    rules.statics.push(s);
                    spans[0].push(r.span());
                }
                NatRule::Source(s) => {
                    rules.sources.push(s);
                    spans[1].push(r.span());
                }
                NatRule::Forward(f) => {
                    rules.forwards.push(f);
                    spans[2].push(r.span());
                }
            }
        }
        let spans: Vec<Range<usize>> = spans.into_iter().flatten().collect();
        if let Some(m) = &self.max_sessions {
            if *m.get_ref() == 0 || *m.get_ref() > 1 << 24 {
                return Err(err(
                    m.span(),
                    "max_sessions must be 1..=16777216 (per worker)".into(),
                ));
            }
            rules.max_sessions = *m.get_ref();
        }
        rules.log = self.log.unwrap_or(false);
        for (v, slot, what) in [
            (
                &self.max_sessions_per_host,
                &mut rules.max_sessions_per_host,
                "max_sessions_per_host",
            ),
            (
                &self.max_ports_per_host,
                &mut rules.max_ports_per_host,
                "max_ports_per_host",
            ),
        ] {
            if let Some(m) = v {
                if *m.get_ref() == 0 {
                    return Err(err(
                        m.span(),
                        format!(
                            "{what} must be at least 1 (a host with none could not reach out at all)"
                        ),
                    ));
                }
                *slot = *m.get_ref();
            }
        }
        for (name, v) in &self.timeouts {
            let Some(c) = Class::ALL.iter().position(|c| c.name() == name) else {
                return Err(err(
                    v.span(),
                    format!(
                        "unknown NAT timeout `{name}` (udp, tcp_established, tcp_transitory, icmp)"
                    ),
                ));
            };
            let min = MIN_TIMEOUTS_S[c];
            if *v.get_ref() < min {
                return Err(err(
                    v.span(),
                    format!(
                        "NAT timeout `{name}` must be at least {min} s ({})",
                        [
                            "RFC 4787 REQ-5",
                            "RFC 5382 REQ-5",
                            "RFC 5382 REQ-5",
                            "RFC 5508 REQ-1"
                        ][c]
                    ),
                ));
            }
            rules.timeouts.ns[c] = v.get_ref().saturating_mul(1_000_000_000);
        }
        NatPolicy::compile(&rules, 1, None).map_err(|e| {
            err(
                spans.get(e.rule).cloned().unwrap_or(0..0),
                format!("{}: {}", rules.label(e.rule), e.message),
            )
        })?;
        Ok((rules, spans))
    }
}

/// The external addresses of `to = ...` (or `masquerade` / `snat to`):
/// the interface's address, one address, or a pool prefix of at most 64
/// addresses; and whether it is the interface's.
pub(crate) fn pool_of(
    to: &str,
    iface_name: &str,
    iface_address: Option<Ipv4Addr>,
) -> Result<(Vec<Ipv4Addr>, bool), String> {
    if to == "masquerade" {
        let a = iface_address
            .ok_or_else(|| format!("`masquerade`: interface `{iface_name}` has no IPv4 address"))?;
        return Ok((vec![a], true));
    }
    if let Ok(a) = to.parse::<Ipv4Addr>() {
        return Ok((vec![a], false));
    }
    match crate::vocab::prefix(to) {
        Ok(orbital_fib::IpPrefix::V4(p)) if p.len() >= 26 => {
            let n = 1u32 << (32 - p.len());
            Ok((
                (0..n).map(|i| Ipv4Addr::from_bits(p.bits() | i)).collect(),
                false,
            ))
        }
        Ok(orbital_fib::IpPrefix::V4(p)) => Err(format!(
            "pool {p} is larger than /26 (64 addresses, 3 MiB of port tables each)"
        )),
        _ => Err(format!(
            "`{to}`: expected `masquerade`, an IPv4 address or an IPv4 prefix (a pool)"
        )),
    }
}

/// A filtering mode by its RFC 4787 name.
pub(crate) fn filtering_of(f: &str) -> Result<Filtering, String> {
    match f {
        "endpoint-independent" => Ok(Filtering::EndpointIndependent),
        "address-dependent" => Ok(Filtering::AddressDependent),
        "address-and-port-dependent" => Ok(Filtering::AddressAndPortDependent),
        other => Err(format!(
            "filtering `{other}`: expected endpoint-independent, address-dependent or address-and-port-dependent (RFC 4787 §5)"
        )),
    }
}

/// `8080` or `8000-8010`.
pub(crate) fn port_range(r: &str) -> Result<(u16, u16), String> {
    let bad = || format!("port {r}: expected a port 1-65535 or a range `8000-8010`");
    let (a, b) = r.split_once('-').unwrap_or((r, r));
    match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
        (Ok(a), Ok(b)) if a >= 1 && a <= b => Ok((a, b)),
        _ => Err(bad()),
    }
}

/// A port forward's target `ADDRESS[:PORT]`; without a port, the
/// external one (`first`).
pub(crate) fn target_of(to: &str, first: u16) -> Result<(Ipv4Addr, u16), String> {
    let bad = || format!("`{to}`: expected ADDRESS or ADDRESS:PORT");
    match to.rsplit_once(':') {
        Some((a, p)) => {
            let a: Ipv4Addr = a.parse().map_err(|_| bad())?;
            let p: u16 = p
                .parse()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("`{to}`: the port must be 1-65535"))?;
            Ok((a, p))
        }
        None => Ok((to.parse().map_err(|_| bad())?, first)),
    }
}

/// Why a port forward has no external address.
pub(crate) fn no_forward_address(iface_name: &str) -> String {
    format!("interface `{iface_name}` has no IPv4 address to forward from (give `address`)")
}
