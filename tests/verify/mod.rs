//! `verify` end to end: files with PHI in known places, de-identified by
//! the real binary with the built-in or a test profile, then checked.

use std::fs;
use std::path::Path;
use std::process::Output;

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use tempfile::TempDir;

use crate::util::*;

const ASTRID: Patient<'static> = Patient {
    id: "PID7731",
    name: "Lindqvist^Astrid",
};
const OTHER_ID: &str = "OPI-55521";
const REFERRER: &str = "Okonkwo^Chidi";
const STUDY: &str = "1.2.826.0.1.3680043.99.7";

/// A profile that leaves nothing of [`rich_object`] behind: names, IDs and
/// dates removed, private attributes gone, UIDs replaced by keyed hashes.
const CLEAN_PROFILE: &str = r#"extends = ["basic"]
private-attributes = "remove"
[attributes]
"(0010,1000)" = "remove"
ReferringPhysicianName = "blank"
PatientBirthDate = "remove"
ContentSequence = "remove"
StudyInstanceUID = "hash"
SeriesInstanceUID = "hash"
SOPInstanceUID = "hash"
"#;

fn put_bytes(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: &[u8]) {
    obj.put(DataElement::new(
        tag,
        vr,
        PrimitiveValue::from(value.to_vec()),
    ));
}

