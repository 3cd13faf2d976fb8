//! Processing spans one at a time as they end, in the thread that ends
//! them, before they are encoded.
//!
//! A [`Chain`](super::Chain) whose every step also works span by span
//! (the [`ProbabilisticSampler`](super::ProbabilisticSampler),
//! [`Filter`](super::Filter) and [`Redaction`](super::Redaction) do, and a
//! user's
//! [`Processor`](super::Processor) can through
//! [`Processor::span_step`](super::Processor::span_step)) gives a
//! [`SpanChain`]: the exporter then runs it on each SDK span as it ends,
//! edits the span in place, and encodes only what is kept. No span is
//! decoded or copied, which is what the batch path over a decoded request
//! costs. The outcome is the same as the batch path's on the encoded
//! spans; a property test holds the two to it.

use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SpanData;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

/// What a step decides for one span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The span goes on to the next step.
    Keep,
    /// The span is removed, for this reason (a short snake_case word, as
    /// in [`Outcome`](super::Outcome)).
    Drop(&'static str),
}

/// A span as it ends, handed to each [`SpanStep`] in turn: the SDK's span
/// to read and edit, the resource as the step sees it, and the tracestate
/// the steps before wrote.
pub struct EndingSpan<'s, 'a> {
    span: &'a mut SpanData,
    resource: &'a [KeyValue],
    trace_state: Option<Cow<'s, str>>,
    header: OnceCell<String>,
}

impl fmt::Debug for EndingSpan<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndingSpan")
            .field("name", &self.span.name)
            .field("trace_state", &self.trace_state())
            .finish_non_exhaustive()
    }
}

impl<'s, 'a> EndingSpan<'s, 'a> {
    /// `span`, of a provider with `resource`'s attributes.
    pub fn new(span: &'a mut SpanData, resource: &'a [KeyValue]) -> Self {
        EndingSpan {
            span,
            resource,
            trace_state: None,
            header: OnceCell::new(),
        }
    }

    /// The span.
    pub fn span(&self) -> &SpanData {
        self.span
    }

    /// The span, to edit in place. Its span context's tracestate is not
    /// what is encoded once [`set_trace_state`](Self::set_trace_state) was
    /// called.
    pub fn span_mut(&mut self) -> &mut SpanData {
        // The span context may change: its tracestate is read again.
        self.header = OnceCell::new();
        self.span
    }

    /// The resource's attributes, as this step sees them.
    pub fn resource(&self) -> &[KeyValue] {
        self.resource
    }

    /// The span's tracestate (a W3C `tracestate` header value): what a
    /// step before wrote, else the span context's.
    pub fn trace_state(&self) -> &str {
        match &self.trace_state {
            Some(ts) => ts,
            None => self
                .header
                .get_or_init(|| self.span.span_context.trace_state().header()),
        }
    }

    /// Whether the span has a tracestate.
    pub fn has_trace_state(&self) -> bool {
        if self.trace_state.is_none()
            && *self.span.span_context.trace_state() == opentelemetry::trace::TraceState::NONE
        {
            return false;
        }
        // An empty context's header allocates nothing; another is kept
        // for `trace_state`.
        !self.trace_state().is_empty()
    }

    /// Replaces the tracestate the span is encoded with.
    pub fn set_trace_state(&mut self, trace_state: Cow<'s, str>) {
        self.trace_state = Some(trace_state);
        self.header = OnceCell::new();
    }

    /// The tracestate the steps wrote, if any.
    pub fn into_trace_state(self) -> Option<Cow<'s, str>> {
        self.trace_state
    }
}

/// A processor's work on one span as it ends. It takes `&self` and is
/// shared by the threads that end spans.
pub trait SpanStep: Send + Sync + fmt::Debug {
    /// The name reports use (the processor's).
    fn name(&self) -> &str;

