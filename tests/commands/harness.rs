//! Fixtures built in code (dicom-object) and helpers to run the binary and
//! read PNGs back.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use dicom_core::value::{PixelFragmentSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

pub fn bin() -> Command {
    crate::util::dicommanager()
}

/// Runs `export ARGS -s INPUT -d OUT` and asserts that it succeeds.
pub fn export_ok(args: &[&str], input: &Path, out: &Path) {
    bin()
        .arg("export")
        .args(args)
        .arg("-s")
        .arg(input)
        .arg("-d")
        .arg(out)
        .assert()
        .success();
}

/// A decoded PNG.
#[derive(Debug)]
pub struct Png {
    pub width: u32,
    pub height: u32,
    pub color: png::ColorType,
    pub depth: png::BitDepth,
    pub data: Vec<u8>,
}

pub fn read_png(path: &Path) -> Png {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut data = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut data).expect("PNG data");
    data.truncate(info.buffer_size());
    Png {
        width: info.width,
        height: info.height,
        color: info.color_type,
        depth: info.bit_depth,
        data,
    }
}

/// Builds a DICOM file from `(tag, VR, value)` triples plus the given pixel
/// data, in explicit VR little endian.
pub struct Fixture {
    object: InMemDicomObject,
    transfer_syntax: &'static str,
}

pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
pub const SECONDARY_CAPTURE: &str = "1.2.840.10008.5.1.4.1.1.7";

impl Fixture {
    pub fn new() -> Fixture {
        let mut f = Fixture {
            object: InMemDicomObject::new_empty(),
            transfer_syntax: EXPLICIT_LE,
        };
        f.put(Tag(0x0008, 0x0016), VR::UI, SECONDARY_CAPTURE);
        f.put(Tag(0x0008, 0x0018), VR::UI, "2.25.1234");
        f
    }

    pub fn put(&mut self, tag: Tag, vr: VR, value: &str) -> &mut Fixture {
        self.object
            .put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        self
    }

    pub fn put_raw(&mut self, tag: Tag, vr: VR, value: PrimitiveValue) -> &mut Fixture {
        self.object.put(DataElement::new(tag, vr, value));
        self
    }

    pub fn put_u16(&mut self, tag: Tag, value: u16) -> &mut Fixture {
        self.put_raw(tag, VR::US, PrimitiveValue::from(value))
    }

    /// A monochrome image of `rows` x `columns` 16-bit samples.
    pub fn mono16(rows: u16, columns: u16, pixels: &[u16], photometric: &str) -> Fixture {
        let mut f = Fixture::new();
        f.image_module(rows, columns, 1, 16, photometric);
        f.put_u16(Tag(0x0028, 0x0103), 0);
        let bytes: Vec<u8> = pixels.iter().flat_map(|p| p.to_le_bytes()).collect();
        f.put_raw(Tag(0x7FE0, 0x0010), VR::OW, PrimitiveValue::from(bytes));
        f
    }

    /// An RGB image of 8-bit samples, interleaved.
    pub fn rgb8(rows: u16, columns: u16, pixels: &[u8]) -> Fixture {
        let mut f = Fixture::new();
        f.image_module(rows, columns, 3, 8, "RGB");
        f.put_u16(Tag(0x0028, 0x0006), 0);
        f.put_u16(Tag(0x0028, 0x0103), 0);
        f.put_raw(
            Tag(0x7FE0, 0x0010),
            VR::OB,
            PrimitiveValue::from(pixels.to_vec()),
        );
        f
    }

    /// An RGB image of 16-bit words holding `stored`-bit samples, interleaved.
    pub fn rgb16(rows: u16, columns: u16, stored: u16, pixels: &[u16]) -> Fixture {
        let mut f = Fixture::new();
        f.image_module(rows, columns, 3, 16, "RGB");
        f.put_u16(Tag(0x0028, 0x0101), stored)
            .put_u16(Tag(0x0028, 0x0102), stored - 1)
            .put_u16(Tag(0x0028, 0x0006), 0)
            .put_u16(Tag(0x0028, 0x0103), 0);
        let bytes: Vec<u8> = pixels.iter().flat_map(|p| p.to_le_bytes()).collect();
        f.put_raw(Tag(0x7FE0, 0x0010), VR::OW, PrimitiveValue::from(bytes));
        f
    }

