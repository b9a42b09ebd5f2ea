//! `export` end to end: the binary on fixtures built in code, PNGs read back.

use dicom_core::value::PrimitiveValue;
use dicom_core::{Tag, VR};
use predicates::prelude::*;

use super::harness::{
    Fixture, assert_matches_dcmtk, assert_matches_dcmtk_of, bin, dcmj2pnm_available, dcmtk_run,
    export_ok, export_png, jpeg_flat_blocks, jpeg_lossless_flat, offset_table, read_png, rle_frame,
    split_at,
};

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

// ---- Issue 15: `export` on every image kind, compared with DCMTK ----------
//
// Each fixture is built in code. Its exact expected levels are checked
// always; when DCMTK's dcmj2pnm is installed (always in CI, where
// DICOMMANAGER_REQUIRE_DCMTK is set) the same file is rendered by it and
// every sample must be within one level.

const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";
const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// 12-bit JPEG extended, 2x2 flat blocks: min-max maps 0..4095 to 0..255.
#[test]
fn twelve_bit_jpeg_extended_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fixture::mono_module(16, 16, 16, 12, "MONOCHROME2");
    f.transfer_syntax(JPEG_EXTENDED).encapsulated(
        vec![],
        vec![jpeg_flat_blocks(12, 2, &[0, 1000, 3000, 4095])],
    );
    let input = f.write(&dir.path().join("jpeg12.dcm"));
    let png = export_png(&["--window", "minmax"], &input);
    // (v - 2047.5) / 4095 + 0.5, times 255.
    let expected = [0u8, 62, 187, 255];
    for y in 0..16 {
        for x in 0..16 {
            let block = (y / 8) * 2 + x / 8;
            assert_eq!(png.data[y * 16 + x], expected[block], "pixel {x},{y}");
        }
    }
    if dcmj2pnm_available() {
        assert_matches_dcmtk(&input, &["--window", "minmax"], &["+Wm"]);
    }
}

/// A real 12-bit encoder's output (AC coefficients, DCMTK's Huffman
/// tables): DCMTK's `dcmcjpeg +ee` on a smooth 12-bit image.
#[test]
fn twelve_bit_jpeg_from_dcmcjpeg_matches_dcmtk() {
    if !dcmj2pnm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (40u16, 56u16);
    let pixels: Vec<u16> = (0..rows)
        .flat_map(|y| {
            (0..cols).map(move |x| {
                let v = 2000.0
                    + 1500.0 * (f64::from(x) / 9.0).sin() * (f64::from(y) / 13.0).cos()
                    + 10.0 * f64::from(y);
                v as u16
            })
        })
        .collect();
    let mut f = Fixture::mono16(rows, cols, &pixels, "MONOCHROME2");
    f.put_u16(Tag(0x0028, 0x0101), 12)
        .put_u16(Tag(0x0028, 0x0102), 11)
        .put(Tag(0x0028, 0x1050), VR::DS, "2100")
        .put(Tag(0x0028, 0x1051), VR::DS, "1800");
    let native = f.write(&dir.path().join("native.dcm"));
    let input = dir.path().join("jpeg12.dcm");
    dcmtk_run("dcmcjpeg", &["+ee"], &native, &input);
    let written = dicom_object::open_file(&input).expect("dcmcjpeg output reads");
    assert_eq!(
        written.meta().transfer_syntax().trim_end_matches('\0'),
        JPEG_EXTENDED
    );
    assert_matches_dcmtk(&input, &["--window", "minmax"], &["+Wm"]);
    assert_matches_dcmtk(&input, &[], &["+Wi", "1"]);
}

/// 12-bit colour JPEG extended (rare, but DCMTK writes it): YCbCr with
/// 4:2:2 and 4:1:1 chroma, 4:4:4, and RGB kept as RGB.
#[test]
fn twelve_bit_colour_jpeg_from_dcmcjpeg_matches_dcmtk() {
    if !dcmj2pnm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (33u16, 45u16);
    let pixels: Vec<u16> = (0..rows)
        .flat_map(|y| {
            (0..cols).flat_map(move |x| {
                [
                    (2000.0 + 1800.0 * (f64::from(x) / 6.0).sin()) as u16,
                    y * 120,
                    if (x / 5 + y / 5) % 2 == 0 { 300 } else { 3500 },
                ]
            })
        })
        .collect();
    let native = Fixture::rgb16(rows, cols, 12, &pixels).write(&dir.path().join("rgb12.dcm"));
    for (name, options) in [
        ("422", ["+ee", "+s2"]),
        ("411", ["+ee", "+np"]),
        ("444", ["+ee", "+s4"]),
        ("rgb", ["+ee", "+cr"]),
    ] {
        let input = dir.path().join(format!("jpeg12_{name}.dcm"));
        dcmtk_run("dcmcjpeg", &options, &native, &input);
        assert_matches_dcmtk(&input, &[], &[]);
    }
}

