//! `dicommanager export`: one file to one PNG, or a folder to a folder of
//! PNGs in parallel, with failures reported per file and counted.

use std::path::{Path, PathBuf};

use dicommanager::engine::Progress;
use dicommanager::export::{
    ExportError, ExportOptions, Frames, PixelError, export_file, output_path,
};
use dicommanager::render::RenderOptions;
use dicommanager::sink::{ImageSink, PngSink};
use dicommanager::stream::sniff;
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

fn run_file(args: &ExportArgs, options: &ExportOptions, sink: &dyn ImageSink) -> ExitCode {
    let output = if args.dest.is_dir() {
        output_path(
            args.source.parent().unwrap_or(Path::new("")),
            &args.source,
            &args.dest,
            sink.extension(),
        )
    } else {
        args.dest.clone()
    };
    match export_file(&args.source, &output, sink, options) {
        Ok(written) => {
            if !args.quiet {
                for path in written {
                    println!("wrote {}", path.display());
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

/// What happened to one file of a folder.
enum Outcome {
    Written(usize),
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
    let bar = Bar::new(args.quiet);
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
    for (path, outcome) in found.files.iter().zip(outcomes) {
        match outcome {
            Outcome::Written(n) => {
                files += 1;
                images += n;
            }
            Outcome::NotDicom => not_dicom += 1,
            Outcome::NoPixelData => {
                no_pixels += 1;
                if !args.quiet {
                    eprintln!("skipped {}: no pixel data", path.display());
                }
            }
            Outcome::Failed(err) => {
                failed += 1;
                eprintln!("error: {err}");
            }
        }
    }
    if !args.quiet {
        println!("files seen      {}", found.files.len());
        println!("exported        {files} ({images} images)");
        println!("no pixel data   {no_pixels}");
        println!("not DICOM       {not_dicom}");
        println!("failed          {failed}");
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
        Ok(written) => Outcome::Written(written.len()),
        Err(ExportError {
            source: PixelError::NoPixelData,
            ..
        }) => Outcome::NoPixelData,
        Err(err) => Outcome::Failed(err),
    }
}
