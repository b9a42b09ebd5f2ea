//! DICOM read and written element by element, with untouched bytes copied as they are.
//!
//! The de-identification engine does not build an in-memory object: it reads
//! one element header at a time, decides with the profile what to do, and
//! either copies the value bytes straight to the output or rewrites that one
//! value. This keeps every attribute the profile does not touch
//! byte-identical (no character set round trip, no number reformatting),
//! copies pixel data without holding it, and bounds memory by what the file
//! really contains: a declared length is never trusted for an allocation.
//!
//! dicom-rs supplies the data dictionary (VRs for implicit VR files) and the
//! transfer syntax registry; the byte layout of PS3.5 §7 is done here:
//!
//! - `sniff`: telling DICOM from other files, and its layout;
//! - `open`: preamble, file meta and transfer syntax, inflating;
//! - `meta`: the file meta group read and written;
//! - `source`: a byte source that counts and never trusts a length;
//! - `element`: element headers, VRs, transfer syntaxes;
//! - `skip`: walking over delimited sequences and items;
//! - `tree`: a data set read into a tree of raw values;
//! - `write`: group lengths, delimiters, transcoding between syntaxes;
//! - `walk`: a data set rewritten element by element (sequences rebuilt,
//!   group lengths recomputed, additions merged), an [`Editor`] deciding
//!   what becomes of each element;
//! - `check`: what a reader checks that it read (to the end, exactly).

mod check;
mod element;
pub mod meta;
mod open;
mod skip;
mod sniff;
mod source;
pub mod tree;
mod walk;
mod write;

pub use check::{all_read, ends_exactly};
pub use element::{Header, ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER, Syntax, UNDEFINED_LENGTH};
pub use element::{describe_tag, implicit_vr, vr_from_bytes};
pub use meta::{FileMeta, MetaElement, pad, unpad};
pub use open::{IO_BUFFER, OpenError, OpenedFile, open_file, open_reader, open_source};
pub use skip::skip_value;
pub use sniff::{Layout, guess_bare_syntax, sniff, sniff_bytes, sniff_reader};
pub use source::{Source, What};
pub use walk::{Collision, Editor, EncodedElement, Plan, SequencePlan, rewrite_dataset};
pub use write::{Coding, checked_len, delimiter, transcode_value, write_group};

use dicom_core::Tag;

/// What went wrong while reading or writing a DICOM stream; offsets are
/// bytes from the start of the data set (or file, for the file meta).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    #[error("read failed at byte {offset}: {source}")]
    Read { offset: u64, source: std::io::Error },
    #[error("write failed: {0}")]
    Write(#[source] std::io::Error),
    #[error("file ends inside {what} at byte {offset}")]
    Truncated { what: String, offset: u64 },
    #[error("invalid VR bytes {bytes:02X?} for {tag} at byte {offset}")]
    InvalidVr {
        tag: Tag,
        bytes: [u8; 2],
        offset: u64,
    },
    #[error("unexpected {tag} at byte {offset} {context}")]
    UnexpectedTag {
        tag: Tag,
        offset: u64,
        context: &'static str,
    },
    #[error("item of length {len} at byte {offset} runs past the end of its sequence")]
    ItemOverrun { len: u32, offset: u64 },
    #[error("sequences nested deeper than {max} levels at byte {offset}")]
    TooDeep { max: usize, offset: u64 },
    #[error(
        "non-zero bytes at byte {offset} after {after} bytes of zero padding: the data set was not read to its end"
    )]
    Unread { offset: u64, after: u64 },
    #[error("the data set was not read to its end: bytes remain at byte {offset}")]
    NotAtEnd { offset: u64 },
    #[error(
        "{what} of defined length ends at byte {end}, but what it holds ends at byte {reached}"
    )]
    Overrun {
        what: &'static str,
        end: u64,
        reached: u64,
    },
    #[error("file meta information is invalid: {0}")]
    Meta(String),
    #[error("unsupported transfer syntax {0:?}")]
    UnknownTransferSyntax(String),
}

/// Sequences deeper than this are refused: real files stay far below it,
/// and hostile ones must not exhaust the stack.
pub const MAX_DEPTH: usize = 64;
