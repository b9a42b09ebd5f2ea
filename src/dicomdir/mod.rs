//! DICOMDIR: a DICOMDIR of SOURCE read, and a new one made for DEST.
//!
//! A DICOMDIR is not an image to de-identify: its records describe files
//! by their paths and values, and both change in a run. The engine keeps
//! it out of the rewrite; once every output exists it asks this module for
//! a new DICOMDIR whose records point at the outputs of the files the old
//! records pointed at, with the values those outputs hold (PS3.10 file-set,
//! PS3.3 Annex F).
//!
//! - [`records_of`] reads a source DICOMDIR's file records (IMAGE, SR
//!   DOCUMENT ...) with the PATIENT, STUDY and SERIES records above them.
//! - [`make_file_set`] makes the new DICOMDIR's bytes for the outputs those
//!   records resolved to, or says why the outputs cannot be a file-set.

mod build;
mod encode;
pub mod fileid;
mod read;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use dicom_core::Tag;

pub use build::{LEVELS, Leaf, ReferencedFile, SourceLevel, build, wanted};
pub use encode::{Encoded, Record, encode_directory};
pub use read::{Placed, SourceDirectory, SourceRecord};

use crate::codec::StreamError;

/// The name of a DICOMDIR in the root folder of its file-set (PS3.10 §8.6).
pub const DICOMDIR: &str = "DICOMDIR";

/// Why a DICOMDIR could not be read or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Stream(#[from] StreamError),
    #[error("{0}")]
    Invalid(String),
}

/// A file record of a source DICOMDIR (one with a Referenced File ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// The source file it points at (its file ID below the DICOMDIR's folder).
    pub source: PathBuf,
    pub record_type: String,
    /// The tags of its attributes outside group 0004.
    pub tags: Vec<Tag>,
    /// Its PATIENT, STUDY and SERIES records.
    pub levels: [SourceLevel; 3],
}

/// The file records of a source DICOMDIR.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    pub files: Vec<FileRecord>,
    /// File records that are not below a PATIENT, a STUDY and a SERIES
    /// record: a new DICOMDIR cannot place them.
    pub misplaced: usize,
}

/// Reads the file records of the DICOMDIR at `path`; `directory` tells
/// the records of this DICOMDIR from those of others in one run.
pub fn records_of(path: &Path, directory: usize) -> Result<Records, DirectoryError> {
    let source = SourceDirectory::read(path)?;
    let folder = path.parent().unwrap_or(Path::new(""));
    let mut records = Records::default();
    for placed in source.hierarchy()? {
        let record = &source.records[placed.record];
        let Some(file_id) = &record.file_id else {
            continue;
        };
        let above: Vec<&SourceRecord> = placed
            .ancestors
            .iter()
            .map(|&i| &source.records[i])
            .collect();
        let types: Vec<&str> = above.iter().map(|r| r.record_type.as_str()).collect();
        if types != LEVELS || file_id.iter().any(|c| c == ".." || c == ".") {
            records.misplaced += 1;
            continue;
        }
        let level = |i: usize| SourceLevel {
            id: (directory, placed.ancestors[i]),
            tags: above[i].tags.clone(),
        };
        records.files.push(FileRecord {
            source: file_id.iter().fold(folder.to_path_buf(), |p, c| p.join(c)),
            record_type: record.record_type.clone(),
            tags: record.tags.clone(),
            levels: [level(0), level(1), level(2)],
        });
    }
    Ok(records)
}

/// Records left out of a new DICOMDIR, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// The file is not in SOURCE (or is not a DICOM file there).
    pub not_in_source: usize,
    /// The file failed, or has no output of this run.
    pub failed: usize,
    /// Not below PATIENT, STUDY and SERIES records.
    pub misplaced: usize,
    /// A second record of the same file.
    pub duplicates: usize,
}