/// 16-bit samples, two frames, each frame's RLE data split over three
/// fragments: with a Basic Offset Table, and without one (frames found by
/// their RLE headers); whole, cut inside the segments, and cut inside the
/// RLE header itself. DCMTK 3.6.7's dcmj2pnm renders whole frames only;
/// its dcmdrle decodes frames cut inside segments (with a warning), so
/// those are compared through it; a cut header it refuses ("RLE header
/// incomplete"), so that kind is checked against the expected values only.
#[test]
fn rle_segments_split_over_fragments() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (6u16, 20u16);
    let frame = |k: u16| -> Vec<u16> {
        (0..rows * cols)
            .map(|i| {
                if i % cols < 7 {
                    40 * k
                } else {
                    1000 * k + i * 3
                }
            })
            .collect()
    };
    let encode = |pixels: &[u16], cuts: &[usize]| {
        let high: Vec<u8> = pixels.iter().map(|p| (p >> 8) as u8).collect();
        let low: Vec<u8> = pixels.iter().map(|p| *p as u8).collect();
        split_at(&rle_frame(&[high, low]), cuts)
    };
    let variants: [(&str, &[usize]); 3] = [
        ("whole", &[]),
        ("segments", &[70, 100]),
        ("header", &[40, 80]),
    ];
    for (cut, cuts) in variants {
        let frames = [encode(&frame(1), cuts), encode(&frame(2), cuts)];
        assert!(frames.iter().all(|f| f.len() == cuts.len() + 1));
        for (table, offsets) in [("bot", offset_table(&frames)), ("nobot", vec![])] {
            let mut f = Fixture::mono_module(rows, cols, 16, 16, "MONOCHROME2");
            f.put(Tag(0x0028, 0x0008), VR::IS, "2")
                .transfer_syntax(RLE_LOSSLESS)
                .encapsulated(offsets, frames.concat());
            let input = f.write(&dir.path().join(format!("rle_{cut}_{table}.dcm")));
            let reference = dir.path().join(format!("rle_{cut}_{table}_native.dcm"));
            let dcmtk = match cut {
                "whole" => Some(input.clone()),
                "segments" if dcmj2pnm_available() => {
                    dcmtk_run("dcmdrle", &[], &input, &reference);
                    Some(reference)
                }
                _ => None,
            };
            for k in [1u16, 2] {
                let frame_arg = k.to_string();
                let args = ["--window", "minmax", "--frame", &frame_arg];
                let png = export_png(&args, &input);
                let pixels = frame(k);
                let (lo, hi) = (40 * k, 1000 * k + (rows * cols - 1) * 3);
                for (i, &p) in pixels.iter().enumerate() {
                    let level =
                        (f64::from(p) - f64::from(lo) + 0.5) / f64::from(hi - lo + 1) * 255.0;
                    assert!(
                        (f64::from(png.data[i]) - level).abs() <= 1.0,
                        "{cut} {table} frame {k} pixel {i}: {} vs {level}",
                        png.data[i]
                    );
                }
                if let Some(reference) = dcmtk.as_ref().filter(|_| dcmj2pnm_available()) {
                    assert_matches_dcmtk_of(&input, reference, &args, &["+Wm", "+F", &frame_arg]);
                }
            }
        }
    }
}

/// 8-bit RGB RLE in one frame whose three segments span four fragments
/// (no offset table: a single frame takes them all).
#[test]
fn rle_rgb_single_frame_over_fragments() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<[u8; 3]> = (0..64u8).map(|i| [i * 4, 255 - i * 4, 7]).collect();
    let planes: Vec<Vec<u8>> = (0..3)
        .map(|c| pixels.iter().map(|p| p[c]).collect())
        .collect();
    let rle = rle_frame(&planes);
    let mut f = Fixture::rgb8(8, 8, &[]);
    f.transfer_syntax(RLE_LOSSLESS)
        .encapsulated(vec![], split_at(&rle, &[66, 100, 150]));
    let input = f.write(&dir.path().join("rle_rgb.dcm"));
    let png = export_png(&[], &input);
    assert_eq!(png.color, png::ColorType::Rgb);
    assert_eq!(png.data, pixels.concat());
    if dcmj2pnm_available() {
        assert_matches_dcmtk(&input, &[], &[]);
    }
}

