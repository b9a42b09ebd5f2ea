//! The header facts the scan reads: the few top-level attributes that
//! number patients and judge burned-in risk, read from the start of each
//! file (never as far as the pixel data).

use std::fs::File;
use std::io::{BufReader, Read};

use super::FileError;
use super::burned_in::{BurnedInClues, BurnedInRisk};
use super::head::{HEAD, Head, ReaderAt};
use super::pixels::{self, PIXEL_DATA, PixelSpan};
use crate::charset::{CharacterSet, printable};
use crate::codec::{Header, Layout, OpenedFile, What, open_reader, skip_value};
use crate::profile::KeyAttribute;

use dicom_dictionary_std::tags::DIRECTORY_RECORD_SEQUENCE;
use dicom_dictionary_std::tags::{
    ACCESSION_NUMBER, BURNED_IN_ANNOTATION, IMAGE_TYPE, ISSUER_OF_PATIENT_ID, MODALITY,
    PATIENT_BIRTH_DATE, PATIENT_ID, PATIENT_NAME, PATIENT_SEX, SERIES_INSTANCE_UID, SOP_CLASS_UID,
    SOP_INSTANCE_UID, SPECIFIC_CHARACTER_SET, STUDY_INSTANCE_UID,
};
use dicom_dictionary_std::uids::MEDIA_STORAGE_DIRECTORY_STORAGE;

/// What the scan learns about one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderFacts {
    /// Patient ID, decoded, without padding; empty when absent.
    pub patient_id: String,
    /// Patient's Name, decoded and made printable, for the audit.
    pub patient_name: String,
    pub study_uid: String,
    pub series_uid: String,
    /// Whether the data set has Patient's Name and Patient ID elements
    /// at all (empty or not).
    pub has_patient_name: bool,
    pub has_patient_id: bool,
    /// The other attributes a patient key may use (decoded, trimmed).
    pub issuer_of_patient_id: String,
    pub patient_birth_date: String,
    pub patient_sex: String,
    pub accession_number: String,
    /// SOP Class and Instance UIDs of the data set, as stored: the file
    /// meta of the output is made from them, so that the two always agree.
    pub sop_uids: SopUids,
    pub burned_in: BurnedInRisk,
    /// Where the top-level Pixel Data lies, when its header is in the
    /// bytes the scan read.
    pub pixels: Option<PixelSpan>,
    /// The file is a DICOMDIR (Media Storage Directory Storage in its file
    /// meta, or a Directory Record Sequence): it is not rewritten, a new
    /// one is made for DEST at the end of the run.
    pub is_directory: bool,
}

impl HeaderFacts {
    /// The value of an attribute a patient key may use.
    pub fn key_value(&self, attribute: KeyAttribute) -> &str {
        match attribute {
            KeyAttribute::PatientId => &self.patient_id,
            KeyAttribute::IssuerOfPatientId => &self.issuer_of_patient_id,
            KeyAttribute::PatientName => &self.patient_name,
            KeyAttribute::PatientBirthDate => &self.patient_birth_date,
            KeyAttribute::PatientSex => &self.patient_sex,
            KeyAttribute::StudyInstanceUid => &self.study_uid,
            KeyAttribute::AccessionNumber => &self.accession_number,
        }
    }
}

/// The raw values of (0008,0016) and (0008,0018), when present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SopUids {
    pub class: Option<Vec<u8>>,
    /// The data set's SOP Instance UID; for a data set without one and
    /// without file meta (ACR-NEMA files), a UID made from the first
    /// bytes of the file, so that its output's file meta has an instance
    /// UID (Type 1) that is the same on every run.
    pub instance: Option<Vec<u8>>,
}

impl SopUids {
    /// Gives a data set without SOP Instance UID one made from `head`,
    /// the first bytes of its file (up to [`HEAD`]): a `2.25` UID of
    /// 128 bits of their SHA-256, which the rules then treat as the
    /// source's own (a hashing rule makes a new one of it).
    fn derive_missing_instance(&mut self, head: &[u8], layout: Layout) {
        use sha2::{Digest, Sha256};
        // A file meta has its own instance UID (a DICOMDIR's data set has
        // none), which the output's meta keeps.
        if self.instance.is_some() || !matches!(layout, Layout::Bare(_)) {
            return;
        }
        let digest = Sha256::digest(&head[..head.len().min(HEAD)]);
        let mut high = [0u8; 16];
        high.copy_from_slice(&digest[..16]);
        let uid = format!("2.25.{}", u128::from_be_bytes(high));
        self.instance = Some(crate::codec::pad(uid.as_bytes(), 0));
    }
}

/// Headers longer than a [`Head`] are read on in steps this size: a small
/// buffer keeps the scan from reading far ahead into pixel data it will
/// not use.
const HEADER_BUFFER: usize = 4 * 1024;

