//! Corpus-wide checks, run when the corpus is found (see `crate::util::corpus`)
//! folder: every image file exports, and our 8-bit renderings (min-max, and
//! the file's own window or VOI LUT) match DCMTK's `dcmj2pnm --write-png`
//! (`dcml2pnm` for JPEG-LS) within one gray level on every sample. DCMTK is
//! run with `-O` (no overlays): it burns overlay planes into the image and
//! `export` does not. The DCMTK check is skipped without DCMTK unless
//! `DICOMMANAGER_REQUIRE_DCMTK` is set (CI).

use std::path::{Path, PathBuf};
use std::process::Command;

use dicommanager::codec::sniff;
use dicommanager::export::{PixelError, PixelSource};
use dicommanager::render::{ColorKind, Depth, Modality, RenderOptions, WindowChoice, render};
use dicommanager::walk::discover;

use super::harness::{corpus, read_png};

/// Share of samples that must be within one level of DCMTK's: all of them
/// (issue 15); it was 99% while JPEG went through jpeg-decoder.
const REQUIRED_MATCH: f64 = 1.0;

/// Image files (relative to the corpus) we know we cannot decode, and why.
/// The tests fail if one of them starts to work, so the list stays true.
// 12-bit JPEG extended and 32-bit RLE were here until the project decoded
// them itself (src/export/jpeg.rs, src/export/rle.rs).
const KNOWN_GAPS: &[(&str, &str)] = &[];

fn known_gap(root: &Path, path: &Path) -> Option<&'static str> {
    let relative = path.strip_prefix(root).ok()?;
    KNOWN_GAPS
        .iter()
        .find(|(p, _)| relative == Path::new(p))
        .map(|(_, why)| *why)
}

/// Whether DCMTK's +Wm output may legitimately differ from ours: DCMTK
/// truncates modality values to integers, which with a fractional rescale
/// (slope 0.001) quantises the image. With a positive linear rescale the
/// min-max rendering does not depend on the rescale at all, so such files
/// are compared against `dcmj2pnm +Wm -M` (no modality step) instead.
fn fractional_positive_rescale(path: &Path) -> bool {
    match PixelSource::open(path).map(|s| s.imaging().modality.clone()) {
        Ok(Modality::Rescale { slope, intercept }) => {
            slope > 0.0 && (slope.fract() != 0.0 || intercept.fract() != 0.0)
        }
        _ => false,
    }
}

fn dicom_files(root: &Path) -> Vec<PathBuf> {
    discover(root, None)
        .files
        .into_iter()
        .filter(|p| matches!(sniff(p), Ok(Some(_))))
        .collect()
}

/// Renders frame 1 with the min-max window, 8 bits.
fn ours(path: &Path) -> Result<dicommanager::render::Image, PixelError> {
    ours_with(path, WindowChoice::MinMax)
}

/// Renders frame 1 with `window`, 8 bits.
fn ours_with(path: &Path, window: WindowChoice) -> Result<dicommanager::render::Image, PixelError> {
    let source = PixelSource::open(path)?;
    let (bytes, imaging) = source.frame(0)?;
    let options = RenderOptions {
        window,
        depth: Depth::Eight,
    };
    Ok(render(&bytes, &imaging, &options)?)
}

