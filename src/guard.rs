//! Panics of code we cannot change (a decoder on hostile pixel data, the
//! XLSX writer, which panics when its disk is full) caught and turned into
//! an error for that one file or table, printing nothing.
//!
//! `catch_unwind` alone is not enough: the panic hook runs before the
//! unwinding starts, and the default hook prints the panic message (and a
//! backtrace hint) to stderr, so a user would see two reports for one file.
//! [`catch_quietly`] therefore installs, once per process, a hook that stays quiet
//! on a thread while it runs a guarded call and otherwise defers to the
//! hook that was there before (so panics elsewhere are reported as usual).

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many guarded calls are running on this thread (they can nest).
    static GUARDED: Cell<u32> = const { Cell::new(0) };
}

static INSTALL: Once = Once::new();

fn install_quiet_hook() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// Restores the nesting count even when the guarded call unwinds.
struct Depth;

impl Depth {
    fn enter() -> Depth {
        GUARDED.with(|g| g.set(g.get() + 1));
        Depth
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        GUARDED.with(|g| g.set(g.get().saturating_sub(1)));
    }
}

/// Runs `f`; a panic inside it is returned as `Err` with the panic
/// message, and nothing is printed.
pub fn catch_quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_quiet_hook();
    let _depth = Depth::enter();
    // Callers give up what the call was building after a panic (a
    // decoder's frame, a workbook), so nothing half-updated is used.
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| message(payload.as_ref()))
}

/// The text of a panic payload (`panic!("...")` gives `&str` or `String`),
/// on one line: it ends up in a one-line error report, and assertion
/// messages span several.
pub fn message(payload: &(dyn Any + Send)) -> String {
    let text = if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.as_str()
    } else {
        "panic without a message"
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        let out: Result<(), String> = catch_quietly(|| panic!("slice index 9 out of range"));
        assert_eq!(out, Err("slice index 9 out of range".to_string()));
        let formatted: Result<(), String> = catch_quietly(|| panic!("frame {} of {}", 3, 2));
        assert_eq!(formatted, Err("frame 3 of 2".to_string()));
        assert_eq!(catch_quietly(|| 7), Ok(7));
        let multi_line: Result<(), String> = catch_quietly(|| assert_eq!(1, 2, "sizes"));
        let text = multi_line.unwrap_err();
        assert!(!text.contains('\n') && text.contains("left: 1"), "{text}");
    }

    #[test]
    fn nesting_is_restored_after_a_panic() {
        let inner = catch_quietly(|| catch_quietly(|| -> u8 { panic!("inner") }));
        assert_eq!(inner, Ok(Err("inner".to_string())));
        assert_eq!(GUARDED.with(Cell::get), 0);
    }
}
