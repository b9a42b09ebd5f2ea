//! Issue 11, run integrity: an interrupted, repeated or concurrent run
//! never links an image to the wrong patient, never writes outside DEST,
//! never mixes profiles. One test (or more) per case of the issue.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::util::*;

/// A small deterministic generator for kill times (no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Rows of the listing files (no header).
fn listed(dest: &Path, name: &str) -> Vec<Vec<String>> {
    let path = dest.join(name);
    if !path.exists() {
        return Vec::new();
    }
    read_csv_rows(&path)
}

/// After a kill, whatever output exists is listed, with its source: the
/// promise a resume relies on.
fn assert_every_output_is_listed(dest: &Path) {
    let files = listed(dest, "_metadata.csv").len();
    let planned: std::collections::BTreeMap<PathBuf, usize> = listed(dest, "_outputs.csv")
        .into_iter()
        .map(|row| (PathBuf::from(&row[1]), row[0].parse().unwrap()))
        .collect();
    for name in outputs(dest).keys() {
        let seq = planned
            .get(name)
            .unwrap_or_else(|| panic!("{name:?} exists but is not in _outputs.csv"));
        assert!(
            *seq <= files,
            "{name:?} is file {seq}, _metadata.csv lists {files}"
        );
    }
}

fn kill_after(source: &Path, dest: &Path, millis: u64) {
    let mut child = spawn(source, dest, &["--resume"]);
    std::thread::sleep(Duration::from_millis(millis));
    let _ = child.kill();
    child.wait().unwrap();
}

