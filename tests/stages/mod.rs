//! A run in stages (`stage scan|number|write|merge`) against one `anomize`
//! run over the same SOURCE: DEST and its audit must be the same, byte for
//! byte (the XLSX workbook cell for cell: it holds its time of writing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::util::{
    Patient, TEST_SECRET, corpus, dicommanager, read_xlsx, stderr, write_patient_file,
};

/// Files of DEST that say when or by which process a run was made, not
/// what it made: left out of the comparison (`_out.xlsx` is compared by
/// its cells).
const RUN_RECORDS: [&str; 3] = ["_run.json", ".dicommanager.lock", "_out.xlsx"];

/// Every file under `root` (but the run records), relative path → bytes.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(root).unwrap().to_path_buf())
        .filter(|relative| !RUN_RECORDS.contains(&relative.to_str().unwrap()))
        .map(|relative| {
            let bytes = std::fs::read(root.join(&relative)).unwrap();
            (relative, bytes)
        })
        .collect()
}

/// Asserts that two DESTs hold the same outputs and audit.
fn assert_same_dest(single: &Path, staged: &Path) {
    let (single_files, staged_files) = (tree(single), tree(staged));
    assert_eq!(
        single_files.keys().collect::<Vec<_>>(),
        staged_files.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (name, bytes) in &single_files {
        assert!(
            bytes == &staged_files[name],
            "{} differs between the single and the staged run",
            name.display()
        );
    }
    assert!(single_files.contains_key(Path::new("_out.csv")));
    assert!(single_files.contains_key(Path::new("_metadata.csv")));
    let single_cells = read_xlsx(&single.join("_out.xlsx"));
    assert!(single_cells.len() > 1, "the workbook has rows");
    assert_eq!(single_cells, read_xlsx(&staged.join("_out.xlsx")));
}

/// One stage: `dicommanager stage STAGE -w WORK ARGS` with the test secret.
fn stage(stage: &str, work: &Path, args: &[&str]) -> Output {
    stage_command(stage, work, args).output().unwrap()
}

fn stage_command(stage: &str, work: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("dicommanager"));
    cmd.args(["stage", stage, "-q", "-w"])
        .arg(work)
        .args(args)
        .env("DICOMMANAGER_SECRET", TEST_SECRET);
    cmd
}

fn assert_ok(output: &Output, what: &str) {
    assert!(output.status.success(), "{what}: {}", stderr(output));
}

/// The four stages with `shards` shards, in order (shards one after the
/// other here; on a cluster they run at once).
fn run_staged(
    source: &Path,
    dest: &Path,
    work: &Path,
    shards: usize,
    profile: &[&str],
    scan: &[&str],
) -> Output {
    for k in 1..=shards {
        let shard = format!("{k}/{shards}");
        let mut args = vec!["--shard", &shard, "-s", source.to_str().unwrap()];
        args.extend(["-d", dest.to_str().unwrap()]);
        args.extend(scan);
        assert_ok(&stage("scan", work, &args), "scan");
    }
    assert_ok(&stage("number", work, profile), "number");
    for k in 1..=shards {
        let shard = format!("{k}/{shards}");
        let mut args = vec!["--shard", shard.as_str()];
        args.extend(profile);
        assert_ok(&stage("write", work, &args), "write");
    }
    stage("merge", work, &[])
}

/// One anomize run, its DEST moved to `single`; then the staged runs with
/// each shard count into the same DEST path (the audit names it), each
/// compared with the single run.
fn compare_staged_with_single(source: &Path, shard_counts: &[usize], profile: &[&str]) {
    compare_with_registry(source, shard_counts, profile, false);
}

/// [`compare_staged_with_single`], each run with a new registry of its
/// own when `registry` is set.
fn compare_with_registry(source: &Path, shard_counts: &[usize], profile: &[&str], registry: bool) {
    let base = TempDir::new().unwrap();
    let registry_of = |name: &str| -> Vec<String> {
        if registry {
            let path = base.path().join(format!("{name}.sqlite"));
            vec!["--registry".into(), path.to_str().unwrap().into()]
        } else {
            Vec::new()
        }
    };
    let dest = base.path().join("dest");
    let single = base.path().join("single");
    let mut anomize = dicommanager();
    anomize
        .args(["anomize", "-q", "-s"])
        .arg(source)
        .arg("-d")
        .arg(&dest)
        .args(profile)
        .args(registry_of("single"))
        .env("DICOMMANAGER_SECRET", TEST_SECRET);
    let expected = anomize.output().unwrap();
    assert!(
        expected.status.code().unwrap() <= 1,
        "{}",
        stderr(&expected)
    );
    std::fs::rename(&dest, &single).unwrap();
    for &shards in shard_counts {
        let work = base.path().join(format!("work-{shards}"));
        let registry = registry_of(&format!("staged-{shards}"));
        let mut scan: Vec<&str> = profile.to_vec();
        scan.extend(registry.iter().map(String::as_str));
        let merged = run_staged(source, &dest, &work, shards, profile, &scan);
        // Merged: the audit parts (names and IDs) are gone from WORK.
        assert!(!work.join(format!("audit-1-of-{shards}.csv")).exists());
        assert_eq!(
            merged.status.code(),
            expected.status.code(),
            "merge with {shards} shards: {}",
            stderr(&merged)
        );
        assert_same_dest(&single, &dest);
        std::fs::rename(&dest, base.path().join(format!("staged-{shards}"))).unwrap();
    }
}

