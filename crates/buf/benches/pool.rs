//! Cost of a buffer round trip through a worker cache versus the shared free
//! list, to show the cache earns its keep.

use criterion::{Criterion, criterion_group, criterion_main};
use orbital_buf::{Pool, PoolConfig};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let mut cache = pool.cache(512);
    let mut g = c.benchmark_group("buffer");
    g.bench_function("cache alloc+free", |b| {
        b.iter(|| {
            let p = cache.alloc().unwrap();
            cache.free(black_box(p));
        })
    });
    g.bench_function("cache alloc+free x256", |b| {
        let mut v = Vec::with_capacity(256);
        b.iter(|| {
            cache.alloc_bulk(&mut v, 256);
            cache.free_all(v.drain(..));
        })
    });
    g.bench_function("shared list alloc+drop", |b| {
        b.iter(|| drop(black_box(pool.alloc().unwrap())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
