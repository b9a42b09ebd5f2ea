//! Opening a DICOM file for its pixels: the object (via dicom-object, with
//! bare data sets given a synthetic file meta), the attributes that drive
//! rendering, and one frame's native bytes (decoded by dicom-pixeldata when
//! the pixel data is encapsulated).

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use dicom_core::Tag;
use dicom_core::header::HasLength;
use dicom_core::value::Value as DicomValue;
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder, InMemDicomObject};
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::{PixelError, jpeg, rle};
use crate::codec::{meta, open_file, sniff};
use crate::guard;
use crate::render::{
    Imaging, Lut, Modality, Palette, Photometric, PixelLayout, PresentationShape, VoiFunction,
    Window,
};

/// One frame's native bytes and the attributes that describe them.
pub type Frame<'a> = (Cow<'a, [u8]>, Imaging);

/// A DICOM object with pixel data, ready to render frame by frame.
pub struct PixelSource {
    object: DefaultDicomObject,
    /// The attributes as stored in the file.
    imaging: Imaging,
    frames: u32,
    encapsulated: bool,
}

impl std::fmt::Debug for PixelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PixelSource")
            .field("imaging", &self.imaging)
            .field("frames", &self.frames)
            .field("encapsulated", &self.encapsulated)
            .finish()
    }
}

impl PixelSource {
    /// Opens `path` and reads the attributes that describe its pixels.
    pub fn open(path: &Path) -> Result<PixelSource, PixelError> {
        let object = match open_object(path) {
            Ok(object) => object,
            // dicom-rs cannot parse some files that our own, more tolerant
            // header reader can (e.g. odd private UN sequences): if that
            // reader finds no pixel data, say so rather than "unparseable".
            Err(err @ PixelError::Parse(_)) => {
                return Err(match crate::metadata::read_header(path) {
                    Ok(header) if !header.has_pixel_data => PixelError::NoPixelData,
                    _ => err,
                });
            }
            Err(err) => return Err(err),
        };
        let pixel_data = object
            .get(tags::PIXEL_DATA)
            .ok_or(PixelError::NoPixelData)?;
        let encapsulated = matches!(pixel_data.value(), DicomValue::PixelSequence(_));
        let imaging = read_imaging(&object)?;
        // A damaged Number of Frames (e.g. "1A") still leaves the first
        // frame readable, as DCMTK shows: read one frame rather than none.
        let frames = object
            .get(tags::NUMBER_OF_FRAMES)
            .and_then(|e| e.to_int::<i64>().ok())
            .map_or(1, |n| n.clamp(1, i64::from(u32::MAX)) as u32);
        Ok(PixelSource {
            object,
            imaging,
            frames,
            encapsulated,
        })
    }

    pub fn frame_count(&self) -> u32 {
        self.frames
    }

    /// The transfer syntax UID of the file.
    pub fn transfer_syntax(&self) -> &str {
        self.object.meta().transfer_syntax()
    }

    /// Attributes as stored in the file.
    pub fn imaging(&self) -> &Imaging {
        &self.imaging
    }

