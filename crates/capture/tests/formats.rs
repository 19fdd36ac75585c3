//! Reader and writer against hand-built files (every byte order, resolution
//! and block kind) and against the real captures in ../shared/data/pcap.

use std::path::PathBuf;

use orbital_capture::{Capture, CaptureError, Format, PcapWriter, Resolution};

fn write(res: Resolution, frames: &[(u64, &[u8])]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), 1, 65535, res).unwrap();
    for (ts, d) in frames {
        w.write(*ts, d).unwrap();
    }
    w.finish().unwrap()
}

#[test]
fn write_then_read_micro_and_nano() {
    let frames: [(u64, &[u8]); 2] = [
        (1_700_000_000_123_456_789, b"first"),
        (1_700_000_001_000_000_001, b"second!"),
    ];
    for (res, div) in [(Resolution::Micro, 1000), (Resolution::Nano, 1)] {
        let bytes = write(res, &frames);
        let c = Capture::from_bytes(bytes).unwrap();
        assert_eq!(c.format(), Format::Pcap);
        assert_eq!(c.linktype(), Some(1));
        let got: Vec<_> = c.frames().map(|f| f.unwrap()).collect();
        assert_eq!(got.len(), 2);
        for (g, (ts, d)) in got.iter().zip(frames) {
            assert_eq!(g.data, d);
            assert_eq!(g.orig_len as usize, d.len());
            assert_eq!(g.ts_ns, ts / div * div);
        }
    }
}

#[test]
fn writer_is_deterministic_and_truncates_to_snaplen() {
    let a = write(Resolution::Micro, &[(5, b"abc")]);
    let b = write(Resolution::Micro, &[(5, b"abc")]);
    assert_eq!(a, b);
    let mut w = PcapWriter::new(Vec::new(), 1, 2, Resolution::Micro).unwrap();
    w.write(0, b"abcd").unwrap();
    let c = Capture::from_bytes(w.finish().unwrap()).unwrap();
    let f = c.frames().next().unwrap().unwrap();
    assert_eq!(f.data, b"ab");
    assert_eq!(f.orig_len, 4);
}

#[test]
fn big_endian_pcap() {
    let mut v = vec![
        0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 101,
    ];
    v.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0, 2, 0, 0, 0, 2, 0x45, 0x00]);
    let c = Capture::from_bytes(v).unwrap();
    assert_eq!(c.linktype(), Some(101));
    let f = c.frames().next().unwrap().unwrap();
    assert_eq!(f.ts_ns, 7_000_000_009);
    assert_eq!(f.data, &[0x45, 0]);
}

#[test]
fn truncated_record_is_an_error_not_a_panic() {
    let mut bytes = write(Resolution::Micro, &[(1, b"0123456789")]);
    bytes.truncate(bytes.len() - 3);
    let c = Capture::from_bytes(bytes).unwrap();
    let mut it = c.frames();
    assert!(matches!(
        it.next(),
        Some(Err(CaptureError::Truncated { offset: 24, .. }))
    ));
    assert!(it.next().is_none());
    assert!(matches!(
        Capture::from_bytes(vec![1, 2, 3, 4]),
        Err(CaptureError::NotACapture(_))
    ));
    assert!(matches!(
        Capture::from_bytes(vec![0xd4, 0xc3]),
        Err(CaptureError::Truncated { .. })
    ));
    assert!(Capture::from_bytes(vec![0xd4, 0xc3, 0xb2, 0xa1, 0]).is_err());
}

/// A pcapng block: type, length, body padded to 4, length.
fn block(be: bool, t: u32, body: &[u8]) -> Vec<u8> {
    let w = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut b = body.to_vec();
    while b.len() % 4 != 0 {
        b.push(0);
    }
    let len = 12 + b.len() as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&w(t));
    out.extend_from_slice(&w(len));
    out.extend_from_slice(&b);
    out.extend_from_slice(&w(len));
    out
}

