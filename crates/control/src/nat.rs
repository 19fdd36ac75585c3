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
//! ```

use std::ops::Range;

use orbital_fib::IfId;
use orbital_nat::{NatPolicy, NatRules, StaticNat};
use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;

/// `[nat]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NatSection {
    #[serde(default, rename = "static")]
    statics: Vec<Spanned<StaticSection>>,
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
        ifaces: &[(String, IfId)],
        err: &dyn Fn(Range<usize>, String) -> ConfigError,
    ) -> Result<(NatRules, Vec<Range<usize>>), ConfigError> {
        let mut rules = NatRules::default();
        let mut spans = Vec::new();
        for s in &self.statics {
            let span = s.span();
            let s = s.get_ref();
            let prefix = |p: &Spanned<String>| {
                crate::vocab::prefix(p.get_ref()).map_err(|m| err(p.span(), m))
            };
            let inside = prefix(&s.inside)?;
            let outside = prefix(&s.outside)?;
            let name = s.interface.get_ref();
            let Some(iface) = ifaces.iter().find(|(n, _)| n == name).map(|&(_, id)| id) else {
                return Err(err(
                    s.interface.span(),
                    format!("no port or bridge interface named `{name}`"),
                ));
            };
            rules.statics.push(StaticNat {
                inside,
                outside,
                iface,
                iface_name: name.clone(),
            });
            spans.push(span);
        }
        NatPolicy::compile(&rules, 1).map_err(|e| {
            err(
                spans.get(e.rule).cloned().unwrap_or(0..0),
                format!("static NAT rule {}: {}", e.rule + 1, e.message),
            )
        })?;
        Ok((rules, spans))
    }
}
