//! The run's durable listing: `_metadata.csv`, the DICOM files of SOURCE
//! in numbering order (sequence number, source path, size), and
//! `_outputs.csv`, the output each of them is planned to have (sequence
//! number, path relative to DEST). Both grow as files are numbered and are
//! written out after each batch, before any output of the batch is renamed
//! into place: after a kill at any point, every output in DEST is listed.
//!
//! A resumed run must number exactly as the interrupted one did. Before
//! anything is written, [`check_resumable`] makes sure that the files the
//! interrupted run listed are, in order and size, the first DICOM files of
//! SOURCE today; the listing then goes on after them, so that it ends as a
//! fresh run's would. `--overwrite` removes the outputs `_outputs.csv`
//! names, and nothing else ([`previous_outputs`]).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use parking_lot::Mutex;

use super::{METADATA_CSV, OUTPUTS_CSV, RunError};
use crate::dest::{create_private, open_existing, open_for_reading};
use crate::sink::{SinkError, from_csv_cell, write_csv_row};

/// Files classified at a time (in parallel where threads can be had)
/// while checking a resume.
const CHECK_CHUNK: usize = 4096;

/// The rows of `_metadata.csv` and `_outputs.csv` being made, in the
/// numbering turn of each batch; [`ListingFiles`] writes them out.
pub struct Listing {
    files: csv::Writer<Vec<u8>>,
    outputs: csv::Writer<Vec<u8>>,
    /// Rows already in the files (from the interrupted run): not written again.
    listed: usize,
}

/// The rows of some batches, as bytes, ready to be appended.
#[derive(Debug, Default)]
pub struct Rows {
    files: Vec<u8>,
    outputs: Vec<u8>,
}

/// What [`check_resumable`] found right in an interrupted run's listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub rows: usize,
    /// Bytes of `_metadata.csv` that hold those rows (a row cut short by
    /// a kill comes after them).
    pub bytes: u64,
}

impl Listing {
    /// Rows after the `listed` ones an interrupted run wrote (0 for a new
    /// run).
    pub fn new(listed: usize) -> Listing {
        Listing {
            files: row_writer(),
            outputs: row_writer(),
            listed,
        }
    }

    /// Lists the DICOM file numbered `seq` and, if it has one, its planned
    /// output (relative to DEST).
    pub fn add(&mut self, seq: usize, source: &str, size: u64, output: Option<&str>) {
        if seq <= self.listed {
            return;
        }
        let seq = seq.to_string();
        if let Some(output) = output {
            write_row(&mut self.outputs, &[&seq, output]);
        }
        write_row(&mut self.files, &[&seq, source, &size.to_string()]);
    }

    /// The rows added since the last call.
    pub fn take(&mut self) -> Rows {
        let take = |writer: &mut csv::Writer<Vec<u8>>| {
            // Writing into memory cannot fail.
            std::mem::replace(writer, row_writer())
                .into_inner()
                .unwrap_or_default()
        };
        Rows {
            files: take(&mut self.files),
            outputs: take(&mut self.outputs),
        }
    }
}

fn row_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new())
}

fn write_row(writer: &mut csv::Writer<Vec<u8>>, cells: &[&str]) {
    // Writing into memory cannot fail.
    let _ = write_csv_row(writer, cells);
}

/// The two listing files. Numbering turns queue their rows here (a short
/// lock); writing them out is done outside the turns, so that the next
/// batch need not wait for it, by whichever worker comes first: each
/// worker calls [`ListingFiles::write_queued`] before its batch's outputs
/// appear, and when it returns the batch's rows are written.
pub struct ListingFiles {
    queued: Mutex<Rows>,
    files: Mutex<Files>,
}

struct Files {
    files: (PathBuf, File),
    outputs: (PathBuf, File),
    /// A write failed: rows taken from the queue may be lost, so no later
    /// batch may be called listed.
    failed: Option<String>,
}