/// Reads the top-level attributes of a file up to Burned In Annotation
/// (0028,0301), what numbering and the burned-in column need, from its
/// first bytes, looking for its Pixel Data in them as well. The rest of the header, for the
/// rare header longer than `head`, is read from `file` after them.
pub fn read_header_facts_of_file(
    head: &Head,
    file: &File,
    layout: Layout,
) -> Result<HeaderFacts, FileError> {
    let whole_file = head.bytes().len() < HEAD;
    let in_head = open_reader(head.bytes(), layout)
        .map_err(FileError::from)
        .and_then(|opened| facts_of(opened, Until::PixelData));
    match in_head {
        Ok(mut walk) if walk.complete || whole_file => {
            walk.facts
                .sop_uids
                .derive_missing_instance(head.bytes(), layout);
            return Ok(walk.facts);
        }
        Err(err) if whole_file => return Err(err),
        // The header (the file meta, even) goes on after the head.
        _ => {}
    }
    let after_head = ReaderAt {
        file,
        offset: head.bytes().len() as u64,
    };
    let rest = BufReader::with_capacity(HEADER_BUFFER, after_head);
    let mut walk = facts_of(
        open_reader(head.bytes().chain(rest), layout)?,
        Until::BurnedInAnnotation,
    )?;
    walk.facts
        .sop_uids
        .derive_missing_instance(head.bytes(), layout);
    Ok(walk.facts)
}

/// [`read_header_facts_of_file`] of bytes in memory.
pub fn read_header_facts_from(bytes: &[u8], layout: Layout) -> Result<HeaderFacts, FileError> {
    let mut walk = facts_of(open_reader(bytes, layout)?, Until::PixelData)?;
    walk.facts.sop_uids.derive_missing_instance(bytes, layout);
    Ok(walk.facts)
}

/// How far the header is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// To the last attribute the facts need.
    BurnedInAnnotation,
    /// On to the top-level Pixel Data, to find where it lies (for bytes in
    /// memory: elsewhere it would read through whole files without it).
    PixelData,
}

/// The facts read, and whether every attribute they need was looked at.
struct Walk {
    facts: HeaderFacts,
    complete: bool,
}

fn facts_of(mut file: OpenedFile<'_>, until: Until) -> Result<Walk, FileError> {
    let syntax = file.syntax;
    let source = &mut file.dataset;
    let mut charset = CharacterSet::default();
    let mut facts = HeaderFacts::default();
    let mut clues = BurnedInClues::default();
    let mut complete = false;
    facts.is_directory = file
        .meta
        .as_ref()
        .and_then(|meta| meta.text(crate::codec::meta::MEDIA_STORAGE_SOP_CLASS_UID))
        .is_some_and(|uid| uid == MEDIA_STORAGE_DIRECTORY_STORAGE);
    loop {
        let header = match Header::read_top_level(source, syntax) {
            Ok(Some(header)) => header,
            Ok(None) => break,
            // Past the facts, a problem only ends the search for Pixel
            // Data: the rewrite reports it, if it is one.
            Err(_) if complete => break,
            Err(err) => return Err(err.into()),
        };
        if header.tag > BURNED_IN_ANNOTATION {
            complete = true;
            if until == Until::BurnedInAnnotation || pixels::ends_search(header.tag) {
                break;
            }
            if header.tag == PIXEL_DATA {
                facts.pixels = PixelSpan::of(&header, source.position(), syntax);
                break;
            }
        }
        let wanted = [
            SPECIFIC_CHARACTER_SET,
            IMAGE_TYPE,
            SOP_CLASS_UID,
            SOP_INSTANCE_UID,
            MODALITY,
            ACCESSION_NUMBER,
            PATIENT_NAME,
            PATIENT_ID,
            ISSUER_OF_PATIENT_ID,
            PATIENT_BIRTH_DATE,
            PATIENT_SEX,
            STUDY_INSTANCE_UID,
            SERIES_INSTANCE_UID,
            BURNED_IN_ANNOTATION,
        ];
        if header.tag == DIRECTORY_RECORD_SEQUENCE {
            facts.is_directory = true;
        }
        // Past the facts (a tag after Burned In Annotation), an element out
        // of order is not one of them: what a walk that stopped there read
        // is what the facts are, however far this one goes.
        if complete || !wanted.contains(&header.tag) || header.is_undefined_length() {
            match skip_value(source, &header, syntax, 0) {
                Err(_) if complete => break,
                skipped => skipped?,
            }
            continue;
        }
        let value = source.read_value(header.len, What::Value(header.tag))?;
        let text = || printable(&charset.decode(&value)).trim().to_string();
        match header.tag {
            SPECIFIC_CHARACTER_SET => charset = CharacterSet::from_declaration(&value),
            SOP_CLASS_UID => {
                clues.sop_class = text();
                facts.sop_uids.class = Some(value);
            }
            SOP_INSTANCE_UID => facts.sop_uids.instance = Some(value),
            PATIENT_NAME => {
                facts.patient_name = text();
                facts.has_patient_name = true;
            }
            PATIENT_ID => {
                facts.patient_id = text();
                facts.has_patient_id = true;
            }
            ISSUER_OF_PATIENT_ID => facts.issuer_of_patient_id = text(),
            PATIENT_BIRTH_DATE => facts.patient_birth_date = text(),
            PATIENT_SEX => facts.patient_sex = text(),
            ACCESSION_NUMBER => facts.accession_number = text(),
            STUDY_INSTANCE_UID => facts.study_uid = text(),
            SERIES_INSTANCE_UID => facts.series_uid = text(),
            IMAGE_TYPE => clues.image_type = text(),
            MODALITY => clues.modality = text(),
            BURNED_IN_ANNOTATION => clues.burned_in_annotation = Some(text()),
            _ => {}
        }
    }
    facts.burned_in = clues.risk();
    Ok(Walk { facts, complete })
}