    fn image_module(&mut self, rows: u16, columns: u16, samples: u16, bits: u16, pi: &str) {
        self.put_u16(Tag(0x0028, 0x0002), samples);
        self.put(Tag(0x0028, 0x0004), VR::CS, pi);
        self.put_u16(Tag(0x0028, 0x0010), rows);
        self.put_u16(Tag(0x0028, 0x0011), columns);
        self.put_u16(Tag(0x0028, 0x0100), bits);
        self.put_u16(Tag(0x0028, 0x0101), bits);
        self.put_u16(Tag(0x0028, 0x0102), bits - 1);
    }

    /// Sets the transfer syntax the file is written in.
    pub fn transfer_syntax(&mut self, uid: &'static str) -> &mut Fixture {
        self.transfer_syntax = uid;
        self
    }

    /// Encapsulated Pixel Data: a Basic Offset Table (may be empty) and
    /// fragments, each padded to even length as PS3.5 A.4 requires.
    pub fn encapsulated(&mut self, offsets: Vec<u32>, fragments: Vec<Vec<u8>>) -> &mut Fixture {
        let fragments: Vec<Vec<u8>> = fragments
            .into_iter()
            .map(|mut f| {
                if f.len() % 2 == 1 {
                    f.push(0);
                }
                f
            })
            .collect();
        self.object.put(DataElement::new(
            Tag(0x7FE0, 0x0010),
            VR::OB,
            PixelFragmentSequence::new(offsets, fragments),
        ));
        self
    }

    /// The Image Pixel module of a monochrome image of `bits` allocated,
    /// `stored` stored bits, unsigned, without pixel data.
    pub fn mono_module(
        rows: u16,
        columns: u16,
        bits: u16,
        stored: u16,
        photometric: &str,
    ) -> Fixture {
        let mut f = Fixture::new();
        f.image_module(rows, columns, 1, bits, photometric);
        f.put_u16(Tag(0x0028, 0x0101), stored);
        f.put_u16(Tag(0x0028, 0x0102), stored - 1);
        f.put_u16(Tag(0x0028, 0x0103), 0);
        f
    }

    pub fn object_mut(&mut self) -> &mut InMemDicomObject {
        &mut self.object
    }

    pub fn write(&self, path: &Path) -> PathBuf {
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax(self.transfer_syntax)
            .media_storage_sop_class_uid(SECONDARY_CAPTURE)
            .media_storage_sop_instance_uid("2.25.1234");
        self.object
            .clone()
            .with_meta(meta)
            .expect("a valid file meta")
            .write_to_file(path)
            .expect("fixture written");
        path.to_path_buf()
    }
}

pub use crate::util::corpus;

/// Basic Offset Table for frames made of the given fragments: the byte
/// offset of each frame's first item, counting 8 bytes of item header
/// per fragment (PS3.5 A.4).
pub fn offset_table(frames: &[Vec<Vec<u8>>]) -> Vec<u32> {
    let mut offsets = Vec::new();
    let mut position = 0u32;
    for fragments in frames {
        offsets.push(position);
        for f in fragments {
            position += 8 + f.len().next_multiple_of(2) as u32;
        }
    }
    offsets
}

