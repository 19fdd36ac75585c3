//! Route files: a routing table too large for TOML (a full Internet table
//! is a million routes) in the line syntax of `ip route`, one route per
//! line, named from the configuration with `route_files = ["table.routes"]`.
//!
//! ```text
//! # comments and blank lines are ignored
//! 1.0.0.0/24 via 192.0.2.254
//! 2001:db8:100::/48 via 2001:db8:1::fe dev wan0
//! 198.51.100.0/24 via 10.0.0.2 10.0.0.3
//! 203.0.113.0/24 dev lan0
//! 192.0.2.128/25 blackhole
//! default via 192.0.2.254
//! ```
//!
//! The targets are the configuration's and the API's ([`crate::vocab`]). A
//! file is read as a stream and applied to the tables in chunks, so loading
//! one costs what its routes cost in the tables, not a document of it in
//! memory; an error is `file:line:column: reason` and nothing is applied.

use std::io::BufRead;
use std::path::Path;

use orbital_fib::{IfId, TableUpdate, TablesBuilder};

use crate::ConfigError;
use crate::vocab::{self, Part, RouteSpec};

/// Routes applied to the tables per batch. Each batch re-renders the LPM
/// chunks it touches; a full table in 16k-route batches measured 15.9 s
/// against 4.9 s in one, so the bound is set above a full Internet table
/// (it still caps the update list of a runaway file).
const CHUNK: usize = 1 << 21;

/// One line's route: the update, or the column and reason of its error.
fn parse_line(
    line: &str,
    iface: &dyn Fn(&str) -> Option<IfId>,
) -> Option<Result<TableUpdate, (usize, String)>> {
    let text = line.split('#').next().unwrap_or("");
    // Words with their 1-based columns, in one pass (searching for each
    // word again was a tenth of a full table's load time).
    let mut words: Vec<(usize, &str)> = Vec::with_capacity(8);
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        words.push((start + 1, &text[start..i]));
    }
    let (&(pcol, prefix), rest) = words.split_first()?;
    let mut via = Vec::new();
    let mut via_cols = Vec::new();
    let (mut dev, mut dev_col, mut kind, mut kind_col) = (None, pcol, None, pcol);
    let mut i = 0;
    while i < rest.len() {
        let (col, w) = rest[i];
        match w {
            "via" => {
                i += 1;
                while let Some(&(c, g)) = rest.get(i) {
                    if g == "dev" {
                        break;
                    }
                    via.push(g);
                    via_cols.push(c);
                    i += 1;
                }
                if via.is_empty() {
                    return Some(Err((col, "`via` needs a gateway".into())));
                }
                continue;
            }
            "dev" => match rest.get(i + 1) {
                Some(&(c, d)) => {
                    dev = Some(d);
                    dev_col = c;
                    i += 2;
                    continue;
                }
                None => return Some(Err((col, "`dev` needs an interface".into()))),
            },
            k if kind.is_none() && via.is_empty() && dev.is_none() => {
                kind = Some(k);
                kind_col = col;
            }
            other => {
                return Some(Err((
                    col,
                    format!(
                        "unexpected `{other}` (a route is PREFIX via GW [dev IF] | dev IF | TYPE)"
                    ),
                )));
            }
        }
        i += 1;
    }
    let prefix = match vocab::prefix_or_default(prefix, via.first().copied()) {
        Ok(p) => p,
        Err(e) => return Some(Err((pcol, e))),
    };
    let spec = RouteSpec {
        via: &via,
        dev,
        kind,
    };
    Some(
        vocab::route_target(spec, iface)
            .map(|target| TableUpdate::AddRoute { prefix, target })
            .map_err(|e| {
                let col = match e.part {
                    Part::Via(n) => via_cols.get(n).copied().unwrap_or(pcol),
                    Part::Dev => dev_col,
                    Part::Kind => kind_col,
                    Part::Item => pcol,
                };
                (col, e.message)
            }),
    )
}