/// PALETTE COLOR with 16-bit indices and 16-bit table entries whose first
/// mapped value is not 0 (indices below it take the first entry).
#[test]
fn sixteen_bit_palette_color() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (16u16, 32u16);
    let indices: Vec<u16> = (0..rows * cols).map(|i| (i * 9) % 5000).collect();
    let mut f = Fixture::mono16(rows, cols, &indices, "PALETTE COLOR");
    let entries = 4096u16;
    let first = 100u16;
    let tables: [Vec<u16>; 3] = [
        (0..entries).map(|i| i * 16).collect(),
        (0..entries).map(|i| 65535 - i * 16).collect(),
        (0..entries)
            .map(|i| if i % 2 == 0 { 0 } else { 65535 })
            .collect(),
    ];
    for (c, table) in tables.iter().enumerate() {
        let c = c as u16;
        f.put_raw(
            Tag(0x0028, 0x1101 + c),
            VR::US,
            PrimitiveValue::U16(vec![entries, first, 16].into()),
        );
        let bytes: Vec<u8> = table.iter().flat_map(|v| v.to_le_bytes()).collect();
        f.put_raw(Tag(0x0028, 0x1201 + c), VR::OW, PrimitiveValue::from(bytes));
    }
    let input = f.write(&dir.path().join("palette16.dcm"));
    let png = export_png(&[], &input);
    assert_eq!(png.color, png::ColorType::Rgb);
    for (i, &index) in indices.iter().enumerate() {
        let entry = usize::from(index.clamp(first, first + entries - 1) - first);
        for (c, table) in tables.iter().enumerate() {
            let expected = (f64::from(table[entry]) / 257.0).round() as u8;
            assert_eq!(png.data[i * 3 + c], expected, "pixel {i} channel {c}");
        }
    }
    if dcmj2pnm_available() {
        assert_matches_dcmtk(&input, &[], &[]);
    }
}

/// A DX-like MONOCHROME1 image: inverted under min-max unless its
/// Presentation LUT Shape says IDENTITY; a SIGMOID VOI LUT Function shapes
/// the min-max window too (as in DCMTK).
#[test]
fn monochrome1_min_max() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (24u16, 40u16);
    let pixels: Vec<u16> = (0..rows * cols)
        .map(|i| 300 + (i % cols) * 60 + (i / cols) * 17)
        .collect();
    let (lo, hi) = (300.0, 300.0 + 39.0 * 60.0 + 23.0 * 17.0);
    let cases: [(&str, Option<&str>, Option<&str>); 4] = [
        ("plain", None, None),
        ("inverse", Some("INVERSE"), None),
        ("identity", Some("IDENTITY"), None),
        ("sigmoid", Some("INVERSE"), Some("SIGMOID")),
    ];
    for (name, shape, function) in cases {
        let mut f = Fixture::mono16(rows, cols, &pixels, "MONOCHROME1");
        f.put_u16(Tag(0x0028, 0x0101), 12)
            .put_u16(Tag(0x0028, 0x0102), 11)
            .put(Tag(0x0008, 0x0060), VR::CS, "DX")
            .put(Tag(0x0028, 0x1052), VR::DS, "0")
            .put(Tag(0x0028, 0x1053), VR::DS, "1")
            .put(Tag(0x0028, 0x1050), VR::DS, "1200")
            .put(Tag(0x0028, 0x1051), VR::DS, "900");
        if let Some(shape) = shape {
            f.put(Tag(0x2050, 0x0020), VR::CS, shape);
        }
        if let Some(function) = function {
            f.put(Tag(0x0028, 0x1056), VR::CS, function);
        }
        let input = f.write(&dir.path().join(format!("dx_{name}.dcm")));
        let png = export_png(&["--window", "minmax"], &input);
        let (first, last) = (png.data[0], png.data[png.data.len() - 1]);
        match name {
            "identity" => assert_eq!((first, last), (0, 255), "{name}"),
            "sigmoid" => assert!(first > 200 && last < 55, "{name}: {first} {last}"),
            _ => assert_eq!((first, last), (255, 0), "{name}"),
        }
        if name == "plain" {
            // Linear over lo..=hi, then inverted.
            for (i, &p) in pixels.iter().enumerate() {
                let level = 255.0 - ((f64::from(p) - lo + 0.5) / (hi - lo + 1.0) * 255.0);
                assert!((f64::from(png.data[i]) - level).abs() <= 1.0, "pixel {i}");
            }
        }
        if dcmj2pnm_available() {
            assert_matches_dcmtk(&input, &["--window", "minmax"], &["+Wm"]);
            assert_matches_dcmtk(&input, &[], &["+Wi", "1"]);
        }
    }
}

