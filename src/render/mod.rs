//! From decoded pixel samples to display values: the grayscale pipeline
//! (Modality LUT, VOI window or LUT, MONOCHROME1 polarity) and the colour
//! one (RGB, YBR, palette to RGB), as PS3.3 C.7.6.3, C.11.1 and C.11.2 say.
//!
//! This layer knows nothing of files or codecs: it takes one frame of
//! native samples plus the attributes that describe them, so that every
//! step is unit-tested on numbers, and returns an [`Image`] that any
//! [`ImageSink`](crate::sink::ImageSink) can write.

mod color;
mod samples;
mod voi;

pub use color::Palette;
pub use samples::{PixelLayout, read_samples};
pub use voi::{Lut, VoiFunction, Window};
/// How the stored values of a sample are to be shown (0028,0004).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Photometric {
    Monochrome1,
    Monochrome2,
    Rgb,
    YbrFull,
    YbrFull422,
    /// YBR_PARTIAL_422/420, YBR_ICT, YBR_RCT: only seen compressed, where the
    /// codec already returns RGB.
    YbrOther(String),
    Palette,
}

impl Photometric {
    /// Parses the defined terms; `None` for anything else.
    pub fn parse(text: &str) -> Option<Photometric> {
        let term = text.trim_matches([' ', '\0']);
        Some(match term {
            "MONOCHROME1" => Photometric::Monochrome1,
            "MONOCHROME2" => Photometric::Monochrome2,
            "RGB" => Photometric::Rgb,
            "YBR_FULL" => Photometric::YbrFull,
            "YBR_FULL_422" => Photometric::YbrFull422,
            "PALETTE COLOR" => Photometric::Palette,
            t if t.starts_with("YBR_") => Photometric::YbrOther(t.to_string()),
            _ => return None,
        })
    }

    pub fn is_monochrome(&self) -> bool {
        matches!(self, Photometric::Monochrome1 | Photometric::Monochrome2)
    }
}

/// The modality transformation (PS3.3 C.11.1): a LUT when the file has a
/// Modality LUT Sequence, else rescale slope and intercept.
#[derive(Debug, Clone, PartialEq)]
pub enum Modality {
    Rescale { slope: f64, intercept: f64 },
    Lut(Lut),
}

impl Default for Modality {
    fn default() -> Self {
        Modality::Rescale {
            slope: 1.0,
            intercept: 0.0,
        }
    }
}

impl Modality {
    fn apply(&self, stored: i64) -> f64 {
        match self {
            Modality::Rescale { slope, intercept } => stored as f64 * slope + intercept,
            Modality::Lut(lut) => f64::from(lut.lookup(stored)),
        }
    }
}

/// Presentation LUT Shape (2050,0020): when present it, not the
/// Photometric Interpretation, decides the polarity (PS3.3 C.11.6; DCMTK
/// renders a MONOCHROME1 image marked IDENTITY without inverting it, and a
/// MONOCHROME2 one marked INVERSE inverted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentationShape {
    Identity,
    Inverse,
}

impl PresentationShape {
    /// Parses the defined terms; `None` for anything else (ignored, as
    /// DCMTK does).
    pub fn parse(text: &str) -> Option<PresentationShape> {
        match text.trim_matches([' ', '\0']) {
            "IDENTITY" => Some(PresentationShape::Identity),
            "INVERSE" => Some(PresentationShape::Inverse),
            _ => None,
        }
    }
}

/// Which VOI transformation to use, as chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowChoice {
    /// The file's first window, else its first VOI LUT, else min-max.
    File,
    /// The range of the frame's values after the modality transformation.
    MinMax,
    /// A window given by the user.
    Fixed(Window),
}

/// Bits per sample of the rendered image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Eight,
    Sixteen,
}

impl Depth {
    pub fn max_value(self) -> u16 {
        match self {
            Depth::Eight => u8::MAX.into(),
            Depth::Sixteen => u16::MAX,
        }
    }

    pub fn bits(self) -> u8 {
        match self {
            Depth::Eight => 8,
            Depth::Sixteen => 16,
        }
    }
}

/// Gray or colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorKind {
    Gray,
    Rgb,
}

impl ColorKind {
    pub fn channels(self) -> usize {
        match self {
            ColorKind::Gray => 1,
            ColorKind::Rgb => 3,
        }
    }
}

/// A rendered frame, ready for an image sink: `samples` holds
/// `width * height * channels` values in `0..=depth.max_value()`, row by row,
/// channels interleaved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub color: ColorKind,
    pub depth: Depth,
    pub samples: Vec<u16>,
}

/// Everything the pipeline needs to know about one frame besides its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Imaging {
    pub layout: PixelLayout,
    pub photometric: Photometric,
    pub modality: Modality,
    /// Window Center / Width pairs, in file order.
    pub windows: Vec<Window>,
    pub voi_function: VoiFunction,
    /// VOI LUT Sequence items, in file order.
    pub voi_luts: Vec<Lut>,
    pub palette: Option<Palette>,
    pub presentation: Option<PresentationShape>,
}

impl Imaging {
    /// Whether the gray levels are shown inverted (low values white).
    pub fn inverted(&self) -> bool {
        match self.presentation {
            Some(PresentationShape::Inverse) => true,
            Some(PresentationShape::Identity) => false,
            None => self.photometric == Photometric::Monochrome1,
        }
    }
}

/// Rendering options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderOptions {
    pub window: WindowChoice,
    pub depth: Depth,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            window: WindowChoice::File,
            depth: Depth::Eight,
        }
    }
}

/// Why a frame cannot be rendered.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum RenderError {
    #[error("frame has {got} bytes, {need} expected for {what}")]
    ShortFrame {
        got: usize,
        need: usize,
        what: String,
    },
    #[error("unsupported pixel layout: {0}")]
    Unsupported(String),
    #[error("PALETTE COLOR image without a usable palette")]
    NoPalette,
}

/// Renders one frame of native samples (`frame` as laid out by `imaging.layout`).
pub fn render(
    frame: &[u8],
    imaging: &Imaging,
    options: &RenderOptions,
) -> Result<Image, RenderError> {
    let values = read_samples(frame, &imaging.layout)?;
    let layout = &imaging.layout;
    let (width, height) = (layout.columns, layout.rows);
    match &imaging.photometric {
        p if p.is_monochrome() => {
            if layout.samples_per_pixel != 1 {
                return Err(RenderError::Unsupported(format!(
                    "{} samples per pixel for a monochrome image",
                    layout.samples_per_pixel
                )));
            }
            let samples = voi::render_gray(&values, imaging, options);
            Ok(Image {
                width,
                height,
                color: ColorKind::Gray,
                depth: options.depth,
                samples,
            })
        }
        Photometric::Palette => {
            let palette = imaging.palette.as_ref().ok_or(RenderError::NoPalette)?;
            Ok(Image {
                width,
                height,
                color: ColorKind::Rgb,
                depth: options.depth,
                samples: palette.apply(&values, options.depth),
            })
        }
        photometric => Ok(Image {
            width,
            height,
            color: ColorKind::Rgb,
            depth: options.depth,
            samples: color::to_rgb(&values, layout, photometric, options.depth)?,
        }),
    }
}
