//! The DICOMDIRs of SOURCE, made anew for DEST once every output exists.
//!
//! A DICOMDIR is listed and numbered in walk order like any file, but not
//! rewritten: its records name files of SOURCE, by paths and values that
//! the run changes. When the last output is written, each source
//! DICOMDIR's file records are followed to the files they name, those to
//! their outputs through the run's own listing (`_metadata.csv` and
//! `_outputs.csv`, the numbering the run did), and a new DICOMDIR is made
//! from the outputs ([`crate::dicomdir`]). It goes in the deepest folder
//! of DEST that holds all of its outputs, named `DICOMDIR`; source
//! DICOMDIRs whose outputs share that folder make one file-set together.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::listing::ListingFiles;
use super::rewrite::partial_path;
use super::{FileError, METADATA_CSV, OUTPUTS_CSV, PlannedFile, QUARANTINE};
use crate::dest;
use crate::dicomdir::{
    DICOMDIR, DirectoryError, Dropped, FileRecord, FileSet, NotMade, Records, common_folder,
    make_file_set, records_of,
};
use crate::pathtext::path_to_text;
use crate::sink::from_csv_cell;

/// What making the DICOMDIRs of a run needs.
pub struct DirectoryWork<'a> {
    pub dest: &'a Path,
    /// Where `_metadata.csv` is.
    pub audit_dir: &'a Path,
    pub listing: &'a ListingFiles,
    /// Replace what sits at a DICOMDIR's name (`--overwrite`, `--resume`);
    /// a fresh run never replaces a file.
    pub replace: bool,
    /// A cancelled run makes no DICOMDIR: `--resume` does.
    pub cancel: &'a AtomicBool,
}

/// What became of one source DICOMDIR, for its audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// The new DICOMDIR, when one was written.
    pub output: Option<PathBuf>,
    /// What was made, or why nothing was.
    pub note: String,
}

/// Where a file record's source file went in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    Output(PathBuf),
    NotInSource,
    Failed,
}

/// Makes the new DICOMDIRs of `directories` (source DICOMDIRs of this
/// run, in `_metadata.csv` order); `not_written` holds the sequence
/// numbers of files without an output of this run (failed, exported
/// before). One result per DICOMDIR, in order.
pub fn rebuild(
    work: &DirectoryWork<'_>,
    directories: &[PlannedFile],
    not_written: &HashSet<usize>,
) -> Vec<Result<Rebuilt, FileError>> {
    let read: Vec<Result<Records, DirectoryError>> = directories
        .iter()
        .enumerate()
        .map(|(i, planned)| records_of(&planned.source, i))
        .collect();
    let fates = match fates_of(work, &read, not_written) {
        Ok(fates) => fates,
        Err(err) => {
            let reason = format!("the run's listing cannot be read: {err}");
            return directories
                .iter()
                .map(|_| Err(FileError::Directory(reason.clone())))
                .collect();
        }
    };
    let mut results: Vec<Option<Result<Rebuilt, FileError>>> =
        directories.iter().map(|_| None).collect();
    // Per source DICOMDIR: the records that lead to an output, and those
    // dropped; DICOMDIRs by the folder their outputs share.
    let mut kept: Vec<(Vec<(&FileRecord, &Path)>, Dropped)> = Vec::new();
    let mut by_folder: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
    for (i, records) in read.iter().enumerate() {
        let (members, dropped) = match records {
            Ok(records) => members_of(records, &fates),
            Err(err) => {
                results[i] = Some(Err(FileError::Directory(err.to_string())));
                (Vec::new(), Dropped::default())
            }
        };
        if let Ok(records) = records {
            if members.is_empty() {
                let total = records.files.len() + records.misplaced;
                results[i] = Some(Ok(Rebuilt {
                    output: None,
                    note: format!(
                        "DICOMDIR: no DICOMDIR written, none of its {total} file records points at an output of this run{}",
                        dropped_note(&dropped)
                    ),
                }));
            } else {
                let folder = common_folder(members.iter().map(|(_, output)| *output));
                by_folder.entry(folder).or_default().push(i);
            }
        }
        kept.push((members, dropped));
    }
    for (folder, group) in by_folder {
        let members: Vec<(&FileRecord, &Path)> = group
            .iter()
            .flat_map(|&i| kept[i].0.iter().copied())
            .collect();
        let seqs: Vec<usize> = group.iter().map(|&i| directories[i].seq).collect();
        let outcome = make_and_write(work, &folder, &members, &seqs);
        for (n, &i) in group.iter().enumerate() {
            let mut dropped = kept[i].1;
            results[i] = Some(match &outcome {
                Made::Written {
                    path,
                    file_set,
                    duplicates,
                } => {
                    if n == 0 {
                        dropped.add(*duplicates);
                    }
                    Ok(Rebuilt {
                        output: Some(path.clone()),
                        note: rebuilt_note(file_set, group.len() - 1, &dropped),
                    })
                }
                Made::NotFileSet(reason) => Ok(Rebuilt {
                    output: None,
                    note: format!(
                        "DICOMDIR: no DICOMDIR written, the output layout cannot be a DICOM file-set ({reason}); choose an output template of upper-case names of up to 8 characters, at most 8 levels{}",
                        dropped_note(&dropped)
                    ),
                }),
                Made::Failed(reason) => Err(FileError::Directory(reason.clone())),
            });
        }
    }
    results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| Err(FileError::Internal("DICOMDIR left out".into())))
        })
        .collect()
}

