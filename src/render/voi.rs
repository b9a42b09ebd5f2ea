//! The grayscale half of the pipeline: modality values, then a VOI window
//! or LUT (PS3.3 C.11.2), then polarity.

use super::{Imaging, WindowChoice};

/// A VOI window (Window Center / Window Width).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub center: f64,
    pub width: f64,
}

/// VOI LUT Function (0028,1056).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VoiFunction {
    #[default]
    Linear,
    LinearExact,
    Sigmoid,
}

/// A lookup table as described by a LUT Descriptor (PS3.3 C.11.1.1):
/// input values below `first` map to the first entry, above the last
/// one to the last entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lut {
    pub first: i64,
    /// Bits per entry (8 or 16 in practice).
    pub bits: u16,
    pub data: Vec<u16>,
}

impl Lut {
    pub fn lookup(&self, value: i64) -> u16 {
        let last = self.data.len().saturating_sub(1) as i64;
        let index = (value - self.first).clamp(0, last);
        self.data.get(index as usize).copied().unwrap_or(0)
    }

    /// The largest value an entry can hold.
    pub fn max_value(&self) -> f64 {
        2f64.powi(i32::from(self.bits.clamp(1, 16))) - 1.0
    }
}

impl Window {
    /// Maps `x` to `0..=ymax` (PS3.3 C.11.2.1.2 and C.11.2.1.3).
    fn apply(self, function: VoiFunction, x: f64, ymax: f64) -> f64 {
        let (c, w) = (self.center, self.width);
        match function {
            VoiFunction::Linear => {
                let low = c - 0.5 - (w - 1.0) / 2.0;
                let high = c - 0.5 + (w - 1.0) / 2.0;
                if x <= low {
                    0.0
                } else if x > high {
                    ymax
                } else {
                    ((x - (c - 0.5)) / (w - 1.0) + 0.5) * ymax
                }
            }
            VoiFunction::LinearExact => {
                if x <= c - w / 2.0 {
                    0.0
                } else if x > c + w / 2.0 {
                    ymax
                } else {
                    ((x - c) / w + 0.5) * ymax
                }
            }
            VoiFunction::Sigmoid => ymax / (1.0 + (-4.0 * (x - c) / w).exp()),
        }
    }

    /// Whether the standard allows this width for `function`.
    fn is_valid(self, function: VoiFunction) -> bool {
        let finite = self.center.is_finite() && self.width.is_finite();
        match function {
            VoiFunction::Linear => finite && self.width >= 1.0,
            VoiFunction::LinearExact | VoiFunction::Sigmoid => finite && self.width > 0.0,
        }
    }

    /// The window DCMTK's min-max algorithm picks (`dcmj2pnm +Wm`): the
    /// whole range of values, with the half-value offset of the linear
    /// function (PS3.3 C.11.2.1.2, "a Window Center of 2^n-1 and a Window
    /// Width of 2^n select the range 0 to 2^n-1").
    pub fn min_max(min: f64, max: f64) -> Window {
        Window {
            center: (min + max + 1.0) / 2.0,
            width: max - min + 1.0,
        }
    }
}

/// Renders monochrome `stored` values to gray levels of `depth`.
pub(super) fn render_gray(
    stored: &[i64],
    imaging: &Imaging,
    options: &super::RenderOptions,
) -> Vec<u16> {
    let values: Vec<f64> = stored.iter().map(|&s| imaging.modality.apply(s)).collect();
    let ymax = f64::from(options.depth.max_value());
    let min_max = || {
        let (min, max) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        if min.is_finite() {
            Window::min_max(min, max)
        } else {
            Window::min_max(0.0, 0.0)
        }
    };
    let function = imaging.voi_function;
    // A computed window is still shaped by the file's VOI LUT Function when
    // that is SIGMOID, as DCMTK does (`dcmj2pnm +Wm`); LINEAR_EXACT is a
    // rule for the file's own window values, so the min-max window (built
    // for the linear formula) stays linear.
    let min_max_function = match function {
        VoiFunction::Sigmoid => VoiFunction::Sigmoid,
        VoiFunction::Linear | VoiFunction::LinearExact => VoiFunction::Linear,
    };
    let mapped: Vec<f64> = match options.window {
        WindowChoice::Fixed(w) => by_window(&values, w, function, ymax),
        WindowChoice::MinMax => by_window(&values, min_max(), min_max_function, ymax),
        WindowChoice::File => match imaging.windows.iter().find(|w| w.is_valid(function)) {
            Some(&w) => by_window(&values, w, function, ymax),
            None => match imaging.voi_luts.first() {
                Some(lut) => {
                    let scale = ymax / lut.max_value();
                    values
                        .iter()
                        .map(|&v| f64::from(lut.lookup(v.round() as i64)) * scale)
                        .collect()
                }
                None => by_window(&values, min_max(), min_max_function, ymax),
            },
        },
    };
    let invert = imaging.inverted();
    mapped
        .into_iter()
        .map(|y| {
            let level = y.round().clamp(0.0, ymax);
            let level = if invert { ymax - level } else { level };
            level as u16
        })
        .collect()
}

