//! The PS3.15 profiles end to end: every attribute of Table E.1-1 planted
//! with a marker (at the top level, in an item, in an item of an item, in
//! private blocks) must leave no trace; dates shift per patient; images
//! that may carry burned-in text are flagged and can be quarantined.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicommanager::codec::implicit_vr;
use dicommanager::metadata::{Element, Value, read_header};
use dicommanager::profile::Selector;
use dicommanager::profile::ps315::{RowTarget, shipped_rows};
use tempfile::TempDir;

use crate::util::*;

/// Every element of a file (meta, data set, items at any depth) with its
/// path, e.g. `(0008,1140)[0].(0008,1155)`.
pub fn all_elements(path: &Path) -> Vec<(String, Element)> {
    let header = read_header(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut found = Vec::new();
    collect(&header.meta, "", &mut found);
    collect(&header.dataset.elements, "", &mut found);
    found
}

fn collect(elements: &[Element], prefix: &str, found: &mut Vec<(String, Element)>) {
    for element in elements {
        let path = format!("{prefix}{}", element.tag);
        if let Value::Items(items) = &element.value {
            for (i, item) in items.iter().enumerate() {
                collect(&item.elements, &format!("{path}[{i}]."), found);
            }
        }
        found.push((path, element.clone()));
    }
}

/// The text of an element's value, padding removed.
pub fn text(element: &Element) -> String {
    match &element.value {
        Value::Bytes(bytes) => String::from_utf8_lossy(bytes)
            .trim_end_matches(['\0', ' '])
            .to_string(),
        _ => String::new(),
    }
}

/// A marker for one table attribute at one level: unique, valid for the
/// VR where that matters to the engine, and `None` for numbers (they hold
/// no text to leak).
fn marker(vr: VR, n: usize, level: usize) -> Option<String> {
    Some(match vr {
        VR::AE | VR::CS | VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::UC | VR::UT | VR::UR => {
            format!("MRK{level}X{n:04}")
        }
        VR::OB | VR::OW | VR::UN => format!("MRKBIN{level}X{n:04}"),
        VR::UI => format!("1.2.826.0.1.3680043.9999.{level}.{n}"),
        VR::DA => format!("{:04}0101", 1300 + level * 700 + n),
        VR::DT => format!("{:04}0101120000", 1300 + level * 700 + n),
        VR::TM => format!("120000.{level}{n:05}"),
        _ => return None,
    })
}

/// Puts a marker into every attribute Table E.1-1 lists by tag (sequences
/// get an item with a marked Institution Name), and returns the markers.
fn plant(obj: &mut InMemDicomObject, level: usize, markers: &mut Vec<(String, String)>) {
    for (n, row) in shipped_rows().iter().enumerate() {
        let RowTarget::Attributes(Selector::Tag(tag)) = row.target else {
            continue;
        };
        // Command and file meta groups cannot appear in a data set.
        if tag.group() <= 0x0002 {
            continue;
        }
        let vr = implicit_vr(tag);
        if vr == VR::SQ {
            let mut item = InMemDicomObject::new_empty();
            let inner = format!("MRKSQ{level}X{n:04}");
            item.put(DataElement::new(
                tags::INSTITUTION_NAME,
                VR::LO,
                PrimitiveValue::from(inner.as_str()),
            ));
            markers.push((inner, format!("item of {}", row.keyword)));
            obj.put(DataElement::new(
                tag,
                VR::SQ,
                DataSetSequence::from(vec![item]),
            ));
            continue;
        }
        let Some(value) = marker(vr, n, level) else {
            continue;
        };
        let element = match vr {
            VR::OB | VR::UN => {
                let mut bytes = value.clone().into_bytes();
                bytes.resize(bytes.len().next_multiple_of(2), 0);
                DataElement::new(tag, vr, PrimitiveValue::from(bytes))
            }
            VR::OW => {
                let words: Vec<u16> = value.bytes().map(u16::from).collect();
                DataElement::new(tag, vr, PrimitiveValue::U16(words.into()))
            }
            _ => DataElement::new(tag, vr, PrimitiveValue::from(value.as_str())),
        };
        obj.put(element);
        if vr != VR::OW {
            markers.push((value, row.keyword.clone()));
        }
    }
    // A private block: creator, text, bytes and a sequence.
    let private = |element: u16| Tag(0x0009, element);
    let creator = format!("MRKPRIVCREATOR{level}");
    obj.put(DataElement::new(
        private(0x0010),
        VR::LO,
        PrimitiveValue::from(creator.as_str()),
    ));
    let text = format!("MRKPRIVTEXT{level}");
    obj.put(DataElement::new(
        private(0x1001),
        VR::LO,
        PrimitiveValue::from(text.as_str()),
    ));
    let bytes = format!("MRKPRIVBYTES{level}");
    obj.put(DataElement::new(
        private(0x1002),
        VR::UN,
        PrimitiveValue::from(bytes.clone().into_bytes()),
    ));
    let mut item = InMemDicomObject::new_empty();
    let nested = format!("MRKPRIVITEM{level}");
    item.put(DataElement::new(
        tags::PATIENT_NAME,
        VR::PN,
        PrimitiveValue::from(nested.as_str()),
    ));
    obj.put(DataElement::new(
        private(0x1003),
        VR::SQ,
        DataSetSequence::from(vec![item]),
    ));
    for m in [creator, text, bytes, nested] {
        markers.push((m, "private block".into()));
    }
    // Curves and overlays, which the table names by range.
    for (tag, vr, value) in [
        (Tag(0x5000, 0x2500), VR::LO, format!("MRKCURVE{level}")),
        (Tag(0x6000, 0x4000), VR::LT, format!("MRKOVERLAY{level}")),
    ] {
        obj.put(DataElement::new(
            tag,
            vr,
            PrimitiveValue::from(value.as_str()),
        ));
        markers.push((value, format!("{tag}")));
    }
}

/// A file with every table attribute marked at three depths: the top
/// level, an item of Referenced Image Sequence, and an item of Source
/// Image Sequence inside that item (both sequences are kept, their
/// contents de-identified).
fn marked_file(path: &Path) -> Vec<(String, String)> {
    let mut markers = Vec::new();
    let mut deepest = InMemDicomObject::new_empty();
    plant(&mut deepest, 2, &mut markers);
    let mut middle = InMemDicomObject::new_empty();
    plant(&mut middle, 1, &mut markers);
    middle.put(DataElement::new(
        tags::SOURCE_IMAGE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![deepest]),
    ));
    let mut top = InMemDicomObject::new_empty();
    plant(&mut top, 0, &mut markers);
    top.put(DataElement::new(
        tags::REFERENCED_IMAGE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![middle]),
    ));
    top.put(DataElement::new(
        tags::SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
    ));
    write_part10(top, path, uids::EXPLICIT_VR_LITTLE_ENDIAN);
    markers
}

