//! The `otlp-simd` kernels against their scalar twins, at 64, 512 and 4096
//! items per batch, on each instruction set this CPU has.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use otlp_core::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp_core::{Encoder, Format};
use otlp_simd::processor::{Filter, ProbabilisticSampler, Processor, Redaction};
use otlp_simd::{agg, hex, keyset::KeySet, scan::Scanner, threshold, utf8, Isa};
use prost::Message as _;
use std::hint::black_box;
use std::time::Duration;

const SIZES: [usize; 3] = [64, 512, 4096];

/// A fixed-seed xorshift, so every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn trace_ids(n: usize) -> Vec<[u8; 16]> {
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    (0..n)
        .map(|_| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&r.next().to_le_bytes());
            id[8..].copy_from_slice(&r.next().to_le_bytes());
            id
        })
        .collect()
}

/// String attribute values as HTTP spans carry them; one in eight holds
/// something the scanner must find (an e-mail, a card number, a token).
fn values(n: usize) -> Vec<String> {
    let plain = [
        "GET",
        "/api/v1/users/12345/orders",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "api.example.com",
        "10.42.7.19",
        "HTTP/1.1",
        "/api/v1/users/{id}/orders",
    ];
    let secret = [
        "user jane.doe@example.com signed in",
        "paid with 4111 1111 1111 1111",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
    ];
    (0..n)
        .map(|i| {
            if i % 8 == 7 {
                secret[(i / 8) % secret.len()].to_owned()
            } else {
                format!("{}-{i}", plain[i % plain.len()])
            }
        })
        .collect()
}

fn config(c: &mut Criterion) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group("simd");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800));
    g
}

fn bench(c: &mut Criterion) {
    let isas = Isa::available();
    let mut g = config(c);
    for n in SIZES {
        g.throughput(Throughput::Elements(n as u64));
        let ids = trace_ids(n);
        let vals = values(n);
        let floats: Vec<f64> = {
            let mut r = Rng(7);
            (0..n).map(|_| (r.next() % 10_000) as f64 / 7.0).collect()
        };
        let buckets = agg::Buckets::new(vec![
            0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0,
            7500.0, 10000.0,
        ])
        .expect("sorted bounds");
        let scanner = Scanner::builder()
            .with_emails(true)
            .with_cards(true)
            .with_default_prefixes()
            .build();
        let keys = KeySet::new([
            "password",
            "http.request.header.authorization",
            "user.email",
            "credit_card",
            "db.statement",
            "session.id",
        ]);
        // The HTTP spans' keys but `service.name`, and one not allowed.
        let probe_keys: Vec<&str> = otlp_benches::HTTP_KEYS[..11]
            .iter()
            .copied()
            .chain(["password"])
            .collect();
        let probes: Vec<&str> = (0..n).map(|i| probe_keys[i % probe_keys.len()]).collect();
        // Redaction's allowed keys: the HTTP spans' keys, so most lookups
        // find their key.
        let allowed = KeySet::new(otlp_benches::HTTP_KEYS);
        for &isa in &isas {
            let name = isa.name();
            let mut mask = Vec::new();
            g.bench_function(BenchmarkId::new(format!("threshold/{name}"), n), |b| {
                b.iter(|| threshold::keep_mask_with(isa, black_box(&ids), 1 << 54, &mut mask))
            });
            let mut out = Vec::with_capacity(n * 32);
            g.bench_function(BenchmarkId::new(format!("hex_ids/{name}"), n), |b| {
                b.iter(|| {
                    out.clear();
                    hex::append_hex_with(isa, black_box(ids.as_flattened()), &mut out);
                })
            });
            g.bench_function(BenchmarkId::new(format!("utf8/{name}"), n), |b| {
                b.iter(|| {
                    vals.iter()
                        .filter(|v| {
                            utf8::first_invalid_with(isa, black_box(v.as_bytes())).is_none()
                        })
                        .count()
                })
            });
            let (mut findings, mut masked) = (Vec::new(), String::new());
            g.bench_function(BenchmarkId::new(format!("scan_mask/{name}"), n), |b| {
                b.iter(|| {
                    let mut found = 0;
                    for v in &vals {
                        found += scanner.mask_with(
                            isa,
                            black_box(v),
                            "****",
                            &mut findings,
                            &mut masked,
                        );
                    }
                    found
                })
            });
            let total: usize = vals.iter().map(String::len).sum();
            let mut bits = vec![0u64; total.div_ceil(64) + vals.len()];
            // The scanner's vector pass: four byte classes and the
            // narrowing to the candidates its confirmers look at.
            g.bench_function(
                BenchmarkId::new(format!("scan_candidates/{name}"), n),
                |b| {
                    b.iter(|| {
                        for v in &vals {
                            let words = v.len().div_ceil(64);
                            scanner.candidates_with(
                                isa,
                                black_box(v.as_bytes()),
                                &mut bits[..words],
                            );
                        }
                    })
                },
            );
            g.bench_function(BenchmarkId::new(format!("stats/{name}"), n), |b| {
                b.iter(|| agg::stats_with(isa, black_box(&floats)))
            });
            let mut counts = Vec::new();
            g.bench_function(BenchmarkId::new(format!("histogram15/{name}"), n), |b| {
                b.iter(|| agg::histogram_with(isa, black_box(&floats), &buckets, &mut counts))
            });
            g.bench_function(BenchmarkId::new(format!("keyset/{name}"), n), |b| {
                b.iter(|| {
                    probes
                        .iter()
                        .filter(|k| keys.contains_with(isa, black_box(k.as_bytes())))
                        .count()
                })
            });
            g.bench_function(BenchmarkId::new(format!("keyset_allowed/{name}"), n), |b| {
                b.iter(|| {
                    probes
                        .iter()
                        .filter(|k| allowed.contains_with(isa, black_box(k.as_bytes())))
                        .count()
                })
            });
        }
    }
    g.finish();
}

