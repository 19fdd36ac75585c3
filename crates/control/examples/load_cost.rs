//! How much a configuration costs to load: time and memory of parsing and
//! compiling it, and of building its tables. `cargo run --release -p
//! orbital-control --example load_cost -- FILE`.
use std::time::Instant;

fn status(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: load_cost FILE");
        std::process::exit(2);
    };
    let src = std::fs::read_to_string(&path).expect("readable");
    if std::env::args().nth(2).as_deref() == Some("--raw") {
        return raw(&src);
    }
    let t0 = Instant::now();
    let c = orbital_control::compile_str(std::path::Path::new(&path), &src).expect("compiles");
    let t1 = Instant::now();
    println!(
        "compile: {:.2} s, {} updates, VmHWM {} MB, VmRSS {} MB",
        (t1 - t0).as_secs_f64(),
        c.updates.len(),
        status("VmHWM") / 1024,
        status("VmRSS") / 1024
    );
    let b = c.builder().expect("applies");
    let t2 = Instant::now();
    println!(
        "tables: {:.2} s, VmHWM {} MB, VmRSS {} MB",
        (t2 - t1).as_secs_f64(),
        status("VmHWM") / 1024,
        status("VmRSS") / 1024
    );
    drop(c);
    drop(src);
    println!(
        "after dropping the compiled file: VmRSS {} MB",
        status("VmRSS") / 1024
    );
    drop(b);
}

fn raw(src: &str) {
    let t0 = Instant::now();
    let v: toml::Table = toml::from_str(src).expect("toml");
    println!(
        "raw toml: {:.2} s, {} keys, VmHWM {} MB",
        t0.elapsed().as_secs_f64(),
        v.len(),
        status("VmHWM") / 1024
    );
}
