//! The file meta information group (0002,xxxx) of PS3.10 §7.1.
//!
//! Read tolerantly (a missing or wrong group length is common and harmless)
//! and written afresh, with the group length recomputed.

use std::io::{Read, Write};

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;

use super::{Header, Source, StreamError, Syntax, What};

/// File meta groups are a handful of short UIDs; anything bigger is hostile.
const MAX_META_VALUE: u32 = 64 * 1024;
const MAX_META_ELEMENTS: usize = 64;

pub const GROUP_LENGTH: Tag = tags::FILE_META_INFORMATION_GROUP_LENGTH;
pub const INFORMATION_VERSION: Tag = tags::FILE_META_INFORMATION_VERSION;
pub use tags::{
    IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, MEDIA_STORAGE_SOP_CLASS_UID,
    MEDIA_STORAGE_SOP_INSTANCE_UID, TRANSFER_SYNTAX_UID,
};

/// dicommanager's Implementation Class UID: a UUID-derived `2.25` UID.
pub const IMPLEMENTATION_UID: &str = "2.25.217469521043207349437815127203398914901";
/// Implementation Version Name written into every output (≤ 16 chars).
pub const IMPLEMENTATION_VERSION: &str = concat!("DICOMMGR_", env!("CARGO_PKG_VERSION"));

/// One file meta element with its raw value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaElement {
    pub tag: Tag,
    pub vr: VR,
    pub value: Vec<u8>,
}

/// The file meta group, in tag order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileMeta {
    pub elements: Vec<MetaElement>,
}

impl FileMeta {
    /// Reads meta elements (explicit VR little endian) for as long as the
    /// next tag is in group 0002; stops with the source at the data set.
    pub fn read<R: Read>(source: &mut Source<R>) -> Result<FileMeta, StreamError> {
        let mut meta = FileMeta::default();
        loop {
            let mut group = [0u8; 2];
            if !source.read_exact_or_eof(&mut group, "the file meta group")? {
                break;
            }
            source.unread(&group);
            if u16::from_le_bytes(group) != 0x0002 {
                break;
            }
            let header = Header::read(source, Syntax::EXPLICIT_VR_LITTLE_ENDIAN)?
                .ok_or_else(|| StreamError::Meta("ends inside an element".into()))?;
            if header.len > MAX_META_VALUE {
                return Err(StreamError::Meta(format!(
                    "{} declares {} bytes",
                    header.tag, header.len
                )));
            }
            if meta.elements.len() >= MAX_META_ELEMENTS {
                return Err(StreamError::Meta("too many elements".into()));
            }
            let value = source.read_value(header.len, What::Value(header.tag))?;
            if header.tag != GROUP_LENGTH {
                meta.set(header.tag, header.vr, value);
            }
        }
        Ok(meta)
    }

    pub fn get(&self, tag: Tag) -> Option<&[u8]> {
        self.elements
            .iter()
            .find(|e| e.tag == tag)
            .map(|e| e.value.as_slice())
    }

    /// A text value without its padding.
    pub fn text(&self, tag: Tag) -> Option<String> {
        self.get(tag).map(|v| {
            String::from_utf8_lossy(v)
                .trim_end_matches(['\0', ' '])
                .to_string()
        })
    }

    /// Sets (or adds, in tag order) an element.
    pub fn set(&mut self, tag: Tag, vr: VR, value: Vec<u8>) {
        let element = MetaElement { tag, vr, value };
        match self.elements.binary_search_by_key(&tag, |e| e.tag) {
            Ok(i) => self.elements[i] = element,
            Err(i) => self.elements.insert(i, element),
        }
    }

    /// Sets a UI value, padded to even length with NUL as PS3.5 requires.
    pub fn set_uid(&mut self, tag: Tag, uid: &str) {
        self.set(tag, VR::UI, pad(uid.as_bytes(), b'\0'));
    }

    pub fn remove(&mut self, tag: Tag) {
        self.elements.retain(|e| e.tag != tag);
    }

    /// Writes preamble, `DICM` and the group with a fresh group length.
    pub fn write<W: Write>(&self, out: &mut W) -> Result<(), StreamError> {
        let mut body = Vec::with_capacity(256);
        for element in &self.elements {
            Header {
                tag: element.tag,
                vr: element.vr,
                len: element.value.len() as u32,
            }
            .write(&mut body, Syntax::EXPLICIT_VR_LITTLE_ENDIAN)?;
            body.extend_from_slice(&element.value);
        }
        let mut head = vec![0u8; 128];
        head.extend_from_slice(b"DICM");
        Header {
            tag: GROUP_LENGTH,
            vr: VR::UL,
            len: 4,
        }
        .write(&mut head, Syntax::EXPLICIT_VR_LITTLE_ENDIAN)?;
        head.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.write_all(&head).map_err(StreamError::Write)?;
        out.write_all(&body).map_err(StreamError::Write)
    }
}

/// Pads a text value to even length.
pub fn pad(value: &[u8], with: u8) -> Vec<u8> {
    let mut out = value.to_vec();
    if out.len() % 2 == 1 {
        out.push(with);
    }
    out
}

/// A value without the padding [`pad`] (or another writer) added: trailing
/// NULs and spaces.
pub fn unpad(value: &[u8]) -> &[u8] {
    let end = value
        .iter()
        .rposition(|&b| b != 0 && b != b' ')
        .map_or(0, |i| i + 1);
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_roundtrips_with_a_fresh_group_length() {
        let mut meta = FileMeta::default();
        meta.set(INFORMATION_VERSION, VR::OB, vec![0, 1]);
        meta.set_uid(TRANSFER_SYNTAX_UID, "1.2.840.10008.1.2.1");
        meta.set_uid(MEDIA_STORAGE_SOP_INSTANCE_UID, "1.2.3");
        let mut bytes = Vec::new();
        meta.write(&mut bytes).unwrap();
        assert_eq!(&bytes[128..132], b"DICM");
        let group_length = u32::from_le_bytes(bytes[140..144].try_into().unwrap());
        assert_eq!(group_length as usize, bytes.len() - 144);

        let mut source = Source::new(&bytes[132..]);
        let read = FileMeta::read(&mut source).unwrap();
        assert_eq!(read, meta);
        assert_eq!(
            read.text(TRANSFER_SYNTAX_UID).as_deref(),
            Some("1.2.840.10008.1.2.1")
        );
    }

    #[test]
    fn reading_stops_at_the_data_set() {
        let mut bytes = Vec::new();
        Header {
            tag: TRANSFER_SYNTAX_UID,
            vr: VR::UI,
            len: 2,
        }
        .write(&mut bytes, Syntax::EXPLICIT_VR_LITTLE_ENDIAN)
        .unwrap();
        bytes.extend_from_slice(b"1\0\x08\x00\x05\x00");
        let mut source = Source::new(&bytes[..]);
        let meta = FileMeta::read(&mut source).unwrap();
        assert_eq!(meta.elements.len(), 1);
        assert_eq!(source.position(), 10);
    }

    #[test]
    fn implementation_version_fits_sh() {
        assert!(IMPLEMENTATION_VERSION.len() <= 16);
    }
}
