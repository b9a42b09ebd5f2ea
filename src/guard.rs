//! Panics of code we cannot change (a codec, the XLSX writer, which
//! panics when its disk is full) caught and turned into an error, with
//! no backtrace printed before the one-line message the user gets.
//!
//! The process's panic hook is wrapped once: inside [`catch_quietly`] it
//! stays silent, everywhere else it prints as before, so a real bug of
//! ours outside such a call is still reported in full.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    /// How many [`catch_quietly`] calls this thread is inside.
    static QUIET: Cell<u32> = const { Cell::new(0) };
}

static WRAP_HOOK: Once = Once::new();

/// Runs `work`; a panic inside it becomes `Err` with the panic's message,
/// printed nowhere.
pub fn catch_quietly<R>(work: impl FnOnce() -> R) -> Result<R, String> {
    WRAP_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
    QUIET.with(|quiet| quiet.set(quiet.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(work));
    QUIET.with(|quiet| quiet.set(quiet.get() - 1));
    result.map_err(|panic| panic_text(&*panic))
}

/// The message of a panic payload (a `&str` or a `String`), or a word
/// saying it had none.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        assert_eq!(catch_quietly(|| 7), Ok(7));
        let err = catch_quietly(|| -> u8 { panic!("disk full: {}", 28) }).unwrap_err();
        assert_eq!(err, "disk full: 28");
        // Nested calls keep the hook quiet until the outer one ends.
        let outer = catch_quietly(|| catch_quietly(|| panic!("inner")).unwrap_err());
        assert_eq!(outer.as_deref(), Ok("inner"));
    }
}
