//! Where results go: audit tables (CSV, XLSX) behind one trait, so a site
//! can add another (JSON lines, a database) without touching the engine.
//!
//! Every audit file maps pseudonyms back to patients, so all of them are
//! created readable by their owner only (mode 0600), never through a link
//! (see [`crate::dest`]).

mod csv;
mod image;
mod png;
mod xlsx;

use std::path::{Path, PathBuf};

pub use self::csv::{CsvSink, from_csv_cell, to_csv_cell, write_csv_row};
pub use self::image::ImageSink;
pub use self::png::PngSink;
pub use self::xlsx::XlsxSink;

/// Column headers of the audit, in order; `destinaton_file` is spelled as
/// the downstream scripts of the original tool expect.
pub const AUDIT_HEADERS: [&str; 10] = [
    "source_file",
    "patient_name",
    "patient_id_DICOM",
    "patient_index",
    "file_size",
    "destinaton_file",
    "status",
    "reason",
    "burned_in_risk",
    "patient_key",
];

/// Outcome of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Error,
    /// A dry run's row: the file would be written where the row says.
    Planned,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Error => "ERROR",
            Status::Planned => "PLANNED",
        }
    }
}

/// One audit row: what happened to one DICOM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub source_file: String,
    pub patient_name: String,
    pub patient_id: String,
    /// `None` when the file could not be read far enough to number it.
    pub patient_index: Option<u32>,
    pub file_size: u64,
    /// Empty for an ERROR row.
    pub destination_file: String,
    pub status: Status,
    /// Why the file failed; empty for OK rows.
    pub reason: String,
    /// Why the pixels may hold burned-in text; empty when nothing suggests it.
    pub burned_in_risk: String,
    /// How the file was tied to its patient when its key was empty; empty
    /// in the usual case.
    pub patient_key: String,
}

/// A failure to write an audit table.
#[derive(Debug, thiserror::Error)]
#[error("write failed: {}: {message}", path.display())]
pub struct SinkError {
    pub path: PathBuf,
    pub message: String,
}

impl SinkError {
    pub fn new(path: &Path, err: impl std::fmt::Display) -> SinkError {
        SinkError {
            path: path.to_path_buf(),
            message: err.to_string(),
        }
    }
}

/// A destination for audit rows, written in `_metadata.csv` order.
pub trait TableSink: Send {
    fn write_row(&mut self, row: &AuditRow) -> Result<(), SinkError>;
    /// Makes the rows written so far durable where the format allows it
    /// (called after each batch of finished files, so that an interrupted
    /// run leaves whole rows).
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    /// Completes the table; until then it may be partial or absent.
    fn finish(self: Box<Self>) -> Result<(), SinkError>;
}
