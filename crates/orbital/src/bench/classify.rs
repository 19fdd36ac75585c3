//! `orbital bench classify`: compile a ClassBench rule set with the
//! firewall's classifier and classify a ClassBench header trace, the way
//! DPDK's `dpdk-test-acl` does, so the two can be run on the same files
//! (`scripts/classify-vs-dpdk.sh`).
//!
//! Like test-acl, the whole trace is classified `--iter` times in bursts
//! (`--burst`, default 64, the pipeline's burst; test-acl's `--tracestep`
//! is the same knob, default 256) into a results array, and the figure is
//! the TSC cycles of the whole loop divided by the headers classified.
//! Files are read as the data's README describes them: rules
//! `@sip/len dip/len sport_lo : sport_hi dport_lo : dport_hi proto/mask
//! flags/mask` (flags ignored, as test-acl and the answers do), trace lines of
//! tab-separated decimals of which the first five are the header, answers
//! one rule id (or -1) per trace line; gzip or plain.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use orbital_classifier::{
    BuildConfig, Classifier, FieldKind, FieldSpec, Linear, Match, NO_MATCH, Rule,
};
use serde::Serialize;

/// Classifier to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algo {
    /// The compiled cut trees (what the firewall uses).
    Tree,
    /// The naive first-match walk, for reference.
    Linear,
}

/// Options of `orbital bench classify`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClassifyArgs {
    /// ClassBench rule file (e.g. ../shared/data/classbench/acl1_10k.gz).
    #[arg(long)]
    pub rules: PathBuf,
    /// ClassBench header trace (e.g. ../shared/data/classbench/acl1_10k_trace.gz).
    #[arg(long)]
    pub trace: PathBuf,
    /// First-match answers, one per trace line (`*_trace.match.gz`): count
    /// the headers classified differently.
    #[arg(long)]
    pub expect: Option<PathBuf>,
    /// Which classifier.
    #[arg(long, value_enum, default_value = "tree")]
    pub algo: Algo,
    /// Headers per `classify_bulk` call (test-acl's `--tracestep`).
    #[arg(long, visible_alias = "bursts", default_value_t = 64)]
    pub burst: usize,
    /// Passes over the trace; 0 = enough for 20 M headers (one pass for `linear`).
    #[arg(long, default_value_t = 0)]
    pub iter: usize,
    /// Pin the benchmark to this CPU (test-acl's `-l`).
    #[arg(long)]
    pub cpu: Option<usize>,
    /// Build knob: rules a leaf may hold before it is cut.
    #[arg(long)]
    pub leaf_rules: Option<usize>,
    /// Build knob: widest cut in bits.
    #[arg(long)]
    pub max_cut_bits: Option<u8>,
    /// Build knob: HiCuts space factor.
    #[arg(long)]
    pub space_factor: Option<usize>,
    /// Build knob: most trees the rules are partitioned into.
    #[arg(long)]
    pub max_trees: Option<usize>,
    /// Build knob: cut a node only if a key is left at most this share of its rules.
    #[arg(long)]
    pub cut_gain: Option<f64>,
    /// Build knob: lookup memory limit in bytes.
    #[arg(long)]
    pub max_memory: Option<usize>,
    /// Widen the key by this many 32-bit fields that no rule uses (keys get
    /// 0x5a5a5a5a there): the firewall's key has ~20 fields, ClassBench's 5,
    /// and unused fields should cost nothing but the wider stride.
    #[arg(long, default_value_t = 0)]
    pub extra_fields: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `orbital bench classify` measured.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifyReport {
    /// `tree` or `linear`.
    pub algo: &'static str,
    /// Rules in the set.
    pub rules: usize,
    /// Fields of the key.
    pub fields: usize,
    /// Headers classified in all (trace length × passes).
    pub packets: usize,
    /// Headers in the trace.
    pub trace_packets: usize,
    /// Passes over the trace.
    pub iterations: usize,
    /// Headers per bulk call.
    pub burst: usize,
    /// Milliseconds to compile the rules.
    pub build_ms: f64,
    /// Bytes of lookup memory.
    pub memory_bytes: usize,
    /// TSC cycles per header.
    pub cycles_per_packet: f64,
    /// Million headers per second.
    pub mpps: f64,
    /// Headers whose answer differs from `--expect` (absent without it).
    pub mismatches: Option<usize>,
    /// Trees searched per header.
    pub trees: usize,
    /// Longest walk to a terminal.
    pub max_depth: u32,
    /// Distinct interior nodes.
    pub nodes: usize,
    /// Distinct leaves with checks.
    pub leaves: usize,
    /// Build retries to fit the memory limit.
    pub retries: u32,
    /// Mean tree levels stepped per header (one pass over the trace).
    pub steps_per_packet: f64,
    /// Mean leaf rules checked per header.
    pub rules_checked_per_packet: f64,
}

