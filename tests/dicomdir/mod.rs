//! A DICOMDIR in SOURCE: not rewritten as an image, made anew for DEST
//! from the outputs, and read by DCMTK, dicom3tools and pydicom.

use std::path::{Path, PathBuf};
use std::process::Command;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicommanager::dicomdir::{Encoded, Record, encode_directory};
use tempfile::TempDir;

use crate::util::{
    Patient, anomize, anomize_keyed, assert_dcmdump_reads, corpus, dcmdump_available,
    patient_object, profile_file, read_csv_rows, verify, write_part10, write_patient_file,
};

/// An output template whose paths are file IDs (upper case, at most 8
/// characters a level).
const FILE_SET_TEMPLATE: &str =
    "output = \"P{patient_index}/ST{study}/SE{series}/IM{image_number:04}\"\n";

const ANNA: Patient<'static> = Patient {
    id: "PAT00001",
    name: "Schmidt^Anna",
};
const BERND: Patient<'static> = Patient {
    id: "PAT00002",
    name: "Meyer^Bernd",
};
const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";
const ANNA_STUDY: &str = "1.2.826.0.1.3680043.2.1143.77.1";
const BERND_STUDY: &str = "1.2.826.0.1.3680043.2.1143.77.2";

fn text(tag: Tag, vr: VR, value: &str) -> Encoded {
    let mut bytes = value.as_bytes().to_vec();
    if bytes.len() % 2 == 1 {
        bytes.push(if vr == VR::UI { 0 } else { b' ' });
    }
    Encoded::new(tag, vr, &bytes).unwrap()
}

fn record(record_type: &str, elements: Vec<Encoded>, children: Vec<Record>) -> Record {
    Record {
        record_type: record_type.to_string(),
        elements,
        children,
    }
}

/// The records of one patient as a CD writer makes them: every key with
/// the patient's real values, files named after the patient ID.
fn patient_records(patient: &Patient<'_>, study: &str, file_ids: &[&str]) -> Record {
    let images = file_ids
        .iter()
        .enumerate()
        .map(|(i, file_id)| {
            record(
                "IMAGE",
                vec![
                    text(tags::REFERENCED_FILE_ID, VR::CS, file_id),
                    text(
                        tags::REFERENCED_SOP_CLASS_UID_IN_FILE,
                        VR::UI,
                        uids::CT_IMAGE_STORAGE,
                    ),
                    text(
                        tags::REFERENCED_SOP_INSTANCE_UID_IN_FILE,
                        VR::UI,
                        &format!("{study}.{}", i + 1),
                    ),
                    text(
                        tags::REFERENCED_TRANSFER_SYNTAX_UID_IN_FILE,
                        VR::UI,
                        uids::EXPLICIT_VR_LITTLE_ENDIAN,
                    ),
                    text(tags::INSTANCE_NUMBER, VR::IS, &(i + 1).to_string()),
                ],
                Vec::new(),
            )
        })
        .collect();
    let series = record(
        "SERIES",
        vec![
            text(tags::MODALITY, VR::CS, "CT"),
            text(tags::SERIES_INSTANCE_UID, VR::UI, &format!("{study}.1")),
            text(tags::SERIES_NUMBER, VR::IS, "1"),
        ],
        images,
    );
    let study = record(
        "STUDY",
        vec![
            text(tags::STUDY_DATE, VR::DA, "20240115"),
            text(tags::STUDY_TIME, VR::TM, "101500"),
            text(tags::ACCESSION_NUMBER, VR::SH, "ACC4711"),
            text(tags::STUDY_DESCRIPTION, VR::LO, "Chest of Mueller"),
            text(tags::STUDY_INSTANCE_UID, VR::UI, study),
            text(tags::STUDY_ID, VR::SH, "S4711"),
        ],
        vec![series],
    );
    record(
        "PATIENT",
        vec![
            text(tags::PATIENT_NAME, VR::PN, patient.name),
            text(tags::PATIENT_ID, VR::LO, patient.id),
        ],
        vec![study],
    )
}

