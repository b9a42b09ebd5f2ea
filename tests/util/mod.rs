//! Test harness: DICOM fixtures built in code, the real binary run on them,
//! and readers for what it writes (dicom-object, calamine, csv).

#![allow(dead_code)] // each test module uses a different part of the harness

pub mod dataset;
pub mod runs;

pub use runs::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::SystemTime;

use assert_cmd::Command;
use calamine::{Reader, Xlsx, open_workbook};
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use sha2::{Digest, Sha256};

/// The audit headers of the original tool, exactly (downstream scripts
/// depend on them, misspelling included).
pub const SEED_HEADERS: [&str; 7] = [
    "source_file",
    "patient_name",
    "patient_id_DICOM",
    "patient_index",
    "file_size",
    "destinaton_file",
    "status",
];

/// The fixtures copied from the corpus (see tests/fixtures/README.md).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The developer corpus: `DICOMMANAGER_CORPUS`, else `../shared/corpus`
/// beside the repository. It is not part of the repository, so without it
/// the corpus tests only say so, unless `DICOMMANAGER_REQUIRE_CORPUS` is
/// set (CI does), which makes a missing corpus a failure.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("DICOMMANAGER_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.join("MANIFEST.csv").is_file() {
        return dir.canonicalize().ok();
    }
    assert!(
        std::env::var_os("DICOMMANAGER_REQUIRE_CORPUS").is_none(),
        "DICOMMANAGER_REQUIRE_CORPUS is set but there is no corpus at {}",
        dir.display()
    );
    eprintln!("no corpus at {}: corpus tests not run", dir.display());
    None
}

/// The binary under test.
pub fn dicommanager() -> Command {
    let mut cmd = Command::cargo_bin("dicommanager").expect("binary is built");
    cmd.env_remove("DICOMMANAGER_SECRET");
    cmd
}

/// The key the tests give `DICOMMANAGER_SECRET` where one is wanted.
pub const TEST_SECRET: &str = "a long random test secret";

/// Runs `anomize -q` with [`TEST_SECRET`] and the built-in profiles or
/// profile files `profiles`, layered in order.
pub fn anomize_keyed(source: &Path, dest: &Path, profiles: &[&str]) -> Output {
    let mut cmd = from_source_to_dest("anomize", source, dest);
    cmd.env("DICOMMANAGER_SECRET", TEST_SECRET).arg("-q");
    for profile in profiles {
        cmd.args(["--profile", profile]);
    }
    cmd.output().expect("binary runs")
}

/// Runs `verify` on the run from `source` to `dest`.
pub fn verify(source: &Path, dest: &Path, extra: &[&str]) -> Output {
    from_source_to_dest("verify", source, dest)
        .args(extra)
        .output()
        .expect("binary runs")
}

/// `dicommanager COMMAND -s SOURCE -d DEST`, to add to.
fn from_source_to_dest(command: &str, source: &Path, dest: &Path) -> Command {
    let mut cmd = dicommanager();
    cmd.args([command, "-s"]).arg(source).arg("-d").arg(dest);
    cmd
}

/// An empty CT image object with its SOP Class and Instance UIDs.
pub fn ct_object(sop_instance: &str) -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    put_text(
        &mut obj,
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::CT_IMAGE_STORAGE,
    );
    put_text(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, sop_instance);
    obj
}

/// Puts a text element into `obj`.
pub fn put_text(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

/// Writes a profile `name` with `text` into `dir`; its path.
pub fn profile_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("the profile is written");
    path
}

/// Runs `anomize` from `source` to `dest` with extra arguments.
pub fn anomize(source: &Path, dest: &Path, extra: &[&str]) -> Output {
    from_source_to_dest("anomize", source, dest)
        .args(extra)
        .output()
        .expect("binary runs")
}

/// A patient of a synthetic fixture.
#[derive(Debug, Clone)]
pub struct Patient<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

/// Builds a small but complete CT-like object: patient, study, series,
/// a nested sequence that also names the patient, and 4x4 pixels.
pub fn patient_object(patient: &Patient<'_>, study: &str, instance: u32) -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    put_text(&mut obj, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100");
    put_text(
        &mut obj,
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::CT_IMAGE_STORAGE,
    );
    put_text(
        &mut obj,
        tags::SOP_INSTANCE_UID,
        VR::UI,
        &format!("{study}.{instance}"),
    );
    put_text(&mut obj, tags::STUDY_DATE, VR::DA, "20240115");
    put_text(&mut obj, tags::MODALITY, VR::CS, "CT");
    put_text(&mut obj, tags::STUDY_DESCRIPTION, VR::LO, "Chest of Müller");
    put_text(&mut obj, tags::PATIENT_NAME, VR::PN, patient.name);
    put_text(&mut obj, tags::PATIENT_ID, VR::LO, patient.id);
    put_text(&mut obj, tags::PATIENT_BIRTH_DATE, VR::DA, "19700101");
    put_text(
        &mut obj,
        tags::PATIENT_ADDRESS,
        VR::LO,
        "1 Hospital Road, Springfield",
    );
    put_text(&mut obj, tags::STUDY_INSTANCE_UID, VR::UI, study);
    put_text(
        &mut obj,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        &format!("{study}.1"),
    );
    put_text(
        &mut obj,
        tags::INSTANCE_NUMBER,
        VR::IS,
        &instance.to_string(),
    );
    let mut item = InMemDicomObject::new_empty();
    put_text(&mut item, tags::PATIENT_NAME, VR::PN, patient.name);
    put_text(&mut item, tags::PATIENT_ID, VR::LO, patient.id);
    obj.put(DataElement::new(
        tags::REFERENCED_PATIENT_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![item]),
    ));
    obj.put(DataElement::new(
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(4_u16),
    ));
    obj.put(DataElement::new(
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(4_u16),
    ));
    obj.put(DataElement::new(
        tags::BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(16_u16),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16((0..16u16).map(|v| v * 100 + instance as u16).collect()),
    ));
    obj
}