/// Headers in the default run: about what test-acl classifies with
/// `--iter=100` on the 10k traces.
const DEFAULT_PACKETS: usize = 20_000_000;

/// Run the benchmark.
///
/// # Errors
/// Unreadable or malformed files, a rule set the classifier refuses.
pub fn run(args: &ClassifyArgs) -> anyhow::Result<ClassifyReport> {
    if args.burst == 0 {
        bail!("--burst must be positive");
    }
    if let Some(cpu) = args.cpu {
        orbital_cpu::pin_current_thread(cpu).with_context(|| format!("cannot pin to CPU {cpu}"))?;
    }
    let mut rules = read_rules(&args.rules)?;
    let mut keys = read_trace(&args.trace)?;
    let n = keys.len() / 5;
    let nf = 5 + args.extra_fields;
    if args.extra_fields > 0 {
        for r in &mut rules {
            r.fields.resize(nf, Match::Any);
        }
        keys = keys
            .chunks_exact(5)
            .flat_map(|k| {
                k.iter()
                    .copied()
                    .chain(std::iter::repeat_n(0x5a5a_5a5a, nf - 5))
            })
            .collect();
    }
    if n == 0 {
        bail!("{}: no headers", args.trace.display());
    }
    let expect = match &args.expect {
        Some(p) => {
            let e = read_answers(p)?;
            if e.len() != n {
                bail!("{}: {} answers for {n} headers", p.display(), e.len());
            }
            Some(e)
        }
        None => None,
    };
    let mut kinds = FieldSpec::ipv4_5tuple().kinds().to_vec();
    kinds.resize(nf, FieldKind::Other { bits: 32 });
    let spec = FieldSpec::new(&kinds)?;
    let mut cfg = BuildConfig::default();
    if let Some(v) = args.leaf_rules {
        cfg.leaf_rules = v;
    }
    if let Some(v) = args.max_cut_bits {
        cfg.max_cut_bits = v;
    }
    if let Some(v) = args.space_factor {
        cfg.space_factor = v;
    }
    if let Some(v) = args.max_trees {
        cfg.max_trees = v;
    }
    if let Some(v) = args.cut_gain {
        cfg.cut_gain = v;
    }
    if let Some(v) = args.max_memory {
        cfg.max_memory_bytes = v;
    }
    let iterations = match (args.iter, args.algo) {
        (0, Algo::Linear) => 1,
        (0, Algo::Tree) => DEFAULT_PACKETS.div_ceil(n),
        (i, _) => i,
    };
    let t0 = Instant::now();
    let mut work = (0.0, 0.0);
    let (algo, memory_bytes, stats, m) = match args.algo {
        Algo::Tree => {
            let c = Classifier::build_with(&spec, &rules, &cfg)?;
            let build_ms = t0.elapsed().as_secs_f64() * 1e3;
            let m = measure(
                &keys,
                nf,
                expect.as_deref(),
                args.burst,
                iterations,
                |k, o| {
                    c.classify_bulk(k, o);
                },
            );
            let (steps, checked) = keys.chunks_exact(nf).fold((0u64, 0u64), |(s, r), k| {
                let cost = c.lookup_cost(k);
                (s + u64::from(cost.steps), r + u64::from(cost.rules))
            });
            work = (steps as f64 / n as f64, checked as f64 / n as f64);
            (
                "tree",
                c.memory_bytes(),
                Some((c.stats().clone(), build_ms)),
                m,
            )
        }
        Algo::Linear => {
            let l = Linear::new(&spec, &rules)?;
            let build_ms = t0.elapsed().as_secs_f64() * 1e3;
            let m = measure(
                &keys,
                nf,
                expect.as_deref(),
                args.burst,
                iterations,
                |k, o| {
                    l.classify_bulk(k, o);
                },
            );
            let stats = orbital_classifier::BuildStats {
                rules: rules.len(),
                ..Default::default()
            };
            ("linear", l.memory_bytes(), Some((stats, build_ms)), m)
        }
    };
    let (stats, build_ms) = stats.expect("set above");
    let packets = n * iterations;
    Ok(ClassifyReport {
        algo,
        rules: rules.len(),
        fields: nf,
        packets,
        trace_packets: n,
        iterations,
        burst: args.burst,
        build_ms,
        memory_bytes,
        cycles_per_packet: m.cycles as f64 / packets as f64,
        mpps: packets as f64 / m.seconds / 1e6,
        mismatches: m.mismatches,
        trees: stats.trees,
        max_depth: stats.max_depth,
        nodes: stats.nodes,
        leaves: stats.leaves,
        retries: stats.retries,
        steps_per_packet: work.0,
        rules_checked_per_packet: work.1,
    })
}