/// Read route file `path` and apply its routes to `builder`.
///
/// # Errors
/// The file cannot be read, a line does not parse, or the tables refuse a
/// route (a gateway on no subnet): located at its line and column. The
/// builder may hold part of the file then; the caller discards it.
pub fn apply(
    path: &Path,
    builder: &mut TablesBuilder,
    iface: &dyn Fn(&str) -> Option<IfId>,
) -> Result<usize, ConfigError> {
    let at = |line: usize, column: usize, message: String| ConfigError {
        file: path.to_path_buf(),
        line,
        column,
        message,
    };
    let f = std::fs::File::open(path).map_err(|e| at(0, 0, format!("cannot read: {e}")))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, f);
    let mut chunk: Vec<TableUpdate> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    let mut buf = String::new();
    let (mut n, mut total) = (0, 0);
    let mut flush = |chunk: &mut Vec<TableUpdate>, lines: &mut Vec<usize>| {
        let r = builder.apply(chunk).map_err(|e| {
            let line = e.index.and_then(|i| lines.get(i)).copied().unwrap_or(0);
            at(line, 1, e.kind.to_string())
        });
        chunk.clear();
        lines.clear();
        r.map(|_| ())
    };
    loop {
        buf.clear();
        let read = reader
            .read_line(&mut buf)
            .map_err(|e| at(n + 1, 0, format!("cannot read: {e}")))?;
        if read == 0 {
            break;
        }
        n += 1;
        match parse_line(buf.trim_end_matches(['\n', '\r']), iface) {
            None => continue,
            Some(Err((col, msg))) => return Err(at(n, col, msg)),
            Some(Ok(u)) => {
                chunk.push(u);
                lines.push(n);
                total += 1;
            }
        }
        if chunk.len() == CHUNK {
            flush(&mut chunk, &mut lines)?;
        }
    }
    if !chunk.is_empty() {
        flush(&mut chunk, &mut lines)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbital_fib::RouteTarget;

    fn one(line: &str) -> Result<TableUpdate, (usize, String)> {
        parse_line(line, &|n| (n == "wan0").then_some(IfId(1))).unwrap()
    }

    #[test]
    fn lines_parse_as_ip_route_would() {
        assert!(parse_line("  # only a comment", &|_| None).is_none());
        assert!(parse_line("", &|_| None).is_none());
        let u = one("1.0.0.0/24 via 192.0.2.254").unwrap();
        assert!(
            matches!(u, TableUpdate::AddRoute { target: RouteTarget::Via(ref g), .. } if g.len() == 1)
        );
        let u = one("198.51.100.0/24 via 10.0.0.2 10.0.0.3 # ECMP").unwrap();
        assert!(
            matches!(u, TableUpdate::AddRoute { target: RouteTarget::Via(ref g), .. } if g.len() == 2)
        );
        let u = one("2001:db8::/32 via 2001:db8:1::fe dev wan0").unwrap();
        assert!(
            matches!(u, TableUpdate::AddRoute { target: RouteTarget::Via(ref g), .. } if g[0].iface == Some(IfId(1)))
        );
        assert!(matches!(
            one("10.9.0.0/16 dev wan0").unwrap(),
            TableUpdate::AddRoute {
                target: RouteTarget::Dev(IfId(1)),
                ..
            }
        ));
        assert!(matches!(
            one("192.0.2.128/25 blackhole").unwrap(),
            TableUpdate::AddRoute {
                target: RouteTarget::Blackhole,
                ..
            }
        ));
        let u = one("default via 192.0.2.254").unwrap();
        assert!(
            matches!(u, TableUpdate::AddRoute { prefix, .. } if prefix.to_string() == "0.0.0.0/0")
        );
        let u = one("default via 2001:db8:1::fe").unwrap();
        assert!(matches!(u, TableUpdate::AddRoute { prefix, .. } if prefix.to_string() == "::/0"));
    }

    #[test]
    fn errors_point_at_the_word() {
        assert_eq!(one("1.0.0.0/24 via 192.0.2.x").unwrap_err().0, 16);
        assert_eq!(one("1.0.0.0/24 dev lan9").unwrap_err().0, 16);
        assert_eq!(one("1.0.0.7/24 via 192.0.2.1").unwrap_err().0, 1);
        let e = one("1.0.0.0/24 sinkhole").unwrap_err();
        assert_eq!(e.0, 12);
        assert!(e.1.contains("unknown route type"), "{e:?}");
        assert_eq!(one("1.0.0.0/24 via").unwrap_err().0, 12);
        assert_eq!(one("1.0.0.0/24 blackhole extra").unwrap_err().0, 22);
        assert!(
            one("default blackhole")
                .unwrap_err()
                .1
                .contains("0.0.0.0/0")
        );
    }
}