#[test]
fn every_image_file_of_the_corpus_exports() {
    let Some(root) = corpus() else {
        return;
    };
    let (mut images, mut ok, mut no_pixels, mut not_images) = (0, 0, 0, 0);
    // (path, why, whether it is an image whose pixels failed)
    let mut failures = Vec::new();
    for path in dicom_files(&root) {
        match ours(&path) {
            Ok(_) => {
                images += 1;
                ok += 1;
            }
            Err(PixelError::NoPixelData) => no_pixels += 1,
            // Pixel data without Rows / Columns is not an image: reported
            // as an error by export, not counted as an image here.
            Err(err @ PixelError::Missing { .. }) => {
                not_images += 1;
                eprintln!("  not an image {}: {err}", path.display());
            }
            Err(err @ (PixelError::Parse(_) | PixelError::NotDicom | PixelError::Io(_))) => {
                failures.push((path, err.to_string(), false));
            }
            Err(err) => {
                images += 1;
                failures.push((path, err.to_string(), true));
            }
        }
    }
    eprintln!(
        "image files {images}, exported {ok}, without pixel data {no_pixels}, \
         pixel data but no image attributes {not_images}, unreadable {}",
        failures.iter().filter(|f| !f.2).count()
    );
    for (path, why, image) in &failures {
        let kind = if *image { "image" } else { "unreadable" };
        match known_gap(&root, path) {
            Some(reason) => eprintln!("  known gap {}: {reason} ({why})", path.display()),
            None => eprintln!("  cannot export ({kind}) {}: {why}", path.display()),
        }
    }
    // Damaged files may fail, in broken/ only; elsewhere only known gaps.
    let unexpected: Vec<_> = failures
        .iter()
        .filter(|(p, _, _)| !p.components().any(|c| c.as_os_str() == "broken"))
        .filter(|(p, _, _)| known_gap(&root, p).is_none())
        .collect();
    for (gap, _) in KNOWN_GAPS {
        assert!(
            failures.iter().any(|(p, _, _)| p.ends_with(gap)),
            "{gap} exports now: remove it from KNOWN_GAPS and the docs"
        );
    }
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

/// Runs DCMTK's min-max rendering on `path` and reads its PNG; `None` when
/// DCMTK cannot.
fn dcmtk(path: &Path, out: &Path, extra: &[&str]) -> Option<super::harness::Png> {
    dcmtk_with(path, out, &[&["+Wm"], extra].concat())
}

/// Runs DCMTK with `args` on `path` and reads its PNG; `None` when DCMTK
/// cannot.
fn dcmtk_with(path: &Path, out: &Path, args: &[&str]) -> Option<super::harness::Png> {
    let status = Command::new(dcmtk_tool(path))
        .args(["--write-png", "-O"])
        .args(args)
        .arg(path)
        .arg(out)
        .output()
        .expect("DCMTK runs");
    (status.status.success() && out.exists()).then(|| read_png(out))
}

/// Share of our samples within one level of DCMTK's, or why they cannot be
/// compared.
fn agreement(
    theirs: &super::harness::Png,
    mine: &dicommanager::render::Image,
) -> Result<f64, String> {
    let their_channels = match theirs.color {
        png::ColorType::Grayscale => 1,
        png::ColorType::Rgb => 3,
        other => return Err(format!("unexpected DCMTK output {other:?}")),
    };
    let mine_channels = match mine.color {
        ColorKind::Gray => 1,
        ColorKind::Rgb => 3,
    };
    if (theirs.width, theirs.height, their_channels) != (mine.width, mine.height, mine_channels) {
        return Err(format!(
            "DCMTK {}x{}x{}, ours {}x{}x{}",
            theirs.width, theirs.height, their_channels, mine.width, mine.height, mine_channels
        ));
    }
    let close = theirs
        .data
        .iter()
        .zip(&mine.samples)
        .filter(|&(&t, &m)| (i32::from(t) - i32::from(m)).abs() <= 1)
        .count();
    Ok(close as f64 / theirs.data.len().max(1) as f64)
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

#[test]
fn matches_dcmtk_within_one_level() {
    let Some(root) = corpus() else {
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
    let (mut compared, mut dcmtk_cannot, mut without_modality) = (0, 0, 0);
    let mut worst: f64 = 1.0;
    let mut failures = Vec::new();
    for (i, path) in dicom_files(&root).into_iter().enumerate() {
        let name = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let reference = tmp.path().join(format!("{i}.png"));
        let Some(theirs) = dcmtk(&path, &reference, &[]) else {
            dcmtk_cannot += 1;
            continue;
        };
        let mine = match ours(&path) {
            Ok(image) => image,
            Err(err) => {
                if let Some(reason) = known_gap(&root, &path) {
                    eprintln!("  known gap {name}: {reason}");
                } else {
                    failures.push(format!("{name}: DCMTK renders it, we fail: {err}"));
                }
                continue;
            }
        };
        let mut share = match agreement(&theirs, &mine) {
            Ok(share) => share,
            Err(why) => {
                failures.push(format!("{name}: {why}"));
                continue;
            }
        };
        let mut note = "";
        if share < REQUIRED_MATCH && fractional_positive_rescale(&path) {
            let plain = tmp.path().join(format!("{i}-M.png"));
            if let Some(Ok(s)) = dcmtk(&path, &plain, &["-M"]).map(|t| agreement(&t, &mine)) {
                share = s;
                without_modality += 1;
                note = "  (vs dcmj2pnm -M: DCMTK truncates fractional rescale)";
            }
        }
        compared += 1;
        worst = worst.min(share);
        eprintln!("{:>8.3}% within 1 level  {name}{note}", share * 100.0);
        if share < REQUIRED_MATCH {
            failures.push(format!(
                "{name}: only {:.2}% of samples within 1 level",
                share * 100.0
            ));
        }
    }
    eprintln!(
        "DCMTK comparison: {compared} files compared ({without_modality} against -M), worst {:.3}%, {} failures; DCMTK cannot render {dcmtk_cannot}",
        worst * 100.0,
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(compared > 0, "no file compared");
}

/// The default rendering (the file's first window, else its first VOI LUT)
/// against `dcmj2pnm +Wi 1` / `+Wl 1` on every corpus file that has one.
#[test]
fn file_window_matches_dcmtk_within_one_level() {
    let Some(root) = corpus() else {
        return;
    };
    if !have("dcmj2pnm") {
        assert!(
            std::env::var_os("DICOMMANAGER_REQUIRE_DCMTK").is_none(),
            "DCMTK (dcmj2pnm) is required but not installed"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (mut compared, mut worst) = (0, 1.0f64);
    let mut failures = Vec::new();
    for (i, path) in dicom_files(&root).into_iter().enumerate() {
        let Ok(source) = PixelSource::open(&path) else {
            continue;
        };
        let imaging = source.imaging();
        let args: &[&str] = match imaging.windows.first() {
            Some(w) if w.width >= 1.0 => &["+Wi", "1"],
            Some(_) => continue,
            None if !imaging.voi_luts.is_empty() => &["+Wl", "1"],
            None => continue,
        };
        let name = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let reference = tmp.path().join(format!("{i}.png"));
        let Some(theirs) = dcmtk_with(&path, &reference, args) else {
            continue;
        };
        let mine = match ours_with(&path, WindowChoice::File) {
            Ok(image) => image,
            Err(err) => {
                failures.push(format!("{name}: DCMTK renders it, we fail: {err}"));
                continue;
            }
        };
        match agreement(&theirs, &mine) {
            Ok(share) => {
                compared += 1;
                worst = worst.min(share);
                eprintln!(
                    "{:>8.3}% within 1 level  {name} ({})",
                    share * 100.0,
                    args.join(" ")
                );
                if share < REQUIRED_MATCH {
                    failures.push(format!("{name}: only {:.2}% within 1 level", share * 100.0));
                }
            }
            Err(why) => failures.push(format!("{name}: {why}")),
        }
    }
    eprintln!(
        "file window vs DCMTK: {compared} files compared, worst {:.3}%, {} failures",
        worst * 100.0,
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(compared > 0, "no file with a window compared");
}
