//! IOD conformance of the outputs, judged by David Clunie's `dciodvfy`
//! (Debian package `dicom3tools`, installed by `scripts/setup.sh`): an
//! output must not have a kind of error its source did not have, on the
//! corpus under `basic`, `ps3.15-basic`, each PS3.15 option alone and all
//! of them together, and on fixtures built here for what the corpus lacks
//! (an SR TEXT item, a specimen, an issuer of the accession number, an
//! overlay plane, an object de-identified before).
//!
//! How error lines are compared: only lines starting with `Error` count
//! (warnings are advice, and de-identification legitimately causes some,
//! e.g. "needed to build DICOMDIR - Study Date"). Each line is reduced to
//! its *kind* by stripping values, which de-identification changes by
//! design: a value in angle brackets after `= `, `value ` or `term `
//! becomes `<>`, a quoted value `""`, and every number or UID that stands
//! alone (also inside `<...>`) becomes `#`, except the number after
//! `Type` (Type 1, 2, 1C ... is the kind). Attribute and module names,
//! tags and the wording stay. A deflated file is inflated with DCMTK's
//! `dcmconv` first (dciodvfy cannot inflate). A source dciodvfy cannot read
//! to the end ("Tags out of order", "Dicom dataset read failed") cannot be
//! compared: its errors past the break are unknown; such pairs are counted
//! and reported, not judged. DICOMDIRs are left to the DICOMDIR tests (their
//! output is rebuilt, not de-identified element by element).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicommanager::metadata::Element;
use tempfile::TempDir;

use crate::ps315::{all_elements, text};
use crate::util::*;

/// What dciodvfy says about one file.
#[derive(Debug, Default)]
struct Verdict {
    /// The IOD dciodvfy checked the file against (its one bare line).
    iod: Option<String>,
    /// The error kinds, values stripped.
    errors: BTreeSet<String>,
    /// Whether dciodvfy read the data set to its end.
    read_whole: bool,
}

/// Error lines that mean dciodvfy stopped reading before the end.
const READ_STOPPED: [&str; 2] = [
    "Error - Tags out of order",
    "Error - Dicom dataset read failed",
];

/// The Deflated Explicit VR Little Endian transfer syntax, which dciodvfy
/// cannot read.
const DEFLATED: &[u8] = b"1.2.840.10008.1.2.1.99";

fn dciodvfy(path: &Path) -> Verdict {
    // A deflated file is checked inflated (DCMTK's dcmconv, where it is
    // installed): dciodvfy stops at its first deflated byte.
    let inflated = TempDir::new().unwrap();
    let head = std::fs::read(path).unwrap_or_default();
    let head = &head[..head.len().min(1024)];
    let mut checked = path.to_path_buf();
    if head.windows(DEFLATED.len()).any(|w| w == DEFLATED) && dcmdump_available() {
        let plain = inflated.path().join("inflated.dcm");
        let conv = Command::new("dcmconv")
            .args(["+te"])
            .arg(path)
            .arg(&plain)
            .output()
            .expect("dcmconv runs");
        if conv.status.success() {
            checked = plain;
        }
    }
    let run = Command::new("dciodvfy")
        .arg(&checked)
        .output()
        .expect("dciodvfy runs");
    let mut verdict = Verdict {
        read_whole: true,
        ..Verdict::default()
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    for line in text.lines().map(str::trim) {
        if READ_STOPPED.iter().any(|stop| line.starts_with(stop)) {
            verdict.read_whole = false;
        }
        if line.starts_with("Error") {
            verdict.errors.insert(error_kind(line));
        } else if !line.is_empty() && !line.contains(' ') {
            verdict.iod = Some(line.to_string());
        }
    }
    // 0: no error, 1: errors found; anything else (a signal) is a crash.
    if !matches!(run.status.code(), Some(0 | 1)) {
        verdict
            .errors
            .insert(format!("dciodvfy ended abnormally ({:?})", run.status));
    }
    verdict
}

/// An error line without its values (see the module's documentation).
fn error_kind(line: &str) -> String {
    let mut stripped = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(['<', '"']) {
        let (before, from) = rest.split_at(at);
        stripped.push_str(before);
        let close = if from.starts_with('<') { '>' } else { '"' };
        let Some(end) = from[1..].find(close) else {
            stripped.push_str(from);
            rest = "";
            break;
        };
        let inner = &from[1..=end];
        let is_value = before.ends_with("= ")
            || before.ends_with("value ")
            || before.ends_with("term ")
            || close == '"'
            || is_number(inner);
        stripped.push(from.as_bytes()[0] as char);
        if !is_value {
            stripped.push_str(inner);
        }
        stripped.push(close);
        rest = &from[end + 2..];
    }
    stripped.push_str(rest);
    let words: Vec<&str> = stripped.split(' ').collect();
    let mut kind = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let core = word.trim_matches(|c| "(),;:".contains(c));
        let after_type = i > 0 && words[i - 1] == "Type";
        if is_number(core) && !after_type {
            kind.push(word.replace(core, "#"));
        } else {
            kind.push((*word).to_string());
        }
    }
    kind.join(" ")
}

