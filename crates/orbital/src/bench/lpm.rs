//! `orbital bench lpm`: build an LPM table and time bulk lookups, the way
//! DPDK's `dpdk-test-fib` does (bursts of 64, addresses drawn round-robin from
//! the routes with random host bits), so the two can be run on the same routes
//! and the same addresses (`--dump-routes`, `--dump-lookups`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use orbital_fib::{Ipv4Prefix, Ipv6Prefix, Lpm4Builder, Lpm6Builder};
use serde::Serialize;

use crate::routes_file;

/// Address family to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    /// IPv4 (DIR-24-8).
    Ipv4,
    /// IPv6 (16-bit root, 8-bit groups).
    Ipv6,
}

/// Options of `orbital bench lpm`.
#[derive(Debug, Clone, clap::Args)]
pub struct LpmArgs {
    /// Synthetic table of N routes, spread over prefix lengths by `--distribution`.
    #[arg(long, conflicts_with = "routes_file")]
    pub routes: Option<usize>,
    /// Routes from a file: `prefix [next-hop]` per line, gzip allowed
    /// (e.g. ../shared/data/routes/fulltable-v4v6-bart.txt.gz).
    #[arg(long)]
    pub routes_file: Option<PathBuf>,
    /// Prefix-length distribution of synthetic routes, dpdk-test-fib's `-d` syntax.
    #[arg(long)]
    pub distribution: Option<String>,
    /// Number of lookups timed.
    #[arg(long, default_value_t = 10_000_000)]
    pub lookups: usize,
    /// Percent of lookup addresses drawn uniformly at random instead of from the routes.
    #[arg(long, default_value_t = 0)]
    pub random_percent: u8,
    /// Draw routes for lookups in random order instead of file order.
    #[arg(long)]
    pub shuffle: bool,
    /// Addresses per bulk lookup call.
    #[arg(long, default_value_t = 64)]
    pub burst: usize,
    /// Which family.
    #[arg(long, value_enum, default_value = "ipv4")]
    pub family: Family,
    /// Seed of the address and route generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Read lookup addresses from a file, one per line (dpdk-test-fib `-t`
    /// format), instead of generating them.
    #[arg(long)]
    pub lookups_file: Option<PathBuf>,
    /// Write the routes as `prefix next-hop` lines (dpdk-test-fib `-f` input).
    #[arg(long)]
    pub dump_routes: Option<PathBuf>,
    /// Write the lookup addresses, one per line (dpdk-test-fib `-t` input).
    #[arg(long)]
    pub dump_lookups: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `orbital bench lpm` measured.
#[derive(Debug, Clone, Serialize)]
pub struct LpmReport {
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    /// Routes in the table.
    pub routes: usize,
    /// Where the routes came from.
    pub source: String,
    /// Seconds to build the table from the route list.
    pub build_seconds: f64,
    /// Bytes of lookup memory.
    pub memory_bytes: usize,
    /// 8-bit groups in use.
    pub groups: usize,
    /// Lookups timed.
    pub lookups: usize,
    /// Addresses per bulk call.
    pub burst: usize,
    /// TSC cycles per lookup.
    pub cycles_per_lookup: f64,
    /// Lookups per second.
    pub lookups_per_sec: f64,
    /// Lookups that found a route.
    pub hits: usize,
}

const DEFAULT_V4_DISTRIBUTION: &str = "16:5%,19:5%,20:10%,21:5%,22:15%,23:10%,24:50%";
const DEFAULT_V6_DISTRIBUTION: &str = "32:15%,36:5%,40:10%,44:10%,48:60%";
/// Largest next hop DPDK's lpm6 and 4-byte fib entries accept (21 bits).
const MAX_NH: u32 = (1 << 21) - 1;

/// Run the benchmark.
///
/// # Errors
/// Bad arguments, unreadable route files, an empty table.
pub fn run(args: &LpmArgs) -> anyhow::Result<LpmReport> {
    if args.burst == 0 || args.lookups == 0 {
        bail!("--burst and --lookups must be positive");
    }
    let mut rng = fastrand::Rng::with_seed(args.seed);
    let (source, list) = match (&args.routes_file, args.routes) {
        (Some(f), _) => (f.display().to_string(), routes_file::read(f)?),
        (None, n) => {
            let n = n.unwrap_or(1_000_000);
            let dist = args
                .distribution
                .clone()
                .unwrap_or_else(|| match args.family {
                    Family::Ipv4 => DEFAULT_V4_DISTRIBUTION.into(),
                    Family::Ipv6 => DEFAULT_V6_DISTRIBUTION.into(),
                });
            (
                format!("synthetic {n} routes, {dist}"),
                synthetic(args.family, n, &dist, &mut rng)?,
            )
        }
    };
    match args.family {
        Family::Ipv4 => run_v4(args, source, &list.v4, &mut rng),
        Family::Ipv6 => run_v6(args, source, &list.v6, &mut rng),
    }
}

fn next_hops<P: Copy>(routes: &[(P, Option<u32>)], rng: &mut fastrand::Rng) -> Vec<(P, u32)> {
    routes
        .iter()
        .map(|&(p, nh)| {
            (
                p,
                nh.filter(|&n| n != 0 && n <= MAX_NH)
                    .unwrap_or_else(|| rng.u32(1..=MAX_NH)),
            )
        })
        .collect()
}

fn run_v4(
    args: &LpmArgs,
    source: String,
    routes: &[(Ipv4Prefix, Option<u32>)],
    rng: &mut fastrand::Rng,
) -> anyhow::Result<LpmReport> {
    if routes.is_empty() {
        bail!("no IPv4 routes in {source}");
    }
    let routes = next_hops(routes, rng);
    let t0 = Instant::now();
    let mut b = Lpm4Builder::new();
    for &(p, nh) in &routes {
        b.insert(p, nh);
    }
    let lpm = b.build();
    let build_seconds = t0.elapsed().as_secs_f64();
    let mut order: Vec<usize> = (0..routes.len()).collect();
    if args.shuffle {
        rng.shuffle(&mut order);
    }
    let addrs: Vec<u32> = match &args.lookups_file {
        Some(f) => read_addrs(f, |s| {
            s.parse::<std::net::Ipv4Addr>().ok().map(|a| a.to_bits())
        })?,
        None => (0..args.lookups)
            .map(|i| {
                if rng.u8(0..100) < args.random_percent {
                    rng.u32(..)
                } else {
                    let (p, _) = routes[order[i % order.len()]];
                    let host = if p.len() == 32 {
                        0
                    } else {
                        rng.u32(..) & (u32::MAX >> p.len())
                    };
                    p.bits() | host
                }
            })
            .collect(),
    };
    dump(args, &routes, &addrs, |a| {
        std::net::Ipv4Addr::from_bits(*a).to_string()
    })?;
    let mut out = vec![0u32; args.burst];
    let mut hits = 0;
    for c in addrs.chunks(args.burst) {
        lpm.lookup_bulk(c, &mut out);
        hits += out[..c.len()].iter().filter(|&&n| n != 0).count();
    }
    let (cycles, secs) = time_bursts(&addrs, args.burst, |c, out| lpm.lookup_bulk(c, out));
    Ok(LpmReport {
        family: "ipv4",
        routes: lpm.route_count(),
        source,
        build_seconds,
        memory_bytes: lpm.memory_bytes(),
        groups: lpm.groups(),
        lookups: addrs.len(),
        burst: args.burst,
        cycles_per_lookup: cycles as f64 / addrs.len() as f64,
        lookups_per_sec: addrs.len() as f64 / secs,
        hits,
    })
}

fn run_v6(
    args: &LpmArgs,
    source: String,
    routes: &[(Ipv6Prefix, Option<u32>)],
    rng: &mut fastrand::Rng,
) -> anyhow::Result<LpmReport> {
    if routes.is_empty() {
        bail!("no IPv6 routes in {source}");
    }
    let routes = next_hops(routes, rng);
    let t0 = Instant::now();
    let mut b = Lpm6Builder::new();
    for &(p, nh) in &routes {
        b.insert(p, nh);
    }
    let lpm = b.build();
    let build_seconds = t0.elapsed().as_secs_f64();
    let mut order: Vec<usize> = (0..routes.len()).collect();
    if args.shuffle {
        rng.shuffle(&mut order);
    }
    let addrs: Vec<u128> = match &args.lookups_file {
        Some(f) => read_addrs(f, |s| {
            s.parse::<std::net::Ipv6Addr>().ok().map(|a| a.to_bits())
        })?,
        None => (0..args.lookups)
            .map(|i| {
                if rng.u8(0..100) < args.random_percent {
                    rng.u128(..)
                } else {
                    let (p, _) = routes[order[i % order.len()]];
                    let host = if p.len() == 128 {
                        0
                    } else {
                        rng.u128(..) & (u128::MAX >> p.len())
                    };
                    p.bits() | host
                }
            })
            .collect(),
    };
    dump(args, &routes, &addrs, |a| {
        std::net::Ipv6Addr::from_bits(*a).to_string()
    })?;
    let mut out = vec![0u32; args.burst];
    let mut hits = 0;
    for c in addrs.chunks(args.burst) {
        lpm.lookup_bulk(c, &mut out);
        hits += out[..c.len()].iter().filter(|&&n| n != 0).count();
    }
    let (cycles, secs) = time_bursts(&addrs, args.burst, |c, out| lpm.lookup_bulk(c, out));
    Ok(LpmReport {
        family: "ipv6",
        routes: lpm.route_count(),
        source,
        build_seconds,
        memory_bytes: lpm.memory_bytes(),
        groups: lpm.groups(),
        lookups: addrs.len(),
        burst: args.burst,
        cycles_per_lookup: cycles as f64 / addrs.len() as f64,
        lookups_per_sec: addrs.len() as f64 / secs,
        hits,
    })
}

/// Time every burst the way dpdk-test-fib does (`rte_rdtsc_precise`: a full
/// fence, then the TSC, on both sides of each bulk call) and sum the cycles;
/// also return the wall-clock seconds of the whole pass.
fn time_bursts<A>(
    addrs: &[A],
    burst: usize,
    mut lookup: impl FnMut(&[A], &mut [u32]),
) -> (u64, f64) {
    use std::sync::atomic::{Ordering, fence};
    let mut out = vec![0u32; burst];
    let mut acc = 0u64;
    let mut sink = 0u32;
    let t0 = Instant::now();
    for c in addrs.chunks(burst) {
        fence(Ordering::SeqCst);
        let c0 = orbital_cpu::cycles();
        lookup(c, &mut out);
        fence(Ordering::SeqCst);
        acc += orbital_cpu::cycles() - c0;
        sink = sink.wrapping_add(out[0]);
    }
    std::hint::black_box(sink);
    (acc, t0.elapsed().as_secs_f64())
}

fn read_addrs<A>(
    path: &std::path::Path,
    parse: impl Fn(&str) -> Option<A>,
) -> anyhow::Result<Vec<A>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            parse(l.trim())
                .with_context(|| format!("{}: line {}: not an address", path.display(), n + 1))
        })
        .collect()
}

