//! `anomize` end to end: numbering, audit, outputs, profiles, safety.

mod quirks;

use std::fs;
use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use tempfile::TempDir;

use crate::util::*;

const ALICE: Patient<'static> = Patient {
    id: "PAT-A",
    name: "Smith^Alice",
};
const BOB: Patient<'static> = Patient {
    id: "PAT-B",
    name: "Jones^Bob",
};
const CAROL: Patient<'static> = Patient {
    id: "PAT-C",
    name: "Müller^Carol",
};

/// A PACS-like tree: three patients over nested folders, a repeated
/// Patient ID in another folder, files without extension, non-DICOM files
/// (one named .dcm) and a truncated DICOM file.
fn pacs_tree() -> TempDir {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    write_patient_file(
        &root.join("b_ward/study1/img1.dcm"),
        &BOB,
        "1.2.826.0.1.9.1",
        1,
    );
    write_patient_file(&root.join("b_ward/study1/img2"), &BOB, "1.2.826.0.1.9.1", 2);
    write_patient_file(&root.join("a_ward/x/01.dcm"), &ALICE, "1.2.826.0.1.9.2", 1);
    write_patient_file(&root.join("c_ward/later.dcm"), &ALICE, "1.2.826.0.1.9.3", 1);
    write_patient_file(&root.join("c_ward/zz.dcm"), &CAROL, "1.2.826.0.1.9.4", 1);
    fs::write(root.join("a_ward/notes.txt"), "call the ward").unwrap();
    fs::write(root.join("b_ward/fake.dcm"), "%PDF-1.4 not dicom").unwrap();
    fs::write(root.join("c_ward/empty.dcm"), "").unwrap();
    let whole = fs::read(root.join("c_ward/zz.dcm")).unwrap();
    fs::write(
        root.join("c_ward/truncated.dcm"),
        &whole[..whole.len() - 10],
    )
    .unwrap();
    dir
}

fn source_path(root: &Path, rel: &str) -> String {
    root.canonicalize().unwrap().join(rel).display().to_string()
}

