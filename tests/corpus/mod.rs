//! `anomize` on the whole developer corpus (real files written by others);
//! see [`crate::util::corpus`] for where it is found. CI sets
//! `DICOMMANAGER_REQUIRE_DCMTK=1` so that outputs are also read by DCMTK's
//! `dcmdump`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dicom_dictionary_std::tags;
use tempfile::TempDir;

use dicommanager::metadata::Element;

use crate::ps315::{all_elements, assert_valid_uid, days_between, text};
use crate::util::*;

/// Files of the corpus that are DICOM by content but cannot be read to
/// the end, and must be ERROR rows (see the corpus README, `broken/`).
const UNREADABLE: &[&str] = &[
    "broken/CT_small_cut_at_1000_bytes.dcm",
    "broken/MR_truncated.dcm",
    "broken/preamble_and_DICM_only.dcm",
    "broken/rtplan_truncated.dcm",
];

struct ManifestRow {
    file: String,
    sha256: String,
    parse_status: String,
}

fn manifest(corpus: &Path) -> Vec<ManifestRow> {
    let mut reader = csv::Reader::from_path(corpus.join("MANIFEST.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (file, sha, status) = (col("file"), col("sha256"), col("parse_status"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            ManifestRow {
                file: r[file].to_string(),
                sha256: r[sha].to_string(),
                parse_status: r[status].to_string(),
            }
        })
        .collect()
}

#[test]
fn whole_corpus_with_the_basic_profile() {
    let Some(corpus) = corpus() else { return };
    let manifest = manifest(&corpus);
    let before = snapshot(&corpus);
    let dest = TempDir::new().unwrap();
    let out = anomize(&corpus, dest.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the corpus has broken files: {}",
        stderr(&out)
    );

    // Sources: byte-identical to the manifest, timestamps untouched.
    assert_eq!(snapshot(&corpus), before);
    for row in &manifest {
        let bytes = std::fs::read(corpus.join(&row.file)).unwrap();
        assert_eq!(sha256_hex(&bytes), row.sha256, "{}", row.file);
    }

    // Listed: exactly the files that are DICOM by content.
    let expected: BTreeSet<String> = manifest
        .iter()
        .filter(|r| !r.parse_status.starts_with("not_dicom"))
        .map(|r| corpus.join(&r.file).display().to_string())
        .collect();
    let metadata = read_csv_rows(&dest.path().join("_metadata.csv"));
    let listed: BTreeSet<String> = metadata.iter().map(|r| r[1].clone()).collect();
    assert_eq!(listed, expected);
    let seqs: Vec<String> = metadata.iter().map(|r| r[0].clone()).collect();
    let one_to_n: Vec<String> = (1..=metadata.len()).map(|i| i.to_string()).collect();
    assert_eq!(seqs, one_to_n);

    let xlsx = read_xlsx(&dest.path().join("_out.xlsx"));
    assert_eq!(xlsx[0][..7], SEED_HEADERS);
    let rows = &xlsx[1..];
    assert_eq!(rows.len(), metadata.len());

    // OK for every readable file; ERROR, with a reason, for the broken ones.
    let unreadable: BTreeSet<String> = UNREADABLE
        .iter()
        .map(|f| corpus.join(f).display().to_string())
        .collect();
    for row in rows {
        let broken = unreadable.contains(&row[0]);
        assert_eq!(
            row[6],
            if broken { "ERROR" } else { "OK" },
            "{} {:?}",
            row[0],
            row.get(7)
        );
        if broken {
            assert!(!row[7].is_empty());
        }
    }

    // One index per Patient ID and one Patient ID per index, numbered 1..n;
    // files without an ID are not merged: each has an index of its own.
    let mut by_id: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut by_index: BTreeMap<u32, BTreeSet<&str>> = BTreeMap::new();
    let mut without_id = 0;
    for row in rows.iter().filter(|r| !r[3].is_empty()) {
        by_id.entry(&row[2]).or_default().insert(&row[3]);
        by_index
            .entry(row[3].parse().unwrap())
            .or_default()
            .insert(&row[2]);
        if row[2].is_empty() {
            without_id += 1;
            assert_eq!(
                row[9], "PatientID empty: a patient index of its own",
                "{row:?}"
            );
        }
    }
    let empty = by_id.remove("").unwrap_or_default();
    assert_eq!(empty.len(), without_id, "{empty:?}");
    assert!(by_id.values().all(|s| s.len() == 1), "{by_id:?}");
    assert!(by_index.values().all(|s| s.len() == 1), "{by_index:?}");
    let indices: Vec<u32> = by_index.keys().copied().collect();
    assert_eq!(indices, (1..=indices.len() as u32).collect::<Vec<_>>());

    // The four tags changed, read back by dicom-object. (The DICOMDIR's
    // row has no output: the default template cannot be a file-set.)
    let written = |r: &&Vec<String>| r[6] == "OK" && !r[5].is_empty();
    for row in rows.iter().filter(written) {
        let Some(output) = read_back(&row[0], Path::new(&row[5])) else {
            continue;
        };
        for tag in [tags::PATIENT_NAME, tags::PATIENT_ID] {
            if let Ok(element) = output.element(tag) {
                assert_eq!(element.to_str().unwrap().trim(), row[3], "{} {tag}", row[0]);
            } else if let Ok(source) = dicom_object::open_file(&row[0]) {
                assert!(source.element(tag).is_err(), "{} lost {tag}", row[0]);
            }
        }
        if let Ok(instance) = output.element(tags::SOP_INSTANCE_UID) {
            assert_eq!(
                output.meta().media_storage_sop_instance_uid(),
                instance.to_str().unwrap().trim_end_matches('\0'),
                "{}",
                row[0]
            );
        }
        for tag in [tags::PATIENT_ADDRESS, tags::STUDY_DESCRIPTION] {
            if let Ok(element) = output.element(tag) {
                assert!(
                    element.to_str().unwrap().trim().is_empty(),
                    "{} {tag}",
                    row[0]
                );
            }
        }
    }

    // DCMTK reads every output without an error, and refuses every source
    // that is an ERROR row: we never refuse a file the reference reads.
    if dcmdump_available() {
        for row in rows.iter().filter(written) {
            assert_dcmdump_reads(Path::new(&row[5]));
        }
        for row in rows.iter().filter(|row| row[6] == "ERROR") {
            assert!(
                !dcmdump_reads(Path::new(&row[0])),
                "{} is an ERROR row ({}) but DCMTK reads it",
                row[0],
                row[7]
            );
        }
    }
}

