//! An AI inference request traced with the GenAI semantic conventions: an
//! agent (`invoke_agent`) calls a model twice (`chat`) with a tool call
//! (`execute_tool`) in between; the spans carry the operation, model,
//! finish reasons and token usage, and the `gen_ai.client.token.usage` and
//! `gen_ai.client.operation.duration` histograms are recorded. The model
//! is a stand-in that answers deterministically; no real model is needed.
//!
//! ```sh
//! cargo run -p otlp-examples --example ai_inference
//! ```
//!
//! Without `OTEL_EXPORTER_OTLP_ENDPOINT` it checks the spans, their
//! parents, the token counts and the metric names at the embedded receiver.

// opentelemetry-semantic-conventions 0.33 marks the GenAI names deprecated
// because their definitions moved to the GenAI semantic conventions
// repository; the names themselves are unchanged.
#![allow(deprecated)]

use opentelemetry::metrics::{Histogram, MeterProvider as _};
use opentelemetry::trace::{
    Span as _, SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SdkTracer;
use opentelemetry_semantic_conventions::attribute as semconv;
use opentelemetry_semantic_conventions::metric as semconv_metric;
use otlp_examples::{ensure, ensure_child_of, ensure_metrics, Collector, Items, Telemetry};
use std::process::ExitCode;
use std::time::Instant;

const PROVIDER: &str = "local";
const MODEL: &str = "toy-llm-1b";
const AGENT: &str = "weather-assistant";

/// What the stand-in model returns.
struct Completion {
    id: String,
    text: String,
    finish_reason: &'static str,
    input_tokens: i64,
    output_tokens: i64,
}

/// The stand-in model: a tool call for a question, an answer for a tool
/// result. Tokens are words.
fn toy_model(prompt: &str, turn: usize) -> Completion {
    let text = if prompt.contains("tool result:") {
        format!(
            "It is {} in Lisbon today.",
            prompt.rsplit(':').next().unwrap_or("").trim()
        )
    } else {
        "get_weather(city=\"Lisbon\")".to_owned()
    };
    Completion {
        id: format!("cmpl-{turn}"),
        finish_reason: if turn == 0 { "tool_calls" } else { "stop" },
        input_tokens: prompt.split_whitespace().count() as i64,
        output_tokens: text.split_whitespace().count() as i64,
        text,
    }
}

struct GenAi {
    tracer: SdkTracer,
    token_usage: Histogram<u64>,
    duration: Histogram<f64>,
}

impl GenAi {
    /// One `chat` call to the model, as a client span with its usage.
    fn chat(&self, prompt: &str, turn: usize) -> Completion {
        let start = Instant::now();
        let mut span = self
            .tracer
            .span_builder(format!("chat {MODEL}"))
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new(semconv::GEN_AI_OPERATION_NAME, "chat"),
                KeyValue::new(semconv::GEN_AI_PROVIDER_NAME, PROVIDER),
                KeyValue::new(semconv::GEN_AI_REQUEST_MODEL, MODEL),
                KeyValue::new(semconv::GEN_AI_REQUEST_MAX_TOKENS, 256),
                KeyValue::new(semconv::GEN_AI_REQUEST_TEMPERATURE, 0.2),
            ])
            .start(&self.tracer);
        let completion = toy_model(prompt, turn);
        span.set_attributes([
            KeyValue::new(semconv::GEN_AI_RESPONSE_ID, completion.id.clone()),
            KeyValue::new(semconv::GEN_AI_RESPONSE_MODEL, MODEL),
            KeyValue::new(
                semconv::GEN_AI_RESPONSE_FINISH_REASONS,
                Value::Array(Array::String(vec![StringValue::from(
                    completion.finish_reason,
                )])),
            ),
            KeyValue::new(semconv::GEN_AI_USAGE_INPUT_TOKENS, completion.input_tokens),
            KeyValue::new(
                semconv::GEN_AI_USAGE_OUTPUT_TOKENS,
                completion.output_tokens,
            ),
        ]);
        span.end();
        let common = [
            KeyValue::new(semconv::GEN_AI_OPERATION_NAME, "chat"),
            KeyValue::new(semconv::GEN_AI_PROVIDER_NAME, PROVIDER),
            KeyValue::new(semconv::GEN_AI_REQUEST_MODEL, MODEL),
            KeyValue::new(semconv::GEN_AI_RESPONSE_MODEL, MODEL),
        ];
        for (kind, tokens) in [
            ("input", completion.input_tokens),
            ("output", completion.output_tokens),
        ] {
            let mut attributes = common.to_vec();
            attributes.push(KeyValue::new(semconv::GEN_AI_TOKEN_TYPE, kind));
            self.token_usage.record(tokens.unsigned_abs(), &attributes);
        }
        self.duration.record(start.elapsed().as_secs_f64(), &common);
        completion
    }

    /// A tool the model asked for, as an `execute_tool` span.
    fn execute_tool(&self, call_id: &str) -> String {
        let tool = "get_weather";
        self.tracer
            .span_builder(format!("execute_tool {tool}"))
            .with_kind(SpanKind::Internal)
            .with_attributes([
                KeyValue::new(semconv::GEN_AI_OPERATION_NAME, "execute_tool"),
                KeyValue::new(semconv::GEN_AI_TOOL_NAME, tool),
                KeyValue::new(semconv::GEN_AI_TOOL_CALL_ID, call_id.to_owned()),
            ])
            .start(&self.tracer)
            .end();
        "21°C, sunny".to_owned()
    }

    /// The agent: question -> tool call -> tool -> answer.
    fn invoke_agent(&self, question: &str) -> String {
        let span = self
            .tracer
            .span_builder(format!("invoke_agent {AGENT}"))
            .with_kind(SpanKind::Internal)
            .with_attributes([
                KeyValue::new(semconv::GEN_AI_OPERATION_NAME, "invoke_agent"),
                KeyValue::new(semconv::GEN_AI_AGENT_NAME, AGENT),
                KeyValue::new(semconv::GEN_AI_PROVIDER_NAME, PROVIDER),
                KeyValue::new(semconv::GEN_AI_REQUEST_MODEL, MODEL),
            ])
            .start(&self.tracer);
        let _current = Context::current_with_span(span).attach();
        let call = self.chat(question, 0);
        let result = self.execute_tool(&format!("call-{}", call.id));
        let answer = self.chat(&format!("{question} tool result: {result}"), 1);
        answer.text
    }
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let collector = Collector::start()?;
    let telemetry = Telemetry::new("inference-gateway", &collector)?;
    let meter = telemetry.meter_provider.meter("inference-gateway");
    let genai = GenAi {
        tracer: telemetry.tracer_provider.tracer("inference-gateway"),
        token_usage: meter
            .u64_histogram(semconv_metric::GEN_AI_CLIENT_TOKEN_USAGE)
            .with_unit("{token}")
            .with_boundaries(vec![1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0])
            .build(),
        duration: meter
            .f64_histogram(semconv_metric::GEN_AI_CLIENT_OPERATION_DURATION)
            .with_unit("s")
            .build(),
    };
    let answer = genai.invoke_agent("What is the weather in Lisbon?");
    println!("answer: {answer}");

    telemetry.shutdown()?;
    let expected = Items {
        // invoke_agent, two chat, one execute_tool
        spans: 4,
        // token usage (input, output) and the duration of chat
        metric_points: 3,
        log_records: 0,
    };
    Ok(
        collector.finish_checked(expected, telemetry.exported(), |received| {
            let agent = received.span(&format!("invoke_agent {AGENT}"))?;
            let tool = received.span("execute_tool get_weather")?;
            ensure_child_of(tool, agent)?;
            let chats: Vec<_> = received
                .spans()
                .into_iter()
                .filter(|s| s.span.name == format!("chat {MODEL}"))
                .collect();
            ensure(chats.len() == 2, || {
                format!("{} chat spans, not 2", chats.len())
            })?;
            let mut output_tokens = 0;
            for chat in &chats {
                ensure_child_of(*chat, agent)?;
                ensure(
                    chat.attribute(semconv::GEN_AI_OPERATION_NAME).as_deref() == Some("chat")
                        && chat.attribute(semconv::GEN_AI_REQUEST_MODEL).as_deref() == Some(MODEL),
                    || "a chat span lacks its operation or model".into(),
                )?;
                output_tokens += chat
                    .attribute(semconv::GEN_AI_USAGE_OUTPUT_TOKENS)
                    .and_then(|t| t.parse::<i64>().ok())
                    .ok_or("a chat span lacks gen_ai.usage.output_tokens")?;
            }
            // "get_weather(city=\"Lisbon\")" and "It is 21°C, sunny in Lisbon today."
            ensure(output_tokens == 1 + 7, || {
                format!("{output_tokens} output tokens in the chat spans, not 8")
            })?;
            ensure_metrics(
                received,
                &[
                    semconv_metric::GEN_AI_CLIENT_TOKEN_USAGE,
                    semconv_metric::GEN_AI_CLIENT_OPERATION_DURATION,
                ],
            )
        }),
    )
}
