//! Cost of an SPSC handoff through the rtrb ring used for punts, injects and
//! memory ports, against crossbeam's MPMC ArrayQueue (one CAS per operation),
//! producer and consumer on two threads.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;

const N: u64 = 200_000;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring");
    g.throughput(Throughput::Elements(N));
    g.bench_function("rtrb spsc, 2 threads", |b| {
        b.iter(|| {
            let (mut tx, mut rx, _) = orbital_io::ring::<u64>(1024);
            let t = std::thread::spawn(move || {
                let mut got = 0;
                while got < N {
                    if let Some(v) = rx.pop() {
                        black_box(v);
                        got += 1;
                    }
                }
            });
            let mut i = 0;
            while i < N {
                if tx.push(i).is_ok() {
                    i += 1;
                }
            }
            t.join().unwrap();
        })
    });
    g.bench_function("crossbeam ArrayQueue, 2 threads", |b| {
        b.iter(|| {
            let q = Arc::new(ArrayQueue::<u64>::new(1024));
            let done = Arc::new(AtomicBool::new(false));
            let (q2, d2) = (q.clone(), done.clone());
            let t = std::thread::spawn(move || {
                let mut got = 0;
                while got < N {
                    if let Some(v) = q2.pop() {
                        black_box(v);
                        got += 1;
                    }
                }
                d2.store(true, Ordering::Relaxed);
            });
            let mut i = 0;
            while i < N {
                if q.push(i).is_ok() {
                    i += 1;
                }
            }
            t.join().unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
