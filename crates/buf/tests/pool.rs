//! Pool behaviour seen from outside: reuse, exhaustion, cross-thread return,
//! and an accounting invariant under random operation sequences.

use std::sync::mpsc;
use std::thread;

use orbital_buf::{Packet, Pool, PoolConfig};
use proptest::prelude::*;

fn pool(buffers: u32) -> Pool {
    Pool::new(PoolConfig {
        buffers,
        data_room: 256,
        headroom: 32,
    })
    .unwrap()
}

#[test]
fn buffers_are_reused_many_times_over() {
    let pool = pool(32);
    let mut cache = pool.cache(16);
    let mut seen = std::collections::HashSet::new();
    for round in 0..1000u32 {
        let mut p = cache
            .alloc()
            .expect("never exhausted when every packet is freed");
        seen.insert(p.buffer_index());
        assert!(p.extend_from_slice(&round.to_be_bytes()));
        assert_eq!(&p[..], &round.to_be_bytes());
        cache.free(p);
    }
    assert!(seen.len() <= 32);
    drop(cache);
    assert_eq!(pool.stats().free, 32);
}

#[test]
fn exhaustion_then_recovery() {
    let pool = pool(16);
    let mut cache = pool.cache(4);
    let mut held = Vec::new();
    while let Some(p) = cache.alloc() {
        held.push(p);
    }
    assert_eq!(held.len(), 16);
    assert!(cache.alloc().is_none());
    assert!(cache.stats().alloc_failures >= 1);
    cache.free_all(held.drain(..));
    assert!(cache.alloc().is_some());
}

#[test]
fn packets_cross_threads_and_come_home() {
    let pool = pool(512);
    let (to_b, from_a) = mpsc::sync_channel::<Packet>(64);
    let (to_a, from_b) = mpsc::sync_channel::<u64>(1);
    let producer = {
        let pool = pool.clone();
        thread::spawn(move || {
            let mut cache = pool.cache(64);
            let mut sent = 0u64;
            for i in 0..20_000u32 {
                // Back-pressure, not a timing assumption: a full pool just means
                // the consumer has not returned enough yet.
                let mut p = loop {
                    if let Some(p) = cache.alloc() {
                        break p;
                    }
                    thread::yield_now();
                };
                p.extend_from_slice(&i.to_le_bytes());
                to_b.send(p).unwrap();
                sent += 1;
            }
            sent
        })
    };
    let consumer = {
        let pool = pool.clone();
        thread::spawn(move || {
            let mut cache = pool.cache(64);
            let mut expect = 0u32;
            for p in from_a {
                assert_eq!(&p[..], &expect.to_le_bytes());
                expect += 1;
                cache.free(p);
            }
            to_a.send(u64::from(expect)).unwrap();
        })
    };
    let sent = producer.join().unwrap();
    consumer.join().unwrap();
    assert_eq!(from_b.recv().unwrap(), sent);
    let s = pool.stats();
    assert_eq!((s.free, s.in_use), (512, 0));
}

#[derive(Debug, Clone)]
enum Op {
    Alloc(usize),
    FreeToCache(usize, usize),
    DropPacket(usize),
    Flush(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize).prop_map(Op::Alloc),
        (0..2usize, any::<usize>()).prop_map(|(c, i)| Op::FreeToCache(c, i)),
        any::<usize>().prop_map(Op::DropPacket),
        (0..2usize).prop_map(Op::Flush),
    ]
}

proptest! {
    #[test]
    fn accounting_always_adds_up(ops in proptest::collection::vec(op(), 1..400)) {
        let pool = pool(40);
        let mut caches = [pool.cache(8), pool.cache(12)];
        let mut held: Vec<Packet> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc(c) => if let Some(p) = caches[c].alloc() { held.push(p) },
                Op::FreeToCache(c, i) if !held.is_empty() => {
                    let p = held.swap_remove(i % held.len());
                    caches[c].free(p);
                }
                Op::DropPacket(i) if !held.is_empty() => {
                    drop(held.swap_remove(i % held.len()));
                }
                Op::Flush(c) => caches[c].flush_all(),
                _ => {}
            }
            let s = pool.stats();
            let cached = caches[0].cached() + caches[1].cached();
            prop_assert_eq!(s.free as usize + cached + held.len(), 40);
            prop_assert_eq!(s.in_use + s.free, 40);
        }
        drop(held);
        drop(caches);
        prop_assert_eq!(pool.stats().free, 40);
    }
}