/// Patients spread over many folders: every patient has files in several
/// top-level folders, so shards must agree on who comes first.
fn spread_tree(files: u32) -> TempDir {
    let source = TempDir::new().unwrap();
    for i in 0..files {
        let id = format!("P{:02}", (i * 7 + i / 13) % 23);
        let name = format!("Spread^{id}");
        let patient = Patient {
            id: &id,
            name: &name,
        };
        let folder = format!("site{}/day{}", i % 5, i % 9);
        write_patient_file(
            &source.path().join(folder).join(format!("im{i:04}.dcm")),
            &patient,
            &format!("1.2.826.0.1.{}.{}", (i * 7 + i / 13) % 23, i % 3),
            i,
        );
    }
    // Not DICOM, and a file whose header cannot be read: both as a run
    // treats them.
    std::fs::write(source.path().join("site1/notes.txt"), "not DICOM").unwrap();
    let mut cut = std::fs::read(source.path().join("site2/day2/im0002.dcm")).unwrap();
    cut.truncate(200);
    std::fs::write(source.path().join("site3/cut.dcm"), cut).unwrap();
    source
}

#[test]
fn stages_with_1_3_and_7_shards_give_the_single_run_on_a_spread_tree() {
    let source = spread_tree(120);
    compare_staged_with_single(source.path(), &[1, 3, 7], &["-p", "ps3.15-basic"]);
}

#[test]
fn stages_with_1_3_and_7_shards_give_the_single_run_on_the_corpus() {
    let Some(corpus) = corpus() else { return };
    compare_staged_with_single(&corpus, &[1, 3, 7], &[]);
}

#[test]
fn stages_with_3_shards_and_a_registry_give_the_single_run_with_one_on_the_corpus() {
    // The corpus has files without a Patient ID (patients of their own,
    // known by SOP Instance UID) and one instance twice (not written
    // twice with a registry).
    let Some(corpus) = corpus() else { return };
    compare_with_registry(&corpus, &[3], &[], true);
}

#[test]
fn stages_with_a_registry_number_as_one_run_with_it() {
    let source = spread_tree(40);
    let base = TempDir::new().unwrap();
    let dest = base.path().join("dest");
    let (single_registry, staged_registry) = (
        base.path().join("single.sqlite"),
        base.path().join("staged.sqlite"),
    );
    // The registry knows some patients from an earlier batch first.
    let earlier = TempDir::new().unwrap();
    for i in 0..3u32 {
        let id = format!("P{:02}", 7 * i);
        let patient = Patient {
            id: &id,
            name: "Earlier^Batch",
        };
        write_patient_file(
            &earlier.path().join(format!("e{i}.dcm")),
            &patient,
            "1.9",
            i,
        );
    }
    for registry in [&single_registry, &staged_registry] {
        let mut cmd = dicommanager();
        cmd.args(["anomize", "-q", "-s"])
            .arg(earlier.path())
            .arg("-d")
            .arg(
                base.path()
                    .join(format!("earlier-{}", registry.display()).replace('/', "_")),
            )
            .arg("--registry")
            .arg(registry)
            .env("DICOMMANAGER_SECRET", TEST_SECRET);
        assert_ok(&cmd.output().unwrap(), "earlier batch");
    }
    let mut cmd = dicommanager();
    cmd.args(["anomize", "-q", "-s"])
        .arg(source.path())
        .arg("-d")
        .arg(&dest)
        .arg("--registry")
        .arg(&single_registry)
        .env("DICOMMANAGER_SECRET", TEST_SECRET);
    let expected = cmd.output().unwrap();
    std::fs::rename(&dest, base.path().join("single")).unwrap();

    let work = base.path().join("work");
    let registry_arg = staged_registry.to_str().unwrap();
    let merged = run_staged_with(
        source.path(),
        &dest,
        &work,
        3,
        &["--registry", registry_arg],
    );
    assert_eq!(
        merged.status.code(),
        expected.status.code(),
        "{}",
        stderr(&merged)
    );
    assert_same_dest(&base.path().join("single"), &dest);
    // Patients of the earlier batch kept their indices: P00 is index 1, P07 2.
    let out = std::fs::read_to_string(dest.join("_out.csv")).unwrap();
    assert!(out.lines().any(|l| l.contains(",P00,1,")), "{out}");
    assert!(out.lines().any(|l| l.contains(",P07,2,")), "{out}");
}