#[test]
fn corpus_results_do_not_depend_on_threads() {
    let Some(corpus) = corpus() else { return };
    let one = TempDir::new().unwrap();
    let default = TempDir::new().unwrap();
    anomize(&corpus, one.path(), &["--jobs", "1"]);
    anomize(&corpus, default.path(), &[]);
    assert_eq!(outputs(one.path()), outputs(default.path()));
    let rows = |dest: &Path| -> Vec<Vec<String>> {
        let prefix = dest.canonicalize().unwrap().display().to_string();
        read_xlsx(&dest.join("_out.xlsx"))
            .into_iter()
            .map(|r| r.into_iter().map(|c| c.replace(&prefix, "DEST")).collect())
            .collect()
    };
    assert_eq!(rows(one.path()), rows(default.path()));
}

/// Output rows of a PS3.15 run on the corpus: (source, output) of each OK
/// row with an output (the DICOMDIR's has none: the default template
/// cannot be a file-set).
fn ps315_run(corpus: &Path, dest: &Path, profiles: &[&str]) -> Vec<(String, String)> {
    let run = anomize_keyed(corpus, dest, profiles);
    assert_eq!(
        run.status.code(),
        Some(1),
        "broken files fail: {}",
        stderr(&run)
    );
    let rows = read_csv_rows(&dest.join("_out.csv"));
    let ok: Vec<(String, String)> = rows[1..]
        .iter()
        .filter(|r| r[6] == "OK" && !r[5].is_empty())
        .map(|r| (r[0].clone(), r[5].clone()))
        .collect();
    let errors: Vec<&str> = rows[1..]
        .iter()
        .filter(|r| r[6] != "OK")
        .map(|r| r[0].as_str())
        .collect();
    assert_eq!(errors.len(), UNREADABLE.len(), "{errors:?}");
    ok
}

fn top_level(elements: &[(String, Element)], tag: dicom_core::Tag) -> Option<String> {
    let key = tag.to_string();
    elements
        .iter()
        .find(|(p, _)| *p == key)
        .map(|(_, e)| text(e))
}