/// A CD-like SOURCE: a DICOMDIR and two patients' images in folders
/// named after their patient IDs (the second patient's in lower case, as
/// media copied to Linux often are). Two records lead nowhere useful: one
/// names a file that is not there, one a file cut short (an ERROR row).
fn cd_source() -> TempDir {
    let source = TempDir::new().unwrap();
    let root = source.path();
    write_patient_file(&root.join("PAT00001/STU1/SER1/IMG1"), &ANNA, ANNA_STUDY, 1);
    // One image in Explicit VR Big Endian: its output keeps that syntax,
    // and its record says so.
    write_part10(
        patient_object(&ANNA, ANNA_STUDY, 2),
        &root.join("PAT00001/STU1/SER1/IMG2"),
        EXPLICIT_VR_BIG_ENDIAN,
    );
    write_patient_file(
        &root.join("pat00002/stu1/ser1/img1"),
        &BERND,
        BERND_STUDY,
        1,
    );
    let broken = root.join("pat00002/stu1/ser1/img2");
    write_patient_file(&broken, &BERND, BERND_STUDY, 2);
    let bytes = std::fs::read(&broken).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() - 9]).unwrap();
    let roots = [
        patient_records(
            &ANNA,
            ANNA_STUDY,
            &["PAT00001\\STU1\\SER1\\IMG1", "PAT00001\\STU1\\SER1\\IMG2"],
        ),
        patient_records(
            &BERND,
            BERND_STUDY,
            &[
                "PAT00002\\STU1\\SER1\\IMG1",
                "PAT00002\\STU1\\SER1\\IMG2",
                "PAT00002\\STU1\\SER1\\IMG9",
            ],
        ),
    ];
    std::fs::write(root.join("DICOMDIR"), encode_directory(&roots).unwrap()).unwrap();
    source
}

/// The audit row of the DICOMDIR of `source`.
fn directory_row(dest: &Path, source: &Path) -> Vec<String> {
    let wanted = source.join("DICOMDIR").canonicalize().unwrap();
    read_csv_rows(&dest.join("_out.csv"))
        .into_iter()
        .find(|row| Path::new(&row[0]) == wanted)
        .expect("the DICOMDIR has an audit row")
}

/// Whether a reference tool answers `probe` (a shell command); in CI
/// (`DICOMMANAGER_REQUIRE_DCMTK`, which `.ci/run` sets after
/// `scripts/setup.sh` installed DCMTK, dicom3tools and pydicom) its absence
/// is a failure.
fn available(tool: &str, probe: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", probe])
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        found || std::env::var_os("DICOMMANAGER_REQUIRE_DCMTK").is_none(),
        "DICOMMANAGER_REQUIRE_DCMTK is set but {tool} is missing (scripts/setup.sh installs it)"
    );
    if !found {
        eprintln!("{tool} not found: its check is not run");
    }
    found
}

