//! Research-grade de-identification: the `tcia` profile, private
//! attributes by creator and TCIA's knowledge base, kept text checked for
//! identifying values, every date shifted.

use std::path::{Path, PathBuf};

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use tempfile::TempDir;

use crate::ps315::days_between;
use crate::util::*;

const PATIENT_ID: &str = "PX-90210";
/// Ethnic Group (retired in favour of a code sequence, still written).
const ETHNIC_GROUP: Tag = Tag(0x0010, 0x2160);
const STUDY_DATE: &str = "20240301";

/// GEMS_PETD_01 rows of the knowledge base: k, d, h, o.
const KEPT_VERSION: u16 = 0x01; // Implementation Version Name, LO, k
const PATIENT_ID_COPY: u16 = 0x02; // Patient ID, LO, d
const EXAM_UID: u16 = 0x07; // Exam ID, UI, h
const SCAN_DATE_TIME: u16 = 0x0D; // Scan Date Time, DT, o
const SCANNER_DESCRIPTION: u16 = 0x11; // LO, k (in the wrong block below)

fn put(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    put_text(obj, tag, vr, value);
}

/// The four GEMS_PETD_01 attributes in the block `block` of group 0009.
fn put_gems_block(obj: &mut InMemDicomObject, block: u16, uid: &str) {
    put(obj, Tag(0x0009, block), VR::LO, "GEMS_PETD_01");
    let at = |element: u16| Tag(0x0009, (block << 8) | element);
    put(obj, at(KEPT_VERSION), VR::LO, "v4.0 PX-90210 build");
    put(obj, at(PATIENT_ID_COPY), VR::LO, PATIENT_ID);
    put(obj, at(EXAM_UID), VR::UI, uid);
    put(obj, at(SCAN_DATE_TIME), VR::DT, "20240301101500");
}

/// A CT with planted identifiers in attributes research keeps, a private
/// block of GEMS_PETD_01 at (0009,11xx) beside another creator's block at
/// (0009,10xx), and the same creator at (0009,10xx) inside a sequence item.
fn planted_file(path: &Path) {
    let mut obj = ct_object("1.2.826.0.1.3680043.2.1125.9.1");
    put(&mut obj, tags::PATIENT_NAME, VR::PN, "Planted^Petra");
    put(&mut obj, tags::PATIENT_ID, VR::LO, PATIENT_ID);
    put(&mut obj, tags::PATIENT_BIRTH_DATE, VR::DA, "19700315");
    put(&mut obj, tags::STUDY_DATE, VR::DA, STUDY_DATE);
    put(&mut obj, tags::STUDY_TIME, VR::TM, "101500");
    put(&mut obj, tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3.4.1");
    put(&mut obj, tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3.4.2");
    put(
        &mut obj,
        tags::STUDY_DESCRIPTION,
        VR::LO,
        "BRAIN MRI for Petra",
    );
    put(
        &mut obj,
        tags::SERIES_DESCRIPTION,
        VR::LO,
        "T1 AXIAL PLANTED",
    );
    put(&mut obj, tags::PROTOCOL_NAME, VR::LO, "PX-90210 protocol");
    put(&mut obj, ETHNIC_GROUP, VR::SH, "PETRA");
    put(&mut obj, tags::SMOKING_STATUS, VR::CS, "NO PX-90210");
    put(&mut obj, tags::PATIENT_SEX_NEUTERED, VR::CS, "ALTERED");
    put(&mut obj, tags::PATIENT_SEX, VR::CS, "F");
    put(&mut obj, tags::PATIENT_AGE, VR::AS, "054Y");
    put(
        &mut obj,
        tags::MANUFACTURER,
        VR::LO,
        "ACME 1970-03-15 EDITION",
    );
    put(&mut obj, tags::DATE_OF_LAST_CALIBRATION, VR::DA, "20230101");
    put(&mut obj, tags::DEVICE_SERIAL_NUMBER, VR::LO, "SN-123");
    // Another creator's block: (0009,1011) is not GEMS_PETD_01's element.
    put(&mut obj, Tag(0x0009, 0x0010), VR::LO, "SOMEONE ELSE 1.0");
    put(
        &mut obj,
        Tag(0x0009, 0x1000 | SCANNER_DESCRIPTION),
        VR::LO,
        "x",
    );
    put_gems_block(&mut obj, 0x11, "1.2.3.4.77");
    let mut item = InMemDicomObject::new_empty();
    put(
        &mut item,
        tags::REFERENCED_SOP_CLASS_UID,
        VR::UI,
        uids::CT_IMAGE_STORAGE,
    );
    put(
        &mut item,
        tags::REFERENCED_SOP_INSTANCE_UID,
        VR::UI,
        "1.2.3.4.9",
    );
    put(
        &mut item,
        tags::ACQUISITION_DATE_TIME,
        VR::DT,
        "20240301101600",
    );
    put_gems_block(&mut item, 0x10, "1.2.3.4.78");
    obj.put(DataElement::new(
        tags::REFERENCED_IMAGE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![item]),
    ));
    write_part10(obj, path, uids::EXPLICIT_VR_LITTLE_ENDIAN);
}

struct Run {
    _dirs: (TempDir, TempDir),
    output: PathBuf,
    audit: Vec<Vec<String>>,
}

fn run(profiles: &[&str]) -> Run {
    let source = TempDir::new().unwrap();
    let dest = TempDir::new().unwrap();
    planted_file(&source.path().join("a.dcm"));
    let out = anomize_keyed(source.path(), dest.path(), profiles);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let audit = read_csv_rows(&dest.path().join("_out.csv"));
    let output = PathBuf::from(&audit[1][5]);
    if dcmdump_available() {
        assert_dcmdump_reads(&output);
    }
    Run {
        _dirs: (source, dest),
        output,
        audit,
    }
}

fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    obj.element_opt(tag).unwrap().map(|e| {
        e.to_str()
            .unwrap()
            .trim_end_matches(['\0', ' '])
            .to_string()
    })
}

