//! `splitby` end to end: moves, files left, clashes, dry run.

use std::fs;

use predicates::prelude::*;

use super::harness::bin;

#[test]
fn groups_by_prefix_reports_the_rest_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, content) in [
        ("17_001.png", "a"),
        ("17_002.png", "b"),
        ("3_001.png", "c"),
        ("lonely.png", "d"),
        ("17_001.dcm", "e"),
    ] {
        fs::write(d.join(name), content).unwrap();
    }
    fs::create_dir(d.join("3")).unwrap();
    fs::write(d.join("3/3_001.png"), "already there").unwrap();

    // Dry run: the plan, nothing moved.
    bin()
        .args(["splitby", "--dry-run", "-m", ".png", "-d", "_", "-s"])
        .arg(d)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("would move"))
        .stdout(predicate::str::contains(
            "to move 2, left 1 (no delimiter), clashes 1",
        ));
    assert!(d.join("17_001.png").exists());
    assert!(!d.join("17").exists());

    bin()
        .args(["splitby", "-m", ".png", "-d", "_", "-s"])
        .arg(d)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("left "))
        .stdout(predicate::str::contains("lonely.png: no delimiter"))
        .stdout(predicate::str::contains(
            "moved 2, left 1 (no delimiter), clashes 1",
        ))
        .stderr(predicate::str::contains("3_001.png"));
    assert_eq!(fs::read_to_string(d.join("17/17_001.png")).unwrap(), "a");
    assert_eq!(fs::read_to_string(d.join("17/17_002.png")).unwrap(), "b");
    assert_eq!(
        fs::read_to_string(d.join("3/3_001.png")).unwrap(),
        "already there"
    );
    assert_eq!(fs::read_to_string(d.join("3_001.png")).unwrap(), "c");
    assert_eq!(fs::read_to_string(d.join("lonely.png")).unwrap(), "d");
    assert_eq!(fs::read_to_string(d.join("17_001.dcm")).unwrap(), "e");
}

#[test]
fn clean_run_exits_zero_and_missing_folder_is_usage() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("p1-a.png"), "x").unwrap();
    bin()
        .args(["splitby", "-m", ".png", "-d", "-", "-s"])
        .arg(dir.path())
        .assert()
        .success();
    assert!(dir.path().join("p1/p1-a.png").exists());
    bin()
        .args(["splitby", "-m", ".png", "-d", "_", "-s"])
        .arg(dir.path().join("nope"))
        .assert()
        .code(2);
    bin()
        .args(["splitby", "-m", ".png", "-d", "", "-s"])
        .arg(dir.path())
        .assert()
        .code(2);
}