    /// The native bytes of frame `index` (0-based) and the attributes
    /// describing them (a codec may have changed the photometric
    /// interpretation, e.g. YBR to RGB).
    pub fn frame(&self, index: u32) -> Result<Frame<'_>, PixelError> {
        if index >= self.frames {
            return Err(PixelError::FrameOutOfRange {
                frame: index + 1,
                frames: self.frames,
            });
        }
        let (bytes, mut imaging) = if self.encapsulated {
            self.decode_frame(index)?
        } else {
            self.native_frame(index)?
        };
        per_frame_attributes(&self.object, index, &mut imaging);
        Ok((bytes, imaging))
    }

    fn native_frame(&self, index: u32) -> Result<Frame<'_>, PixelError> {
        let element = self
            .object
            .get(tags::PIXEL_DATA)
            .ok_or(PixelError::NoPixelData)?;
        let all = element.to_bytes().map_err(|e| PixelError::Decode {
            transfer_syntax: self.transfer_syntax().to_string(),
            message: e.to_string(),
        })?;
        let layout = &self.imaging.layout;
        let size = layout.frame_bytes();
        let short = |got: usize| PixelError::Truncated {
            frame: index + 1,
            got,
            need: size,
        };
        let bytes: Vec<u8> = if layout.bits_allocated == 1 {
            // 1-bit frames need not start on a byte boundary: repack.
            let bits = layout.stored_samples();
            let start = bits * index as usize;
            if (start + bits).div_ceil(8) > all.len() {
                return Err(short(all.len().saturating_sub(start / 8)));
            }
            let mut out = vec![0u8; size];
            for i in 0..bits {
                let b = start + i;
                if (all[b / 8] >> (b % 8)) & 1 == 1 {
                    out[i / 8] |= 1 << (i % 8);
                }
            }
            out
        } else {
            let start = size * index as usize;
            match all.get(start..start + size) {
                Some(slice) => slice.to_vec(),
                None => return Err(short(all.len().saturating_sub(start))),
            }
        };
        Ok((Cow::Owned(bytes), self.imaging.clone()))
    }

    /// Decodes an encapsulated frame. A panic in a decoder becomes an
    /// error naming the transfer syntax, and prints nothing.
    fn decode_frame(&self, index: u32) -> Result<Frame<'_>, PixelError> {
        guard::catch_quietly(|| self.decode_frame_unguarded(index)).unwrap_or_else(|message| {
            Err(PixelError::Decode {
                transfer_syntax: self.transfer_syntax().to_string(),
                message: format!("the decoder crashed ({message})"),
            })
        })
    }

    fn decode_error(&self, message: impl std::fmt::Display) -> PixelError {
        PixelError::Decode {
            transfer_syntax: self.transfer_syntax().to_string(),
            message: message.to_string(),
        }
    }

    fn decode_frame_unguarded(&self, index: u32) -> Result<Frame<'_>, PixelError> {
        match self.transfer_syntax() {
            RLE_LOSSLESS => return self.decode_rle(index),
            JPEG_BASELINE | JPEG_EXTENDED | JPEG_LOSSLESS | JPEG_LOSSLESS_SV1 => {
                let stream = self.frame_stream(index, |f| f.starts_with(&[0xFF, 0xD8]))?;
                // Ours first (DCMTK's arithmetic, 12-bit too); jpeg-decoder
                // for what ours refuses (progressive, subsampled lossless),
                // which it cannot do in 12-bit DCT either.
                match self.decode_jpeg_own(&stream) {
                    Ok(frame) => return Ok(frame),
                    Err(OwnJpeg::Refused(_))
                        if !matches!(jpeg::frame_header(&stream), Some((_, 12))) => {}
                    Err(OwnJpeg::Refused(err) | OwnJpeg::Failed(err)) => return Err(err),
                }
                if let Some(decoded) = self.decode_jpeg_rgb(&stream)? {
                    return Ok(decoded);
                }
            }
            _ => {}
        }
        let decoded = self
            .object
            .decode_pixel_data_frame(index)
            .map(|d| d.to_owned())
            .map_err(|e| self.decode_error(e))?;
        let mut imaging = self.imaging.clone();
        imaging.layout = PixelLayout {
            rows: decoded.rows(),
            columns: decoded.columns(),
            samples_per_pixel: decoded.samples_per_pixel(),
            bits_allocated: decoded.bits_allocated(),
            bits_stored: decoded.bits_stored(),
            high_bit: decoded.high_bit(),
            signed: self.imaging.layout.signed,
            planar: false,
            chroma_subsampled: false,
        };
        if decoded.samples_per_pixel() == 3 {
            // Codecs return colour interleaved; JPEG 2000 (and jpeg-decoder)
            // also undo their colour transform, giving RGB. CharLS keeps
            // the samples as stored: a JPEG-LS YBR_FULL image is still YBR
            // (DCMTK converts it for display, and so does render).
            let is_jpeg_ls = matches!(
                self.transfer_syntax(),
                "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81"
            );
            imaging.photometric = match imaging.photometric {
                Photometric::YbrFull if is_jpeg_ls => Photometric::YbrFull,
                _ => Photometric::Rgb,
            };
        }
        let data = decoded.data();
        if data.len() < imaging.layout.frame_bytes() {
            return Err(PixelError::Truncated {
                frame: index + 1,
                got: data.len(),
                need: imaging.layout.frame_bytes(),
            });
        }
        Ok((Cow::Owned(data.to_vec()), imaging))
    }

    /// The compressed bytes of frame `index`: the fragments the Basic
    /// Offset Table assigns to it; else one fragment per frame when the
    /// counts agree; else all fragments of a single-frame object; else
    /// the fragments from one that `starts_frame` to the next (PS3.5 A.4
    /// lets a frame span fragments, and the offset table may be empty).
    fn frame_stream(
        &self,
        index: u32,
        starts_frame: impl Fn(&[u8]) -> bool,
    ) -> Result<Cow<'_, [u8]>, PixelError> {
        let Some(DicomValue::PixelSequence(sequence)) =
            self.object.get(tags::PIXEL_DATA).map(|e| e.value())
        else {
            return Err(PixelError::NoPixelData);
        };
        let fragments = sequence.fragments();
        let join = |range: std::ops::Range<usize>| -> Cow<'_, [u8]> {
            match &fragments[range.clone()] {
                [one] => Cow::Borrowed(one.as_slice()),
                many => Cow::Owned(many.iter().flatten().copied().collect()),
            }
        };
        let frames = self.frames as usize;
        let index = index as usize;
        let table = sequence.offset_table();
        if table.len() >= frames && !(frames == 1 && table == [0]) {
            // Offsets count from the first fragment's item tag; each item
            // is an 8-byte header and the fragment.
            let mut starts = Vec::with_capacity(fragments.len());
            let mut position = 0u64;
            for fragment in fragments {
                starts.push(position);
                position += 8 + fragment.len() as u64;
            }
            let begin = u64::from(table[index]);
            let end = table.get(index + 1).map_or(u64::MAX, |&o| u64::from(o));
            let first = starts.iter().position(|&s| s == begin);
            let last = starts.iter().rposition(|&s| s >= begin && s < end);
            if let (Some(first), Some(last)) = (first, last) {
                return Ok(join(first..last + 1));
            }
        }
        if fragments.len() == frames {
            return Ok(join(index..index + 1));
        }
        if frames == 1 && !fragments.is_empty() {
            return Ok(join(0..fragments.len()));
        }
        let starts: Vec<usize> = (0..fragments.len())
            .filter(|&i| starts_frame(&fragments[i]))
            .collect();
        if starts.len() == frames {
            let end = starts.get(index + 1).copied().unwrap_or(fragments.len());
            return Ok(join(starts[index]..end));
        }
        Err(self.decode_error(format!(
            "cannot tell which of the {} fragments hold frame {} of {frames} \
             (no usable Basic Offset Table)",
            fragments.len(),
            index + 1
        )))
    }

    /// RLE Lossless, decoded here: see [`super::rle`].
    fn decode_rle(&self, index: u32) -> Result<Frame<'_>, PixelError> {
        let layout = &self.imaging.layout;
        let segments = rle::segment_count(layout.samples_per_pixel, layout.bits_allocated);
        let stream = self.frame_stream(index, |f| rle::looks_like_header(f, segments))?;
        let bytes = rle::decode_frame(
            &stream,
            layout.pixels(),
            layout.samples_per_pixel,
            layout.bits_allocated,
        )
        .map_err(|e| self.decode_error(format!("frame {}: {e}", index + 1)))?;
        let mut imaging = self.imaging.clone();
        // RLE segments are colour planes, returned interleaved; YBR_FULL_422
        // is not allowed with RLE (PS3.5 8.2.2), so nothing is subsampled.
        imaging.layout.planar = false;
        imaging.layout.chroma_subsampled = false;
        Ok((Cow::Owned(bytes), imaging))
    }

    /// JPEG baseline and extended (8- and 12-bit), decoded here: see
    /// [`super::jpeg`]. YCbCr is converted to RGB when the file says YBR_*,
    /// as DCMTK does; a file that says RGB is taken as it is.
    fn decode_jpeg_own(&self, stream: &[u8]) -> Result<Frame<'_>, OwnJpeg> {
        let ycc = matches!(
            self.imaging.photometric,
            Photometric::YbrFull | Photometric::YbrFull422 | Photometric::YbrOther(_)
        );
        let decoded = jpeg::decode(stream, ycc).map_err(|e| match e {
            jpeg::JpegError::Unsupported(_) => OwnJpeg::Refused(self.decode_error(e)),
            _ => OwnJpeg::Failed(self.decode_error(e)),
        })?;
        let layout = &self.imaging.layout;
        if (decoded.width, decoded.height) != (layout.columns, layout.rows) {
            return Err(OwnJpeg::Failed(self.decode_error(format!(
                "the JPEG image is {}x{}, the header says {}x{} (Columns x Rows)",
                decoded.width, decoded.height, layout.columns, layout.rows
            ))));
        }
        let mut imaging = self.imaging.clone();
        let (bits_allocated, bytes): (u16, Vec<u8>) = if decoded.precision <= 8 {
            (8, decoded.samples.iter().map(|&s| s as u8).collect())
        } else {
            (
                16,
                decoded
                    .samples
                    .iter()
                    .flat_map(|s| s.to_le_bytes())
                    .collect(),
            )
        };
        let bits_stored = match self.imaging.layout.bits_stored {
            b @ 1..=16 if b <= bits_allocated => b,
            _ => u16::from(decoded.precision),
        };
        imaging.layout = PixelLayout {
            rows: decoded.height,
            columns: decoded.width,
            samples_per_pixel: decoded.components,
            bits_allocated,
            bits_stored,
            high_bit: bits_stored - 1,
            signed: self.imaging.layout.signed,
            planar: false,
            chroma_subsampled: false,
        };
        if decoded.components == 3 {
            // Converted above, or RGB as stored: interleaved RGB now.
            imaging.photometric = Photometric::Rgb;
        }
        Ok((Cow::Owned(bytes), imaging))
    }

    /// JPEG baseline / extended declared RGB: the samples are already RGB
    /// and must not go through the YCbCr transform that a JPEG decoder
    /// applies by default (DCMTK converts only YBR images either). dicom-rs
    /// always converts, so such frames are decoded here. `None` when this
    /// does not apply.
    fn decode_jpeg_rgb(&self, stream: &[u8]) -> Result<Option<Frame<'_>>, PixelError> {
        let layout = &self.imaging.layout;
        if self.imaging.photometric != Photometric::Rgb
            || layout.samples_per_pixel != 3
            || layout.bits_allocated != 8
        {
            return Ok(None);
        }
        let mut decoder = jpeg_decoder::Decoder::new(stream);
        decoder.set_color_transform(jpeg_decoder::ColorTransform::None);
        let pixels = decoder.decode().map_err(|e| self.decode_error(e))?;
        let mut imaging = self.imaging.clone();
        imaging.layout.planar = false;
        Ok(Some((Cow::Owned(pixels), imaging)))
    }
}