/// Case 1: SIGKILL at random points, resumes, and a SOURCE that changed
/// before some of them. Every resume either refuses (the listed files
/// changed) or ends as an uninterrupted run would; no output is ever
/// another patient's.
#[test]
fn issue11_killed_and_resumed_runs_end_as_an_uninterrupted_run() {
    let source = many_files(2000);
    let reference = TempDir::new().unwrap();
    let out = anomize(source.path(), reference.path(), &["-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = outputs(reference.path());

    let dest = TempDir::new().unwrap();
    // The first run is an ordinary one; every later start resumes it.
    let mut first = spawn(source.path(), dest.path(), &[]);
    wait_for_outputs(&mut first, dest.path(), 1);
    let _ = first.kill();
    first.wait().unwrap();
    let mut random = Lcg(11);
    let mut kills = 1;
    let mut refusals = 0;
    while kills < 24 {
        assert_every_output_is_listed(dest.path());
        for (name, bytes) in outputs(dest.path()) {
            assert!(expected.get(&name) == Some(&bytes), "{name:?} differs");
        }
        if kills % 4 == 0 && !listed(dest.path(), "_metadata.csv").is_empty() {
            // A file that sorts first: every listed file would move by one.
            let intruder = source.path().join("d0/a_first.dcm");
            let patient = Patient {
                id: "INTRUDER",
                name: "Other^Patient",
            };
            write_patient_file(&intruder, &patient, "9.9.9", 1);
            let before = snapshot(dest.path());
            let out = anomize(source.path(), dest.path(), &["-q", "--resume"]);
            assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
            assert!(
                stderr(&out).contains("file 1 of _metadata.csv"),
                "{}",
                stderr(&out)
            );
            assert_eq!(snapshot(dest.path()), before);
            fs::remove_file(intruder).unwrap();
            refusals += 1;
        }
        kill_after(source.path(), dest.path(), 20 + random.below(400));
        kills += 1;
    }
    let out = anomize(source.path(), dest.path(), &["-q", "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(refusals >= 3, "only {refusals} refusals were tried");
    assert_eq!(final_state(dest.path()), final_state(reference.path()));
    assert_no_partial_files(dest.path());
}

/// Case 2: `--resume` keeps only outputs it can check; a link to the raw
/// source, a file that is not DICOM, or another file's output at an
/// output name is written again.
#[test]
fn issue11_resume_rewrites_what_is_not_the_expected_output() {
    let source = many_files(20);
    let reference = TempDir::new().unwrap();
    anomize(source.path(), reference.path(), &["-q"]);
    let dest = TempDir::new().unwrap();
    anomize(source.path(), dest.path(), &["-q"]);

    let raw_source = source.path().join("d0/f0000.dcm");
    fs::remove_file(dest.path().join("1_001.dcm")).unwrap();
    symlink(&raw_source, dest.path().join("1_001.dcm")).unwrap();
    fs::write(dest.path().join("2_001.dcm"), b"not DICOM at all").unwrap();
    fs::copy(dest.path().join("4_001.dcm"), dest.path().join("3_001.dcm")).unwrap();

    let out = dicommanager()
        .args(["anomize", "--resume", "-s"])
        .arg(source.path())
        .arg("-d")
        .arg(dest.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("redone       3"), "{summary}");
    assert!(summary.contains("kept         17"), "{summary}");
    assert!(
        fs::symlink_metadata(dest.path().join("1_001.dcm"))
            .unwrap()
            .is_file()
    );
    assert_eq!(final_state(dest.path()), final_state(reference.path()));
}

/// Every name a run creates in DEST, for the link tests.
const RUN_NAMES: [&str; 10] = [
    "_out.csv",
    "_metadata.csv",
    "_outputs.csv",
    "_out.xlsx",
    "_run.json",
    "._out.xlsx.partial",
    "._run.json.partial",
    ".1_001.dcm.partial",
    "1_001.dcm",
    "2_001.dcm",
];

/// Case 3: links planted in DEST, dangling or live, at every name the run
/// creates: the run replaces the link and never writes through it.
#[test]
fn issue11_links_planted_in_dest_are_never_written_through() {
    let source = many_files(10);
    let reference = TempDir::new().unwrap();
    anomize(source.path(), reference.path(), &["-q"]);
    for live in [false, true] {
        let outside = TempDir::new().unwrap();
        let dest = TempDir::new().unwrap();
        for name in RUN_NAMES {
            let target = outside.path().join(name.trim_start_matches('.'));
            if live {
                fs::write(&target, b"outside").unwrap();
                fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
            }
            symlink(&target, dest.path().join(name)).unwrap();
        }
        // The links look like a previous run: without --overwrite it is refused.
        let out = anomize(source.path(), dest.path(), &["-q"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let out = anomize(source.path(), dest.path(), &["-q", "--overwrite"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

        for name in RUN_NAMES {
            let target = outside.path().join(name.trim_start_matches('.'));
            if live {
                assert_eq!(fs::read(&target).unwrap(), b"outside", "{name}");
                let mode = fs::metadata(&target).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o644, "{name}");
            } else {
                assert!(!target.exists(), "{name} was written outside DEST");
            }
            let entry = fs::symlink_metadata(dest.path().join(name));
            assert!(
                entry.is_err() || entry.unwrap().is_file(),
                "{name} is still a link"
            );
        }
        assert_eq!(final_state(dest.path()), final_state(reference.path()));
    }
}

/// Case 3 continued: a link at the lock or on the way to an output folder.
#[test]
fn issue11_links_at_the_lock_or_between_folders_are_refused() {
    let source = many_files(6);
    let outside = TempDir::new().unwrap();
    let dest = TempDir::new().unwrap();
    symlink(
        outside.path().join("lock"),
        dest.path().join(".dicommanager.lock"),
    )
    .unwrap();
    let out = anomize(source.path(), dest.path(), &["-q"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!outside.path().join("lock").exists());
    fs::remove_file(dest.path().join(".dicommanager.lock")).unwrap();

    // Patient 1's folder leads outside DEST.
    let profile = profile_file(
        dest.path(),
        "../folders.toml",
        "extends = [\"basic\"]\noutput = \"{patient_index}/{image_number:03}.dcm\"\n",
    );
    let dest = TempDir::new().unwrap();
    symlink(outside.path(), dest.path().join("1")).unwrap();
    let out = anomize(
        source.path(),
        dest.path(),
        &["-q", "--profile", profile.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    let rows = read_csv_rows(&dest.path().join("_out.csv"));
    let refused: Vec<_> = rows.iter().filter(|r| r[6] == "ERROR").collect();
    assert!(!refused.is_empty());
    for row in refused {
        assert_eq!(row[3], "1", "{row:?}");
        assert!(row[7].contains("symbolic link"), "{row:?}");
    }
    fs::remove_file(profile).unwrap();
}

/// Case 3 continued: what the run creates is private whatever the umask.
#[test]
fn issue11_dest_and_its_folders_are_private_under_any_umask() {
    let source = many_files(6);
    let work = TempDir::new().unwrap();
    let profile = profile_file(
        work.path(),
        "folders.toml",
        "extends = [\"basic\"]\noutput = \"{patient_index}/{study}/{image_number:03}.dcm\"\n",
    );
    let dest = work.path().join("new/dest");
    let status = Command::new("sh")
        .arg("-c")
        .arg("umask 0; exec \"$0\" anomize -q -s \"$1\" -d \"$2\" --profile \"$3\"")
        .arg(assert_cmd::cargo::cargo_bin("dicommanager"))
        .arg(source.path())
        .arg(&dest)
        .arg(&profile)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    for entry in walkdir::WalkDir::new(work.path().join("new")) {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        let wanted = if entry.file_type().is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(mode, wanted, "{}", entry.path().display());
    }
}

/// Case 4: a second run into a DEST that a run is writing to is refused,
/// with or without --overwrite or --resume, naming the other run; the
/// first ends as if alone.
#[test]
fn issue11_a_second_run_into_a_busy_dest_is_refused() {
    let source = many_files(3000);
    let reference = TempDir::new().unwrap();
    anomize(source.path(), reference.path(), &["-q"]);
    let dest = TempDir::new().unwrap();
    let mut first = spawn(source.path(), dest.path(), &[]);
    wait_for_outputs(&mut first, dest.path(), 5);
    let mut refused = 0;
    for extra in [&["--overwrite"][..], &["--resume"], &[]] {
        let mut args = vec!["-q", "--profile", "ps3.15-basic", "--allow-unkeyed"];
        args.extend_from_slice(extra);
        let out = anomize(source.path(), dest.path(), &args);
        if let Some(status) = first.try_wait().unwrap() {
            // The first run ended meanwhile: the second may have started.
            assert!(
                refused > 0,
                "the first run ended before any test: {status}, {} outputs",
                outputs(dest.path()).len()
            );
            return;
        }
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let message = stderr(&out);
        assert!(
            message.contains("another run is writing into")
                && message.contains(&format!("pid {}", first.id())),
            "{message}"
        );
        refused += 1;
    }
    assert_eq!(refused, 3);
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert_eq!(final_state(dest.path()), final_state(reference.path()));
}

/// Case 5: `--resume` refuses another profile, secret or template;
/// `--overwrite` removes the previous run's outputs, and only those.
#[test]
fn issue11_resume_refuses_other_settings_and_overwrite_clears_the_previous_outputs() {
    let source = many_files(12);
    let dest = TempDir::new().unwrap();
    let out = anomize_keyed(source.path(), dest.path(), &["ps3.15-basic"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = snapshot(dest.path());
    let refusals = [
        (
            vec!["--profile", "basic"],
            Some(TEST_SECRET),
            "used built-in profile \"ps3.15-basic\"",
        ),
        (
            vec!["--profile", "ps3.15-basic"],
            Some("another secret"),
            "another secret",
        ),
        (
            vec!["--profile", "ps3.15-basic", "--allow-unkeyed"],
            None,
            "this one no secret",
        ),
    ];
    for (args, secret, says) in refusals {
        let mut cmd = dicommanager();
        cmd.args(["anomize", "-q", "--resume", "-s"])
            .arg(source.path())
            .arg("-d")
            .arg(dest.path())
            .args(args);
        if let Some(secret) = secret {
            cmd.env("DICOMMANAGER_SECRET", secret);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
        assert_eq!(snapshot(dest.path()), before);
    }

    fs::write(dest.path().join("notes.txt"), b"not the run's").unwrap();
    let out = anomize_keyed(source.path(), dest.path(), &["ps3.15-basic"]);
    assert_eq!(out.status.code(), Some(2), "refused without --overwrite");
    let site = TempDir::new().unwrap();
    let profile = profile_file(
        site.path(),
        "site.toml",
        "extends = [\"ps3.15-basic\"]\noutput = \"{patient_index}/{image_number:03}.dcm\"\n",
    );
    let out = dicommanager()
        .env("DICOMMANAGER_SECRET", TEST_SECRET)
        .args(["anomize", "-q", "--overwrite", "--profile"])
        .arg(&profile)
        .arg("-s")
        .arg(source.path())
        .arg("-d")
        .arg(dest.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Only the new run's outputs are left, and the unrelated file.
    let names: Vec<PathBuf> = outputs(dest.path()).into_keys().collect();
    assert_eq!(names.len(), 12);
    assert!(
        names.iter().all(|n| n.components().count() == 2),
        "{names:?}"
    );
    assert!(dest.path().join("notes.txt").exists());
}

/// Case 6: a full disk stops the run cleanly with exit code 3, no panic,
/// nothing torn, and `--resume` finishes once there is room.
#[test]
fn issue11_a_full_disk_stops_the_run_and_resume_finishes_it() {
    let Some(mount) = SmallDisk::mount("2M") else {
        return;
    };
    // About 4 MiB: each small file takes a 4 KiB page of the tmpfs.
    let source = many_files(1000);
    let reference = TempDir::new().unwrap();
    anomize(source.path(), reference.path(), &["-q"]);
    let dest = mount.path.join("dest");
    let out = anomize(source.path(), &dest, &["-q"]);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{message}");
    assert!(message.contains("write failed"), "{message}");
    assert!(message.contains("--resume"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(!message.contains("read failed"), "{message}");
    let expected = outputs(reference.path());
    for (name, bytes) in outputs(&dest) {
        assert!(expected.get(&name) == Some(&bytes), "{name:?} is torn");
    }
    assert_every_output_is_listed(&dest);

    mount.grow("64M");
    let out = anomize(source.path(), &dest, &["-q", "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(final_state(&dest), final_state(reference.path()));
    assert_no_partial_files(&dest);
}

/// A small tmpfs (needs root, as in CI); `None` (test skipped, said on
/// stderr) elsewhere unless `DICOMMANAGER_REQUIRE_ROOT` is set.
struct SmallDisk {
    path: PathBuf,
    _dir: TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = TempDir::new().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var_os("DICOMMANAGER_REQUIRE_ROOT").is_none(),
                "DICOMMANAGER_REQUIRE_ROOT is set but a tmpfs cannot be mounted"
            );
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        Some(SmallDisk {
            path: dir.path().to_path_buf(),
            _dir: dir,
        })
    }

    fn grow(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Case 7: cells a spreadsheet would evaluate are escaped in the CSVs.
#[test]
fn issue11_formula_cells_are_escaped_in_the_csv_audit() {
    let source = TempDir::new().unwrap();
    for (i, name) in ["=HYPERLINK(\"http://x\",\"y\")", "+SUM(1,2)", "@cmd"]
        .iter()
        .enumerate()
    {
        let patient = Patient {
            id: &format!("-{i}"),
            name,
        };
        write_patient_file(&source.path().join(format!("{i}.dcm")), &patient, "1.2", 1);
    }
    let dest = TempDir::new().unwrap();
    let out = anomize(source.path(), dest.path(), &["-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows = read_csv_rows(&dest.path().join("_out.csv"));
    for row in &rows[1..] {
        for cell in &row[1..3] {
            assert!(cell.starts_with('\''), "{row:?}");
        }
    }
    assert_eq!(rows[1][1], "'=HYPERLINK(\"http://x\",\"y\")");
    assert_eq!(rows[1][2], "'-0");
    // The workbook holds the plain text (a string cell is never evaluated).
    let sheet = read_xlsx(&dest.path().join("_out.xlsx"));
    assert_eq!(sheet[1][1], "=HYPERLINK(\"http://x\",\"y\")");
    // verify reads the escaped audit back and finds every source.
    let out = verify(source.path(), dest.path(), &[]);
    assert!(!stderr(&out).contains("not found"), "{}", stderr(&out));
}

/// Case 8: a template that could give two files one path is refused with
/// its file and line; at run time an output never replaces a file.
#[test]
fn issue11_outputs_never_share_a_path() {
    let source = many_files(30);
    let work = TempDir::new().unwrap();
    let profile = profile_file(
        work.path(),
        "colliding.toml",
        "extends = [\"basic\"]\n\noutput = \"{patient_index}{image_number}.dcm\"\n",
    );
    let dest = work.path().join("dest");
    let out = anomize(
        source.path(),
        &dest,
        &["-q", "--profile", profile.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let message = stderr(&out);
    assert!(
        message.contains("colliding.toml:3") && message.contains("same path"),
        "{message}"
    );
    assert!(!dest.exists());

    let dest = TempDir::new().unwrap();
    fs::write(dest.path().join("1_001.dcm"), b"someone else's file").unwrap();
    let out = anomize(source.path(), dest.path(), &["-q"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        fs::read(dest.path().join("1_001.dcm")).unwrap(),
        b"someone else's file"
    );
    let rows = read_csv_rows(&dest.path().join("_out.csv"));
    let row = rows
        .iter()
        .find(|r| r[7].contains("already exists"))
        .unwrap();
    assert_eq!(row[6], "ERROR");
}

/// Case 9: with fewer threads to be had than `--jobs` asks for, the run
/// goes on with fewer workers, says so, and gives the same result.
#[test]
fn issue11_a_thread_limit_means_fewer_workers_not_a_panic() {
    let Some(cgroup) = PidsLimit::create(6) else {
        return;
    };
    let source = many_files(200);
    let reference = TempDir::new().unwrap();
    anomize(source.path(), reference.path(), &["-q"]);
    let dest = TempDir::new().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("echo $$ > \"$1/cgroup.procs\" && exec \"$0\" anomize -q --jobs 200 -s \"$2\" -d \"$3\"")
        .arg(assert_cmd::cargo::cargo_bin("dicommanager"))
        .arg(&cgroup.path)
        .arg(source.path())
        .arg(dest.path())
        .env_remove("DICOMMANAGER_SECRET")
        .output()
        .unwrap();
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{message}");
    assert!(message.contains("of 200 worker threads"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert_eq!(final_state(dest.path()), final_state(reference.path()));
}

/// A pids cgroup that limits the tasks of the processes put in it (needs
/// root, as in CI); `None` elsewhere unless `DICOMMANAGER_REQUIRE_ROOT`.
struct PidsLimit {
    path: PathBuf,
}

impl PidsLimit {
    fn create(max: u32) -> Option<PidsLimit> {
        let name = format!("dicommanager-test-{}", std::process::id());
        for base in ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"] {
            let path = Path::new(base).join(&name);
            if fs::create_dir(&path).is_ok() {
                if fs::write(path.join("pids.max"), max.to_string()).is_ok() {
                    return Some(PidsLimit { path });
                }
                let _ = fs::remove_dir(&path);
            }
        }
        assert!(
            std::env::var_os("DICOMMANAGER_REQUIRE_ROOT").is_none(),
            "DICOMMANAGER_REQUIRE_ROOT is set but no pids cgroup can be made"
        );
        eprintln!("skipped: limiting threads needs a writable pids cgroup (root)");
        None
    }
}

impl Drop for PidsLimit {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.path);
    }
}