fn only_output(dest: &Path) -> PathBuf {
    let found = outputs(dest);
    assert_eq!(found.len(), 1, "{:?}", found.keys());
    dest.join(found.keys().next().unwrap())
}

#[test]
fn no_marker_of_a_table_attribute_survives_at_any_depth() {
    let source = TempDir::new().unwrap();
    let dest = TempDir::new().unwrap();
    let markers = marked_file(&source.path().join("marked.dcm"));
    assert!(markers.len() > 3 * 500, "{} markers", markers.len());
    let run = anomize_keyed(source.path(), dest.path(), &["ps3.15-basic"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let output = only_output(dest.path());
    let bytes = std::fs::read(&output).unwrap();
    let survivors: Vec<&(String, String)> = markers
        .iter()
        .filter(|(m, _)| bytes.windows(m.len()).any(|w| w == m.as_bytes()))
        .collect();
    assert!(survivors.is_empty(), "survived: {survivors:?}");

    let elements = all_elements(&output);
    let private: Vec<&String> = elements
        .iter()
        .filter(|(_, e)| e.tag.group() % 2 == 1)
        .map(|(p, _)| p)
        .collect();
    assert!(private.is_empty(), "private elements remain: {private:?}");
    let value = |tag: Tag| {
        elements
            .iter()
            .find(|(p, _)| *p == tag.to_string())
            .map(|(_, e)| text(e))
    };
    assert_eq!(value(Tag(0x0012, 0x0062)).as_deref(), Some("YES"));
    assert_eq!(value(Tag(0x0028, 0x0303)).as_deref(), Some("REMOVED"));
    assert!(
        elements
            .iter()
            .any(|(p, e)| p.starts_with("(0012,0064)[0].") && text(e) == "113100"),
        "DeidentificationMethodCodeSequence holds 113100"
    );
    // The meta follows the data set's new SOP Instance UID.
    assert_eq!(value(Tag(0x0002, 0x0003)), value(tags::SOP_INSTANCE_UID));
    for (path, element) in &elements {
        if element.vr == VR::UI {
            assert_valid_uid(&text(element), path);
        }
    }
    if dcmdump_available() {
        assert_dcmdump_reads(&output);
    }
}

/// A UID of PS3.5 9.1: digits and dots, at most 64 characters, no empty
/// or zero-led component. An empty value holds no UID to judge.
pub fn assert_valid_uid(uid: &str, context: &str) {
    for uid in uid.split('\\').filter(|u| !u.is_empty()) {
        assert!(uid.len() <= 64, "{context}: {uid} is too long");
        assert!(
            uid.split('.').all(|c| !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))),
            "{context}: {uid:?} is not a valid UID"
        );
    }
}

