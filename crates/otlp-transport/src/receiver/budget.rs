//! The memory budget shared by all requests in flight.
//!
//! Each request reserves, before it allocates, what it is about to hold:
//! its body as it arrives, the decompressed message, and the decoded
//! request's estimated size, and gives back what it no longer holds. When
//! the budget cannot cover a step, the request is answered `503` /
//! `UNAVAILABLE` (retryable) instead of being buffered, so the receiver's
//! memory for requests stays under the budget however many arrive at once.
//! The budget is a semaphore counting KiB, so reserving never waits.

use super::Refusal;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const UNIT: usize = 1024;

fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT)
}

/// The budget: at most `bytes` held by all requests together.
#[derive(Debug)]
pub(super) struct Budget {
    semaphore: Arc<Semaphore>,
}

impl Budget {
    pub(super) fn new(bytes: usize) -> Self {
        let permits = units(bytes).min(Semaphore::MAX_PERMITS);
        Budget {
            semaphore: Arc::new(Semaphore::new(permits)),
        }
    }

    /// An empty reservation for one request.
    pub(super) fn reservation(&self) -> Reservation {
        Reservation {
            semaphore: Arc::clone(&self.semaphore),
            held: None,
        }
    }
}

/// What one request holds of the budget; given back when dropped.
#[derive(Debug)]
pub(super) struct Reservation {
    semaphore: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    /// The bytes held.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.held.as_ref().map_or(0, |p| p.num_permits()) * UNIT
    }

    fn add(&mut self, permits: usize) -> bool {
        if permits == 0 {
            return true;
        }
        let Ok(permits) = u32::try_from(permits) else {
            return false;
        };
        match Arc::clone(&self.semaphore).try_acquire_many_owned(permits) {
            Ok(more) => {
                match &mut self.held {
                    Some(held) => held.merge(more),
                    None => self.held = Some(more),
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Holds at least `bytes`, or refuses the request as busy.
    pub(super) fn grow_to(&mut self, bytes: usize) -> Result<(), Refusal> {
        let have = self.held.as_ref().map_or(0, |p| p.num_permits());
        if self.add(units(bytes).saturating_sub(have)) {
            Ok(())
        } else {
            Err(Refusal::Busy)
        }
    }

    /// Takes up to `extra` more bytes, as much as the budget has free now,
    /// and returns how many it got: for a step whose size is only known
    /// once done (decompressing, decoding), which then runs with what it
    /// got as its limit and gives back the rest with
    /// [`shrink_to`](Self::shrink_to).
    pub(super) fn take_up_to(&mut self, extra: usize) -> usize {
        let mut want = units(extra);
        // Another request may take permits between the look and the take.
        for _ in 0..4 {
            want = want.min(self.semaphore.available_permits());
            if self.add(want) {
                return want * UNIT;
            }
        }
        0
    }

    /// Gives back all but `bytes`.
    pub(super) fn shrink_to(&mut self, bytes: usize) {
        let keep = units(bytes);
        if let Some(held) = &mut self.held {
            let surplus = held.num_permits().saturating_sub(keep);
            if surplus > 0 {
                drop(held.split(surplus));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_budget_and_give_it_back() {
        let budget = Budget::new(10 * UNIT);
        let mut a = budget.reservation();
        a.grow_to(6 * UNIT).unwrap();
        let mut b = budget.reservation();
        assert!(matches!(b.grow_to(5 * UNIT), Err(Refusal::Busy)));
        assert_eq!(b.take_up_to(100 * UNIT), 4 * UNIT);
        b.shrink_to(UNIT + 1);
        assert_eq!(b.bytes(), 2 * UNIT);
        a.shrink_to(0);
        assert_eq!(a.bytes(), 0);
        b.grow_to(10 * UNIT).unwrap();
        drop(b);
        a.grow_to(10 * UNIT).unwrap();
    }
}
