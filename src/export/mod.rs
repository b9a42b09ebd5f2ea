//! `export`: DICOM pixel data to images. Opening and decoding live in
//! [`source`] (with the project's own JPEG and RLE decoders in `jpeg` and
//! `rle`, and `guard` keeping any decoder's panic to one error), the
//! display pipeline in [`crate::render`], the file format behind
//! [`crate::sink::ImageSink`]; this module ties them together for one file
//! and names the outputs.

mod jpeg;
mod rle;
mod source;

use std::path::{Path, PathBuf};

use dicom_core::Tag;

pub use source::{PixelSource, open_object};

use crate::guard;
use crate::render::{RenderError, RenderOptions, render};
use crate::sink::{ImageSink, SinkError};

/// Why the pixels of one file could not be exported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PixelError {
    #[error("not a DICOM file")]
    NotDicom,
    #[error("cannot read the file: {0}")]
    Io(#[source] std::io::Error),
    #[error("cannot parse the file: {0}")]
    Parse(String),
    #[error("no pixel data")]
    NoPixelData,
    #[error("{name} {tag} is missing")]
    Missing { name: &'static str, tag: Tag },
    #[error("{name} {tag} has an invalid value {value:?}")]
    Invalid {
        name: &'static str,
        tag: Tag,
        value: String,
    },
    #[error("frame {frame} requested, the file has {frames}")]
    FrameOutOfRange { frame: u32, frames: u32 },
    #[error("pixel data of frame {frame} is truncated: {got} bytes of {need}")]
    Truncated { frame: u32, got: usize, need: usize },
    #[error("cannot decode pixel data in transfer syntax {transfer_syntax}: {message}")]
    Decode {
        transfer_syntax: String,
        message: String,
    },
    #[error("cannot render: {0}")]
    Render(#[from] RenderError),
    /// Something below export (the parser, a library) panicked: a bug or a
    /// limit, reported for this file rather than taking the run down.
    /// (A decoder's panic is a [`PixelError::Decode`] naming the syntax.)
    #[error("the {step} crashed on this file ({message})")]
    Panicked { step: &'static str, message: String },
    #[error(transparent)]
    Write(#[from] SinkError),
}

/// A failure with the file it happened to.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct ExportError {
    pub path: PathBuf,
    #[source]
    pub source: PixelError,
}

/// Which frames of a multi-frame object to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frames {
    /// One frame, 0-based.
    One(u32),
    /// Every frame, each to `name_0001.png`, `name_0002.png`, ...
    All,
}

/// Options of one export.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExportOptions {
    pub render: RenderOptions,
    pub frames: Frames,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            render: RenderOptions::default(),
            frames: Frames::One(0),
        }
    }
}

/// What [`export_file`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The images written, in frame order.
    pub written: Vec<PathBuf>,
    /// The frames written, 1-based, one per image.
    pub frames: Vec<u32>,
    /// How many frames the source holds.
    pub frames_in_file: u32,
}

/// Exports `input` to `output` (the image path for a single frame; with
/// [`Frames::All`], the frame number is added before the extension).
/// Never panics: a panic in a decoder is returned as
/// [`PixelError::Panicked`].
pub fn export_file(
    input: &Path,
    output: &Path,
    sink: &dyn ImageSink,
    options: &ExportOptions,
) -> Result<Exported, ExportError> {
    let fail = |source: PixelError| ExportError {
        path: input.to_path_buf(),
        source,
    };
    // Decoders are guarded one level down, with the transfer syntax in the
    // message; this catches whatever else panics (the parser, rendering).
    guard::catch_quietly(|| export_unguarded(input, output, sink, options))
        .unwrap_or_else(|message| {
            Err(PixelError::Panicked {
                step: "export",
                message,
            })
        })
        .map_err(fail)
}

fn export_unguarded(
    input: &Path,
    output: &Path,
    sink: &dyn ImageSink,
    options: &ExportOptions,
) -> Result<Exported, PixelError> {
    let pixels = PixelSource::open(input)?;
    let frames: Vec<u32> = match options.frames {
        Frames::One(n) => vec![n],
        Frames::All => (0..pixels.frame_count()).collect(),
    };
    let mut exported = Exported {
        written: Vec::with_capacity(frames.len()),
        frames: Vec::with_capacity(frames.len()),
        frames_in_file: pixels.frame_count(),
    };
    for index in frames {
        let (bytes, imaging) = pixels.frame(index)?;
        let image = render(&bytes, &imaging, &options.render)?;
        let path = match options.frames {
            Frames::One(_) => output.to_path_buf(),
            Frames::All => frame_path(output, index + 1),
        };
        sink.write(&image, &path)?;
        exported.written.push(path);
        exported.frames.push(index + 1);
    }
    Ok(exported)
}

/// `out/name.png` → `out/name_0003.png` for frame 3 (1-based).
pub fn frame_path(output: &Path, frame: u32) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match output.extension() {
        Some(ext) => format!("{stem}_{frame:04}.{}", ext.to_string_lossy()),
        None => format!("{stem}_{frame:04}"),
    };
    output.with_file_name(name)
}

/// Where folder mode writes the image of `input` (found under `root`):
/// the same relative folder under `out_dir`, a DICOM extension (`.dcm`,
/// `.dicom`, `.dic`) replaced, any other name kept whole so that UID-named
/// files stay distinct (`a/CT.dcm` → `OUT/a/CT.png`, `a/1.2.3` →
/// `OUT/a/1.2.3.png`).
pub fn output_path(root: &Path, input: &Path, out_dir: &Path, extension: &str) -> PathBuf {
    let relative = input.strip_prefix(root).unwrap_or(input);
    let mut target = out_dir.join(relative);
    let is_dicom_ext = relative.extension().is_some_and(|e| {
        let e = e.to_string_lossy().to_ascii_lowercase();
        matches!(e.as_str(), "dcm" | "dicom" | "dic")
    });
    let base = if is_dicom_ext {
        relative.file_stem()
    } else {
        relative.file_name()
    };
    let base = base.map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned());
    target.set_file_name(format!("{base}.{extension}"));
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_paths_number_from_one_with_four_digits() {
        assert_eq!(
            frame_path(Path::new("out/cine.png"), 3),
            PathBuf::from("out/cine_0003.png")
        );
        assert_eq!(frame_path(Path::new("x"), 12), PathBuf::from("x_0012"));
    }

    #[test]
    fn folder_outputs_mirror_the_source_tree() {
        let root = Path::new("/data/in");
        assert_eq!(
            output_path(
                root,
                Path::new("/data/in/a/b/CT.dcm"),
                Path::new("/o"),
                "png"
            ),
            PathBuf::from("/o/a/b/CT.png")
        );
        assert_eq!(
            output_path(root, Path::new("/data/in/CR1/6154"), Path::new("/o"), "png"),
            PathBuf::from("/o/CR1/6154.png")
        );
        assert_eq!(
            output_path(
                root,
                Path::new("/data/in/1.2.840.5"),
                Path::new("/o"),
                "png"
            ),
            PathBuf::from("/o/1.2.840.5.png")
        );
    }
}
