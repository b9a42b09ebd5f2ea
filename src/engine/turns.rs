//! Batches that take turns: workers scan and rewrite their batches in
//! parallel, but numbering must follow the walk order whatever the
//! threads do, so the numbering state is changed by one batch at a time,
//! in batch order.
//!
//! No deadlock: batches are handed out in order, and a worker holds one
//! batch at a time, so the batch whose turn it is belongs to a worker that
//! is not waiting (it is scanning, or about to take its turn).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// A state that batch 0, then batch 1, ... change, one at a time.
pub struct Turns<T> {
    state: Mutex<Turn<T>>,
    changed: Condvar,
}

struct Turn<T> {
    /// The batch whose turn it is.
    next: usize,
    value: T,
}

impl<T> Turns<T> {
    pub fn new(value: T) -> Turns<T> {
        Turns {
            state: Mutex::new(Turn { next: 0, value }),
            changed: Condvar::new(),
        }
    }

    /// Waits for the turn of batch `batch`, then runs `change`. The next
    /// batch's turn comes after it, even if `change` panics.
    pub fn in_turn<R>(&self, batch: usize, change: impl FnOnce(&mut T) -> R) -> R {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = self
            .changed
            .wait_while(state, |turn| turn.next != batch)
            .unwrap_or_else(PoisonError::into_inner);
        let mut turn = NextTurn {
            state,
            changed: &self.changed,
        };
        change(&mut turn.state.value)
    }

    pub fn into_inner(self) -> T {
        self.state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .value
    }
}

/// Passes the turn on when dropped.
struct NextTurn<'a, T> {
    state: MutexGuard<'a, Turn<T>>,
    changed: &'a Condvar,
}

impl<T> Drop for NextTurn<'_, T> {
    fn drop(&mut self) {
        self.state.next += 1;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_change_the_state_in_order_whatever_the_threads_do() {
        let turns = Turns::new(Vec::new());
        std::thread::scope(|scope| {
            // Batches given out backwards: each thread must wait for the
            // ones before its own.
            for batch in (0..8).rev() {
                let turns = &turns;
                scope.spawn(move || turns.in_turn(batch, |order| order.push(batch)));
            }
        });
        assert_eq!(turns.into_inner(), (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn a_panic_in_a_turn_passes_the_turn_on() {
        let turns = Turns::new(0);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            turns.in_turn(0, |_| panic!("a bug"))
        }));
        assert!(panicked.is_err());
        turns.in_turn(1, |count| *count += 1);
        assert_eq!(turns.into_inner(), 1);
    }
}
