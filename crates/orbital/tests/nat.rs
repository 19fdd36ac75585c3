//! Stateless NAT through `orbital replay`: examples/static-nat.toml on its
//! two captures must send exactly the frames `examples/make_nat_capture.py`
//! computed from scratch (1:1 and prefix NAT44 both ways, UDP without a
//! checksum, ICMP errors with translated quotes, hairpinning, fragments,
//! NPTv6 and its untranslatable case), with any worker count; the trace
//! says what each NAT node did; bad NAT configuration is refused, located.

use std::path::{Path, PathBuf};

use orbital_capture::Capture;
use orbital_fib::PortId;
use orbital_io::{PcapRx, PcapTx};
use orbital_pipeline::drop::{DropReason, Reason};
use orbital_pipeline::replay::{ReplayConfig, ReplayInput, ReplayOutput, ReplayReport, replay};
use orbital_pipeline::trace::TraceFilter;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A scratch directory removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("orbital-nat-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Replay the example on both captures; the report and each port's frames.
fn run(workers: usize, trace: Option<(usize, TraceFilter)>) -> (ReplayReport, [Vec<Vec<u8>>; 2]) {
    let dir = Scratch::new();
    let config = root().join("examples/static-nat.toml");
    let (compiled, builder) = orbital_control::load(&config).unwrap();
    let mut cfg = ReplayConfig {
        trace,
        ..ReplayConfig::default()
    };
    orbital::replay::apply_engine_settings(&compiled.engine, &mut cfg.engine);
    cfg.engine.workers = workers;
    let id = |n: &str| compiled.port(n).unwrap().id;
    let inputs = ["lan", "wan"]
        .iter()
        .map(|s| ReplayInput {
            port: id(&format!("{s}0")),
            rx: PcapRx::open(&root().join(format!("examples/static-nat-{s}.pcap"))).unwrap(),
        })
        .collect();
    let paths = [dir.0.join("lan0.pcap"), dir.0.join("wan0.pcap")];
    let outputs = ["lan0", "wan0"]
        .iter()
        .zip(&paths)
        .map(|(p, f)| ReplayOutput {
            port: id(p),
            tx: PcapTx::new(f),
        })
        .collect();
    let policy = orbital::policy(&compiled, workers, 1, None).unwrap();
    let rep =
        replay::<orbital::Graph>(&cfg, builder, policy, compiled.ports.len(), inputs, outputs)
            .unwrap();
    assert!(rep.stats.total.balanced(), "{:?}", rep.stats.total);
    assert_eq!(rep.stats.pool.in_use, 0, "every buffer came back");
    let read = |p: &Path| frames(&std::fs::read(p).unwrap());
    (rep, [read(&paths[0]), read(&paths[1])])
}

/// A capture's frames, each cut to its IP packet's own length (the
/// generator pads short frames to 60 bytes; the router sends them as they
/// are).
fn frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    let c = Capture::from_bytes(bytes.to_vec()).unwrap();
    c.frames()
        .map(|f| {
            let f = f.unwrap().data.to_vec();
            let len = match (f.get(12..14), f.get(16..18), f.get(18..20)) {
                (Some([0x08, 0x00]), Some(l), _) => {
                    14 + usize::from(u16::from_be_bytes([l[0], l[1]]))
                }
                (Some([0x86, 0xdd]), _, Some(l)) => {
                    54 + usize::from(u16::from_be_bytes([l[0], l[1]]))
                }
                _ => f.len(),
            };
            f[..len.min(f.len())].to_vec()
        })
        .collect()
}

fn expected(side: &str) -> Vec<Vec<u8>> {
    frames(&std::fs::read(root().join(format!("examples/static-nat-expect-{side}.pcap"))).unwrap())
}

fn drops(rep: &ReplayReport, r: Reason) -> u64 {
    rep.stats.total.drops[DropReason::Other(r).index()]
}

