//! IOD conformance of the outputs, judged by David Clunie's `dciodvfy`
//! (Debian package `dicom3tools`, installed by `scripts/setup.sh`): an
//! output must not have a kind of error its source did not have.
//!
//! How error lines are compared: only lines starting with `Error` count
//! (warnings are advice, and de-identification legitimately causes some,
//! e.g. "needed to build DICOMDIR - Study Date"). Each line is reduced to
//! its *kind* by stripping values, which de-identification changes by
//! design: a value in angle brackets after `= `, `value ` or `term `
//! becomes `<>`, a quoted value `""`, and every number or UID that stands
//! alone (also inside `<...>`) becomes `#`, except the number after
//! `Type` (Type 1, 2, 1C ... is the kind). Attribute and module names,
//! tags and the wording stay. A source dciodvfy cannot read to the end
//! ("Tags out of order", "Dicom dataset read failed") cannot be compared:
//! its errors past the break are unknown; such pairs are counted and
//! reported, not judged. DICOMDIRs are left to the DICOMDIR tests (their
//! output is rebuilt, not de-identified element by element).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

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

fn dciodvfy(path: &Path) -> Verdict {
    let run = Command::new("dciodvfy")
        .arg(path)
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
/// output with its source.
fn compare_corpus_run(corpus: &Path, profiles: &[&str]) -> Comparison {
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
        let before = dciodvfy(source);
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

/// The comparison of one profile set on the corpus, which must find no
/// new error kind.
fn assert_no_new_errors(profiles: &[&str]) {
    let Some(corpus) = corpus() else { return };
    if !dciodvfy_available() {
        return;
    }
    let comparison = compare_corpus_run(&corpus, profiles);
    let label = if profiles.is_empty() {
        "basic (the default)".to_string()
    } else {
        profiles.join(" + ")
    };
    let report = comparison.report(&label);
    eprintln!("{report}");
    assert!(comparison.compared > 90, "{report}");
    assert!(comparison.new_errors.is_empty(), "{report}");
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
    assert_no_new_errors(&[]);
}

#[test]
fn corpus_under_ps315_basic_gains_no_dciodvfy_error() {
    assert_no_new_errors(&["ps3.15-basic"]);
}

#[test]
fn corpus_under_ps315_basic_with_every_option_gains_no_dciodvfy_error() {
    assert_no_new_errors(&EVERY_OPTION);
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
