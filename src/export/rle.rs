//! DICOM RLE Lossless (PS3.5 Annex G, transfer syntax 1.2.840.10008.1.2.5)
//! decoded to native little-endian samples, components interleaved.
//!
//! dicom-pixeldata's RLE decoder takes one fragment per frame and indexes
//! the header without checking its length, so a frame whose segments are
//! split over several fragments (allowed: PS3.5 A.4 lets a frame span
//! fragments) made it panic, and it refuses 32-bit samples. This decoder
//! works on the frame's whole byte stream (the caller joins the fragments)
//! and checks every offset.

/// Why an RLE frame cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RleError {
    #[error("the RLE header is cut short ({0} bytes)")]
    ShortHeader(usize),
    #[error("the RLE header lists {got} segments, {need} expected for {what}")]
    SegmentCount { got: u32, need: usize, what: String },
    #[error("RLE segment {segment} has offset {offset} outside the frame of {len} bytes")]
    BadOffset {
        segment: usize,
        offset: u32,
        len: usize,
    },
    #[error("RLE segment {segment} decodes to {got} bytes, {need} expected")]
    ShortSegment {
        segment: usize,
        got: usize,
        need: usize,
    },
    #[error("RLE with {0} bits allocated (8, 16 or 32 expected)")]
    Bits(u16),
}

/// Whether `data` starts like an RLE frame of `segments` segments (the
/// count, then a first offset of 64): lets a caller find where frames
/// start among fragments without an offset table. Only 8 bytes are
/// needed, since a frame's header may itself be cut by a fragment end.
pub fn looks_like_header(data: &[u8], segments: usize) -> bool {
    data.len() >= 8
        && u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize == segments
        && u32::from_le_bytes([data[4], data[5], data[6], data[7]]) == 64
}

/// The number of segments of a frame: one per byte of each sample.
pub fn segment_count(samples_per_pixel: u16, bits_allocated: u16) -> usize {
    usize::from(samples_per_pixel) * usize::from(bits_allocated / 8)
}

/// Decodes one RLE frame of `pixels` pixels to native bytes: samples of
/// `bits_allocated` bits, little endian, pixel-interleaved.
pub fn decode_frame(
    data: &[u8],
    pixels: usize,
    samples_per_pixel: u16,
    bits_allocated: u16,
) -> Result<Vec<u8>, RleError> {
    if !matches!(bits_allocated, 8 | 16 | 32) {
        return Err(RleError::Bits(bits_allocated));
    }
    if data.len() < 64 {
        return Err(RleError::ShortHeader(data.len()));
    }
    let word = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    let bytes = usize::from(bits_allocated / 8);
    let samples = usize::from(samples_per_pixel);
    let need = segment_count(samples_per_pixel, bits_allocated);
    let count = word(0);
    if count as usize != need {
        return Err(RleError::SegmentCount {
            got: count,
            need,
            what: format!("{samples} samples of {bits_allocated} bits"),
        });
    }
    // PackBits turns two bytes into at most 128: a frame larger than that
    // allows is damaged, and believing it would allocate without bound.
    if pixels > data.len().saturating_mul(64) {
        return Err(RleError::ShortSegment {
            segment: 1,
            got: data.len().saturating_mul(64),
            need: pixels,
        });
    }
    let offsets: Vec<u32> = (0..need).map(|s| word(4 + 4 * s)).collect();
    let mut out = vec![0u8; pixels * need];
    for (segment, &offset) in offsets.iter().enumerate() {
        let start = offset as usize;
        // A segment ends where the next begins, the last at the end of
        // the frame data (which may include a padding byte).
        let end = offsets.get(segment + 1).map_or(data.len(), |&o| o as usize);
        if start < 64 || start > end || end > data.len() {
            return Err(RleError::BadOffset {
                segment: segment + 1,
                offset,
                len: data.len(),
            });
        }
        let decoded = unpack(&data[start..end], pixels);
        if decoded.len() < pixels {
            return Err(RleError::ShortSegment {
                segment: segment + 1,
                got: decoded.len(),
                need: pixels,
            });
        }
        // Segments come per sample, most significant byte first (G.2).
        let (sample, byte_in_sample) = (segment / bytes, bytes - 1 - segment % bytes);
        for (p, &value) in decoded.iter().take(pixels).enumerate() {
            out[(p * samples + sample) * bytes + byte_in_sample] = value;
        }
    }
    Ok(out)
}

