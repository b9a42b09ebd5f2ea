//! Numbering: sequence, patient index, image, study and series numbers,
//! all from the walk order alone.
//!
//! The patient key is the Patient ID as stored (padding removed). Files
//! with an empty or missing Patient ID share one index, as the original
//! tool did: they cannot be told apart, and the audit shows the empty ID.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::HeaderFacts;
use super::burned_in::BurnedInRisk;
use crate::profile::PathNumbers;
use crate::stream::Layout;

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
    /// Why the file cannot be processed, found by the scan.
    pub problem: Option<Box<str>>,
    /// Whether its pixels may hold burned-in text.
    pub burned_in: BurnedInRisk,
}

impl PlannedFile {
    /// The full source path as text (lossy for non-UTF-8 names).
    pub fn source_display(&self) -> std::borrow::Cow<'_, str> {
        self.source.to_string_lossy()
    }
}

#[derive(Default)]
struct Patient {
    index: u32,
    images: u32,
    id: Arc<str>,
    /// The last name seen, shared by the following files that repeat it.
    name: Arc<str>,
    /// Study UID → (study number, series UID → series number).
    studies: HashMap<String, (u32, HashMap<String, u32>)>,
}

/// Numbers DICOM files one at a time, in walk order; it keeps one entry
/// per patient, study and series, nothing per file.
#[derive(Default)]
pub struct Planner {
    files: usize,
    patients: HashMap<String, Patient>,
}

impl Planner {
    /// Numbers the next DICOM file: its header facts, or why they could
    /// not be read.
    pub fn number(
        &mut self,
        source: PathBuf,
        layout: Layout,
        size: u64,
        header: Result<&HeaderFacts, &str>,
    ) -> PlannedFile {
        self.files += 1;
        let mut file = PlannedFile {
            seq: self.files,
            source,
            layout,
            size,
            patient_name: Arc::from(""),
            patient_id: Arc::from(""),
            patient_index: None,
            numbers: None,
            problem: None,
            burned_in: BurnedInRisk::None,
        };
        let facts = match header {
            Ok(facts) => facts,
            Err(problem) => {
                file.problem = Some(problem.into());
                return file;
            }
        };
        file.burned_in = facts.burned_in;
        let next_index = self.patients.len() as u32 + 1;
        let patient = self
            .patients
            .entry(facts.patient_id.clone())
            .or_insert_with(|| Patient {
                index: next_index,
                id: Arc::from(facts.patient_id.as_str()),
                ..Patient::default()
            });
        patient.images += 1;
        if *patient.name != *facts.patient_name {
            patient.name = Arc::from(facts.patient_name.as_str());
        }
        let study_count = patient.studies.len() as u32;
        let (study, series_map) = patient
            .studies
            .entry(facts.study_uid.clone())
            .or_insert_with(|| (study_count + 1, HashMap::new()));
        let series_count = series_map.len() as u32;
        let series = *series_map
            .entry(facts.series_uid.clone())
            .or_insert(series_count + 1);
        file.numbers = Some(PathNumbers {
            patient_index: patient.index,
            image_number: patient.images,
            study: *study,
            series,
        });
        file.patient_index = Some(patient.index);
        file.patient_name = Arc::clone(&patient.name);
        file.patient_id = Arc::clone(&patient.id);
        file
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
        let mut planner = Planner::default();
        let planned: Vec<PlannedFile> = files
            .iter()
            .map(|(name, header)| {
                let header = header.as_ref().map_err(String::as_str);
                planner.number(PathBuf::from(name), Layout::Part10, 10, header)
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
}
