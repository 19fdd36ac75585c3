//! Route lists on disk: one prefix per line, optionally followed by a
//! next-hop number (`10.0.0.0/8 17`), as in DPDK `dpdk-test-fib -f` files and
//! the Internet table in ../shared/data/routes (CRLF line ends, gzip).
//! Control side only: the engine never reads files.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use orbital_fib::{IpPrefix, Ipv4Prefix, Ipv6Prefix};

/// Routes read from a file, per family, in file order, with their next hop
/// when the file gives one.
#[derive(Debug, Default, Clone)]
pub struct RouteList {
    /// IPv4 routes.
    pub v4: Vec<(Ipv4Prefix, Option<u32>)>,
    /// IPv6 routes.
    pub v6: Vec<(Ipv6Prefix, Option<u32>)>,
}

/// Read a route list; `.gz` files are decompressed.
///
/// # Errors
/// I/O errors, and the first malformed line with its number.
pub fn read(path: &Path) -> anyhow::Result<RouteList> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut s)
            .with_context(|| format!("{}: bad gzip data", path.display()))?;
        s
    } else {
        String::from_utf8(raw).with_context(|| format!("{}: not UTF-8 text", path.display()))?
    };
    parse(&text).with_context(|| format!("in {}", path.display()))
}

/// Parse route-list text.
///
/// # Errors
/// The first malformed line, with its number.
pub fn parse(text: &str) -> anyhow::Result<RouteList> {
    let mut list = RouteList::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let prefix: IpPrefix = words
            .next()
            .unwrap_or_default()
            .parse()
            .with_context(|| format!("line {}", n + 1))?;
        let nh = words
            .next()
            .map(|w| {
                w.parse::<u32>()
                    .with_context(|| format!("line {}: bad next hop `{w}`", n + 1))
            })
            .transpose()?;
        match prefix {
            IpPrefix::V4(p) => list.v4.push((p, nh)),
            IpPrefix::V6(p) => list.v6.push((p, nh)),
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_formats_and_crlf() {
        let l = parse("1.0.0.0/24\r\n10.0.0.0/8 7\r\n# comment\n2001:db8::/32 9\n\n").unwrap();
        assert_eq!(l.v4.len(), 2);
        assert_eq!(l.v4[1].1, Some(7));
        assert_eq!(l.v6[0].0.to_string(), "2001:db8::/32");
        let e = parse("1.0.0.0/24\nnonsense\n").unwrap_err();
        assert!(format!("{e:#}").contains("line 2"), "{e:#}");
    }
}
