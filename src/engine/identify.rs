//! The identifying values of one file, for `clean`: every person name and
//! the IDs, accession number and birth date, at every depth of the data
//! set (a requesting physician in a request sequence, a person name in
//! report content), read before the file is rewritten.

use dicom_core::{Tag, VR};

use super::FileError;
use crate::charset::CharacterSet;
use crate::codec::tree::{Extent, Item, Value, read_tree_of};
use crate::codec::{Header, OpenedFile};
use crate::rules::Identifiers;
use dicom_dictionary_std::tags::PATIENT_BIRTH_DATE;

/// Identifiers (not names) whose values identify the patient.
const IDS: [Tag; 5] = [
    Tag(0x0008, 0x0050), // AccessionNumber
    Tag(0x0010, 0x0020), // PatientID
    Tag(0x0010, 0x1000), // OtherPatientIDs
    Tag(0x0010, 0x1090), // MedicalRecordLocator
    Tag(0x0020, 0x0010), // StudyID
];

/// Collects the identifying values of a file's data set, up to its
/// top-level pixel data.
pub fn collect_identifiers(mut file: OpenedFile<'_>) -> Result<Identifiers, FileError> {
    // Only the values looked for are held: most of a header is not.
    let tree = read_tree_of(&mut file.dataset, file.syntax, Extent::Header, identifies)?;
    let mut found = Identifiers::default();
    collect(&tree.dataset, &CharacterSet::default(), &mut found);
    Ok(found)
}

/// Whether an element holds a value [`collect`] takes.
fn identifies(header: &Header) -> bool {
    header.tag == PATIENT_BIRTH_DATE || IDS.contains(&header.tag) || header.value_vr() == VR::PN
}

fn collect(item: &Item, inherited: &CharacterSet, found: &mut Identifiers) {
    let charset = item.charset(inherited);
    for element in &item.elements {
        match &element.value {
            Value::Items(items) => {
                for inner in items {
                    collect(inner, &charset, found);
                }
            }
            Value::Bytes(raw) => {
                let text = || charset.decode(raw);
                match element.tag {
                    PATIENT_BIRTH_DATE => found.add_date(&text()),
                    tag if IDS.contains(&tag) => found.add_id(&text()),
                    _ if element.value_vr() == VR::PN => found.add_name(&text()),
                    _ => {}
                }
            }
            Value::Skipped => {}
        }
    }
}