#[cfg(test)]
mod tests {
    use dicom_core::{PrimitiveValue, Tag, VR};

    use super::*;
    use crate::engine::testing::{image, image_with_meta, meta};

    /// The facts the scan reads from the file `bytes`.
    fn scanned_facts(bytes: &[u8]) -> Result<HeaderFacts, FileError> {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("f.dcm");
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        let head = Head::read(&file, Vec::new()).unwrap();
        read_header_facts_of_file(&head, &file, Layout::Part10)
    }

    fn private_blob(group: u16, len: usize) -> Vec<(Tag, VR, PrimitiveValue)> {
        vec![
            (Tag(group, 0x0010), VR::LO, PrimitiveValue::from("BLOB")),
            (
                Tag(group, 0x1010),
                VR::OB,
                PrimitiveValue::from(vec![1u8; len]),
            ),
        ]
    }

    #[test]
    fn a_header_longer_than_the_head_is_read_on_from_the_file() {
        // 20 KiB before Patient ID: the head ends before it.
        let bytes = image(20_000, private_blob(0x0009, HEAD + 4000));
        let facts = scanned_facts(&bytes).unwrap();
        assert_eq!(facts.patient_id, "P1");
        assert_eq!(facts.pixels, None);
    }

    #[test]
    fn a_file_meta_longer_than_the_head_is_read_on_from_the_file() {
        // Found by fuzzing (the `file_path` target): the meta itself
        // ended beyond the head.
        let meta = meta()
            .private_information_creator_uid("1.2.3.4")
            .private_information(vec![2u8; HEAD + 100]);
        let bytes = image_with_meta(20_000, Vec::new(), meta);
        let facts = scanned_facts(&bytes).unwrap();
        assert_eq!(facts.patient_id, "P1");
    }

    #[test]
    fn past_the_facts_the_search_for_pixel_data_may_end_in_vain() {
        // The facts are in the head; Pixel Data comes after its end.
        let bytes = image(20_000, private_blob(0x0029, HEAD + 4000));
        let facts = scanned_facts(&bytes).unwrap();
        assert_eq!(facts.patient_id, "P1");
        assert_eq!(facts.pixels, None);

        // A file cut short inside an element after the facts still has them.
        let mut cut = image(0, private_blob(0x0029, 9000));
        cut.truncate(cut.len() - 100);
        let facts = scanned_facts(&cut).unwrap();
        assert_eq!(facts.patient_id, "P1");
    }

    #[test]
    fn elements_out_of_order_after_the_facts_do_not_change_them() {
        // Found by fuzzing (`file_path`): the facts depended on how far the
        // walk went, so the scan of a head and the read of a whole file
        // disagreed on a file with a second Patient ID out of order.
        let marker = (Tag(0x0029, 0x0010), VR::LO, PrimitiveValue::from("X"));
        let mut bytes = image(20_000, vec![marker]);
        let pixels = read_header_facts_from(&bytes, Layout::Part10)
            .unwrap()
            .pixels;
        let at = pixels.unwrap().header_start;
        bytes.splice(at..at, *b"\x10\x00\x20\x00LO\x02\x00P2");
        let facts = read_header_facts_from(&bytes, Layout::Part10).unwrap();
        assert_eq!(facts.patient_id, "P1");
        assert_eq!(facts.pixels.unwrap().header_start, at + 10);
        assert_eq!(scanned_facts(&bytes).unwrap().patient_id, "P1");
    }

    #[test]
    fn the_pixel_data_in_the_head_is_found() {
        let bytes = image(40_000, Vec::new());
        let facts = scanned_facts(&bytes).unwrap();
        let span = facts.pixels.expect("found in the head");
        assert_eq!(span.value_end(), bytes.len() as u64);
    }
}
