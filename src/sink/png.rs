//! PNG output (8- or 16-bit, gray or RGB) with the png crate.

use std::path::Path;

use super::SinkError;
use super::image::{ImageSink, write_atomically};
use crate::render::{ColorKind, Depth, Image};

/// Writes frames as PNG files.
#[derive(Debug, Default, Clone, Copy)]
pub struct PngSink;

impl ImageSink for PngSink {
    fn extension(&self) -> &'static str {
        "png"
    }

    fn write(&self, image: &Image, path: &Path) -> Result<(), SinkError> {
        let expected = image.width as usize * image.height as usize * image.color.channels();
        if image.samples.len() != expected {
            return Err(SinkError::new(
                path,
                format!(
                    "image has {} samples, {expected} expected",
                    image.samples.len()
                ),
            ));
        }
        let bytes = match image.depth {
            Depth::Eight => image.samples.iter().map(|&s| s as u8).collect::<Vec<u8>>(),
            // PNG stores 16-bit samples big-endian.
            Depth::Sixteen => image.samples.iter().flat_map(|s| s.to_be_bytes()).collect(),
        };
        write_atomically(path, |out| {
            let mut encoder = ::png::Encoder::new(out, image.width, image.height);
            encoder.set_color(match image.color {
                ColorKind::Gray => ::png::ColorType::Grayscale,
                ColorKind::Rgb => ::png::ColorType::Rgb,
            });
            encoder.set_depth(match image.depth {
                Depth::Eight => ::png::BitDepth::Eight,
                Depth::Sixteen => ::png::BitDepth::Sixteen,
            });
            let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
            writer.write_image_data(&bytes).map_err(|e| e.to_string())?;
            writer.finish().map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(path: &Path) -> (::png::OutputInfo, Vec<u8>) {
        let decoder =
            ::png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    #[test]
    fn gray16_round_trips_big_endian() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        let image = Image {
            width: 2,
            height: 1,
            color: ColorKind::Gray,
            depth: Depth::Sixteen,
            samples: vec![1, 65535],
        };
        PngSink.write(&image, &path).unwrap();
        let (info, data) = decode(&path);
        assert_eq!(info.bit_depth, ::png::BitDepth::Sixteen);
        assert_eq!(data, [0, 1, 255, 255]);
        // Only the final file remains: no temporary left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn inconsistent_image_is_refused_and_nothing_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        let image = Image {
            width: 2,
            height: 2,
            color: ColorKind::Rgb,
            depth: Depth::Eight,
            samples: vec![0; 3],
        };
        assert!(PngSink.write(&image, &path).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
