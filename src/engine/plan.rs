//! Numbering: sequence, patient index, image, study and series numbers,
//! all from the walk order alone.
//!
//! The patient key is the Patient ID as stored (padding removed). Files
//! with an empty or missing Patient ID share one index, as the original
//! tool did: they cannot be told apart, and the audit shows the empty ID.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::Scanned;
use super::burned_in::BurnedInRisk;
use crate::profile::PathNumbers;
use crate::stream::Layout;
use crate::walk::WalkError;

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
    /// Why the file cannot be processed, found in the first pass.
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

/// The numbered files of a run.
#[derive(Debug, Default)]
pub struct Plan {
    pub files: Vec<PlannedFile>,
    pub patients: u32,
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

/// Numbers scanned files chunk by chunk, in walk order, so that the first
/// pass never holds more than one chunk of header facts.
#[derive(Default)]
pub struct Planner {
    plan: Plan,
    patients: HashMap<String, Patient>,
}

impl Planner {
    /// Numbers the next files in walk order; unreadable ones join
    /// `walk_errors`.
    pub fn add(&mut self, scanned: Vec<Scanned>, walk_errors: &mut Vec<WalkError>) {
        let plan = &mut self.plan;
        let patients = &mut self.patients;
        plan.files.reserve(scanned.len());
        for item in scanned {
            let (source, layout, size, header) = match item {
                Scanned::NotDicom => continue,
                Scanned::Unreadable(err) => {
                    walk_errors.push(err);
                    continue;
                }
                Scanned::Dicom {
                    path,
                    layout,
                    size,
                    header,
                } => (path, layout, size, header),
            };
            let seq = plan.files.len() + 1;
            let mut file = PlannedFile {
                seq,
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
            match header {
                Err(problem) => file.problem = Some(problem.into_boxed_str()),
                Ok(facts) => {
                    file.burned_in = facts.burned_in;
                    let next_index = patients.len() as u32 + 1;
                    let patient =
                        patients
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
                        .entry(facts.study_uid)
                        .or_insert_with(|| (study_count + 1, HashMap::new()));
                    let series_count = series_map.len() as u32;
                    let series = *series_map
                        .entry(facts.series_uid)
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
                }
            }
            plan.files.push(file);
        }
    }

    pub fn finish(mut self) -> Plan {
        self.plan.patients = self.patients.len() as u32;
        self.plan.files.shrink_to_fit();
        self.plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::HeaderFacts;
    use crate::profile::OutputTemplate;
    use crate::stream::Layout;

    fn dicom(name: &str, id: &str, study: &str) -> Scanned {
        Scanned::Dicom {
            path: PathBuf::from(name),
            layout: Layout::Part10,
            size: 10,
            header: Ok(HeaderFacts {
                patient_id: id.into(),
                patient_name: format!("name of {id}"),
                study_uid: study.into(),
                series_uid: "s".into(),
                ..HeaderFacts::default()
            }),
        }
    }

    #[test]
    fn patients_numbered_in_order_of_first_appearance() {
        let scanned = vec![
            dicom("a", "P2", "1"),
            Scanned::NotDicom,
            dicom("b", "P1", "1"),
            dicom("c", "P2", "2"),
            Scanned::Dicom {
                path: PathBuf::from("d"),
                layout: Layout::Part10,
                size: 3,
                header: Err("file ends inside the header".into()),
            },
            dicom("e", "P2", "1"),
        ];
        let template =
            OutputTemplate::parse("{patient_index}/{study}/{image_number:03}.dcm").unwrap();
        // Two chunks, numbered as one sequence.
        let mut planner = Planner::default();
        let mut scanned = scanned;
        let rest = scanned.split_off(2);
        planner.add(scanned, &mut Vec::new());
        planner.add(rest, &mut Vec::new());
        let plan = planner.finish();
        let got: Vec<_> = plan
            .files
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
        assert_eq!(plan.patients, 2);
        assert_eq!(
            plan.files[3].problem.as_deref(),
            Some("file ends inside the header")
        );
        // Files of one patient share their name and ID.
        assert!(Arc::ptr_eq(
            &plan.files[0].patient_id,
            &plan.files[2].patient_id
        ));
    }
}