fn is_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.starts_with(|c: char| c.is_ascii_digit())
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// New error kinds of the outputs of one run, per source.
#[derive(Debug, Default)]
struct Comparison {
    compared: usize,
    /// Sources dciodvfy cannot read to the end.
    not_comparable: Vec<String>,
    /// Source → the error kinds its output has and it had not.
    new_errors: BTreeMap<String, BTreeSet<String>>,
}

impl Comparison {
    /// How often each new kind occurs, most frequent first.
    fn kinds(&self) -> Vec<(usize, &str)> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for kinds in self.new_errors.values() {
            for kind in kinds {
                *counts.entry(kind).or_default() += 1;
            }
        }
        let mut kinds: Vec<(usize, &str)> = counts.into_iter().map(|(k, n)| (n, k)).collect();
        kinds.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        kinds
    }

    fn report(&self, what: &str) -> String {
        let mut text = format!(
            "{what}: {} of {} outputs gain new dciodvfy error kinds ({} sources not comparable: {:?})",
            self.new_errors.len(),
            self.compared,
            self.not_comparable.len(),
            self.not_comparable
        );
        for (count, kind) in self.kinds() {
            text.push_str(&format!("\n  {count:3} {kind}"));
        }
        for (source, kinds) in &self.new_errors {
            text.push_str(&format!("\n  {source}: {kinds:?}"));
        }
        text
    }
}

/// Runs `anomize` with `profiles` on the corpus and compares every OK
/// output with its source (whose verdicts are kept in `sources`).
fn compare_corpus_run(
    corpus: &Path,
    profiles: &[&str],
    sources: &mut BTreeMap<String, Verdict>,
) -> Comparison {
    let dest = TempDir::new().unwrap();
    let run = anomize_keyed(corpus, dest.path(), profiles);
    assert!(
        matches!(run.status.code(), Some(0 | 1)),
        "{profiles:?}: {}",
        stderr(&run)
    );
    let rows = read_csv_rows(&dest.path().join("_out.csv"));
    let mut comparison = Comparison::default();
    for row in rows[1..]
        .iter()
        .filter(|r| r[6] == "OK" && !r[5].is_empty())
    {
        let (source, output) = (Path::new(&row[0]), Path::new(&row[5]));
        let name = source
            .strip_prefix(corpus)
            .unwrap_or(source)
            .display()
            .to_string();
        let before = sources
            .entry(name.clone())
            .or_insert_with(|| dciodvfy(source));
        if before.iod.as_deref() == Some("BasicDirectory") {
            continue;
        }
        if !before.read_whole {
            comparison.not_comparable.push(name);
            continue;
        }
        comparison.compared += 1;
        let after = dciodvfy(output);
        let mut new: BTreeSet<String> = after.errors.difference(&before.errors).cloned().collect();
        if after.iod != before.iod {
            new.insert(format!(
                "checked as IOD {:?} instead of {:?}",
                after.iod, before.iod
            ));
        }
        if !new.is_empty() {
            comparison.new_errors.insert(name, new);
        }
    }
    comparison
}

