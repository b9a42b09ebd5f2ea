//! Files that bend the standard in ways real archives do: read them,
//! de-identify them, and write valid DICOM.

use std::fs;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicommanager::stream::{ITEM, SEQUENCE_DELIMITER, Syntax, UNDEFINED_LENGTH};
use tempfile::TempDir;

use crate::util::dataset::{DataSet, part10};
use crate::util::*;

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
