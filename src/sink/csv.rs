//! The audit as CSV, `_out.csv`, written batch by batch as files finish,
//! so it survives an interrupted run. (`_metadata.csv` is written as files
//! are numbered: see `engine::listing`.)
//!
//! A spreadsheet that opens a CSV evaluates a cell starting with `=`, `+`,
//! `-`, `@`, a tab or a carriage return as a formula, and patient names
//! come from whoever made the image. Every CSV the tool writes therefore
//! puts a `'` before such a cell (OWASP's advice), and before a cell that
//! starts with `'` itself, so that [`from_csv_cell`] gives back exactly
//! what was written.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{AUDIT_HEADERS, AuditRow, SinkError, TableSink};
use crate::dest::create_private;

/// The audit as CSV, flushed after every batch of rows: a buffer larger
/// than any batch keeps a partial row from reaching the file.
const BUFFER: usize = 1024 * 1024;

/// The audit as CSV.
pub struct CsvSink {
    path: PathBuf,
    writer: csv::Writer<Box<dyn Write + Send>>,
}

impl CsvSink {
    pub fn create(path: &Path) -> Result<CsvSink, SinkError> {
        let file = create_private(path).map_err(|e| SinkError::new(path, e))?;
        CsvSink::with_writer(path, Box::new(file))
    }

    /// The audit as CSV on standard output (a dry run's plan).
    pub fn to_stdout() -> Result<CsvSink, SinkError> {
        CsvSink::with_writer(Path::new("standard output"), Box::new(std::io::stdout()))
    }

    fn with_writer(path: &Path, out: Box<dyn Write + Send>) -> Result<CsvSink, SinkError> {
        let mut writer = csv::WriterBuilder::new()
            .buffer_capacity(BUFFER)
            .from_writer(out);
        writer
            .write_record(AUDIT_HEADERS)
            .map_err(|e| SinkError::new(path, e))?;
        Ok(CsvSink {
            path: path.to_path_buf(),
            writer,
        })
    }
}

/// The first characters that make a spreadsheet evaluate a cell, and the
/// escape character itself.
const NEEDS_ESCAPE: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\''];

/// `text` as a CSV cell that no spreadsheet evaluates.
pub fn to_csv_cell(text: &str) -> Cow<'_, str> {
    if text.starts_with(NEEDS_ESCAPE) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Writes one row, every cell made safe by [`to_csv_cell`].
pub fn write_csv_row<W: Write>(writer: &mut csv::Writer<W>, cells: &[&str]) -> csv::Result<()> {
    let cells: Vec<Cow<'_, str>> = cells.iter().map(|cell| to_csv_cell(cell)).collect();
    writer.write_record(cells.iter().map(|cell| cell.as_bytes()))
}

/// The text a cell written by [`to_csv_cell`] holds.
pub fn from_csv_cell(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

impl TableSink for CsvSink {
    fn write_row(&mut self, row: &AuditRow) -> Result<(), SinkError> {
        let index = row.patient_index.map(|i| i.to_string()).unwrap_or_default();
        let size = row.file_size.to_string();
        let cells = [
            row.source_file.as_str(),
            &row.patient_name,
            &row.patient_id,
            &index,
            &size,
            &row.destination_file,
            row.status.as_str(),
            &row.reason,
            &row.burned_in_risk,
            &row.patient_key,
        ];
        write_csv_row(&mut self.writer, &cells).map_err(|e| SinkError::new(&self.path, e))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Status;

    #[test]
    fn a_row_has_a_cell_for_every_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_out.csv");
        let mut sink = Box::new(CsvSink::create(&path).unwrap());
        let row = AuditRow {
            source_file: "/s/a.dcm".into(),
            patient_name: "A^B".into(),
            patient_id: "P1".into(),
            patient_index: Some(1),
            file_size: 10,
            destination_file: "/d/1_001.dcm".into(),
            status: Status::Ok,
            reason: String::new(),
            burned_in_risk: String::new(),
            patient_key: "PatientID empty".into(),
        };
        sink.write_row(&row).unwrap();
        sink.finish().unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(record.len(), AUDIT_HEADERS.len());
        assert_eq!(&record[9], "PatientID empty");
    }

    #[test]
    fn cells_a_spreadsheet_would_evaluate_are_escaped_and_read_back() {
        for text in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+SUM(1,2)",
            "-2+3",
            "@cmd",
            "\tx",
            "\rx",
            "'quoted",
            "''",
        ] {
            let cell = to_csv_cell(text);
            assert!(cell.starts_with('\''), "{text:?} -> {cell:?}");
            assert_eq!(from_csv_cell(&cell), text);
        }
        for text in ["DOE^JOHN", "", "/data/a.dcm", "1", "a=b"] {
            assert_eq!(to_csv_cell(text), text);
            assert_eq!(from_csv_cell(text), text);
        }
    }
}
