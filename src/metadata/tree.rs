//! Reading the header (or the whole data set) of a file into a tree of
//! elements with raw values ([`crate::codec::tree`]), with its file meta.

use std::path::{Path, PathBuf};

use dicom_core::Tag;

use super::{HeaderError, MetadataError};
use crate::codec::tree::read_tree;
pub use crate::codec::tree::{Element, Extent, Item, Value};
use crate::codec::{Syntax, open_file, sniff};

/// The header of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DicomHeader {
    pub path: PathBuf,
    /// File meta elements; empty for a bare data set.
    pub meta: Vec<Element>,
    /// The data set: up to (not including) the pixel data for
    /// [`Extent::Header`]; all of it for [`Extent::AllButPixels`], pixel
    /// data elements present with their values [`Value::Skipped`].
    pub dataset: Item,
    pub transfer_syntax: String,
    /// How the data set's values are encoded (byte order).
    pub syntax: Syntax,
    /// Whether the top-level data set has (7FE0,xxxx) pixel data.
    pub has_pixel_data: bool,
}

impl DicomHeader {
    pub fn get(&self, tag: Tag) -> Option<&Element> {
        if tag.group() == 0x0002 {
            self.meta.iter().find(|e| e.tag == tag)
        } else {
            self.dataset.get(tag)
        }
    }
}

/// Reads the header of `path`, stopping before the pixel data.
pub fn read_header(path: &Path) -> Result<DicomHeader, MetadataError> {
    read_file(path, Extent::Header)
}

/// Reads `path` into a tree, as far as `extent` says.
pub fn read_file(path: &Path, extent: Extent) -> Result<DicomHeader, MetadataError> {
    let fail = |e: HeaderError| MetadataError::new(path, e);
    let layout = sniff(path)
        .map_err(|e| fail(HeaderError::Io(e)))?
        .ok_or_else(|| fail(HeaderError::NotDicom))?;
    let opened = open_file(path, layout).map_err(|e| fail(e.into()))?;
    let meta_elements = opened
        .meta
        .map(|m| m.elements)
        .unwrap_or_default()
        .into_iter()
        .map(|e| Element {
            tag: e.tag,
            vr: e.vr,
            value: Value::Bytes(e.value),
        })
        .collect();
    let (syntax, transfer_syntax) = (opened.syntax, opened.transfer_syntax);
    let mut source = opened.dataset;
    let tree = read_tree(&mut source, syntax, extent).map_err(|e| fail(e.into()))?;
    Ok(DicomHeader {
        path: path.to_path_buf(),
        meta: meta_elements,
        dataset: tree.dataset,
        transfer_syntax,
        syntax,
        has_pixel_data: tree.has_pixel_data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{FileMeta, Header, meta};
    use dicom_core::VR;

    /// A Part 10 file whose data set has pixel data, then a private element
    /// (trailing tags are where some systems put their own data).
    fn file_with_tags_after_pixels() -> tempfile::NamedTempFile {
        let syntax = Syntax::EXPLICIT_VR_LITTLE_ENDIAN;
        let mut file_meta = FileMeta::default();
        file_meta.set_uid(meta::TRANSFER_SYNTAX_UID, "1.2.840.10008.1.2.1");
        let mut bytes = Vec::new();
        file_meta.write(&mut bytes).unwrap();
        let mut element = |tag: Tag, vr: VR, value: &[u8]| {
            let len = value.len() as u32;
            Header { tag, vr, len }.write(&mut bytes, syntax).unwrap();
            bytes.extend_from_slice(value);
        };
        element(Tag(0x0010, 0x0010), VR::PN, b"Doe^John");
        element(Tag(0x7FE0, 0x0010), VR::OW, &[0xAB; 32]);
        element(Tag(0x0009, 0x0010), VR::LO, b"ACME 1.0");
        element(Tag(0x0009, 0x1001), VR::LO, b"Doe^John");
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &bytes).unwrap();
        file
    }

    #[test]
    fn header_stops_at_pixel_data_and_whole_file_reads_past_it() {
        let file = file_with_tags_after_pixels();
        let header = read_file(file.path(), Extent::Header).unwrap();
        assert!(header.has_pixel_data);
        assert_eq!(header.dataset.elements.len(), 1);

        let whole = read_file(file.path(), Extent::AllButPixels).unwrap();
        assert!(whole.has_pixel_data);
        let tags: Vec<Tag> = whole.dataset.elements.iter().map(|e| e.tag).collect();
        assert_eq!(
            tags,
            [
                Tag(0x0010, 0x0010),
                Tag(0x7FE0, 0x0010),
                Tag(0x0009, 0x0010),
                Tag(0x0009, 0x1001)
            ]
        );
        assert_eq!(whole.dataset.elements[1].value, Value::Skipped);
        assert_eq!(
            whole.dataset.get(Tag(0x0009, 0x1001)).map(|e| &e.value),
            Some(&Value::Bytes(b"Doe^John".to_vec()))
        );
    }
}