/// An RT Dose: 32-bit unsigned samples, two frames of different range,
/// Dose Grid Scaling. Min-max is per frame; the scaling makes stored
/// values Gy, so a window can be given in Gy.
#[test]
fn rt_dose_32_bit() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (12u16, 16u16);
    let frame = |k: u32| -> Vec<u32> {
        (0..u32::from(rows * cols))
            .map(|i| {
                let (x, y) = (i % u32::from(cols), i / u32::from(cols));
                let r2 = (x as i32 - 8).pow(2) + (y as i32 - 6).pow(2);
                k * 3_000_000 / (1 + r2 as u32)
            })
            .collect()
    };
    let build = |name: &str, rescale: bool| {
        let mut f = Fixture::new();
        f.put(Tag(0x0008, 0x0016), VR::UI, "1.2.840.10008.5.1.4.1.1.481.2")
            .put(Tag(0x0008, 0x0060), VR::CS, "RTDOSE")
            .put_u16(Tag(0x0028, 0x0002), 1)
            .put(Tag(0x0028, 0x0004), VR::CS, "MONOCHROME2")
            .put(Tag(0x0028, 0x0008), VR::IS, "2")
            .put_u16(Tag(0x0028, 0x0010), rows)
            .put_u16(Tag(0x0028, 0x0011), cols)
            .put_u16(Tag(0x0028, 0x0100), 32)
            .put_u16(Tag(0x0028, 0x0101), 32)
            .put_u16(Tag(0x0028, 0x0102), 31)
            .put_u16(Tag(0x0028, 0x0103), 0)
            .put(Tag(0x3004, 0x000E), VR::DS, "1.0E-6");
        if rescale {
            f.put(Tag(0x0028, 0x1052), VR::DS, "0")
                .put(Tag(0x0028, 0x1053), VR::DS, "1.0E-6");
        }
        let bytes: Vec<u8> = [frame(1), frame(2)]
            .concat()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        f.put_raw(Tag(0x7FE0, 0x0010), VR::OW, PrimitiveValue::from(bytes));
        f.write(&dir.path().join(format!("{name}.dcm")))
    };
    let input = build("rtdose", false);
    for k in [1u32, 2] {
        let frame_arg = k.to_string();
        let args = ["--window", "minmax", "--frame", &frame_arg];
        let png = export_png(&args, &input);
        let values = frame(k);
        let (lo, hi) = (
            f64::from(*values.iter().min().unwrap()),
            f64::from(*values.iter().max().unwrap()),
        );
        for (i, &v) in values.iter().enumerate() {
            let level = (f64::from(v) - lo + 0.5) / (hi - lo + 1.0) * 255.0;
            assert!(
                (f64::from(png.data[i]) - level).abs() <= 1.0,
                "frame {k} pixel {i}"
            );
        }
        if dcmj2pnm_available() {
            assert_matches_dcmtk(&input, &args, &["+Wm", "+F", &frame_arg]);
        }
    }
    // Window in Gy: frame 1 peaks at 3 Gy; 1.5 / 3 spans 0..2 Gy, so the
    // peak is white and the corners (0.03 Gy) nearly black.
    let png = export_png(&["--window", "1.5,3"], &input);
    assert_eq!(png.data[6 * usize::from(cols) + 8], 255);
    assert!(png.data[0] < 15, "{}", png.data[0]);

    // With a fractional Rescale Slope DCMTK truncates rescaled values to
    // integers (dimoipxt.h), which quantises this dose to 4 gray levels;
    // we keep the values exact. Min-max is the same image with any
    // positive linear rescale, so DCMTK is asked for it without the
    // modality step (-M), where it does not truncate.
    let input = build("rtdose_rescale", true);
    if dcmj2pnm_available() {
        assert_matches_dcmtk(&input, &["--window", "minmax"], &["+Wm", "-M"]);
    }
}