/// How our JPEG decoder failed: a stream it does not take (another decoder
/// may), or one it found damaged or inconsistent (final).
enum OwnJpeg {
    Refused(PixelError),
    Failed(PixelError),
}

const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
const JPEG_LOSSLESS: &str = "1.2.840.10008.1.2.4.57";
const JPEG_LOSSLESS_SV1: &str = "1.2.840.10008.1.2.4.70";
const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";
const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// Opens a file whatever its layout: Part 10, meta without preamble, or a
/// bare data set. The preamble and file meta are read by our tolerant
/// reader (dicom-object refuses meta groups that are only untidy: no group
/// length, no transfer syntax); the data set by dicom-rs, with a file meta
/// made from ours so that codecs find the transfer syntax.
pub fn open_object(path: &Path) -> Result<DefaultDicomObject, PixelError> {
    let layout = sniff(path)
        .map_err(PixelError::Io)?
        .ok_or(PixelError::NotDicom)?;
    let parse = |e: &dyn std::fmt::Display| PixelError::Parse(e.to_string());
    let opened = open_file(path, layout).map_err(|e| parse(&e))?;
    // A deflated data set arrives inflated: read it as explicit VR LE.
    let read_as = if opened.syntax.deflated {
        "1.2.840.10008.1.2.1"
    } else {
        opened.transfer_syntax.as_str()
    };
    let ts = TransferSyntaxRegistry
        .get(read_as)
        .ok_or_else(|| PixelError::Parse(format!("unknown transfer syntax {read_as}")))?;
    let reader: Box<dyn Read + Send> = opened.dataset.into_reader_boxed();
    let dataset = InMemDicomObject::read_dataset_with_ts(reader, ts).map_err(|e| parse(&e))?;
    let dataset_text = |tag: Tag| {
        dataset
            .get(tag)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
    };
    let meta_text = |tag: Tag| opened.meta.as_ref().and_then(|m| m.text(tag));
    let class = meta_text(meta::MEDIA_STORAGE_SOP_CLASS_UID)
        .filter(|c| !c.is_empty())
        .or_else(|| dataset_text(tags::SOP_CLASS_UID))
        .unwrap_or_default();
    let instance = meta_text(meta::MEDIA_STORAGE_SOP_INSTANCE_UID)
        .filter(|c| !c.is_empty())
        .or_else(|| dataset_text(tags::SOP_INSTANCE_UID))
        .unwrap_or_default();
    let builder = FileMetaTableBuilder::new()
        .transfer_syntax(opened.transfer_syntax.as_str())
        .media_storage_sop_class_uid(class)
        .media_storage_sop_instance_uid(instance);
    dataset.with_meta(builder).map_err(|e| parse(&e))
}