/// Checks the GEMS_PETD_01 block found at `block` of `obj`.
fn assert_knowledge_base_honoured(obj: &InMemDicomObject, block: u16, offset: i64, what: &str) {
    let at = |element: u16| Tag(0x0009, (block << 8) | element);
    assert_eq!(
        text(obj, Tag(0x0009, block)).as_deref(),
        Some("GEMS_PETD_01"),
        "{what}: the creator stays"
    );
    // k, with the planted patient ID starred out and the rest kept.
    assert_eq!(
        text(obj, at(KEPT_VERSION)).as_deref(),
        Some("v4.0 ******** build"),
        "{what}"
    );
    // d
    assert_eq!(text(obj, at(PATIENT_ID_COPY)), None, "{what}");
    // h: a keyed UID
    let uid = text(obj, at(EXAM_UID)).unwrap_or_default();
    assert!(uid.starts_with("2.25."), "{what}: {uid}");
    // o: shifted by the patient's offset, time kept
    let date_time = text(obj, at(SCAN_DATE_TIME)).unwrap_or_default();
    assert_eq!(days_between("20240301", &date_time[..8]), offset, "{what}");
    assert_eq!(&date_time[8..], "101500", "{what}");
}

#[test]
fn tcia_honours_the_knowledge_base_in_any_block_and_inside_sequences() {
    let run = run(&["tcia"]);
    let obj = dicom_object::open_file(&run.output).unwrap();
    let study_date = text(&obj, tags::STUDY_DATE).unwrap();
    let offset = days_between(STUDY_DATE, &study_date);
    assert!(offset <= -365, "{study_date}");
    assert_knowledge_base_honoured(&obj, 0x11, offset, "top level, block 11");
    // Another creator's block: neither its creator nor its element stay.
    assert_eq!(text(&obj, Tag(0x0009, 0x0010)), None);
    assert_eq!(text(&obj, Tag(0x0009, 0x1011)), None);
    let items = obj
        .element(tags::REFERENCED_IMAGE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap();
    assert_knowledge_base_honoured(&items[0], 0x10, offset, "inside an item, block 10");
    let item_uid = text(&items[0], Tag(0x0009, 0x1007)).unwrap();
    let top_uid = text(&obj, Tag(0x0009, 0x1107)).unwrap();
    assert_ne!(item_uid, top_uid, "two source UIDs, two new UIDs");
    // Dates at any depth move by the one offset.
    let inner = text(&items[0], tags::ACQUISITION_DATE_TIME).unwrap();
    assert_eq!(days_between("20240301", &inner[..8]), offset);
}

#[test]
fn tcia_keeps_what_research_needs_without_the_planted_identifiers() {
    let run = run(&["tcia"]);
    let obj = dicom_object::open_file(&run.output).unwrap();
    for (tag, expected) in [
        (tags::STUDY_DESCRIPTION, Some("BRAIN MRI for *****")),
        (tags::SERIES_DESCRIPTION, Some("T1 AXIAL *******")),
        (tags::PROTOCOL_NAME, Some("******** protocol")),
        (ETHNIC_GROUP, Some("*****")),
        (tags::SMOKING_STATUS, Some("NO ________")),
        (tags::PATIENT_SEX_NEUTERED, Some("ALTERED")),
        (tags::PATIENT_SEX, Some("F")),
        (tags::PATIENT_AGE, Some("054Y")),
        (tags::STUDY_TIME, Some("101500")),
        (tags::MANUFACTURER, Some("ACME ********** EDITION")),
        (tags::PATIENT_NAME, Some("1")),
        (tags::PATIENT_ID, Some("1")),
        (tags::PATIENT_BIRTH_DATE, Some("")),
        (tags::DEVICE_SERIAL_NUMBER, None),
        (tags::DATE_OF_LAST_CALIBRATION, None),
        (tags::PATIENT_IDENTITY_REMOVED, Some("YES")),
        (
            tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
            Some("MODIFIED"),
        ),
    ] {
        assert_eq!(text(&obj, tag).as_deref(), expected, "{tag}");
    }
    let codes: Vec<String> = obj
        .element(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()
        .iter()
        .filter_map(|item| text(item, tags::CODE_VALUE))
        .collect();
    assert_eq!(codes, ["113100", "113105", "113107", "113108", "113111"]);
    // The audit says how many values were cleaned (never which): the six
    // above and the kept private version text in its two blocks.
    let reason = &run.audit[1][7];
    assert_eq!(
        reason, "8 values cleaned of identifying text",
        "{:?}",
        run.audit[1]
    );
}

#[test]
fn ps315_research_options_clean_kept_values_and_move_device_dates() {
    let run = run(&[
        "ps3.15-basic",
        "retain-long-modified-dates",
        "retain-patient-characteristics",
        "retain-device-identity",
        "retain-safe-private",
        "clean-descriptors",
    ]);
    let obj = dicom_object::open_file(&run.output).unwrap();
    let offset = days_between(STUDY_DATE, &text(&obj, tags::STUDY_DATE).unwrap());
    assert!(offset <= -365);
    // Kept by Retain Device Identity, moved by Modified Dates.
    let calibration = text(&obj, tags::DATE_OF_LAST_CALIBRATION).unwrap();
    assert_eq!(days_between("20230101", &calibration), offset);
    assert_eq!(
        text(&obj, tags::DEVICE_SERIAL_NUMBER).as_deref(),
        Some("SN-123")
    );
    // Kept by Retain Patient Characteristics, checked.
    assert_eq!(text(&obj, ETHNIC_GROUP).as_deref(), Some("*****"));
    assert_eq!(
        text(&obj, tags::SMOKING_STATUS).as_deref(),
        Some("NO ________")
    );
    assert_eq!(text(&obj, tags::PATIENT_SEX).as_deref(), Some("F"));
    // Cleaned by Clean Descriptors.
    assert_eq!(
        text(&obj, tags::SERIES_DESCRIPTION).as_deref(),
        Some("T1 AXIAL *******")
    );
    // Retain Safe Private: the knowledge base, in both blocks.
    assert_knowledge_base_honoured(&obj, 0x11, offset, "ps3.15, top level");
    assert_eq!(text(&obj, Tag(0x0009, 0x1011)), None);
}

#[test]
fn a_site_list_keeps_its_own_private_attributes_by_creator() {
    let dir = TempDir::new().unwrap();
    let site = profile_file(
        dir.path(),
        "site.toml",
        "extends = [\"ps3.15-basic\"]\n\n[private-creators.\"SOMEONE ELSE 1.0\"]\n\"(0009,xx11)\" = \"keep\"\n",
    );
    let run = run(&[site.to_str().unwrap()]);
    let obj = dicom_object::open_file(&run.output).unwrap();
    assert_eq!(
        text(&obj, Tag(0x0009, 0x0010)).as_deref(),
        Some("SOMEONE ELSE 1.0")
    );
    assert_eq!(text(&obj, Tag(0x0009, 0x1011)).as_deref(), Some("x"));
    // Without the knowledge base, GEMS_PETD_01's block goes with its creator.
    assert_eq!(text(&obj, Tag(0x0009, 0x0011)), None);
    assert_eq!(text(&obj, Tag(0x0009, 0x1101)), None);
}

#[test]
fn verify_reports_what_the_profile_cost_research_per_attribute() {
    let source = TempDir::new().unwrap();
    let dest = TempDir::new().unwrap();
    planted_file(&source.path().join("a.dcm"));
    let out = anomize_keyed(source.path(), dest.path(), &["tcia"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reports = TempDir::new().unwrap();
    let csv_path = reports.path().join("utility.csv");
    let json_path = reports.path().join("utility.json");
    for path in [&csv_path, &json_path] {
        let run = verify(
            source.path(),
            dest.path(),
            &["--utility-report", path.to_str().unwrap()],
        );
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    }
    let rows = read_csv_rows(&csv_path);
    assert_eq!(
        rows[0],
        [
            "tag",
            "attribute",
            "kept",
            "cleaned",
            "shifted",
            "remapped",
            "replaced",
            "removed"
        ]
    );
    let row = |keyword: &str| {
        rows.iter()
            .find(|r| r[1] == keyword)
            .unwrap_or_else(|| panic!("{keyword} not in {rows:?}"))
            .clone()
    };
    //                                   kept cleaned shifted remapped replaced removed
    assert_eq!(row("StudyDate")[2..], ["0", "0", "1", "0", "0", "0"]);
    assert_eq!(
        row("AcquisitionDateTime")[2..],
        ["0", "0", "1", "0", "0", "0"]
    );
    assert_eq!(row("SOPInstanceUID")[2..], ["0", "0", "0", "1", "0", "0"]);
    assert_eq!(
        row("SeriesDescription")[2..],
        ["0", "1", "0", "0", "0", "0"]
    );
    assert_eq!(row("PatientSex")[2..], ["1", "0", "0", "0", "0", "0"]);
    assert_eq!(row("PatientName")[2..], ["0", "0", "0", "0", "1", "0"]);
    assert_eq!(
        row("DeviceSerialNumber")[2..],
        ["0", "0", "0", "0", "0", "1"]
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(json["(0008,0020)"]["attribute"], "StudyDate");
    assert_eq!(json["(0008,0020)"]["shifted"], 1);
    assert_eq!(json["(0018,1000)"]["removed"], 1);
    // Counts only: no value of the source is in the report.
    let text = std::fs::read_to_string(&csv_path).unwrap();
    assert!(!text.contains("PX-90210") && !text.contains("Petra"));
}

#[test]
fn profile_show_of_tcia_and_a_private_list_loads_to_the_same_rules() {
    let dir = TempDir::new().unwrap();
    let site = profile_file(
        dir.path(),
        "site.toml",
        "extends = [\"tcia\"]\n\n[private-creators.\"SIEMENS MR HEADER\"]\n\"(0019,xx0C)\" = \"keep\"\n",
    );
    let show = |path: &Path| {
        let out = dicommanager()
            .args(["profile", "show"])
            .arg(path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = show(&site);
    assert!(
        shown.contains("private-knowledge-base = \"tcia-2024-02-01\""),
        "{shown}"
    );
    assert!(
        shown.contains("[private-creators.\"SIEMENS MR HEADER\"]"),
        "{shown}"
    );
    assert!(shown.contains("\"(0019,xx0C)\" = \"keep\""), "{shown}");
    let copy = profile_file(dir.path(), "shown.toml", &shown);
    let fingerprint = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("# Fingerprint:"))
            .map(String::from)
    };
    assert_eq!(fingerprint(&show(&copy)), fingerprint(&shown));
}