/// [`run_staged`] with settings for the scan only.
fn run_staged_with(
    source: &Path,
    dest: &Path,
    work: &Path,
    shards: usize,
    scan: &[&str],
) -> Output {
    for k in 1..=shards {
        let shard = format!("{k}/{shards}");
        let mut args = vec!["--shard", &shard, "-s", source.to_str().unwrap()];
        args.extend(["-d", dest.to_str().unwrap()]);
        args.extend(scan);
        assert_ok(&stage("scan", work, &args), "scan");
    }
    assert_ok(&stage("number", work, &[]), "number");
    for k in 1..=shards {
        assert_ok(
            &stage("write", work, &["--shard", &format!("{k}/{shards}")]),
            "write",
        );
    }
    stage("merge", work, &[])
}

#[test]
fn a_killed_write_shard_resumes_alone_to_the_same_result() {
    let source = spread_tree(600);
    let base = TempDir::new().unwrap();
    let dest = base.path().join("dest");
    let single = base.path().join("single");
    let expected = crate::util::anomize_keyed(source.path(), &dest, &[]);
    assert_eq!(expected.status.code(), Some(1), "{}", stderr(&expected));
    std::fs::rename(&dest, &single).unwrap();

    let work = base.path().join("work");
    for k in 1..=2 {
        let shard = format!("{k}/2");
        let args = [
            "--shard",
            &shard,
            "-s",
            source.path().to_str().unwrap(),
            "-d",
            dest.to_str().unwrap(),
        ];
        assert_ok(&stage("scan", &work, &args), "scan");
    }
    assert_ok(&stage("number", &work, &[]), "number");
    assert_ok(&stage("write", &work, &["--shard", "1/2"]), "write 1/2");
    // Shard 2 is killed once it has written some of its outputs.
    let mut child = stage_command("write", &work, &["--shard", "2/2", "--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let done_by_shard_1 = count_outputs(&dest);
    let deadline = Instant::now() + Duration::from_secs(60);
    while count_outputs(&dest) < done_by_shard_1 + 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let after_kill = count_outputs(&dest);
    assert!(
        after_kill > done_by_shard_1,
        "shard 2 wrote before the kill"
    );
    assert!(
        !work.join("audit-2-of-2.csv").exists(),
        "the killed shard's audit part is not in place"
    );
    // Merge refuses while shard 2 is not done.
    let early = stage("merge", &work, &[]);
    assert_eq!(early.status.code(), Some(2));
    assert!(
        stderr(&early).contains("shard 2 of 2"),
        "{}",
        stderr(&early)
    );

    let resumed = Command::new(assert_cmd::cargo::cargo_bin("dicommanager"))
        .args(["stage", "write", "--shard", "2/2", "-w"])
        .arg(&work)
        .env("DICOMMANAGER_SECRET", TEST_SECRET)
        .output()
        .unwrap();
    assert_ok(&resumed, "resumed write");
    let said = String::from_utf8_lossy(&resumed.stdout);
    assert!(said.contains("kept from the interrupted attempt"), "{said}");
    let merged = stage("merge", &work, &[]);
    assert_eq!(merged.status.code(), Some(1), "{}", stderr(&merged));
    assert_same_dest(&single, &dest);
    // A shard run again when it is done changes nothing.
    let again = stage_command("write", &work, &["--shard", "2/2"])
        .output()
        .unwrap();
    assert_ok(&again, "write again");
    assert_same_dest(&single, &dest);
}

fn count_outputs(dest: &Path) -> usize {
    walkdir::WalkDir::new(dest)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".dcm"))
        .count()
}