fn section(be: bool) -> Vec<u8> {
    let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut shb = Vec::new();
    shb.extend_from_slice(&w32(0x1a2b_3c4d));
    shb.extend_from_slice(&w16(1));
    shb.extend_from_slice(&w16(0));
    shb.extend_from_slice(&[0xff; 8]);
    let mut out = block(be, 0x0a0d_0d0a, &shb);
    // Interface 0: Ethernet, microseconds (default).
    let mut idb0 = Vec::new();
    idb0.extend_from_slice(&w16(1));
    idb0.extend_from_slice(&w16(0));
    idb0.extend_from_slice(&w32(0));
    out.extend(block(be, 1, &idb0));
    // Interface 1: raw IP, nanoseconds (if_tsresol = 9), offset +10 s.
    let mut idb1 = Vec::new();
    idb1.extend_from_slice(&w16(101));
    idb1.extend_from_slice(&w16(0));
    idb1.extend_from_slice(&w32(0));
    idb1.extend_from_slice(&w16(9));
    idb1.extend_from_slice(&w16(1));
    idb1.extend_from_slice(&[9, 0, 0, 0]);
    idb1.extend_from_slice(&w16(14));
    idb1.extend_from_slice(&w16(8));
    idb1.extend_from_slice(&if be {
        10i64.to_be_bytes()
    } else {
        10i64.to_le_bytes()
    });
    idb1.extend_from_slice(&w16(0));
    idb1.extend_from_slice(&w16(0));
    out.extend(block(be, 1, &idb1));
    // EPB on interface 1: 5 ticks of 1 ns, 3 bytes captured of 4.
    let mut epb = Vec::new();
    for v in [1u32, 0, 5, 3, 4] {
        epb.extend_from_slice(&w32(v));
    }
    epb.extend_from_slice(b"xyz");
    out.extend(block(be, 6, &epb));
    // An unknown block is skipped.
    out.extend(block(be, 0x0bad, b"junk"));
    // EPB on interface 0: 2 µs.
    let mut epb = Vec::new();
    for v in [0u32, 0, 2, 2, 2] {
        epb.extend_from_slice(&w32(v));
    }
    epb.extend_from_slice(b"hi");
    out.extend(block(be, 6, &epb));
    // SPB: takes interface 0, no timestamp.
    let mut spb = Vec::new();
    spb.extend_from_slice(&w32(5));
    spb.extend_from_slice(b"hello");
    out.extend(block(be, 3, &spb));
    out
}

#[test]
fn pcapng_sections_interfaces_resolutions_both_orders() {
    let mut file = section(false);
    file.extend(section(true));
    let c = Capture::from_bytes(file).unwrap();
    assert_eq!(c.format(), Format::PcapNg);
    assert_eq!(c.linktype(), Some(1));
    let got: Vec<_> = c.frames().map(|f| f.unwrap()).collect();
    assert_eq!(got.len(), 6);
    for half in got.chunks(3) {
        assert_eq!(
            (half[0].linktype, half[0].interface, half[0].ts_ns),
            (101, 1, 10_000_000_005)
        );
        assert_eq!((half[0].data, half[0].orig_len), (&b"xyz"[..], 4));
        assert_eq!(
            (half[1].linktype, half[1].ts_ns, half[1].data),
            (1, 2_000, &b"hi"[..])
        );
        assert_eq!((half[2].data, half[2].orig_len), (&b"hello"[..], 5));
    }
}

#[test]
fn pcapng_malformed_blocks_are_errors() {
    let mut file = section(false);
    let n = file.len();
    file[n - 4] ^= 1; // trailing length disagrees
    let c = Capture::from_bytes(file).unwrap();
    assert!(
        c.frames()
            .any(|f| matches!(f, Err(CaptureError::Malformed { .. })))
    );
    let mut file = section(false);
    file.truncate(file.len() - 6);
    let c = Capture::from_bytes(file).unwrap();
    assert!(
        c.frames()
            .any(|f| matches!(f, Err(CaptureError::Truncated { .. })))
    );
    // A packet on an interface that was never described.
    let mut file = section(false);
    let mut epb = Vec::new();
    for v in [7u32, 0, 0, 1, 1] {
        epb.extend_from_slice(&v.to_le_bytes());
    }
    epb.push(0);
    file.extend(block(false, 6, &epb));
    let c = Capture::from_bytes(file).unwrap();
    assert!(
        c.frames()
            .any(|f| matches!(f, Err(CaptureError::Malformed { .. })))
    );
}

fn shared_pcap_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ORBITAL_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("pcap");
    dir.join("INDEX.tsv").exists().then_some(dir)
}

/// Every capture capinfos could read has exactly the frame count capinfos
/// reported (INDEX.tsv), and nothing in the corpus panics the reader.
#[test]
fn shared_corpus_frame_counts_match_capinfos() {
    let Some(dir) = shared_pcap_dir() else {
        eprintln!("SKIPPED: ../shared/data/pcap not present (set ORBITAL_SHARED_DATA)");
        return;
    };
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap();
    let (mut checked, mut mismatches) = (0, Vec::new());
    for line in index.lines().skip(1) {
        let cols: Vec<_> = line.split('\t').collect();
        let (path, encap, packets) = (cols[0], cols[1], cols[2]);
        let Ok(cap) = Capture::open(dir.join(path)) else {
            if encap != "unreadable-by-capinfos" {
                mismatches.push(format!("{path}: cannot open"));
            }
            continue;
        };
        let read = cap.frames().take_while(|f| f.is_ok()).count();
        if let Ok(expected) = packets.parse::<usize>() {
            checked += 1;
            if read != expected {
                mismatches.push(format!("{path}: read {read}, capinfos {expected}"));
            }
        }
    }
    assert!(checked > 1200, "only {checked} captures checked");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
