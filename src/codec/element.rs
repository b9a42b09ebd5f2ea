//! Element headers and transfer syntaxes (PS3.5 §7.1 and §10).

use std::io::Write;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags, uids};
use dicom_encoding::transfer_syntax::{Codec, Endianness, TransferSyntaxIndex};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::{Source, StreamError, What};

/// Item (FFFE,E000).
pub const ITEM: Tag = Tag(0xFFFE, 0xE000);
/// Item Delimitation Item (FFFE,E00D).
pub const ITEM_DELIMITER: Tag = Tag(0xFFFE, 0xE00D);
/// Sequence Delimitation Item (FFFE,E0DD).
pub const SEQUENCE_DELIMITER: Tag = Tag(0xFFFE, 0xE0DD);
/// Pixel Data (7FE0,0010).
const PIXEL_DATA: Tag = tags::PIXEL_DATA;
/// The length value that means "until a delimiter".
pub const UNDEFINED_LENGTH: u32 = 0xFFFF_FFFF;

/// How a data set is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syntax {
    pub explicit_vr: bool,
    pub big_endian: bool,
    /// The data set is a raw deflate stream (PS3.5 A.5).
    pub deflated: bool,
}

impl Syntax {
    pub const IMPLICIT_VR_LITTLE_ENDIAN: Syntax = Syntax {
        explicit_vr: false,
        big_endian: false,
        deflated: false,
    };
    pub const EXPLICIT_VR_LITTLE_ENDIAN: Syntax = Syntax {
        explicit_vr: true,
        big_endian: false,
        deflated: false,
    };
    pub const EXPLICIT_VR_BIG_ENDIAN: Syntax = Syntax {
        explicit_vr: true,
        big_endian: true,
        deflated: false,
    };

    /// Looks a transfer syntax UID up in the dicom-rs registry.
    #[allow(deprecated)] // Papyrus 3 is retired, but such files exist
    pub fn from_uid(uid: &str) -> Result<Syntax, StreamError> {
        let uid = uid.trim_end_matches(['\0', ' ']);
        let ts = TransferSyntaxRegistry
            .get(uid)
            .ok_or_else(|| StreamError::UnknownTransferSyntax(uid.to_string()))?;
        Ok(Syntax {
            // The registry does not expose the VR encoding; the implicit VR
            // syntaxes are these two (PS3.5 A.1 and the retired Papyrus 3).
            explicit_vr: uid != uids::IMPLICIT_VR_LITTLE_ENDIAN
                && uid != uids::PAPYRUS3_IMPLICIT_VR_LITTLE_ENDIAN,
            big_endian: ts.endianness() == Endianness::Big,
            deflated: matches!(ts.codec(), Codec::Dataset(_)),
        })
    }