/// Two patients, dates at the top level and inside a sequence item.
fn dated_file(path: &Path, patient: &str, study_date: &str, instance: u32) {
    let mut obj = ct_object(&format!("1.2.826.0.1.3680043.9999.7.{instance}"));
    put_text(&mut obj, tags::STUDY_DATE, VR::DA, study_date);
    put_text(&mut obj, tags::SERIES_DATE, VR::DA, "20200229");
    put_text(&mut obj, tags::STUDY_TIME, VR::TM, "101500");
    put_text(
        &mut obj,
        tags::ACQUISITION_DATE_TIME,
        VR::DT,
        "20200301083000.25+0100",
    );
    put_text(&mut obj, tags::PATIENT_ID, VR::LO, patient);
    put_text(&mut obj, tags::PATIENT_NAME, VR::PN, "Date^Dora");
    let mut item = InMemDicomObject::new_empty();
    put_text(
        &mut item,
        tags::REFERENCED_SOP_CLASS_UID,
        VR::UI,
        uids::CT_IMAGE_STORAGE,
    );
    put_text(&mut item, tags::INSTANCE_CREATION_DATE, VR::DA, "20191231");
    obj.put(DataElement::new(
        tags::REFERENCED_IMAGE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![item]),
    ));
    write_part10(obj, path, uids::EXPLICIT_VR_LITTLE_ENDIAN);
}

/// Days from one `YYYYMMDD` date to another.
pub fn days_between(from: &str, to: &str) -> i64 {
    days(to) - days(from)
}