/// The file records of a source DICOMDIR that lead to an output, and how
/// many were dropped, by reason.
fn members_of<'a>(
    records: &'a Records,
    fates: &'a HashMap<String, Fate>,
) -> (Vec<(&'a FileRecord, &'a Path)>, Dropped) {
    let mut dropped = Dropped {
        misplaced: records.misplaced,
        ..Dropped::default()
    };
    let mut members = Vec::new();
    for record in &records.files {
        match fates.get(path_to_text(&record.source).as_ref()) {
            Some(Fate::Output(output)) => members.push((record, output.as_path())),
            Some(Fate::Failed) => dropped.failed += 1,
            Some(Fate::NotInSource) | None => dropped.not_in_source += 1,
        }
    }
    (members, dropped)
}

/// What came of one new DICOMDIR (one per folder).
enum Made {
    Written {
        path: PathBuf,
        file_set: FileSet,
        duplicates: Dropped,
    },
    /// The outputs' paths cannot be file IDs (why).
    NotFileSet(String),
    /// Reading the outputs or writing the DICOMDIR failed (why).
    Failed(String),
}

/// Makes the DICOMDIR of `members` in `folder` of DEST and writes it,
/// listed for the source DICOMDIRs numbered `seqs`.
fn make_and_write(
    work: &DirectoryWork<'_>,
    folder: &Path,
    members: &[(&FileRecord, &Path)],
    seqs: &[usize],
) -> Made {
    match make_file_set(work.dest, folder, members) {
        Ok((file_set, duplicates)) => {
            let path = work.dest.join(folder).join(DICOMDIR);
            match write_directory(work, &path, &file_set, seqs) {
                Ok(()) => Made::Written {
                    path,
                    file_set,
                    duplicates,
                },
                Err(err) => Made::Failed(err.to_string()),
            }
        }
        Err(NotMade::Layout(reason)) => Made::NotFileSet(reason),
        Err(err) => Made::Failed(err.to_string()),
    }
}

/// The audit note of a DICOMDIR made anew.
fn rebuilt_note(file_set: &FileSet, others: usize, dropped: &Dropped) -> String {
    let shared = if others > 0 {
        format!("; one file-set with {others} other DICOMDIR(s) of SOURCE")
    } else {
        String::new()
    };
    format!(
        "DICOMDIR rebuilt for DEST: {} patient(s), {} study(ies), {} series, {} file(s){shared}{}",
        file_set.patients,
        file_set.studies,
        file_set.series,
        file_set.files,
        dropped_note(dropped)
    )
}

fn dropped_note(dropped: &Dropped) -> String {
    if dropped.total() == 0 {
        String::new()
    } else {
        format!("; {dropped}")
    }
}

/// Where the files the records of `read` name went: found in the run's
/// listing by their source path (exactly, else ignoring case: file IDs are
/// upper case, and media copied to Linux often are not).
fn fates_of(
    work: &DirectoryWork<'_>,
    read: &[Result<Records, DirectoryError>],
    not_written: &HashSet<usize>,
) -> Result<HashMap<String, Fate>, String> {
    let wanted: HashSet<String> = read
        .iter()
        .flatten()
        .flat_map(|records| &records.files)
        .map(|record| path_to_text(&record.source).into_owned())
        .collect();
    let by_lower_case: HashMap<String, &String> = wanted
        .iter()
        .map(|text| (text.to_lowercase(), text))
        .collect();
    let mut seq_of: HashMap<usize, &String> = HashMap::new();
    for_each_row(&work.audit_dir.join(METADATA_CSV), |seq, source| {
        let found = wanted
            .get(source)
            .or_else(|| by_lower_case.get(&source.to_lowercase()).copied());
        if let Some(text) = found {
            seq_of.insert(seq, text);
        }
    })?;
    let mut fates: HashMap<String, Fate> = wanted
        .iter()
        .map(|text| (text.clone(), Fate::NotInSource))
        .collect();
    for text in seq_of.values() {
        fates.insert((*text).clone(), Fate::Failed);
    }
    for_each_row(&work.dest.join(OUTPUTS_CSV), |seq, output| {
        let Some(&text) = seq_of.get(&seq) else {
            return;
        };
        let relative = PathBuf::from(output);
        let plain = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        let quarantined = relative.starts_with(QUARANTINE);
        let written = !not_written.contains(&seq)
            && plain
            && !quarantined
            && dest::entry_exists(&work.dest.join(&relative));
        if written {
            fates.insert(text.clone(), Fate::Output(relative));
        }
    })?;
    Ok(fates)
}

