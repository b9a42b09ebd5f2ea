//! Reading stored sample values out of native (uncompressed) frame bytes.

use super::RenderError;

/// How samples are packed in a native frame (PS3.5 §8 and PS3.3 C.7.6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelLayout {
    pub rows: u32,
    pub columns: u32,
    pub samples_per_pixel: u16,
    /// 1, 8, 16 or 32.
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub high_bit: u16,
    /// Pixel Representation 1: two's complement.
    pub signed: bool,
    /// Planar Configuration 1: all reds, then all greens, then all blues.
    pub planar: bool,
    /// YBR_FULL_422 stored natively: two luma samples share one Cb and Cr,
    /// so a pixel pair takes four samples (PS3.3 C.7.6.3.1.2).
    pub chroma_subsampled: bool,
}

impl PixelLayout {
    pub fn pixels(&self) -> usize {
        self.rows as usize * self.columns as usize
    }

    /// Samples stored per frame.
    pub fn stored_samples(&self) -> usize {
        if self.chroma_subsampled {
            self.pixels() * 2
        } else {
            self.pixels() * usize::from(self.samples_per_pixel)
        }
    }

    /// Bytes one frame takes (1-bit frames rounded up to whole bytes).
    pub fn frame_bytes(&self) -> usize {
        let samples = self.stored_samples();
        match self.bits_allocated {
            1 => samples.div_ceil(8),
            bits => samples * usize::from(bits / 8),
        }
    }
}

/// The stored values of one frame, one `i64` per sample, pixel-interleaved
/// (planar and subsampled layouts expanded), with Bits Stored, High Bit and
/// Pixel Representation applied.
pub fn read_samples(frame: &[u8], layout: &PixelLayout) -> Result<Vec<i64>, RenderError> {
    let need = layout.frame_bytes();
    if frame.len() < need {
        return Err(RenderError::ShortFrame {
            got: frame.len(),
            need,
            what: format!(
                "{}x{} pixels, {} samples of {} bits",
                layout.columns, layout.rows, layout.samples_per_pixel, layout.bits_allocated
            ),
        });
    }
    if layout.bits_stored == 0
        || layout.bits_stored > layout.bits_allocated
        || layout.high_bit >= layout.bits_allocated
        || layout.high_bit + 1 < layout.bits_stored
    {
        return Err(RenderError::Unsupported(format!(
            "bits allocated {}, stored {}, high bit {}",
            layout.bits_allocated, layout.bits_stored, layout.high_bit
        )));
    }
    let count = layout.stored_samples();
    let shift = u32::from(layout.high_bit + 1 - layout.bits_stored);
    let stored = u32::from(layout.bits_stored);
    let mask: u64 = if stored >= 64 {
        u64::MAX
    } else {
        (1u64 << stored) - 1
    };
    let sign_bit = 1u64 << (stored - 1);
    let to_value = |raw: u64| -> i64 {
        let v = (raw >> shift) & mask;
        if layout.signed && v & sign_bit != 0 {
            v as i64 - (1i64 << stored)
        } else {
            v as i64
        }
    };
    let raw: Vec<i64> = match layout.bits_allocated {
        1 => (0..count)
            .map(|i| to_value(u64::from((frame[i / 8] >> (i % 8)) & 1)))
            .collect(),
        8 => frame[..count].iter().map(|&b| to_value(b.into())).collect(),
        16 => frame[..count * 2]
            .chunks_exact(2)
            .map(|c| to_value(u16::from_le_bytes([c[0], c[1]]).into()))
            .collect(),
        32 => frame[..count * 4]
            .chunks_exact(4)
            .map(|c| to_value(u32::from_le_bytes([c[0], c[1], c[2], c[3]]).into()))
            .collect(),
        bits => {
            return Err(RenderError::Unsupported(format!("{bits} bits allocated")));
        }
    };
    Ok(if layout.chroma_subsampled {
        expand_422(&raw)
    } else if layout.planar && layout.samples_per_pixel > 1 {
        interleave(&raw, usize::from(layout.samples_per_pixel))
    } else {
        raw
    })
}

/// `Y1 Y2 Cb Cr` per pixel pair to `Y Cb Cr` per pixel.
fn expand_422(raw: &[i64]) -> Vec<i64> {
    let mut out = Vec::with_capacity(raw.len() / 2 * 3);
    for quad in raw.chunks_exact(4) {
        out.extend_from_slice(&[quad[0], quad[2], quad[3], quad[1], quad[2], quad[3]]);
    }
    out
}

/// Planar (`RRR..GGG..BBB..`) to interleaved (`RGBRGB..`).
fn interleave(raw: &[i64], channels: usize) -> Vec<i64> {
    let plane = raw.len() / channels;
    (0..plane)
        .flat_map(|p| (0..channels).map(move |c| raw[c * plane + p]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(bits: u16, stored: u16, high: u16, signed: bool) -> PixelLayout {
        PixelLayout {
            rows: 1,
            columns: 2,
            samples_per_pixel: 1,
            bits_allocated: bits,
            bits_stored: stored,
            high_bit: high,
            signed,
            planar: false,
            chroma_subsampled: false,
        }
    }

    #[test]
    fn signed_12_bit_in_16_bit_words_is_sign_extended() {
        // 0x0FFF is -1 in 12 bits; the top nibble is not part of the value.
        let frame = [0xFF, 0xFF, 0x00, 0x08];
        assert_eq!(
            read_samples(&frame, &layout(16, 12, 11, true)).unwrap(),
            [-1, -2048]
        );
        assert_eq!(
            read_samples(&frame, &layout(16, 12, 11, false)).unwrap(),
            [4095, 2048]
        );
    }

    #[test]
    fn high_bit_above_bits_stored_shifts_the_value() {
        // Bits stored 8 with high bit 15: the value is the upper byte.
        let frame = [0x34, 0x12, 0x00, 0xFF];
        assert_eq!(
            read_samples(&frame, &layout(16, 8, 15, false)).unwrap(),
            [0x12, 0xFF]
        );
    }

    #[test]
    fn one_bit_samples_are_lsb_first() {
        let mut l = layout(1, 1, 0, false);
        l.columns = 8;
        assert_eq!(
            read_samples(&[0b0000_0101], &l).unwrap(),
            [1, 0, 1, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn planar_and_422_become_interleaved() {
        let mut l = layout(8, 8, 7, false);
        l.samples_per_pixel = 3;
        l.planar = true;
        assert_eq!(
            read_samples(&[1, 2, 10, 20, 100, 200], &l).unwrap(),
            [1, 10, 100, 2, 20, 200]
        );
        l.planar = false;
        l.chroma_subsampled = true;
        assert_eq!(
            read_samples(&[50, 60, 128, 129], &l).unwrap(),
            [50, 128, 129, 60, 128, 129]
        );
    }

    #[test]
    fn short_frames_and_bad_bit_layouts_are_errors() {
        assert!(matches!(
            read_samples(&[0], &layout(16, 16, 15, false)),
            Err(RenderError::ShortFrame { .. })
        ));
        assert!(matches!(
            read_samples(&[0; 4], &layout(16, 17, 16, false)),
            Err(RenderError::Unsupported(_))
        ));
    }
}
