//! One rate limit for all items (SPEC §12): a 429 or 503 on any request
//! stops every new request — new items and retries alike — until its
//! `Retry-After` has passed, and halves the requests allowed in flight
//! (never below one); each later success gives one back, up to N. An item
//! waiting to retry holds no slot.

use crate::client::Pacer;
use crate::signal;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub struct Gate {
    most: usize,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    /// Requests allowed in flight now.
    limit: usize,
    in_flight: usize,
    /// No request starts before this.
    paused_until: Option<Instant>,
}

impl Gate {
    /// A gate for `n` requests in flight at most.
    pub fn new(n: usize) -> Gate {
        Gate {
            most: n.max(1),
            state: Mutex::new(State {
                limit: n.max(1),
                in_flight: 0,
                paused_until: None,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot (no pause, fewer than the limit in flight) and takes
    /// it; `false` when the run is stopping.
    pub fn acquire(&self) -> bool {
        let mut state = self.lock();
        loop {
            if signal::stop_reason().is_some() {
                return false;
            }
            let now = Instant::now();
            let wait = match state.paused_until {
                Some(until) if until > now => until - now,
                _ if state.in_flight < state.limit => {
                    state.in_flight += 1;
                    state.paused_until = None;
                    return true;
                }
                // Woken by a release; the timeout re-checks for a stop.
                _ => Duration::from_millis(100),
            };
            state = match self
                .changed
                .wait_timeout(state, wait.min(Duration::from_millis(100)))
            {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Gives a slot back.
    pub fn release(&self) {
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        drop(state);
        self.changed.notify_all();
    }

    /// The limit now, and whether new requests are paused (for tests and
    /// the progress line).
    #[cfg(test)]
    fn limit(&self) -> (usize, bool) {
        let state = self.lock();
        let paused = state.paused_until.is_some_and(|u| u > Instant::now());
        (state.limit, paused)
    }
}

impl Pacer for Gate {
    fn before_try(&self) -> bool {
        self.acquire()
    }

    fn after_try(&self) {
        self.release();
    }

    fn throttled(&self, wait: Duration) {
        let mut state = self.lock();
        let until = Instant::now() + wait;
        state.paused_until = Some(state.paused_until.map_or(until, |u| u.max(until)));
        state.limit = (state.limit / 2).max(1);
        drop(state);
        self.changed.notify_all();
    }

    fn succeeded(&self) {
        let mut state = self.lock();
        state.limit = (state.limit + 1).min(self.most);
        drop(state);
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_up_to_the_limit() {
        let gate = Gate::new(2);
        assert!(gate.acquire() && gate.acquire());
        let state = gate.lock();
        assert_eq!(state.in_flight, 2);
        drop(state);
        gate.release();
        assert!(gate.acquire());
    }

    #[test]
    fn throttling_halves_and_pauses_success_gives_back() {
        let gate = Gate::new(8);
        gate.throttled(Duration::from_millis(50));
        assert_eq!(gate.limit(), (4, true));
        gate.throttled(Duration::ZERO);
        assert_eq!(gate.limit().0, 2);
        let started = Instant::now();
        assert!(gate.acquire(), "after the pause");
        assert!(
            started.elapsed() >= Duration::from_millis(40),
            "waited for the pause"
        );
        gate.release();
        for _ in 0..3 {
            gate.throttled(Duration::ZERO);
        }
        assert_eq!(gate.limit().0, 1, "never below one");
        for _ in 0..20 {
            gate.succeeded();
        }
        assert_eq!(gate.limit().0, 8, "up to N");
    }

    #[test]
    fn a_release_wakes_a_waiter() {
        let gate = std::sync::Arc::new(Gate::new(1));
        assert!(gate.acquire());
        let waiter = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.acquire())
        };
        gate.release();
        assert!(waiter.join().unwrap());
    }
}
