//! The retry budget shared by every request that goes through one layer.
//!
//! Same accounting as Finagle's `RetryBudget` and tower's `TpsBudget`: each
//! request deposits `ratio` of a retry, each retry withdraws a whole one, and
//! a fixed reserve of `min_per_second * window` retries is always there.
//! Deposits and withdrawals are kept in ten slots covering the window, so
//! they age out and an old burst of traffic does not pay for today's outage.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::RetryPolicy;

/// Fixed-point unit: one retry is worth `SCALE`, so a ratio of 0.2 deposits
/// 200 per request without floating point in the hot path.
const SCALE: i64 = 1000;
const SLOTS: usize = 10;

#[derive(Debug)]
pub(crate) struct Budget {
    slot_width: Duration,
    reserve: i64,
    deposit: i64,
    state: Mutex<Slots>,
}

#[derive(Debug)]
struct Slots {
    start: Instant,
    generation: u64,
    values: [i64; SLOTS],
}

impl Budget {
    pub(crate) fn new(policy: &RetryPolicy) -> Self {
        let window = policy.budget_window();
        let reserve = i64::from(policy.min_retries_per_second())
            .saturating_mul(i64::try_from(window.as_millis()).unwrap_or(i64::MAX))
            .saturating_mul(SCALE)
            / 1000;
        Self {
            slot_width: window / SLOTS as u32,
            reserve,
            // Saturating float-to-int cast: absurd ratios mean "unlimited".
            deposit: (policy.retry_ratio() * SCALE as f64) as i64,
            state: Mutex::new(Slots {
                start: Instant::now(),
                generation: 0,
                values: [0; SLOTS],
            }),
        }
    }

    /// Records one request.
    pub(crate) fn deposit(&self) {
        let mut slots = self.slots();
        let current = slots.current();
        slots.values[current] = slots.values[current].saturating_add(self.deposit);
    }

    /// Takes one retry out of the budget, if there is one.
    pub(crate) fn withdraw(&self) -> bool {
        let mut slots = self.slots();
        let balance = slots
            .values
            .iter()
            .fold(self.reserve, |sum, v| sum.saturating_add(*v));
        if balance < SCALE {
            return false;
        }
        let current = slots.current();
        slots.values[current] = slots.values[current].saturating_sub(SCALE);
        true
    }

    /// The slots with those older than the window cleared.
    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        let mut slots = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = Instant::now().saturating_duration_since(slots.start);
        let generation = u64::try_from(elapsed.as_nanos() / self.slot_width.as_nanos().max(1))
            .unwrap_or(u64::MAX);
        let stale = generation
            .saturating_sub(slots.generation)
            .min(SLOTS as u64);
        for g in 0..stale {
            let index = ((generation - g) % SLOTS as u64) as usize;
            slots.values[index] = 0;
        }
        slots.generation = generation;
        slots
    }
}

impl Slots {
    fn current(&self) -> usize {
        (self.generation % SLOTS as u64) as usize
    }
}
