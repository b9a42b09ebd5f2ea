//! Hostile input, interruption and resume: the run keeps going, loses
//! nothing, never touches a source, and leaves nothing half-done that
//! looks finished.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicommanager::codec::{ITEM, Syntax, UNDEFINED_LENGTH};
use tempfile::TempDir;

use crate::util::dataset::{DataSet, part10};
use crate::util::*;

/// A valid explicit VR file with pixel data, to be damaged.
fn good_file() -> Vec<u8> {
    let mut data = DataSet::new(Syntax::EXPLICIT_VR_LITTLE_ENDIAN)
        .patient()
        .text(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3");
    data.header(tags::PIXEL_DATA, VR::OW, 64);
    let data = data.raw(&[7; 64]);
    part10(uids::EXPLICIT_VR_LITTLE_ENDIAN, &data)
}

fn nested_sequences(levels: usize) -> Vec<u8> {
    let mut data = DataSet::new(Syntax::EXPLICIT_VR_LITTLE_ENDIAN).patient();
    for _ in 0..levels {
        data.header(tags::REFERENCED_STUDY_SEQUENCE, VR::SQ, UNDEFINED_LENGTH);
        data.header(ITEM, VR::UN, UNDEFINED_LENGTH);
    }
    part10(uids::EXPLICIT_VR_LITTLE_ENDIAN, &data)
}

/// Runs anomize and returns (exit code, audit rows without header).
fn run(source: &Path, dest: &Path, extra: &[&str]) -> (Option<i32>, Vec<Vec<String>>) {
    let out = anomize(source, dest, extra);
    let rows = read_csv_rows(&dest.join("_out.csv")).split_off(1);
    (out.status.code(), rows)
}

fn reason_of<'a>(rows: &'a [Vec<String>], name: &str) -> &'a str {
    let row = rows
        .iter()
        .find(|r| r[0].ends_with(name))
        .unwrap_or_else(|| panic!("{name} is not in the audit: {rows:?}"));
    assert_eq!(row[6], "ERROR", "{row:?}");
    &row[7]
}

#[test]
fn every_kind_of_broken_file_is_one_error_row() {
    let source = TempDir::new().unwrap();
    let put = |name: &str, bytes: &[u8]| fs::write(source.path().join(name), bytes).unwrap();
    let good = good_file();
    let meta_end = 132 + 12 + u32::from_le_bytes(good[140..144].try_into().unwrap()) as usize;
    put("good.dcm", &good);
    put("cut_in_header.dcm", &good[..meta_end + 5]);
    put("cut_in_pixels.dcm", &good[..good.len() - 20]);
    let mut sequence = nested_sequences(3);
    sequence.truncate(sequence.len() - 4);
    put("cut_in_sequence.dcm", &sequence);
    put("deep.dcm", &nested_sequences(10_000));
    let huge = DataSet::new(Syntax::EXPLICIT_VR_LITTLE_ENDIAN)
        .patient()
        .raw(b"\x10\x00\x30\x00UT\x00\x00\xf0\xff\xff\xffsome text");
    put(
        "huge_length.dcm",
        &part10(uids::EXPLICIT_VR_LITTLE_ENDIAN, &huge),
    );
    let mut preamble_only = vec![0u8; 128];
    preamble_only.extend_from_slice(b"DICM");
    put("preamble_only.dcm", &preamble_only);
    let patient = DataSet::new(Syntax::EXPLICIT_VR_LITTLE_ENDIAN).patient();
    put("unknown_syntax.dcm", &part10("1.2.3.4.5.6.7", &patient));
    let mut no_syntax = good.clone();
    // Blank the transfer syntax value: the meta then declares none.
    let ts_at = no_syntax
        .windows(4)
        .position(|w| w == b"\x02\x00\x10\x00")
        .unwrap();
    let ts_len = u16::from_le_bytes([no_syntax[ts_at + 6], no_syntax[ts_at + 7]]) as usize;
    no_syntax[ts_at + 8..ts_at + 8 + ts_len].fill(0);
    put("meta_without_syntax.dcm", &no_syntax);
    put("empty.dcm", b"");
    put("text.dcm", b"%PDF-1.4 a report, not an image");
    put("archive.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03");

    let dest = TempDir::new().unwrap();
    let (code, rows) = run(source.path(), dest.path(), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(rows.len(), 9, "only DICOM files are listed: {rows:?}");
    for readable in ["good.dcm", "meta_without_syntax.dcm"] {
        assert!(
            rows.iter()
                .any(|r| r[0].ends_with(readable) && r[6] == "OK"),
            "{readable}: {rows:?}"
        );
    }
    assert!(reason_of(&rows, "cut_in_header.dcm").contains("file ends inside"));
    assert!(
        reason_of(&rows, "cut_in_pixels.dcm")
            .contains("PixelData (7FE0,0010) (44 of 64 bytes present)")
    );
    assert!(reason_of(&rows, "cut_in_sequence.dcm").contains("file ends inside"));
    assert!(reason_of(&rows, "deep.dcm").contains("nested deeper than 64 levels"));
    assert!(reason_of(&rows, "huge_length.dcm").contains("of 4294967280 bytes present"));
    assert_eq!(
        reason_of(&rows, "preamble_only.dcm"),
        "no file meta information after the DICM marker"
    );
    assert!(
        reason_of(&rows, "unknown_syntax.dcm")
            .contains("unsupported transfer syntax \"1.2.3.4.5.6.7\"")
    );
    for row in &rows {
        assert!(!row[7].contains("internal error"), "{row:?}");
    }
    assert_eq!(outputs(dest.path()).len(), 2);
    assert_no_partial_files(dest.path());
}

#[cfg(unix)]
#[test]
fn links_that_loop_or_dangle_are_reported_not_fatal() {
    let source = TempDir::new().unwrap();
    fs::write(source.path().join("good.dcm"), good_file()).unwrap();
    std::os::unix::fs::symlink(source.path(), source.path().join("loop")).unwrap();
    std::os::unix::fs::symlink("/no/such/file", source.path().join("dangling.dcm")).unwrap();
    let dest = TempDir::new().unwrap();
    let out = anomize(source.path(), dest.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a skipped path sets exit code 1"
    );
    assert!(
        stderr(&out).contains("dangling.dcm: broken symbolic link"),
        "{}",
        stderr(&out)
    );
    let rows = read_csv_rows(&dest.path().join("_out.csv"));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][6], "OK");
}