impl ListingFiles {
    /// New listing files: `_metadata.csv` in `audit_dir` (it maps the
    /// outputs back to source paths), `_outputs.csv` in `dest`; both
    /// readable by the owner only.
    pub fn create(audit_dir: &Path, dest: &Path) -> Result<ListingFiles, SinkError> {
        let create = |dir: &Path, name: &str| {
            let path = dir.join(name);
            create_private(&path)
                .map(|file| (path.clone(), file))
                .map_err(|e| SinkError::new(&path, e))
        };
        Ok(ListingFiles::of(
            create(audit_dir, METADATA_CSV)?,
            create(dest, OUTPUTS_CSV)?,
        ))
    }

    /// Goes on with the listing of an interrupted run after its checked
    /// rows.
    pub fn resume(
        audit_dir: &Path,
        dest: &Path,
        listed: Listed,
    ) -> Result<ListingFiles, SinkError> {
        let open = |dir: &Path, name: &str, keep: &dyn Fn(&mut File) -> io::Result<u64>| {
            let path = dir.join(name);
            let fail = |e: io::Error| SinkError::new(&path, e);
            let mut file = open_existing(&path).map_err(fail)?;
            let bytes = keep(&mut file).map_err(fail)?;
            file.set_len(bytes).map_err(fail)?;
            file.seek(SeekFrom::End(0)).map_err(fail)?;
            Ok((path.clone(), file))
        };
        let files = open(audit_dir, METADATA_CSV, &|_| Ok(listed.bytes))?;
        let outputs = match open(dest, OUTPUTS_CSV, &|file| rows_up_to(file, listed.rows)) {
            Ok(outputs) => outputs,
            // A listing of files without one of outputs: started anew.
            Err(_) if !crate::dest::entry_exists(&dest.join(OUTPUTS_CSV)) => {
                let path = dest.join(OUTPUTS_CSV);
                let file = create_private(&path).map_err(|e| SinkError::new(&path, e))?;
                (path, file)
            }
            Err(err) => return Err(err),
        };
        Ok(ListingFiles::of(files, outputs))
    }

    fn of(files: (PathBuf, File), outputs: (PathBuf, File)) -> ListingFiles {
        ListingFiles {
            queued: Mutex::new(Rows::default()),
            files: Mutex::new(Files {
                files,
                outputs,
                failed: None,
            }),
        }
    }

    /// Queues a batch's rows (in batch order: call it in the batch's turn).
    pub fn queue(&self, rows: Rows) {
        let mut queued = self.queued.lock();
        queued.files.extend_from_slice(&rows.files);
        queued.outputs.extend_from_slice(&rows.outputs);
    }

    /// Lists an output planned after the numbering (a rebuilt DICOMDIR,
    /// for the file numbered `seq`) and writes it out, before the output
    /// appears.
    pub fn add_output(&self, seq: usize, output: &str) -> Result<(), String> {
        let mut outputs = row_writer();
        write_row(&mut outputs, &[&seq.to_string(), output]);
        self.queue(Rows {
            files: Vec::new(),
            outputs: outputs.into_inner().unwrap_or_default(),
        });
        self.write_queued()
    }

    /// Writes every queued row; when it returns `Ok`, the rows queued
    /// before the call are in the files (outputs first, so that a file is
    /// never listed without its planned output).
    pub fn write_queued(&self) -> Result<(), String> {
        let mut guard = self.files.lock();
        let Files {
            files,
            outputs,
            failed,
        } = &mut *guard;
        if let Some(failed) = failed {
            return Err(failed.clone());
        }
        let rows = std::mem::take(&mut *self.queued.lock());
        let written = [(outputs, &rows.outputs), (files, &rows.files)]
            .into_iter()
            .filter(|(_, bytes)| !bytes.is_empty())
            .try_for_each(|((path, file), bytes)| {
                file.write_all(bytes)
                    .map_err(|e| SinkError::new(path, e).to_string())
            });
        if let Err(err) = &written {
            *failed = Some(err.clone());
        }
        written
    }
}

