//! `verify`: after `anomize`, search every output for the PHI its own
//! source file holds, so that what a profile left behind is found by
//! value, wherever it ended up (another attribute, a nested item, a
//! private blob, the file name).
//!
//! For each `OK` row of `DEST/_out.csv`: read the source and collect its
//! identifying values ([`collect`]), read the whole output (pixel data
//! values skipped) and search every element and the output's path for them
//! ([`scan`]). The audit files themselves hold the originals by design and
//! are never searched; neither are files the audit does not list as `OK`.
//!
//! Sources are only opened for reading (without updating their access
//! time where the system allows). The library reports leaks with the
//! values they leak; whether to show those is the caller's choice.

mod audit;
mod collect;
mod path;
mod scan;

use std::path::{Path, PathBuf};

use dicom_core::VR;
use rayon::prelude::*;

pub use audit::{Audit, AuditError, AuditRow, LocateError, Located, is_audit_file, locate};
pub use collect::{MIN_NAME, MIN_TEXT, Matching, Needle, Origin, Part, PhiRules, collect};
pub use path::TagPath;
pub use scan::{Leak, Location, MIN_BINARY, MIN_PATH_DIGITS, Matcher, scan};

use crate::charset::printable;
use crate::engine::AUDIT_CSV;
use crate::metadata::{DicomHeader, Extent, MetadataError, read_file};

/// What to verify.
#[derive(Debug, Clone)]
pub struct Config {
    /// The folder `anomize` read.
    pub source: PathBuf,
    /// The folder `anomize` wrote.
    pub dest: PathBuf,
    /// Where its `_out.csv` is, when not in DEST (`anomize --audit-dir`).
    pub audit_dir: Option<PathBuf>,
    /// Count coincidences (see [`Leak::coincidence`]) as leaks too.
    pub strict: bool,
}

