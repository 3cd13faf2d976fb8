//! A blockchain transaction's life as spans with events and links, plus
//! metrics for block time and gas: each transaction is a trace (submit,
//! mempool, confirmations), each block a trace of its own linked to the
//! transactions it includes. Timestamps follow a simulated chain (12 s
//! blocks) rather than the clock; no node is needed.
//!
//! ```sh
//! cargo run -p otlp-examples --example blockchain_tx
//! ```
//!
//! Without `OTEL_EXPORTER_OTLP_ENDPOINT` it checks the spans, the links from
//! blocks to transactions, the events and the metric names at the embedded
//! receiver.
//!
//! The semantic conventions define no blockchain names: the attributes,
//! events and metrics here use a `chain.` prefix of the application's own.

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use otlp_examples::{ensure, ensure_child_of, ensure_metrics, Collector, Items, Telemetry};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// A transaction: its hash, gas used and the block that includes it.
struct Tx {
    hash: &'static str,
    gas_used: u64,
    block: u64,
}

const TXS: [Tx; 3] = [
    Tx {
        hash: "0x9f2c01",
        gas_used: 21_000,
        block: 101,
    },
    Tx {
        hash: "0x47ab3e",
        gas_used: 48_500,
        block: 101,
    },
    Tx {
        hash: "0xd1e07a",
        gas_used: 65_200,
        block: 102,
    },
];
/// Confirmations awaited after inclusion.
const CONFIRMATIONS: u64 = 3;
/// Seconds between blocks on the simulated chain.
const BLOCK_TIME: [(u64, f64); 2] = [(101, 12.0), (102, 11.6)];

/// The simulated chain's time `secs` after the start.
fn at(start: SystemTime, secs: f64) -> SystemTime {
    start + Duration::from_secs_f64(secs)
}

/// When block `n` is sealed: block 100 at 0 s, then the block times.
fn sealed(start: SystemTime, n: u64) -> SystemTime {
    let secs: f64 = BLOCK_TIME
        .iter()
        .filter(|(b, _)| *b <= n)
        .map(|(_, t)| t)
        .sum::<f64>()
        + 12.0 * n.saturating_sub(102) as f64;
    at(start, secs)
}

