//! The files a staged run passes from stage to stage, in its work folder:
//! a first line of JSON saying what made them, then CSV rows.
//!
//! Each is written under a temporary name and renamed into place when
//! complete, so that a stage never reads a half-written file of another.
//! They are as private as the audit (owner only, never through a link):
//! they list source paths and, hashed with the secret, who each file
//! belongs to.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::StageError;
use crate::dest::{create_private, open_for_reading};

/// A stage file being written under its temporary name.
pub struct Draft {
    partial: PathBuf,
    path: PathBuf,
    rows: csv::Writer<BufWriter<File>>,
}

impl Draft {
    /// Starts `path` (as `.NAME.partial` beside it) with `header`.
    pub fn create(path: &Path, header: &impl Serialize) -> Result<Draft, StageError> {
        let partial = partial_of(path);
        let fail = |e: &dyn std::fmt::Display| StageError::file(&partial, e);
        let file = create_private(&partial).map_err(|e| fail(&e))?;
        let mut out = BufWriter::new(file);
        serde_json::to_writer(&mut out, header).map_err(|e| fail(&e))?;
        out.write_all(b"\n").map_err(|e| fail(&e))?;
        Ok(Draft {
            partial,
            path: path.to_path_buf(),
            rows: csv::WriterBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_writer(out),
        })
    }

    pub fn row(&mut self, cells: &[&str]) -> Result<(), StageError> {
        self.rows
            .write_record(cells)
            .map_err(|e| StageError::file(&self.partial, &e))
    }

    /// Makes the file durable and puts it in place.
    pub fn commit(self) -> Result<(), StageError> {
        let fail = |e: &dyn std::fmt::Display| StageError::file(&self.partial, e);
        let out = self.rows.into_inner().map_err(|e| fail(&e))?;
        let file = out.into_inner().map_err(|e| fail(&e))?;
        file.sync_all().map_err(|e| fail(&e))?;
        std::fs::rename(&self.partial, &self.path).map_err(|e| fail(&e))
    }
}

/// The temporary name a stage file is written under.
pub fn partial_of(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

/// A stage file being read: its header, then its rows.
pub struct Reader<H> {
    pub header: H,
    pub path: PathBuf,
    rows: csv::Reader<BufReader<File>>,
    record: csv::StringRecord,
}

impl<H: DeserializeOwned> Reader<H> {
    pub fn open(path: &Path) -> Result<Reader<H>, StageError> {
        let fail = |e: &dyn std::fmt::Display| StageError::file(path, e);
        let file = open_for_reading(path).map_err(|e| fail(&e))?;
        let mut input = BufReader::new(file);
        let mut first = String::new();
        input.read_line(&mut first).map_err(|e| fail(&e))?;
        let header = serde_json::from_str(&first)
            .map_err(|e| fail(&format!("not a file of a staged run ({e})")))?;
        Ok(Reader {
            header,
            path: path.to_path_buf(),
            rows: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(input),
            record: csv::StringRecord::new(),
        })
    }
}

impl<H> Reader<H> {
    /// The next row, `None` at the end.
    pub fn next_row(&mut self) -> Result<Option<&csv::StringRecord>, StageError> {
        match self.rows.read_record(&mut self.record) {
            Ok(true) => Ok(Some(&self.record)),
            Ok(false) => Ok(None),
            Err(e) => Err(StageError::file(&self.path, &e)),
        }
    }

    /// The row [`Reader::next_row`] read last.
    pub fn current(&self) -> &csv::StringRecord {
        &self.record
    }
}

/// The header of every stage file: the stage and the run it belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header<T> {
    pub stage: String,
    #[serde(flatten)]
    pub body: T,
}

/// Lower-case hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    crate::rules::lower_hex(bytes)
}

/// The bytes a [`hex`] text stands for; `None` if it is not one.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_file_appears_only_when_committed_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.csv");
        let mut draft = Draft::create(
            &path,
            &Header {
                stage: "scan".to_string(),
                body: serde_json::json!({"shard": 2}),
            },
        )
        .unwrap();
        draft.row(&["1", "a,b", "\"x\""]).unwrap();
        assert!(!path.exists());
        draft.commit().unwrap();
        assert!(!partial_of(&path).exists());
        let mut reader: Reader<Header<serde_json::Value>> = Reader::open(&path).unwrap();
        assert_eq!(reader.header.stage, "scan");
        assert_eq!(reader.header.body["shard"], 2);
        let row = reader.next_row().unwrap().unwrap();
        assert_eq!(row.iter().collect::<Vec<_>>(), ["1", "a,b", "\"x\""]);
        assert!(reader.next_row().unwrap().is_none());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn hex_reads_back() {
        assert_eq!(unhex(&hex(&[0, 1, 254, 255])), Some(vec![0, 1, 254, 255]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