#[test]
fn randomly_corrupted_files_never_stop_the_run() {
    let source = TempDir::new().unwrap();
    let originals = [
        good_file(),
        fs::read(fixture("image_dfl.dcm")).unwrap(),
        fs::read(fixture("chrJapMulti.dcm")).unwrap(),
        fs::read(fixture("SC_rgb_jpeg_dcmtk.dcm")).unwrap(),
    ];
    // A small deterministic generator: the same corruptions on every run.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..200 {
        let mut bytes = originals[i % originals.len()].clone();
        for _ in 0..1 + next() % 8 {
            let at = 128 + (next() as usize) % (bytes.len() - 128);
            bytes[at] = next() as u8;
        }
        fs::write(source.path().join(format!("{i:03}.dcm")), &bytes).unwrap();
    }
    let before = snapshot(source.path());
    let dest = TempDir::new().unwrap();
    let (code, rows) = run(source.path(), dest.path(), &[]);
    assert!(matches!(code, Some(0 | 1)), "{code:?}");
    let metadata = read_csv_rows(&dest.path().join("_metadata.csv"));
    assert_eq!(rows.len(), metadata.len());
    for row in &rows {
        assert!(!row[7].contains("internal error"), "{row:?}");
        if row[6] == "OK" {
            // What we wrote must be readable DICOM again.
            let again = TempDir::new().unwrap();
            fs::copy(&row[5], again.path().join("x.dcm")).unwrap();
            let out = TempDir::new().unwrap();
            let (code, reread) = run(again.path(), out.path(), &[]);
            assert_eq!(code, Some(0), "{} re-read: {reread:?}", row[0]);
        }
    }
    assert_eq!(snapshot(source.path()), before);
    assert_no_partial_files(dest.path());
}

