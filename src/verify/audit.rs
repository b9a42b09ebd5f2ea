//! Reading `DEST/_out.csv` (columns found by name, so that added columns
//! do not matter) and finding the files its rows name.
//!
//! `anomize` writes absolute paths for both the source and the output.
//! Folders get moved or mounted elsewhere after a run, so a path that is
//! no longer under the given folder is looked up there by its trailing
//! components (`/old/dest/1/1_001.dcm` → `DEST/1/1_001.dcm`). Relative
//! paths are taken relative to the folder.

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use crate::engine::{AUDIT_CSV, AUDIT_XLSX, METADATA_CSV};
use crate::sink::from_csv_cell;

/// The audit columns verify needs.
const SOURCE_COLUMN: &str = "source_file";
/// Spelled as `anomize` writes it (the original tool's spelling); the
/// correct spelling is accepted too.
const DEST_COLUMNS: [&str; 2] = ["destinaton_file", "destination_file"];
const STATUS_COLUMN: &str = "status";

/// Why the audit cannot be used at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: csv::Error },
    #[error("{}: no column {column:?} in the header row", path.display())]
    MissingColumn { path: PathBuf, column: &'static str },
}

/// One row of the audit, as the columns verify needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// The row's line in the CSV file (the header is line 1).
    pub line: u64,
    pub source_file: String,
    pub destination_file: String,
    pub ok: bool,
}

/// The rows of an audit CSV, read one at a time.
pub struct Audit {
    path: PathBuf,
    reader: csv::Reader<File>,
    columns: [usize; 3],
}

impl Audit {
    /// Opens `path` and finds its columns.
    pub fn open(path: &Path) -> Result<Audit, AuditError> {
        let read = |source| AuditError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(read)?;
        let headers = reader.headers().map_err(read)?.clone();
        let find = |names: &[&'static str]| {
            names
                .iter()
                .find_map(|name| headers.iter().position(|h| h == *name))
                .ok_or(AuditError::MissingColumn {
                    path: path.to_path_buf(),
                    column: names[0],
                })
        };
        let columns = [
            find(&[SOURCE_COLUMN])?,
            find(&DEST_COLUMNS)?,
            find(&[STATUS_COLUMN])?,
        ];
        Ok(Audit {
            path: path.to_path_buf(),
            reader,
            columns,
        })
    }

    /// The next row; a row the CSV reader cannot parse is an error for
    /// that row only.
    pub fn next_row(&mut self) -> Option<Result<AuditRow, csv::Error>> {
        let mut record = csv::StringRecord::new();
        match self.reader.read_record(&mut record) {
            Ok(false) => None,
            Err(err) => Some(Err(err)),
            Ok(true) => {
                let cell =
                    |i: usize| from_csv_cell(record.get(self.columns[i]).unwrap_or("")).to_string();
                Some(Ok(AuditRow {
                    line: record.position().map_or(0, |p| p.line()),
                    source_file: cell(0),
                    destination_file: cell(1),
                    ok: cell(2).trim() == "OK",
                }))
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why a file named by the audit cannot be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocateError {
    #[error("the path is empty")]
    Empty,
    #[error("{listed} leads out of {} (..)", root.display())]
    LeavesRoot { listed: String, root: PathBuf },
    #[error("{listed} is not under {} and is not found there", root.display())]
    NotFound { listed: String, root: PathBuf },
}

/// A file of the audit, on disk and relative to its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub path: PathBuf,
    pub relative: PathBuf,
}

/// Finds the file `listed` by the audit under `root` (a canonical folder).
pub fn locate(root: &Path, listed: &str) -> Result<Located, LocateError> {
    if listed.is_empty() {
        return Err(LocateError::Empty);
    }
    // The audit writes names that are not UTF-8 escaped (see pathtext).
    let listed_buf = crate::pathtext::text_to_path(listed);
    let listed_path = listed_buf.as_path();
    if listed_path.is_relative() {
        if listed_path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(LocateError::LeavesRoot {
                listed: listed.to_string(),
                root: root.to_path_buf(),
            });
        }
        return Ok(Located {
            path: root.join(listed_path),
            relative: listed_path.to_path_buf(),
        });
    }
    if let Ok(relative) = listed_path.strip_prefix(root) {
        return Ok(Located {
            path: listed_path.to_path_buf(),
            relative: relative.to_path_buf(),
        });
    }
    // Moved since the run: the longest trailing part that exists under root.
    let names: Vec<&std::ffi::OsStr> = listed_path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    (0..names.len())
        .map(|start| names[start..].iter().collect::<PathBuf>())
        .find(|relative| root.join(relative).is_file())
        .map(|relative| Located {
            path: root.join(&relative),
            relative,
        })
        .ok_or_else(|| LocateError::NotFound {
            listed: listed.to_string(),
            root: root.to_path_buf(),
        })
}

/// Whether `relative` (to DEST) is one of the audit files, which hold the
/// original values by design and are never scanned.
pub fn is_audit_file(relative: &Path) -> bool {
    [AUDIT_CSV, AUDIT_XLSX, METADATA_CSV]
        .iter()
        .any(|name| relative == Path::new(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_by_name_in_any_order_with_extra_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_out.csv");
        std::fs::write(
            &path,
            "status,extra,destinaton_file,source_file\nOK,x,/d/1_001.dcm,/s/a.dcm\nERROR,,,/s/b\n",
        )
        .unwrap();
        let mut audit = Audit::open(&path).unwrap();
        let first = audit.next_row().unwrap().unwrap();
        assert_eq!(
            first,
            AuditRow {
                line: 2,
                source_file: "/s/a.dcm".into(),
                destination_file: "/d/1_001.dcm".into(),
                ok: true,
            }
        );
        assert!(!audit.next_row().unwrap().unwrap().ok);
        assert!(audit.next_row().is_none());

        std::fs::write(&path, "source_file,status\n").unwrap();
        let err = Audit::open(&path).err().unwrap();
        assert!(
            err.to_string().contains("no column \"destinaton_file\""),
            "{err}"
        );
    }

    #[test]
    fn files_are_found_absolute_relative_or_moved() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("1")).unwrap();
        std::fs::write(root.join("1/1_001.dcm"), b"x").unwrap();
        let expected = Located {
            path: root.join("1/1_001.dcm"),
            relative: PathBuf::from("1/1_001.dcm"),
        };
        let absolute = root.join("1/1_001.dcm").to_string_lossy().into_owned();
        assert_eq!(locate(&root, &absolute), Ok(expected.clone()));
        assert_eq!(locate(&root, "1/1_001.dcm"), Ok(expected.clone()));
        assert_eq!(locate(&root, "/elsewhere/out/1/1_001.dcm"), Ok(expected));
        assert!(matches!(
            locate(&root, "/elsewhere/2_001.dcm"),
            Err(LocateError::NotFound { .. })
        ));
        assert!(matches!(
            locate(&root, "../x.dcm"),
            Err(LocateError::LeavesRoot { .. })
        ));
        assert_eq!(locate(&root, ""), Err(LocateError::Empty));
    }

    #[test]
    fn audit_files_are_recognised() {
        assert!(is_audit_file(Path::new("_out.csv")));
        assert!(is_audit_file(Path::new("_metadata.csv")));
        assert!(!is_audit_file(Path::new("sub/_out.csv")));
    }
}