struct Measured {
    cycles: u64,
    seconds: f64,
    mismatches: Option<usize>,
}

/// Classify the trace `iterations` times in bursts into one results array,
/// timing the whole loop with the TSC behind full fences (test-acl's
/// `rte_rdtsc_precise` around its loop); compare the first pass's results
/// with `expect`.
fn measure(
    keys: &[u32],
    nf: usize,
    expect: Option<&[u32]>,
    burst: usize,
    iterations: usize,
    mut classify: impl FnMut(&[u32], &mut [u32]),
) -> Measured {
    use std::sync::atomic::{Ordering, fence};
    let n = keys.len() / nf;
    let mut out = vec![NO_MATCH; n];
    for (k, o) in keys.chunks(burst * nf).zip(out.chunks_mut(burst)) {
        classify(k, o);
    }
    let mismatches = expect.map(|e| e.iter().zip(&out).filter(|(a, b)| a != b).count());
    let t0 = Instant::now();
    fence(Ordering::SeqCst);
    let c0 = orbital_cpu::cycles();
    for _ in 0..iterations {
        for (k, o) in keys.chunks(burst * nf).zip(out.chunks_mut(burst)) {
            classify(k, o);
        }
        std::hint::black_box(&mut out);
    }
    fence(Ordering::SeqCst);
    let cycles = orbital_cpu::cycles() - c0;
    Measured {
        cycles,
        seconds: t0.elapsed().as_secs_f64(),
        mismatches,
    }
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut s)
            .with_context(|| format!("{}: bad gzip", path.display()))?;
        Ok(s)
    } else {
        String::from_utf8(raw).with_context(|| format!("{}: not text", path.display()))
    }
}

/// ClassBench rules (user value = line number).
///
/// # Errors
/// Unreadable file, malformed line.
pub fn read_rules(path: &Path) -> anyhow::Result<Vec<Rule>> {
    let text = read_text(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            parse_rule(l, i as u32)
                .with_context(|| format!("{}: line {}: `{l}`", path.display(), i + 1))
        })
        .collect()
}

