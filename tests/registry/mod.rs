//! Issue 13, cohorts over time: a registry keeps patient indices and
//! image numbers across batches, recognises re-sent files, survives
//! concurrent and killed runs, and refuses another secret.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use dicom_dictionary_std::tags;
use tempfile::TempDir;

use crate::util::*;

/// A PACS export by month: `2026-0M/<patient>/<n>.dcm`, patients spread
/// over the months (some in one, some in all).
fn monthly_tree() -> TempDir {
    let source = TempDir::new().unwrap();
    let mut instance = 0;
    for month in 1..=3 {
        for patient in 0..9u32 {
            // Patient p appears in the months where p % month == 0 ...
            if patient % (month + 1) != 0 && patient % 3 != month % 3 {
                continue;
            }
            for image in 0..2 {
                instance += 1;
                let id = format!("PAT{patient:02}");
                let name = format!("Patient^{patient}");
                write_patient_file(
                    &source
                        .path()
                        .join(format!("2026-0{month}/{id}/{image}.dcm")),
                    &Patient {
                        id: &id,
                        name: &name,
                    },
                    &format!("1.2.3.{month}.{patient}"),
                    instance,
                );
            }
        }
    }
    source
}

/// The top-level folders of `source`, each copied into a folder of its own
/// (a batch), in walk order.
fn batches(source: &Path) -> (TempDir, Vec<PathBuf>) {
    let work = TempDir::new().unwrap();
    let mut names: Vec<_> = fs::read_dir(source)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let mut folders = Vec::new();
    for name in names {
        let batch = work.path().join(&name);
        copy_tree(&source.join(&name), &batch.join(&name));
        folders.push(batch);
    }
    (work, folders)
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).unwrap();
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs `registry VERB -r REGISTRY ARGS...` with the test secret.
fn registry_command(
    verb: &str,
    registry: &Path,
    args: &[&dyn AsRef<std::ffi::OsStr>],
) -> std::process::Output {
    dicommanager()
        .env("DICOMMANAGER_SECRET", TEST_SECRET)
        .args(["registry", verb, "-r"])
        .arg(registry)
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap()
}

/// Runs `anomize` keyed with the test secret and these arguments.
fn run(source: &Path, dest: &Path, extra: &[&str]) -> std::process::Output {
    dicommanager()
        .env("DICOMMANAGER_SECRET", TEST_SECRET)
        .args(["anomize", "-q", "-s"])
        .arg(source)
        .arg("-d")
        .arg(dest)
        .args(extra)
        .output()
        .unwrap()
}

/// Source path relative to its batch or tree (the month folder on) →
/// (patient index, output file name), from a run's audit.
fn mapping(dest: &Path) -> BTreeMap<String, (String, String)> {
    mapping_from(dest, |source| source.rfind("2026-").unwrap())
}

/// [`mapping`], the source path cut where `start` says.
fn mapping_from(dest: &Path, start: impl Fn(&str) -> usize) -> BTreeMap<String, (String, String)> {
    let rows = read_csv_rows(&dest.join("_out.csv"));
    rows[1..]
        .iter()
        .map(|row| {
            let source = row[0].clone();
            let month_on = source[start(&source)..].to_string();
            let name = Path::new(&row[5])
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (month_on, (row[3].clone(), name))
        })
        .collect()
}

