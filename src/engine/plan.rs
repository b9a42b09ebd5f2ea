//! Numbering: sequence, patient index, image, study and series numbers,
//! all from the walk order alone.
//!
//! A patient is whoever the profile's patient key names (Patient ID by
//! default). A file whose key is empty is identified by the key's
//! fallback, or by default is a patient of its own: files without an ID
//! cannot be told apart, and merging them would link unrelated images.
//! Who hands out the indices and image numbers is an [`Assigner`]: the run
//! itself ([`RunAssigner`], 1, 2, 3 ... per run) or a registry that keeps
//! them across runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::HeaderFacts;
use super::burned_in::BurnedInRisk;
use crate::codec::Layout;
use crate::profile::{Fallback, KeyAttribute, PathNumbers, PatientKey};
use crate::registry::PatientIdentity;

/// One DICOM file with its numbers.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// 1-based position in `_metadata.csv`.
    pub seq: usize,
    pub source: PathBuf,
    pub layout: Layout,
    pub size: u64,
    /// Patient's Name as decoded for the audit (shared between files).
    pub patient_name: Arc<str>,
    /// Patient ID as decoded for the audit (shared between files).
    pub patient_id: Arc<str>,
    pub patient_index: Option<u32>,
    /// The numbers the output path is made from.
    pub numbers: Option<PathNumbers>,
    /// The output path relative to DEST, made once from the numbers when
    /// the file is listed.
    pub output: Option<PathBuf>,
    /// Why the file cannot be processed, found by the scan.
    pub problem: Option<Box<str>>,
    /// Whether its pixels may hold burned-in text.
    pub burned_in: BurnedInRisk,
    /// How the file was tied to its patient when its key was empty.
    pub key_note: KeyNote,
    /// Set when a registry says this file was exported by an earlier run
    /// (where to, in words): it is not written again.
    pub exported_before: Option<Box<str>>,
    /// A DICOMDIR: not numbered (it is no patient's image) and not
    /// rewritten; a new one is made for DEST at the end of the run.
    pub directory: bool,
}

impl PlannedFile {
    /// The full source path as text; a name that is not UTF-8 is escaped
    /// so that it reads back (see [`crate::pathtext`]).
    pub fn source_display(&self) -> std::borrow::Cow<'_, str> {
        crate::pathtext::path_to_text(&self.source)
    }
}

/// How a file was tied to its patient, for the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyNote {
    /// By its key.
    #[default]
    Key,
    /// Its key was empty: by the fallback attributes.
    Fallback,
    /// Its key (and fallback) was empty: a patient of its own.
    Own,
}

impl KeyNote {
    /// The audit's `patient_key` column: empty for the usual case.
    pub fn describe(self, key: &PatientKey) -> String {
        let first = key.key.first().map_or("", |a| a.keyword());
        match self {
            KeyNote::Key => String::new(),
            KeyNote::Fallback => format!("{first} empty: patient found by the fallback"),
            KeyNote::Own => format!("{first} empty: a patient index of its own"),
        }
    }
}

/// Who a file belongs to, as the assigner is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity<'a> {
    /// The values of the key (or fallback) attributes.
    Key(String),
    /// A patient of its own: the file, by its SOP Instance UID if it has
    /// one (so that a registry knows it again), else its path.
    Own {
        instance: Option<&'a [u8]>,
        source: &'a Path,
    },
}

impl Identity<'_> {
    /// The identity as a registry stores it.
    pub fn for_registry(&self) -> PatientIdentity<'_> {
        match self {
            Identity::Key(text) => PatientIdentity::Key(text),
            Identity::Own {
                instance: Some(uid),
                ..
            } => PatientIdentity::OwnInstance(uid),
            Identity::Own { source, .. } => {
                PatientIdentity::OwnFile(source.as_os_str().as_encoded_bytes())
            }
        }
    }
}

/// A patient index and image number for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub patient_index: u32,
    pub image_number: u32,
    /// The file was exported by an earlier run (where to, in words).
    pub exported_before: Option<String>,
}

impl From<crate::registry::Assigned> for Assignment {
    fn from(assigned: crate::registry::Assigned) -> Assignment {
        Assignment {
            patient_index: assigned.patient_index,
            image_number: assigned.image_number,
            exported_before: assigned.exported_before,
        }
    }
}