fn parse_rule(line: &str, value: u32) -> anyhow::Result<Rule> {
    let line = line.trim().strip_prefix('@').context("no leading @")?;
    let t: Vec<&str> = line.split_whitespace().collect();
    // sip dip lo : hi lo : hi proto/mask [flags/mask]
    if t.len() < 9 || t[3] != ":" || t[6] != ":" {
        bail!("expected `@sip/len dip/len lo : hi lo : hi proto/mask`");
    }
    let prefix = |s: &str| -> anyhow::Result<Match> {
        let (a, l) = s.split_once('/').context("prefix without /len")?;
        let a: std::net::Ipv4Addr = a.parse().context("bad address")?;
        Ok(Match::Prefix {
            value: a.to_bits(),
            len: l.parse().context("bad prefix length")?,
        })
    };
    let port = |s: &str| -> anyhow::Result<u32> { s.parse().context("bad port") };
    let hex = |s: &str| -> anyhow::Result<u32> {
        u32::from_str_radix(s.trim_start_matches("0x").trim_start_matches("0X"), 16)
            .context("bad hex")
    };
    let (pv, pm) = t[8].split_once('/').context("protocol without /mask")?;
    Ok(Rule::new(
        vec![
            prefix(t[0])?,
            prefix(t[1])?,
            Match::Range {
                lo: port(t[2])?,
                hi: port(t[4])?,
            },
            Match::Range {
                lo: port(t[5])?,
                hi: port(t[7])?,
            },
            Match::Mask {
                value: hex(pv)?,
                mask: hex(pm)?,
            },
        ],
        value,
    ))
}

/// ClassBench header trace: five fields per header, end to end.
///
/// # Errors
/// Unreadable file, malformed line.
pub fn read_trace(path: &Path) -> anyhow::Result<Vec<u32>> {
    let text = read_text(path)?;
    let mut keys = Vec::with_capacity(text.len() / 8);
    for (i, l) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let mut it = l.split_whitespace();
        for _ in 0..5 {
            let v = it
                .next()
                .and_then(|v| v.parse::<u32>().ok())
                .with_context(|| format!("{}: line {}: bad header", path.display(), i + 1))?;
            keys.push(v);
        }
    }
    Ok(keys)
}

/// First-match answers: one rule id per line, -1 for none.
///
/// # Errors
/// Unreadable file, malformed line.
pub fn read_answers(path: &Path) -> anyhow::Result<Vec<u32>> {
    let text = read_text(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| match l.trim() {
            "-1" => Ok(NO_MATCH),
            s => s
                .parse::<u32>()
                .with_context(|| format!("{}: line {}: bad answer", path.display(), i + 1)),
        })
        .collect()
}

/// Render a report for people.
pub fn render(r: &ClassifyReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "classify {}: {} rules of {} fields, built in {:.1} ms, {:.2} MB lookup memory ({} trees, depth {}, {} nodes, {} leaves{})",
        r.algo,
        r.rules,
        r.fields,
        r.build_ms,
        r.memory_bytes as f64 / 1e6,
        r.trees,
        r.max_depth,
        r.nodes,
        r.leaves,
        if r.retries > 0 {
            format!(", {} retries", r.retries)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        o,
        "  {} headers ({} x {}) in bursts of {}: {:.1} cycles/packet, {:.2} Mpps{}",
        r.packets,
        r.iterations,
        r.trace_packets,
        r.burst,
        r.cycles_per_packet,
        r.mpps,
        match r.mismatches {
            Some(m) => format!(", {m} mismatches"),
            None => String::new(),
        }
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_classbench_rule_line() {
        let r = parse_rule(
            "@172.132.84.73/32\t78.94.127.153/32\t0 : 65535\t19856 : 19856\t0x06/0xFF\t0x1000/0x1000\t",
            3,
        )
        .unwrap();
        assert_eq!(
            r.fields,
            vec![
                Match::Prefix {
                    value: 0xac84_5449,
                    len: 32
                },
                Match::Prefix {
                    value: 0x4e5e_7f99,
                    len: 32
                },
                Match::Range { lo: 0, hi: 65535 },
                Match::Range {
                    lo: 19856,
                    hi: 19856
                },
                Match::Mask {
                    value: 6,
                    mask: 0xff
                },
            ]
        );
        assert_eq!(r.value, 3);
        assert!(parse_rule("172.0.0.0/8 1.0.0.0/8 0 : 1 2 : 3 0x06/0xFF", 0).is_err());
    }
}