    fn u16_from(self, b: [u8; 2]) -> u16 {
        if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    fn u32_from(self, b: [u8; 4]) -> u32 {
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    pub fn u16_to(self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// A 32-bit value in this syntax's byte order.
    pub fn u32_bytes(self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
}

/// One element (or item / delimiter) header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub tag: Tag,
    /// The VR: as written for explicit VR, from the dictionary for implicit VR
    /// (UN when unknown); meaningless for items and delimiters.
    pub vr: VR,
    /// Value length; [`UNDEFINED_LENGTH`] for delimited values.
    pub len: u32,
}

impl Header {
    pub fn is_undefined_length(&self) -> bool {
        self.len == UNDEFINED_LENGTH
    }

    /// Whether the value is a sequence of items holding data sets.
    /// Undefined-length UN is a sequence in implicit VR (PS3.5 §6.2.2).
    pub fn is_sequence(&self) -> bool {
        if self.tag == PIXEL_DATA {
            return false;
        }
        match self.vr {
            VR::SQ => true,
            // A sequence written as UN (CP-246): delimited, or of defined
            // length where the dictionary knows the tag as a sequence.
            VR::UN => self.is_undefined_length() || dictionary_vr(self.tag) == Some(VR::SQ),
            _ => false,
        }
    }

    /// How the items of this sequence are encoded: undefined-length UN
    /// holds implicit VR little endian items (PS3.5 §6.2.2); any other
    /// sequence uses the syntax around it.
    pub fn item_syntax(&self, outer: Syntax) -> Syntax {
        if self.vr == VR::UN {
            Syntax::IMPLICIT_VR_LITTLE_ENDIAN
        } else {
            outer
        }
    }

    /// The VR that decides what a rule may do with this (non-sequence)
    /// value: the one written, except that UN is the dictionary's VR where
    /// the dictionary knows the tag, as DCMTK and pydicom read it (a file
    /// converted by a tool that did not know the tags has every element
    /// as UN; its Patient's Name is still a PN).
    pub fn value_vr(&self) -> VR {
        if self.vr == VR::UN {
            implicit_vr(self.tag)
        } else {
            self.vr
        }
    }

    /// Whether the value is a sequence of byte fragments in items:
    /// encapsulated Pixel Data, or any other OB/OW written the same way.
    pub fn is_fragment_sequence(&self) -> bool {
        self.is_undefined_length() && (self.tag == PIXEL_DATA || matches!(self.vr, VR::OB | VR::OW))
    }

    /// Reads one header; `Ok(None)` on a clean end of stream before it.
    pub fn read<R: std::io::Read>(
        source: &mut Source<R>,
        syntax: Syntax,
    ) -> Result<Option<Header>, StreamError> {
        Header::read_in(source, syntax, false)
    }

    /// Reads the next header of a file's top-level data set: `None` at its
    /// end, also when only zero bytes are left (padding some writers add).
    /// A header that merely starts with tag (0000,0000) is an element (a
    /// command group length, which DCMTK and pydicom read too): ending the
    /// data set there would lose everything after it without a word. Zero
    /// padding must go on to the end of the stream; anything else after
    /// it is an error, never a silent end.
    pub fn read_top_level<R: std::io::Read>(
        source: &mut Source<R>,
        syntax: Syntax,
    ) -> Result<Option<Header>, StreamError> {
        Header::read_in(source, syntax, true)
    }

    fn read_in<R: std::io::Read>(
        source: &mut Source<R>,
        syntax: Syntax,
        top_level: bool,
    ) -> Result<Option<Header>, StreamError> {
        let offset = source.position();
        // Every header starts with 8 bytes: tag and length (implicit VR,
        // items and delimiters), or tag, VR and a short length.
        let mut first = [0u8; 8];
        if !source.read_exact_or_eof(&mut first[..4], "an element tag")? {
            return Ok(None);
        }
        let tag = Tag(
            syntax.u16_from([first[0], first[1]]),
            syntax.u16_from([first[2], first[3]]),
        );
        let what = What::Header(tag);
        if top_level && tag == Tag(0x0000, 0x0000) {
            let rest = source.read_up_to(&mut first[4..])?;
            if first[..4 + rest].iter().all(|&b| b == 0) {
                source.skip_zero_padding(offset)?;
                return Ok(None);
            }
            if rest < 4 {
                return Err(StreamError::Truncated {
                    what: what.to_string(),
                    offset: source.position(),
                });
            }
        } else {
            source.read_exact(&mut first[4..], what)?;
        }
        if tag.group() == 0xFFFE || !syntax.explicit_vr {
            let len = syntax.u32_from([first[4], first[5], first[6], first[7]]);
            let vr = if tag.group() == 0xFFFE {
                VR::UN
            } else {
                implicit_vr_of(tag, len)
            };
            return Ok(Some(Header { tag, vr, len }));
        }
        let vr_bytes = [first[4], first[5]];
        let vr = vr_from_bytes(vr_bytes).ok_or(StreamError::InvalidVr {
            tag,
            bytes: vr_bytes,
            offset,
        })?;
        let len = if has_long_length(vr) {
            // Two reserved bytes (already read), then a 4-byte length.
            let mut long = [0u8; 4];
            source.read_exact(&mut long, what)?;
            syntax.u32_from(long)
        } else {
            u32::from(syntax.u16_from([first[6], first[7]]))
        };
        Ok(Some(Header { tag, vr, len }))
    }

    /// Writes this header in `syntax`.
    pub fn write<W: Write>(&self, out: &mut W, syntax: Syntax) -> Result<(), StreamError> {
        let mut buf = [0u8; 12];
        buf[..2].copy_from_slice(&syntax.u16_to(self.tag.group()));
        buf[2..4].copy_from_slice(&syntax.u16_to(self.tag.element()));
        let n = if self.tag.group() == 0xFFFE || !syntax.explicit_vr {
            buf[4..8].copy_from_slice(&syntax.u32_bytes(self.len));
            8
        } else if has_long_length(self.vr) {
            buf[4..6].copy_from_slice(&self.vr.to_bytes());
            buf[8..12].copy_from_slice(&syntax.u32_bytes(self.len));
            12
        } else {
            buf[4..6].copy_from_slice(&self.vr.to_bytes());
            let short = u16::try_from(self.len).map_err(|_| {
                StreamError::Write(std::io::Error::other(format!(
                    "value of {} is {} bytes, too long for VR {}",
                    self.tag,
                    self.len,
                    self.vr.to_string()
                )))
            })?;
            buf[6..8].copy_from_slice(&syntax.u16_to(short));
            8
        };
        out.write_all(&buf[..n]).map_err(StreamError::Write)
    }
}

impl Header {
    /// How many bytes this header takes when written in `syntax`.
    pub fn encoded_size(&self, syntax: Syntax) -> usize {
        if syntax.explicit_vr && self.tag.group() != 0xFFFE && has_long_length(self.vr) {
            12
        } else {
            8
        }
    }

    /// How many bytes the length field of this header takes when written
    /// in `syntax` (it is always the header's last bytes).
    pub fn length_field_size(&self, syntax: Syntax) -> usize {
        if syntax.explicit_vr && self.tag.group() != 0xFFFE && !has_long_length(self.vr) {
            2
        } else {
            4
        }
    }
}

/// VRs whose explicit-VR header has a 4-byte length (PS3.5 Table 7.1-1).
fn has_long_length(vr: VR) -> bool {
    matches!(
        vr,
        VR::OB
            | VR::OD
            | VR::OF
            | VR::OL
            | VR::OV
            | VR::OW
            | VR::SQ
            | VR::SV
            | VR::UC
            | VR::UN
            | VR::UR
            | VR::UT
            | VR::UV
    )
}

/// The VR written as these two bytes, if it is one (PS3.5 Table 6.2-1).
/// The same answer as `VR::from_binary`, without going through a string:
/// this runs for every element of every file.
pub fn vr_from_bytes(bytes: [u8; 2]) -> Option<VR> {
    Some(match &bytes {
        b"AE" => VR::AE,
        b"AS" => VR::AS,
        b"AT" => VR::AT,
        b"CS" => VR::CS,
        b"DA" => VR::DA,
        b"DS" => VR::DS,
        b"DT" => VR::DT,
        b"FD" => VR::FD,
        b"FL" => VR::FL,
        b"IS" => VR::IS,
        b"LO" => VR::LO,
        b"LT" => VR::LT,
        b"OB" => VR::OB,
        b"OD" => VR::OD,
        b"OF" => VR::OF,
        b"OL" => VR::OL,
        b"OV" => VR::OV,
        b"OW" => VR::OW,
        b"PN" => VR::PN,
        b"SH" => VR::SH,
        b"SL" => VR::SL,
        b"SQ" => VR::SQ,
        b"SS" => VR::SS,
        b"ST" => VR::ST,
        b"SV" => VR::SV,
        b"TM" => VR::TM,
        b"UC" => VR::UC,
        b"UI" => VR::UI,
        b"UL" => VR::UL,
        b"UN" => VR::UN,
        b"UR" => VR::UR,
        b"US" => VR::US,
        b"UT" => VR::UT,
        b"UV" => VR::UV,
        _ => return None,
    })
}

/// A tag as people read it: `PixelData (7FE0,0010)`, or just the tag
/// when the dictionary does not know it (private and unknown tags).
pub fn describe_tag(tag: Tag) -> String {
    match StandardDataDictionary.by_tag(tag) {
        Some(entry) if tag.group() & 1 == 0 && !entry.alias().is_empty() => {
            format!("{} {tag}", entry.alias())
        }
        _ => tag.to_string(),
    }
}

/// The VR of an implicit VR element of length `len`: the dictionary's,
/// except that an undefined length outside Pixel Data can only be a
/// sequence, whatever the dictionary says (PS3.5 §6.2.2, CP-246): the VR
/// is then UN, which [`Header::is_sequence`] reads as a sequence of
/// implicit VR little endian items, as DCMTK and pydicom do.
fn implicit_vr_of(tag: Tag, len: u32) -> VR {
    let vr = implicit_vr(tag);
    if len == UNDEFINED_LENGTH && vr != VR::SQ && tag != PIXEL_DATA {
        VR::UN
    } else {
        vr
    }
}

/// The VR the dictionary gives `tag`, if it knows the tag.
fn dictionary_vr(tag: Tag) -> Option<VR> {
    Some(implicit_vr(tag)).filter(|&vr| vr != VR::UN)
}

/// The VR an implicit VR file means for `tag`, from the standard dictionary.
pub fn implicit_vr(tag: Tag) -> VR {
    if tag.element() == 0x0000 {
        return VR::UL;
    }
    if tag.group() & 1 == 1 && (0x0010..=0x00FF).contains(&tag.element()) {
        // Private Creator
        return VR::LO;
    }
    match StandardDataDictionary.by_tag(tag).map(|e| e.vr()) {
        Some(VirtualVr::Exact(vr)) => vr,
        Some(VirtualVr::Xs) => VR::US,
        Some(VirtualVr::Px | VirtualVr::Ox | VirtualVr::Lt) => VR::OW,
        Some(_) | None => VR::UN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(header: Header, syntax: Syntax) -> Header {
        let mut buf = Vec::new();
        header.write(&mut buf, syntax).unwrap();
        assert_eq!(buf.len(), header.encoded_size(syntax));
        let mut source = Source::new(&buf[..]);
        Header::read(&mut source, syntax).unwrap().unwrap()
    }

    #[test]
    fn headers_roundtrip_in_every_layout() {
        let short = Header {
            tag: Tag(0x0010, 0x0010),
            vr: VR::PN,
            len: 8,
        };
        let long = Header {
            tag: Tag(0x0008, 0x1140),
            vr: VR::SQ,
            len: UNDEFINED_LENGTH,
        };
        for syntax in [
            Syntax::EXPLICIT_VR_LITTLE_ENDIAN,
            Syntax::IMPLICIT_VR_LITTLE_ENDIAN,
            Syntax::from_uid("1.2.840.10008.1.2.2").unwrap(),
        ] {
            assert_eq!(roundtrip(short, syntax), short);
            assert_eq!(roundtrip(long, syntax), long);
        }
    }

    #[test]
    fn explicit_little_endian_layout_is_standard() {
        let mut buf = Vec::new();
        Header {
            tag: Tag(0x0010, 0x0020),
            vr: VR::LO,
            len: 4,
        }
        .write(&mut buf, Syntax::EXPLICIT_VR_LITTLE_ENDIAN)
        .unwrap();
        assert_eq!(buf, b"\x10\x00\x20\x00LO\x04\x00");
    }

    #[test]
    fn too_long_value_for_short_vr_is_an_error() {
        let header = Header {
            tag: Tag(0x0010, 0x0010),
            vr: VR::PN,
            len: 70_000,
        };
        assert!(
            header
                .write(&mut Vec::new(), Syntax::EXPLICIT_VR_LITTLE_ENDIAN)
                .is_err()
        );
    }

    #[test]
    fn transfer_syntaxes_from_the_registry() {
        let deflated = Syntax::from_uid("1.2.840.10008.1.2.1.99").unwrap();
        assert!(deflated.deflated && deflated.explicit_vr);
        let jpeg = Syntax::from_uid("1.2.840.10008.1.2.4.50\0").unwrap();
        assert_eq!(jpeg, Syntax::EXPLICIT_VR_LITTLE_ENDIAN);
        assert!(Syntax::from_uid("1.2.3.4").is_err());
    }

    #[test]
    fn vr_bytes_read_as_dicom_core_reads_them() {
        for first in 0..=255u8 {
            for second in 0..=255u8 {
                let bytes = [first, second];
                assert_eq!(vr_from_bytes(bytes), VR::from_binary(bytes), "{bytes:?}");
            }
        }
    }

    #[test]
    fn undefined_length_without_a_stated_vr_is_a_sequence() {
        let implicit = Syntax::IMPLICIT_VR_LITTLE_ENDIAN;
        for tag in [
            Tag(0x0018, 0x1030),
            Tag(0x0029, 0x0011),
            Tag(0x0042, 0x0011),
        ] {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&tag.group().to_le_bytes());
            bytes.extend_from_slice(&tag.element().to_le_bytes());
            bytes.extend_from_slice(&UNDEFINED_LENGTH.to_le_bytes());
            let header = Header::read(&mut Source::new(&bytes[..]), implicit)
                .unwrap()
                .unwrap();
            assert!(header.is_sequence(), "{tag}");
            assert_eq!(header.item_syntax(implicit), implicit);
        }
        // Pixel Data stays what it is.
        let pixels = Header {
            tag: PIXEL_DATA,
            vr: VR::OB,
            len: UNDEFINED_LENGTH,
        };
        assert!(!pixels.is_sequence() && pixels.is_fragment_sequence());
    }

    #[test]
    fn un_is_read_as_the_dictionary_vr() {
        let un = |tag, len| Header {
            tag,
            vr: VR::UN,
            len,
        };
        assert_eq!(un(Tag(0x0010, 0x0010), 4).value_vr(), VR::PN);
        assert_eq!(un(Tag(0x0009, 0x1010), 4).value_vr(), VR::UN);
        // A defined-length UN the dictionary knows as a sequence is one.
        assert!(un(Tag(0x0008, 0x1140), 8).is_sequence());
        assert!(!un(Tag(0x0010, 0x0010), 8).is_sequence());
    }

    #[test]
    fn top_level_zero_padding_ends_the_data_set_but_nothing_else_does() {
        let syntax = Syntax::EXPLICIT_VR_LITTLE_ENDIAN;
        let read = |bytes: &[u8]| Header::read_top_level(&mut Source::new(bytes), syntax);
        assert_eq!(read(&[0; 20]).unwrap(), None);
        assert_eq!(read(&[0; 6]).unwrap(), None);
        // A command group length is an element, not the end.
        let group_length = b"\x00\x00\x00\x00UL\x04\x00";
        assert_eq!(
            read(group_length).unwrap(),
            Some(Header {
                tag: Tag(0x0000, 0x0000),
                vr: VR::UL,
                len: 4
            })
        );
        // Something after zeros is not padding.
        let mut padded = vec![0u8; 40];
        padded[30] = 7;
        let err = read(&padded).unwrap_err();
        assert!(
            matches!(
                err,
                StreamError::Unread {
                    offset: 30,
                    after: 30
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn implicit_vr_comes_from_the_dictionary() {
        assert_eq!(implicit_vr(Tag(0x0010, 0x0010)), VR::PN);
        assert_eq!(implicit_vr(Tag(0x0008, 0x1140)), VR::SQ);
        assert_eq!(implicit_vr(Tag(0x0009, 0x0010)), VR::LO);
        assert_eq!(implicit_vr(Tag(0x0009, 0x1010)), VR::UN);
    }
}