type Elem = dicom_object::mem::InMemElement;

fn invalid(tag: Tag, name: &'static str, element: &Elem) -> PixelError {
    let value = element
        .to_str()
        .map(|s| s.into_owned())
        .unwrap_or_else(|_| "(not text)".into());
    PixelError::Invalid { name, tag, value }
}

fn required_u16(obj: &InMemDicomObject, tag: Tag, name: &'static str) -> Result<u16, PixelError> {
    let element = obj.get(tag).ok_or(PixelError::Missing { name, tag })?;
    element
        .to_int::<u16>()
        .map_err(|_| invalid(tag, name, element))
}

fn optional_u16(
    obj: &InMemDicomObject,
    tag: Tag,
    name: &'static str,
    default: u16,
) -> Result<u16, PixelError> {
    match obj.get(tag) {
        None => Ok(default),
        Some(e) if e.is_empty() => Ok(default),
        Some(e) => e.to_int::<u16>().map_err(|_| invalid(tag, name, e)),
    }
}

fn floats(obj: &InMemDicomObject, tag: Tag) -> Vec<f64> {
    obj.get(tag)
        .and_then(|e| e.to_multi_float64().ok())
        .unwrap_or_default()
}

/// Reads the Image Pixel module and the LUTs around it.
fn read_imaging(obj: &InMemDicomObject) -> Result<Imaging, PixelError> {
    let rows = required_u16(obj, tags::ROWS, "Rows")?;
    let columns = required_u16(obj, tags::COLUMNS, "Columns")?;
    let samples_per_pixel = optional_u16(obj, tags::SAMPLES_PER_PIXEL, "SamplesPerPixel", 1)?;
    let bits_allocated = required_u16(obj, tags::BITS_ALLOCATED, "BitsAllocated")?;
    let bits_stored = optional_u16(obj, tags::BITS_STORED, "BitsStored", bits_allocated)?;
    let high_bit = optional_u16(
        obj,
        tags::HIGH_BIT,
        "HighBit",
        bits_stored.saturating_sub(1),
    )?;
    let signed = optional_u16(obj, tags::PIXEL_REPRESENTATION, "PixelRepresentation", 0)? == 1;
    let planar = optional_u16(obj, tags::PLANAR_CONFIGURATION, "PlanarConfiguration", 0)? == 1;
    let photometric_element =
        obj.get(tags::PHOTOMETRIC_INTERPRETATION)
            .ok_or(PixelError::Missing {
                name: "PhotometricInterpretation",
                tag: tags::PHOTOMETRIC_INTERPRETATION,
            })?;
    let photometric = photometric_element
        .to_str()
        .ok()
        .and_then(|s| Photometric::parse(&s))
        .ok_or_else(|| {
            invalid(
                tags::PHOTOMETRIC_INTERPRETATION,
                "PhotometricInterpretation",
                photometric_element,
            )
        })?;
    let layout = PixelLayout {
        rows: rows.into(),
        columns: columns.into(),
        samples_per_pixel,
        bits_allocated,
        bits_stored,
        high_bit,
        signed,
        planar,
        chroma_subsampled: photometric == Photometric::YbrFull422 && samples_per_pixel == 3,
    };

    let modality = if is_xa_or_xrf(obj) {
        // XA and XRF use their Modality LUT backwards, to go from stored
        // values to beam intensity, not before display (PS3.3 C.8.7.1.1.2,
        // C.11.1); DCMTK ignores it for these classes too.
        Modality::default()
    } else {
        match first_item(obj, tags::MODALITY_LUT_SEQUENCE)
            .and_then(|item| read_lut(item, tags::LUT_DESCRIPTOR, tags::LUT_DATA, signed))
        {
            Some(lut) => Modality::Lut(lut),
            None => {
                let (slope, intercept) = rescale(obj);
                Modality::Rescale { slope, intercept }
            }
        }
    };
    // An enhanced object keeps its windows in the Frame VOI LUT functional
    // group; the shared one stands for every frame here, a per-frame one
    // replaces it in `per_frame_attributes`.
    let (mut windows, mut voi_function) = voi_of(obj);
    if windows.is_empty()
        && let Some(item) = first_item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)
            .and_then(|g| first_item(g, tags::FRAME_VOILUT_SEQUENCE))
    {
        (windows, voi_function) = voi_of(item);
    }
    let voi_luts = obj
        .get(tags::VOILUT_SEQUENCE)
        .and_then(|e| e.items())
        .map(|items| {
            items
                .iter()
                .filter_map(|item| read_lut(item, tags::LUT_DESCRIPTOR, tags::LUT_DATA, signed))
                .collect()
        })
        .unwrap_or_default();
    let palette = if photometric == Photometric::Palette {
        // Plain table data, else the segmented form (PS3.3 C.7.9.2), which
        // 16-bit palettes use to stay small (DCMTK does not read it).
        let lut = |descriptor, data, segmented| {
            read_lut(obj, descriptor, data, signed)
                .or_else(|| read_segmented_lut(obj, descriptor, segmented, signed))
        };
        match (
            lut(
                tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                tags::SEGMENTED_RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            ),
            lut(
                tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                tags::SEGMENTED_GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            ),
            lut(
                tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                tags::SEGMENTED_BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            ),
        ) {
            (Some(red), Some(green), Some(blue)) => Some(Palette { red, green, blue }),
            _ => None,
        }
    } else {
        None
    };
    let presentation = obj
        .get(tags::PRESENTATION_LUT_SHAPE)
        .and_then(|e| e.to_str().ok())
        .and_then(|s| PresentationShape::parse(&s));
    Ok(Imaging {
        layout,
        photometric,
        modality,
        windows,
        voi_function,
        voi_luts,
        palette,
        presentation,
    })
}