/// DCMTK (`dcmdump`, `dcmftest`), dicom3tools (`dcdirdmp`) and pydicom's
/// `FileSet` read the DICOMDIR at `path`, every file it references exists
/// and loads, and every key of its records is the referenced file's value.
/// Returns the number of instances pydicom found (`None` without pydicom).
fn assert_valid_file_set(path: &Path) -> Option<usize> {
    if dcmdump_available() {
        assert_dcmdump_reads(path);
        let test = Command::new("dcmftest").arg(path).output().unwrap();
        let said = String::from_utf8_lossy(&test.stdout);
        assert!(
            said.starts_with("yes:"),
            "dcmftest {}: {said}",
            path.display()
        );
    }
    if available("dicom3tools (dcdirdmp)", "command -v dcdirdmp") {
        let dump = Command::new("dcdirdmp").arg(path).output().unwrap();
        let errors = String::from_utf8_lossy(&dump.stderr);
        assert!(
            dump.status.success() && !errors.contains("Error"),
            "dcdirdmp {}: {errors}",
            path.display()
        );
        // dciodvfy checks the Basic Directory IOD: Type 1 keys present and
        // not empty, record offsets, VRs.
        let checked = Command::new("dciodvfy").arg(path).output().unwrap();
        let said = String::from_utf8_lossy(&checked.stderr);
        let errors: Vec<&str> = said.lines().filter(|l| l.starts_with("Error")).collect();
        assert!(errors.is_empty(), "dciodvfy {}: {errors:?}", path.display());
    }
    if !available("pydicom", "python3 -c 'import pydicom.fileset'") {
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dicomdir/check_fileset.py");
    let check = Command::new("python3")
        .arg(script)
        .arg(path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "pydicom FileSet on {}: {said}{}",
        path.display(),
        String::from_utf8_lossy(&check.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(said.trim()).unwrap();
    assert!(report["keys"].as_u64().unwrap() > 0, "{said}");
    Some(report["instances"].as_u64().unwrap() as usize)
}

/// The Referenced File IDs of a DICOMDIR (read with dicom-object), as
/// paths below its folder.
fn referenced_files(path: &Path) -> Vec<PathBuf> {
    let object = dicom_object::open_file(path).unwrap();
    let records = object.element(tags::DIRECTORY_RECORD_SEQUENCE).unwrap();
    records
        .items()
        .unwrap()
        .iter()
        .filter_map(|record| record.element_opt(tags::REFERENCED_FILE_ID).unwrap())
        .map(|id| {
            let parts: Vec<String> = id.to_multi_str().unwrap().to_vec();
            parts
                .iter()
                .fold(path.parent().unwrap().to_path_buf(), |p, c| {
                    p.join(c.trim())
                })
        })
        .collect()
}

/// What the directory must not hold: the sources' names, IDs, UIDs,
/// dates, accession and study IDs, and the images' de-identification
/// stamp.
fn assert_no_phi(directory: &[u8]) {
    let found = |needle: &[u8]| directory.windows(needle.len()).any(|w| w == needle);
    for phi in [
        "Schmidt",
        "Meyer",
        "PAT00001",
        "PAT00002",
        ANNA_STUDY,
        BERND_STUDY,
        "20240115",
        "ACC4711",
        "S4711",
        "Mueller",
    ] {
        assert!(!found(phi.as_bytes()), "the new DICOMDIR holds {phi:?}");
    }
    for stamp in [
        tags::PATIENT_IDENTITY_REMOVED,
        tags::DEIDENTIFICATION_METHOD,
        tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
    ] {
        let mut tag = stamp.group().to_le_bytes().to_vec();
        tag.extend_from_slice(&stamp.element().to_le_bytes());
        assert!(!found(&tag), "the new DICOMDIR holds {stamp}");
    }
}

#[test]
fn a_dicomdir_is_made_anew_for_dest_pointing_at_the_outputs() {
    let source = cd_source();
    let dest = TempDir::new().unwrap();
    let profiles = TempDir::new().unwrap();
    let layout = profile_file(profiles.path(), "fileset.toml", FILE_SET_TEMPLATE);
    anomize_keyed(
        source.path(),
        dest.path(),
        &[
            "ps3.15-basic",
            "retain-long-modified-dates",
            layout.to_str().unwrap(),
        ],
    );
    let row = directory_row(dest.path(), source.path());
    let new_directory = dest.path().canonicalize().unwrap().join("DICOMDIR");
    // source, name, id, index, size, destination, status, reason
    assert_eq!(row[6], "OK", "{row:?}");
    assert_eq!(Path::new(&row[5]), new_directory);
    assert_eq!(row[3], "", "a DICOMDIR is no patient: {row:?}");
    let reason = &row[7];
    for said in [
        "2 patient(s)",
        "3 file(s)",
        "1 whose file is not in SOURCE",
        "1 whose file failed or was not written",
    ] {
        assert!(reason.contains(said), "{reason}");
    }
    // Every record points at an output of this run.
    let referenced = referenced_files(&new_directory);
    assert_eq!(referenced.len(), 3);
    for file in &referenced {
        assert!(
            file.is_file(),
            "{} is referenced but missing",
            file.display()
        );
    }
    if let Some(instances) = assert_valid_file_set(&new_directory) {
        assert_eq!(instances, 3);
    }
    // The big-endian image kept its syntax, and its record says so.
    let object = dicom_object::open_file(&new_directory).unwrap();
    let records = object.element(tags::DIRECTORY_RECORD_SEQUENCE).unwrap();
    let syntaxes: Vec<String> = records
        .items()
        .unwrap()
        .iter()
        .filter_map(|r| {
            let syntax = r.element_opt(tags::REFERENCED_TRANSFER_SYNTAX_UID_IN_FILE);
            Some(
                syntax
                    .unwrap()?
                    .to_str()
                    .unwrap()
                    .trim_end_matches('\0')
                    .to_string(),
            )
        })
        .collect();
    assert!(
        syntaxes.iter().any(|s| s == EXPLICIT_VR_BIG_ENDIAN),
        "{syntaxes:?}"
    );
    assert_no_phi(&std::fs::read(&new_directory).unwrap());
    // The leak check reads the DICOMDIR like every output.
    let checked = verify(source.path(), dest.path(), &[]);
    assert!(
        checked.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&checked.stdout)
    );
    // It is listed among the run's outputs, for --overwrite to remove.
    let listed = std::fs::read_to_string(dest.path().join("_outputs.csv")).unwrap();
    assert!(listed.lines().any(|l| l.ends_with(",DICOMDIR")), "{listed}");
}

#[test]
fn a_dicomdir_beside_one_patients_outputs_goes_in_their_folder_and_overwrite_replaces_it() {
    let source = cd_source();
    // Only Anna's files: her outputs all lie under P1.
    std::fs::remove_dir_all(source.path().join("pat00002")).unwrap();
    let dest = TempDir::new().unwrap();
    let profiles = TempDir::new().unwrap();
    let layout = profile_file(profiles.path(), "fileset.toml", FILE_SET_TEMPLATE);
    let args = [
        "--profile",
        "basic",
        "--profile",
        layout.to_str().unwrap(),
        "-q",
    ];
    anomize(source.path(), dest.path(), &args);
    let new_directory = dest
        .path()
        .canonicalize()
        .unwrap()
        .join("P1/ST1/SE1/DICOMDIR");
    assert!(new_directory.is_file());
    let row = directory_row(dest.path(), source.path());
    assert_eq!(Path::new(&row[5]), new_directory, "{row:?}");
    assert!(row[7].contains("3 records dropped"), "{row:?}");
    let first = std::fs::read(&new_directory).unwrap();
    let again = anomize(
        source.path(),
        dest.path(),
        &[&args[..], &["--overwrite"]].concat(),
    );
    assert!(again.status.success(), "{}", crate::util::stderr(&again));
    assert_eq!(std::fs::read(&new_directory).unwrap(), first);
    let ids = referenced_files(&new_directory);
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|id| id.is_file()));
    if let Some(instances) = assert_valid_file_set(&new_directory) {
        assert_eq!(instances, 2);
    }
}

