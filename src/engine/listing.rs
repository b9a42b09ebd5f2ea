//! `_metadata.csv`: the DICOM files of SOURCE in numbering order, one row
//! each (sequence number, source path, size), written as files are
//! numbered. It grows during the run; an interrupted run leaves the rows
//! of the files it reached.
//!
//! A resumed run must number exactly as the interrupted one did. Before
//! anything is written, [`check_resumable`] makes sure that the files the
//! interrupted run listed are, in order and size, the first DICOM files of
//! SOURCE today; the listing then goes on after them, so that it ends as a
//! fresh run's would.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{METADATA_CSV, RunError};
use crate::sink::{SinkError, create_private};

/// Files classified in parallel at a time while checking a resume.
const CHECK_CHUNK: usize = 4096;

/// `_metadata.csv` being written.
pub struct Listing {
    path: PathBuf,
    writer: csv::Writer<File>,
    /// Rows already in the file (from the interrupted run): not written again.
    listed: usize,
}

/// What [`check_resumable`] found right in an interrupted run's listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub rows: usize,
    /// Bytes of the file that hold those rows (a row cut short by a kill
    /// comes after them).
    pub bytes: u64,
}

impl Listing {
    /// A new listing, readable by the owner only (it maps the outputs back
    /// to source paths).
    pub fn create(path: &Path) -> Result<Listing, SinkError> {
        let file = create_private(path).map_err(|e| SinkError::new(path, e))?;
        Ok(Listing::with_file(path, file, 0))
    }

    /// Goes on with the listing of an interrupted run after its checked
    /// rows.
    pub fn resume(path: &Path, listed: Listed) -> Result<Listing, SinkError> {
        let fail = |e: io::Error| SinkError::new(path, e);
        let mut file = OpenOptions::new().write(true).open(path).map_err(fail)?;
        file.set_len(listed.bytes).map_err(fail)?;
        file.seek(SeekFrom::End(0)).map_err(fail)?;
        Ok(Listing::with_file(path, file, listed.rows))
    }

    fn with_file(path: &Path, file: File, listed: usize) -> Listing {
        Listing {
            path: path.to_path_buf(),
            writer: csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(file),
            listed,
        }
    }

    /// Lists the DICOM file numbered `seq`.
    pub fn add(&mut self, seq: usize, source: &str, size: u64) -> Result<(), SinkError> {
        if seq <= self.listed {
            return Ok(());
        }
        self.writer
            .write_record([seq.to_string().as_str(), source, size.to_string().as_str()])
            .map_err(|e| SinkError::new(&self.path, e))
    }

    /// Writes the rows added so far to the file.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        self.writer
            .flush()
            .map_err(|e| SinkError::new(&self.path, e))
    }
}

/// Checks that the rows of the listing an interrupted run left in `dest`
/// are the first DICOM files of `files` (the walk of SOURCE today), in
/// order, with the same sizes. `dicom_size` says whether a file is DICOM
/// and its size, as the scan of the run would.
pub fn check_resumable(
    dest: &Path,
    files: impl Iterator<Item = PathBuf>,
    dicom_size: impl Fn(&Path) -> Option<u64> + Sync,
) -> Result<Listed, RunError> {
    let mismatch = |reason: String| RunError::ResumeMismatch {
        path: dest.to_path_buf(),
        reason,
    };
    let unreadable =
        |e: &dyn std::fmt::Display| mismatch(format!("{METADATA_CSV} is unreadable ({e})"));
    let mut file = File::open(dest.join(METADATA_CSV)).map_err(|e| unreadable(&e))?;
    let bytes = complete_rows_length(&mut file).map_err(|e| unreadable(&e))?;
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(file.take(bytes));
    let mut files = files.peekable();
    let mut dicom_files = std::iter::from_fn(|| {
        files.peek()?;
        let chunk: Vec<PathBuf> = files.by_ref().take(CHECK_CHUNK).collect();
        Some(
            chunk
                .into_par_iter()
                .filter_map(|file| dicom_size(&file).map(|size| (file, size)))
                .collect::<Vec<_>>(),
        )
    })
    .flatten()
    .zip(1usize..);
    let mut listed = 0;
    for record in rows.records() {
        let record = record.map_err(|e| unreadable(&e))?;
        let field = |i: usize| record.get(i).unwrap_or_default();
        let row_seq = field(0);
        let changed = || {
            mismatch(format!(
                "file {row_seq} of {METADATA_CSV} is not the same file (path or size)"
            ))
        };
        let Some(((file, size), seq)) = dicom_files.next() else {
            return Err(changed());
        };
        let same = row_seq == seq.to_string()
            && field(1) == file.to_string_lossy()
            && field(2) == size.to_string();
        if !same {
            return Err(changed());
        }
        listed = seq;
    }
    Ok(Listed {
        rows: listed,
        bytes,
    })
}