/// Window Center / Width pairs and VOI LUT Function of one item.
fn voi_of(obj: &InMemDicomObject) -> (Vec<Window>, VoiFunction) {
    let (centers, widths) = (
        floats(obj, tags::WINDOW_CENTER),
        floats(obj, tags::WINDOW_WIDTH),
    );
    let windows = centers
        .iter()
        .zip(&widths)
        .map(|(&center, &width)| Window { center, width })
        .collect();
    let function = match obj
        .get(tags::VOILUT_FUNCTION)
        .and_then(|e| e.to_str().ok())
        .as_deref()
        .map(|s| s.trim_matches([' ', '\0']))
    {
        Some("LINEAR_EXACT") => VoiFunction::LinearExact,
        Some("SIGMOID") => VoiFunction::Sigmoid,
        _ => VoiFunction::Linear,
    };
    (windows, function)
}

/// An enhanced object's own values for frame `index` (PS3.3 C.7.6.16):
/// its Pixel Value Transformation (rescale) and Frame VOI LUT (windows),
/// where its Per-frame Functional Groups item has them. They differ from
/// frame to frame in PET and MR series, so the first frame's values are
/// not right for the others. (DCMTK 3.6.7 reads only the shared group.)
fn per_frame_attributes(obj: &InMemDicomObject, index: u32, imaging: &mut Imaging) {
    let Some(group) = obj
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|items| items.get(index as usize))
    else {
        return;
    };
    let top_level_rescale = obj.get(tags::RESCALE_SLOPE).is_some();
    if let Modality::Rescale { .. } = imaging.modality
        && !top_level_rescale
        && !is_xa_or_xrf(obj)
        && let Some(transformation) = first_item(group, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE)
        && let Some((slope, intercept)) = rescale_of(transformation)
    {
        imaging.modality = Modality::Rescale { slope, intercept };
    }
    if obj.get(tags::WINDOW_CENTER).is_none()
        && let Some(voi) = first_item(group, tags::FRAME_VOILUT_SEQUENCE)
    {
        let (windows, function) = voi_of(voi);
        if !windows.is_empty() {
            imaging.windows = windows;
            imaging.voi_function = function;
        }
    }
}