/// Checks that the rows of the listing an interrupted run left in
/// `audit_dir` are the first DICOM files of `files` (the walk of SOURCE
/// today), in order, with the same sizes. `dicom_sizes` says, for a chunk
/// of files, which are DICOM and their sizes, as the scan of the run would.
pub fn check_resumable(
    audit_dir: &Path,
    files: impl Iterator<Item = PathBuf>,
    dicom_sizes: impl Fn(Vec<PathBuf>) -> Vec<(PathBuf, u64)>,
) -> Result<Listed, RunError> {
    let mismatch = |reason: String| RunError::ResumeMismatch {
        path: audit_dir.to_path_buf(),
        reason,
    };
    let unreadable =
        |e: &dyn std::fmt::Display| mismatch(format!("{METADATA_CSV} is unreadable ({e})"));
    let mut file = open_for_reading(&audit_dir.join(METADATA_CSV)).map_err(|e| unreadable(&e))?;
    let bytes = complete_rows_length(&mut file).map_err(|e| unreadable(&e))?;
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(file.take(bytes));
    let mut files = files.peekable();
    let mut dicom_files = std::iter::from_fn(|| {
        files.peek()?;
        Some(dicom_sizes(files.by_ref().take(CHECK_CHUNK).collect()))
    })
    .flatten()
    .zip(1usize..);
    let mut listed = 0;
    for record in rows.records() {
        let record = record.map_err(|e| unreadable(&e))?;
        let field = |i: usize| from_csv_cell(record.get(i).unwrap_or_default());
        let row_seq = field(0);
        let Some(((file, size), seq)) = dicom_files.next() else {
            return Err(mismatch(format!(
                "file {row_seq} of {METADATA_CSV} ({}) is no longer in SOURCE",
                field(1)
            )));
        };
        let same = row_seq == seq.to_string()
            && field(1) == crate::pathtext::path_to_text(&file)
            && field(2) == size.to_string();
        if !same {
            return Err(mismatch(format!(
                "file {row_seq} of {METADATA_CSV} was {} ({} bytes), SOURCE now has {} ({size} bytes) there",
                field(1),
                field(2),
                file.display()
            )));
        }
        listed = seq;
    }
    Ok(Listed {
        rows: listed,
        bytes,
    })
}

/// The outputs a previous run in `dest` listed in `_outputs.csv`, as paths
/// in `dest`; rows naming anything outside it are left out, and so is a
/// listing that is not a regular file (a planted link is not followed).
pub fn previous_outputs(dest: &Path) -> io::Result<Vec<PathBuf>> {
    let path = dest.join(OUTPUTS_CSV);
    if !std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_file()) {
        return Ok(Vec::new());
    }
    let mut file = open_for_reading(&path)?;
    let bytes = complete_rows_length(&mut file)?;
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file.take(bytes));
    let mut outputs = Vec::new();
    for record in rows.records() {
        let record = record.map_err(io::Error::other)?;
        let relative = Path::new(from_csv_cell(record.get(1).unwrap_or_default()));
        let inside = relative.components().count() > 0
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if inside {
            outputs.push(dest.join(relative));
        }
    }
    Ok(outputs)
}