/// An RLE Lossless frame (PS3.5 G.3) from its segments: runs of equal
/// bytes as replicate runs, the rest as literal runs, so both kinds of
/// PackBits run are exercised.
pub fn rle_frame(segments: &[Vec<u8>]) -> Vec<u8> {
    let mut header = vec![0u8; 64];
    header[..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
    let mut body: Vec<u8> = Vec::new();
    for (s, segment) in segments.iter().enumerate() {
        let offset = 64 + body.len() as u32;
        header[4 + 4 * s..8 + 4 * s].copy_from_slice(&offset.to_le_bytes());
        let mut i = 0;
        while i < segment.len() {
            let run = segment[i..]
                .iter()
                .take(128)
                .take_while(|&&b| b == segment[i])
                .count();
            if run >= 3 {
                body.push((1 - run as i32) as i8 as u8);
                body.push(segment[i]);
                i += run;
            } else {
                let len = (segment.len() - i).min(128);
                // Stop a literal run where a replicate run would begin.
                let len = (1..len)
                    .find(|&k| {
                        i + k + 2 < segment.len()
                            && segment[i + k] == segment[i + k + 1]
                            && segment[i + k] == segment[i + k + 2]
                    })
                    .unwrap_or(len);
                body.push((len - 1) as u8);
                body.extend_from_slice(&segment[i..i + len]);
                i += len;
            }
        }
        if body.len() % 2 == 1 {
            body.push(0x80); // a no-op keeps every segment even
        }
    }
    header.extend(body);
    header
}

/// Splits `data` into fragments at the given (even) positions.
pub fn split_at(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        out.push(data[start..cut].to_vec());
        start = cut;
    }
    out
}