/// A transaction's trace: submit (with the span context blocks link to),
/// mempool, confirmations.
fn transaction(tracer: &SdkTracer, start: SystemTime, i: usize, tx: &Tx) -> SpanContext {
    let submitted = at(start, 1.0 + i as f64 * 2.5);
    let included = sealed(start, tx.block);
    let confirmed = sealed(start, tx.block + CONFIRMATIONS);
    let root = tracer
        .span_builder(format!("transaction {}", tx.hash))
        .with_kind(SpanKind::Internal)
        .with_start_time(submitted)
        .with_attributes([
            KeyValue::new("chain.tx.hash", tx.hash),
            KeyValue::new("chain.id", 1),
        ])
        .start(tracer);
    let cx = Context::current_with_span(root);

    let mut submit = tracer
        .span_builder("submit")
        .with_kind(SpanKind::Producer)
        .with_start_time(submitted)
        .with_attributes([KeyValue::new("chain.tx.gas_limit", 100_000)])
        .start_with_context(tracer, &cx);
    submit.add_event_with_timestamp("signed", submitted, vec![]);
    let broadcast = at(start, 1.2 + i as f64 * 2.5);
    submit.add_event_with_timestamp(
        "broadcast",
        broadcast,
        vec![KeyValue::new("chain.peers", 8)],
    );
    let submit_context = submit.span_context().clone();
    submit.end_with_timestamp(broadcast);

    let mut mempool = tracer
        .span_builder("mempool")
        .with_start_time(broadcast)
        .start_with_context(tracer, &cx);
    mempool.add_event_with_timestamp("admitted", broadcast, vec![]);
    if i == 1 {
        // Outbid: the sender raises the fee.
        mempool.add_event_with_timestamp(
            "fee bumped",
            at(start, 6.0),
            vec![KeyValue::new("chain.tx.max_fee_gwei", 42)],
        );
    }
    mempool.add_event_with_timestamp(
        "included",
        included,
        vec![KeyValue::new("chain.block.number", tx.block as i64)],
    );
    mempool.end_with_timestamp(included);

    let mut confirm = tracer
        .span_builder("confirmations")
        .with_start_time(included)
        .with_attributes([KeyValue::new("chain.tx.gas_used", tx.gas_used as i64)])
        .start_with_context(tracer, &cx);
    for k in 1..=CONFIRMATIONS {
        confirm.add_event_with_timestamp(
            "confirmation",
            sealed(start, tx.block + k),
            vec![KeyValue::new("chain.block.number", (tx.block + k) as i64)],
        );
    }
    confirm.end_with_timestamp(confirmed);
    cx.span().end_with_timestamp(confirmed);
    submit_context
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let collector = Collector::start()?;
    let telemetry = Telemetry::new("wallet-node", &collector)?;
    let tracer = telemetry.tracer_provider.tracer("wallet-node");
    let meter = telemetry.meter_provider.meter("wallet-node");
    let block_time = meter
        .f64_histogram("chain.block.time")
        .with_unit("s")
        .with_description("Time between a block and its parent.")
        .build();
    let gas_used = meter
        .u64_histogram("chain.tx.gas_used")
        .with_unit("{gas}")
        .with_boundaries(vec![21_000.0, 50_000.0, 100_000.0, 500_000.0])
        .build();
    let confirmed = meter
        .u64_counter("chain.tx.confirmed")
        .with_unit("{transaction}")
        .build();

    let start = SystemTime::now() - Duration::from_secs(120);
    let submits: Vec<SpanContext> = TXS
        .iter()
        .enumerate()
        .map(|(i, tx)| transaction(&tracer, start, i, tx))
        .collect();

    // Each block is a trace of its own, linked to the submits of the
    // transactions it includes.
    for (number, seconds) in BLOCK_TIME {
        let links: Vec<Link> = TXS
            .iter()
            .zip(&submits)
            .filter(|(tx, _)| tx.block == number)
            .map(|(tx, submit)| {
                Link::new(
                    submit.clone(),
                    vec![KeyValue::new("chain.tx.hash", tx.hash)],
                    0,
                )
            })
            .collect();
        let gas: u64 = TXS
            .iter()
            .filter(|t| t.block == number)
            .map(|t| t.gas_used)
            .sum();
        let end = sealed(start, number);
        let mut block = tracer
            .span_builder(format!("block {number}"))
            .with_kind(SpanKind::Consumer)
            .with_start_time(end - Duration::from_secs_f64(seconds))
            .with_links(links)
            .with_attributes([
                KeyValue::new("chain.block.number", number as i64),
                KeyValue::new("chain.block.gas_used", gas as i64),
            ])
            .start_with_context(&tracer, &Context::new());
        block.add_event_with_timestamp("sealed", end, vec![]);
        block.end_with_timestamp(end);
        block_time.record(seconds, &[]);
    }
    for tx in &TXS {
        gas_used.record(tx.gas_used, &[]);
        confirmed.add(1, &[]);
    }

    telemetry.shutdown()?;
    let expected = Items {
        // per transaction: the transaction, submit, mempool, confirmations;
        // and two blocks
        spans: 3 * 4 + 2,
        metric_points: 3,
        log_records: 0,
    };
    Ok(
        collector.finish_checked(expected, telemetry.exported(), |received| {
            let mut submit_ids = Vec::new();
            for tx in &TXS {
                let root = received.span(&format!("transaction {}", tx.hash))?;
                let children: Vec<_> = received
                    .spans()
                    .into_iter()
                    .filter(|s| {
                        s.span.trace_id == root.span.trace_id && s.span.span_id != root.span.span_id
                    })
                    .collect();
                ensure(children.len() == 3, || {
                    format!(
                        "{} spans under transaction {}, not 3",
                        children.len(),
                        tx.hash
                    )
                })?;
                for child in &children {
                    ensure_child_of(*child, root)?;
                }
                let confirm = children
                    .iter()
                    .find(|s| s.span.name == "confirmations")
                    .ok_or("no confirmations span")?;
                let confirmations = confirm
                    .span
                    .events
                    .iter()
                    .filter(|e| e.name == "confirmation")
                    .count() as u64;
                ensure(confirmations == CONFIRMATIONS, || {
                    format!("{confirmations} confirmation events for {}", tx.hash)
                })?;
                let submit = children
                    .iter()
                    .find(|s| s.span.name == "submit")
                    .ok_or("no submit span")?;
                submit_ids.push((
                    tx.block,
                    submit.span.trace_id.clone(),
                    submit.span.span_id.clone(),
                ));
            }
            let bumped = received.spans().into_iter().any(|s| {
                s.span.name == "mempool" && s.span.events.iter().any(|e| e.name == "fee bumped")
            });
            ensure(bumped, || {
                "no mempool span with the fee bumped event".into()
            })?;
            for (number, _) in BLOCK_TIME {
                let block = received.span(&format!("block {number}"))?;
                let mut linked: Vec<_> = block
                    .span
                    .links
                    .iter()
                    .map(|l| (l.trace_id.clone(), l.span_id.clone()))
                    .collect();
                let mut wanted: Vec<_> = submit_ids
                    .iter()
                    .filter(|(b, _, _)| *b == number)
                    .map(|(_, t, s)| (t.clone(), s.clone()))
                    .collect();
                linked.sort();
                wanted.sort();
                ensure(linked == wanted, || {
                    format!("block {number} does not link to exactly its transactions' submits")
                })?;
            }
            ensure_metrics(
                received,
                &[
                    "chain.block.time",
                    "chain.tx.gas_used",
                    "chain.tx.confirmed",
                ],
            )
        }),
    )
}