/// The length of `file` up to the end of its last complete line.
fn complete_rows_length(file: &mut File) -> io::Result<u64> {
    const BLOCK: u64 = 64 * 1024;
    let mut end = file.seek(SeekFrom::End(0))?;
    let mut block = Vec::new();
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        block.resize((end - start) as usize, 0);
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        if let Some(newline) = block.iter().rposition(|&b| b == b'\n') {
            file.rewind()?;
            return Ok(start + newline as u64 + 1);
        }
        end = start;
    }
    file.rewind()?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing_of(rows: &[(usize, &str, u64)]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join(METADATA_CSV);
        let mut listing = Listing::create(&path).unwrap();
        for &(seq, source, size) in rows {
            listing.add(seq, source, size).unwrap();
        }
        listing.flush().unwrap();
        (dir, path)
    }

    /// Files named `dicom-N` are DICOM files of N bytes; others are not.
    fn size_in_name(path: &Path) -> Option<u64> {
        path.to_str()?.strip_prefix("dicom-")?.parse().ok()
    }

    fn walk(names: &[&str]) -> impl Iterator<Item = PathBuf> {
        names
            .iter()
            .map(PathBuf::from)
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn a_listing_that_starts_the_walk_is_resumable_and_goes_on_after_it() {
        let (_dir, path) = listing_of(&[(1, "dicom-10", 10), (2, "dicom-20", 20)]);
        let files = walk(&["dicom-10", "notes.txt", "dicom-20", "dicom-30"]);
        let listed = check_resumable(path.parent().unwrap(), files, size_in_name).unwrap();
        assert_eq!(listed.rows, 2);

        let mut listing = Listing::resume(&path, listed).unwrap();
        for (seq, name, size) in [
            (1, "dicom-10", 10),
            (2, "dicom-20", 20),
            (3, "dicom-30", 30),
        ] {
            listing.add(seq, name, size).unwrap();
        }
        listing.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "1,dicom-10,10\n2,dicom-20,20\n3,dicom-30,30\n"
        );
    }

    #[test]
    fn a_row_cut_short_is_dropped_and_written_again() {
        let (_dir, path) = listing_of(&[(1, "dicom-10", 10)]);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"2,dic");
        std::fs::write(&path, bytes).unwrap();
        let files = walk(&["dicom-10", "dicom-20"]);
        let listed = check_resumable(path.parent().unwrap(), files, size_in_name).unwrap();
        assert_eq!(listed.rows, 1);
        let mut listing = Listing::resume(&path, listed).unwrap();
        listing.add(2, "dicom-20", 20).unwrap();
        listing.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "1,dicom-10,10\n2,dicom-20,20\n"
        );
    }

    #[test]
    fn a_changed_source_is_refused() {
        let (_dir, path) = listing_of(&[(1, "dicom-10", 10), (2, "dicom-20", 20)]);
        for changed in [
            &["dicom-10", "dicom-15", "dicom-20"][..], // a DICOM file came in between
            &["dicom-10", "dicom-21"],                 // one changed size
            &["dicom-10"],                             // one went away
        ] {
            let err =
                check_resumable(path.parent().unwrap(), walk(changed), size_in_name).unwrap_err();
            assert!(
                err.to_string().contains("file 2 of _metadata.csv"),
                "{changed:?}: {err}"
            );
        }
    }
}
