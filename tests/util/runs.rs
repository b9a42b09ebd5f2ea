//! Runs of the real binary that take a while: trees big enough to be
//! interrupted, a child process to kill, and what two runs must agree on.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{Patient, outputs, read_csv_rows, sha256_hex, write_patient_file};

pub fn assert_no_partial_files(dest: &Path) {
    let partial: Vec<PathBuf> = walkdir::WalkDir::new(dest)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.path().to_path_buf())
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(partial.is_empty(), "{partial:?}");
}

/// A tree big enough that a run takes a while.
pub fn many_files(count: u32) -> TempDir {
    let source = TempDir::new().unwrap();
    for i in 0..count {
        let patient = Patient {
            id: &format!("P{}", i % 7),
            name: "Many^Files",
        };
        write_patient_file(
            &source.path().join(format!("d{}/f{i:04}.dcm", i % 5)),
            &patient,
            &format!("1.2.3.{}", i % 11),
            i,
        );
    }
    source
}

pub fn spawn(source: &Path, dest: &Path, extra: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("dicommanager"))
        .args(["anomize", "--quiet", "--jobs", "1", "-s"])
        .arg(source)
        .arg("-d")
        .arg(dest)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the run has written some outputs (or ended).
pub fn wait_for_outputs(child: &mut Child, dest: &Path, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() || outputs(dest).len() >= at_least {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// What must match between two runs: every output and `_metadata.csv`
/// (as SHA-256, byte for byte), and the audit rows with DEST's own path
/// replaced.
pub type FinalState = (
    std::collections::BTreeMap<PathBuf, String>,
    String,
    Vec<Vec<String>>,
);

pub fn final_state(dest: &Path) -> FinalState {
    let prefix = dest.canonicalize().unwrap().display().to_string();
    let rows = read_csv_rows(&dest.join("_out.csv"))
        .into_iter()
        .map(|r| r.into_iter().map(|c| c.replace(&prefix, "DEST")).collect())
        .collect();
    (
        outputs(dest)
            .into_iter()
            .map(|(name, bytes)| (name, sha256_hex(&bytes)))
            .collect(),
        sha256_hex(&fs::read(dest.join("_metadata.csv")).unwrap()),
        rows,
    )
}