/// A sequential-DCT JPEG of one component whose 8x8 blocks are flat
/// (`values` row by row, `blocks_x` per row): only DC coefficients, so
/// the expected samples are exact. `precision` 8 writes baseline (SOF0),
/// 12 extended (SOF1, ISO 10918-1 process 4). The DC table gives every
/// category a 5-bit code, the AC table holds only end-of-block.
pub fn jpeg_flat_blocks(precision: u8, blocks_x: usize, values: &[u16]) -> Vec<u8> {
    let blocks_y = values.len() / blocks_x;
    let (w, h) = ((blocks_x * 8) as u16, (blocks_y * 8) as u16);
    let mut j = vec![0xFF, 0xD8];
    j.extend([0xFF, 0xDB, 0, 67, 0x00]);
    j.extend([1u8; 64]);
    let sof = if precision == 8 { 0xC0 } else { 0xC1 };
    j.extend([0xFF, sof, 0, 11, precision]);
    j.extend(h.to_be_bytes());
    j.extend(w.to_be_bytes());
    j.extend([1, 1, 0x11, 0]);
    // DC: 16 codes of 5 bits for categories 0..=15.
    j.extend([
        0xFF, 0xC4, 0, 35, 0x00, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    j.extend(0u8..16);
    // AC: end-of-block only, code "0".
    j.extend([
        0xFF, 0xC4, 0, 20, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    j.extend([0xFF, 0xDA, 0, 8, 1, 1, 0x00, 0, 63, 0]);
    let mut bits: Vec<bool> = Vec::new();
    let push = |bits: &mut Vec<bool>, value: u32, n: u32| {
        for i in (0..n).rev() {
            bits.push((value >> i) & 1 == 1);
        }
    };
    let shift = 1i32 << (precision - 1);
    let mut previous = 0i32;
    for &value in values {
        // A flat block of v has DC = 8 (v - 2^(P-1)) with q = 1.
        let dc = 8 * (i32::from(value) - shift);
        let diff = dc - previous;
        previous = dc;
        let category = 32 - diff.unsigned_abs().leading_zeros();
        push(&mut bits, category, 5);
        let coded = if diff < 0 {
            diff + (1 << category) - 1
        } else {
            diff
        };
        push(&mut bits, coded as u32, category);
        push(&mut bits, 0, 1);
    }
    while !bits.len().is_multiple_of(8) {
        bits.push(true);
    }
    for byte in bits.chunks(8) {
        let b = byte.iter().fold(0u8, |acc, &x| (acc << 1) | u8::from(x));
        j.push(b);
        if b == 0xFF {
            j.push(0);
        }
    }
    j.extend([0xFF, 0xD9]);
    j
}

/// A lossless JPEG (SOF3, predictor 1) of `width` x `height` 8-bit
/// samples, all 128: every difference is 0, coded as the single 1-bit
/// code of a one-entry table.
pub fn jpeg_lossless_flat(width: u16, height: u16) -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8, 0xFF, 0xC3, 0, 11, 8];
    j.extend(height.to_be_bytes());
    j.extend(width.to_be_bytes());
    j.extend([1, 1, 0x11, 0]);
    j.extend([
        0xFF, 0xC4, 0, 20, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    j.extend([0xFF, 0xDA, 0, 8, 1, 1, 0x00, 1, 0, 0]);
    j.extend(vec![
        0u8;
        (usize::from(width) * usize::from(height)).div_ceil(8)
    ]);
    j.extend([0xFF, 0xD9]);
    j
}

/// Whether DCMTK's `dcmj2pnm` is on PATH; with `DICOMMANAGER_REQUIRE_DCMTK`
/// set (CI) its absence is a failure, as for `dcmdump`.
pub fn dcmj2pnm_available() -> bool {
    let found = std::process::Command::new("dcmj2pnm")
        .arg("--version")
        .output()
        .is_ok();
    assert!(
        found || std::env::var_os("DICOMMANAGER_REQUIRE_DCMTK").is_none(),
        "DICOMMANAGER_REQUIRE_DCMTK is set but dcmj2pnm is not on PATH"
    );
    if !found {
        eprintln!("dcmj2pnm not found: DCMTK comparison skipped");
    }
    found
}

/// Runs a DCMTK tool (`dcmcjpeg`, `dcmcrle`, ...) and asserts it worked.
pub fn dcmtk_run(tool: &str, args: &[&str], input: &Path, output: &Path) {
    let out = std::process::Command::new(tool)
        .args(args)
        .arg(input)
        .arg(output)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `dcmj2pnm --write-png ARGS INPUT` (`dcml2pnm` for JPEG-LS, which
/// dcmj2pnm cannot read), read back.
pub fn dcmj2pnm(args: &[&str], input: &Path) -> Png {
    let out = input.with_extension("dcmtk.png");
    let jpeg_ls = dicom_object::open_file(input).is_ok_and(|o| {
        o.meta()
            .transfer_syntax()
            .starts_with("1.2.840.10008.1.2.4.8")
    });
    let tool = if jpeg_ls { "dcml2pnm" } else { "dcmj2pnm" };
    dcmtk_run(tool, &[&["--write-png"], args].concat(), input, &out);
    read_png(&out)
}

/// `export ARGS -s INPUT` to a PNG beside it, read back.
pub fn export_png(args: &[&str], input: &Path) -> Png {
    let out = input.with_extension("ours.png");
    export_ok(args, input, &out);
    read_png(&out)
}

/// The largest difference between two 8-bit images of one shape and the
/// share of samples within one level.
pub fn difference(ours: &Png, theirs: &Png) -> (u8, f64) {
    assert_eq!(
        (ours.width, ours.height, ours.color),
        (theirs.width, theirs.height, theirs.color),
        "image shape differs from DCMTK's"
    );
    let diffs: Vec<u8> = ours
        .data
        .iter()
        .zip(&theirs.data)
        .map(|(a, b)| a.abs_diff(*b))
        .collect();
    let max = diffs.iter().copied().max().unwrap_or(0);
    let close = diffs.iter().filter(|&&d| d <= 1).count();
    (max, close as f64 / diffs.len().max(1) as f64)
}

/// Exports with `ours` and renders with `dcmj2pnm theirs`, and asserts
/// that every sample is within one level; returns the figures.
pub fn assert_matches_dcmtk(input: &Path, ours: &[&str], theirs: &[&str]) -> (u8, f64) {
    assert_matches_dcmtk_of(input, input, ours, theirs)
}

/// As [`assert_matches_dcmtk`], with DCMTK rendering `reference` (the same
/// image after a DCMTK tool changed its encoding).
pub fn assert_matches_dcmtk_of(
    input: &Path,
    reference: &Path,
    ours: &[&str],
    theirs: &[&str],
) -> (u8, f64) {
    let (max, share) = difference(&export_png(ours, input), &dcmj2pnm(theirs, reference));
    eprintln!(
        "{}: export {ours:?} vs dcmj2pnm {theirs:?}: max difference {max}, {:.3}% within 1",
        input.display(),
        share * 100.0
    );
    assert!(
        max <= 1,
        "{}: export {ours:?} differs from dcmj2pnm {theirs:?} by up to {max} levels \
         ({:.2}% within one)",
        input.display(),
        share * 100.0
    );
    (max, share)
}