/// SOP classes whose Modality LUT is not applied for display.
fn is_xa_or_xrf(obj: &InMemDicomObject) -> bool {
    let class = obj
        .get(tags::SOP_CLASS_UID)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_default();
    matches!(
        class.as_str(),
        // X-Ray Angiographic, X-Ray Radiofluoroscopic, retired XA Bi-plane.
        "1.2.840.10008.5.1.4.1.1.12.1"
            | "1.2.840.10008.5.1.4.1.1.12.2"
            | "1.2.840.10008.5.1.4.1.1.12.3"
    )
}

/// Rescale slope and intercept: top level, else the shared or first
/// per-frame Pixel Value Transformation of an enhanced object, else, for an
/// RT Dose, Dose Grid Scaling (stored values times it are Gy, PS3.3
/// C.8.8.3.4.4). Both slope and intercept must be there, as the standard
/// requires and DCMTK checks: a lone one is ignored rather than guessed.
fn rescale(obj: &InMemDicomObject) -> (f64, f64) {
    let read = rescale_of;
    if let Some(found) = read(obj) {
        return found;
    }
    for groups in [
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
    ] {
        if let Some(found) = first_item(obj, groups)
            .and_then(|g| first_item(g, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE))
            .and_then(read)
        {
            return found;
        }
    }
    if let Some(&scaling) = floats(obj, tags::DOSE_GRID_SCALING).first()
        && scaling > 0.0
        && scaling.is_finite()
    {
        return (scaling, 0.0);
    }
    (1.0, 0.0)
}

/// Rescale Slope and Intercept of one item, when both are there and usable.
fn rescale_of(obj: &InMemDicomObject) -> Option<(f64, f64)> {
    let slope = floats(obj, tags::RESCALE_SLOPE).first().copied();
    let intercept = floats(obj, tags::RESCALE_INTERCEPT).first().copied();
    match (slope, intercept) {
        (Some(slope), Some(intercept)) if slope != 0.0 && slope.is_finite() => {
            intercept.is_finite().then_some((slope, intercept))
        }
        _ => None,
    }
}

fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    obj.get(tag).and_then(|e| e.items()).and_then(|i| i.first())
}

