//! ClassBench rule sets against their first-match answers (computed with
//! DPDK rte_acl and checked by brute force; see the data's README).

mod common;

use orbital_classifier::{Classifier, FieldSpec, NO_MATCH};

fn check(name: &str) {
    let Some(dir) = common::dir() else {
        eprintln!("SKIPPED: ../shared/data/classbench not present (set ORBITAL_SHARED_DATA)");
        return;
    };
    let rules = common::rules(&dir, name);
    let keys = common::trace(&dir, name);
    let want = common::answers(&dir, name);
    assert_eq!(
        keys.len(),
        want.len() * 5,
        "{name}: trace and answers differ in length"
    );
    let c = Classifier::build(&FieldSpec::ipv4_5tuple(), &rules).expect("builds");
    let mut got = vec![NO_MATCH; want.len()];
    c.classify_bulk(&keys, &mut got);
    let bad: Vec<usize> = (0..want.len()).filter(|&i| got[i] != want[i]).collect();
    for &i in bad.iter().take(5) {
        eprintln!(
            "{name}: header {i} {:?}: got {} want {}",
            &keys[i * 5..i * 5 + 5],
            got[i] as i64,
            want[i] as i64
        );
    }
    assert!(
        bad.is_empty(),
        "{name}: {} of {} headers mismatch (bulk)",
        bad.len(),
        want.len()
    );
    let single = (0..want.len())
        .filter(|&i| c.classify(&keys[i * 5..i * 5 + 5]).unwrap_or(NO_MATCH) != want[i])
        .count();
    assert_eq!(single, 0, "{name}: single-key lookups mismatch");
    eprintln!(
        "{name}: {} headers, 0 mismatches, {:?}",
        want.len(),
        c.stats()
    );
}

#[test]
fn acl1_1k() {
    check("acl1_1k");
}

#[test]
fn fw1_1k() {
    check("fw1_1k");
}

#[test]
fn ipc1_1k() {
    check("ipc1_1k");
}
