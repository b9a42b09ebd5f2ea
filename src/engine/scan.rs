//! The scan of one file: open it, read its head, tell whether it is DICOM
//! and read the attributes numbering needs. The open file and its head
//! are kept for the rewrite, so each file is opened and its start read
//! once per run.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::head::Head;
use super::header::{HeaderFacts, read_header_facts_of_file};
use crate::codec::{Layout, open_source, sniff_bytes};
use crate::guard::catch_quietly;
use crate::walk::WalkError;

/// What the scan found in one file (or the walk, in one path).
#[allow(clippy::large_enum_variant)] // nearly every file is DICOM: a box would be one more allocation each
pub enum Scanned {
    NotDicom,
    Unreadable(WalkError),
    Dicom(ScannedFile),
}

/// A DICOM file, open, with what the scan read of it.
pub struct ScannedFile {
    pub path: PathBuf,
    pub opened: Opened,
    /// The header's facts, or why they could not be read.
    pub header: Result<HeaderFacts, String>,
}

/// A DICOM file open for reading, and its first bytes.
pub struct Opened {
    pub file: File,
    pub head: Head,
    pub layout: Layout,
    pub size: u64,
}

/// Scans the file at `path`, reading its head into `buffer`. A panic (a
/// bug of ours, never expected) makes the file unreadable rather than
/// stopping the worker: numbering waits for every file of a batch.
pub fn scan(path: PathBuf, buffer: Vec<u8>) -> Scanned {
    let read = || {
        open_dicom(&path, buffer).map(|opened| {
            opened.map(|opened| {
                let header = read_header_facts_of_file(&opened.head, &opened.file, opened.layout);
                (opened, header.map_err(|e| e.to_string()))
            })
        })
    };
    let reason = match catch_quietly(read) {
        Ok(Ok(None)) => return Scanned::NotDicom,
        Ok(Ok(Some((opened, header)))) => {
            return Scanned::Dicom(ScannedFile {
                path,
                opened,
                header,
            });
        }
        Ok(Err(err)) => err.to_string(),
        Err(panic) => format!("internal error (please report): {panic}"),
    };
    Scanned::Unreadable(WalkError { path, reason })
}

/// The size of the file at `path` if it is DICOM (and readable), as the
/// scan would list it.
pub fn dicom_size(path: &Path) -> Option<u64> {
    Some(open_dicom(path, Vec::new()).ok()??.size)
}

/// The DICOM files of `files`, in order, with their sizes; looked at by
/// `jobs` threads, or by this one when no thread can be started.
pub fn dicom_sizes(files: Vec<PathBuf>, jobs: usize) -> Vec<(PathBuf, u64)> {
    use rayon::prelude::*;
    let size_of = |file: PathBuf| dicom_size(&file).map(|size| (file, size));
    match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
        Ok(pool) => pool.install(|| files.into_par_iter().filter_map(size_of).collect()),
        Err(_) => files.into_iter().filter_map(size_of).collect(),
    }
}

/// Opens a file and reads its head; `None` when it is not DICOM.
pub fn open_dicom(path: &Path, buffer: Vec<u8>) -> io::Result<Option<Opened>> {
    let file = open_source(path)?;
    let head = Head::read(&file, buffer)?;
    let Some(layout) = sniff_bytes(head.bytes()) else {
        return Ok(None);
    };
    let size = file.metadata()?.len();
    Ok(Some(Opened {
        file,
        head,
        layout,
        size,
    }))
}