/// Reads a LUT from its descriptor (entries, first mapped value, bits) and
/// data. `None` when absent or inconsistent: the caller falls back.
fn read_lut(obj: &InMemDicomObject, descriptor: Tag, data: Tag, signed: bool) -> Option<Lut> {
    let (entries, first, bits) = lut_descriptor(obj, descriptor, signed)?;
    let bytes = obj.get(data)?.to_bytes().ok()?;
    let values: Vec<u16> = if bits <= 8 && bytes.len() == entries {
        // Packed 8-bit entries.
        bytes.iter().map(|&b| u16::from(b)).collect()
    } else {
        bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect()
    };
    (!values.is_empty()).then_some(Lut {
        first,
        bits,
        data: values,
    })
}

/// A LUT Descriptor: number of entries (0 means 65536), first mapped value
/// (US or SS as the pixel values are) and bits per entry.
fn lut_descriptor(
    obj: &InMemDicomObject,
    descriptor: Tag,
    signed: bool,
) -> Option<(usize, i64, u16)> {
    let desc: Vec<i64> = obj.get(descriptor)?.to_multi_int::<i64>().ok()?;
    if desc.len() < 3 {
        return None;
    }
    let entries = if desc[0] == 0 {
        65536
    } else {
        desc[0] as u16 as usize
    };
    let first = if signed {
        i64::from(desc[1] as u16 as i16)
    } else {
        i64::from(desc[1] as u16)
    };
    let bits = u16::try_from(desc[2])
        .ok()
        .filter(|b| (1..=16).contains(b))?;
    Some((entries, first, bits))
}

/// A palette LUT given as Segmented ... Palette Color Lookup Table Data.
fn read_segmented_lut(
    obj: &InMemDicomObject,
    descriptor: Tag,
    segmented: Tag,
    signed: bool,
) -> Option<Lut> {
    let (entries, first, bits) = lut_descriptor(obj, descriptor, signed)?;
    let bytes = obj.get(segmented)?.to_bytes().ok()?;
    let words: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let data = expand_segments(&words, entries)?;
    Some(Lut { first, bits, data })
}

/// Expands segmented LUT data (PS3.3 C.7.9.2): discrete segments (opcode
/// 0: n values), linear ones (1: n steps from the last value to y1) and
/// indirect ones (2: repeat n segments found at a 32-bit word offset).
/// `None` when the data is damaged; at most `entries` values.
fn expand_segments(words: &[u16], entries: usize) -> Option<Vec<u16>> {
    let mut out: Vec<u16> = Vec::with_capacity(entries);
    expand_from(words, 0, usize::MAX, entries, &mut out, true)?;
    (!out.is_empty()).then_some(out)
}