/// The comparison of profile sets on the corpus, which must find no new
/// error kind under any of them.
fn assert_no_new_errors(profile_sets: &[&[&str]]) {
    let Some(corpus) = corpus() else { return };
    if !dciodvfy_available() {
        return;
    }
    let mut sources = BTreeMap::new();
    let mut failed = Vec::new();
    for profiles in profile_sets {
        let comparison = compare_corpus_run(&corpus, profiles, &mut sources);
        let label = if profiles.is_empty() {
            "basic (the default)".to_string()
        } else {
            profiles.join(" + ")
        };
        let report = comparison.report(&label);
        eprintln!("{report}");
        assert!(comparison.compared > 90, "{report}");
        if !comparison.new_errors.is_empty() {
            failed.push(report);
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The ten options of PS3.15 Annex E, all layered on `ps3.15-basic`.
const EVERY_OPTION: [&str; 11] = [
    "ps3.15-basic",
    "retain-safe-private",
    "retain-uids",
    "retain-device-identity",
    "retain-institution-identity",
    "retain-patient-characteristics",
    "retain-long-full-dates",
    "retain-long-modified-dates",
    "clean-descriptors",
    "clean-structured-content",
    "clean-graphics",
];

#[test]
fn corpus_under_basic_gains_no_dciodvfy_error() {
    assert_no_new_errors(&[&[]]);
}

#[test]
fn corpus_under_ps315_basic_gains_no_dciodvfy_error() {
    assert_no_new_errors(&[&["ps3.15-basic"]]);
}

#[test]
fn corpus_under_ps315_basic_with_every_option_gains_no_dciodvfy_error() {
    assert_no_new_errors(&[&EVERY_OPTION]);
}

#[test]
fn corpus_under_each_ps315_option_alone_gains_no_dciodvfy_error() {
    let sets: Vec<[&str; 2]> = EVERY_OPTION[1..]
        .iter()
        .map(|option| ["ps3.15-basic", option])
        .collect();
    let sets: Vec<&[&str]> = sets.iter().map(|set| &set[..]).collect();
    assert_no_new_errors(&sets);
}

#[test]
fn error_kinds_keep_names_and_types_and_lose_values() {
    for (line, kind) in [
        (
            "Error - Empty attribute (no value) Type 1C Conditional Element=<TextValue> Module=<DocumentContentMacro>",
            "Error - Empty attribute (no value) Type 1C Conditional Element=<TextValue> Module=<DocumentContentMacro>",
        ),
        (
            "Error - Missing attribute Type 2 Required Element=<StudyID> Module=<GeneralStudy>",
            "Error - Missing attribute Type 2 Required Element=<StudyID> Module=<GeneralStudy>",
        ),
        (
            "Error - Value invalid for this VR - (0x0008,0x0030) TM Study Time  TM [1] = <10:14> - Character invalid for this VR = ':' (0x3a)",
            "Error - Value invalid for this VR - (0x0008,0x0030) TM Study Time  TM [1] = <> - Character invalid for this VR = ':' (0x3a)",
        ),
        (
            "Error - StudyInstanceUID has same value as FrameOfReferenceUID <2.25.2640946098>",
            "Error - StudyInstanceUID has same value as FrameOfReferenceUID <>",
        ),
        (
            "Error - PixelData has incorrect value length - expected 30000 dec - got 20000 dec",
            "Error - PixelData has incorrect value length - expected # dec - got # dec",
        ),
        (
            "Error - Illegal root for UID - \"1234567890.1998.310\" in (0x0002,0x0012) Implementation Class UID",
            "Error - Illegal root for UID - \"\" in (0x0002,0x0012) Implementation Class UID",
        ),
        (
            "Error - Unrecognized enumerated value <STEREO> for value 3 of attribute <Image Type>",
            "Error - Unrecognized enumerated value <> for value # of attribute <Image Type>",
        ),
    ] {
        assert_eq!(error_kind(line), kind);
    }
    assert_ne!(
        error_kind("Error - Missing attribute Type 1 Required Element=<X> Module=<M>"),
        error_kind("Error - Missing attribute Type 2 Required Element=<X> Module=<M>")
    );
}

/// An item (data set) of text elements.
fn item(elements: &[(Tag, VR, &str)]) -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    for &(tag, vr, value) in elements {
        put_text(&mut obj, tag, vr, value);
    }
    obj
}

fn put_sequence(obj: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    obj.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

fn code(value: &str, scheme: &str, meaning: &str) -> InMemDicomObject {
    item(&[
        (tags::CODE_VALUE, VR::SH, value),
        (tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme),
        (tags::CODE_MEANING, VR::LO, meaning),
    ])
}

/// The patient and study attributes every fixture has.
fn put_common(obj: &mut InMemDicomObject, sop_class: &str, modality: &str) {
    for (tag, vr, value) in [
        (tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100"),
        (tags::SOP_CLASS_UID, VR::UI, sop_class),
        (
            tags::SOP_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.9999.7.1",
        ),
        (tags::STUDY_DATE, VR::DA, "20240115"),
        (tags::STUDY_TIME, VR::TM, "101500"),
        (tags::ACCESSION_NUMBER, VR::SH, "ACC4711"),
        (tags::MODALITY, VR::CS, modality),
        (tags::MANUFACTURER, VR::LO, "ACME"),
        (tags::REFERRING_PHYSICIAN_NAME, VR::PN, "Welby^Marcus"),
        (tags::PATIENT_NAME, VR::PN, "Doe^Jane"),
        (tags::PATIENT_ID, VR::LO, "PID4711"),
        (tags::PATIENT_BIRTH_DATE, VR::DA, "19700101"),
        (tags::PATIENT_SEX, VR::CS, "F"),
        (
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.9999.7.2",
        ),
        (
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.9999.7.3",
        ),
        (tags::STUDY_ID, VR::SH, "S1"),
        (tags::SERIES_NUMBER, VR::IS, "1"),
        (tags::INSTANCE_NUMBER, VR::IS, "1"),
    ] {
        put_text(obj, tag, vr, value);
    }
}

/// A Basic Text SR whose content holds a TEXT item (Text Value is Type 1C
/// there) naming the patient.
fn text_report() -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    put_common(&mut obj, uids::BASIC_TEXT_SR_STORAGE, "SR");
    for (tag, vr, value) in [
        (tags::CONTENT_DATE, VR::DA, "20240115"),
        (tags::CONTENT_TIME, VR::TM, "101500"),
        (tags::VALUE_TYPE, VR::CS, "CONTAINER"),
        (tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE"),
        (tags::COMPLETION_FLAG, VR::CS, "COMPLETE"),
        (tags::VERIFICATION_FLAG, VR::CS, "UNVERIFIED"),
    ] {
        put_text(&mut obj, tag, vr, value);
    }
    put_sequence(
        &mut obj,
        tags::CONCEPT_NAME_CODE_SEQUENCE,
        vec![code("11528-7", "LN", "Radiology Report")],
    );
    let mut finding = item(&[
        (tags::RELATIONSHIP_TYPE, VR::CS, "CONTAINS"),
        (tags::VALUE_TYPE, VR::CS, "TEXT"),
        (tags::TEXT_VALUE, VR::UT, "Jane Doe has no findings"),
    ]);
    put_sequence(
        &mut finding,
        tags::CONCEPT_NAME_CODE_SEQUENCE,
        vec![code("121071", "DCM", "Finding")],
    );
    put_sequence(&mut obj, tags::CONTENT_SEQUENCE, vec![finding]);
    put_sequence(&mut obj, tags::PERFORMED_PROCEDURE_CODE_SEQUENCE, vec![]);
    // The order this report answers: its IDs are Type 2 there.
    let mut request = item(&[
        (
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.9999.7.2",
        ),
        (tags::ACCESSION_NUMBER, VR::SH, "ACC4711"),
        (tags::REQUESTED_PROCEDURE_ID, VR::SH, "RP-Doe-1"),
        (
            tags::REQUESTED_PROCEDURE_DESCRIPTION,
            VR::LO,
            "CT chest for Jane Doe",
        ),
        (
            tags::PLACER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST,
            VR::LO,
            "PLACER-4711",
        ),
        (
            tags::FILLER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST,
            VR::LO,
            "FILLER-4711",
        ),
    ]);
    put_sequence(
        &mut request,
        tags::REQUESTED_PROCEDURE_CODE_SEQUENCE,
        vec![code("24627-2", "LN", "CT Chest")],
    );
    put_sequence(&mut obj, tags::REFERENCED_REQUEST_SEQUENCE, vec![request]);
    obj
}

/// A Grayscale Softcopy Presentation State (its creation date and time
/// are Type 1).
fn presentation_state() -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    put_common(
        &mut obj,
        uids::GRAYSCALE_SOFTCOPY_PRESENTATION_STATE_STORAGE,
        "PR",
    );
    for (tag, vr, value) in [
        (tags::CONTENT_LABEL, VR::CS, "ANNOTATION"),
        (tags::CONTENT_DESCRIPTION, VR::LO, "Arrows for Dr Welby"),
        (tags::PRESENTATION_CREATION_DATE, VR::DA, "20240116"),
        (tags::PRESENTATION_CREATION_TIME, VR::TM, "093000"),
        (tags::CONTENT_CREATOR_NAME, VR::PN, "Welby^Marcus"),
    ] {
        put_text(&mut obj, tag, vr, value);
    }
    obj
}

/// A secondary capture image with a specimen, an issuer of the accession
/// number, a referenced study, an overlay plane, coded and textual
/// attributes of the study and visit groups, and the De-identification
/// Method of an earlier de-identification.
fn specimen_image() -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    put_common(&mut obj, uids::SECONDARY_CAPTURE_IMAGE_STORAGE, "OT");
    for (tag, vr, value) in [
        (tags::CONVERSION_TYPE, VR::CS, "WSD"),
        (tags::PATIENT_IDENTITY_REMOVED, VR::CS, "YES"),
        (tags::DEIDENTIFICATION_METHOD, VR::LO, "OTHER TOOL 2.1"),
        // Study Status ID and Study Priority ID (retired, still written).
        (Tag(0x0032, 0x000A), VR::CS, "VERIFIED"),
        (Tag(0x0032, 0x000C), VR::CS, "HIGH"),
        (
            tags::ROUTE_OF_ADMISSIONS,
            VR::LO,
            "Ambulance from 1 Main Street",
        ),
        (tags::CONTAINER_IDENTIFIER, VR::LO, "SLIDE-Doe-1"),
        (tags::SAMPLES_PER_PIXEL, VR::US, "1"),
        (tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
    ] {
        put_text(&mut obj, tag, vr, value);
    }
    for (tag, value) in [
        (tags::ROWS, 4_u16),
        (tags::COLUMNS, 4),
        (tags::BITS_ALLOCATED, 8),
        (tags::BITS_STORED, 8),
        (tags::HIGH_BIT, 7),
        (tags::PIXEL_REPRESENTATION, 0),
        (Tag(0x6000, 0x0010), 4),
        (Tag(0x6000, 0x0011), 4),
        (Tag(0x6000, 0x0100), 1),
        (Tag(0x6000, 0x0102), 0),
    ] {
        obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }
    put_text(&mut obj, Tag(0x6000, 0x0040), VR::CS, "G");
    obj.put(DataElement::new(
        Tag(0x6000, 0x0050),
        VR::SS,
        PrimitiveValue::I16(vec![1_i16, 1].into()),
    ));
    obj.put(DataElement::new(
        Tag(0x6000, 0x3000),
        VR::OW,
        PrimitiveValue::U16(vec![0xFFFF_u16].into()),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::U8(vec![0_u8; 16].into()),
    ));
    put_sequence(
        &mut obj,
        tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
        vec![
            code("113100", "DCM", "Basic Application Confidentiality Profile"),
            code("113110", "DCM", "Retain UIDs Option"),
        ],
    );
    put_sequence(
        &mut obj,
        tags::ISSUER_OF_ACCESSION_NUMBER_SEQUENCE,
        vec![item(&[(
            tags::LOCAL_NAMESPACE_ENTITY_ID,
            VR::UT,
            "ST MARY HOSPITAL",
        )])],
    );
    put_sequence(
        &mut obj,
        tags::REFERENCED_STUDY_SEQUENCE,
        vec![item(&[
            (
                tags::REFERENCED_SOP_CLASS_UID,
                VR::UI,
                "1.2.840.10008.3.1.2.3.1",
            ),
            (
                tags::REFERENCED_SOP_INSTANCE_UID,
                VR::UI,
                "1.2.826.0.1.3680043.9999.7.2",
            ),
        ])],
    );
    put_sequence(
        &mut obj,
        tags::ISSUER_OF_THE_CONTAINER_IDENTIFIER_SEQUENCE,
        vec![],
    );
    put_sequence(
        &mut obj,
        tags::CONTAINER_TYPE_CODE_SEQUENCE,
        vec![code("433466003", "SCT", "Microscope slide")],
    );
    let mut specimen = item(&[
        (tags::SPECIMEN_IDENTIFIER, VR::LO, "SPEC-Doe-7"),
        (tags::SPECIMEN_UID, VR::UI, "1.2.826.0.1.3680043.9999.7.9"),
        (
            tags::SPECIMEN_SHORT_DESCRIPTION,
            VR::LO,
            "Biopsy of Jane Doe",
        ),
    ]);
    put_sequence(
        &mut specimen,
        tags::ISSUER_OF_THE_SPECIMEN_IDENTIFIER_SEQUENCE,
        vec![],
    );
    put_sequence(&mut specimen, tags::SPECIMEN_PREPARATION_SEQUENCE, vec![]);
    put_sequence(
        &mut obj,
        tags::SPECIMEN_DESCRIPTION_SEQUENCE,
        vec![specimen],
    );
    obj
}

/// De-identifies `obj` with `profiles`; the output's elements (with
/// paths) and the error kinds dciodvfy finds in the output but not in
/// the source (empty when dciodvfy is not installed).
fn deidentify_fixture(
    obj: InMemDicomObject,
    profiles: &[&str],
) -> (Vec<(String, Element)>, BTreeSet<String>) {
    let source = TempDir::new().unwrap();
    let dest = TempDir::new().unwrap();
    let path = source.path().join("fixture.dcm");
    write_part10(obj, &path, uids::EXPLICIT_VR_LITTLE_ENDIAN);
    let run = anomize_keyed(source.path(), dest.path(), profiles);
    assert!(run.status.success(), "{}", stderr(&run));
    let found = outputs(dest.path());
    assert_eq!(found.len(), 1, "{:?}", found.keys());
    let output = dest.path().join(found.keys().next().unwrap());
    let mut new = BTreeSet::new();
    if dciodvfy_available() {
        let before = dciodvfy(&path);
        assert!(before.read_whole, "dciodvfy reads the fixture");
        new = dciodvfy(&output)
            .errors
            .difference(&before.errors)
            .cloned()
            .collect();
    }
    (all_elements(&output), new)
}

fn value_at<'a>(elements: &'a [(String, Element)], path: &str) -> Option<&'a Element> {
    elements.iter().find(|(p, _)| p == path).map(|(_, e)| e)
}

fn texts_under(elements: &[(String, Element)], prefix: &str) -> Vec<String> {
    elements
        .iter()
        .filter(|(p, _)| p.starts_with(prefix))
        .map(|(_, e)| text(e))
        .collect()
}

#[test]
fn an_sr_text_item_keeps_a_dummy_text_value() {
    for profiles in [&["ps3.15-basic"][..], &EVERY_OPTION[..]] {
        let (elements, new) = deidentify_fixture(text_report(), profiles);
        assert!(new.is_empty(), "{profiles:?}: {new:?}");
        let value = value_at(&elements, "(0040,A730)[0].(0040,A160)")
            .map(text)
            .unwrap_or_default();
        assert!(!value.is_empty(), "{profiles:?}: Text Value is Type 1C");
        assert!(!value.contains("Doe"), "{profiles:?}: {value}");
    }
}

#[test]
fn an_sr_keeps_its_referenced_request_valid() {
    for profiles in [&["ps3.15-basic"][..], &EVERY_OPTION[..]] {
        let (elements, new) = deidentify_fixture(text_report(), profiles);
        assert!(new.is_empty(), "{profiles:?}: {new:?}");
        let at = |path: &str| value_at(&elements, path).map(text);
        // Type 2 (and 1C in Request Attributes): a dummy; the procedure's
        // code stays.
        assert_eq!(
            at("(0040,A370)[0].(0040,1001)").as_deref(),
            Some("ANONYMIZED")
        );
        assert_eq!(
            at("(0040,A370)[0].(0032,1064)[0].(0008,0100)").as_deref(),
            Some("24627-2")
        );
        let request = texts_under(&elements, "(0040,A370)").join(" ");
        for identifying in ["Doe", "4711"] {
            assert!(!request.contains(identifying), "{profiles:?}: {request}");
        }
    }
}

#[test]
fn a_presentation_state_keeps_its_type_1_creation_date() {
    let (elements, new) = deidentify_fixture(presentation_state(), &["ps3.15-basic"]);
    assert!(new.is_empty(), "{new:?}");
    let at = |path: &str| value_at(&elements, path).map(text);
    assert_eq!(at("(0070,0082)").as_deref(), Some("19000101"));
    assert_eq!(at("(0070,0083)").as_deref(), Some("000000"));
}

#[test]
fn ps315_keeps_required_modules_and_coded_values_and_the_earlier_method() {
    for profiles in [&["ps3.15-basic"][..], &EVERY_OPTION[..]] {
        let (elements, new) = deidentify_fixture(specimen_image(), profiles);
        assert!(new.is_empty(), "{profiles:?}: {new:?}");
        let all_text = texts_under(&elements, "").join(" ");
        for identifying in ["Doe", "ST MARY", "Main Street", "PID4711", "ACC4711"] {
            assert!(
                !all_text.contains(identifying),
                "{profiles:?}: {identifying} left"
            );
        }
        let at = |path: &str| value_at(&elements, path).map(text);
        // The specimen module stays, its identifiers de-identified.
        assert_eq!(
            at("(0040,0560)[0].(0040,0551)").as_deref(),
            Some("ANONYMIZED")
        );
        let specimen_uid = at("(0040,0560)[0].(0040,0554)").unwrap_or_default();
        let retains_uids = profiles.contains(&"retain-uids");
        assert_eq!(
            specimen_uid.starts_with("2.25."),
            !retains_uids,
            "{profiles:?}: {specimen_uid}"
        );
        // Removed, or cleaned by Clean Descriptors.
        let short = at("(0040,0560)[0].(0040,0600)");
        assert_eq!(short.is_none(), profiles.len() == 1, "{short:?}");
        assert_eq!(
            at("(0040,0518)[0].(0008,0100)").as_deref(),
            Some("433466003")
        );
        // The issuer of the accession number stays valid (one of its HL7v2
        // designators is Type 1C), without the hospital's name.
        assert_eq!(
            at("(0008,0051)[0].(0040,0031)").as_deref(),
            Some("ANONYMIZED")
        );
        // The referenced study keeps its item, with the new study UID.
        assert_eq!(
            at("(0008,1110)[0].(0008,1155)"),
            at("(0020,000D)"),
            "{profiles:?}"
        );
        // The overlay group goes whole.
        let overlay: Vec<&String> = elements
            .iter()
            .filter(|(_, e)| e.tag.group() == 0x6000)
            .map(|(p, _)| p)
            .collect();
        assert!(overlay.is_empty(), "{profiles:?}: {overlay:?}");
        // Coded values of the study group stay, its text goes.
        assert_eq!(at("(0032,000A)").as_deref(), Some("VERIFIED"));
        assert_eq!(at("(0032,000C)").as_deref(), Some("HIGH"));
        assert_eq!(at("(0038,0016)"), None);
        // The earlier de-identification is kept, ours follows once.
        let method = at("(0012,0063)").unwrap_or_default();
        assert!(
            method.starts_with("OTHER TOOL 2.1\\dicommanager "),
            "{method}"
        );
        let codes: Vec<String> = elements
            .iter()
            .filter(|(p, _)| p.starts_with("(0012,0064)[") && p.ends_with("(0008,0100)"))
            .map(|(_, e)| text(e))
            .collect();
        assert_eq!(codes[..2], ["113100", "113110"], "{profiles:?}");
        assert_eq!(
            codes.iter().filter(|c| *c == "113100").count(),
            1,
            "{codes:?}"
        );
        if profiles.len() > 1 {
            assert!(codes.len() > 5, "{codes:?}");
        }
    }
}