#[test]
fn a_layout_that_cannot_be_a_file_set_gets_no_dicomdir_and_says_why() {
    let source = cd_source();
    let dest = TempDir::new().unwrap();
    // The built-in template: `1_001.dcm` is no file ID.
    anomize(source.path(), dest.path(), &["-q"]);
    let row = directory_row(dest.path(), source.path());
    assert_eq!(row[6], "OK", "{row:?}");
    assert_eq!(row[5], "", "{row:?}");
    assert!(
        row[7].contains("cannot be a DICOM file-set") && row[7].contains("1_001.dcm"),
        "{row:?}"
    );
    let directories: Vec<_> = walkdir::WalkDir::new(dest.path())
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() == "DICOMDIR")
        .collect();
    assert!(directories.is_empty(), "{directories:?}");
    // Nor was the old one copied as an image: only the three images.
    assert_eq!(crate::util::outputs(dest.path()).len(), 3);
}

#[test]
fn a_dry_run_says_the_dicomdir_is_made_at_the_end() {
    let source = cd_source();
    let dest = TempDir::new().unwrap();
    let dest = dest.path().join("planned");
    let out = anomize(source.path(), &dest, &["--dry-run"]);
    let plan = String::from_utf8_lossy(&out.stdout);
    let line = plan
        .lines()
        .find(|l| l.contains("DICOMDIR,"))
        .unwrap_or_else(|| panic!("no DICOMDIR row in {plan}"));
    assert!(line.contains("PLANNED"), "{line}");
    assert!(line.contains("made from the outputs at the end"), "{line}");
    assert!(!dest.exists());
}