/// Expands up to `count` segments starting at word `start`; indirect
/// segments may not nest (the standard forbids it, and it bounds the work).
fn expand_from(
    words: &[u16],
    start: usize,
    count: usize,
    entries: usize,
    out: &mut Vec<u16>,
    allow_indirect: bool,
) -> Option<()> {
    let mut i = start;
    let mut done = 0;
    while i < words.len() && done < count && out.len() < entries {
        let (opcode, length) = (words[i], usize::from(*words.get(i + 1)?));
        match opcode {
            0 => {
                let values = words.get(i + 2..i + 2 + length)?;
                out.extend(values.iter().take(entries - out.len()));
                i += 2 + length;
            }
            1 => {
                let (y0, y1) = (f64::from(*out.last()?), f64::from(*words.get(i + 2)?));
                for step in 1..=length.min(entries - out.len()) {
                    let y = y0 + (y1 - y0) * step as f64 / length as f64;
                    out.push(y.round() as u16);
                }
                i += 3;
            }
            2 if allow_indirect => {
                let low = u32::from(*words.get(i + 2)?);
                let high = u32::from(*words.get(i + 3)?);
                // The offset counts bytes from the start of the data.
                let offset = ((high << 16 | low) / 2) as usize;
                expand_from(words, offset, length, entries, out, false)?;
                i += 4;
            }
            _ => return None,
        }
        done += 1;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR};

    #[test]
    fn segmented_lut_discrete_linear_and_indirect() {
        // 3 discrete values, a ramp of 4 up to 100, then the first two
        // segments again (byte offset 0).
        let words = [0, 3, 10, 20, 30, 1, 4, 100, 2, 2, 0, 0];
        let lut = expand_segments(&words, 100).unwrap();
        assert_eq!(
            lut,
            [10, 20, 30, 48, 65, 83, 100, 10, 20, 30, 48, 65, 83, 100]
        );
        // Cut to the number of entries; damaged data is refused.
        assert_eq!(expand_segments(&words, 4).unwrap(), [10, 20, 30, 48]);
        assert_eq!(expand_segments(&[7, 1, 1], 10), None);
        assert_eq!(
            expand_segments(&[1, 4, 100], 10),
            None,
            "a ramp needs a start"
        );
        assert_eq!(
            expand_segments(&[0, 9, 1], 10),
            None,
            "short discrete segment"
        );
    }

    fn object(elements: &[(Tag, VR, &str)]) -> InMemDicomObject {
        let mut obj = InMemDicomObject::new_empty();
        for &(tag, vr, value) in elements {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        }
        obj
    }

    #[test]
    fn rescale_needs_slope_and_intercept_and_a_usable_slope() {
        let both = object(&[
            (tags::RESCALE_SLOPE, VR::DS, "2"),
            (tags::RESCALE_INTERCEPT, VR::DS, "-10"),
        ]);
        assert_eq!(rescale(&both), (2.0, -10.0));
        // A lone slope, a lone intercept or a zero slope: no rescale, as
        // DCMTK does (a zero slope would flatten the image).
        for elements in [
            &[(tags::RESCALE_SLOPE, VR::DS, "2")][..],
            &[(tags::RESCALE_INTERCEPT, VR::DS, "-1024")][..],
            &[
                (tags::RESCALE_SLOPE, VR::DS, "0"),
                (tags::RESCALE_INTERCEPT, VR::DS, "5"),
            ][..],
        ] {
            assert_eq!(rescale(&object(elements)), (1.0, 0.0), "{elements:?}");
        }
    }

    #[test]
    fn dose_grid_scaling_is_the_slope_when_there_is_no_rescale() {
        let dose = object(&[(tags::DOSE_GRID_SCALING, VR::DS, "1.5E-5")]);
        assert_eq!(rescale(&dose), (1.5e-5, 0.0));
        let both = object(&[
            (tags::DOSE_GRID_SCALING, VR::DS, "1.5E-5"),
            (tags::RESCALE_SLOPE, VR::DS, "3"),
            (tags::RESCALE_INTERCEPT, VR::DS, "0"),
        ]);
        assert_eq!(rescale(&both), (3.0, 0.0));
    }

    fn sequence(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
        DataElement::new(tag, VR::SQ, dicom_core::value::DataSetSequence::from(items))
    }

    /// A Per-frame Functional Groups item with a rescale and a window.
    fn frame_group(slope: &str, center: &str) -> InMemDicomObject {
        let mut group = InMemDicomObject::new_empty();
        group.put(sequence(
            tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
            vec![object(&[
                (tags::RESCALE_SLOPE, VR::DS, slope),
                (tags::RESCALE_INTERCEPT, VR::DS, "0"),
            ])],
        ));
        group.put(sequence(
            tags::FRAME_VOILUT_SEQUENCE,
            vec![object(&[
                (tags::WINDOW_CENTER, VR::DS, center),
                (tags::WINDOW_WIDTH, VR::DS, "100"),
            ])],
        ));
        group
    }

    #[test]
    fn each_frame_of_an_enhanced_object_gets_its_own_rescale_and_window() {
        let mut obj = InMemDicomObject::new_empty();
        obj.put(sequence(
            tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
            vec![frame_group("1", "50"), frame_group("2.5", "700")],
        ));
        let mut imaging = Imaging {
            layout: PixelLayout {
                rows: 1,
                columns: 1,
                samples_per_pixel: 1,
                bits_allocated: 16,
                bits_stored: 16,
                high_bit: 15,
                signed: false,
                planar: false,
                chroma_subsampled: false,
            },
            photometric: Photometric::Monochrome2,
            modality: Modality::Rescale {
                slope: rescale(&obj).0,
                intercept: 0.0,
            },
            windows: vec![],
            voi_function: VoiFunction::Linear,
            voi_luts: vec![],
            palette: None,
            presentation: None,
        };
        // Before: the first frame's values stand for all frames.
        assert_eq!(
            imaging.modality,
            Modality::Rescale {
                slope: 1.0,
                intercept: 0.0
            }
        );
        per_frame_attributes(&obj, 1, &mut imaging);
        assert_eq!(
            imaging.modality,
            Modality::Rescale {
                slope: 2.5,
                intercept: 0.0
            }
        );
        assert_eq!(
            imaging.windows,
            [Window {
                center: 700.0,
                width: 100.0
            }]
        );
        // A frame without its own group keeps what it had.
        per_frame_attributes(&obj, 5, &mut imaging);
        assert_eq!(
            imaging.windows,
            [Window {
                center: 700.0,
                width: 100.0
            }]
        );
    }

    #[test]
    fn xa_and_xrf_skip_the_modality_step() {
        let xa = object(&[(
            tags::SOP_CLASS_UID,
            VR::UI,
            "1.2.840.10008.5.1.4.1.1.12.1\0",
        )]);
        assert!(is_xa_or_xrf(&xa));
        let ct = object(&[(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.2")]);
        assert!(!is_xa_or_xrf(&ct));
    }
}
