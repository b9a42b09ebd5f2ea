//! Corpus-wide checks, run only when `DICOMMANAGER_CORPUS` names the corpus
//! folder: every image file exports, and our 8-bit min-max rendering
//! matches DCMTK's `dcmj2pnm --write-png +Wm` (`dcml2pnm` for JPEG-LS)
//! within one gray level on at least 99% of samples. The DCMTK check is
//! skipped without DCMTK unless `DICOMMANAGER_REQUIRE_DCMTK` is set (CI).

use std::path::{Path, PathBuf};
use std::process::Command;

use dicommanager::export::{PixelError, PixelSource};
use dicommanager::render::{ColorKind, Depth, RenderOptions, WindowChoice, render};
use dicommanager::stream::sniff;
use dicommanager::walk::discover;

use super::harness::{corpus, read_png};

/// Share of samples that must be within one level of DCMTK's.
const REQUIRED_MATCH: f64 = 0.99;

fn dicom_files(root: &Path) -> Vec<PathBuf> {
    discover(root, None)
        .files
        .into_iter()
        .filter(|p| matches!(sniff(p), Ok(Some(_))))
        .collect()
}

/// Renders frame 1 with the min-max window, 8 bits.
fn ours(path: &Path) -> Result<dicommanager::render::Image, PixelError> {
    let source = PixelSource::open(path)?;
    let (bytes, imaging) = source.frame(0)?;
    let options = RenderOptions {
        window: WindowChoice::MinMax,
        depth: Depth::Eight,
    };
    Ok(render(&bytes, &imaging, &options)?)
}

#[test]
fn every_image_file_of_the_corpus_exports() {
    let Some(root) = corpus() else {
        eprintln!("skipped: DICOMMANAGER_CORPUS is not set");
        return;
    };
    let (mut images, mut ok, mut no_pixels) = (0, 0, 0);
    let mut failures = Vec::new();
    for path in dicom_files(&root) {
        match ours(&path) {
            Ok(_) => {
                images += 1;
                ok += 1;
            }
            Err(PixelError::NoPixelData) => no_pixels += 1,
            // Not an image at all (broken meta, unparseable): counted apart.
            Err(err @ (PixelError::Parse(_) | PixelError::NotDicom | PixelError::Io(_))) => {
                failures.push((path, err.to_string(), false));
            }
            Err(err) => {
                images += 1;
                failures.push((path, err.to_string(), true));
            }
        }
    }
    eprintln!("image files {images}, exported {ok}, without pixel data {no_pixels}");
    for (path, why, image) in &failures {
        let kind = if *image { "image" } else { "unreadable" };
        eprintln!("  cannot export ({kind}) {}: {why}", path.display());
    }
    let unexpected: Vec<_> = failures
        .iter()
        .filter(|(p, _, _)| !p.components().any(|c| c.as_os_str() == "broken"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "files outside broken/ that do not export: {unexpected:#?}"
    );
    assert!(
        ok as f64 >= 0.9 * images as f64,
        "only {ok} of {images} image files export"
    );
}

/// Which DCMTK tool renders `path`, by its transfer syntax.
fn dcmtk_tool(path: &Path) -> &'static str {
    let jpeg_ls = PixelSource::open(path)
        .map(|s| s.transfer_syntax().starts_with("1.2.840.10008.1.2.4.8"))
        .unwrap_or(false);
    if jpeg_ls { "dcml2pnm" } else { "dcmj2pnm" }
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

#[test]
fn matches_dcmtk_within_one_level() {
    let Some(root) = corpus() else {
        eprintln!("skipped: DICOMMANAGER_CORPUS is not set");
        return;
    };
    if !have("dcmj2pnm") {
        assert!(
            std::env::var_os("DICOMMANAGER_REQUIRE_DCMTK").is_none(),
            "DCMTK (dcmj2pnm) is required but not installed"
        );
        eprintln!("skipped: dcmj2pnm is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (mut compared, mut dcmtk_cannot) = (0, 0);
    let mut worst: f64 = 1.0;
    let mut failures = Vec::new();
    for (i, path) in dicom_files(&root).into_iter().enumerate() {
        let reference = tmp.path().join(format!("{i}.png"));
        let status = Command::new(dcmtk_tool(&path))
            .args(["--write-png", "+Wm"])
            .arg(&path)
            .arg(&reference)
            .output()
            .expect("DCMTK runs");
        if !status.status.success() || !reference.exists() {
            dcmtk_cannot += 1;
            continue;
        }
        let theirs = read_png(&reference);
        let mine = match ours(&path) {
            Ok(image) => image,
            Err(err) => {
                failures.push(format!(
                    "{}: DCMTK renders it, we fail: {err}",
                    path.display()
                ));
                continue;
            }
        };
        let their_channels = match theirs.color {
            png::ColorType::Grayscale => 1,
            png::ColorType::Rgb => 3,
            other => panic!("unexpected DCMTK output {other:?}"),
        };
        let mine_channels = match mine.color {
            ColorKind::Gray => 1,
            ColorKind::Rgb => 3,
        };
        if (theirs.width, theirs.height, their_channels) != (mine.width, mine.height, mine_channels)
        {
            failures.push(format!(
                "{}: DCMTK {}x{}x{}, ours {}x{}x{}",
                path.display(),
                theirs.width,
                theirs.height,
                their_channels,
                mine.width,
                mine.height,
                mine_channels
            ));
            continue;
        }
        compared += 1;
        let close = theirs
            .data
            .iter()
            .zip(&mine.samples)
            .filter(|&(&t, &m)| (i32::from(t) - i32::from(m)).abs() <= 1)
            .count();
        let share = close as f64 / theirs.data.len().max(1) as f64;
        worst = worst.min(share);
        eprintln!(
            "{:>7.3}% within 1 level  {}",
            share * 100.0,
            path.strip_prefix(&root).unwrap_or(&path).display()
        );
        if share < REQUIRED_MATCH {
            failures.push(format!(
                "{}: only {:.2}% of samples within 1 level",
                path.display(),
                share * 100.0
            ));
        }
    }
    eprintln!(
        "DCMTK comparison: {compared} files compared, worst {:.3}%, {} failures; DCMTK cannot render {dcmtk_cannot}",
        worst * 100.0,
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(compared > 0, "no file compared");
}
