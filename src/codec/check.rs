//! What a reader checks that it read: a data set to its last byte, an
//! item or sequence of defined length exactly to its end.

use std::io::Read;

use super::{Source, StreamError};

/// The accounting invariant's first half, checked on every file: the data
/// set was read to its last byte. (The top-level reader ends only at the
/// end of the stream or after zero padding that runs to it; this guards
/// that promise, so that no change to the reader can turn a data set
/// read halfway into an `OK` row.) The second half, every element read
/// either written or removed by a named rule, holds by construction of
/// the rewrite (`walk` and the engine's editor) and is tested on the
/// corpus (`tests/accounting`).
pub fn all_read<R: Read>(source: &mut Source<R>) -> Result<(), StreamError> {
    let offset = source.position();
    if source.read_up_to(&mut [0u8; 1])? == 0 {
        Ok(())
    } else {
        Err(StreamError::NotAtEnd { offset })
    }
}

/// An item or sequence of defined length must end where its last element
/// (or item) ends: one that runs past that end was not read as written.
pub fn ends_exactly(position: u64, end: u64, what: &'static str) -> Result<(), StreamError> {
    if position == end {
        return Ok(());
    }
    Err(StreamError::Overrun {
        what,
        end,
        reached: position,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_read_to_its_end_passes_and_one_with_bytes_left_does_not() {
        let mut done = Source::new(&b""[..]);
        all_read(&mut done).unwrap();
        let mut left = Source::starting_at(&b"x"[..], 40);
        let err = all_read(&mut left).unwrap_err();
        assert!(matches!(err, StreamError::NotAtEnd { offset: 40 }), "{err}");
    }

    #[test]
    fn content_must_end_where_its_container_does() {
        ends_exactly(20, 20, "an item").unwrap();
        let err = ends_exactly(28, 20, "an item").unwrap_err();
        assert!(
            err.to_string()
                .contains("an item of defined length ends at byte 20"),
            "{err}"
        );
    }
}
