//! The audit workbook `_out.xlsx`, written in rust_xlsxwriter's constant
//! memory mode: rows go to a temporary file in DEST as they come, so a
//! million files do not mean a million rows in RAM.
//!
//! That mode panics when it cannot write its temporary files (a full
//! disk); every call into the library is guarded, so a write failure is
//! an error like any other, and the workbook is not touched again after
//! one.

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Format, Workbook};

use super::{AUDIT_HEADERS, AuditRow, SinkError, TableSink};
use crate::charset::printable;
use crate::dest::create_private;
use crate::guard::catch_quietly;

/// Rows per worksheet, header included (the XLSX limit).
const MAX_ROWS: u32 = 1_048_576;
/// Characters per cell (the XLSX limit).
const MAX_CELL_CHARS: usize = 32_767;
/// Column widths (in characters) that show a typical value of each audit
/// column without making the sheet wider than a screen.
const COLUMN_WIDTHS: [f64; 10] = [60.0, 24.0, 18.0, 13.0, 11.0, 50.0, 8.0, 60.0, 40.0, 40.0];

pub struct XlsxSink {
    path: PathBuf,
    workbook: Workbook,
    sheet: usize,
    next_row: u32,
    header_format: Format,
    /// Why the workbook can no longer be written, after a failure.
    broken: Option<String>,
}

impl XlsxSink {
    /// Prepares `path`; its temporary row files live in `scratch_dir` (DEST,
    /// so that no patient data lands in a shared /tmp).
    pub fn create(path: &Path, scratch_dir: &Path) -> Result<XlsxSink, SinkError> {
        let mut workbook = Workbook::new();
        workbook
            .set_tempdir(scratch_dir)
            .map_err(|e| SinkError::new(path, e))?;
        let mut sink = XlsxSink {
            path: path.to_path_buf(),
            workbook,
            sheet: 0,
            next_row: 0,
            header_format: Format::new().set_bold(),
            broken: None,
        };
        sink.guarded(XlsxSink::add_sheet)?;
        Ok(sink)
    }

    fn add_sheet(&mut self) -> Result<(), SinkError> {
        let name = match self.sheet {
            0 => "audit".to_string(),
            n => format!("audit {}", n + 1),
        };
        let sheet = self
            .workbook
            .add_worksheet_with_constant_memory()
            .map_err(|e| SinkError::new(&self.path, e))?;
        sheet
            .set_name(&name)
            .map_err(|e| SinkError::new(&self.path, e))?;
        // A person scrolling a long audit keeps the header in view.
        sheet
            .set_freeze_panes(1, 0)
            .map_err(|e| SinkError::new(&self.path, e))?;
        for (col, width) in COLUMN_WIDTHS.iter().enumerate() {
            sheet
                .set_column_width(col as u16, *width)
                .map_err(|e| SinkError::new(&self.path, e))?;
        }
        for (col, header) in AUDIT_HEADERS.iter().enumerate() {
            sheet
                .write_string_with_format(0, col as u16, *header, &self.header_format)
                .map_err(|e| SinkError::new(&self.path, e))?;
        }
        self.sheet = self.workbook.worksheets().len() - 1;
        self.next_row = 1;
        Ok(())
    }
}

fn cell_text(text: &str) -> String {
    printable(text).chars().take(MAX_CELL_CHARS).collect()
}

impl XlsxSink {
    /// Runs `write` on the workbook unless an earlier failure broke it; a
    /// panic of the library breaks it.
    fn guarded(
        &mut self,
        write: impl FnOnce(&mut XlsxSink) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        if let Some(reason) = &self.broken {
            return Err(SinkError::new(&self.path, reason));
        }
        let result = catch_quietly(|| write(self)).unwrap_or_else(|panic| {
            Err(SinkError::new(
                &self.path,
                format!("the XLSX writer failed ({panic})"),
            ))
        });
        if let Err(err) = &result {
            self.broken = Some(err.message.clone());
        }
        result
    }

    fn write_cells(&mut self, row: &AuditRow) -> Result<(), SinkError> {
        if self.next_row == MAX_ROWS {
            self.add_sheet()?;
        }
        let r = self.next_row;
        let path = self.path.clone();
        let err = |e| SinkError::new(&path, e);
        let sheet = self
            .workbook
            .worksheet_from_index(self.sheet)
            .map_err(err)?;
        sheet
            .write_string(r, 0, cell_text(&row.source_file))
            .map_err(err)?;
        sheet
            .write_string(r, 1, cell_text(&row.patient_name))
            .map_err(err)?;
        sheet
            .write_string(r, 2, cell_text(&row.patient_id))
            .map_err(err)?;
        if let Some(index) = row.patient_index {
            sheet.write_number(r, 3, f64::from(index)).map_err(err)?;
        }
        sheet
            .write_number(r, 4, row.file_size as f64)
            .map_err(err)?;
        sheet
            .write_string(r, 5, cell_text(&row.destination_file))
            .map_err(err)?;
        sheet.write_string(r, 6, row.status.as_str()).map_err(err)?;
        if !row.reason.is_empty() {
            sheet
                .write_string(r, 7, cell_text(&row.reason))
                .map_err(err)?;
        }
        if !row.burned_in_risk.is_empty() {
            sheet
                .write_string(r, 8, cell_text(&row.burned_in_risk))
                .map_err(err)?;
        }
        if !row.patient_key.is_empty() {
            sheet
                .write_string(r, 9, cell_text(&row.patient_key))
                .map_err(err)?;
        }
        self.next_row += 1;
        Ok(())
    }
}

impl TableSink for XlsxSink {
    fn write_row(&mut self, row: &AuditRow) -> Result<(), SinkError> {
        self.guarded(|sink| sink.write_cells(row))
    }

    fn finish(mut self: Box<Self>) -> Result<(), SinkError> {
        self.guarded(|sink| sink.save())
    }
}

impl XlsxSink {
    /// An autofilter over every sheet's rows (known only at the end): a
    /// person can show the ERROR rows, or one patient, in two clicks.
    fn add_filters(&mut self) -> Result<(), SinkError> {
        let last_col = AUDIT_HEADERS.len() as u16 - 1;
        for index in 0..=self.sheet {
            let rows = if index < self.sheet {
                MAX_ROWS
            } else {
                self.next_row
            };
            let path = self.path.clone();
            let sheet = self
                .workbook
                .worksheet_from_index(index)
                .map_err(|e| SinkError::new(&path, e))?;
            sheet
                .autofilter(0, 0, rows - 1, last_col)
                .map_err(|e| SinkError::new(&path, e))?;
        }
        Ok(())
    }

    fn save(&mut self) -> Result<(), SinkError> {
        self.add_filters()?;
        let partial = self.path.with_file_name("._out.xlsx.partial");
        let file = create_private(&partial).map_err(|e| SinkError::new(&partial, e))?;
        let mut writer = std::io::BufWriter::new(file);
        // The last buffered bytes are written by an explicit flush: on drop
        // its failure (a full disk) would go unseen.
        let saved = self
            .workbook
            .save_to_writer(&mut writer)
            .map_err(|e| SinkError::new(&self.path, e))
            .and_then(|()| {
                std::io::Write::flush(&mut writer).map_err(|e| SinkError::new(&self.path, e))
            })
            .and_then(|()| {
                std::fs::rename(&partial, &self.path).map_err(|e| SinkError::new(&self.path, e))
            });
        if saved.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        saved
    }
}
