//! The state machine shared by every service of one breaker.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::{BreakerConfig, BreakerState, Window};

const TIME_SLOTS: usize = 10;

#[derive(Debug)]
pub(crate) struct Shared {
    config: BreakerConfig,
    machine: Mutex<Machine>,
    rejected: AtomicU64,
    opened: AtomicU64,
}

#[derive(Debug)]
struct Machine {
    phase: Phase,
    /// Bumped on every transition. A permit remembers the epoch it was
    /// granted in, so the outcome of a call admitted before a transition
    /// (say, a slow success that completes after the breaker opened) is not
    /// counted against the new state.
    epoch: u64,
    outcomes: Outcomes,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { issued: u32, succeeded: u32 },
}

/// Leave to send one request, returned by [`Shared::admit`]. Dropping it
/// without an outcome (the caller gave up on the request) frees its probe
/// slot, so a cancelled probe cannot leave the breaker half-open forever.
#[derive(Debug)]
pub(crate) struct Permit {
    shared: Arc<Shared>,
    epoch: u64,
    probe: bool,
}

impl Shared {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Self {
            machine: Mutex::new(Machine {
                phase: Phase::Closed,
                epoch: 0,
                outcomes: Outcomes::new(config.window()),
            }),
            config,
            rejected: AtomicU64::new(0),
            opened: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets a request through, or says how long until one may try.
    pub(crate) fn admit(self: &Arc<Self>) -> Result<Permit, Duration> {
        let now = Instant::now();
        let mut m = self.lock();
        let probe = match m.phase {
            Phase::Closed => false,
            Phase::Open { until } if now < until => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(until - now);
            }
            Phase::Open { .. } => {
                tracing::info!("circuit breaker half-open: sending probes");
                m.phase = Phase::HalfOpen {
                    issued: 1,
                    succeeded: 0,
                };
                m.epoch += 1;
                true
            }
            Phase::HalfOpen { ref mut issued, .. } => {
                if *issued >= self.config.half_open_probes() {
                    self.rejected.fetch_add(1, Ordering::Relaxed);
                    return Err(Duration::ZERO);
                }
                *issued += 1;
                true
            }
        };
        Ok(Permit {
            shared: Arc::clone(self),
            epoch: m.epoch,
            probe,
        })
    }

    fn record(&self, epoch: u64, failure: bool) {
        let now = Instant::now();
        let mut m = self.lock();
        if m.epoch != epoch {
            return;
        }
        match m.phase {
            Phase::Closed => {
                m.outcomes.record(now, failure);
                let (calls, failures) = m.outcomes.counts(now);
                if calls >= u64::from(self.config.min_calls())
                    && failures as f64 >= self.config.failure_ratio() * calls as f64
                {
                    tracing::warn!(
                        calls,
                        failures,
                        "circuit breaker open: failure ratio exceeded"
                    );
                    self.trip(&mut m, now);
                }
            }
            Phase::HalfOpen { .. } if failure => {
                tracing::warn!("circuit breaker open again: probe failed");
                self.trip(&mut m, now);
            }
            Phase::HalfOpen {
                ref mut succeeded, ..
            } => {
                *succeeded += 1;
                if *succeeded >= self.config.half_open_probes() {
                    tracing::info!("circuit breaker closed: probes succeeded");
                    m.phase = Phase::Closed;
                    m.epoch += 1;
                    m.outcomes.clear();
                }
            }
            // Unreachable: opening bumps the epoch.
            Phase::Open { .. } => {}
        }
    }

    fn trip(&self, m: &mut Machine, now: Instant) {
        // An absurd open duration must not panic on overflow: a year is
        // "open until someone restarts the process" as far as anyone cares.
        let until = now
            .checked_add(self.config.open_duration())
            .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
        m.phase = Phase::Open { until };
        m.epoch += 1;
        m.outcomes.clear();
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    fn release(&self, epoch: u64) {
        let mut m = self.lock();
        if m.epoch == epoch {
            if let Phase::HalfOpen { ref mut issued, .. } = m.phase {
                *issued -= 1;
            }
        }
    }

    pub(crate) fn state(&self) -> BreakerState {
        match self.lock().phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if Instant::now() < until => BreakerState::Open,
            // The next request will be a probe.
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    pub(crate) fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    pub(crate) fn times_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }
}

impl Permit {
    /// Records the outcome of the admitted request: `failure` is whether it
    /// failed with a retryable error.
    pub(crate) fn complete(mut self, failure: bool) {
        self.shared.record(self.epoch, failure);
        // The slot is used, not abandoned: nothing for `drop` to give back.
        self.probe = false;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.probe {
            self.shared.release(self.epoch);
        }
    }
}

/// Outcomes in the window.
#[derive(Debug)]
enum Outcomes {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Outcomes {
    fn new(window: Window) -> Self {
        match window {
            Window::LastCalls(n) => Self::Count(CountWindow {
                size: n as usize,
                failures: 0,
                last: VecDeque::new(),
            }),
            Window::Time(d) => Self::Time(TimeWindow {
                start: Instant::now(),
                slot_width: d / TIME_SLOTS as u32,
                generation: 0,
                slots: [(0, 0); TIME_SLOTS],
            }),
        }
    }

    fn record(&mut self, now: Instant, failure: bool) {
        match self {
            Self::Count(w) => {
                if w.last.len() == w.size && w.last.pop_front() == Some(true) {
                    w.failures -= 1;
                }
                w.last.push_back(failure);
                w.failures += u64::from(failure);
            }
            Self::Time(w) => {
                let slot = w.advance(now);
                w.slots[slot].0 += 1;
                w.slots[slot].1 += u64::from(failure);
            }
        }
    }

    /// (calls, failures) in the window.
    fn counts(&mut self, now: Instant) -> (u64, u64) {
        match self {
            Self::Count(w) => (w.last.len() as u64, w.failures),
            Self::Time(w) => {
                w.advance(now);
                w.slots
                    .iter()
                    .fold((0, 0), |(c, f), (sc, sf)| (c + sc, f + sf))
            }
        }
    }

    fn clear(&mut self) {
        match self {
            Self::Count(w) => {
                w.failures = 0;
                w.last.clear();
            }
            Self::Time(w) => w.slots = [(0, 0); TIME_SLOTS],
        }
    }
}

/// The last `size` outcomes, `true` for a failure.
#[derive(Debug)]
struct CountWindow {
    size: usize,
    failures: u64,
    last: VecDeque<bool>,
}

/// Outcomes of the last window of time, in ten slots.
#[derive(Debug)]
struct TimeWindow {
    start: Instant,
    slot_width: Duration,
    generation: u64,
    /// (calls, failures) per slot.
    slots: [(u64, u64); TIME_SLOTS],
}

impl TimeWindow {
    /// Clears slots that left the window; returns the current slot.
    fn advance(&mut self, now: Instant) -> usize {
        let elapsed = now.saturating_duration_since(self.start);
        let current = u64::try_from(elapsed.as_nanos() / self.slot_width.as_nanos().max(1))
            .unwrap_or(u64::MAX);
        let stale = current
            .saturating_sub(self.generation)
            .min(TIME_SLOTS as u64);
        for g in 0..stale {
            self.slots[((current - g) % TIME_SLOTS as u64) as usize] = (0, 0);
        }
        self.generation = current;
        (current % TIME_SLOTS as u64) as usize
    }
}
