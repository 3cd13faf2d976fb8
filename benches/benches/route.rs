//! What choosing an endpoint per span costs: rendezvous hashing of a trace
//! id over one, three and eight endpoints (`otlp_resilience::balance`).
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use otlp_resilience::balance::Rendezvous;
use std::hint::black_box;

/// Trace ids as the SDK's random generator makes them.
fn trace_ids(n: usize) -> Vec<[u8; 16]> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            let mut id = [0u8; 16];
            for half in id.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                half.copy_from_slice(&x.to_le_bytes());
            }
            id
        })
        .collect()
}

fn route(c: &mut Criterion) {
    const SPANS: usize = 512;
    let ids = trace_ids(SPANS);
    let mut group = c.benchmark_group("route_by_trace_id");
    group.throughput(Throughput::Elements(SPANS as u64));
    for endpoints in [1, 3, 8] {
        let mut ring = Rendezvous::new();
        for i in 0..endpoints {
            let name = format!("http://10.0.0.{i}:4317");
            ring.insert(&name, i);
        }
        group.bench_function(format!("{endpoints} endpoints, 512 spans"), |b| {
            b.iter_batched(
                || (),
                |()| {
                    let mut per = [0u32; 8];
                    for id in &ids {
                        if let Some(&i) = ring.owner(black_box(id)) {
                            per[i] += 1;
                        }
                    }
                    per
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, route);
criterion_main!(benches);