/// Hands out patient indices and image numbers, in walk order.
pub trait Assigner {
    fn assign(
        &mut self,
        seq: usize,
        identity: &Identity<'_>,
        instance: Option<&[u8]>,
    ) -> Result<Assignment, String>;
}

/// Indices and image numbers of one run: 1, 2, 3 ... in order of first
/// appearance.
#[derive(Debug, Default)]
pub struct RunAssigner {
    /// Key → (patient index, images so far).
    patients: HashMap<String, (u32, u32)>,
    /// Patients so far, keyed or not.
    count: u32,
}

impl Assigner for RunAssigner {
    fn assign(
        &mut self,
        _seq: usize,
        identity: &Identity<'_>,
        _instance: Option<&[u8]>,
    ) -> Result<Assignment, String> {
        let (patient_index, image_number) = match identity {
            Identity::Key(key) => {
                let next = self.count + 1;
                let (index, images) = self.patients.entry(key.clone()).or_insert((next, 0));
                if *index == next {
                    self.count = next;
                }
                *images += 1;
                (*index, *images)
            }
            Identity::Own { .. } => {
                self.count += 1;
                (self.count, 1)
            }
        };
        Ok(Assignment {
            patient_index,
            image_number,
            exported_before: None,
        })
    }
}

/// What the run keeps per patient index: study and series numbers, and
/// the name and ID the audit shows.
#[derive(Default)]
struct Patient {
    id: Arc<str>,
    /// The last name seen, shared by the following files that repeat it.
    name: Arc<str>,
    /// Study UID → (study number, series UID → series number).
    studies: HashMap<String, (u32, HashMap<String, u32>)>,
}

/// Numbers DICOM files one at a time, in walk order; it keeps one entry
/// per patient, study and series of the run, nothing per file.
pub struct Planner {
    key: PatientKey,
    files: usize,
    patients: HashMap<u32, Patient>,
}

impl Planner {
    pub fn new(key: PatientKey) -> Planner {
        Planner {
            key,
            files: 0,
            patients: HashMap::new(),
        }
    }

    /// Numbers the next DICOM file: its header facts, or why they could
    /// not be read. `Err` when the assigner failed (a registry that cannot
    /// be written): the file is not numbered.
    pub fn number(
        &mut self,
        source: PathBuf,
        layout: Layout,
        size: u64,
        header: Result<&HeaderFacts, &str>,
        assigner: &mut dyn Assigner,
    ) -> Result<PlannedFile, String> {
        let facts = match header {
            Ok(facts) => facts,
            Err(problem) => return Ok(self.unreadable(source, layout, size, problem)),
        };
        if facts.is_directory {
            return Ok(self.directory(source, layout, size));
        }
        let instance = facts.sop_uids.instance.as_deref();
        let (identity, key_note) = identify(&self.key, facts, instance, &source);
        let claim = Claim {
            identity,
            key_note,
            instance,
            study: &facts.study_uid,
            series: &facts.series_uid,
            burned_in: facts.burned_in,
        };
        let mut file = self.number_claimed(source.clone(), layout, size, claim, assigner)?;
        let patient = self
            .patients
            .entry(file.patient_index.unwrap_or(0))
            .or_default();
        if *patient.id != *facts.patient_id {
            patient.id = Arc::from(facts.patient_id.as_str());
        }
        if *patient.name != *facts.patient_name {
            patient.name = Arc::from(facts.patient_name.as_str());
        }
        file.patient_name = Arc::clone(&patient.name);
        file.patient_id = Arc::clone(&patient.id);
        Ok(file)
    }

    /// Lists the next DICOM file as one whose header could not be read.
    pub fn unreadable(
        &mut self,
        source: PathBuf,
        layout: Layout,
        size: u64,
        problem: &str,
    ) -> PlannedFile {
        let mut file = self.next_file(source, layout, size);
        file.problem = Some(problem.into());
        file
    }

    /// Lists the next DICOM file as a DICOMDIR (not numbered).
    pub fn directory(&mut self, source: PathBuf, layout: Layout, size: u64) -> PlannedFile {
        let mut file = self.next_file(source, layout, size);
        file.directory = true;
        file
    }