#[cfg(unix)]
#[test]
fn file_names_that_are_not_utf8_are_processed() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let source = TempDir::new().unwrap();
    let name = OsStr::from_bytes(b"scan_\xff\xfe.dcm");
    fs::write(source.path().join(name), good_file()).unwrap();
    let dest = TempDir::new().unwrap();
    let (code, rows) = run(source.path(), dest.path(), &[]);
    assert_eq!(code, Some(0));
    assert_eq!(rows[0][6], "OK");
    // Escaped, not replaced: the audit and the listing name the very file.
    assert!(
        rows[0][0].ends_with("scan_\\xFF\\xFE.dcm"),
        "{}",
        rows[0][0]
    );
    let listed = dicommanager::pathtext::text_to_path(&rows[0][0]);
    assert_eq!(listed, source.path().canonicalize().unwrap().join(name));
    let metadata = read_csv_rows(&dest.path().join("_metadata.csv"));
    assert_eq!(metadata[0][1], rows[0][0]);
    // verify finds the source again (the basic profile keeps the UIDs it
    // then reports; what matters is that no file is missing).
    let out = verify(source.path(), dest.path(), &[]);
    assert!(!stderr(&out).contains("not found"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("cannot read"), "{}", stderr(&out));
    // A resume checks the escaped listing against SOURCE and accepts it.
    let out = anomize(source.path(), dest.path(), &["-q", "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[cfg(target_os = "linux")]
#[test]
fn sources_keep_their_access_times() {
    use std::time::SystemTime;
    let source = many_files(3);
    let long_ago = SystemTime::UNIX_EPOCH + Duration::from_secs(946_684_800);
    let files: Vec<PathBuf> = walkdir::WalkDir::new(source.path())
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect();
    // snapshot reads the files, so it comes before the access times are set
    let before: Vec<String> = snapshot(source.path())
        .into_values()
        .map(|(hash, _)| hash)
        .collect();
    for file in &files {
        let times = fs::FileTimes::new().set_accessed(long_ago);
        fs::File::options()
            .write(true)
            .open(file)
            .unwrap()
            .set_times(times)
            .unwrap();
    }
    let dest = TempDir::new().unwrap();
    assert_eq!(run(source.path(), dest.path(), &[]).0, Some(0));
    // An access time older than the modification time is what relatime
    // updates on the next read: it stays only if the files were opened
    // with O_NOATIME.
    for file in &files {
        assert_eq!(
            fs::metadata(file).unwrap().accessed().unwrap(),
            long_ago,
            "{file:?}"
        );
    }
    let after: Vec<String> = snapshot(source.path())
        .into_values()
        .map(|(hash, _)| hash)
        .collect();
    assert_eq!(after, before);
}

#[test]
fn killed_run_resumes_to_the_same_result() {
    let source = many_files(300);
    let before = snapshot(source.path());
    let reference = TempDir::new().unwrap();
    assert_eq!(run(source.path(), reference.path(), &[]).0, Some(0));

    let dest = TempDir::new().unwrap();
    let mut child = spawn(source.path(), dest.path(), &[]);
    wait_for_outputs(&mut child, dest.path(), 20);
    child.kill().unwrap();
    child.wait().unwrap();
    // Whatever is named .dcm is complete: it re-reads as the reference does.
    for (name, bytes) in outputs(dest.path()) {
        assert_eq!(
            bytes,
            fs::read(reference.path().join(&name)).unwrap(),
            "{name:?}"
        );
    }
    assert_eq!(snapshot(source.path()), before);

    let out = anomize(source.path(), dest.path(), &["--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(final_state(dest.path()), final_state(reference.path()));
    assert_no_partial_files(dest.path());
    assert_eq!(snapshot(source.path()), before);
}

#[test]
fn resume_after_a_partial_state_redoes_only_what_is_missing() {
    let source = many_files(30);
    let reference = TempDir::new().unwrap();
    run(source.path(), reference.path(), &[]);
    let dest = TempDir::new().unwrap();
    run(source.path(), dest.path(), &[]);
    // What SIGKILL can leave: outputs not yet renamed, a stale partial file,
    // an audit cut short.
    let gone = ["1_002.dcm", "3_001.dcm", "7_004.dcm"];
    for name in gone {
        fs::remove_file(dest.path().join(name)).unwrap();
    }
    fs::write(dest.path().join(".1_002.dcm.partial"), b"half a file").unwrap();
    fs::write(dest.path().join("_out.csv"), b"source_file\n").unwrap();
    fs::remove_file(dest.path().join("_out.xlsx")).unwrap();

    let out = anomize(source.path(), dest.path(), &["--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("kept         27"), "{summary}");
    assert_eq!(final_state(dest.path()), final_state(reference.path()));
    assert_eq!(read_xlsx(&dest.path().join("_out.xlsx")).len(), 31);
    assert_no_partial_files(dest.path());
}

#[test]
fn resume_refuses_a_changed_source_or_an_empty_dest() {
    let source = many_files(5);
    let dest = TempDir::new().unwrap();
    let out = anomize(source.path(), dest.path(), &["--resume"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no interrupted run to resume"),
        "{}",
        stderr(&out)
    );

    run(source.path(), dest.path(), &[]);
    fs::write(source.path().join("d0/new.dcm"), good_file()).unwrap();
    let before = snapshot(dest.path());
    let out = anomize(source.path(), dest.path(), &["--resume"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the source changed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(dest.path()), before);
}

#[test]
fn resume_goes_on_after_the_listed_files_as_a_fresh_run_would() {
    let source = many_files(10);
    let dest = TempDir::new().unwrap();
    run(source.path(), dest.path(), &[]);
    // An interrupted run lists only the files it numbered: keep the first
    // four rows, and their outputs.
    let listing = fs::read_to_string(dest.path().join("_metadata.csv")).unwrap();
    let kept: String = listing.lines().take(4).map(|l| format!("{l}\n")).collect();
    fs::write(dest.path().join("_metadata.csv"), kept).unwrap();
    // Files added after the listed ones are numbered after them.
    fs::write(source.path().join("d4/zz_late.dcm"), good_file()).unwrap();

    let out = anomize(source.path(), dest.path(), &["--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reference = TempDir::new().unwrap();
    assert_eq!(run(source.path(), reference.path(), &[]).0, Some(0));
    assert_eq!(final_state(dest.path()), final_state(reference.path()));
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_cleanly_with_code_130() {
    let source = many_files(300);
    let dest = TempDir::new().unwrap();
    let mut child = spawn(source.path(), dest.path(), &[]);
    wait_for_outputs(&mut child, dest.path(), 10);
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    let status = child.wait().unwrap();
    if interrupted && status.code() == Some(130) {
        // The audit holds exactly the files that were done, each complete.
        let rows = read_csv_rows(&dest.path().join("_out.csv")).split_off(1);
        assert!(!rows.is_empty() && rows.len() < 300, "{}", rows.len());
        assert!(
            rows.iter()
                .all(|r| r[6] == "OK" && Path::new(&r[5]).is_file())
        );
        assert_eq!(outputs(dest.path()).len(), rows.len());
        assert_eq!(
            read_xlsx(&dest.path().join("_out.xlsx")).len(),
            rows.len() + 1
        );
        assert_no_partial_files(dest.path());
    } else {
        // The run was over before the signal: it must have finished normally.
        assert_eq!(status.code(), Some(0));
    }
    let out = anomize(source.path(), dest.path(), &["--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(read_csv_rows(&dest.path().join("_out.csv")).len(), 301);
}

/// A fixture the fuzzer made, without what follows the zero padding after
/// its data set. The fuzzer's files go on with garbage there, which DCMTK
/// does not read either; since the accounting invariant (issue 12) a file
/// not read to its end is an ERROR row naming where its unread bytes
/// start, and before that the reader had silently stopped at the padding.
fn fuzzed_fixture_read_to_its_end(name: &str, into: &Path) {
    let bytes = fs::read(fixture(name)).unwrap();
    let whole = TempDir::new().unwrap();
    fs::write(whole.path().join(name), &bytes).unwrap();
    let dest = TempDir::new().unwrap();
    anomize_keyed(whole.path(), dest.path(), &["ps3.15-basic"]);
    let row = &read_csv_rows(&dest.path().join("_out.csv"))[1];
    assert_eq!(row[6], "ERROR", "{name}: {row:?}");
    // "non-zero bytes at byte N after P bytes of zero padding: ..."
    let numbers: Vec<usize> = row[7]
        .split(' ')
        .filter_map(|word| word.parse().ok())
        .collect();
    assert!(row[7].contains("not read to its end"), "{name}: {row:?}");
    let padding_start = numbers[0] - numbers[1];
    fs::write(into.join(name), &bytes[..padding_start]).unwrap();
}

#[test]
fn file_meta_elements_inside_the_data_set_do_not_reach_the_output() {
    let source = tempfile::TempDir::new().unwrap();
    for name in [
        "meta_spills_into_dataset.dcm",
        "meta_spills_into_dataset_2.dcm",
    ] {
        fuzzed_fixture_read_to_its_end(name, source.path());
    }
    let dest = tempfile::TempDir::new().unwrap();
    let out = anomize_keyed(source.path(), dest.path(), &["ps3.15-basic"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for (name, _) in outputs(dest.path()) {
        let path = dest.path().join(&name);
        let header = dicommanager::metadata::read_header(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let syntaxes = header
            .meta
            .iter()
            .filter(|e| e.tag == dicom_core::Tag(0x0002, 0x0010))
            .count();
        assert_eq!(syntaxes, 1, "{}", path.display());
        assert!(
            header
                .dataset
                .elements
                .iter()
                .all(|e| e.tag.group() != 0x0002),
            "{}",
            path.display()
        );
    }
}

#[test]
fn cleaning_text_with_undefined_bytes_gives_an_output_that_can_be_cleaned_again() {
    let first = tempfile::TempDir::new().unwrap();
    fuzzed_fixture_read_to_its_end("clean_unencodable_text.dcm", first.path());
    let profiles = [
        "ps3.15-basic",
        "retain-long-modified-dates",
        "clean-descriptors",
    ];
    let run =
        |source: &std::path::Path, dest: &std::path::Path| anomize_keyed(source, dest, &profiles);
    let once = tempfile::TempDir::new().unwrap();
    let out = run(first.path(), once.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let twice = tempfile::TempDir::new().unwrap();
    let out = run(once.path(), twice.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(outputs(twice.path()).len(), 1);
}
