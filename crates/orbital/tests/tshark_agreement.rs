//! The parser against Wireshark, frame by frame, over the real captures in
//! ../shared/data/pcap (tcpdump, Zeek, Suricata and PcapPlusPlus regression
//! suites, many malformed on purpose).
//!
//! For every Ethernet frame, the outer layer 3 that `orbital inspect` sees
//! (IPv4, IPv6, ARP or something else) must be the one tshark's dissector
//! chain (`frame.protocols`) shows after `eth`, `ethertype` and VLAN tags.
//! Disagreements are allowed only where the data plane is deliberately
//! narrower than Wireshark, each named below with its reason; the test prints
//! how many of each it saw. Every capture in the corpus also goes through
//! `inspect` without a panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use orbital::inspect::{classify, inspect};
use orbital_capture::Capture;
use orbital_wire::{L3Kind, ParseError};

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("ORBITAL_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("pcap");
    dir.join("INDEX.tsv").exists().then_some(dir)
}

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outer {
    Ipv4,
    Ipv6,
    Arp,
    Neither,
}

/// tshark's outer L3: the first protocol after eth/ethertype/VLAN layers.
fn tshark_outer(protocols: &str) -> (Outer, usize) {
    let mut tags = 0;
    for tok in protocols.split(':') {
        match tok {
            "eth" | "ethertype" => {}
            "vlan" | "ieee8021ad" => tags += 1,
            "ip" => return (Outer::Ipv4, tags),
            "ipv6" => return (Outer::Ipv6, tags),
            "arp" => return (Outer::Arp, tags),
            _ => return (Outer::Neither, tags),
        }
    }
    (Outer::Neither, tags)
}

fn ours(l3: L3Kind) -> Outer {
    match l3 {
        L3Kind::Ipv4 => Outer::Ipv4,
        L3Kind::Ipv6 => Outer::Ipv6,
        L3Kind::Arp => Outer::Arp,
        L3Kind::None | L3Kind::Other => Outer::Neither,
    }
}

/// Why a disagreement is acceptable. Anything not matched here fails the test.
fn explain(
    tshark: Outer,
    tags: usize,
    our: Outer,
    err: Option<ParseError>,
    ethertype: u16,
) -> Option<&'static str> {
    if err == Some(ParseError::TooManyVlans) && tags > 2 && our == Outer::Neither {
        return Some("more than two VLAN tags: the data plane drops such frames (too-many-vlans)");
    }
    if err == Some(ParseError::TruncatedVlan) && our == Outer::Neither {
        return Some("VLAN tag cut short by the snap length: tshark still names the next layer");
    }
    if tshark == Outer::Arp && our == Outer::Neither && ethertype == 0x8035 {
        return Some(
            "RARP (EtherType 0x8035): Wireshark's arp dissector decodes it, a router ignores it",
        );
    }
    if tshark == Outer::Neither && our == Outer::Ipv6 && err == Some(ParseError::BadIpVersion) {
        return Some(
            "EtherType IPv6 with another version nibble: orbital drops it as IPv6/bad-ip-version, Wireshark shows data",
        );
    }
    None
}

#[test]
fn outer_layer3_agrees_with_tshark_on_every_ethernet_frame() {
    let Some(dir) = corpus() else {
        eprintln!("SKIPPED: ../shared/data/pcap not present (set ORBITAL_SHARED_DATA)");
        return;
    };
    if !tshark_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install tshark (.ci/run)"
        );
        eprintln!("SKIPPED: tshark not installed");
        return;
    }
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap();
    let files: Vec<String> = index
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<_> = l.split('\t').collect();
            matches!(cols.get(1), Some(&"ether") | Some(&"per-packet")).then(|| cols[0].to_string())
        })
        .collect();
    let explained: Mutex<BTreeMap<&'static str, u64>> = Mutex::default();
    let unexplained: Mutex<Vec<String>> = Mutex::default();
    let compared = Mutex::new(0u64);
    let next = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..std::thread::available_parallelism().map_or(2, |n| n.get()) {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        *n - 1
                    };
                    let Some(rel) = files.get(i) else { break };
                    compare_file(&dir, rel, &explained, &unexplained, &compared);
                }
            });
        }
    });
    let explained = explained.into_inner().unwrap();
    let unexplained = unexplained.into_inner().unwrap();
    let compared = compared.into_inner().unwrap();
    eprintln!(
        "compared {compared} Ethernet frames in {} captures with tshark",
        files.len()
    );
    for (why, n) in &explained {
        eprintln!("  allowed disagreement x{n}: {why}");
    }
    assert!(compared > 20_000, "too few frames compared: {compared}");
    assert!(
        unexplained.is_empty(),
        "{} unexplained disagreements with tshark (first 40):\n{}",
        unexplained.len(),
        unexplained
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn compare_file(
    dir: &Path,
    rel: &str,
    explained: &Mutex<BTreeMap<&'static str, u64>>,
    unexplained: &Mutex<Vec<String>>,
    compared: &Mutex<u64>,
) {
    let path = dir.join(rel);
    let Ok(cap) = Capture::open(&path) else {
        return;
    };
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&path)
        .args(["-T", "fields", "-e", "frame.protocols"])
        .output()
        .expect("tshark runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let theirs: Vec<&str> = text.lines().collect();
    let mut n = 0;
    let mut local_explained = Vec::new();
    let mut local_bad = Vec::new();
    for (idx, (frame, proto)) in cap.frames().map_while(Result::ok).zip(&theirs).enumerate() {
        if frame.linktype != 1 {
            continue;
        }
        n += 1;
        let v = classify(frame.linktype, frame.data);
        let our = ours(v.info.l3);
        let (their, tags) = tshark_outer(proto);
        if our == their {
            continue;
        }
        match explain(their, tags, our, v.error, v.info.ethertype) {
            Some(why) => local_explained.push(why),
            None => local_bad.push(format!(
                "{rel} frame {}: tshark {their:?} ({proto}), orbital {our:?} (error {:?})",
                idx + 1,
                v.error.map(|e| e.name())
            )),
        }
    }
    *compared.lock().unwrap() += n;
    let mut e = explained.lock().unwrap();
    for why in local_explained {
        *e.entry(why).or_default() += 1;
    }
    unexplained.lock().unwrap().extend(local_bad);
}

/// `inspect` survives every capture of the corpus, whatever its link type or
/// damage, and its per-protocol counts stay consistent with its frame count.
#[test]
fn inspect_survives_the_whole_corpus() {
    let Some(dir) = corpus() else {
        eprintln!("SKIPPED: ../shared/data/pcap not present (set ORBITAL_SHARED_DATA)");
        return;
    };
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap();
    let (mut files, mut frames, mut unsupported) = (0, 0, 0);
    for line in index.lines().skip(1) {
        let rel = line.split('\t').next().unwrap();
        let Ok(s) = inspect(&dir.join(rel)) else {
            continue;
        };
        files += 1;
        frames += s.frames;
        unsupported += s.unsupported_frames;
        let p = &s.protocols;
        assert!(
            p.ipv4 + p.ipv6 + p.arp + p.other <= s.frames - s.unsupported_frames,
            "{rel}"
        );
        assert!(
            p.tcp + p.udp + p.icmp + p.icmpv6 <= p.ipv4 + p.ipv6,
            "{rel}"
        );
    }
    eprintln!(
        "inspected {files} captures, {frames} frames ({unsupported} of unsupported link types)"
    );
    assert!(files > 1200);
}