/// A panic inside a decoder (here dicom-pixeldata's JPEG adapter, handed a
/// lossless JPEG larger than the image the header declares, which it
/// copies past its buffer) is one error line, without the panic hook's
/// message or a backtrace, and exit code 1. If this stops panicking (a
/// fixed dicom-pixeldata), find another way in: the guard must stay tested.
#[test]
fn decoder_panic_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    // Sampling factors 2x2 on the one component: meaningless but legal,
    // refused by our lossless decoder, so the stream reaches jpeg-decoder.
    let mut stream = jpeg_lossless_flat(32, 16);
    let sof = stream.windows(2).position(|w| w == [0xFF, 0xC3]).unwrap();
    stream[sof + 11] = 0x22;
    let mut f = Fixture::mono_module(8, 8, 8, 8, "MONOCHROME2");
    f.transfer_syntax("1.2.840.10008.1.2.4.70")
        .encapsulated(vec![], vec![stream]);
    let input = f.write(&dir.path().join("lies.dcm"));
    let out = bin()
        .args(["export", "-s"])
        .arg(&input)
        .arg("-d")
        .arg(dir.path().join("lies.png"))
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("lies.dcm") && stderr.contains("crashed"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );

    // Our own JPEG decoder checks the size instead of crashing.
    let mut f = Fixture::mono_module(8, 8, 8, 8, "MONOCHROME2");
    f.transfer_syntax("1.2.840.10008.1.2.4.50").encapsulated(
        vec![],
        vec![jpeg_flat_blocks(8, 4, &[10, 20, 30, 40, 50, 60, 70, 80])],
    );
    let input = f.write(&dir.path().join("bigger.dcm"));
    bin()
        .args(["export", "-s"])
        .arg(&input)
        .arg("-d")
        .arg(dir.path().join("bigger.png"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the JPEG image is 32x16, the header says 8x8",
        ));
}

/// Damaged compressed pixel data of every kind: an error line each, never
/// a panic message.
#[test]
fn damaged_compressed_frames_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let syntaxes = [
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.57",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.5",
    ];
    let jpeg12 = jpeg_flat_blocks(12, 2, &[0, 1000, 3000, 4095]);
    let fragments: [Vec<u8>; 4] = [
        vec![0xFF, 0xD8, 0xFF],
        jpeg12[..jpeg12.len() / 2].to_vec(),
        vec![1, 0, 0, 0, 64, 0, 0, 0],
        vec![0; 10],
    ];
    for (i, ts) in syntaxes.iter().enumerate() {
        for (j, fragment) in fragments.iter().enumerate() {
            let mut f = Fixture::mono_module(16, 16, 16, 12, "MONOCHROME2");
            f.transfer_syntax(ts)
                .encapsulated(vec![], vec![fragment.clone()]);
            let input = f.write(&dir.path().join(format!("bad_{i}_{j}.dcm")));
            let out = bin()
                .args(["export", "-s"])
                .arg(&input)
                .arg("-d")
                .arg(dir.path().join("bad.png"))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !stderr.contains("panicked") && stderr.lines().count() <= 1,
                "{ts} fragment {j}: {stderr}"
            );
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{ts} {j}: {stderr}"
            );
        }
    }
}

/// Single-file destinations: missing folders are created; only a .png
/// name is a file (anything else is a usage error, nothing written); a
/// name without extension is a folder; a multi-frame source says which
/// frame was written.
#[test]
fn single_file_destinations() {
    let dir = tempfile::tempdir().unwrap();
    let input = multiframe(dir.path());
    let nested = dir.path().join("new/folder/x.png");
    bin()
        .args(["export", "-s"])
        .arg(&input)
        .arg("-d")
        .arg(&nested)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "(frame 1 of 3; --frame N or --all-frames for the others)",
        ));
    assert!(nested.is_file());

    for name in ["x.jpg", "x.JPEG", "x.tif"] {
        bin()
            .args(["export", "-s"])
            .arg(&input)
            .arg("-d")
            .arg(dir.path().join("j").join(name))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("PNG only"));
    }
    assert!(!dir.path().join("j").exists());
    // Upper-case .PNG is a PNG name too.
    export_ok(&[], &input, &dir.path().join("upper.PNG"));

    let folder = dir.path().join("outdir");
    bin()
        .args(["export", "--frame", "2", "-s"])
        .arg(&input)
        .arg("-d")
        .arg(&folder)
        .assert()
        .success()
        .stdout(predicate::str::contains("(frame 2 of 3)"));
    assert!(folder.join("cine.png").is_file());
}

