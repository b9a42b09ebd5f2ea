//! The colour half of the pipeline: RGB and YBR_FULL samples, and palette
//! indices, to RGB of the output depth.

use super::{Depth, Lut, Photometric, PixelLayout, RenderError};

/// Red, green and blue Palette Color Lookup Tables (PS3.3 C.7.6.3.1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Palette {
    pub red: Lut,
    pub green: Lut,
    pub blue: Lut,
}

impl Palette {
    pub(super) fn apply(&self, indices: &[i64], depth: Depth) -> Vec<u16> {
        let out_max = f64::from(depth.max_value());
        let mut out = Vec::with_capacity(indices.len() * 3);
        for &i in indices {
            for lut in [&self.red, &self.green, &self.blue] {
                out.push(rescale(f64::from(lut.lookup(i)), lut.max_value(), out_max));
            }
        }
        out
    }
}

fn rescale(value: f64, in_max: f64, out_max: f64) -> u16 {
    (value * out_max / in_max).round().clamp(0.0, out_max) as u16
}

/// Interleaved three-sample pixels to RGB of `depth`.
pub(super) fn to_rgb(
    values: &[i64],
    layout: &PixelLayout,
    photometric: &Photometric,
    depth: Depth,
) -> Result<Vec<u16>, RenderError> {
    if layout.samples_per_pixel != 3 {
        return Err(RenderError::Unsupported(format!(
            "{} samples per pixel for {photometric:?}",
            layout.samples_per_pixel
        )));
    }
    let in_max = 2f64.powi(i32::from(layout.bits_stored)) - 1.0;
    let out_max = f64::from(depth.max_value());
    match photometric {
        Photometric::Rgb => Ok(values
            .iter()
            .map(|&v| rescale(v as f64, in_max, out_max))
            .collect()),
        Photometric::YbrFull => {
            // PS3.3 C.7.6.3.1.2 (ITU-R BT.601 full range), computed as DCMTK
            // does for YBR_FULL (diybrpxt.h): chroma centred on maxval/2 and
            // each term truncated to an integer, so that our output matches
            // `dcmj2pnm` level for level rather than within a rounding.
            let max = in_max;
            let term = |v: f64| v.trunc();
            let mut out = Vec::with_capacity(values.len());
            for ybr in values.chunks_exact(3) {
                let (y, cb, cr) = (ybr[0] as f64, ybr[1] as f64, ybr[2] as f64);
                let r = y + term(1.4020 * cr - 0.7010 * max);
                let g = y - term(0.3441 * cb) - term(0.7141 * cr - 0.5291 * max);
                let b = y + term(1.7720 * cb - 0.8859 * max);
                for c in [r, g, b] {
                    out.push(rescale(c.clamp(0.0, max), max, out_max));
                }
            }
            Ok(out)
        }
        Photometric::YbrFull422 => {
            // The same conversion in exact arithmetic, which is what DCMTK's
            // YBR_FULL_422 path (diyf2pxt.h) matches.
            let half = (in_max + 1.0) / 2.0;
            let mut out = Vec::with_capacity(values.len());
            for ybr in values.chunks_exact(3) {
                let (y, cb, cr) = (ybr[0] as f64, ybr[1] as f64 - half, ybr[2] as f64 - half);
                let r = y + 1.402 * cr;
                let g = y - 0.344_136 * cb - 0.714_136 * cr;
                let b = y + 1.772 * cb;
                for c in [r, g, b] {
                    out.push(rescale(c.clamp(0.0, in_max), in_max, out_max));
                }
            }
            Ok(out)
        }
        other => Err(RenderError::Unsupported(format!(
            "photometric interpretation {other:?} in uncompressed pixel data"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(bits: u16) -> PixelLayout {
        PixelLayout {
            rows: 1,
            columns: 1,
            samples_per_pixel: 3,
            bits_allocated: bits,
            bits_stored: bits,
            high_bit: bits - 1,
            signed: false,
            planar: false,
            chroma_subsampled: false,
        }
    }

    #[test]
    fn ybr_full_grays_and_primaries() {
        let l = layout(8);
        let ybr = Photometric::YbrFull;
        let gray = to_rgb(&[128, 128, 128], &l, &ybr, Depth::Eight).unwrap();
        assert!(gray.iter().all(|&c| (127..=128).contains(&c)), "{gray:?}");
        // Pure red in YCbCr (JFIF): Y 76, Cb 85, Cr 255.
        let red = to_rgb(&[76, 85, 255], &l, &ybr, Depth::Eight).unwrap();
        assert!(red[0] >= 253 && red[1] <= 2 && red[2] <= 2, "{red:?}");
    }

    #[test]
    fn sixteen_bit_rgb_scales_down_and_eight_bit_scales_up() {
        assert_eq!(
            to_rgb(
                &[65535, 0, 32896],
                &layout(16),
                &Photometric::Rgb,
                Depth::Eight
            )
            .unwrap(),
            [255, 0, 128]
        );
        assert_eq!(
            to_rgb(&[255, 0, 1], &layout(8), &Photometric::Rgb, Depth::Sixteen).unwrap(),
            [65535, 0, 257]
        );
    }

    #[test]
    fn palette_maps_indices_through_16_bit_tables() {
        let lut = |data: Vec<u16>| Lut {
            first: 0,
            bits: 16,
            data,
        };
        let p = Palette {
            red: lut(vec![0, 65535]),
            green: lut(vec![65535, 0]),
            blue: lut(vec![0, 0]),
        };
        assert_eq!(
            p.apply(&[0, 1, 7], Depth::Eight),
            [0, 255, 0, 255, 0, 0, 255, 0, 0]
        );
    }
}
