//! Memory and time of a full Internet table on the control side: the routes
//! of `fulltable-v4v6-bart.txt.gz` as one `Vec<TableUpdate>` batch through
//! [`TablesBuilder::apply`], the way `orbital run` loads a configuration
//! (without the TOML parsing, which is the control crate's), then single-route
//! updates on top of it.
//!
//! Prints build time, peak and steady RSS (`/proc/self/status`), live heap
//! bytes counted by a wrapping allocator (RSS keeps freed glibc chunks, so it
//! cannot say what the builder itself holds), bytes per route, and the time
//! and bytes of a one-route update.
//!
//! ```text
//! cargo run --release -p orbital-fib --example fulltable [ROUTES.txt.gz]
//! ```

use std::alloc::System;
use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use orbital_fib::{
    Attach, Gateway, IfId, IpPrefix, PortConfig, PortId, PortMode, RouteTarget, TableUpdate,
    TablesBuilder,
};
use orbital_wire::EthernetAddress;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes the program holds on the heap now.
fn live() -> i64 {
    let s = GLOBAL.stats();
    // stats_alloc already folds reallocations into both counters.
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

/// `VmRSS` and `VmHWM` in bytes.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Start a new peak (Linux ≥ 4.0: writing 5 to `clear_refs` resets `VmHWM`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn mib(b: impl Into<f64>) -> String {
    format!("{:.1} MiB", b.into() / (1024.0 * 1024.0))
}

fn routes_path() -> PathBuf {
    std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("ORBITAL_SHARED_DATA")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
                })
                .join("routes/fulltable-v4v6-bart.txt.gz")
        })
}

fn read_prefixes(path: &std::path::Path) -> Vec<IpPrefix> {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|p| p.parse().unwrap_or_else(|e| panic!("{p}: {e}")))
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Two upstream ports with four gateways each per family, found on link (as a
/// `[[route]]` with `via` and no `dev` gives them).
fn router() -> (Vec<TableUpdate>, Vec<IpAddr>, Vec<IpAddr>) {
    let mut v = Vec::new();
    let (mut gw4, mut gw6) = (Vec::new(), Vec::new());
    for i in 0..2u16 {
        let name = format!("wan{i}");
        v.push(TableUpdate::SetPort(PortConfig {
            id: PortId(i),
            name: name.clone(),
            mode: PortMode::Routed { iface: IfId(i) },
        }));
        v.push(TableUpdate::SetInterface {
            id: IfId(i),
            name,
            mac: EthernetAddress([2, 0, 0, 0, 0, i as u8 + 1]),
            mtu: 1500,
            attach: Attach::Port(PortId(i)),
        });
        v.push(TableUpdate::AddAddress {
            iface: IfId(i),
            addr: ip(&format!("192.0.{}.1", 2 + i)),
            len: 24,
        });
        v.push(TableUpdate::AddAddress {
            iface: IfId(i),
            addr: ip(&format!("2001:db8:{i}::1")),
            len: 64,
        });
        for g in 0..4 {
            gw4.push(ip(&format!("192.0.{}.{}", 2 + i, 10 + g)));
            gw6.push(ip(&format!("2001:db8:{i}::{}", 10 + g)));
        }
    }
    (v, gw4, gw6)
}

fn via(gw: IpAddr) -> RouteTarget {
    RouteTarget::Via(vec![Gateway {
        addr: gw,
        iface: None,
    }])
}

fn main() {
    let path = routes_path();
    let prefixes = read_prefixes(&path);
    let (n4, n6) = (
        prefixes
            .iter()
            .filter(|p| matches!(p, IpPrefix::V4(_)))
            .count(),
        prefixes
            .iter()
            .filter(|p| matches!(p, IpPrefix::V6(_)))
            .count(),
    );
    println!("{}: {n4} IPv4 + {n6} IPv6 routes", path.display());

    let (mut updates, gw4, gw6) = router();
    for (i, p) in prefixes.iter().enumerate() {
        let gw = match p {
            IpPrefix::V4(_) => gw4[i % gw4.len()],
            IpPrefix::V6(_) => gw6[i % gw6.len()],
        };
        updates.push(TableUpdate::AddRoute {
            prefix: *p,
            target: via(gw),
        });
    }
    drop(prefixes);
    updates.shrink_to_fit();
    let before = live();
    let (rss_before, _) = rss();
    println!(
        "the batch: {} updates, {} on the heap",
        updates.len(),
        mib(before as f64)
    );

    reset_peak();
    let t0 = Instant::now();
    let mut b = TablesBuilder::new();
    let first = b.apply(&updates).unwrap_or_else(|e| panic!("{e}"));
    let build = t0.elapsed();
    let (_, hwm) = rss();
    let during = live();
    drop(updates);
    let after = live();
    let (rss_after, _) = rss();
    let lpm = first.fib4.memory_bytes() + first.fib6.memory_bytes();
    let routes = first.fib4.route_count() + first.fib6.route_count();
    let held = after as f64;
    let builder = held - lpm as f64;
    println!("apply of the whole batch: {:.2} s", build.as_secs_f64());
    println!(
        "peak RSS during apply {} (batch in memory: {} RSS before), live heap at its end {}",
        mib(hwm as f64),
        mib(rss_before as f64),
        mib(during as f64)
    );
    println!(
        "steady, batch dropped: RSS {}, live heap {} = LPM lookup memory {} (fib4 {}, fib6 {}) \
         + builder and the rest {}",
        mib(rss_after as f64),
        mib(held),
        mib(lpm as f64),
        mib(first.fib4.memory_bytes() as f64),
        mib(first.fib6.memory_bytes() as f64),
        mib(builder)
    );
    println!(
        "builder bytes per route: {:.1} ({routes} routes)",
        builder / routes as f64
    );

    // One route at a time, each its own batch and version; the previous
    // version is held (as a worker would) so copy-on-write must copy.
    let mut times = Vec::new();
    let mut bytes = Vec::new();
    let mut prev = first;
    for k in 0..200u32 {
        let prefix: IpPrefix = if k % 2 == 0 {
            format!("203.0.{}.0/24", k / 2 % 256).parse()
        } else {
            format!("2001:db8:ff{:02x}::/48", k / 2 % 256).parse()
        }
        .unwrap_or_else(|e| panic!("{e}"));
        let gw = if k % 2 == 0 { gw4[0] } else { gw6[0] };
        let batch = [TableUpdate::AddRoute {
            prefix,
            target: via(gw),
        }];
        let region = Region::new(GLOBAL);
        let t = Instant::now();
        let next = b.apply(&batch).unwrap_or_else(|e| panic!("{e}"));
        times.push(t.elapsed());
        bytes.push(region.change().bytes_allocated);
        drop(std::mem::replace(&mut prev, next));
    }
    times.sort();
    bytes.sort_unstable();
    let pct = |v: &[Duration], q: f64| v[((v.len() - 1) as f64 * q) as usize];
    println!(
        "one-route update (200, IPv4 /24 and IPv6 /48 alternating): median {:.1} µs, \
         p90 {:.1} µs; bytes allocated median {}, max {}",
        pct(&times, 0.5).as_secs_f64() * 1e6,
        pct(&times, 0.9).as_secs_f64() * 1e6,
        bytes[bytes.len() / 2],
        bytes[bytes.len() - 1]
    );
    let l = live();
    drop(b);
    println!("dropping the builder frees {}", mib((l - live()) as f64));
    let l = live();
    drop(prev);
    println!("dropping the tables frees {}", mib((l - live()) as f64));
}