/// JPEG baseline written by DCMTK's `dcmcjpeg` from a colour image of odd
/// size, in each chroma sampling it offers (4:4:4, 4:2:2, 4:1:1, RGB
/// without transform) and with frames cut into 1 KB fragments: our
/// decoder follows libjpeg's IDCT, upsampling and colour conversion, so
/// every sample matches `dcmj2pnm`.
#[test]
fn jpeg_baseline_colour_from_dcmcjpeg_matches_dcmtk() {
    if !dcmj2pnm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (61u16, 83u16);
    let pixels: Vec<u8> = (0..rows)
        .flat_map(|y| {
            (0..cols).flat_map(move |x| {
                let (fx, fy) = (f64::from(x), f64::from(y));
                [
                    (128.0 + 120.0 * (fx / 5.0).sin()) as u8,
                    (fy * 8.0) as u8,
                    if (x / 4 + y / 4) % 2 == 0 { 230 } else { 20 },
                ]
            })
        })
        .collect();
    let native = Fixture::rgb8(rows, cols, &pixels).write(&dir.path().join("rgb.dcm"));
    let variants: [(&str, &[&str]); 5] = [
        ("422", &["+eb", "+s2"]),
        ("444", &["+eb", "+s4"]),
        ("411", &["+eb", "+np"]),
        ("rgb", &["+eb", "+cr"]),
        ("fragments", &["+eb", "+s2", "+fs", "1"]),
    ];
    for (name, options) in variants {
        let input = dir.path().join(format!("jpeg_{name}.dcm"));
        dcmtk_run("dcmcjpeg", options, &native, &input);
        if name == "fragments" {
            let object = dicom_object::open_file(&input).unwrap();
            let fragments = object
                .element(Tag(0x7FE0, 0x0010))
                .unwrap()
                .value()
                .fragments()
                .map_or(0, <[Vec<u8>]>::len);
            assert!(fragments > 1, "one frame over {fragments} fragments");
        }
        let (max, _) = assert_matches_dcmtk(&input, &[], &[]);
        assert_eq!(max, 0, "{name}: same arithmetic, same samples");
    }
}

/// Pixel data in an object that is not an image IOD (Raw Data here), with
/// the untidy pixel-value attributes such objects carry: a zero Rescale
/// Slope, or a slope without intercept. DCMTK ignores such a rescale, and
/// so does `export` (a zero slope used to flatten the image); min-max
/// spans the stored values.
#[test]
fn non_image_object_with_pixel_data() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u16> = (0..12 * 20).map(|i| 100 + (i * 37) % 900).collect();
    let variants: [(&str, &[(u16, &str)]); 3] = [
        ("zero_slope", &[(0x1053, "0"), (0x1052, "0")]),
        ("lone_negative_slope", &[(0x1053, "-1")]),
        ("lone_intercept", &[(0x1052, "-1024")]),
    ];
    for (name, rescale) in variants {
        let mut f = Fixture::mono16(12, 20, &pixels, "MONOCHROME2");
        f.put(Tag(0x0008, 0x0016), VR::UI, "1.2.840.10008.5.1.4.1.1.66");
        for &(element, value) in rescale {
            f.put(Tag(0x0028, element), VR::DS, value);
        }
        let input = f.write(&dir.path().join(format!("{name}.dcm")));
        let png = export_png(&["--window", "minmax"], &input);
        let lo = f64::from(*pixels.iter().min().unwrap());
        let hi = f64::from(*pixels.iter().max().unwrap());
        for (i, &p) in pixels.iter().enumerate() {
            let level = (f64::from(p) - lo + 0.5) / (hi - lo + 1.0) * 255.0;
            assert!(
                (f64::from(png.data[i]) - level).abs() <= 1.0,
                "{name} pixel {i}"
            );
        }
        if dcmj2pnm_available() {
            assert_matches_dcmtk(&input, &["--window", "minmax"], &["+Wm"]);
        }
    }
}