/// A problem that stops verification before any file is checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("source folder {}: {source}", path.display())]
    Source {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("destination folder {}: {source}", path.display())]
    Dest {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has no {AUDIT_CSV}: not the destination of an anomize run", path.display())]
    NoAudit { path: PathBuf },
    #[error("the audit is not usable: {0}")]
    Audit(#[from] AuditError),
}

/// Why one row of the audit could not be checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    #[error("cannot read this row of the audit: {0}")]
    Row(#[source] csv::Error),
    #[error("the source file: {0}")]
    LocateSource(#[source] LocateError),
    #[error("the output file: {0}")]
    LocateOutput(#[source] LocateError),
    #[error("names the audit file {}, which is not scanned", .0.display())]
    AuditFile(PathBuf),
    #[error("cannot read the source {0}")]
    ReadSource(#[source] MetadataError),
    #[error("cannot read the output {0}")]
    ReadOutput(#[source] MetadataError),
    #[error("too many values to search for: {0}")]
    Matcher(#[source] aho_corasick::BuildError),
}

/// The outcome of one `OK` row.
#[derive(Debug)]
pub struct FileCheck {
    /// The output relative to DEST as it can be shown on a terminal
    /// (control characters replaced), or what the audit says where the
    /// output could not be found.
    pub output: String,
    /// The row's line in `_out.csv`.
    pub line: u64,
    pub result: Result<Vec<Leak>, CheckError>,
}

/// Counts over a whole verification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// `OK` rows whose output was checked (or could not be).
    pub checked: u64,
    /// Outputs with at least one leak.
    pub with_leaks: u64,
    pub leaks: u64,
    /// Finds that are an attribute's own, unchanged value (not counted in
    /// `leaks` unless the run is strict).
    pub coincidences: u64,
    /// `OK` rows whose source or output could not be read.
    pub failed: u64,
    /// Rows not marked `OK`, not checked.
    pub not_ok: u64,
}

impl Summary {
    /// Whether every listed output was read and nothing leaked.
    pub fn clean(&self) -> bool {
        self.leaks == 0 && self.failed == 0
    }

    fn add(&mut self, check: &FileCheck, strict: bool) {
        self.checked += 1;
        match &check.result {
            Ok(leaks) => {
                let coincidences = leaks.iter().filter(|l| l.coincidence).count() as u64;
                let counted = if strict {
                    leaks.len() as u64
                } else {
                    leaks.len() as u64 - coincidences
                };
                self.coincidences += coincidences;
                self.leaks += counted;
                if counted > 0 {
                    self.with_leaks += 1;
                }
            }
            Err(_) => self.failed += 1,
        }
    }
}

/// Rows read and checked at a time: enough to keep every core busy,
/// few enough that a million-row audit is never held in memory.
const ROWS_PER_BATCH: usize = 256;

/// Verifies every `OK` row of `DEST/_out.csv`, calling `report` for each
/// in audit order (checks run in parallel on rayon's pool).
pub fn run(config: &Config, report: &mut dyn FnMut(&FileCheck)) -> Result<Summary, VerifyError> {
    let source = folder(&config.source).map_err(|source| VerifyError::Source {
        path: config.source.clone(),
        source,
    })?;
    let dest = folder(&config.dest).map_err(|source| VerifyError::Dest {
        path: config.dest.clone(),
        source,
    })?;
    let audit_path = config.audit_dir.as_deref().unwrap_or(&dest).join(AUDIT_CSV);
    if !audit_path.is_file() {
        return Err(VerifyError::NoAudit {
            path: audit_path.parent().unwrap_or(&dest).to_path_buf(),
        });
    }
    let mut audit = Audit::open(&audit_path)?;
    let rules = PhiRules::default();
    let mut summary = Summary::default();
    loop {
        let batch: Vec<_> = std::iter::from_fn(|| audit.next_row())
            .take(ROWS_PER_BATCH)
            .collect();
        if batch.is_empty() {
            break;
        }
        let checks: Vec<Option<FileCheck>> = batch
            .into_par_iter()
            .map(|row| check_row(row, &source, &dest, &rules))
            .collect();
        for check in checks {
            match check {
                Some(check) => {
                    summary.add(&check, config.strict);
                    report(&check);
                }
                None => summary.not_ok += 1,
            }
        }
    }
    Ok(summary)
}

/// A folder given on the command line, canonical (the audit's paths are).
fn folder(path: &Path) -> std::io::Result<PathBuf> {
    let canonical = path.canonicalize()?;
    if canonical.is_dir() {
        Ok(canonical)
    } else {
        Err(std::io::Error::other("not a folder"))
    }
}

/// Checks one audit row; `None` for a row not marked `OK`, and for an
/// `OK` row without an output file (one an earlier run exported, a
/// DICOMDIR whose outputs could not be a file-set): nothing to search.
fn check_row(
    row: Result<AuditRow, csv::Error>,
    source_root: &Path,
    dest: &Path,
    rules: &PhiRules,
) -> Option<FileCheck> {
    let row = match row {
        Ok(row) if !row.ok || row.destination_file.is_empty() => return None,
        Ok(row) => row,
        Err(err) => {
            let line = err.position().map_or(0, |p| p.line());
            return Some(FileCheck {
                output: format!("{AUDIT_CSV} line {line}"),
                line,
                result: Err(CheckError::Row(err)),
            });
        }
    };
    let listed = if row.destination_file.is_empty() {
        format!("{AUDIT_CSV} line {}", row.line)
    } else {
        printable(&row.destination_file)
    };
    let fail = |output: String, err: CheckError| FileCheck {
        output,
        line: row.line,
        result: Err(err),
    };
    let output = match locate(dest, &row.destination_file) {
        Ok(output) => output,
        Err(err) => return Some(fail(listed, CheckError::LocateOutput(err))),
    };
    let relative = relative_text(&output.relative);
    let shown = printable(&relative);
    if is_audit_file(&output.relative) {
        return Some(fail(shown, CheckError::AuditFile(output.relative)));
    }
    let source = match locate(source_root, &row.source_file) {
        Ok(source) => source,
        Err(err) => return Some(fail(shown, CheckError::LocateSource(err))),
    };
    Some(FileCheck {
        output: shown,
        line: row.line,
        result: check_file(&source.path, &output.path, &relative, rules),
    })
}

/// A relative path with `/` between its parts on every system.
fn relative_text(relative: &Path) -> String {
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Searches `output` (whose path relative to DEST is `relative`) for the
/// PHI of `source`.
pub fn check_file(
    source: &Path,
    output: &Path,
    relative: &str,
    rules: &PhiRules,
) -> Result<Vec<Leak>, CheckError> {
    let original = read_file(source, Extent::AllButPixels).map_err(CheckError::ReadSource)?;
    let needles = collect(&original, rules);
    let written = read_file(output, Extent::AllButPixels).map_err(CheckError::ReadOutput)?;
    let mut leaks = scan(&written, relative, &needles).map_err(CheckError::Matcher)?;
    for leak in &mut leaks {
        leak.coincidence = is_coincidence(leak, &original, &written, rules);
    }
    Ok(leaks)
}

/// Whether a find is an attribute's own value rather than a copy of PHI:
/// the attribute is a short label (LO, SH, CS, AE: not a name, not free
/// text, not a path or address made of other values) that the standard's
/// table does not list as identifying, and it stands unchanged at the
/// same place in the source (`TOSHIBA_MEC` as Manufacturer when the
/// institution is TOSHIBA).
fn is_coincidence(
    leak: &Leak,
    original: &DicomHeader,
    written: &DicomHeader,
    rules: &PhiRules,
) -> bool {
    let Location::Element(path) = &leak.location else {
        return false;
    };
    if rules.listed_by_the_standard(path.tag) || PATHS.contains(&path.tag) {
        return false;
    }
    match (path.find(original), path.find(written)) {
        (Some(before), Some(after)) => {
            matches!(after.vr, VR::LO | VR::SH | VR::CS | VR::AE) && before.value == after.value
        }
        _ => false,
    }
}

/// Attributes that hold paths and addresses, which are made of other
/// values (a DICOMDIR's file IDs are often named after the patient ID):
/// a find in them is never a coincidence.
const PATHS: [dicom_core::Tag; 3] = [
    dicom_core::Tag(0x0004, 0x1500), // ReferencedFileID
    dicom_core::Tag(0x0008, 0x1190), // RetrieveURL
    dicom_core::Tag(0x0040, 0xE010), // RetrieveURI
];