#[test]
fn whole_corpus_with_the_ps315_basic_profile() {
    let Some(corpus) = corpus() else { return };
    let dest = TempDir::new().unwrap();
    let rows = ps315_run(&corpus, dest.path(), &["ps3.15-basic"]);
    let mut studies: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut new_study_sources: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut instances: BTreeMap<String, String> = BTreeMap::new();
    let mut files = Vec::new();
    for (source, output) in &rows {
        let before = all_elements(Path::new(source));
        let after = all_elements(Path::new(output));
        for (path, element) in &after {
            assert!(
                element.tag.group() % 2 == 0,
                "{output}: private {path} ({source})"
            );
            if element.vr == dicom_core::VR::UI {
                assert_valid_uid(&text(element), &format!("{output} {path} ({source})"));
            }
        }
        if let (Some(old), Some(new)) = (
            top_level(&before, tags::STUDY_INSTANCE_UID),
            top_level(&after, tags::STUDY_INSTANCE_UID),
        ) {
            assert_ne!(old, new, "{source}: study UID kept");
            studies.entry(old.clone()).or_default().insert(new.clone());
            new_study_sources.entry(new).or_default().insert(old);
        }
        if let (Some(old), Some(new)) = (
            top_level(&before, tags::SOP_INSTANCE_UID),
            top_level(&after, tags::SOP_INSTANCE_UID),
        ) {
            assert_ne!(old, new, "{source}: SOP instance UID kept");
            instances.insert(old, new);
        }
        files.push((source, output, before, after));
    }
    assert!(studies.values().all(|new| new.len() == 1), "{studies:?}");
    assert!(new_study_sources.values().all(|old| old.len() == 1));

    // A reference to an instance of the set leads to its new UID.
    let mut resolved = 0;
    for (source, output, before, after) in &files {
        let after: BTreeMap<&String, &Element> = after.iter().map(|(p, e)| (p, e)).collect();
        for (path, element) in before {
            if element.tag != tags::REFERENCED_SOP_INSTANCE_UID {
                continue;
            }
            let Some(new_uid) = instances.get(&text(element)) else {
                continue;
            };
            let kept = after.get(path).map(|e| text(e));
            assert_eq!(kept.as_ref(), Some(new_uid), "{output} {path} ({source})");
            resolved += 1;
        }
    }
    eprintln!(
        "ps3.15-basic on the corpus: {} outputs, {} studies, {resolved} references resolved",
        rows.len(),
        studies.len()
    );

    if dcmdump_available() {
        for (_, output) in &rows {
            assert_dcmdump_reads(Path::new(output));
        }
    }

    // The leak scanner finds none of the sources' identifying values.
    let verify = verify(&corpus, dest.path(), &[]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        stderr(&verify)
    );
}

#[test]
fn whole_corpus_with_modified_dates_shifts_every_date_of_a_patient_alike() {
    let Some(corpus) = corpus() else { return };
    let dest = TempDir::new().unwrap();
    let rows = ps315_run(
        &corpus,
        dest.path(),
        &["ps3.15-basic", "retain-long-modified-dates"],
    );
    let audit = read_csv_rows(&dest.path().join("_out.csv"));
    let patient_of: BTreeMap<&str, &str> = audit[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[3].as_str()))
        .collect();
    let mut offsets: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
    let mut shifted = 0;
    for (source, output) in &rows {
        let before = all_elements(Path::new(source));
        let after: BTreeMap<String, Element> =
            all_elements(Path::new(output)).into_iter().collect();
        for (path, element) in &before {
            if element.vr != dicom_core::VR::DA {
                continue;
            }
            let old = text(element);
            let Some(new) = after.get(path).map(text) else {
                continue;
            };
            if old.len() != 8 || new.is_empty() {
                continue;
            }
            assert_ne!(new, old, "{output} {path} ({source}) not shifted");
            offsets
                .entry(patient_of[source.as_str()])
                .or_default()
                .insert(days_between(&old, &new));
            shifted += 1;
        }
    }
    for (patient, found) in &offsets {
        assert_eq!(found.len(), 1, "patient {patient}: offsets {found:?}");
    }
    eprintln!(
        "modified dates on the corpus: {shifted} dates of {} patients shifted",
        offsets.len()
    );
    assert!(shifted > 100, "{shifted}");
}

