//! The one vocabulary of the control side: how routes, gateways and
//! neighbours are written, turned into typed table updates. The TOML
//! configuration and the API both go through these functions, so what one
//! accepts the other accepts, with the same words in the same errors.

use core::net::IpAddr;

use orbital_fib::{Gateway, IfId, IpPrefix, RouteTarget};
use orbital_wire::EthernetAddress;

/// The route types a route may have instead of a gateway or interface.
pub const ROUTE_TYPES: &str = "blackhole, unreachable, prohibit, local";

/// A route's target as written: `via` gateways (one, or several for ECMP),
/// `dev` an interface, or `type`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteSpec<'a> {
    /// Gateways.
    pub via: &'a [&'a str],
    /// Interface (alone: directly connected; with one gateway: the
    /// gateway's interface, as `ip route add ... via GW dev IF`).
    pub dev: Option<&'a str>,
    /// `blackhole`, `unreachable`, `prohibit` or `local`.
    pub kind: Option<&'a str>,
}

/// Which part of a written item is wrong (the config points at it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The whole item.
    Item,
    /// Gateway number `n` of `via`.
    Via(usize),
    /// `dev`.
    Dev,
    /// `type`.
    Kind,
}

/// An error in a written item: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VocabError {
    /// The part at fault.
    pub part: Part,
    /// What is wrong.
    pub message: String,
}

fn at(part: Part, message: impl Into<String>) -> VocabError {
    VocabError {
        part,
        message: message.into(),
    }
}

/// An address.
///
/// # Errors
/// Text that is not an IPv4 or IPv6 address.
pub fn address(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("`{s}` is not an IP address"))
}

/// A prefix (`10.0.0.0/8`, `2001:db8::/32`).
///
/// # Errors
/// Text that is not a prefix, or one with host bits set.
pub fn prefix(s: &str) -> Result<IpPrefix, String> {
    s.parse::<IpPrefix>().map_err(|e| format!("`{s}`: {e}"))
}

/// A prefix, or `default`: the default route of the family of `gateway`
/// (`ip route add default via GW`).
///
/// # Errors
/// As [`prefix`]; `default` without a gateway to tell the family.
pub fn prefix_or_default(s: &str, gateway: Option<&str>) -> Result<IpPrefix, String> {
    if s != "default" {
        return prefix(s);
    }
    match gateway.map(address) {
        Some(Ok(IpAddr::V4(_))) => prefix("0.0.0.0/0"),
        Some(Ok(IpAddr::V6(_))) => prefix("::/0"),
        _ => Err(
            "`default` takes its family from a gateway; without one give 0.0.0.0/0 or ::/0".into(),
        ),
    }
}

/// A station MAC (a neighbour's or a port's): unicast only.
///
/// # Errors
/// Not a MAC, or a group MAC.
pub fn station_mac(s: &str) -> Result<EthernetAddress, String> {
    match s.parse::<EthernetAddress>() {
        Ok(m) if m.is_unicast() => Ok(m),
        Ok(_) => Err(format!("{s} is a group MAC; a station needs a unicast MAC")),
        Err(e) => Err(format!("`{s}`: {e}")),
    }
}

/// A route's target. `iface` names an interface (a routed port or a
/// bridge interface).
///
/// # Errors
/// An address that does not parse, an unknown interface or type, or not
/// exactly one of via / dev / type (via with dev pins a single gateway).
pub fn route_target(
    spec: RouteSpec<'_>,
    iface: impl Fn(&str) -> Option<IfId>,
) -> Result<RouteTarget, VocabError> {
    let dev = |d: &str| {
        iface(d).ok_or_else(|| {
            at(
                Part::Dev,
                format!("no port or bridge interface named `{d}`"),
            )
        })
    };
    match (spec.via.is_empty(), spec.dev, spec.kind) {
        (false, d, None) => {
            let mut gws = spec
                .via
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    address(g)
                        .map(|addr| Gateway { addr, iface: None })
                        .map_err(|m| at(Part::Via(i), m))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(d) = d {
                if gws.len() != 1 {
                    return Err(at(
                        Part::Dev,
                        "`dev` with `via` pins a single gateway; list ECMP gateways without it",
                    ));
                }
                gws[0].iface = Some(dev(d)?);
            }
            Ok(RouteTarget::Via(gws))
        }
        (true, Some(d), None) => Ok(RouteTarget::Dev(dev(d)?)),
        (true, None, Some(k)) => match k {
            "blackhole" => Ok(RouteTarget::Blackhole),
            "unreachable" => Ok(RouteTarget::Unreachable),
            "prohibit" => Ok(RouteTarget::Prohibit),
            "local" => Ok(RouteTarget::Local),
            other => Err(at(
                Part::Kind,
                format!("unknown route type `{other}` ({ROUTE_TYPES})"),
            )),
        },
        (_, _, Some(k)) if !matches!(k, "blackhole" | "unreachable" | "prohibit" | "local") => {
            Err(at(
                Part::Kind,
                format!("unknown route type `{k}` ({ROUTE_TYPES})"),
            ))
        }
        _ => Err(at(
            Part::Item,
            "a route needs exactly one of `via`, `dev` or `type` (or `via` with `dev`)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(
        via: &[&str],
        dev: Option<&str>,
        kind: Option<&str>,
    ) -> Result<RouteTarget, VocabError> {
        route_target(RouteSpec { via, dev, kind }, |n| {
            (n == "wan0").then_some(IfId(1))
        })
    }

    #[test]
    fn every_form_of_target() {
        assert_eq!(target(&[], None, Some("local")), Ok(RouteTarget::Local));
        assert_eq!(
            target(&[], Some("wan0"), None),
            Ok(RouteTarget::Dev(IfId(1)))
        );
        assert_eq!(
            target(&["192.0.2.1"], Some("wan0"), None),
            Ok(RouteTarget::Via(vec![Gateway {
                addr: "192.0.2.1".parse().unwrap(),
                iface: Some(IfId(1))
            }]))
        );
        assert_eq!(target(&["x"], None, None).unwrap_err().part, Part::Via(0));
        assert_eq!(
            target(&["192.0.2.1", "192.0.2.2"], Some("wan0"), None)
                .unwrap_err()
                .part,
            Part::Dev
        );
        assert_eq!(target(&[], Some("lan9"), None).unwrap_err().part, Part::Dev);
        let e = target(&[], None, Some("sinkhole")).unwrap_err();
        assert_eq!(e.part, Part::Kind);
        assert!(e.message.contains(ROUTE_TYPES), "{e:?}");
        assert_eq!(target(&[], None, None).unwrap_err().part, Part::Item);
        assert_eq!(
            target(&["192.0.2.1"], None, Some("blackhole"))
                .unwrap_err()
                .part,
            Part::Item
        );
    }
}