#[test]
fn static_nat_sends_exactly_the_independently_computed_frames() {
    let (rep, [lan, wan]) = run(1, None);
    for (side, got, want) in [
        ("lan", &lan, expected("lan")),
        ("wan", &wan, expected("wan")),
    ] {
        assert_eq!(got.len(), want.len(), "{side}0: frame count");
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                g == w,
                "{side}0 frame {k} differs from make_nat_capture.py's:\n got {}\nwant {}",
                hex(g),
                hex(w)
            );
        }
    }
    // Only the NPTv6 packet whose subnet word is 0xFFFF is dropped.
    assert_eq!(drops(&rep, Reason::NatUntranslatable), 1);
    assert_eq!(rep.stats.total.dropped, 1);
}

#[test]
fn static_nat_is_identical_with_two_workers() {
    let (_, one) = run(1, None);
    let (rep, two) = run(2, None);
    assert_eq!(one, two);
    assert_eq!(drops(&rep, Reason::NatUntranslatable), 1);
}

#[test]
fn the_trace_says_what_nat_did() {
    let (rep, _) = run(1, Some((64, TraceFilter::default())));
    let names = |p: PortId| ["lan0", "wan0"][usize::from(p.0)].to_string();
    let all: Vec<String> = rep.trace.iter().map(|t| t.render(&names)).collect();
    let has = |s: &str| all.iter().any(|t| t.contains(s));
    assert!(
        has("snat 192.168.1.10 -> 203.0.113.10 (static rule 1)"),
        "{all:#?}"
    );
    assert!(has("dnat 203.0.113.10 -> 192.168.1.10 (static rule 1)"));
    assert!(has("snat 192.168.2.33 -> 203.0.113.161 (static rule 2)"));
    assert!(has(
        "hairpin: dnat 203.0.113.10 -> 192.168.1.10; snat 192.168.2.5 -> 203.0.113.133"
    ));
    assert!(has(
        "dnat 203.0.113.10 -> 192.168.1.10; ICMP error: quoted 203.0.113.10 -> 192.168.1.10"
    ));
    assert!(has(
        "snat 192.168.1.10 -> 203.0.113.10; ICMP error: quoted 192.168.1.10 -> 203.0.113.10"
    ));
    assert!(has("NPTv6 source -> 2001:db8:1:"));
    assert!(has("drop: nat-untranslatable"), "{all:#?}");
}

fn config_error(nat: &str) -> String {
    let base = std::fs::read_to_string(root().join("examples/static-nat.toml")).unwrap();
    let cut = base.find("[[nat.static]]").unwrap();
    let text = format!("{}{nat}", &base[..cut]);
    orbital_control::compile_str(Path::new("nat.toml"), &text)
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_nat_configuration_is_refused_and_located() {
    let e = config_error(
        "[[nat.static]]\ninside = \"192.168.1.0/24\"\noutside = \"203.0.113.0/24\"\ninterface = \"wan0\"\n\n[[nat.static]]\ninside = \"192.168.1.128/25\"\noutside = \"198.51.100.0/25\"\ninterface = \"wan0\"\n",
    );
    assert!(e.contains("static NAT rule 2"), "{e}");
    assert!(e.contains("overlaps 192.168.1.0/24"), "{e}");
    assert!(e.starts_with("nat.toml:"), "{e}");
    let e = config_error(
        "[[nat.static]]\ninside = \"192.168.1.0/24\"\noutside = \"203.0.113.0/25\"\ninterface = \"wan0\"\n",
    );
    assert!(e.contains("differ in length"), "{e}");
    let e = config_error(
        "[[nat.static]]\ninside = \"192.168.1.0/24\"\noutside = \"203.0.113.0/24\"\ninterface = \"wan9\"\n",
    );
    assert!(
        e.contains("no port or bridge interface named `wan9`"),
        "{e}"
    );
    let e = config_error(
        "[[nat.static]]\ninside = \"192.168.1.1/24\"\noutside = \"203.0.113.0/24\"\ninterface = \"wan0\"\n",
    );
    assert!(e.contains("host bits"), "{e}");
    let e = config_error(
        "[[nat.static]]\ninside = \"fd00::/96\"\noutside = \"2001:db8::/96\"\ninterface = \"wan0\"\n",
    );
    assert!(e.contains("RFC 6296"), "{e}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