#[test]
fn every_option_that_keeps_no_identity_leaves_the_corpus_clean() {
    let Some(corpus) = corpus() else { return };
    // retain-uids and retain-institution-identity keep identifying values
    // by definition; every other option must leave nothing for verify.
    for option in [
        "retain-safe-private",
        "retain-device-identity",
        "retain-patient-characteristics",
        "retain-long-full-dates",
        "retain-long-modified-dates",
        "clean-descriptors",
        "clean-structured-content",
        "clean-graphics",
    ] {
        let dest = TempDir::new().unwrap();
        let rows = ps315_run(&corpus, dest.path(), &["ps3.15-basic", option]);
        assert!(rows.len() > 100, "{option}");
        let verify = verify(&corpus, dest.path(), &[]);
        assert_eq!(
            verify.status.code(),
            Some(0),
            "{option}: {}{}",
            String::from_utf8_lossy(&verify.stdout),
            stderr(&verify)
        );
    }
}

/// The path of an element split into its tags: `(0008,1140)[0].(0008,1155)`
/// → [(0008,1140), (0008,1155)].
fn path_tags(path: &str) -> Vec<dicom_core::Tag> {
    path.split('.')
        .filter_map(|step| {
            let step = step.split('[').next().unwrap_or(step);
            let inner = step.strip_prefix('(')?.strip_suffix(')')?;
            let (group, element) = inner.split_once(',')?;
            Some(dicom_core::Tag(
                u16::from_str_radix(group, 16).ok()?,
                u16::from_str_radix(element, 16).ok()?,
            ))
        })
        .collect()
}

/// Whether `rules` let the element at `tags` through with a value of its
/// own: no private step (the knowledge base decides those), no sequence on
/// the way removed or emptied, and the element itself neither removed nor
/// emptied.
fn survives(rules: &dicommanager::rules::RuleSet, tags: &[dicom_core::Tag]) -> bool {
    use dicom_core::VR;
    use dicommanager::rules::Disposition;
    let Some((last, sequences)) = tags.split_last() else {
        return false;
    };
    let private = tags.iter().any(|t| t.group() % 2 == 1);
    let through = sequences
        .iter()
        .all(|t| rules.rule_for(*t).disposition(VR::SQ) == Disposition::Keep);
    let rule = rules.rule_for(*last);
    !private && through && !matches!(rule.name(), "remove" | "blank")
}

/// What a profile did to the attributes TCIA keeps and removes, over the
/// corpus: (kept unchanged, kept but cleaned of identifiers, kept ones
/// changed otherwise or lost, removed ones gone, removed ones left).
#[derive(Debug, Default)]
struct Retention {
    unchanged: usize,
    cleaned: usize,
    lost: Vec<String>,
    gone: usize,
    left: Vec<String>,
}

impl Retention {
    fn measure(rows: &[(String, String)]) -> Retention {
        use dicommanager::profile::Selector;
        use dicommanager::profile::tcia::generate::{DISPOSITIONS, parse};
        let listed = parse(DISPOSITIONS).unwrap();
        let disposition_of = |tag: dicom_core::Tag| {
            listed
                .iter()
                .find(|l| l.selector == Selector::Tag(tag))
                .map(|l| l.disposition.as_str())
        };
        let mut measure = Retention::default();
        for (source, output) in rows {
            let after: BTreeMap<String, Element> =
                all_elements(Path::new(output)).into_iter().collect();
            // Top-level attributes only: inside a sequence TCIA's lists
            // apply to the items of the sequences it processes.
            for (path, element) in all_elements(Path::new(source)) {
                if path.contains('[')
                    || matches!(element.value, dicommanager::metadata::Value::Items(_))
                {
                    continue;
                }
                let what = format!("{path} of {source}");
                match disposition_of(element.tag) {
                    Some("keep" | "time") => {
                        let old = text(&element);
                        match after.get(&path).map(text) {
                            Some(new) if new == old => measure.unchanged += 1,
                            // Stars where the identifier was (one per
                            // character, so not per byte in ISO 2022 text).
                            Some(new) if new.contains('*') && !old.contains('*') => {
                                measure.cleaned += 1
                            }
                            _ => measure.lost.push(what),
                        }
                    }
                    // Gone: absent, emptied or replaced (PS3.15 empties
                    // or dummies where TCIA removes).
                    Some("remove") => match after.get(&path).map(text) {
                        Some(new) if !new.is_empty() && new == text(&element) => {
                            measure.left.push(what)
                        }
                        _ => measure.gone += 1,
                    },
                    _ => {}
                }
            }
        }
        measure
    }