/// PackBits (G.3.1), stopping once `limit` bytes are out.
fn unpack(segment: &[u8], limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(limit);
    let mut i = 0;
    while i < segment.len() && out.len() < limit {
        let n = segment[i] as i8;
        i += 1;
        match n {
            0..=127 => {
                let len = n as usize + 1;
                let end = (i + len).min(segment.len());
                out.extend_from_slice(&segment[i..end]);
                i = end;
            }
            -127..=-1 => {
                if let Some(&value) = segment.get(i) {
                    out.extend(std::iter::repeat_n(value, (1 - n as isize) as usize));
                    i += 1;
                }
            }
            // -128: no operation.
            _ => {}
        }
    }
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RLE frame whose segments hold `planes` literally.
    pub(crate) fn encode(planes: &[Vec<u8>]) -> Vec<u8> {
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(&(planes.len() as u32).to_le_bytes());
        let mut body = Vec::new();
        for (s, plane) in planes.iter().enumerate() {
            let offset = 64 + body.len() as u32;
            header[4 + 4 * s..8 + 4 * s].copy_from_slice(&offset.to_le_bytes());
            for chunk in plane.chunks(128) {
                body.push((chunk.len() - 1) as u8);
                body.extend_from_slice(chunk);
            }
        }
        header.extend(body);
        header
    }

    #[test]
    fn packbits_literal_run_and_no_op() {
        assert_eq!(
            unpack(&[2, 1, 2, 3, 0xFE, 9, 0x80, 0, 7], 100),
            [1, 2, 3, 9, 9, 9, 7]
        );
        // Output stops at the limit even inside a run.
        assert_eq!(unpack(&[0x81, 5], 3), [5, 5, 5]);
    }

    #[test]
    fn sixteen_bit_segments_are_high_byte_first() {
        // Two pixels 0x0102 and 0x0304.
        let frame = encode(&[vec![0x01, 0x03], vec![0x02, 0x04]]);
        assert_eq!(
            decode_frame(&frame, 2, 1, 16).unwrap(),
            [0x02, 0x01, 0x04, 0x03]
        );
    }

    #[test]
    fn thirty_two_bit_rgb_interleaves_samples() {
        // One pixel: R = 0x01020304, G = 0x05060708, B = 0x090A0B0C.
        let planes: Vec<Vec<u8>> = (1..=12).map(|b| vec![b]).collect();
        let frame = encode(&planes);
        assert_eq!(
            decode_frame(&frame, 1, 3, 32).unwrap(),
            [4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9]
        );
    }

    #[test]
    fn damaged_headers_are_errors() {
        let frame = encode(&[vec![1, 2]]);
        assert!(matches!(
            decode_frame(&frame[..10], 2, 1, 8),
            Err(RleError::ShortHeader(10))
        ));
        assert!(matches!(
            decode_frame(&frame, 2, 1, 16),
            Err(RleError::SegmentCount {
                got: 1,
                need: 2,
                ..
            })
        ));
        let mut bad = frame.clone();
        bad[4..8].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(
            decode_frame(&bad, 2, 1, 8),
            Err(RleError::BadOffset { .. })
        ));
        assert!(matches!(
            decode_frame(&frame, 5, 1, 8),
            Err(RleError::ShortSegment {
                got: 2,
                need: 5,
                ..
            })
        ));
        assert!(looks_like_header(&frame, 1));
        assert!(!looks_like_header(&frame, 3));
    }
}
