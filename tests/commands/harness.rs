//! Fixtures built in code (dicom-object) and helpers to run the binary and
//! read PNGs back.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use dicom_core::value::PrimitiveValue;
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

    fn image_module(&mut self, rows: u16, columns: u16, samples: u16, bits: u16, pi: &str) {
        self.put_u16(Tag(0x0028, 0x0002), samples);
        self.put(Tag(0x0028, 0x0004), VR::CS, pi);
        self.put_u16(Tag(0x0028, 0x0010), rows);
        self.put_u16(Tag(0x0028, 0x0011), columns);
        self.put_u16(Tag(0x0028, 0x0100), bits);
        self.put_u16(Tag(0x0028, 0x0101), bits);
        self.put_u16(Tag(0x0028, 0x0102), bits - 1);
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