#[test]
fn monthly_batches_on_one_registry_number_as_one_run_over_all() {
    let source = monthly_tree();
    let whole = TempDir::new().unwrap();
    let out = run(source.path(), whole.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = mapping(whole.path());

    let (_work, folders) = batches(source.path());
    let keys = TempDir::new().unwrap();
    let registry = keys.path().join("registry.sqlite");
    let mut got = BTreeMap::new();
    let mut dests = Vec::new();
    for folder in &folders {
        let dest = TempDir::new().unwrap();
        let out = run(
            folder,
            dest.path(),
            &["--registry", registry.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        got.extend(mapping(dest.path()));
        dests.push(dest);
    }
    assert_eq!(got, expected);
    // The same outputs, byte for byte, as the one run wrote.
    for dest in &dests {
        for (name, bytes) in outputs(dest.path()) {
            assert_eq!(
                fs::read(whole.path().join(&name)).unwrap(),
                bytes,
                "{name:?}"
            );
        }
    }
    let mode = fs::metadata(&registry).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );

    let show = dicommanager()
        .args(["registry", "show", "-r"])
        .arg(&registry)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("patients     9"), "{text}");
    assert!(
        text.contains(&format!("images       {}", expected.len())),
        "{text}"
    );
    assert!(text.contains("runs         3"), "{text}");
    assert!(!text.contains("PAT0"), "show prints no identity: {text}");
}

#[test]
fn a_re_sent_file_is_recognised_and_not_written_twice() {
    let source = monthly_tree();
    let (_work, folders) = batches(source.path());
    let keys = TempDir::new().unwrap();
    let registry = keys.path().join("registry.sqlite");
    let registry = registry.to_str().unwrap();
    let first = TempDir::new().unwrap();
    run(&folders[0], first.path(), &["--registry", registry]);
    // February's batch also carries one file January already sent.
    let resent = folders[1].join("2026-02/PAT00/resent.dcm");
    fs::copy(folders[0].join("2026-01/PAT00/0.dcm"), &resent).unwrap();
    let second = TempDir::new().unwrap();
    let out = run(&folders[1], second.path(), &["--registry", registry]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows = read_csv_rows(&second.path().join("_out.csv"));
    let row = rows.iter().find(|r| r[0].ends_with("resent.dcm")).unwrap();
    assert_eq!(row[6], "OK");
    assert!(row[7].contains("already exported"), "{row:?}");
    assert!(row[5].is_empty(), "{row:?}");
    // Patient 0's February images go on from January's two, the re-sent
    // file taking no number.
    let pat00: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[0].contains("/PAT00/") && !r[0].ends_with("resent.dcm"))
        .collect();
    let names: Vec<&str> = pat00
        .iter()
        .map(|r| r[5].rsplit('/').next().unwrap())
        .collect();
    assert_eq!(names, ["1_003.dcm", "1_004.dcm"]);
    assert_eq!(outputs(second.path()).len(), rows.len() - 2);
}

#[test]
fn two_runs_on_one_registry_at_once_never_share_an_index() {
    let keys = TempDir::new().unwrap();
    let registry = keys.path().join("registry.sqlite");
    let sources: Vec<TempDir> = (0..2)
        .map(|run| {
            let source = TempDir::new().unwrap();
            for patient in 0..40 {
                let id = format!("R{run}-{patient:02}");
                for image in 0..3 {
                    write_patient_file(
                        &source.path().join(format!("{id}/{image}.dcm")),
                        &Patient {
                            id: &id,
                            name: "X^Y",
                        },
                        &format!("1.2.{run}.{patient}"),
                        image,
                    );
                }
            }
            source
        })
        .collect();
    let dests: Vec<TempDir> = (0..2).map(|_| TempDir::new().unwrap()).collect();
    let children: Vec<_> = sources
        .iter()
        .zip(&dests)
        .map(|(source, dest)| {
            Command::new(assert_cmd::cargo::cargo_bin("dicommanager"))
                .env("DICOMMANAGER_SECRET", TEST_SECRET)
                .args(["anomize", "-q", "--jobs", "1", "--registry"])
                .arg(&registry)
                .arg("-s")
                .arg(source.path())
                .arg("-d")
                .arg(dest.path())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for dest in &dests {
        for row in &read_csv_rows(&dest.path().join("_out.csv"))[1..] {
            let (id, index) = (&row[2], &row[3]);
            if let Some(other) = owner.insert(index.clone(), id.clone()) {
                assert_eq!(&other, id, "index {index} given to two patients");
            }
        }
    }
    let indices: Vec<u32> = owner.keys().map(|i| i.parse().unwrap()).collect();
    assert_eq!(indices.len(), 80);
    assert_eq!(indices.iter().max(), Some(&80));
}

#[test]
fn a_killed_run_resumes_with_its_registry_as_if_never_killed() {
    let source = many_files(600);
    let keys = TempDir::new().unwrap();
    let reference = TempDir::new().unwrap();
    let reference_registry = keys.path().join("reference.sqlite");
    let out = run(
        source.path(),
        reference.path(),
        &["--registry", reference_registry.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let registry = keys.path().join("registry.sqlite");
    let registry = registry.to_str().unwrap();
    let dest = TempDir::new().unwrap();
    for _ in 0..3 {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("dicommanager"))
            .env("DICOMMANAGER_SECRET", TEST_SECRET)
            .args(["anomize", "-q", "--jobs", "1", "--registry", registry])
            .arg("-s")
            .arg(source.path())
            .arg("-d")
            .arg(dest.path())
            .args(if dest.path().join("_run.json").exists() {
                &["--resume"][..]
            } else {
                &[]
            })
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_outputs(&mut child, dest.path(), outputs(dest.path()).len() + 20);
        let _ = child.kill();
        child.wait().unwrap();
    }
    let out = run(
        source.path(),
        dest.path(),
        &["--registry", registry, "--resume"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(final_state(dest.path()), final_state(reference.path()));

    // Another registry than the one the run started with is refused.
    let out = run(
        source.path(),
        dest.path(),
        &[
            "--registry",
            reference_registry.to_str().unwrap(),
            "--resume",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("the registry"), "{}", stderr(&out));
}

#[test]
fn a_registry_refuses_another_secret_and_needs_one() {
    let source = monthly_tree();
    let keys = TempDir::new().unwrap();
    let registry = keys.path().join("registry.sqlite");
    let registry = registry.to_str().unwrap();
    run(
        source.path(),
        TempDir::new().unwrap().path(),
        &["--registry", registry],
    );

    let dest = TempDir::new().unwrap();
    let out = dicommanager()
        .env("DICOMMANAGER_SECRET", "another secret")
        .args(["anomize", "-q", "--registry", registry, "-s"])
        .arg(source.path())
        .arg("-d")
        .arg(dest.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("another secret"), "{}", stderr(&out));
    assert_eq!(fs::read_dir(dest.path()).unwrap().count(), 0);

    let out = anomize(source.path(), dest.path(), &["--registry", registry]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("needs the secret"),
        "{}",
        stderr(&out)
    );

    let out = dicommanager()
        .env("DICOMMANAGER_SECRET", "another secret")
        .args([
            "anomize",
            "-q",
            "--force-registry",
            "--registry",
            registry,
            "-s",
        ])
        .arg(source.path())
        .arg("-d")
        .arg(dest.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn an_earlier_runs_audit_imports_its_indices_and_lookup_finds_them() {
    let source = monthly_tree();
    let (_work, folders) = batches(source.path());
    // January was exported before the registry existed.
    let january = TempDir::new().unwrap();
    run(&folders[0], january.path(), &[]);
    let keys = TempDir::new().unwrap();
    let registry = keys.path().join("registry.sqlite");
    let import = registry_command(
        "import",
        &registry,
        &[&"--audit", &january.path().join("_out.csv")],
    );
    assert_eq!(import.status.code(), Some(0), "{}", stderr(&import));

    // February with the registry numbers as one run over both would.
    let both = TempDir::new().unwrap();
    copy_tree(&folders[0], both.path());
    copy_tree(&folders[1], both.path());
    let whole = TempDir::new().unwrap();
    run(both.path(), whole.path(), &[]);
    let february = TempDir::new().unwrap();
    let out = run(
        &folders[1],
        february.path(),
        &["--registry", registry.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = mapping(whole.path());
    for (file, numbers) in mapping(february.path()) {
        assert_eq!(expected.get(&file), Some(&numbers), "{file}");
    }

    let january_rows = read_csv_rows(&january.path().join("_out.csv"));
    let (id, index) = (&january_rows[1][2], &january_rows[1][3]);
    let lookup = registry_command("lookup", &registry, &[id]);
    let text = String::from_utf8_lossy(&lookup.stdout);
    assert!(
        text.starts_with(&format!("patient index {index} ")),
        "{text}"
    );
    let unknown = registry_command("lookup", &registry, &[&"NOBODY"]);
    assert_eq!(unknown.status.code(), Some(1));

    // The workbook imports the same patients as the CSV.
    let from_xlsx = keys.path().join("from-xlsx.sqlite");
    let import = registry_command(
        "import",
        &from_xlsx,
        &[&"--audit", &january.path().join("_out.xlsx")],
    );
    assert_eq!(import.status.code(), Some(0), "{}", stderr(&import));
    let lookup = registry_command("lookup", &from_xlsx, &[id]);
    let from_workbook = String::from_utf8_lossy(&lookup.stdout);
    assert!(
        from_workbook.starts_with(&format!("patient index {index} ")),
        "{from_workbook}"
    );
}

#[test]
fn the_patient_key_is_the_profiles_choice_and_empty_ids_are_not_merged() {
    let source = TempDir::new().unwrap();
    let files = [
        ("a.dcm", Some("123"), "HOSP A"),
        ("b.dcm", Some("123"), "HOSP B"),
        ("c.dcm", Some(""), ""),
        ("d.dcm", None, ""),
    ];
    for (i, (name, id, issuer)) in files.iter().enumerate() {
        let mut obj = patient_object(
            &Patient {
                id: id.unwrap_or(""),
                name: "Same^Name",
            },
            "1.2.3",
            i as u32,
        );
        put_text(
            &mut obj,
            tags::ISSUER_OF_PATIENT_ID,
            dicom_core::VR::LO,
            issuer,
        );
        if id.is_none() {
            obj.remove_element(tags::PATIENT_ID);
            obj.remove_element(tags::PATIENT_NAME);
        }
        write_part10(
            obj,
            &source.path().join(name),
            dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN,
        );
    }
    let work = TempDir::new().unwrap();
    let profile = profile_file(
        work.path(),
        "issuer.toml",
        "extends = [\"basic\"]\npatient-key = [\"PatientID\", \"IssuerOfPatientID\"]\n",
    );
    let dest = work.path().join("dest");
    let out = anomize(
        source.path(),
        &dest,
        &["--profile", profile.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("empty key    2 files"), "{summary}");
    assert!(
        summary.contains("/c.dcm\n") && summary.contains("/d.dcm\n"),
        "{summary}"
    );
    let rows = read_csv_rows(&dest.join("_out.csv"));
    let index: Vec<&str> = rows[1..].iter().map(|r| r[3].as_str()).collect();
    assert_eq!(index, ["1", "2", "3", "4"]);
    assert_eq!(rows[3][9], "PatientID empty: a patient index of its own");
    assert_eq!(rows[4][9], "PatientID empty: a patient index of its own");
    // The file without Patient ID and Name carries its index in both.
    let output = dest.join("4_001.dcm");
    assert_eq!(text_of(&output, tags::PATIENT_ID).as_deref(), Some("4"));
    assert_eq!(text_of(&output, tags::PATIENT_NAME).as_deref(), Some("4"));

    // Under the default key the two hospitals' patient 123 is one patient.
    let dest = work.path().join("default");
    anomize(source.path(), &dest, &["-q"]);
    let rows = read_csv_rows(&dest.join("_out.csv"));
    assert_eq!(rows[1][3], rows[2][3]);
}

#[test]
fn the_audit_can_be_kept_out_of_dest() {
    use std::os::unix::fs::PermissionsExt;
    let source = monthly_tree();
    let work = TempDir::new().unwrap();
    let (dest, audit) = (work.path().join("dest"), work.path().join("keys/audit"));
    let out = dicommanager()
        .args(["anomize", "-s"])
        .arg(source.path())
        .arg("-d")
        .arg(&dest)
        .arg("--audit-dir")
        .arg(&audit)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let audit = audit.canonicalize().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(&format!(
            "audit        {}",
            audit.join("_out.xlsx").display()
        )),
        "{summary}"
    );
    for name in ["_out.csv", "_out.xlsx", "_metadata.csv"] {
        assert!(!dest.join(name).exists(), "{name} is in DEST");
        let mode = fs::metadata(audit.join(name)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    let mode = fs::metadata(&audit).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    // Nothing in DEST names a source file.
    let source_text = source.path().to_string_lossy().into_owned();
    for entry in walkdir::WalkDir::new(&dest)
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_file() {
            let bytes = fs::read(entry.path()).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&source_text),
                "{}",
                entry.path().display()
            );
        }
    }

    let verified = verify(
        source.path(),
        &dest,
        &["--audit-dir", audit.to_str().unwrap()],
    );
    assert!(
        !stderr(&verified).contains("no _out.csv"),
        "{}",
        stderr(&verified)
    );
    // A resume must find the audit where the run put it.
    let out = anomize(source.path(), &dest, &["-q", "--resume"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--audit-dir"), "{}", stderr(&out));
    let out = anomize(
        source.path(),
        &dest,
        &["-q", "--resume", "--audit-dir", audit.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The corpus cut into three batches in walk order (the files of each
/// batch keep their paths), run one after the other on one registry,
/// numbers as one run over the whole corpus.
#[test]
fn corpus_in_three_batches_on_one_registry_numbers_as_one_run() {
    let Some(corpus) = corpus() else {
        return;
    };
    let files: Vec<PathBuf> = walkdir::WalkDir::new(&corpus)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(&corpus).unwrap().to_path_buf())
        .collect();
    // The reference is one run with a registry too: files that share a SOP
    // Instance UID (the corpus has one image in seven transfer syntaxes)
    // are written once, whichever batch they come in.
    let whole = TempDir::new().unwrap();
    let keys = TempDir::new().unwrap();
    let whole_registry = keys.path().join("whole.sqlite");
    run(
        &corpus,
        whole.path(),
        &["--registry", whole_registry.to_str().unwrap()],
    );
    let marker = "/corpus-batch/";
    let work = TempDir::new().unwrap();
    let chunk = files.len().div_ceil(3);
    let registry = keys.path().join("registry.sqlite");
    let mut got = BTreeMap::new();
    for (n, batch) in files.chunks(chunk).enumerate() {
        let root = work.path().join(format!("{n}/corpus-batch"));
        for file in batch {
            fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            fs::copy(corpus.join(file), root.join(file)).unwrap();
        }
        let dest = TempDir::new().unwrap();
        let out = run(
            &root,
            dest.path(),
            &["--registry", registry.to_str().unwrap()],
        );
        assert!(out.status.code().unwrap_or(9) <= 1, "{}", stderr(&out));
        got.extend(mapping_from(dest.path(), |s| {
            s.find(marker).unwrap() + marker.len()
        }));
    }
    let prefix = format!("{}/", corpus.display());
    let expected = mapping_from(whole.path(), |_| prefix.len());
    assert_eq!(got, expected);
}
