//! `metadata`: the header of one DICOM file (file meta and data set up to
//! the pixel data) as a tree of raw values, and three views of it: a table
//! of selected attributes, a full indented dump, and the DICOM JSON model.
//!
//! Values are kept as the bytes in the file and decoded only for display,
//! with the Specific Character Set in force where they sit (a sequence item
//! may declare its own), using [`crate::charset`], which understands the
//! ISO 2022 code extensions used for Japanese and Korean names.

mod format;
mod json;
mod tree;

use std::path::{Path, PathBuf};

pub(crate) use format::is_text;
pub use format::{dump, table};
pub use json::to_json;
pub use tree::{DicomHeader, Element, Extent, Item, Value, read_file, read_header};

use crate::codec::{OpenError, StreamError};

/// Why a file's header cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    #[error("not a DICOM file (no DICM marker and no recognisable data set)")]
    NotDicom,
    #[error("cannot read the file: {0}")]
    Io(#[source] std::io::Error),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("{0}")]
    Stream(#[from] StreamError),
}

/// A failure with the file it happened to.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct MetadataError {
    pub path: PathBuf,
    #[source]
    pub source: HeaderError,
}

impl MetadataError {
    pub(crate) fn new(path: &Path, source: impl Into<HeaderError>) -> MetadataError {
        MetadataError {
            path: path.to_path_buf(),
            source: source.into(),
        }
    }
}