/// Folder mode says how many multi-frame files had one frame written.
#[test]
fn folder_mode_counts_multi_frame_files() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    std::fs::create_dir_all(&src).unwrap();
    multiframe(&src);
    Fixture::mono16(1, 2, &[1, 2], "MONOCHROME2").write(&src.join("one.dcm"));
    bin()
        .args(["export", "-s"])
        .arg(&src)
        .arg("-d")
        .arg(dir.path().join("out"))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "multi-frame     1 (one frame written each; --all-frames for every frame)",
        ));
}

/// A colour fixture stored as YBR_FULL (8-bit, interleaved).
fn ybr_full(dir: &std::path::Path) -> std::path::PathBuf {
    let (rows, cols) = (23u16, 31u16);
    let pixels: Vec<u8> = (0..rows)
        .flat_map(|y| {
            (0..cols)
                .flat_map(move |x| [(x * 8) as u8, (128 + y * 5) as u8, (255 - x * 7 - y) as u8])
        })
        .collect();
    let mut f = Fixture::rgb8(rows, cols, &pixels);
    f.put(Tag(0x0028, 0x0004), VR::CS, "YBR_FULL");
    f.write(&dir.join("ybr.dcm"))
}

/// JPEG lossless (process 14) as DCMTK's `dcmcjpeg` writes it, which
/// names a quantisation table in its frame header (jpeg-decoder refused
/// such colour streams): every predictor, a point transform, signed 16-bit
/// CT-like samples and YBR_FULL colour. Grayscale equals the uncompressed
/// image level for level; both match dcmj2pnm. (YBR colour does not equal
/// the uncompressed rendering even in DCMTK: libjpeg converts YCbCr with
/// its own fixed-point formula, DCMTK's native path with another.)
#[test]
fn jpeg_lossless_from_dcmcjpeg_equals_the_source() {
    // Without DCMTK: a stream written in code, all samples 128.
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fixture::mono_module(16, 32, 8, 8, "MONOCHROME2");
    f.transfer_syntax("1.2.840.10008.1.2.4.70")
        .encapsulated(vec![], vec![jpeg_lossless_flat(32, 16)]);
    let flat = f.write(&dir.path().join("flat.dcm"));
    let png = export_png(&["--window", "128,256"], &flat);
    assert!(png.data.iter().all(|&v| v == 128), "{:?}", &png.data[..8]);
    if !dcmj2pnm_available() {
        return;
    }
    let (rows, cols) = (24u16, 36u16);
    let ct: Vec<u16> = (0..rows * cols)
        .map(|i| ((i % cols) * 90 + (i / cols) * 7) as i16 as u16 ^ 0x8000)
        .collect();
    let mut f = Fixture::mono16(rows, cols, &ct, "MONOCHROME2");
    f.put_u16(Tag(0x0028, 0x0103), 1);
    let sources = [f.write(&dir.path().join("ct.dcm")), ybr_full(dir.path())];
    for source in &sources {
        let reference = export_png(&["--window", "minmax"], source);
        let mut options: Vec<Vec<&str>> = ["1", "2", "3", "4", "5", "6", "7"]
            .iter()
            .map(|sv| vec!["+el", "+sv", sv])
            .collect();
        options.push(vec!["+e1"]);
        // A point transform drops low bits: not lossless, DCMTK only.
        options.push(vec!["+el", "+sv", "1", "+pt", "2"]);
        for (i, option) in options.iter().enumerate() {
            let input = source.with_file_name(format!(
                "{}_ll{i}.dcm",
                source.file_stem().unwrap().to_string_lossy()
            ));
            dcmtk_run("dcmcjpeg", option, source, &input);
            if source == &sources[0] && !option.contains(&"+pt") {
                // Grayscale: nothing but the decoder between the two.
                let png = export_png(&["--window", "minmax"], &input);
                let differ = png.data.iter().zip(&reference.data).filter(|(a, b)| a != b);
                assert_eq!(differ.count(), 0, "{option:?}: not lossless");
            }
            assert_matches_dcmtk(&input, &["--window", "minmax"], &["+Wm"]);
        }
    }
}

/// JPEG-LS keeps YBR_FULL samples as they are (CharLS does not convert):
/// they are converted for display, as DCMTK's dcml2pnm does.
#[test]
fn jpeg_ls_ybr_full_matches_dcmtk() {
    if !dcmj2pnm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = ybr_full(dir.path());
    for (name, options) in [("lossless", &[][..]), ("near", &["+en", "+md", "2"][..])] {
        let input = dir.path().join(format!("jls_{name}.dcm"));
        dcmtk_run("dcmcjpls", options, &source, &input);
        assert_matches_dcmtk(&input, &[], &[]);
    }
}

