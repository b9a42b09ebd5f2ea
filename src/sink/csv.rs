//! The audit as CSV, `_out.csv`, written batch by batch as files finish,
//! so it survives an interrupted run. (`_metadata.csv` is written as files
//! are numbered: see `engine::listing`.)

use std::fs::File;
use std::path::{Path, PathBuf};

use super::{AUDIT_HEADERS, AuditRow, SinkError, TableSink, create_private};

/// The audit as CSV, flushed after every batch of rows: a buffer larger
/// than any batch keeps a partial row from reaching the file.
const BUFFER: usize = 1024 * 1024;

/// The audit as CSV.
pub struct CsvSink {
    path: PathBuf,
    writer: csv::Writer<File>,
}

impl CsvSink {
    pub fn create(path: &Path) -> Result<CsvSink, SinkError> {
        let file = create_private(path).map_err(|e| SinkError::new(path, e))?;
        let mut writer = csv::WriterBuilder::new()
            .buffer_capacity(BUFFER)
            .from_writer(file);
        writer
            .write_record(AUDIT_HEADERS)
            .map_err(|e| SinkError::new(path, e))?;
        Ok(CsvSink {
            path: path.to_path_buf(),
            writer,
        })
    }
}

impl TableSink for CsvSink {
    fn write_row(&mut self, row: &AuditRow) -> Result<(), SinkError> {
        let index = row.patient_index.map(|i| i.to_string()).unwrap_or_default();
        let size = row.file_size.to_string();
        self.writer
            .write_record([
                row.source_file.as_str(),
                row.patient_name.as_str(),
                row.patient_id.as_str(),
                index.as_str(),
                size.as_str(),
                row.destination_file.as_str(),
                row.status.as_str(),
                row.reason.as_str(),
                row.burned_in_risk.as_str(),
            ])
            .map_err(|e| SinkError::new(&self.path, e))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.writer
            .flush()
            .map_err(|e| SinkError::new(&self.path, e))
    }

    fn finish(mut self: Box<Self>) -> Result<(), SinkError> {
        self.writer
            .flush()
            .map_err(|e| SinkError::new(&self.path, e))
    }
}
