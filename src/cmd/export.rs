//! `dicommanager export`: one file to one PNG, or a folder to a folder of
//! PNGs in parallel, with failures reported per file and counted.

use std::path::{Path, PathBuf};

use dicommanager::codec::sniff;
use dicommanager::engine::Progress;
use dicommanager::export::{
    ExportError, ExportOptions, Exported, Frames, PixelError, export_file, output_path,
};
use dicommanager::render::RenderOptions;
use dicommanager::sink::{ImageSink, PngSink};
use dicommanager::walk::discover;
use rayon::prelude::*;

use crate::cli::ExportArgs;
use crate::exit::ExitCode;
use crate::progress::Bar;

pub fn run(args: &ExportArgs) -> ExitCode {
    let options = ExportOptions {
        render: RenderOptions {
            window: args.window,
            depth: args.bits,
        },
        frames: if args.all_frames {
            Frames::All
        } else {
            Frames::One(args.frame.map_or(0, |n| n - 1))
        },
    };
    let sink = PngSink;
    if args.source.is_dir() {
        run_folder(args, &options, &sink)
    } else if args.source.is_file() {
        run_file(args, &options, &sink)
    } else {
        eprintln!("error: {}: no such file or folder", args.source.display());
        ExitCode::Usage
    }
}

/// Where a single file's image goes: into `dest` when it is a folder (an
/// existing one, or a name without extension, created), else to `dest`
/// itself, which must end in `.png` (only PNG is written: a `.jpg` name
/// would get PNG bytes under a JPEG name). Missing folders are created.
fn single_output(args: &ExportArgs, sink: &dyn ImageSink) -> Result<PathBuf, String> {
    let dest = &args.dest;
    let as_folder = dest.is_dir()
        || dest
            .as_os_str()
            .to_string_lossy()
            .ends_with(std::path::MAIN_SEPARATOR)
        || (dest.extension().is_none() && !dest.exists());
    if as_folder {
        std::fs::create_dir_all(dest)
            .map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
        return Ok(output_path(
            args.source.parent().unwrap_or(Path::new("")),
            &args.source,
            dest,
            sink.extension(),
        ));
    }
    let extension = dest
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if extension.as_deref() != Some(sink.extension()) {
        return Err(format!(
            "{}: export writes PNG only; name the file .{} or give a folder",
            dest.display(),
            sink.extension()
        ));
    }
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    Ok(dest.clone())
}

fn run_file(args: &ExportArgs, options: &ExportOptions, sink: &dyn ImageSink) -> ExitCode {
    let output = match single_output(args, sink) {
        Ok(output) => output,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::Usage;
        }
    };
    match export_file(&args.source, &output, sink, options) {
        Ok(exported) => {
            if !args.verbosity.quiet {
                for (path, frame) in exported.written.iter().zip(&exported.frames) {
                    println!(
                        "wrote {}{}",
                        path.display(),
                        frame_note(args, *frame, &exported)
                    );
                }
            }
            ExitCode::Success
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::SomeFailed
        }
    }
}

/// For a multi-frame source, which frame an image is, so that nobody
/// takes the first frame of a cine for the whole object.
fn frame_note(args: &ExportArgs, frame: u32, exported: &Exported) -> String {
    let total = exported.frames_in_file;
    if total <= 1 {
        String::new()
    } else if args.frame.is_none() && !args.all_frames {
        format!(" (frame {frame} of {total}; --frame N or --all-frames for the others)")
    } else {
        format!(" (frame {frame} of {total})")
    }
}

/// What happened to one file of a folder.
enum Outcome {
    /// Images written, and whether the file had frames left unwritten.
    Written(usize, bool),
    NotDicom,
    NoPixelData,
    Failed(ExportError),
}

fn run_folder(args: &ExportArgs, options: &ExportOptions, sink: &dyn ImageSink) -> ExitCode {
    if let Err(err) = std::fs::create_dir_all(&args.dest) {
        eprintln!("error: cannot create {}: {err}", args.dest.display());
        return ExitCode::Usage;
    }
    let found = discover(&args.source, Some(&args.dest));
    for err in &found.errors {
        eprintln!("warning: skipped {err}");
    }
    let bar = Bar::new(args.verbosity.quiet);
    bar.start(found.files.len() as u64);
    let work = || -> Vec<Outcome> {
        found
            .files
            .par_iter()
            .map(|file| {
                let outcome = export_one(&args.source, file, &args.dest, sink, options);
                bar.advance();
                outcome
            })
            .collect()
    };
    let outcomes = match args.jobs {
        Some(n) => match rayon::ThreadPoolBuilder::new()
            .num_threads(n.into())
            .build()
        {
            Ok(pool) => pool.install(work),
            Err(err) => {
                eprintln!("error: cannot start {n} worker threads: {err}");
                return ExitCode::Usage;
            }
        },
        None => work(),
    };
    bar.finish();

    // Reported in walk order, whatever order the workers finished in.
    let (mut images, mut files, mut not_dicom, mut no_pixels, mut failed) = (0, 0, 0, 0, 0);
    let mut partly = 0;
    for (path, outcome) in found.files.iter().zip(outcomes) {
        match outcome {
            Outcome::Written(n, frames_left) => {
                if args.verbosity.verbose {
                    println!("exported {}", path.display());
                }
                files += 1;
                images += n;
                partly += usize::from(frames_left);
            }
            Outcome::NotDicom => not_dicom += 1,
            Outcome::NoPixelData => {
                no_pixels += 1;
                if !args.verbosity.quiet {
                    eprintln!("skipped {}: no pixel data", path.display());
                }
            }
            Outcome::Failed(err) => {
                failed += 1;
                eprintln!("error: {err}");
            }
        }
    }
    if !args.verbosity.quiet {
        println!("files seen      {}", found.files.len());
        println!("exported        {files} ({images} images)");
        println!("no pixel data   {no_pixels}");
        println!("not DICOM       {not_dicom}");
        println!("failed          {failed}");
        if partly > 0 {
            println!(
                "multi-frame     {partly} (one frame written each; --all-frames for every frame)"
            );
        }
    }
    if failed > 0 || !found.errors.is_empty() {
        ExitCode::SomeFailed
    } else {
        ExitCode::Success
    }
}

fn export_one(
    root: &Path,
    file: &Path,
    out_dir: &Path,
    sink: &dyn ImageSink,
    options: &ExportOptions,
) -> Outcome {
    match sniff(file) {
        Ok(Some(_)) => {}
        Ok(None) => return Outcome::NotDicom,
        Err(err) => {
            return Outcome::Failed(ExportError {
                path: file.to_path_buf(),
                source: PixelError::Io(err),
            });
        }
    }
    let output: PathBuf = output_path(root, file, out_dir, sink.extension());
    if let Some(parent) = output.parent()
        && let Err(err) = std::fs::create_dir_all(parent)
    {
        return Outcome::Failed(ExportError {
            path: file.to_path_buf(),
            source: PixelError::Io(err),
        });
    }
    match export_file(file, &output, sink, options) {
        Ok(exported) => Outcome::Written(
            exported.written.len(),
            exported.written.len() < exported.frames_in_file as usize,
        ),
        Err(ExportError {
            source: PixelError::NoPixelData,
            ..
        }) => Outcome::NoPixelData,
        Err(err) => Outcome::Failed(err),
    }
}
