//! ClassBench files for the integration tests: rule sets, header traces and
//! first-match answers from `../shared/data/classbench` (README there for the
//! formats). `orbital bench classify` has its own reader; this one only needs
//! to be right, not fast.
#![allow(dead_code, unreachable_pub)]

use std::io::Read;
use std::path::{Path, PathBuf};

use orbital_classifier::{Match, Rule};

/// The ClassBench directory, or `None` (the caller prints SKIPPED) if the
/// shared data is not on this machine. `ORBITAL_SHARED_DATA` points
/// elsewhere, as for the other corpora.
pub fn dir() -> Option<PathBuf> {
    let base = std::env::var_os("ORBITAL_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let d = base.join("classbench");
    d.join("acl1_1k.gz").exists().then_some(d)
}

pub fn gunzip(path: &Path) -> String {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut s = String::new();
    flate2::read::GzDecoder::new(f)
        .read_to_string(&mut s)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    s
}

fn prefix(s: &str) -> Match {
    let (a, l) = s.split_once('/').expect("addr/len");
    let a: std::net::Ipv4Addr = a.parse().expect("address");
    Match::Prefix {
        value: a.to_bits(),
        len: l.parse().expect("length"),
    }
}

fn range(s: &str) -> Match {
    let (lo, hi) = s.split_once(':').expect("lo : hi");
    Match::Range {
        lo: lo.trim().parse().expect("lo"),
        hi: hi.trim().parse().expect("hi"),
    }
}

fn hex(s: &str) -> u32 {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex")
}

/// Rules of set `name` (e.g. `acl1_1k`), user value = line number.
pub fn rules(dir: &Path, name: &str) -> Vec<Rule> {
    gunzip(&dir.join(format!("{name}.gz")))
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let t: Vec<&str> = l.trim_start_matches('@').split('\t').collect();
            let (v, m) = t[4].split_once('/').expect("proto/mask");
            Rule::new(
                vec![
                    prefix(t[0]),
                    prefix(t[1]),
                    range(t[2]),
                    range(t[3]),
                    Match::Mask {
                        value: hex(v),
                        mask: hex(m),
                    },
                ],
                i as u32,
            )
        })
        .collect()
}

/// Keys of the trace of `name`, 5 fields each, end to end.
pub fn trace(dir: &Path, name: &str) -> Vec<u32> {
    gunzip(&dir.join(format!("{name}_trace.gz")))
        .lines()
        .flat_map(|l| {
            l.split('\t')
                .take(5)
                .map(|v| v.trim().parse::<u32>().expect("trace value"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// First-match answers for the trace of `name` (`u32::MAX` for -1).
pub fn answers(dir: &Path, name: &str) -> Vec<u32> {
    gunzip(&dir.join(format!("{name}_trace.match.gz")))
        .lines()
        .map(|l| l.trim().parse::<i64>().expect("answer") as u32)
        .collect()
}