    /// Numbers the next DICOM file from who it belongs to, as [`identify`]
    /// found it (the header itself may have been read on another machine:
    /// see `engine::stages`). The patient's name and ID are left empty.
    pub fn number_claimed(
        &mut self,
        source: PathBuf,
        layout: Layout,
        size: u64,
        claim: Claim<'_>,
        assigner: &mut dyn Assigner,
    ) -> Result<PlannedFile, String> {
        let mut file = self.next_file(source, layout, size);
        file.burned_in = claim.burned_in;
        file.key_note = claim.key_note;
        let assigned = assigner.assign(file.seq, &claim.identity, claim.instance)?;
        let patient = self.patients.entry(assigned.patient_index).or_default();
        let study_count = patient.studies.len() as u32;
        let (study, series_map) = patient
            .studies
            .entry(claim.study.to_string())
            .or_insert_with(|| (study_count + 1, HashMap::new()));
        let series_count = series_map.len() as u32;
        let series = *series_map
            .entry(claim.series.to_string())
            .or_insert(series_count + 1);
        file.numbers = Some(PathNumbers {
            patient_index: assigned.patient_index,
            image_number: assigned.image_number,
            study: *study,
            series,
        });
        file.patient_index = Some(assigned.patient_index);
        file.exported_before = assigned.exported_before.map(Into::into);
        Ok(file)
    }

    fn next_file(&mut self, source: PathBuf, layout: Layout, size: u64) -> PlannedFile {
        self.files += 1;
        PlannedFile {
            seq: self.files,
            source,
            layout,
            size,
            patient_name: Arc::from(""),
            patient_id: Arc::from(""),
            patient_index: None,
            numbers: None,
            output: None,
            problem: None,
            burned_in: BurnedInRisk::None,
            key_note: KeyNote::Key,
            exported_before: None,
            directory: false,
        }
    }

    /// DICOM files numbered so far.
    pub fn files(&self) -> usize {
        self.files
    }

    /// Patients seen so far.
    pub fn patients(&self) -> u32 {
        self.patients.len() as u32
    }
}

/// What numbering needs to know of one readable file.
pub struct Claim<'a> {
    pub identity: Identity<'a>,
    pub key_note: KeyNote,
    /// Its SOP Instance UID (a registry knows files by it).
    pub instance: Option<&'a [u8]>,
    /// Its study and series, told apart within the patient (by UID, or
    /// anything that is equal exactly when the UIDs are).
    pub study: &'a str,
    pub series: &'a str,
    pub burned_in: BurnedInRisk,
}

/// Who `facts` belong to under `key`.
pub fn identify<'a>(
    key: &PatientKey,
    facts: &HeaderFacts,
    instance: Option<&'a [u8]>,
    source: &'a Path,
) -> (Identity<'a>, KeyNote) {
    if let Some(values) = key_text(&key.key, facts) {
        return (Identity::Key(values), KeyNote::Key);
    }
    if let Fallback::Attributes(attributes) = &key.fallback
        && let Some(values) = key_text(attributes, facts)
    {
        // Marked, so that a fallback never equals a key by chance.
        return (
            Identity::Key(format!("fallback\u{1}{values}")),
            KeyNote::Fallback,
        );
    }
    (Identity::Own { instance, source }, KeyNote::Own)
}

