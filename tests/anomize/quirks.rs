//! Files that bend the standard in ways real archives do: read them,
//! de-identify them, and write valid DICOM.

use std::fs;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicommanager::stream::{
    FileMeta, Header, ITEM, SEQUENCE_DELIMITER, Syntax, UNDEFINED_LENGTH, meta,
};
use tempfile::TempDir;

use crate::util::*;

/// Encodes text elements and raw pieces into a data set.
struct DataSet {
    syntax: Syntax,
    bytes: Vec<u8>,
}

impl DataSet {
    fn new(syntax: Syntax) -> DataSet {
        DataSet {
            syntax,
            bytes: Vec::new(),
        }
    }

    fn text(mut self, tag: Tag, vr: VR, value: &str) -> DataSet {
        let mut value = value.as_bytes().to_vec();
        if value.len() % 2 == 1 {
            value.push(if vr == VR::UI { 0 } else { b' ' });
        }
        self.header(tag, vr, value.len() as u32);
        self.bytes.extend_from_slice(&value);
        self
    }

    fn header(&mut self, tag: Tag, vr: VR, len: u32) {
        Header { tag, vr, len }
            .write(&mut self.bytes, self.syntax)
            .unwrap();
    }

    fn raw(mut self, bytes: &[u8]) -> DataSet {
        self.bytes.extend_from_slice(bytes);
        self
    }

    /// The identifying start every test file shares.
    fn patient(self) -> DataSet {
        self.text(
            tags::SOP_CLASS_UID,
            VR::UI,
            uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
        )
        .text(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5")
        .text(tags::PATIENT_NAME, VR::PN, "Quirk^Quentin")
        .text(tags::PATIENT_ID, VR::LO, "Q-1")
    }
}

/// A Part 10 file declaring `transfer_syntax` around `dataset`.
fn part10(transfer_syntax: &str, dataset: &DataSet) -> Vec<u8> {
    let mut file_meta = FileMeta::default();
    file_meta.set(meta::INFORMATION_VERSION, VR::OB, vec![0, 1]);
    file_meta.set_uid(
        meta::MEDIA_STORAGE_SOP_CLASS_UID,
        uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
    );
    file_meta.set_uid(meta::MEDIA_STORAGE_SOP_INSTANCE_UID, "1.2.3.4.5");
    file_meta.set_uid(meta::TRANSFER_SYNTAX_UID, transfer_syntax);
    let mut bytes = Vec::new();
    file_meta.write(&mut bytes).unwrap();
    bytes.extend_from_slice(&dataset.bytes);
    bytes
}

/// Runs anomize on one file and returns the output, re-read by dicom-object.
fn deidentify(file: &[u8]) -> dicom_object::DefaultDicomObject {
    let source = TempDir::new().unwrap();
    fs::write(source.path().join("quirk.dcm"), file).unwrap();
    let dest = TempDir::new().unwrap();
    let out = anomize(source.path(), dest.path(), &[]);
    let audit = read_csv_rows(&dest.path().join("_out.csv"));
    assert_eq!(out.status.code(), Some(0), "{:?}", audit[1]);
    assert_eq!(audit[1][6], "OK", "{:?}", audit[1]);
    let obj = dicom_object::open_file(dest.path().join("1_001.dcm")).unwrap();
    assert_eq!(
        obj.element(tags::PATIENT_NAME).unwrap().to_str().unwrap(),
        "1"
    );
    obj
}

#[test]
fn zero_padding_after_the_data_set_is_ignored() {
    let explicit = DataSet::new(Syntax::EXPLICIT_VR_LITTLE_ENDIAN)
        .patient()
        .raw(&[0; 16]);
    deidentify(&part10(uids::EXPLICIT_VR_LITTLE_ENDIAN, &explicit));
    let implicit = DataSet::new(Syntax::IMPLICIT_VR_LITTLE_ENDIAN)
        .patient()
        .raw(&[0; 16]);
    deidentify(&part10(uids::IMPLICIT_VR_LITTLE_ENDIAN, &implicit));
}

#[test]
fn implicit_data_set_declared_explicit_is_read_as_implicit() {
    let implicit = DataSet::new(Syntax::IMPLICIT_VR_LITTLE_ENDIAN).patient();
    let obj = deidentify(&part10(uids::EXPLICIT_VR_LITTLE_ENDIAN, &implicit));
    assert_eq!(
        obj.meta().transfer_syntax(),
        uids::IMPLICIT_VR_LITTLE_ENDIAN
    );
}

#[test]
fn defined_length_sequence_closed_by_a_delimiter_too() {
    let syntax = Syntax::EXPLICIT_VR_LITTLE_ENDIAN;
    let item = DataSet::new(syntax).text(tags::PATIENT_NAME, VR::PN, "Quirk^Quentin");
    let mut seq = DataSet::new(syntax);
    seq.header(ITEM, VR::UN, item.bytes.len() as u32);
    let mut seq = seq.raw(&item.bytes);
    seq.header(SEQUENCE_DELIMITER, VR::UN, 0);
    let mut data = DataSet::new(syntax).patient();
    data.header(
        tags::REFERENCED_PATIENT_SEQUENCE,
        VR::SQ,
        seq.bytes.len() as u32,
    );
    let data = data.raw(&seq.bytes).text(tags::STUDY_ID, VR::SH, "S1");
    let obj = deidentify(&part10(uids::EXPLICIT_VR_LITTLE_ENDIAN, &data));
    let items = obj
        .element(tags::REFERENCED_PATIENT_SEQUENCE)
        .unwrap()
        .items()
        .unwrap();
    assert_eq!(
        items[0]
            .element(tags::PATIENT_NAME)
            .unwrap()
            .to_str()
            .unwrap(),
        "1"
    );
    assert_eq!(obj.element(tags::STUDY_ID).unwrap().to_str().unwrap(), "S1");
}

#[test]
fn undefined_length_ob_outside_pixel_data_is_copied_as_fragments() {
    let syntax = Syntax::EXPLICIT_VR_LITTLE_ENDIAN;
    let mut data = DataSet::new(syntax).patient();
    data.header(Tag(0x0009, 0x0010), VR::LO, 4);
    let mut data = data.raw(b"ACME");
    data.header(Tag(0x0009, 0x1001), VR::OB, UNDEFINED_LENGTH);
    data.header(ITEM, VR::UN, 4);
    let mut data = data.raw(&[1, 2, 3, 4]);
    data.header(SEQUENCE_DELIMITER, VR::UN, 0);
    let source = TempDir::new().unwrap();
    fs::write(
        source.path().join("q.dcm"),
        part10(uids::EXPLICIT_VR_LITTLE_ENDIAN, &data),
    )
    .unwrap();
    let dest = TempDir::new().unwrap();
    let out = anomize(source.path(), dest.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = fs::read(dest.path().join("1_001.dcm")).unwrap();
    let tail = &written[written.len() - 32..];
    assert_eq!(&tail[..4], b"\x09\x00\x01\x10");
    assert_eq!(&tail[20..24], &[1, 2, 3, 4]);
}