    fn report(&self, profile: &str) {
        let kept = self.unchanged + self.cleaned + self.lost.len();
        let removed = self.gone + self.left.len();
        eprintln!(
            "retention of {profile} on the corpus: of {kept} attributes TCIA keeps, {} unchanged, {} cleaned of an identifier, {} changed or lost; of {removed} it removes, {} gone",
            self.unchanged,
            self.cleaned,
            self.lost.len(),
            self.gone
        );
    }
}

#[test]
fn whole_corpus_with_the_tcia_profile() {
    let Some(corpus) = corpus() else { return };
    let dest = TempDir::new().unwrap();
    let rows = ps315_run(&corpus, dest.path(), &["tcia"]);
    assert!(rows.len() > 100);
    let rules = dicommanager::rules::RuleSet::load(&["tcia".to_string()]).unwrap();
    let audit = read_csv_rows(&dest.path().join("_out.csv"));
    let patient_of: BTreeMap<&str, &str> = audit[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[3].as_str()))
        .collect();
    let mut offsets: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
    let mut shifted = 0;
    for (source, output) in &rows {
        let after: BTreeMap<String, Element> =
            all_elements(Path::new(output)).into_iter().collect();
        for (path, element) in all_elements(Path::new(source)) {
            if !matches!(element.vr, dicom_core::VR::DA | dicom_core::VR::DT) {
                continue;
            }
            let old = text(&element);
            if old.is_empty() || !survives(&rules, &path_tags(&path)) {
                continue;
            }
            // Every date the source had is there, moved.
            let new = after.get(&path).map(text).unwrap_or_default();
            assert!(
                new.len() >= 8,
                "{output} {path} ({source}): {old:?} became {new:?}"
            );
            assert_ne!(new, old, "{output} {path} ({source}) not shifted");
            if old.len() >= 8 && old[..8].bytes().all(|b| b.is_ascii_digit()) {
                offsets
                    .entry(patient_of[source.as_str()])
                    .or_default()
                    .insert(days_between(&old[..8], &new[..8]));
                shifted += 1;
            }
        }
    }
    for (patient, found) in &offsets {
        assert_eq!(found.len(), 1, "patient {patient}: offsets {found:?}");
    }
    eprintln!(
        "tcia on the corpus: {shifted} dates of {} patients shifted",
        offsets.len()
    );
    assert!(shifted > 100, "{shifted}");

    let retention = Retention::measure(&rows);
    retention.report("tcia");
    assert!(retention.left.is_empty(), "{:?}", retention.left);
    assert!(retention.lost.is_empty(), "{:?}", retention.lost);
    assert!(retention.unchanged > 100, "{retention:?}");

    if dcmdump_available() {
        for (_, output) in &rows {
            assert_dcmdump_reads(Path::new(output));
        }
    }
    let verify = verify(&corpus, dest.path(), &[]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        stderr(&verify)
    );
}

#[test]
fn retention_of_ps315_with_the_research_options() {
    let Some(corpus) = corpus() else { return };
    let dest = TempDir::new().unwrap();
    let rows = ps315_run(
        &corpus,
        dest.path(),
        &[
            "ps3.15-basic",
            "retain-long-modified-dates",
            "retain-patient-characteristics",
            "retain-device-identity",
            "retain-safe-private",
            "clean-descriptors",
        ],
    );
    let retention = Retention::measure(&rows);
    retention.report("ps3.15-basic + research options");
    // Everything TCIA keeps survives (cleaned where it held an identifier).
    assert!(retention.lost.is_empty(), "{:?}", retention.lost);
    // What TCIA removes and these options keep, an option of Table E.1-1
    // keeps (K) or cleans (C): device identity, descriptions, dates' zone.
    let options = [
        "retain-long-modified-dates",
        "retain-patient-characteristics",
        "retain-device-identity",
        "retain-safe-private",
        "clean-descriptors",
    ];
    let table = dicommanager::profile::ps315::shipped_rows();
    for left in &retention.left {
        let path = left.split(" of ").next().unwrap_or_default();
        let tag = path_tags(path)[0];
        let kept_by_an_option = table.iter().any(|row| {
            row.target
                == dicommanager::profile::ps315::RowTarget::Attributes(
                    dicommanager::profile::Selector::Tag(tag),
                )
                && dicommanager::profile::ps315::OPTIONS
                    .iter()
                    .filter(|o| options.contains(&o.profile))
                    .any(|o| matches!(row.option(o), "K" | "C"))
        });
        assert!(kept_by_an_option, "{left}");
    }
    let verify = verify(&corpus, dest.path(), &[]);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
}
