//! Batches that take turns: workers scan and rewrite their batches in
//! parallel, but numbering must follow the walk order whatever the
//! threads do, so the numbering state is changed by one batch at a time,
//! in batch order.
//!
//! No deadlock: [`Batches`] hands batches out in order, and a worker holds
//! one batch at a time, so the batch whose turn it is belongs to a worker
//! that is not waiting (it is scanning, or about to take its turn).

use std::sync::mpsc::Receiver;

use parking_lot::{Condvar, Mutex, MutexGuard};

/// Items (walked paths) handed out in numbered batches, in order.
pub struct Batches<T> {
    state: Mutex<Option<Handout<T>>>,
    size: usize,
}

struct Handout<T> {
    next: usize,
    items: Receiver<T>,
    /// Every item sent has been handed out.
    drained: bool,
}

impl<T> Batches<T> {
    /// Batches of `size` items from `items`, numbered 0, 1, 2 ...
    pub fn new(items: Receiver<T>, size: usize) -> Batches<T> {
        Batches {
            state: Mutex::new(Some(Handout {
                next: 0,
                items,
                drained: false,
            })),
            size,
        }
    }

    /// The next batch and its number; `None` when no item is left (or the
    /// batches were closed).
    pub fn take(&self) -> Option<(usize, Vec<T>)> {
        let mut state = self.state.lock();
        let handout = state.as_mut()?;
        let mut batch = Vec::with_capacity(self.size);
        while batch.len() < self.size {
            match handout.items.recv() {
                Ok(item) => batch.push(item),
                Err(_) => {
                    handout.drained = true;
                    break;
                }
            }
        }
        if batch.is_empty() {
            return None;
        }
        let number = handout.next;
        handout.next += 1;
        Some((number, batch))
    }

    /// Stops handing out: the sender of the items, if still sending, gets
    /// an error instead of waiting for room.
    pub fn close(&self) {
        let mut state = self.state.lock();
        if let Some(handout) = state.as_mut()
            && !handout.drained
        {
            *state = None;
        }
    }

    /// Whether every item sent was handed out, the last included.
    pub fn all_handed_out(&self) -> bool {
        let state = self.state.lock();
        state.as_ref().is_some_and(|handout| handout.drained)
    }
}

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
        let mut state = self.state.lock();
        self.changed
            .wait_while(&mut state, |turn| turn.next != batch);
        let mut turn = NextTurn {
            state,
            changed: &self.changed,
        };
        change(&mut turn.state.value)
    }

    pub fn into_inner(self) -> T {
        self.state.into_inner().value
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
    fn batches_are_numbered_in_the_order_of_their_items() {
        let (sender, receiver) = std::sync::mpsc::sync_channel(2);
        let batches = Batches::new(receiver, 3);
        std::thread::scope(|scope| {
            scope.spawn(move || (0..7).for_each(|i| sender.send(i).unwrap()));
            assert_eq!(batches.take(), Some((0, vec![0, 1, 2])));
            assert_eq!(batches.take(), Some((1, vec![3, 4, 5])));
            assert!(!batches.all_handed_out());
            assert_eq!(batches.take(), Some((2, vec![6])));
            assert_eq!(batches.take(), None);
        });
        assert!(batches.all_handed_out());
    }

    #[test]
    fn closed_batches_release_a_waiting_sender() {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let batches = Batches::new(receiver, 1);
        std::thread::scope(|scope| {
            let sending = scope.spawn(move || (0..).map_while(|i| sender.send(i).ok()).count());
            assert_eq!(batches.take(), Some((0, vec![0])));
            batches.close();
            assert!(sending.join().unwrap() >= 1);
        });
        assert_eq!(batches.take(), None);
        assert!(!batches.all_handed_out());
    }

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