    /// Processes the resource's attributes, once per resource, for the
    /// steps after this one and for encoding. The default leaves them.
    fn process_resource(&self, resource: &mut Vec<KeyValue>) {
        let _ = resource;
    }

    /// Whether [`on_end`](Self::on_end) reads
    /// [`EndingSpan::resource`] (then the chain looks it up for each span).
    fn reads_resource(&self) -> bool {
        false
    }

    /// Processes one span: edits it in place and says whether it is kept.
    fn on_end<'s>(&'s self, span: &mut EndingSpan<'s, '_>) -> Verdict;
}

/// What [`SpanChain::on_end`] decided for a span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpanOutcome<'s> {
    /// Kept; encode it with this tracestate in place of its own when
    /// `Some`.
    Keep(Option<Cow<'s, str>>),
    /// Removed by the step named `step`, for `reason`.
    Drop {
        /// The step's name.
        step: &'s str,
        /// Why.
        reason: &'static str,
    },
}

/// The steps of a [`Chain`](super::Chain) that all work span by span; see
/// the module docs.
pub struct SpanChain {
    steps: Vec<Box<dyn SpanStep>>,
    /// The resource as each step sees it, and last as the chain leaves it.
    resources: RwLock<Arc<Vec<Vec<KeyValue>>>>,
    reads_resource: bool,
}

impl fmt::Debug for SpanChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.steps.iter().map(|s| s.name()))
            .finish()
    }
}

impl SpanChain {
    /// A chain of `steps`, run in order, with an empty resource until
    /// [`set_resource`](Self::set_resource).
    pub fn new(steps: Vec<Box<dyn SpanStep>>) -> SpanChain {
        let reads_resource = steps.iter().any(|s| s.reads_resource());
        let chain = SpanChain {
            resources: RwLock::default(),
            steps,
            reads_resource,
        };
        chain.set_resource(Vec::new());
        chain
    }

    /// The steps' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.name()).collect()
    }

    /// Sets the resource of the spans to come, and returns its attributes
    /// as the chain leaves them (redaction removes and masks resource
    /// attributes too): the resource to encode.
    pub fn set_resource(&self, attributes: Vec<KeyValue>) -> Vec<KeyValue> {
        let mut seen = Vec::with_capacity(self.steps.len() + 1);
        let mut cur = attributes;
        for step in &self.steps {
            seen.push(cur.clone());
            step.process_resource(&mut cur);
        }
        seen.push(cur.clone());
        *self
            .resources
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(seen);
        cur
    }

    /// Runs every step on `span`, in order, until one drops it.
    pub fn on_end(&self, span: &mut SpanData) -> SpanOutcome<'_> {
        self.on_end_counting(span, &mut |_, _| {})
    }

    /// [`on_end`](Self::on_end), telling `events_removed` of the span
    /// events each step removed from the span it kept, as
    /// `(step, events)` (called only for a step that removed some): what
    /// [`ChainReport::dropped_events`](super::ChainReport::dropped_events)
    /// counts on the batch path.
    pub fn on_end_counting(
        &self,
        span: &mut SpanData,
        events_removed: &mut dyn FnMut(&str, u64),
    ) -> SpanOutcome<'_> {
        let resources = self.reads_resource.then(|| {
            Arc::clone(
                &self
                    .resources
                    .read()
                    .unwrap_or_else(PoisonError::into_inner),
            )
        });
        let mut ending = EndingSpan::new(span, &[]);
        for (i, step) in self.steps.iter().enumerate() {
            if let Some(r) = &resources {
                ending.resource = r.get(i).map_or(&[], Vec::as_slice);
            }
            let before = ending.span.events.len();
            if let Verdict::Drop(reason) = step.on_end(&mut ending) {
                return SpanOutcome::Drop {
                    step: step.name(),
                    reason,
                };
            }
            let after = ending.span.events.len();
            if after < before {
                events_removed(step.name(), (before - after) as u64);
            }
        }
        SpanOutcome::Keep(ending.into_trace_state())
    }
}