#[test]
fn stages_refuse_another_profile_a_missing_scan_and_a_bad_shard() {
    let source = spread_tree(10);
    let base = TempDir::new().unwrap();
    let work = base.path().join("work");
    let dest = base.path().join("dest");
    let scan = |shard: &str, profile: &str| {
        stage(
            "scan",
            &work,
            &[
                "--shard",
                shard,
                "-p",
                profile,
                "-s",
                source.path().to_str().unwrap(),
                "-d",
                dest.to_str().unwrap(),
            ],
        )
    };
    let bad = scan("4/3", "basic");
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("K/N"), "{}", stderr(&bad));

    assert_ok(&scan("1/2", "basic"), "scan 1/2");
    let number = stage("number", &work, &[]);
    assert_eq!(number.status.code(), Some(2));
    assert!(
        stderr(&number).contains("shard 2 of 2"),
        "{}",
        stderr(&number)
    );

    assert_ok(&scan("2/2", "basic"), "scan 2/2");
    let other = stage("number", &work, &["-p", "ps3.15-basic"]);
    assert_eq!(other.status.code(), Some(2));
    assert!(
        stderr(&other).contains("not the one the scan used"),
        "{}",
        stderr(&other)
    );
    assert!(!dest.exists(), "nothing written when refused");
    // The plans are as private as the audit.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(work.join("scan-1-of-2.csv"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Whether a Slurm cluster answers here. `DICOMMANAGER_REQUIRE_SLURM`
/// (set by CI after `scripts/slurm-up.sh`) makes a missing one a failure.
fn slurm_available() -> bool {
    let answers = Command::new("sinfo")
        .arg("-h")
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        answers || std::env::var_os("DICOMMANAGER_REQUIRE_SLURM").is_none(),
        "DICOMMANAGER_REQUIRE_SLURM is set but sinfo does not answer (run scripts/slurm-up.sh)"
    );
    if !answers {
        eprintln!("no Slurm here: the Slurm example was not submitted");
    }
    answers
}

#[test]
fn the_slurm_example_with_3_array_tasks_gives_the_single_run() {
    if !slurm_available() {
        return;
    }
    let source = spread_tree(60);
    let base = TempDir::new().unwrap();
    let dest = base.path().join("dest");
    let single = base.path().join("single");
    let expected = crate::util::anomize_keyed(source.path(), &dest, &[]);
    std::fs::rename(&dest, &single).unwrap();

    let submit = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/slurm/submit.sh");
    let mut child = Command::new(submit)
        .args(["-n", "3", "--wait", "-s"])
        .arg(source.path())
        .arg("-d")
        .arg(&dest)
        .env("WORK", base.path().join("work"))
        .env("DICOMMANAGER", assert_cmd::cargo::cargo_bin("dicommanager"))
        .env("DICOMMANAGER_SECRET", TEST_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the Slurm jobs did not end in 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let logs: String = std::fs::read_dir(base.path().join("work"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("slurm-"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        status.code(),
        expected.status.code(),
        "merge's exit code; job logs:\n{logs}"
    );
    assert_same_dest(&single, &dest);
    // Three shards each scanned their part; merge took the audit parts.
    for k in 1..=3 {
        assert!(
            base.path()
                .join(format!("work/scan-{k}-of-3.csv"))
                .is_file()
        );
        assert!(
            !base
                .path()
                .join(format!("work/audit-{k}-of-3.csv"))
                .exists()
        );
    }
    assert!(base.path().join("work/merged.json").is_file());
}

#[test]
fn stages_make_the_dicomdir_a_single_run_makes() {
    // The corpus's DICOMDIR with its files, under a template whose paths
    // are file IDs: merge makes the new DICOMDIR from the outputs.
    let Some(corpus) = corpus() else { return };
    let profiles = TempDir::new().unwrap();
    let profile = crate::util::profile_file(
        profiles.path(),
        "fileset.toml",
        "extends = [\"basic\"]\noutput = \"P{patient_index}/ST{study}/SE{series}/IM{image_number:04}\"\n",
    );
    let source = corpus.join("dicomdir");
    let base = TempDir::new().unwrap();
    let dest = base.path().join("dest");
    let profile = ["-p", profile.to_str().unwrap()];
    let expected = {
        let mut cmd = dicommanager();
        cmd.args(["anomize", "-q", "-s"])
            .arg(&source)
            .arg("-d")
            .arg(&dest)
            .args(profile)
            .env("DICOMMANAGER_SECRET", TEST_SECRET);
        cmd.output().unwrap()
    };
    assert!(
        walkdir::WalkDir::new(&dest)
            .into_iter()
            .filter_map(Result::ok)
            .any(|e| e.file_name() == "DICOMDIR"),
        "the single run made a DICOMDIR: {}",
        stderr(&expected)
    );
    std::fs::rename(&dest, base.path().join("single")).unwrap();
    let work = base.path().join("work");
    let merged = run_staged(&source, &dest, &work, 3, &profile, &profile);
    assert_eq!(
        merged.status.code(),
        expected.status.code(),
        "{}",
        stderr(&merged)
    );
    assert_same_dest(&base.path().join("single"), &dest);
}