fn sequence(obj: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    obj.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

/// Astrid's image with PHI the `basic` profile keeps: Other Patient IDs,
/// the referring physician, her ID in the text of a nested report item,
/// her name in private data (a UN and an OB blob) and her other ID in a
/// private element after the pixel data.
fn rich_object() -> InMemDicomObject {
    let mut obj = patient_object(&ASTRID, STUDY, 1);
    put_text(&mut obj, Tag(0x0010, 0x1000), VR::LO, OTHER_ID);
    put_text(&mut obj, tags::REFERRING_PHYSICIAN_NAME, VR::PN, REFERRER);

    let mut finding = InMemDicomObject::new_empty();
    put_text(&mut finding, tags::VALUE_TYPE, VR::CS, "TEXT");
    put_text(
        &mut finding,
        tags::TEXT_VALUE,
        VR::UT,
        "Prior exam under PID7731 reviewed.",
    );
    let mut container = InMemDicomObject::new_empty();
    put_text(&mut container, tags::VALUE_TYPE, VR::CS, "CONTAINER");
    let mut empty = InMemDicomObject::new_empty();
    put_text(&mut empty, tags::VALUE_TYPE, VR::CS, "TEXT");
    sequence(&mut container, tags::CONTENT_SEQUENCE, vec![empty, finding]);
    sequence(&mut obj, tags::CONTENT_SEQUENCE, vec![container]);

    put_text(&mut obj, Tag(0x0009, 0x0010), VR::LO, "ACME IMAGING");
    put_bytes(
        &mut obj,
        Tag(0x0009, 0x1001),
        VR::UN,
        b"\x01\x00operator note: lindqvist\x00\x02",
    );
    put_bytes(
        &mut obj,
        Tag(0x0009, 0x1002),
        VR::OB,
        b"\xff\xfeASTRID\x00\x00",
    );
    put_text(&mut obj, Tag(0x7FE1, 0x0010), VR::LO, "ACME TRAILER");
    put_text(&mut obj, Tag(0x7FE1, 0x1001), VR::LO, OTHER_ID);
    obj
}

fn source_with(files: &[(&str, InMemDicomObject)]) -> TempDir {
    let dir = TempDir::new().unwrap();
    for (name, obj) in files {
        write_part10(
            obj.clone(),
            &dir.path().join(name),
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
        );
    }
    dir
}

/// `anomize` with the profile text (none: the default `basic`); asserts it worked.
fn anomized(source: &Path, profile: Option<&str>) -> TempDir {
    let dest = TempDir::new().unwrap();
    let profile_dir = TempDir::new().unwrap();
    let mut args = Vec::new();
    if let Some(text) = profile {
        let path = profile_dir.path().join("site.toml");
        fs::write(&path, text).unwrap();
        args = vec!["--profile".to_string(), path.display().to_string()];
    }
    let out = dicommanager()
        .env("DICOMMANAGER_SECRET", TEST_SECRET)
        .args(["anomize", "--quiet", "-s"])
        .arg(source)
        .arg("-d")
        .arg(dest.path())
        .args(&args)
        .output()
        .unwrap();
    assert!(out.status.success(), "anomize failed: {}", stderr(&out));
    dest
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_lines(out: &Output, expected: &[&str]) {
    let text = stdout(out);
    for line in expected {
        assert!(
            text.lines().any(|l| l == *line),
            "missing line {line:?} in:\n{text}"
        );
    }
}

#[test]
fn verify_basic_profile_leaves_other_ids_and_the_referrer_and_verify_names_them() {
    let source = source_with(&[("a.dcm", rich_object())]);
    let dest = anomized(source.path(), None);
    let before = snapshot(source.path());

    let out = verify(source.path(), dest.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_lines(
        &out,
        &[
            "1_001.dcm: OtherPatientIDs (0010,1000) holds the value of OtherPatientIDs (0010,1000)",
            "1_001.dcm: ReferringPhysicianName (0008,0090) holds the value of ReferringPhysicianName (0008,0090)",
            "1_001.dcm: PatientBirthDate (0010,0030) holds the value of PatientBirthDate (0010,0030)",
            "1_001.dcm: StudyInstanceUID (0020,000D) holds the value of StudyInstanceUID (0020,000D)",
        ],
    );
    let everything = format!("{}{}", stdout(&out), stderr(&out));
    for value in [OTHER_ID, "Okonkwo", "Chidi", "19700101", STUDY, "Lindqvist"] {
        assert!(
            !everything.contains(value),
            "{value} printed:\n{everything}"
        );
    }
    assert!(
        stderr(&out).contains("verify: 1 files checked, 1 with leaks,"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(source.path()), before, "verify changed a source");

    let shown = verify(source.path(), dest.path(), &["--show-values"]);
    assert_eq!(shown.status.code(), Some(1));
    assert_lines(
        &shown,
        &[
            "1_001.dcm: OtherPatientIDs (0010,1000) holds the value of OtherPatientIDs (0010,1000): \"OPI-55521\"",
            "1_001.dcm: ReferringPhysicianName (0008,0090) holds the value of ReferringPhysicianName (0008,0090): \"Okonkwo^Chidi\"",
        ],
    );
}

#[test]
fn verify_finds_phi_in_nested_items_private_blobs_and_after_the_pixel_data() {
    let source = source_with(&[("a.dcm", rich_object())]);
    let dest = anomized(source.path(), None);
    let out = verify(source.path(), dest.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_lines(
        &out,
        &[
            "1_001.dcm: ContentSequence[1].ContentSequence[2].TextValue (0040,A160) holds the value of PatientID (0010,0020)",
            "1_001.dcm: (0009,1001) holds a name component of PatientName (0010,0010)",
            "1_001.dcm: (0009,1002) holds a name component of PatientName (0010,0010)",
            "1_001.dcm: (7FE1,1001) holds the value of OtherPatientIDs (0010,1000)",
        ],
    );
    // The private creators name a vendor, not the patient.
    assert!(!stdout(&out).contains("(0009,0010)"), "{}", stdout(&out));
}

#[test]
fn verify_clean_output_exits_zero() {
    let source = source_with(&[("a.dcm", rich_object())]);
    let dest = anomized(source.path(), Some(CLEAN_PROFILE));
    let out = verify(source.path(), dest.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("verify: 1 files checked, 0 with leaks, 0 leaks"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_usage_errors_exit_2() {
    let source = source_with(&[("a.dcm", rich_object())]);
    let not_a_run = TempDir::new().unwrap();
    let out = verify(source.path(), not_a_run.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("has no _out.csv"), "{}", stderr(&out));

    let dest = anomized(source.path(), None);
    let out = verify(&source.path().join("missing"), dest.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("source folder"), "{}", stderr(&out));

    fs::write(dest.path().join("_out.csv"), "source_file,status\n").unwrap();
    let out = verify(source.path(), dest.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no column \"destinaton_file\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_reports_a_listed_file_it_cannot_read_and_goes_on() {
    let other = Patient {
        id: "PID9902",
        name: "Brandt^Jonas",
    };
    let source = source_with(&[
        ("a.dcm", rich_object()),
        (
            "b.dcm",
            patient_object(&other, "1.2.826.0.1.3680043.99.8", 1),
        ),
    ]);
    let dest = anomized(source.path(), Some(CLEAN_PROFILE));
    fs::remove_file(dest.path().join("1_001.dcm")).unwrap();
    let out = verify(source.path(), dest.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| l.starts_with("error: 1_001.dcm: cannot read the output")),
        "{err}"
    );
    assert!(
        err.contains("2 files checked, 0 with leaks, 0 leaks, 1 could not be checked"),
        "{err}"
    );
}

#[test]
fn verify_reports_phi_in_the_output_path_without_printing_the_path() {
    let source = source_with(&[("a.dcm", rich_object())]);
    let profile = CLEAN_PROFILE.replacen(
        "extends = [\"basic\"]\n",
        "extends = [\"basic\"]\noutput = \"PID7731/{patient_index}_{image_number:03}.dcm\"\n",
        1,
    );
    let dest = anomized(source.path(), Some(&profile));
    assert!(dest.path().join("PID7731/1_001.dcm").is_file());
    let out = verify(source.path(), dest.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "_out.csv line 2: the file path holds the value of PatientID (0010,0020)\n"
    );
    assert!(!stderr(&out).contains("PID7731"), "{}", stderr(&out));
    let shown = verify(source.path(), dest.path(), &["--show-values"]);
    assert_eq!(
        stdout(&shown),
        "PID7731/1_001.dcm: the file path holds the value of PatientID (0010,0020): \"PID7731\"\n"
    );

    // The same through a crafted audit row with a relative path.
    let clean = anomized(source.path(), Some(CLEAN_PROFILE));
    fs::rename(
        clean.path().join("1_001.dcm"),
        clean.path().join("Lindqvist.dcm"),
    )
    .unwrap();
    let audit = fs::read_to_string(clean.path().join("_out.csv")).unwrap();
    let listed = clean.path().canonicalize().unwrap().join("1_001.dcm");
    fs::write(
        clean.path().join("_out.csv"),
        audit.replace(listed.to_str().unwrap(), "Lindqvist.dcm"),
    )
    .unwrap();
    let out = verify(source.path(), clean.path(), &["--show-values"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Lindqvist.dcm: the file path holds a name component of PatientName (0010,0010): \"Lindqvist\"\n"
    );
}

#[test]
fn verify_matches_name_components_as_whole_words_only() {
    let mut inside_words = patient_object(
        &Patient {
            id: "PID-100",
            name: "Li^Wei",
        },
        "1.2.826.0.1.3680043.99.9",
        1,
    );
    put_text(
        &mut inside_words,
        tags::SERIES_DESCRIPTION,
        VR::LO,
        "CLINICAL WEIGHT STUDY",
    );
    let mut as_word = patient_object(
        &Patient {
            id: "PID-200",
            name: "Ng^Li",
        },
        "1.2.826.0.1.3680043.99.10",
        1,
    );
    put_text(
        &mut as_word,
        tags::SERIES_DESCRIPTION,
        VR::LO,
        "reviewed by dr. LI",
    );
    let source = source_with(&[("a.dcm", inside_words), ("b.dcm", as_word)]);
    let dest = anomized(source.path(), Some(CLEAN_PROFILE));
    let out = verify(source.path(), dest.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "2_001.dcm: SeriesDescription (0008,103E) holds a name component of PatientName (0010,0010)\n"
    );
}

#[test]
fn verify_counts_a_label_that_merely_equals_phi_only_when_strict() {
    // The institution is called like the scanner's maker: the manufacturer
    // label is the scanner's own, unchanged, and not identifying.
    let mut obj = patient_object(&ASTRID, STUDY, 1);
    put_text(&mut obj, tags::INSTITUTION_NAME, VR::LO, "MERIDIAN");
    put_text(&mut obj, tags::MANUFACTURER, VR::LO, "MERIDIAN_SCANNERS");
    let source = source_with(&[("a.dcm", obj)]);
    let profile = format!("{CLEAN_PROFILE}InstitutionName = \"remove\"\n");
    let dest = anomized(source.path(), Some(&profile));
    let out = verify(source.path(), dest.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("1 matches in attributes PS3.15 does not list"),
        "{}",
        stderr(&out)
    );
    let strict = verify(source.path(), dest.path(), &["--strict"]);
    assert_eq!(strict.status.code(), Some(1));
    assert_lines(
        &strict,
        &[
            "1_001.dcm: Manufacturer (0008,0070) holds the value of InstitutionName (0008,0080) (unchanged from the source, in an attribute PS3.15 does not list)",
        ],
    );
}