/// Calls `row` with the sequence number and second cell of every complete
/// row of a listing file.
fn for_each_row(path: &Path, mut row: impl FnMut(usize, &str)) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = dest::open_for_reading(path).map_err(|e| fail(&e))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::BufReader::new(file));
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(|e| fail(&e))? {
        let seq = from_csv_cell(record.get(0).unwrap_or_default()).parse();
        if let (Ok(seq), Some(cell)) = (seq, record.get(1)) {
            row(seq, from_csv_cell(cell));
        }
    }
    Ok(())
}

/// Writes a new DICOMDIR at `path` as outputs are written: listed in
/// `_outputs.csv` first (so that `--overwrite` finds it), under a hidden
/// name, then renamed into place without replacing anything.
fn write_directory(
    work: &DirectoryWork<'_>,
    path: &Path,
    file_set: &FileSet,
    seqs: &[usize],
) -> Result<(), FileError> {
    let relative = path.strip_prefix(work.dest).unwrap_or(path);
    for &seq in seqs {
        work.listing
            .add_output(seq, &path_to_text(relative))
            .map_err(|reason| FileError::Output {
                path: work.dest.join(OUTPUTS_CSV),
                source: std::io::Error::other(reason),
            })?;
    }
    if dest::entry_exists(path) {
        if !work.replace {
            return Err(FileError::OutputExists {
                path: path.to_path_buf(),
            });
        }
        dest::remove_entry(path).map_err(|source| FileError::Output {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let partial = partial_path(path);
    let written = dest::create_private(&partial)
        .and_then(|mut file| file.write_all(&file_set.bytes))
        .map_err(|source| FileError::Output {
            path: path.to_path_buf(),
            source,
        })
        .and_then(|()| check_written(&partial, file_set.files))
        .and_then(|()| {
            dest::rename_no_replace(&partial, path).map_err(|source| FileError::Output {
                path: path.to_path_buf(),
                source,
            })
        });
    if written.is_err() {
        let _ = dest::remove_entry(&partial);
    }
    written
}

/// Reads the DICOMDIR just written at `partial` back as a source DICOMDIR
/// is read: its offsets must lead to `files` file records, every one below
/// PATIENT, STUDY and SERIES records and naming a file that exists.
fn check_written(partial: &Path, files: usize) -> Result<(), FileError> {
    let internal = |what: String| FileError::Internal(format!("the new DICOMDIR {what}"));
    let records = records_of(partial, 0).map_err(|e| internal(format!("cannot be read: {e}")))?;
    if records.files.len() != files || records.misplaced > 0 {
        return Err(internal(format!(
            "leads to {} file records ({} misplaced), not {files}",
            records.files.len(),
            records.misplaced
        )));
    }
    match records.files.iter().find(|r| !r.source.is_file()) {
        Some(missing) => Err(internal(format!(
            "names {}, which is not a file",
            missing.source.display()
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use dicom_core::VR;
    use dicom_dictionary_std::tags;

    use super::*;
    use crate::dicomdir::{Encoded, Record, encode_directory};

    fn record(record_type: &str, elements: Vec<Encoded>, children: Vec<Record>) -> Record {
        Record {
            record_type: record_type.into(),
            elements,
            children,
        }
    }

    /// A DICOMDIR with one image record naming `file_id`.
    fn one_image(file_id: &[u8]) -> Vec<u8> {
        let image = record(
            "IMAGE",
            vec![Encoded::new(tags::REFERENCED_FILE_ID, VR::CS, file_id).unwrap()],
            Vec::new(),
        );
        let series = record("SERIES", Vec::new(), vec![image]);
        let study = record("STUDY", Vec::new(), vec![series]);
        encode_directory(&[record("PATIENT", Vec::new(), vec![study])]).unwrap()
    }

    #[test]
    fn a_written_directory_is_read_back_before_it_is_kept() {
        let dir = tempfile::TempDir::new().unwrap();
        let partial = dir.path().join(".DICOMDIR.partial");
        std::fs::write(dir.path().join("IM1"), b"an output").unwrap();
        std::fs::write(&partial, one_image(b"IM1 ")).unwrap();
        check_written(&partial, 1).unwrap();
        // Another count of files than was made, or a file that is not
        // there, and it is not kept.
        let err = check_written(&partial, 2).unwrap_err().to_string();
        assert!(err.contains("leads to 1 file records"), "{err}");
        std::fs::write(&partial, one_image(b"IM2 ")).unwrap();
        let err = check_written(&partial, 1).unwrap_err().to_string();
        assert!(err.contains("IM2, which is not a file"), "{err}");
    }
}