/// The benches' 12-attribute HTTP spans as a decoded request.
fn request(n: usize) -> ExportTraceServiceRequest {
    let spans = otlp_benches::http_spans(n);
    let encoder = Encoder::new(Format::Protobuf).with_resource(&otlp_benches::resource());
    let mut buf = Vec::new();
    encoder.encode_spans(&spans, &mut buf);
    ExportTraceServiceRequest::decode(&buf[..]).expect("our encoding decodes")
}

/// Sampling (proportional, 50%), a filter (two span conditions, one
/// span-event condition) and redaction (12 allowed keys, a blocked-value
/// regex, e-mail and card scanning, info summary) on each batch. Each
/// iteration gets a fresh copy of the batch, made outside the timing.
fn chain(c: &mut Criterion) {
    let mut g = c.benchmark_group("chain");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for n in [512usize, 4096] {
        let req = request(n);
        g.throughput(Throughput::Elements(n as u64));
        for isa in Isa::available() {
            let mut chain = otlp_benches::sample_filter_redact(isa);
            g.bench_function(
                BenchmarkId::new(format!("sample_filter_redact/{}", isa.name()), n),
                |b| {
                    b.iter_batched_ref(
                        || req.clone(),
                        |batch| chain.process(batch),
                        BatchSize::LargeInput,
                    )
                },
            );
        }
    }
    // Each processor alone on the detected instruction set, on 4096 spans,
    // and what copying and dropping a batch costs (the floor under all).
    let n = 4096;
    let req = request(n);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(BenchmarkId::new("drop_only", n), |b| {
        b.iter_batched(|| req.clone(), drop, BatchSize::LargeInput)
    });
    let steps: Vec<(&str, Box<dyn Processor>)> = vec![
        (
            "sampler_50pct",
            Box::new(
                ProbabilisticSampler::builder()
                    .with_mode(otlp_simd::processor::sampling::Mode::Proportional)
                    .with_percentage(50.0)
                    .build()
                    .expect("sampler"),
            ),
        ),
        (
            "sampler_100pct",
            Box::new(
                ProbabilisticSampler::builder()
                    .with_mode(otlp_simd::processor::sampling::Mode::Proportional)
                    .with_percentage(100.0)
                    .build()
                    .expect("sampler"),
            ),
        ),
        (
            "filter",
            Box::new(
                Filter::new()
                    .with_span_condition(r#"attributes["url.path"] == "/health""#)
                    .and_then(|f| {
                        f.with_span_condition("kind == SPAN_KIND_INTERNAL and duration < 1000")
                    })
                    .expect("conditions"),
            ),
        ),
        (
            "redaction_keys_only",
            Box::new(
                Redaction::builder()
                    .with_allow_all_keys(true)
                    .build()
                    .expect("redaction"),
            ),
        ),
        (
            "redaction_regex",
            Box::new(
                Redaction::builder()
                    .with_allow_all_keys(true)
                    .with_blocked_value_pattern(otlp_benches::CARD_PATTERN)
                    .expect("regex")
                    .build()
                    .expect("redaction"),
            ),
        ),
        (
            "redaction_scan",
            Box::new(
                Redaction::builder()
                    .with_allow_all_keys(true)
                    .with_blocked_pattern("email")
                    .and_then(|b| b.with_blocked_pattern("card"))
                    .expect("patterns")
                    .build()
                    .expect("redaction"),
            ),
        ),
    ];
    for (name, mut p) in steps {
        g.bench_function(BenchmarkId::new(format!("alone/{name}"), n), |b| {
            b.iter_batched_ref(
                || req.clone(),
                |batch| p.process(batch),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench, chain);
criterion_main!(benches);