/// A 16-bit PALETTE COLOR image whose tables are segmented (PS3.3
/// C.7.9.2: discrete, linear and indirect segments), as 16-bit palettes
/// often are. DCMTK does not read segmented tables, so the same image
/// with the tables written out in full is what dcmj2pnm renders; ours of
/// the segmented file must match it.
#[test]
fn segmented_sixteen_bit_palette() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (16u16, 64u16);
    let indices: Vec<u16> = (0..rows * cols).map(|i| (i * 5) % 1024).collect();
    // Red: a ramp 0 -> 65535 over 1024 entries. Green: 4 discrete values,
    // a ramp down to 0 over 508, then the two segments again (indirect).
    // Blue: constant 30000 then a ramp up.
    let red: Vec<u16> = vec![0, 1, 0, 1, 1023, 65535];
    let green: Vec<u16> = vec![0, 4, 65535, 40000, 20000, 10000, 1, 508, 0, 2, 2, 0, 0];
    let blue: Vec<u16> = vec![0, 1, 30000, 1, 511, 30000, 1, 512, 60000];
    let expand = |segments: &[u16]| -> Vec<u16> {
        // An independent expansion: the test's own reading of C.7.9.2.
        let mut out: Vec<u16> = Vec::new();
        let mut i = 0;
        let mut pending: Vec<(usize, usize)> = Vec::new();
        loop {
            if i >= segments.len() {
                match pending.pop() {
                    Some((back, _)) => i = back,
                    None => break,
                }
                continue;
            }
            match segments[i] {
                0 => {
                    let n = usize::from(segments[i + 1]);
                    out.extend(&segments[i + 2..i + 2 + n]);
                    i += 2 + n;
                }
                1 => {
                    let n = usize::from(segments[i + 1]);
                    let (y0, y1) = (f64::from(*out.last().unwrap()), f64::from(segments[i + 2]));
                    out.extend(
                        (1..=n).map(|k| (y0 + (y1 - y0) * k as f64 / n as f64).round() as u16),
                    );
                    i += 3;
                }
                _ => {
                    // Indirect: replay the first `n` segments from offset 0.
                    let n = usize::from(segments[i + 1]);
                    let mut j = 0;
                    for _ in 0..n {
                        if segments[j] == 0 {
                            let m = usize::from(segments[j + 1]);
                            out.extend(&segments[j + 2..j + 2 + m]);
                            j += 2 + m;
                        } else {
                            let m = usize::from(segments[j + 1]);
                            let (y0, y1) =
                                (f64::from(*out.last().unwrap()), f64::from(segments[j + 2]));
                            out.extend(
                                (1..=m)
                                    .map(|k| (y0 + (y1 - y0) * k as f64 / m as f64).round() as u16),
                            );
                            j += 3;
                        }
                    }
                    i += 4;
                }
            }
        }
        out.truncate(1024);
        out
    };
    let build = |name: &str, segmented: bool| {
        let mut f = Fixture::mono16(rows, cols, &indices, "PALETTE COLOR");
        for (c, table) in [&red, &green, &blue].into_iter().enumerate() {
            let c = c as u16;
            f.put_raw(
                Tag(0x0028, 0x1101 + c),
                VR::US,
                PrimitiveValue::U16(vec![1024, 0, 16].into()),
            );
            let (tag, words) = if segmented {
                (Tag(0x0028, 0x1221 + c), table.clone())
            } else {
                (Tag(0x0028, 0x1201 + c), expand(table))
            };
            let bytes: Vec<u8> = words.iter().flat_map(|v| v.to_le_bytes()).collect();
            f.put_raw(tag, VR::OW, PrimitiveValue::from(bytes));
        }
        f.write(&dir.path().join(format!("{name}.dcm")))
    };
    let segmented = build("segmented", true);
    let full = build("full", false);
    assert_eq!(expand(&red).len(), 1024);
    assert_eq!(expand(&green).len(), 1024);
    assert_eq!(expand(&blue).len(), 1024);
    let ours = export_png(&[], &segmented);
    assert_eq!(ours.data, export_png(&[], &full).data);
    if dcmj2pnm_available() {
        assert_matches_dcmtk_of(&segmented, &full, &[], &[]);
    }
}