/// Writes `obj` as a Part 10 file in `transfer_syntax`.
pub fn write_part10(obj: InMemDicomObject, path: &Path, transfer_syntax: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    let instance = obj
        .element(tags::SOP_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(transfer_syntax)
                .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(instance),
        )
        .unwrap();
    file.write_to_file(path).unwrap();
}

/// Writes a patient's image as Explicit VR Little Endian.
pub fn write_patient_file(path: &Path, patient: &Patient<'_>, study: &str, instance: u32) {
    write_part10(
        patient_object(patient, study, instance),
        path,
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
    );
}

/// Rows of the first worksheet of an XLSX file, as text.
pub fn read_xlsx(path: &Path) -> Vec<Vec<String>> {
    let mut workbook: Xlsx<_> = open_workbook(path).expect("a readable workbook");
    let sheet = workbook.sheet_names()[0].clone();
    let range = workbook.worksheet_range(&sheet).expect("a worksheet");
    range
        .rows()
        .map(|row| row.iter().map(|cell| cell.to_string()).collect())
        .collect()
}

/// Rows of a CSV file without header.
pub fn read_csv_rows(path: &Path) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .expect("a readable CSV")
        .records()
        .map(|r| r.expect("a CSV row").iter().map(String::from).collect())
        .collect()
}

/// SHA-256 and modification time of every file under `root`.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, (String, SystemTime)> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let bytes = std::fs::read(e.path()).unwrap();
            let hash = sha256_hex(&bytes);
            let mtime = e.metadata().unwrap().modified().unwrap();
            (e.path().to_path_buf(), (hash, mtime))
        })
        .collect()
}

/// The `.dcm` outputs under `dest`, relative path → bytes.
pub fn outputs(dest: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(dest)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "dcm"))
        .map(|e| {
            (
                e.path().strip_prefix(dest).unwrap().to_path_buf(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// A text attribute of a DICOM file, read with dicom-object.
pub fn text_of(path: &Path, tag: Tag) -> Option<String> {
    let obj = dicom_object::open_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    obj.element_opt(tag).unwrap().map(|e| {
        e.to_str()
            .unwrap()
            .trim_end_matches(['\0', ' '])
            .to_string()
    })
}

/// The stderr of a run, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// SHA-256 of `bytes` in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Files that dicom-object 0.10 cannot read (its CP-246 handling of an
/// undefined-length UN sequence in explicit VR fails, after some 13 seconds
/// of work); DCMTK reads them and their outputs.
const DICOM_OBJECT_CANNOT_READ: &[&str] = &["UN_sequence.dcm"];

/// The output re-read by dicom-object; `None` only where dicom-object
/// cannot read the source either (its limits are not ours to fail on).
pub fn read_back(source: &str, output: &Path) -> Option<dicom_object::DefaultDicomObject> {
    if DICOM_OBJECT_CANNOT_READ
        .iter()
        .any(|name| source.ends_with(name))
    {
        return None;
    }
    match dicom_object::open_file(output) {
        Ok(obj) => Some(obj),
        Err(err) => {
            assert!(
                dicom_object::open_file(source).is_err(),
                "dicom-object reads {source} but not its output {}: {err}",
                output.display()
            );
            None
        }
    }
}

/// Whether DCMTK's `dcmdump` is on PATH; CI sets
/// `DICOMMANAGER_REQUIRE_DCMTK`, which makes its absence a failure.
pub fn dcmdump_available() -> bool {
    let found = std::process::Command::new("dcmdump")
        .arg("--version")
        .output()
        .is_ok();
    assert!(
        found || std::env::var_os("DICOMMANAGER_REQUIRE_DCMTK").is_none(),
        "DICOMMANAGER_REQUIRE_DCMTK is set but dcmdump is not on PATH"
    );
    found
}

/// Whether DCMTK reads `path` without an error.
pub fn dcmdump_reads(path: &Path) -> bool {
    let dump = std::process::Command::new("dcmdump")
        .arg(path)
        .output()
        .unwrap();
    dump.status.success() && !String::from_utf8_lossy(&dump.stderr).contains("E: ")
}

/// Whether `dciodvfy` (Debian's `dicom3tools`) is on PATH; CI sets
/// `DICOMMANAGER_REQUIRE_DCIODVFY`, which makes its absence a failure.
pub fn dciodvfy_available() -> bool {
    // dciodvfy has no --version; without arguments it prints its usage.
    let found = std::process::Command::new("dciodvfy").output().is_ok();
    assert!(
        found || std::env::var_os("DICOMMANAGER_REQUIRE_DCIODVFY").is_none(),
        "DICOMMANAGER_REQUIRE_DCIODVFY is set but dciodvfy is not on PATH"
    );
    if !found {
        eprintln!("dciodvfy not on PATH: IOD checks not run");
    }
    found
}

/// DCMTK reads `path` without an error.
pub fn assert_dcmdump_reads(path: &Path) {
    let dump = std::process::Command::new("dcmdump")
        .arg(path)
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&dump.stderr);
    assert!(
        dump.status.success() && !errors.contains("E: "),
        "dcmdump {}: {errors}",
        path.display()
    );
}