/// The values of `attributes` as one text; `None` when the first is empty.
fn key_text(attributes: &[KeyAttribute], facts: &HeaderFacts) -> Option<String> {
    let first = attributes.first()?;
    if facts.key_value(*first).is_empty() {
        return None;
    }
    let values: Vec<&str> = attributes.iter().map(|a| facts.key_value(*a)).collect();
    Some(values.join("\u{0}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::OutputTemplate;

    fn facts(id: &str, study: &str) -> HeaderFacts {
        HeaderFacts {
            patient_id: id.into(),
            patient_name: format!("name of {id}"),
            study_uid: study.into(),
            series_uid: "s".into(),
            ..HeaderFacts::default()
        }
    }

    #[test]
    fn patients_numbered_in_order_of_first_appearance() {
        let files = [
            ("a", Ok(facts("P2", "1"))),
            ("b", Ok(facts("P1", "1"))),
            ("c", Ok(facts("P2", "2"))),
            ("d", Err("file ends inside the header".to_string())),
            ("e", Ok(facts("P2", "1"))),
        ];
        let template =
            OutputTemplate::parse("{patient_index}/{study}/{image_number:03}.dcm").unwrap();
        let mut planner = Planner::new(PatientKey::default());
        let mut assigner = RunAssigner::default();
        let planned: Vec<PlannedFile> = files
            .iter()
            .map(|(name, header)| {
                let header = header.as_ref().map_err(String::as_str);
                planner
                    .number(
                        PathBuf::from(name),
                        Layout::Part10,
                        10,
                        header,
                        &mut assigner,
                    )
                    .unwrap()
            })
            .collect();
        let got: Vec<_> = planned
            .iter()
            .map(|f| {
                (
                    f.seq,
                    f.patient_index,
                    f.numbers.map(|n| template.render(n)),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (1, Some(1), Some(PathBuf::from("1/1/001.dcm"))),
                (2, Some(2), Some(PathBuf::from("2/1/001.dcm"))),
                (3, Some(1), Some(PathBuf::from("1/2/002.dcm"))),
                (4, None, None),
                (5, Some(1), Some(PathBuf::from("1/1/003.dcm"))),
            ]
        );
        assert_eq!(planner.patients(), 2);
        assert_eq!(planner.files(), 5);
        assert_eq!(
            planned[3].problem.as_deref(),
            Some("file ends inside the header")
        );
        // Files of one patient share their name and ID.
        assert!(Arc::ptr_eq(&planned[0].patient_id, &planned[2].patient_id));
    }

    /// The patient indices `key` gives files with these facts.
    fn indices(key: PatientKey, files: &[HeaderFacts]) -> Vec<(u32, u32, KeyNote)> {
        let mut planner = Planner::new(key);
        let mut assigner = RunAssigner::default();
        files
            .iter()
            .map(|facts| {
                let file = planner
                    .number(
                        PathBuf::from("f"),
                        Layout::Part10,
                        1,
                        Ok(facts),
                        &mut assigner,
                    )
                    .unwrap();
                let numbers = file.numbers.unwrap();
                (numbers.patient_index, numbers.image_number, file.key_note)
            })
            .collect()
    }

    #[test]
    fn files_without_an_id_are_not_merged_by_default() {
        let files = [facts("", "1"), facts("P1", "1"), facts("", "1")];
        assert_eq!(
            indices(PatientKey::default(), &files),
            [
                (1, 1, KeyNote::Own),
                (2, 1, KeyNote::Key),
                (3, 1, KeyNote::Own)
            ]
        );
    }

    #[test]
    fn the_issuer_tells_two_patients_with_one_id_apart_and_a_fallback_joins_empty_ids() {
        let with_issuer = |id: &str, issuer: &str, name: &str| HeaderFacts {
            issuer_of_patient_id: issuer.into(),
            patient_name: name.into(),
            patient_birth_date: "19700101".into(),
            ..facts(id, "1")
        };
        let files = [
            with_issuer("123", "HOSP A", "A^A"),
            with_issuer("123", "HOSP B", "B^B"),
            with_issuer("123", "HOSP A", "A^A"),
            with_issuer("", "", "C^C"),
            with_issuer("", "", "C^C"),
        ];
        let key = PatientKey {
            key: vec![KeyAttribute::PatientId, KeyAttribute::IssuerOfPatientId],
            fallback: Fallback::Attributes(vec![
                KeyAttribute::PatientName,
                KeyAttribute::PatientBirthDate,
            ]),
        };
        assert_eq!(
            indices(key, &files),
            [
                (1, 1, KeyNote::Key),
                (2, 1, KeyNote::Key),
                (1, 2, KeyNote::Key),
                (3, 1, KeyNote::Fallback),
                (3, 2, KeyNote::Fallback),
            ]
        );
        // Under the default key the two hospitals' patient 123 is one.
        assert_eq!(indices(PatientKey::default(), &files[..2])[1].0, 1);
    }
}
