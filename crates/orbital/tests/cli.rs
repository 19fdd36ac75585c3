//! The `orbital` binary as a user runs it.

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

fn orbital(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_orbital"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn inspect_json_on_the_example_capture() {
    let out = orbital(&["inspect", example("lan.pcap").to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"], "pcap");
    assert_eq!(v["frames"], 16);
    let p = &v["protocols"];
    assert_eq!(
        [
            &p["ethernet"],
            &p["vlan"],
            &p["arp"],
            &p["ipv4"],
            &p["ipv6"]
        ],
        [16, 1, 1, 11, 4]
    );
    assert_eq!(
        [&p["icmp"], &p["icmpv6"], &p["tcp"], &p["udp"]],
        [1, 2, 2, 9]
    );
    assert_eq!(v["errors"]["bad-ihl"], 1);
    assert_eq!(v["unsupported_frames"], 0);
    assert!(v["capture_error"].is_null());
}

#[test]
fn inspect_text_names_errors() {
    let out = orbital(&["inspect", example("lan.pcap").to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("frames         16"), "{text}");
    assert!(text.contains("bad-ihl"), "{text}");
}

#[test]
fn inspect_reports_a_missing_or_foreign_file_clearly() {
    let out = orbital(&["inspect", "/nonexistent/x.pcap"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/x.pcap") && err.contains("cannot read capture"),
        "{err}"
    );
    let out = orbital(&["inspect", example("make_capture.py").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pcap or pcapng file"));
}
