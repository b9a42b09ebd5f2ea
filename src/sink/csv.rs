//! CSV tables: `_metadata.csv` (the list of DICOM files) and `_out.csv`
//! (the audit, written batch by batch as files finish, so it survives an
//! interrupted run).

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

/// Writes `_metadata.csv`: one row per DICOM file, no header row.
pub fn write_metadata_csv<'a>(
    path: &Path,
    rows: impl Iterator<Item = (usize, std::borrow::Cow<'a, str>, u64)>,
) -> Result<(), SinkError> {
    let file = create_private(path).map_err(|e| SinkError::new(path, e))?;
    let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(file));
    for (seq, source, size) in rows {
        writer
            .write_record([seq.to_string().as_str(), &source, size.to_string().as_str()])
            .map_err(|e| SinkError::new(path, e))?;
    }
    writer.flush().map_err(|e| SinkError::new(path, e))
}

/// Reads `_metadata.csv` back (to check that a resumed run numbers the same files).
pub fn read_metadata_csv(path: &Path) -> Result<Vec<(usize, String, u64)>, SinkError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .map_err(|e| SinkError::new(path, e))?;
    reader
        .records()
        .map(|record| {
            let record = record.map_err(|e| SinkError::new(path, e))?;
            let field = |i: usize| record.get(i).unwrap_or_default();
            let number = |i: usize| {
                field(i)
                    .parse::<u64>()
                    .map_err(|_| SinkError::new(path, format!("{:?} is not a number", field(i))))
            };
            Ok((number(0)? as usize, field(1).to_string(), number(2)?))
        })
        .collect()
}