/// The bytes of `_outputs.csv` that hold its rows numbered up to `rows`
/// (it may list one batch more than `_metadata.csv`: it is written first).
fn rows_up_to(file: &mut File, rows: usize) -> io::Result<u64> {
    let complete = complete_rows_length(file)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader((&*file).take(complete));
    let mut end = 0;
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(io::Error::other)? {
        let seq: usize = from_csv_cell(record.get(0).unwrap_or_default())
            .parse()
            .unwrap_or(usize::MAX);
        if seq > rows {
            break;
        }
        end = reader.position().byte();
    }
    Ok(end)
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
        let files = ListingFiles::create(dir.path(), dir.path()).unwrap();
        let mut listing = Listing::new(0);
        for &(seq, source, size) in rows {
            let output = format!("{seq}.dcm");
            listing.add(seq, source, size, Some(&output));
        }
        files.queue(listing.take());
        files.write_queued().unwrap();
        let path = dir.path().join(METADATA_CSV);
        (dir, path)
    }

    /// Lists `rows` after `listed` into the listing of `dir`, resumed.
    fn resume_with(dir: &Path, listed: Listed, rows: &[(usize, &str, u64, &str)]) {
        let files = ListingFiles::resume(dir, dir, listed).unwrap();
        let mut listing = Listing::new(listed.rows);
        for &(seq, name, size, output) in rows {
            listing.add(seq, name, size, Some(output));
        }
        files.queue(listing.take());
        files.write_queued().unwrap();
    }

    /// Files named `dicom-N` are DICOM files of N bytes; others are not.
    fn size_in_name(files: Vec<PathBuf>) -> Vec<(PathBuf, u64)> {
        files
            .into_iter()
            .filter_map(|path| {
                let size = path.to_str()?.strip_prefix("dicom-")?.parse().ok()?;
                Some((path, size))
            })
            .collect()
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
        let (dir, path) = listing_of(&[(1, "dicom-10", 10), (2, "dicom-20", 20)]);
        let files = walk(&["dicom-10", "notes.txt", "dicom-20", "dicom-30"]);
        let listed = check_resumable(dir.path(), files, size_in_name).unwrap();
        assert_eq!(listed.rows, 2);

        resume_with(
            dir.path(),
            listed,
            &[
                (1, "dicom-10", 10, "1.dcm"),
                (2, "dicom-20", 20, "2.dcm"),
                (3, "dicom-30", 30, "3.dcm"),
            ],
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "1,dicom-10,10\n2,dicom-20,20\n3,dicom-30,30\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join(OUTPUTS_CSV)).unwrap(),
            "1,1.dcm\n2,2.dcm\n3,3.dcm\n"
        );
    }

    #[test]
    fn a_row_cut_short_is_dropped_and_written_again() {
        let (dir, path) = listing_of(&[(1, "dicom-10", 10)]);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"2,dic");
        std::fs::write(&path, bytes).unwrap();
        // The outputs went one batch further before the kill.
        let outputs = dir.path().join(OUTPUTS_CSV);
        let mut bytes = std::fs::read(&outputs).unwrap();
        bytes.extend_from_slice(b"2,2.dcm\n3,3.d");
        std::fs::write(&outputs, bytes).unwrap();
        let files = walk(&["dicom-10", "dicom-20"]);
        let listed = check_resumable(dir.path(), files, size_in_name).unwrap();
        assert_eq!(listed.rows, 1);
        resume_with(dir.path(), listed, &[(2, "dicom-20", 20, "2b.dcm")]);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "1,dicom-10,10\n2,dicom-20,20\n"
        );
        assert_eq!(
            std::fs::read_to_string(&outputs).unwrap(),
            "1,1.dcm\n2,2b.dcm\n"
        );
    }

    #[test]
    fn a_changed_source_is_refused_with_the_first_difference() {
        let (dir, _path) = listing_of(&[(1, "dicom-10", 10), (2, "dicom-20", 20)]);
        for (changed, says) in [
            // A DICOM file came in between.
            (
                &["dicom-10", "dicom-15", "dicom-20"][..],
                "SOURCE now has dicom-15",
            ),
            // One changed size.
            (&["dicom-10", "dicom-21"], "SOURCE now has dicom-21"),
            // One went away.
            (&["dicom-10"], "is no longer in SOURCE"),
        ] {
            let err = check_resumable(dir.path(), walk(changed), size_in_name).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("file 2 of _metadata.csv"), "{message}");
            assert!(message.contains(says), "{message}");
        }
    }

    #[test]
    fn cells_a_spreadsheet_would_evaluate_are_escaped_and_still_match() {
        let (dir, path) = listing_of(&[(1, "=dicom-10", 10)]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1,'=dicom-10,10\n");
        let sizes = |files: Vec<PathBuf>| files.into_iter().map(|f| (f, 10)).collect();
        let listed = check_resumable(dir.path(), walk(&["=dicom-10"]), sizes).unwrap();
        assert_eq!(listed.rows, 1);
    }

    #[test]
    fn previous_outputs_stay_inside_dest() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::write(
            dir.path().join(OUTPUTS_CSV),
            "1,1_001.dcm\n2,../outside.dcm\n3,/etc/passwd\n4,a/2_001.dcm\n",
        )
        .unwrap();
        assert_eq!(
            previous_outputs(dir.path()).unwrap(),
            [dir.path().join("1_001.dcm"), dir.path().join("a/2_001.dcm")]
        );
    }
}