impl Dropped {
    pub fn total(&self) -> usize {
        self.not_in_source + self.failed + self.misplaced + self.duplicates
    }

    pub fn add(&mut self, other: Dropped) {
        self.not_in_source += other.not_in_source;
        self.failed += other.failed;
        self.misplaced += other.misplaced;
        self.duplicates += other.duplicates;
    }
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reasons: Vec<String> = [
            (self.not_in_source, "whose file is not in SOURCE"),
            (self.failed, "whose file failed or was not written"),
            (self.misplaced, "not below PATIENT/STUDY/SERIES records"),
            (self.duplicates, "repeating another record's file"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, why)| format!("{n} {why}"))
        .collect();
        let total = self.total();
        let plural = if total == 1 { "record" } else { "records" };
        write!(f, "{total} {plural} dropped ({})", reasons.join(", "))
    }
}

/// A new DICOMDIR, made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSet {
    pub bytes: Vec<u8>,
    pub patients: usize,
    pub studies: usize,
    pub series: usize,
    pub files: usize,
}

/// Why no DICOMDIR is made for a set of outputs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotMade {
    /// The outputs' paths cannot be file IDs: the template's choice.
    #[error("the output layout cannot be a DICOM file-set: {0}")]
    Layout(String),
    #[error("{0}")]
    Failed(#[from] DirectoryError),
}

/// The folder of DEST (relative) that holds every one of `outputs`
/// (paths relative to DEST): where their DICOMDIR goes.
pub fn common_folder<'a>(outputs: impl IntoIterator<Item = &'a Path>) -> PathBuf {
    let mut common: Option<PathBuf> = None;
    for output in outputs {
        let folder = output.parent().unwrap_or(Path::new(""));
        common = Some(match common {
            None => folder.to_path_buf(),
            Some(common) => common
                .components()
                .zip(folder.components())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    common.unwrap_or_default()
}

/// Makes the DICOMDIR of the file-set rooted at `folder` of `dest` that
/// holds `members`: each a file record and its output (relative to
/// DEST, below `folder`). Records of the same output after the first are
/// dropped as duplicates.
pub fn make_file_set(
    dest: &Path,
    folder: &Path,
    members: &[(&FileRecord, &Path)],
) -> Result<(FileSet, Dropped), NotMade> {
    let mut dropped = Dropped::default();
    let mut seen = BTreeSet::new();
    let mut placed = Vec::with_capacity(members.len());
    for &(record, output) in members {
        if !seen.insert(output) {
            dropped.duplicates += 1;
            continue;
        }
        let relative = output.strip_prefix(folder).map_err(|_| {
            NotMade::Layout(format!(
                "{} is outside {}",
                output.display(),
                folder.display()
            ))
        })?;
        let file_id = fileid::file_id(relative).map_err(NotMade::Layout)?;
        placed.push((record, output, file_id));
    }
    let mut leaves = Vec::with_capacity(placed.len());
    for (record, output, file_id) in placed {
        let level_tags: Vec<&[Tag]> = record.levels.iter().map(|l| l.tags.as_slice()).collect();
        let mut tags_of_records = level_tags;
        tags_of_records.push(&record.tags);
        let wanted = wanted(&record.record_type, &tags_of_records);
        let file = ReferencedFile::read(&dest.join(output), file_id, &wanted)?;
        leaves.push(Leaf {
            levels: record.levels.clone(),
            record_type: record.record_type.clone(),
            tags: record.tags.clone(),
            file,
        });
    }
    let roots = build(&leaves);
    let studies: usize = roots.iter().map(|p| p.children.len()).sum();
    let series: usize = roots
        .iter()
        .flat_map(|p| &p.children)
        .map(|s| s.children.len())
        .sum();
    let bytes = encode_directory(&roots)?;
    Ok((
        FileSet {
            bytes,
            patients: roots.len(),
            studies,
            series,
            files: leaves.len(),
        },
        dropped,
    ))
}