/// Days since 1970-01-01 of a `YYYYMMDD` date.
fn days(date: &str) -> i64 {
    let (y, m, d): (i64, i64, i64) = (
        date[..4].parse().unwrap(),
        date[4..6].parse().unwrap(),
        date[6..8].parse().unwrap(),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// Path → value of every DA and DT element (date part), and TM values.
fn dates_of(path: &Path) -> BTreeMap<String, String> {
    all_elements(path)
        .into_iter()
        .filter(|(_, e)| matches!(e.vr, VR::DA | VR::DT | VR::TM))
        .map(|(p, e)| (p, text(&e)))
        .collect()
}

#[test]
fn modified_dates_move_by_one_offset_per_patient_and_keep_times() {
    let source = TempDir::new().unwrap();
    dated_file(&source.path().join("a1.dcm"), "PAT-A", "20200302", 1);
    dated_file(&source.path().join("a2.dcm"), "PAT-A", "20210615", 2);
    dated_file(&source.path().join("b1.dcm"), "PAT-B", "20200302", 3);
    let profiles = ["ps3.15-basic", "retain-long-modified-dates"];
    let dest = TempDir::new().unwrap();
    let run = anomize_keyed(source.path(), dest.path(), &profiles);
    assert!(run.status.success(), "{}", stderr(&run));
    let again = TempDir::new().unwrap();
    anomize_keyed(source.path(), again.path(), &profiles);
    assert_eq!(
        outputs(dest.path()),
        outputs(again.path()),
        "same secret, same output"
    );

    let rows = read_csv_rows(&dest.path().join("_out.csv"));
    let mut offsets: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for row in rows.iter().skip(1) {
        let (input, output) = (Path::new(&row[0]), Path::new(&row[5]));
        let before = dates_of(input);
        let after = dates_of(output);
        for (path, old) in &before {
            let new = after
                .get(path)
                .unwrap_or_else(|| panic!("{path} went missing"));
            if path.ends_with("(0008,0030)") {
                assert_eq!(new, old, "times are kept");
                continue;
            }
            assert_ne!(new, old, "{path} not shifted");
            // The date part moves, what follows it stays.
            assert_eq!(new[8..], old[8..], "{path}");
            offsets
                .entry(row[2].clone())
                .or_default()
                .push(days(new) - days(old));
        }
        let stamp = all_elements(output)
            .into_iter()
            .find(|(p, _)| p == "(0028,0303)")
            .map(|(_, e)| text(&e));
        assert_eq!(stamp.as_deref(), Some("MODIFIED"));
    }
    let per_patient: Vec<i64> = offsets
        .values()
        .map(|all| {
            assert!(
                all.iter().all(|d| *d == all[0]),
                "one offset per patient: {all:?}"
            );
            assert!(all[0] <= -365, "shifted back at least a year: {}", all[0]);
            all[0]
        })
        .collect();
    assert_eq!(per_patient.len(), 2);
    assert_ne!(
        per_patient[0], per_patient[1],
        "patients get their own offsets"
    );
}

#[test]
fn without_the_date_option_dates_are_removed_or_dummied() {
    let source = TempDir::new().unwrap();
    dated_file(&source.path().join("a1.dcm"), "PAT-A", "20200302", 1);
    let dest = TempDir::new().unwrap();
    let run = anomize_keyed(source.path(), dest.path(), &["ps3.15-basic"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let before = dates_of(&source.path().join("a1.dcm"));
    for (path, value) in dates_of(&only_output(dest.path())) {
        assert!(
            value.is_empty() || value.starts_with("1900") || value == "000000",
            "{path} = {value}"
        );
        assert_ne!(before.get(&path), Some(&value), "{path} kept");
    }
}

#[test]
fn burned_in_risk_is_flagged_and_quarantined_on_request() {
    let source = TempDir::new().unwrap();
    for (name, modality, annotation, instance) in [
        ("us.dcm", "US", None, 1),
        ("ct-said-no.dcm", "US", Some("NO"), 2),
        ("ct.dcm", "CT", None, 3),
        ("ct-said-yes.dcm", "CT", Some("YES"), 4),
    ] {
        let mut obj = ct_object(&format!("1.2.3.{instance}"));
        put_text(&mut obj, tags::MODALITY, VR::CS, modality);
        put_text(&mut obj, tags::PATIENT_ID, VR::LO, name);
        if let Some(answer) = annotation {
            put_text(&mut obj, tags::BURNED_IN_ANNOTATION, VR::CS, answer);
        }
        write_part10(
            obj,
            &source.path().join(name),
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
        );
    }
    let dest = TempDir::new().unwrap();
    let run = anomize(
        source.path(),
        dest.path(),
        &["-q", "--quarantine-burned-in"],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let rows = read_csv_rows(&dest.path().join("_out.csv"));
    assert_eq!(rows[0][8], "burned_in_risk");
    let risk: BTreeMap<String, (String, String)> = rows[1..]
        .iter()
        .map(|r| {
            let name = Path::new(&r[0])
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, (r[8].clone(), r[5].clone()))
        })
        .collect();
    let quarantine = dest.path().canonicalize().unwrap().join("_quarantine");
    for (name, flagged) in [
        ("us.dcm", true),
        ("ct-said-no.dcm", false),
        ("ct.dcm", false),
        ("ct-said-yes.dcm", true),
    ] {
        let (why, output) = &risk[name];
        assert_eq!(!why.is_empty(), flagged, "{name}: {why:?}");
        let output = Path::new(output).canonicalize().unwrap();
        assert_eq!(
            output.starts_with(&quarantine),
            flagged,
            "{name}: {}",
            output.display()
        );
    }
    assert!(risk["ct-said-yes.dcm"].0.starts_with("YES"));
    let xlsx = read_xlsx(&dest.path().join("_out.xlsx"));
    assert_eq!(xlsx[0][8], "burned_in_risk");
}

#[test]
fn a_removed_private_group_leaves_no_group_length_behind() {
    use crate::util::dataset::{DataSet, part10};
    use dicommanager::codec::Syntax;
    let mut dataset = DataSet::new(Syntax::EXPLICIT_VR_LITTLE_ENDIAN).patient();
    let private = DataSet::new(Syntax::EXPLICIT_VR_LITTLE_ENDIAN)
        .text(Tag(0x0019, 0x0010), VR::LO, "ACME 1.1")
        .text(Tag(0x0019, 0x1001), VR::LO, "Quentin's own words");
    dataset.header(Tag(0x0019, 0x0000), VR::UL, 4);
    dataset = dataset
        .raw(&(private.bytes.len() as u32).to_le_bytes())
        .raw(&private.bytes);
    let source = TempDir::new().unwrap();
    std::fs::write(
        source.path().join("grouped.dcm"),
        part10(uids::EXPLICIT_VR_LITTLE_ENDIAN, &dataset),
    )
    .unwrap();
    let dest = TempDir::new().unwrap();
    let run = anomize_keyed(source.path(), dest.path(), &["ps3.15-basic"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let left: Vec<String> = all_elements(&only_output(dest.path()))
        .into_iter()
        .filter(|(_, e)| e.tag.group() == 0x0019)
        .map(|(p, _)| p)
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn clean_descriptors_takes_out_names_found_anywhere_in_the_file() {
    let mut obj = ct_object("1.2.3.9");
    put_text(&mut obj, tags::PATIENT_ID, VR::LO, "MRN-4711");
    put_text(&mut obj, tags::PATIENT_NAME, VR::PN, "Lindqvist^Astrid");
    put_text(
        &mut obj,
        tags::STUDY_DESCRIPTION,
        VR::LO,
        "CT for Dr Okafor, ASTRID LINDQVIST mrn-4711",
    );
    let mut request = InMemDicomObject::new_empty();
    put_text(
        &mut request,
        tags::REQUESTING_PHYSICIAN,
        VR::PN,
        "Okafor^Chidi",
    );
    obj.put(DataElement::new(
        tags::REQUEST_ATTRIBUTES_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![request]),
    ));
    let source = TempDir::new().unwrap();
    write_part10(
        obj,
        &source.path().join("a.dcm"),
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
    );
    let dest = TempDir::new().unwrap();
    let run = anomize_keyed(
        source.path(),
        dest.path(),
        &["ps3.15-basic", "clean-descriptors"],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let output = only_output(dest.path());
    let description = all_elements(&output)
        .into_iter()
        .find(|(p, _)| *p == tags::STUDY_DESCRIPTION.to_string())
        .map(|(_, e)| text(&e));
    assert_eq!(
        description.as_deref(),
        Some("CT for Dr ******, ****** ********* ********")
    );
    let codes: Vec<String> = all_elements(&output)
        .into_iter()
        .filter(|(p, _)| p.starts_with("(0012,0064)") && p.ends_with("(0008,0100)"))
        .map(|(_, e)| text(&e))
        .collect();
    assert_eq!(codes, ["113100", "113105"]);
}

#[test]
fn patient_age_stays_true_when_dates_move() {
    // The age at the study is a fact about the patient that the shift
    // must not change: kept as it is with Retain Patient Characteristics
    // (the birth date it would be checked against is emptied), removed
    // without it.
    let mut obj = ct_object("1.2.3.10");
    put_text(&mut obj, tags::PATIENT_ID, VR::LO, "AGE-1");
    put_text(&mut obj, tags::STUDY_DATE, VR::DA, "20200302");
    put_text(&mut obj, tags::PATIENT_BIRTH_DATE, VR::DA, "19800101");
    put_text(&mut obj, tags::PATIENT_AGE, VR::AS, "040Y");
    let source = TempDir::new().unwrap();
    write_part10(
        obj,
        &source.path().join("a.dcm"),
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
    );
    let age_after = |profiles: &[&str]| {
        let dest = TempDir::new().unwrap();
        let run = anomize_keyed(source.path(), dest.path(), profiles);
        assert!(run.status.success(), "{}", stderr(&run));
        let elements = all_elements(&only_output(dest.path()));
        let value = |tag: Tag| {
            elements
                .iter()
                .find(|(p, _)| *p == tag.to_string())
                .map(|(_, e)| text(e))
        };
        assert_ne!(value(tags::STUDY_DATE).as_deref(), Some("20200302"));
        assert!(
            value(tags::PATIENT_BIRTH_DATE)
                .unwrap_or_default()
                .is_empty()
        );
        value(tags::PATIENT_AGE)
    };
    let modified = ["ps3.15-basic", "retain-long-modified-dates"];
    assert_eq!(age_after(&modified), None);
    let with_characteristics = [
        "ps3.15-basic",
        "retain-long-modified-dates",
        "retain-patient-characteristics",
    ];
    assert_eq!(age_after(&with_characteristics).as_deref(), Some("040Y"));
}
