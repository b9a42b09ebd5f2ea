//! `metadata` end to end: table, dump and JSON, decoded text, bad input.

use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_object::InMemDicomObject;
use predicates::prelude::*;

use super::harness::{Fixture, bin};

fn patient(dir: &std::path::Path) -> std::path::PathBuf {
    let mut f = Fixture::mono16(1, 1, &[7], "MONOCHROME2");
    f.put(Tag(0x0008, 0x0005), VR::CS, "ISO_IR 100")
        .put(Tag(0x0010, 0x0020), VR::LO, "PID-17")
        .put(Tag(0x0008, 0x0060), VR::CS, "CT");
    // Latin-1 bytes, as the file declares: "Müller^Jürgen".
    f.put_raw(
        Tag(0x0010, 0x0010),
        VR::PN,
        PrimitiveValue::from(b"M\xfcller^J\xfcrgen ".to_vec()),
    );
    let mut item = InMemDicomObject::new_empty();
    item.put(DataElement::new(
        Tag(0x0008, 0x1150),
        VR::UI,
        PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.7"),
    ));
    f.object_mut().put(DataElement::new(
        Tag(0x0008, 0x1140),
        VR::SQ,
        Value::from(DataSetSequence::new(vec![item], Length::UNDEFINED)),
    ));
    f.write(&dir.join("p.dcm"))
}

#[test]
fn table_decodes_the_character_set() {
    let dir = tempfile::tempdir().unwrap();
    let file = patient(dir.path());
    bin()
        .args(["metadata", "-f"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("Müller^Jürgen"))
        .stdout(predicate::str::contains("PID-17"))
        .stdout(predicate::str::contains("Explicit VR Little Endian"))
        .stdout(predicate::str::contains("Secondary Capture Image Storage"));
}

#[test]
fn all_indents_sequences_and_stops_before_pixel_data() {
    let dir = tempfile::tempdir().unwrap();
    let file = patient(dir.path());
    bin()
        .args(["metadata", "--all", "-f"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "(0008,1140) SQ ReferencedImageSequence (1 item)",
        ))
        .stdout(predicate::str::contains(
            "    (0008,1150) UI ReferencedSOPClassUID",
        ))
        .stdout(predicate::str::contains("(7FE0,0010)").not());
}

#[test]
fn json_is_the_dicom_model() {
    let dir = tempfile::tempdir().unwrap();
    let file = patient(dir.path());
    let out = bin()
        .args(["metadata", "--json", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["00100010"],
        serde_json::json!({"vr": "PN", "Value": [{"Alphabetic": "Müller^Jürgen"}]})
    );
    assert_eq!(json["00280010"]["Value"], serde_json::json!([1]));
    assert_eq!(
        json["00081140"]["Value"][0]["00081150"]["Value"],
        serde_json::json!(["1.2.840.10008.5.1.4.1.1.7"])
    );
    assert!(json.get("7FE00010").is_none());
    assert!(json.get("00020010").is_none());
}

#[test]
fn bad_input_is_one_line_and_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    bin()
        .args(["metadata", "-f"])
        .arg(&text)
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("notes.txt: not a DICOM file"))
        .stderr(predicate::function(|s: &str| s.lines().count() == 1));

    // A real file cut in the middle of an element.
    let full = std::fs::read(patient(dir.path())).unwrap();
    let cut = dir.path().join("cut.dcm");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    bin()
        .args(["metadata", "-f"])
        .arg(&cut)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cut.dcm: file ends inside"));

    bin()
        .args(["metadata", "-f"])
        .arg(dir.path().join("missing.dcm"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "missing.dcm: cannot read the file",
        ));
}

/// Regression for ISO 2022 Japanese (PS3.5 H.3.1): dicom-rs decodes only
/// the first Specific Character Set term; we decode the escapes.
#[test]
fn iso_2022_japanese_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fixture::new();
    f.put(Tag(0x0008, 0x0005), VR::CS, "\\ISO 2022 IR 87");
    f.put_raw(
        Tag(0x0010, 0x0010),
        VR::PN,
        PrimitiveValue::from(
            b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B"
                .to_vec(),
        ),
    );
    let file = f.write(&dir.path().join("jp.dcm"));
    bin()
        .args(["metadata", "-f"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Yamada^Tarou=山田^太郎=やまだ^たろう",
        ));
}

#[test]
fn several_files_are_printed_one_after_another_and_a_bad_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = patient(dir.path());
    let bad = dir.path().join("notes.txt");
    std::fs::write(&bad, b"not DICOM").unwrap();
    let out = bin()
        .args(["metadata", "-f"])
        .arg(&file)
        .arg(&bad)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches(&format!("# {}", file.display())).count(),
        2,
        "{stdout}"
    );
    assert_eq!(stdout.matches("PID-17").count(), 2, "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("notes.txt"));

    // JSON for several files is an array of DICOM JSON objects.
    let out = bin()
        .args(["metadata", "--json"])
        .arg(&file)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(2));
    assert_eq!(json[1]["00100020"]["Value"][0], "PID-17");
}

#[test]
fn completions_and_the_manual_page_are_generated_from_the_command_line() {
    for shell in ["bash", "zsh", "fish"] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["anomize", "registry", "secret-file", "metadata"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let out = bin().arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH dicommanager"),
        "{page}"
    );
    assert!(page.contains("anomize"), "{page}");
}
