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

use super::PixelError;
use crate::render::{
    Imaging, Lut, Modality, Palette, Photometric, PixelLayout, VoiFunction, Window,
};
use crate::stream::{meta, open_file, sniff};

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
        if self.encapsulated {
            self.decode_frame(index)
        } else {
            self.native_frame(index)
        }
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

    fn decode_frame(&self, index: u32) -> Result<Frame<'_>, PixelError> {
        let ts = self.transfer_syntax().to_string();
        if let Some(decoded) = self.decode_jpeg_rgb(index)? {
            return Ok(decoded);
        }
        let decode_error = |message: String| PixelError::Decode {
            transfer_syntax: ts.clone(),
            message,
        };
        // A codec fed hostile data must not take the whole run down.
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.object
                .decode_pixel_data_frame(index)
                .map(|d| d.to_owned())
        }))
        .map_err(|_| decode_error("the decoder crashed on this pixel data".into()))?
        .map_err(|e| decode_error(e.to_string()))?;
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
            // Codecs return colour as interleaved RGB.
            imaging.photometric = Photometric::Rgb;
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
}

impl PixelSource {
    /// JPEG baseline / extended declared RGB: the samples are already RGB
    /// and must not go through the YCbCr transform that a JPEG decoder
    /// applies by default (DCMTK converts only YBR images either). dicom-rs
    /// always converts, so such frames are decoded here. `None` when this
    /// does not apply.
    fn decode_jpeg_rgb(&self, index: u32) -> Result<Option<Frame<'_>>, PixelError> {
        let ts = self.transfer_syntax();
        let is_jpeg = matches!(ts, "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51");
        let layout = &self.imaging.layout;
        if !is_jpeg
            || self.imaging.photometric != Photometric::Rgb
            || layout.samples_per_pixel != 3
            || layout.bits_allocated != 8
        {
            return Ok(None);
        }
        let Some(DicomValue::PixelSequence(sequence)) =
            self.object.get(tags::PIXEL_DATA).map(|e| e.value())
        else {
            return Ok(None);
        };
        let fragments = sequence.fragments();
        let stream: Cow<'_, [u8]> = if fragments.len() == self.frames as usize {
            match fragments.get(index as usize) {
                Some(f) => Cow::Borrowed(f.as_slice()),
                None => return Ok(None),
            }
        } else if self.frames == 1 {
            Cow::Owned(fragments.iter().flatten().copied().collect())
        } else {
            // Frames spread over fragments: leave it to dicom-pixeldata.
            return Ok(None);
        };
        let mut decoder = jpeg_decoder::Decoder::new(&*stream);
        decoder.set_color_transform(jpeg_decoder::ColorTransform::None);
        let pixels = decoder.decode().map_err(|e| PixelError::Decode {
            transfer_syntax: ts.to_string(),
            message: e.to_string(),
        })?;
        let mut imaging = self.imaging.clone();
        imaging.layout.planar = false;
        Ok(Some((Cow::Owned(pixels), imaging)))
    }
}

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

    let modality = match first_item(obj, tags::MODALITY_LUT_SEQUENCE)
        .and_then(|item| read_lut(item, tags::LUT_DESCRIPTOR, tags::LUT_DATA, signed))
    {
        Some(lut) => Modality::Lut(lut),
        None => {
            let (slope, intercept) = rescale(obj);
            Modality::Rescale { slope, intercept }
        }
    };
    let (centers, widths) = (
        floats(obj, tags::WINDOW_CENTER),
        floats(obj, tags::WINDOW_WIDTH),
    );
    let windows = centers
        .iter()
        .zip(&widths)
        .map(|(&center, &width)| Window { center, width })
        .collect();
    let voi_function = match obj
        .get(tags::VOILUT_FUNCTION)
        .and_then(|e| e.to_str().ok())
        .as_deref()
        .map(|s| s.trim_matches([' ', '\0']))
    {
        Some("LINEAR_EXACT") => VoiFunction::LinearExact,
        Some("SIGMOID") => VoiFunction::Sigmoid,
        _ => VoiFunction::Linear,
    };
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
        let lut = |descriptor, data| read_lut(obj, descriptor, data, signed);
        match (
            lut(
                tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            ),
            lut(
                tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            ),
            lut(
                tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            ),
        ) {
            (Some(red), Some(green), Some(blue)) => Some(Palette { red, green, blue }),
            _ => None,
        }
    } else {
        None
    };
    Ok(Imaging {
        layout,
        photometric,
        modality,
        windows,
        voi_function,
        voi_luts,
        palette,
    })
}

/// Rescale slope and intercept: top level, else the shared or first
/// per-frame Pixel Value Transformation of an enhanced object.
fn rescale(obj: &InMemDicomObject) -> (f64, f64) {
    let read = |o: &InMemDicomObject| {
        let slope = floats(o, tags::RESCALE_SLOPE).first().copied();
        let intercept = floats(o, tags::RESCALE_INTERCEPT).first().copied();
        (slope.is_some() || intercept.is_some())
            .then(|| (slope.unwrap_or(1.0), intercept.unwrap_or(0.0)))
    };
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
    (1.0, 0.0)
}

fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    obj.get(tag).and_then(|e| e.items()).and_then(|i| i.first())
}

/// Reads a LUT from its descriptor (entries, first mapped value, bits) and
/// data. `None` when absent or inconsistent: the caller falls back.
fn read_lut(obj: &InMemDicomObject, descriptor: Tag, data: Tag, signed: bool) -> Option<Lut> {
    let desc: Vec<i64> = obj.get(descriptor)?.to_multi_int::<i64>().ok()?;
    if desc.len() < 3 {
        return None;
    }
    let entries = if desc[0] == 0 {
        65536
    } else {
        desc[0] as u16 as usize
    };
    // The first mapped value is US or SS depending on the pixel values.
    let first = if signed {
        i64::from(desc[1] as u16 as i16)
    } else {
        i64::from(desc[1] as u16)
    };
    let bits = u16::try_from(desc[2])
        .ok()
        .filter(|b| (1..=16).contains(b))?;
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