fn by_window(values: &[f64], window: Window, function: VoiFunction, ymax: f64) -> Vec<f64> {
    values
        .iter()
        .map(|&x| window.apply(function, x, ymax))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{
        Depth, Modality, Photometric, PixelLayout, PresentationShape, RenderOptions,
    };

    fn imaging(photometric: Photometric) -> Imaging {
        Imaging {
            layout: PixelLayout {
                rows: 1,
                columns: 4,
                samples_per_pixel: 1,
                bits_allocated: 16,
                bits_stored: 16,
                high_bit: 15,
                signed: true,
                planar: false,
                chroma_subsampled: false,
            },
            photometric,
            modality: Modality::default(),
            windows: vec![],
            voi_function: VoiFunction::Linear,
            voi_luts: vec![],
            palette: None,
            presentation: None,
        }
    }

    fn gray(stored: &[i64], imaging: &Imaging, window: WindowChoice, depth: Depth) -> Vec<u16> {
        render_gray(stored, imaging, &RenderOptions { window, depth })
    }

    #[test]
    fn min_max_spans_the_whole_output_range() {
        let im = imaging(Photometric::Monochrome2);
        let out = gray(&[-100, 0, 50, 100], &im, WindowChoice::MinMax, Depth::Eight);
        assert_eq!(out, [0, 128, 191, 255]);
        let out16 = gray(
            &[-100, 0, 50, 100],
            &im,
            WindowChoice::MinMax,
            Depth::Sixteen,
        );
        assert_eq!(out16[0], 0);
        assert_eq!(out16[3], 65535);
    }

    #[test]
    fn monochrome1_is_inverted() {
        let im = imaging(Photometric::Monochrome1);
        let out = gray(&[0, 100], &im, WindowChoice::MinMax, Depth::Eight);
        assert_eq!(out, [255, 0]);
    }

    #[test]
    fn presentation_lut_shape_decides_polarity() {
        let mut im = imaging(Photometric::Monochrome1);
        im.presentation = Some(PresentationShape::Identity);
        assert_eq!(
            gray(&[0, 100], &im, WindowChoice::MinMax, Depth::Eight),
            [0, 255]
        );
        let mut im = imaging(Photometric::Monochrome2);
        im.presentation = Some(PresentationShape::Inverse);
        assert_eq!(
            gray(&[0, 100], &im, WindowChoice::MinMax, Depth::Eight),
            [255, 0]
        );
        assert_eq!(
            PresentationShape::parse("INVERSE "),
            Some(PresentationShape::Inverse)
        );
        assert_eq!(PresentationShape::parse("LIN OD"), None);
    }

    #[test]
    fn min_max_follows_a_sigmoid_voi_function() {
        let mut im = imaging(Photometric::Monochrome2);
        im.voi_function = VoiFunction::Sigmoid;
        // Window 50.5 / 101 over 0..=100: 255 / (1 + e^(-4 (x - c) / w)),
        // so the ends are not 0 and 255.
        let out = gray(&[0, 50, 100], &im, WindowChoice::MinMax, Depth::Eight);
        assert_eq!(out, [30, 126, 224]);
    }

    #[test]
    fn rescale_then_window_like_ct_hounsfield() {
        let mut im = imaging(Photometric::Monochrome2);
        im.modality = Modality::Rescale {
            slope: 1.0,
            intercept: -1024.0,
        };
        // Window 40/400 (soft tissue): -160 and below black, 240 and above white.
        let w = WindowChoice::Fixed(Window {
            center: 40.0,
            width: 400.0,
        });
        let out = gray(&[0, 864, 1064, 2000], &im, w, Depth::Eight);
        assert_eq!(out[0], 0);
        assert_eq!(out[1], 0);
        assert_eq!(out[2], 128);
        assert_eq!(out[3], 255);
    }

    #[test]
    fn file_window_is_default_and_invalid_ones_fall_back_to_min_max() {
        let mut im = imaging(Photometric::Monochrome2);
        im.windows = vec![Window {
            center: 0.0,
            width: 0.0,
        }];
        assert_eq!(
            gray(&[0, 10], &im, WindowChoice::File, Depth::Eight),
            [0, 255]
        );
        im.windows.push(Window {
            center: 100.5,
            width: 100.0,
        });
        // The first valid window wins: 0 and 10 are below 50.
        assert_eq!(
            gray(&[0, 10], &im, WindowChoice::File, Depth::Eight),
            [0, 0]
        );
    }

    #[test]
    fn voi_lut_used_when_no_window() {
        let mut im = imaging(Photometric::Monochrome2);
        im.voi_luts = vec![Lut {
            first: 0,
            bits: 8,
            data: vec![0, 100, 255],
        }];
        assert_eq!(
            gray(&[-5, 1, 2, 9], &im, WindowChoice::File, Depth::Eight),
            [0, 100, 255, 255]
        );
    }

    #[test]
    fn modality_lut_replaces_rescale() {
        let mut im = imaging(Photometric::Monochrome2);
        im.modality = Modality::Lut(Lut {
            first: 10,
            bits: 16,
            data: vec![1000, 0, 2000],
        });
        assert_eq!(
            gray(&[10, 11, 12, 0], &im, WindowChoice::MinMax, Depth::Eight),
            [128, 0, 255, 128]
        );
    }

    #[test]
    fn linear_exact_and_sigmoid() {
        let w = Window {
            center: 50.0,
            width: 100.0,
        };
        assert_eq!(w.apply(VoiFunction::LinearExact, 50.0, 255.0), 127.5);
        assert_eq!(w.apply(VoiFunction::Sigmoid, 50.0, 255.0), 127.5);
        assert!(w.apply(VoiFunction::Sigmoid, 1000.0, 255.0) > 254.9);
    }
}