fn dump<P: std::fmt::Display, A>(
    args: &LpmArgs,
    routes: &[(P, u32)],
    addrs: &[A],
    show: impl Fn(&A) -> String,
) -> anyhow::Result<()> {
    if let Some(path) = &args.dump_routes {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| path.display().to_string())?,
        );
        for (p, nh) in routes {
            writeln!(f, "{p} {nh}")?;
        }
        f.flush()?;
    }
    if let Some(path) = &args.dump_lookups {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| path.display().to_string())?,
        );
        for a in addrs {
            writeln!(f, "{}", show(a))?;
        }
        f.flush()?;
    }
    Ok(())
}

/// Synthetic routes as `--routes N [--distribution D] [--family F]` make them.
///
/// # Errors
/// A malformed distribution.
pub fn synthetic_routes(
    args: &LpmArgs,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<routes_file::RouteList> {
    let n = args.routes.unwrap_or(1_000_000);
    let dist = args
        .distribution
        .clone()
        .unwrap_or_else(|| match args.family {
            Family::Ipv4 => DEFAULT_V4_DISTRIBUTION.into(),
            Family::Ipv6 => DEFAULT_V6_DISTRIBUTION.into(),
        });
    synthetic(args.family, n, &dist, rng)
}

/// Synthetic routes in dpdk-test-fib's manner: for each prefix length, the
/// requested share of `n` routes, spread evenly over the address space.
fn synthetic(
    family: Family,
    n: usize,
    dist: &str,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<routes_file::RouteList> {
    let max_len: u8 = if family == Family::Ipv4 { 32 } else { 128 };
    let mut list = routes_file::RouteList::default();
    for part in dist.split(',') {
        let (len, pct) = part
            .trim()
            .strip_suffix('%')
            .and_then(|p| p.split_once(':'))
            .with_context(|| format!("distribution item `{part}` is not LEN:PCT%"))?;
        let len: u8 = len
            .parse()
            .with_context(|| format!("bad length in `{part}`"))?;
        let pct: usize = pct
            .parse()
            .with_context(|| format!("bad percent in `{part}`"))?;
        if len == 0 || len > max_len {
            bail!("prefix length {len} out of range 1..={max_len}");
        }
        let count = n * pct / 100;
        let space = 1u128 << len.min(127);
        if count as u128 > space {
            bail!("{count} routes of length /{len} do not fit");
        }
        let step = space as f64 / count.max(1) as f64;
        for j in 0..count {
            let lo = (j as f64 * step) as u128;
            let hi = (((j + 1) as f64 * step) as u128).max(lo + 1);
            let v = lo + rng.u128(..) % (hi - lo);
            match family {
                Family::Ipv4 => {
                    let a = (v as u32) << (32 - u32::from(len));
                    list.v4.push((Ipv4Prefix::truncating(a.into(), len), None));
                }
                Family::Ipv6 => {
                    // Keep synthetic IPv6 routes in global unicast 2000::/3.
                    let a = (0x2000u128 << 112) | ((v << (128 - u32::from(len))) >> 3);
                    list.v6.push((Ipv6Prefix::truncating(a.into(), len), None));
                }
            }
        }
    }
    Ok(list)
}

/// Render a report for people.
pub fn render(r: &LpmReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "lpm {}: {} routes ({}), built in {:.3} s, {:.1} MiB lookup memory, {} groups",
        r.family,
        r.routes,
        r.source,
        r.build_seconds,
        r.memory_bytes as f64 / (1024.0 * 1024.0),
        r.groups
    );
    let _ = writeln!(
        o,
        "  {} lookups in bursts of {}: {:.1} cycles/lookup, {:.1} M lookups/s ({:.1} % found a route)",
        r.lookups,
        r.burst,
        r.cycles_per_lookup,
        r.lookups_per_sec / 1e6,
        100.0 * r.hits as f64 / r.lookups as f64
    );
    o
}