#[test]
fn corpus_dicomdirs_become_valid_file_sets_of_the_outputs() {
    let Some(corpus) = corpus() else {
        return;
    };
    let source = corpus.join("dicomdir");
    let dest = TempDir::new().unwrap();
    let profiles = TempDir::new().unwrap();
    let layout = profile_file(profiles.path(), "fileset.toml", FILE_SET_TEMPLATE);
    for profile_set in [
        &["basic"][..],
        &["ps3.15-basic", "retain-long-modified-dates"],
    ] {
        let dest = dest.path().join(profile_set.join("+"));
        let mut profiles: Vec<&str> = profile_set.to_vec();
        profiles.push(layout.to_str().unwrap());
        let out = anomize_keyed(&source, &dest, &profiles);
        assert!(out.status.success(), "{}", crate::util::stderr(&out));
        let directories: Vec<PathBuf> = read_csv_rows(&dest.join("_out.csv"))
            .into_iter()
            .filter(|row| row[0].ends_with("DICOMDIR"))
            .map(|row| {
                assert_eq!(row[6], "OK", "{row:?}");
                assert!(row[7].starts_with("DICOMDIR rebuilt"), "{row:?}");
                PathBuf::from(&row[5])
            })
            .collect();
        assert!(!directories.is_empty(), "the corpus has DICOMDIRs");
        for directory in directories {
            let referenced = referenced_files(&directory);
            assert!(!referenced.is_empty());
            for file in &referenced {
                assert!(
                    file.is_file(),
                    "{} is referenced but missing",
                    file.display()
                );
            }
            if let Some(instances) = assert_valid_file_set(&directory) {
                assert_eq!(instances, referenced.len());
            }
        }
        // `basic` keeps UIDs and dates, which verify reports in images and
        // directory alike: the leak check is for the PS3.15 profiles.
        if profile_set[0] == "ps3.15-basic" {
            let checked = verify(&source, &dest, &[]);
            assert!(
                checked.status.success(),
                "verify: {}",
                String::from_utf8_lossy(&checked.stdout)
            );
        }
    }
}

#[test]
fn a_dicomdir_whose_offsets_lead_nowhere_is_an_error_row() {
    let source = cd_source();
    let path = source.path().join("DICOMDIR");
    let mut bytes = std::fs::read(&path).unwrap();
    // (0004,1200) UL, length 4: the first root record moves to byte 12345.
    let header = [0x04, 0x00, 0x00, 0x12, b'U', b'L', 0x04, 0x00];
    let at = bytes.windows(8).position(|w| w == header).unwrap() + 8;
    bytes[at..at + 4].copy_from_slice(&12345u32.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let dest = TempDir::new().unwrap();
    let profiles = TempDir::new().unwrap();
    let layout = profile_file(profiles.path(), "fileset.toml", FILE_SET_TEMPLATE);
    let out = anomize(
        source.path(),
        dest.path(),
        &[
            "-q",
            "--profile",
            "basic",
            "--profile",
            layout.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", crate::util::stderr(&out));
    let row = directory_row(dest.path(), source.path());
    assert_eq!(row[6], "ERROR", "{row:?}");
    assert!(
        row[7].contains("DICOMDIR not rebuilt") && row[7].contains("offset 12345"),
        "{row:?}"
    );
    assert!(!dest.path().join("DICOMDIR").exists());
}

#[test]
fn a_resumed_run_makes_the_same_dicomdir_again() {
    let source = cd_source();
    let dest = TempDir::new().unwrap();
    let profiles = TempDir::new().unwrap();
    let layout = profile_file(profiles.path(), "fileset.toml", FILE_SET_TEMPLATE);
    let args = [
        "-q",
        "--profile",
        "basic",
        "--profile",
        layout.to_str().unwrap(),
    ];
    anomize(source.path(), dest.path(), &args);
    let directory = dest.path().join("DICOMDIR");
    let first = std::fs::read(&directory).unwrap();
    // As if the run had been killed before its end: no DICOMDIR, an
    // output missing.
    std::fs::remove_file(&directory).unwrap();
    std::fs::remove_file(dest.path().join("P1/ST1/SE1/IM0002")).unwrap();
    anomize(
        source.path(),
        dest.path(),
        &[&args[..], &["--resume"]].concat(),
    );
    assert_eq!(std::fs::read(&directory).unwrap(), first);
    let row = directory_row(dest.path(), source.path());
    assert_eq!(row[6], "OK", "{row:?}");
}
