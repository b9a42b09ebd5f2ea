//! Files that bend the standard in ways real archives do: read them,
//! de-identify them, and write valid DICOM.

use std::fs;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicommanager::codec::{ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER, Syntax, UNDEFINED_LENGTH};
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

/// Runs anomize on one file; its audit row and its output's bytes.
fn deidentify_bytes(file: &[u8]) -> (Vec<String>, Vec<u8>) {
    deidentify_bytes_with(file, &[])
}

/// [`deidentify_bytes`] with more arguments for `anomize`.
fn deidentify_bytes_with(file: &[u8], extra: &[&str]) -> (Vec<String>, Vec<u8>) {
    let source = TempDir::new().unwrap();
    fs::write(source.path().join("quirk.dcm"), file).unwrap();
    let dest = TempDir::new().unwrap();
    anomize(source.path(), dest.path(), extra);
    let audit = read_csv_rows(&dest.path().join("_out.csv"));
    assert_eq!(audit.len(), 2, "the file is listed: {audit:?}");
    let output = dest.path().join("1_001.dcm");
    // DCMTK reads the output of every source it reads (some of these it
    // does not: an undefined-length element of a non-SQ dictionary VR in
    // implicit VR, which pydicom reads).
    if dcmdump_available() && output.exists() && dcmdump_reads(&source.path().join("quirk.dcm")) {
        assert_dcmdump_reads(&output);
    }
    (audit[1].clone(), fs::read(output).unwrap_or_default())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One item holding a Patient ID, in `syntax`, as the value of an
/// undefined-length element: item, element, item and sequence delimiters.
fn delimited_item_with_patient_id(syntax: Syntax) -> Vec<u8> {
    let mut items = DataSet::new(syntax);
    items.header(ITEM, VR::UN, UNDEFINED_LENGTH);
    let mut items = items.text(tags::PATIENT_ID, VR::LO, "NESTED-SECRET");
    items.header(ITEM_DELIMITER, VR::UN, 0);
    items.header(SEQUENCE_DELIMITER, VR::UN, 0);
    items.bytes
}

#[test]
fn an_item_in_an_undefined_length_element_of_unstated_vr_is_a_sequence() {
    // PS3.5 §6.2.2 and CP-246: where the file does not state the VR
    // (implicit VR, or UN), an undefined length can only be a sequence,
    // whatever VR the dictionary gives the tag (here LO, a private
    // creator's LO, and OB); its items are implicit VR little endian.
    let implicit = Syntax::IMPLICIT_VR_LITTLE_ENDIAN;
    let explicit = Syntax::EXPLICIT_VR_LITTLE_ENDIAN;
    let cases = [
        (implicit, tags::PROTOCOL_NAME, VR::LO),
        (implicit, Tag(0x0029, 0x0011), VR::LO),
        (implicit, tags::ENCAPSULATED_DOCUMENT, VR::OB),
        (explicit, tags::PROTOCOL_NAME, VR::UN),
    ];
    for (syntax, tag, vr) in cases {
        let mut data = DataSet::new(syntax).patient();
        data.header(tag, vr, UNDEFINED_LENGTH);
        let data =
            data.raw(&delimited_item_with_patient_id(implicit))
                .text(tags::STUDY_ID, VR::SH, "S1");
        let uid = if syntax.explicit_vr {
            uids::EXPLICIT_VR_LITTLE_ENDIAN
        } else {
            uids::IMPLICIT_VR_LITTLE_ENDIAN
        };
        let (row, output) = deidentify_bytes(&part10(uid, &data));
        assert_eq!(row[6], "OK", "{tag} in {syntax:?}: {row:?}");
        // Read as a sequence: the rules reached the Patient ID inside.
        assert!(!contains(&output, b"NESTED-SECRET"), "{tag}");
        assert!(contains(&output, b"S1"), "{tag}: what follows is kept");
    }
}

#[test]
fn an_acr_nema_data_set_without_sop_class_gets_an_output() {
    // ACR-NEMA 2.0 style: no preamble, no meta, group lengths, no SOP
    // Class UID or SOP Instance UID.
    let syntax = Syntax::IMPLICIT_VR_LITTLE_ENDIAN;
    let group = |number: u16, body: DataSet| {
        let mut data = DataSet::new(syntax);
        data.header(Tag(number, 0x0000), VR::UL, 4);
        data.raw(&(body.bytes.len() as u32).to_le_bytes())
            .raw(&body.bytes)
    };
    let identifying = DataSet::new(syntax)
        .text(tags::STUDY_DATE, VR::DA, "19990101")
        .text(tags::MODALITY, VR::CS, "CT");
    let patient = DataSet::new(syntax)
        .text(tags::PATIENT_NAME, VR::PN, "Quirk^Quentin")
        .text(tags::PATIENT_ID, VR::LO, "Q-1");
    let mut file = group(0x0008, identifying).bytes;
    file.extend(group(0x0010, patient).bytes);
    let (row, output) = deidentify_bytes(&file);
    assert_eq!(row[6], "OK", "{row:?}");
    assert!(!contains(&output, b"Quirk"));
    let obj = dicom_object::from_reader(&output[128..]).unwrap();
    // What DCMTK's dcmconv writes for such a data set.
    assert_eq!(
        obj.meta().media_storage_sop_class_uid(),
        "1.2.276.0.7230010.3.1.0.1"
    );
    let instance = obj.meta().media_storage_sop_instance_uid().to_string();
    assert!(instance.starts_with("2.25."), "{instance}");
    assert_eq!(obj.element(tags::MODALITY).unwrap().to_str().unwrap(), "CT");
    // The same source makes the same output on every run.
    assert_eq!(deidentify_bytes(&file).1, output);
}

#[test]
fn a_big_endian_data_set_without_meta_is_read() {
    let data =
        DataSet::new(Syntax::EXPLICIT_VR_BIG_ENDIAN)
            .patient()
            .text(tags::STUDY_ID, VR::SH, "S1");
    let (row, output) = deidentify_bytes(&data.bytes);
    assert_eq!(row[6], "OK", "{row:?}");
    let obj = dicom_object::from_reader(&output[128..]).unwrap();
    assert_eq!(obj.meta().transfer_syntax(), "1.2.840.10008.1.2.2");
    assert_eq!(obj.element(tags::STUDY_ID).unwrap().to_str().unwrap(), "S1");
    assert!(!contains(&output, b"Quirk"));
}

#[test]
fn a_file_that_starts_with_its_file_meta_is_read() {
    let data = DataSet::new(Syntax::EXPLICIT_VR_LITTLE_ENDIAN)
        .patient()
        .text(tags::STUDY_ID, VR::SH, "S1");
    let with_marker = part10(uids::EXPLICIT_VR_LITTLE_ENDIAN, &data);
    // No preamble and no DICM: the meta group's first element first.
    let (row, output) = deidentify_bytes(&with_marker[132..]);
    assert_eq!(row[6], "OK", "{row:?}");
    let obj = dicom_object::from_reader(&output[128..]).unwrap();
    assert_eq!(obj.element(tags::STUDY_ID).unwrap().to_str().unwrap(), "S1");
    assert_eq!(
        obj.element(tags::PATIENT_ID).unwrap().to_str().unwrap(),
        "1"
    );
}

#[test]
fn elements_written_as_un_are_ruled_by_their_dictionary_vr() {
    // A file converted by a tool that knew no tags: every element UN.
    // The rules see a PN where the dictionary says PN, as DCMTK and
    // pydicom read it, instead of refusing the file.
    let un = |data: DataSet, tag: Tag, value: &str| data.text(tag, VR::UN, value);
    let data = DataSet::new(Syntax::EXPLICIT_VR_LITTLE_ENDIAN);
    let data = un(data, tags::SOP_CLASS_UID, "1.2.840.10008.5.1.4.1.1.7\0");
    let data = un(data, tags::SOP_INSTANCE_UID, "1.2.3.4.5\0");
    let data = un(data, tags::PATIENT_NAME, "Quirk^Quentin");
    let data = un(data, tags::PATIENT_ID, "Q-1");
    let data = un(data, tags::STUDY_ID, "S1");
    let obj = deidentify(&part10(uids::EXPLICIT_VR_LITTLE_ENDIAN, &data));
    let name = obj.element(tags::PATIENT_NAME).unwrap();
    assert_eq!(name.vr(), VR::PN, "rewritten as the VR it was ruled by");
    let kept = obj.element(tags::STUDY_ID).unwrap();
    assert_eq!(kept.vr(), VR::UN, "kept byte for byte");
}

/// An Explicit VR Big Endian file whose Referenced Image Sequence is
/// written as UN of undefined length, its one item (Patient ID, Rows)
/// implicit VR little endian (CP-246), followed by a Study ID "S1".
fn big_endian_file_with_a_un_sequence() -> Vec<u8> {
    let implicit = Syntax::IMPLICIT_VR_LITTLE_ENDIAN;
    let mut item = DataSet::new(implicit).text(tags::PATIENT_ID, VR::LO, "NESTED-SECRET");
    item.header(tags::ROWS, VR::US, 2);
    let item = item.raw(&0x0102u16.to_le_bytes());
    let mut items = DataSet::new(implicit);
    items.header(ITEM, VR::UN, UNDEFINED_LENGTH);
    let mut items = items.raw(&item.bytes);
    items.header(ITEM_DELIMITER, VR::UN, 0);
    items.header(SEQUENCE_DELIMITER, VR::UN, 0);
    let mut data = DataSet::new(Syntax::EXPLICIT_VR_BIG_ENDIAN).patient();
    data.header(tags::REFERENCED_IMAGE_SEQUENCE, VR::UN, UNDEFINED_LENGTH);
    let data = data.raw(&items.bytes).text(tags::STUDY_ID, VR::SH, "S1");
    #[allow(deprecated)] // retired, but such files exist
    part10(uids::EXPLICIT_VR_BIG_ENDIAN, &data)
}

#[test]
fn a_un_sequence_in_a_big_endian_file_is_written_big_endian() {
    // The items of an undefined-length UN are implicit VR little endian
    // (CP-246). The output is big endian throughout, as DCMTK writes it:
    // the element becomes SQ, its items explicit VR big endian, numbers
    // swapped; before, its delimiter came out in the wrong byte order and
    // DCMTK could not read the output.
    let (row, output) = deidentify_bytes(&big_endian_file_with_a_un_sequence());
    assert_eq!(row[6], "OK", "{row:?}");
    // No little endian item tag or delimiter is left anywhere.
    for little_endian in [
        b"\xfe\xff\x00\xe0",
        b"\xfe\xff\xdd\xe0",
        b"\xfe\xff\x0d\xe0",
    ] {
        assert!(!contains(&output, little_endian));
    }
    let obj = dicom_object::from_reader(&output[128..]).unwrap();
    let sequence = obj.element(tags::REFERENCED_IMAGE_SEQUENCE).unwrap();
    assert_eq!(sequence.vr(), VR::SQ);
    let nested = &sequence.items().unwrap()[0];
    assert_eq!(
        nested.element(tags::ROWS).unwrap().to_int::<u16>().unwrap(),
        0x0102
    );
    assert_eq!(
        nested.element(tags::PATIENT_ID).unwrap().to_str().unwrap(),
        "1"
    );
    assert_eq!(obj.element(tags::STUDY_ID).unwrap().to_str().unwrap(), "S1");
}

#[test]
fn a_un_sequence_in_a_big_endian_file_can_be_removed_or_blanked() {
    // The UN's items are implicit VR little endian (CP-246), also when the
    // sequence goes: they were skipped as big endian, and the run failed
    // with "invalid VR bytes" at the item tag (FEFF,00E0).
    let file = big_endian_file_with_a_un_sequence();
    let dir = TempDir::new().unwrap();
    for action in ["remove", "blank"] {
        let text = format!(
            "extends = [\"basic\"]\n[attributes]\nReferencedImageSequence = \"{action}\"\n"
        );
        let profile = profile_file(dir.path(), &format!("{action}.toml"), &text);
        let profile = profile.to_str().unwrap();
        let (row, output) = deidentify_bytes_with(&file, &["--profile", profile]);
        assert_eq!(row[6], "OK", "{action}: {row:?}");
        assert!(!contains(&output, b"NESTED-SECRET"), "{action}");
        let obj = dicom_object::from_reader(&output[128..]).unwrap();
        let sequence = obj.element(tags::REFERENCED_IMAGE_SEQUENCE);
        match action {
            "remove" => assert!(sequence.is_err(), "{action}: {sequence:?}"),
            _ => {
                // Blanked, it is the sequence it was read as, with no items.
                let sequence = sequence.unwrap();
                assert_eq!(sequence.vr(), VR::SQ);
                assert_eq!(sequence.items().map(<[_]>::len), Some(0));
            }
        }
        assert_eq!(obj.element(tags::STUDY_ID).unwrap().to_str().unwrap(), "S1");
        if dcmdump_available() {
            let written = dir.path().join(format!("{action}.dcm"));
            fs::write(&written, &output).unwrap();
            assert_dcmdump_reads(&written);
        }
    }
}