#[test]
fn numbers_patients_and_writes_the_audit() {
    let source = pacs_tree();
    let dest = TempDir::new().unwrap();
    let out = anomize(source.path(), dest.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    let metadata = read_csv_rows(&dest.path().join("_metadata.csv"));
    let expected_order = [
        "a_ward/x/01.dcm",
        "b_ward/study1/img1.dcm",
        "b_ward/study1/img2",
        "c_ward/later.dcm",
        "c_ward/truncated.dcm",
        "c_ward/zz.dcm",
    ];
    assert_eq!(metadata.len(), expected_order.len());
    for (i, (row, rel)) in metadata.iter().zip(expected_order).enumerate() {
        let size = fs::metadata(source.path().join(rel)).unwrap().len();
        assert_eq!(
            row,
            &vec![
                (i + 1).to_string(),
                source_path(source.path(), rel),
                size.to_string()
            ]
        );
    }

    let xlsx = read_xlsx(&dest.path().join("_out.xlsx"));
    assert_eq!(xlsx[0][..7], SEED_HEADERS);
    let rows: Vec<(String, String, String, String, String)> = xlsx[1..]
        .iter()
        .map(|r| {
            let dest_name = Path::new(&r[5])
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                r[1].clone(),
                r[2].clone(),
                r[3].clone(),
                dest_name,
                r[6].clone(),
            )
        })
        .collect();
    let row = |name: &str, id: &str, index: &str, file: &str, status: &str| {
        (
            name.to_string(),
            id.to_string(),
            index.to_string(),
            file.to_string(),
            status.to_string(),
        )
    };
    assert_eq!(
        rows,
        [
            row("Smith^Alice", "PAT-A", "1", "1_001.dcm", "OK"),
            row("Jones^Bob", "PAT-B", "2", "2_001.dcm", "OK"),
            row("Jones^Bob", "PAT-B", "2", "2_002.dcm", "OK"),
            row("Smith^Alice", "PAT-A", "1", "1_002.dcm", "OK"),
            row("Müller^Carol", "PAT-C", "3", "", "ERROR"),
            row("Müller^Carol", "PAT-C", "3", "3_002.dcm", "OK"),
        ]
    );
    let reason = &xlsx[5][7];
    assert!(
        reason.contains("PixelData (7FE0,0010)") && reason.contains("present"),
        "{reason}"
    );
    assert_eq!(xlsx[1][0], source_path(source.path(), "a_ward/x/01.dcm"));
    assert_eq!(
        xlsx[1][4],
        fs::metadata(source.path().join("a_ward/x/01.dcm"))
            .unwrap()
            .len()
            .to_string()
    );

    // The CSV audit says the same as the workbook.
    let csv = read_csv_rows(&dest.path().join("_out.csv"));
    assert_eq!(csv, xlsx);

    let produced: Vec<PathBuf> = outputs(dest.path()).into_keys().collect();
    assert_eq!(
        produced,
        [
            "1_001.dcm",
            "1_002.dcm",
            "2_001.dcm",
            "2_002.dcm",
            "3_002.dcm"
        ]
        .map(PathBuf::from)
    );
    // No temporary file is left behind by the failed one.
    let leftovers: Vec<_> = fs::read_dir(dest.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn basic_profile_changes_the_four_tags_at_every_depth_and_nothing_else() {
    let source = pacs_tree();
    let dest = TempDir::new().unwrap();
    anomize(source.path(), dest.path(), &[]);
    let output = dest.path().join("2_002.dcm");
    assert_eq!(text_of(&output, tags::PATIENT_NAME).as_deref(), Some("2"));
    assert_eq!(text_of(&output, tags::PATIENT_ID).as_deref(), Some("2"));
    assert_eq!(text_of(&output, tags::PATIENT_ADDRESS).as_deref(), Some(""));
    assert_eq!(
        text_of(&output, tags::STUDY_DESCRIPTION).as_deref(),
        Some("")
    );

    let original = dicom_object::open_file(source.path().join("b_ward/study1/img2")).unwrap();
    let written = dicom_object::open_file(&output).unwrap();
    let item = &written
        .element(tags::REFERENCED_PATIENT_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0];
    assert_eq!(
        item.element(tags::PATIENT_NAME).unwrap().to_str().unwrap(),
        "2"
    );
    assert_eq!(
        item.element(tags::PATIENT_ID).unwrap().to_str().unwrap(),
        "2"
    );
    for tag in [
        tags::PATIENT_BIRTH_DATE,
        tags::STUDY_INSTANCE_UID,
        tags::SOP_INSTANCE_UID,
        tags::STUDY_DATE,
        tags::INSTANCE_NUMBER,
    ] {
        assert_eq!(
            written.element(tag).unwrap().to_str().unwrap(),
            original.element(tag).unwrap().to_str().unwrap(),
            "{tag}"
        );
    }
    assert_eq!(
        written
            .element(tags::PIXEL_DATA)
            .unwrap()
            .to_bytes()
            .unwrap(),
        original
            .element(tags::PIXEL_DATA)
            .unwrap()
            .to_bytes()
            .unwrap()
    );
    assert_eq!(
        written.meta().media_storage_sop_instance_uid(),
        original.meta().media_storage_sop_instance_uid()
    );
}

#[test]
fn sources_are_never_changed() {
    let source = pacs_tree();
    let before = snapshot(source.path());
    let dest = TempDir::new().unwrap();
    anomize(source.path(), dest.path(), &[]);
    assert_eq!(snapshot(source.path()), before);
}

#[test]
fn same_result_whatever_the_number_of_threads() {
    let source = pacs_tree();
    let one = TempDir::new().unwrap();
    let many = TempDir::new().unwrap();
    anomize(source.path(), one.path(), &["--jobs", "1"]);
    anomize(source.path(), many.path(), &["--jobs", "8"]);
    assert_eq!(outputs(one.path()), outputs(many.path()));
    let strip = |rows: Vec<Vec<String>>, dest: &Path| -> Vec<Vec<String>> {
        let prefix = dest.canonicalize().unwrap().display().to_string();
        rows.into_iter()
            .map(|r| r.into_iter().map(|c| c.replace(&prefix, "DEST")).collect())
            .collect()
    };
    assert_eq!(
        strip(read_xlsx(&one.path().join("_out.xlsx")), one.path()),
        strip(read_xlsx(&many.path().join("_out.xlsx")), many.path())
    );
    assert_eq!(
        fs::read(one.path().join("_metadata.csv")).unwrap(),
        fs::read(many.path().join("_metadata.csv")).unwrap()
    );
}

#[test]
fn batches_number_in_walk_order_whatever_the_threads() {
    // Enough files for many batches, patients scattered across them, so
    // that workers number batches taken out of order.
    let source = TempDir::new().unwrap();
    let ids = ["P5", "P2", "P9", "P2", "P7", "P1", "P5", "P3"];
    for i in 0..120u32 {
        let id = ids[(i as usize * 5 + i as usize / 7) % ids.len()];
        let patient = Patient {
            id,
            name: "Many^Batches",
        };
        let path = source.path().join(format!("s{}/f{i:03}.dcm", i % 6));
        write_patient_file(&path, &patient, &format!("1.2.3.{}", i % 4), i);
    }
    let one = TempDir::new().unwrap();
    let many = TempDir::new().unwrap();
    anomize(source.path(), one.path(), &["--jobs", "1"]);
    anomize(source.path(), many.path(), &["--jobs", "8"]);
    assert_eq!(outputs(one.path()), outputs(many.path()));
    let listing = read_csv_rows(&many.path().join("_metadata.csv"));
    assert_eq!(listing, read_csv_rows(&one.path().join("_metadata.csv")));
    // _metadata.csv is the sorted walk, numbered 1, 2, 3 ...
    let walked: Vec<String> = walkdir::WalkDir::new(source.path().canonicalize().unwrap())
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().display().to_string())
        .collect();
    let listed: Vec<(String, String)> = listing
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let expected: Vec<(String, String)> = walked
        .into_iter()
        .enumerate()
        .map(|(i, path)| ((i + 1).to_string(), path))
        .collect();
    assert_eq!(listed, expected);
    // Patient indices in order of first appearance in that order.
    let rows = read_csv_rows(&many.path().join("_out.csv")).split_off(1);
    let mut first_seen: Vec<String> = Vec::new();
    for row in &rows {
        if !first_seen.contains(&row[2]) {
            first_seen.push(row[2].clone());
        }
        let index = first_seen.iter().position(|id| *id == row[2]).unwrap() + 1;
        assert_eq!(row[3], index.to_string(), "{row:?}");
    }
    assert_eq!(first_seen.len(), 6);
}

#[cfg(unix)]
#[test]
fn audit_files_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let source = pacs_tree();
    let dest = TempDir::new().unwrap();
    anomize(source.path(), dest.path(), &[]);
    for name in ["_metadata.csv", "_out.xlsx", "_out.csv"] {
        let mode = fs::metadata(dest.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}

#[test]
fn all_ok_exits_zero_with_a_summary() {
    let source = TempDir::new().unwrap();
    write_patient_file(&source.path().join("one.dcm"), &ALICE, "1.2.3", 1);
    let dest = TempDir::new().unwrap();
    let out = anomize(source.path(), dest.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    for line in [
        "files seen   1",
        "DICOM files  1",
        "OK           1",
        "ERROR        0",
        "patients     1",
    ] {
        assert!(summary.contains(line), "{summary}");
    }
    assert!(summary.contains("files/s"), "{summary}");
    // Nothing but the summary: no patient data on the terminal.
    assert!(!summary.contains("Alice") && !stderr(&out).contains("Alice"));
    let quiet = TempDir::new().unwrap();
    let out = anomize(source.path(), quiet.path(), &["--quiet"]);
    assert!(out.stdout.is_empty());
}

#[test]
fn a_previous_run_is_not_overwritten_without_asking() {
    let source = TempDir::new().unwrap();
    write_patient_file(&source.path().join("one.dcm"), &ALICE, "1.2.3", 1);
    let dest = TempDir::new().unwrap();
    anomize(source.path(), dest.path(), &[]);
    let before = snapshot(dest.path());
    let out = anomize(source.path(), dest.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--overwrite"), "{}", stderr(&out));
    assert_eq!(snapshot(dest.path()), before);
    let out = anomize(source.path(), dest.path(), &["--overwrite"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn output_inside_the_source_is_not_walked_into() {
    let source = TempDir::new().unwrap();
    write_patient_file(&source.path().join("one.dcm"), &ALICE, "1.2.3", 1);
    let dest = source.path().join("out");
    let out = anomize(source.path(), &dest, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = anomize(source.path(), &dest, &["--overwrite"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(read_csv_rows(&dest.join("_metadata.csv")).len(), 1);
}

#[test]
fn profile_errors_exit_2_before_touching_anything() {
    let source = pacs_tree();
    let dir = TempDir::new().unwrap();
    let profile = dir.path().join("site.toml");
    fs::write(&profile, "[attributes]\nPatientName = \"blank\"\nPatientNmae = \"blank\"\nPatientID = \"scramble\"\n").unwrap();
    let dest = dir.path().join("dest");
    let out = anomize(
        source.path(),
        &dest,
        &["--profile", profile.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("site.toml:3: unknown attribute \"PatientNmae\""),
        "{err}"
    );
    assert!(
        err.contains("site.toml:4: unknown action \"scramble\""),
        "{err}"
    );
    assert!(
        err.contains("allowed: keep, remove, blank, replace, replace-with-index, hash"),
        "{err}"
    );
    assert!(!dest.exists());
}

#[test]
fn built_in_profile_by_name_or_missing_file_name() {
    let source = TempDir::new().unwrap();
    write_patient_file(&source.path().join("one.dcm"), &ALICE, "1.2.3", 1);
    for spec in ["basic", "basic.toml"] {
        let dest = TempDir::new().unwrap();
        let out = dicommanager()
            .current_dir(dest.path())
            .args(["anomize", "-s"])
            .arg(source.path())
            .arg("-d")
            .arg(dest.path().join("out"))
            .args(["--profile", spec])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{spec}: {}", stderr(&out));
        assert_eq!(
            text_of(&dest.path().join("out/1_001.dcm"), tags::PATIENT_NAME).as_deref(),
            Some("1")
        );
    }
}

#[test]
fn custom_profile_with_replace_hash_and_folders() {
    let source = pacs_tree();
    let dir = TempDir::new().unwrap();
    let profile = dir.path().join("site.toml");
    fs::write(
        &profile,
        r#"extends = ["basic"]
output = "{patient_index}/{study}/{series}/{image_number:04}.dcm"
[attributes]
PatientBirthDate = "remove"
StudyInstanceUID = "hash"
PatientID = "hash"
StudyDescription = { action = "replace", value = "RESEARCH" }
"#,
    )
    .unwrap();
    let run = |secret: Option<&str>| {
        let dest = TempDir::new().unwrap();
        let mut cmd = dicommanager();
        cmd.args(["anomize", "-s"])
            .arg(source.path())
            .arg("-d")
            .arg(dest.path())
            .args(["--profile", profile.to_str().unwrap()]);
        match secret {
            Some(secret) => cmd.env("DICOMMANAGER_SECRET", secret),
            None => cmd.arg("--allow-unkeyed"),
        };
        let out = cmd.output().unwrap();
        (dest, out)
    };
    let (dest, out) = run(None);
    assert!(
        stderr(&out).contains("WARNING: no secret (--allow-unkeyed)"),
        "{}",
        stderr(&out)
    );
    let file = dest.path().join("1/2/1/0002.dcm");
    assert!(
        file.exists(),
        "{:?}",
        outputs(dest.path()).keys().collect::<Vec<_>>()
    );
    assert_eq!(text_of(&file, tags::PATIENT_BIRTH_DATE), None);
    assert_eq!(
        text_of(&file, tags::STUDY_DESCRIPTION).as_deref(),
        Some("RESEARCH")
    );
    let study = text_of(&file, tags::STUDY_INSTANCE_UID).unwrap();
    assert!(study.starts_with("2.25.") && study.len() <= 64, "{study}");
    let id = text_of(&file, tags::PATIENT_ID).unwrap();
    assert_eq!(id.len(), 32);
    assert_ne!(id, ALICE.id);

    let (keyed, out) = run(Some("a long random secret"));
    assert!(!stderr(&out).contains("WARNING"), "{}", stderr(&out));
    let keyed_id = text_of(&keyed.path().join("1/2/1/0002.dcm"), tags::PATIENT_ID).unwrap();
    assert_ne!(keyed_id, id);
    let (again, _) = run(Some("a long random secret"));
    assert_eq!(outputs(keyed.path()), outputs(again.path()));
}

#[test]
fn keep_all_profile_copies_data_sets_byte_for_byte() {
    let source = TempDir::new().unwrap();
    for name in [
        "MR_small_bigendian.dcm",
        "UN_sequence.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
    ] {
        fs::copy(fixture(name), source.path().join(name)).unwrap();
    }
    let dest = keep_all(source.path());
    for row in read_csv_rows(&dest.path().join("out/_out.csv"))
        .iter()
        .skip(1)
    {
        let input = fs::read(&row[0]).unwrap();
        let output = fs::read(&row[5]).unwrap();
        assert_eq!(dataset_bytes(&output), dataset_bytes(&input), "{}", row[0]);
    }
}

/// Runs `anomize` with a profile that keeps everything; output in `out/`.
fn keep_all(source: &Path) -> TempDir {
    let dir = TempDir::new().unwrap();
    let profile = dir.path().join("keep.toml");
    fs::write(
        &profile,
        "unlisted-attributes = \"keep\"\nprivate-attributes = \"keep\"\n",
    )
    .unwrap();
    let out = anomize(
        source,
        &dir.path().join("out"),
        &["--profile", profile.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    dir
}

#[test]
fn group_lengths_are_recomputed() {
    // chrJapMulti.dcm declares (0010,0000) = 106 for a group of 190 bytes.
    let source = TempDir::new().unwrap();
    fs::copy(fixture("chrJapMulti.dcm"), source.path().join("a.dcm")).unwrap();
    for dest in [keep_all(source.path()).path().join("out"), {
        let dest = TempDir::new().unwrap().keep();
        anomize(source.path(), &dest, &[]);
        dest
    }] {
        let output = fs::read(dest.join("1_001.dcm")).unwrap();
        let groups = group_lengths(dataset_bytes(&output));
        assert!(groups.contains_key(&0x0010), "{groups:?}");
        for (group, (declared, actual)) in groups {
            assert_eq!(declared, actual, "group {group:04X} in {}", dest.display());
        }
    }
}

/// Declared and actual length of every group that has a group length,
/// walking the top level of an explicit VR little endian data set.
fn group_lengths(mut data: &[u8]) -> std::collections::BTreeMap<u16, (u32, u32)> {
    use dicommanager::codec::{Header, Source, Syntax, skip_value};
    let mut groups = std::collections::BTreeMap::new();
    let mut source = Source::new(&mut data);
    let syntax = Syntax::EXPLICIT_VR_LITTLE_ENDIAN;
    loop {
        let start = source.position();
        let Some(header) = Header::read(&mut source, syntax).unwrap() else {
            break;
        };
        if header.tag.element() == 0 {
            let value = source.read_value(4, "group length").unwrap();
            let declared = u32::from_le_bytes(value.try_into().unwrap());
            groups.insert(header.tag.group(), (declared, 0));
            continue;
        }
        skip_value(&mut source, &header, syntax, 0).unwrap();
        if let Some((_, actual)) = groups.get_mut(&header.tag.group()) {
            *actual += (source.position() - start) as u32;
        }
    }
    groups
}

/// The bytes after the file meta group of a Part 10 file.
fn dataset_bytes(file: &[u8]) -> &[u8] {
    let meta_len = u32::from_le_bytes(file[140..144].try_into().unwrap()) as usize;
    &file[144 + meta_len..]
}

#[test]
fn every_encoding_is_rewritten_into_valid_dicom() {
    let source = TempDir::new().unwrap();
    for name in [
        "chrJapMulti.dcm",
        "image_dfl.dcm",
        "MR_small_bigendian.dcm",
        "rtstruct.dcm",
        "UN_sequence.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
    ] {
        fs::copy(fixture(name), source.path().join(name)).unwrap();
    }
    let dest = TempDir::new().unwrap();
    let out = anomize(source.path(), dest.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let audit = read_csv_rows(&dest.path().join("_out.csv"));
    assert_eq!(audit.len(), 7);
    for row in &audit[1..] {
        let output = PathBuf::from(&row[5]);
        let index = &row[3];
        let Some(obj) = read_back(&row[0], &output) else {
            continue;
        };
        assert_eq!(
            obj.element(tags::PATIENT_NAME).unwrap().to_str().unwrap(),
            index.as_str()
        );
        assert_eq!(
            obj.element(tags::PATIENT_ID).unwrap().to_str().unwrap(),
            index.as_str()
        );
        assert_eq!(
            obj.meta().media_storage_sop_instance_uid(),
            obj.element(tags::SOP_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end_matches('\0')
        );
    }
    // The Japanese name is readable text in the audit, not escape bytes.
    let japanese = audit
        .iter()
        .find(|r| r[0].ends_with("chrJapMulti.dcm"))
        .unwrap();
    assert_eq!(japanese[1], "やまだ^たろう");
    // The file without meta got one, and the deflated file stays deflated.
    let rtstruct = audit
        .iter()
        .find(|r| r[0].ends_with("rtstruct.dcm"))
        .unwrap();
    let obj = dicom_object::open_file(&rtstruct[5]).unwrap();
    assert_eq!(
        obj.meta().transfer_syntax(),
        uids::IMPLICIT_VR_LITTLE_ENDIAN
    );
    assert_eq!(
        obj.meta().media_storage_sop_class_uid(),
        uids::RT_STRUCTURE_SET_STORAGE
    );
    let deflated = audit
        .iter()
        .find(|r| r[0].ends_with("image_dfl.dcm"))
        .unwrap();
    let obj = dicom_object::open_file(&deflated[5]).unwrap();
    assert_eq!(
        obj.meta().transfer_syntax(),
        uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
    );
}

#[test]
fn missing_source_is_a_usage_error() {
    let dest = TempDir::new().unwrap();
    let out = anomize(Path::new("/no/such/folder"), dest.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/no/such/folder"), "{}", stderr(&out));
}

/// An image whose native pixel data (80,000 bytes) is large enough for the
/// kernel to copy it, with elements after it: a private block and the
/// trailing padding.
fn big_pixel_object() -> InMemDicomObject {
    let mut obj = patient_object(
        &Patient {
            id: "BIG-1",
            name: "Pixel^Petra",
        },
        "1.2.826.0.1.3680043.9999.40",
        1,
    );
    let samples: Vec<u16> = (0..40_000u32).map(|i| (i * 7 % 4096) as u16).collect();
    obj.put(DataElement::new(
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(200u16),
    ));
    obj.put(DataElement::new(
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(200u16),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(samples.into()),
    ));
    obj.put(DataElement::new(
        Tag(0x7FE1, 0x0010),
        VR::LO,
        PrimitiveValue::from("ACME TRAILER"),
    ));
    obj.put(DataElement::new(
        Tag(0x7FE1, 0x1001),
        VR::LO,
        PrimitiveValue::from("Petra's note"),
    ));
    obj.put(DataElement::new(
        Tag(0xFFFC, 0xFFFC),
        VR::OB,
        PrimitiveValue::from(vec![0u8; 64]),
    ));
    obj
}

#[test]
fn large_pixel_data_is_copied_exactly_and_what_follows_it_is_still_ruled() {
    let source = TempDir::new().unwrap();
    for (name, syntax) in [
        ("little.dcm", uids::EXPLICIT_VR_LITTLE_ENDIAN),
        ("implicit.dcm", uids::IMPLICIT_VR_LITTLE_ENDIAN),
        ("big.dcm", "1.2.840.10008.1.2.2"),
    ] {
        write_part10(big_pixel_object(), &source.path().join(name), syntax);
    }
    // Kept as they are: byte for byte, elements after the pixels included.
    let dest = keep_all(source.path());
    let rows = read_csv_rows(&dest.path().join("out/_out.csv"));
    assert_eq!(rows.len(), 4);
    for row in rows.iter().skip(1) {
        let input = fs::read(&row[0]).unwrap();
        let output = fs::read(&row[5]).unwrap();
        assert_eq!(dataset_bytes(&output), dataset_bytes(&input), "{}", row[0]);
    }
    // PS3.15: the same pixels, the private block and the padding gone.
    let dest = TempDir::new().unwrap();
    let out = anomize_keyed(source.path(), dest.path(), &["ps3.15-basic"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for row in read_csv_rows(&dest.path().join("_out.csv")).iter().skip(1) {
        let input = dicom_object::open_file(&row[0]).unwrap();
        let output = dicom_object::open_file(&row[5]).unwrap();
        let pixels = |obj: &dicom_object::DefaultDicomObject| {
            obj.element(tags::PIXEL_DATA)
                .unwrap()
                .to_bytes()
                .unwrap()
                .to_vec()
        };
        assert_eq!(pixels(&output), pixels(&input), "{}", row[0]);
        for tag in [
            Tag(0x7FE1, 0x0010),
            Tag(0x7FE1, 0x1001),
            Tag(0xFFFC, 0xFFFC),
        ] {
            assert!(
                output.element_opt(tag).unwrap().is_none(),
                "{tag} in {}",
                row[5]
            );
        }
        assert_eq!(
            output
                .element(tags::PATIENT_NAME)
                .unwrap()
                .to_str()
                .unwrap()
                .trim(),
            "1"
        );
    }
}

#[test]
fn the_summary_names_failed_files_and_where_the_audit_is() {
    use std::os::unix::fs::PermissionsExt;
    let source = pacs_tree();
    let dest = TempDir::new().unwrap();
    let elsewhere = TempDir::new().unwrap();
    let json = elsewhere.path().join("summary.json");
    let out = anomize(
        source.path(),
        dest.path(),
        &["--summary-json", json.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("failed files:"), "{summary}");
    assert!(summary.contains("c_ward/truncated.dcm: "), "{summary}");
    let audit = dest.path().canonicalize().unwrap().join("_out.xlsx");
    assert!(
        summary.contains(&format!("audit        {}", audit.display())),
        "{summary}"
    );

    let written: serde_json::Value = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
    assert_eq!(written["state"], "complete");
    assert_eq!(written["dicom_files"], 6);
    assert_eq!(written["errors"], 1);
    assert_eq!(written["ok"], 5);
    let failed = written["first_errors"][0]["source_file"].as_str().unwrap();
    assert!(failed.ends_with("c_ward/truncated.dcm"), "{failed}");
    assert_eq!(written["audit"]["xlsx"], audit.to_str().unwrap());
    let mode = fs::metadata(&json).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_profile_that_needs_a_secret_refuses_to_run_without_one() {
    let source = pacs_tree();
    let dest = TempDir::new().unwrap();
    let out = anomize(source.path(), dest.path(), &["--profile", "ps3.15-basic"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--allow-unkeyed"), "{}", stderr(&out));
    assert_eq!(fs::read_dir(dest.path()).unwrap().count(), 0);

    let out = anomize(
        source.path(),
        dest.path(),
        &["--profile", "ps3.15-basic", "--allow-unkeyed"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("WARNING: no secret"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_secret_can_come_from_a_file() {
    use std::os::unix::fs::PermissionsExt;
    let source = pacs_tree();
    let keys = TempDir::new().unwrap();
    let key_file = keys.path().join("secret");
    fs::write(&key_file, format!("{TEST_SECRET}\n")).unwrap();
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600)).unwrap();

    let from_env = TempDir::new().unwrap();
    anomize_keyed(source.path(), from_env.path(), &["ps3.15-basic"]);
    let from_option = TempDir::new().unwrap();
    let out = anomize(
        source.path(),
        from_option.path(),
        &[
            "-q",
            "--profile",
            "ps3.15-basic",
            "--secret-file",
            key_file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).is_empty() || !stderr(&out).contains("WARNING"));
    let from_variable = TempDir::new().unwrap();
    let out = dicommanager()
        .env("DICOMMANAGER_SECRET_FILE", &key_file)
        .args(["anomize", "-q", "--profile", "ps3.15-basic", "-s"])
        .arg(source.path())
        .arg("-d")
        .arg(from_variable.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(outputs(from_env.path()), outputs(from_option.path()));
    assert_eq!(outputs(from_env.path()), outputs(from_variable.path()));

    let empty = keys.path().join("empty");
    fs::write(&empty, b"").unwrap();
    let out = anomize(
        source.path(),
        TempDir::new().unwrap().path(),
        &["--secret-file", empty.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is empty"), "{}", stderr(&out));
}

#[test]
fn the_workbook_has_a_frozen_header_a_filter_and_column_widths() {
    use std::io::Read;
    let source = pacs_tree();
    let dest = TempDir::new().unwrap();
    anomize(source.path(), dest.path(), &["-q"]);
    let file = fs::File::open(dest.path().join("_out.xlsx")).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut sheet = String::new();
    archive
        .by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut sheet)
        .unwrap();
    assert!(sheet.contains(r#"ySplit="1""#), "{sheet}");
    assert!(sheet.contains(r#"state="frozen""#), "{sheet}");
    // Header and six files: rows 1 to 7, columns A to J.
    assert!(sheet.contains(r#"<autoFilter ref="A1:J7""#), "{sheet}");
    assert!(sheet.contains(r#"<col min="1" max="1" width="#), "{sheet}");
}

#[test]
fn profile_list_and_show_tell_what_a_profile_does() {
    let out = dicommanager().args(["profile", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let list = String::from_utf8_lossy(&out.stdout);
    for name in dicommanager::profile::builtin_names() {
        assert!(list.contains(name), "{name} missing from {list}");
    }

    let dir = TempDir::new().unwrap();
    let site = dir.path().join("site.toml");
    fs::write(
        &site,
        "extends = [\"ps3.15-basic\"]\n\n[attributes]\nInstitutionName = { action = \"replace\", value = \"SITE\" }\n",
    )
    .unwrap();
    let out = dicommanager()
        .args(["profile", "show"])
        .arg(&site)
        .arg("retain-uids")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains(&format!(
            "\"InstitutionName\" = {{ action = \"replace\", value = \"SITE\" }}  # InstitutionName (0008,0080) from {}:4",
            site.display()
        )),
        "{shown}"
    );
    assert!(
        shown.contains("from built-in profile \"retain-uids\""),
        "{shown}"
    );
    // What is shown is a profile that does the same.
    let copy = dir.path().join("shown.toml");
    fs::write(&copy, &shown).unwrap();
    let again = dicommanager()
        .args(["profile", "show"])
        .arg(&copy)
        .output()
        .unwrap();
    let fingerprint = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("# Fingerprint:"))
            .map(String::from)
    };
    assert_eq!(
        fingerprint(&String::from_utf8_lossy(&again.stdout)),
        fingerprint(&shown)
    );

    let out = dicommanager()
        .args(["profile", "show", "no-such-profile"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_dry_run_plans_what_a_run_does_and_writes_nothing() {
    let source = pacs_tree();
    let work = TempDir::new().unwrap();
    let dest = work.path().join("dest");
    let out = anomize(source.path(), &dest, &["--dry-run"]);
    // Headers only: the file cut short after its header is found by the
    // rewrite, not by the plan.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!dest.exists(), "a dry run created DEST");
    assert!(stderr(&out).contains("dry run: nothing was written"));
    let plan: Vec<Vec<String>> = csv::Reader::from_reader(out.stdout.as_slice())
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();

    let run = anomize(source.path(), &dest, &["-q"]);
    assert_eq!(run.status.code(), Some(1));
    let audit = read_csv_rows(&dest.join("_out.csv"));
    assert_eq!(plan.len(), audit.len() - 1);
    for (planned, done) in plan.iter().zip(&audit[1..]) {
        assert_eq!(planned[..5], done[..5], "same file, patient and index");
        if done[6] == "OK" {
            assert_eq!(planned[5], done[5], "the output the run wrote");
            assert_eq!(planned[6], "PLANNED", "{planned:?}");
        } else {
            assert!(done[0].ends_with("truncated.dcm"), "{done:?}");
        }
    }
    // The registry, resume and overwrite write things: not with a dry run.
    let out = anomize(source.path(), &dest, &["--dry-run", "--resume"]);
    assert_eq!(out.status.code(), Some(2));

    // Asked to, the plan is also kept in the audit folder (DEST untouched).
    let keys = work.path().join("keys");
    let other = work.path().join("other");
    let out = anomize(
        source.path(),
        &other,
        &["--dry-run", "--audit-dir", keys.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!other.exists());
    assert_eq!(fs::read(keys.join("_plan.csv")).unwrap(), out.stdout);
}

#[test]
fn profile_explain_names_the_rule_and_line_of_a_nested_element() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("a.dcm");
    write_patient_file(&file, &ALICE, "1.2.3", 1);
    let site = dir.path().join("site.toml");
    fs::write(
        &site,
        "extends = [\"basic\"]\n\n[attributes]\nReferencedPatientSequence = \"keep\"\n",
    )
    .unwrap();
    let out = dicommanager()
        .args(["profile", "explain"])
        .arg(&site)
        .arg("-f")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let site_line = format!("[{}:4 (ReferencedPatientSequence)]", site.display());
    assert!(text.contains(&site_line), "{text}");
    // Inside the sequence's item, indented: the basic profile's rule.
    let nested = text
        .lines()
        .find(|l| l.starts_with("  PatientName (0010,0010)"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        nested.contains(
            "replace-with-index  [built-in profile \"basic\":16 (PatientName)]  -> rewritten"
        ),
        "{nested}"
    );
    // Values are PHI: only on request.
    assert!(!text.contains(ALICE.name), "{text}");
    let out = dicommanager()
        .args(["profile", "explain", "-f"])
        .arg(&file)
        .arg("--show-values")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{:?} -> \"1\"", ALICE.name)),
        "{text}"
    );
}

#[test]
fn quiet_and_verbose_in_every_command_that_talks() {
    let source = TempDir::new().unwrap();
    for i in 0..7 {
        fs::write(source.path().join(format!("broken{i}.dcm")), b"DICM").unwrap();
        let mut bytes = vec![0u8; 128];
        bytes.extend_from_slice(b"DICM\x02\x00\x10\x00UI\x04\x001.2");
        fs::write(source.path().join(format!("cut{i}.dcm")), bytes).unwrap();
    }
    write_patient_file(&source.path().join("good.dcm"), &ALICE, "1.2", 1);
    let dest = TempDir::new().unwrap();
    let out = anomize(source.path(), dest.path(), &[]);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("failed files (first 5; -v names all):"),
        "{summary}"
    );
    let out = anomize(source.path(), &dest.path().join("v"), &["-v"]);
    let verbose = String::from_utf8_lossy(&out.stdout);
    assert!(verbose.contains("failed files:"), "{verbose}");
    assert_eq!(verbose.matches("cut").count(), 7, "{verbose}");
    let out = anomize(source.path(), &dest.path().join("q"), &["-q"]);
    assert!(out.stdout.is_empty());

    // verify: -q keeps only the findings, -v adds a line per clean file.
    let out = verify(source.path(), &dest.path().join("v"), &["-q"]);
    assert!(!stderr(&out).contains("files checked"), "{}", stderr(&out));
    let out = verify(source.path(), &dest.path().join("v"), &["-v"]);
    assert!(stderr(&out).contains("files checked"), "{}", stderr(&out));

    // splitby: -v names each move, -q only errors.
    let pngs = TempDir::new().unwrap();
    for name in ["1_001.png", "2_001.png", "loose.png"] {
        fs::write(pngs.path().join(name), b"x").unwrap();
    }
    let out = dicommanager()
        .args(["splitby", "-v", "-m", ".png", "-d", "_", "-s"])
        .arg(pngs.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("\nmoved /").count() + usize::from(text.starts_with("moved /")),
        2,
        "{text}"
    );
    fs::write(pngs.path().join("3_001.png"), b"x").unwrap();
    let out = dicommanager()
        .args(["splitby", "-q", "-m", ".png", "-d", "_", "-s"])
        .arg(pngs.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(pngs.path().join("3/3_001.png").exists());
}
