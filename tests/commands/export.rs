//! `export` end to end: the binary on fixtures built in code, PNGs read back.

use dicom_core::value::PrimitiveValue;
use dicom_core::{Tag, VR};
use predicates::prelude::*;

use super::harness::{Fixture, bin, export_ok, read_png};

#[test]
fn monochrome_minmax_8_and_16_bit() {
    let dir = tempfile::tempdir().unwrap();
    let input =
        Fixture::mono16(1, 3, &[100, 200, 300], "MONOCHROME2").write(&dir.path().join("a.dcm"));
    let out = dir.path().join("a.png");
    export_ok(&["--window", "minmax"], &input, &out);
    let png = read_png(&out);
    assert_eq!((png.width, png.height), (3, 1));
    assert_eq!(png.color, png::ColorType::Grayscale);
    assert_eq!(png.data, [0, 128, 255]);

    export_ok(&["--window", "minmax", "--bits", "16"], &input, &out);
    let png = read_png(&out);
    assert_eq!(png.depth, png::BitDepth::Sixteen);
    assert_eq!(png.data, [0, 0, 0x80, 0x00, 0xFF, 0xFF]);
}

#[test]
fn file_window_rescale_and_monochrome1() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fixture::mono16(1, 3, &[0, 1024, 4000], "MONOCHROME1");
    // CT-like: stored 1024 is 0 HU; window 0/100 puts 0 HU in the middle.
    f.put(Tag(0x0028, 0x1052), VR::DS, "-1024")
        .put(Tag(0x0028, 0x1053), VR::DS, "1")
        .put(Tag(0x0028, 0x1050), VR::DS, "0.5")
        .put(Tag(0x0028, 0x1051), VR::DS, "100");
    let input = f.write(&dir.path().join("ct.dcm"));
    let out = dir.path().join("ct.png");
    export_ok(&[], &input, &out);
    // MONOCHROME1: low values white.
    assert_eq!(read_png(&out).data, [255, 127, 0]);
    // A window given on the command line wins over the file's: with
    // 1000/10, -1024 and 0 HU are below it (black, shown white), 2976 above.
    export_ok(&["--window", "1000,10"], &input, &out);
    assert_eq!(read_png(&out).data, [255, 255, 0]);
}

#[test]
fn rgb_stays_rgb() {
    let dir = tempfile::tempdir().unwrap();
    let input = Fixture::rgb8(1, 2, &[255, 0, 0, 0, 0, 255]).write(&dir.path().join("c.dcm"));
    let out = dir.path().join("c.png");
    export_ok(&[], &input, &out);
    let png = read_png(&out);
    assert_eq!(png.color, png::ColorType::Rgb);
    assert_eq!(png.data, [255, 0, 0, 0, 0, 255]);
}

fn multiframe(dir: &std::path::Path) -> std::path::PathBuf {
    // Three 1x2 frames: [0, 10], [10, 0], [5, 5].
    let mut f = Fixture::mono16(1, 2, &[0, 10, 10, 0, 5, 5], "MONOCHROME2");
    f.put(Tag(0x0028, 0x0008), VR::IS, "3");
    f.write(&dir.join("cine.dcm"))
}

#[test]
fn frames_one_chosen_or_all() {
    let dir = tempfile::tempdir().unwrap();
    let input = multiframe(dir.path());
    let out = dir.path().join("f.png");
    export_ok(&["--window", "minmax", "--frame", "2"], &input, &out);
    assert_eq!(read_png(&out).data, [255, 0]);

    bin()
        .args(["export", "--window", "minmax", "--all-frames", "-s"])
        .arg(&input)
        .arg("-d")
        .arg(dir.path().join("all.png"))
        .assert()
        .success();
    assert_eq!(read_png(&dir.path().join("all_0001.png")).data, [0, 255]);
    assert_eq!(read_png(&dir.path().join("all_0002.png")).data, [255, 0]);
    assert!(dir.path().join("all_0003.png").exists());
    assert!(!dir.path().join("all_0004.png").exists());

    bin()
        .args(["export", "--frame", "4", "-s"])
        .arg(&input)
        .arg("-d")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "frame 4 requested, the file has 3",
        ));
}

#[test]
fn folder_mode_reports_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    Fixture::mono16(1, 2, &[1, 2], "MONOCHROME2").write(&src.join("sub/img.dcm"));
    Fixture::mono16(1, 2, &[1, 2], "MONOCHROME2").write(&src.join("1.2.3.4"));
    // No pixel data.
    Fixture::new().write(&src.join("report.dcm"));
    // Declares 2x2 16-bit but holds 2 bytes.
    let mut bad = Fixture::mono16(2, 2, &[1], "MONOCHROME2");
    bad.put_raw(
        Tag(0x7FE0, 0x0010),
        VR::OW,
        PrimitiveValue::from(vec![1u8, 0]),
    );
    bad.write(&src.join("short.dcm"));
    std::fs::write(src.join("notes.txt"), "not DICOM").unwrap();
    let out = dir.path().join("out");
    bin()
        .args(["export", "--jobs", "2", "-s"])
        .arg(&src)
        .arg("-d")
        .arg(&out)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("exported        2 (2 images)"))
        .stdout(predicate::str::contains("no pixel data   1"))
        .stdout(predicate::str::contains("not DICOM       1"))
        .stdout(predicate::str::contains("failed          1"))
        .stderr(predicate::str::contains("short.dcm"))
        .stderr(predicate::str::contains("truncated"));
    assert_eq!(read_png(&out.join("sub/img.png")).data, [0, 255]);
    assert!(out.join("1.2.3.4.png").exists());
    assert!(!out.join("short.png").exists());
    // No temporary files left behind.
    let leftovers: Vec<_> = walkdir::WalkDir::new(&out)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn not_dicom_and_missing_source_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.dcm");
    std::fs::write(&junk, "%PDF-1.4 not an image").unwrap();
    bin()
        .args(["export", "-s"])
        .arg(&junk)
        .arg("-d")
        .arg(dir.path().join("x.png"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("junk.dcm: not a DICOM file"));
    bin()
        .args(["export", "-s"])
        .arg(dir.path().join("nothing"))
        .arg("-d")
        .arg(dir.path().join("x.png"))
        .assert()
        .code(2);
    bin()
        .args(["export", "--window", "40", "-s", "a", "-d", "b"])
        .assert()
        .code(2);
}
