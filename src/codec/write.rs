//! Writing elements: group lengths, delimiters and lengths, and the
//! re-encoding of values whose syntax changes between reading and writing
//! (a UN sequence of a big endian file, written as SQ in big endian).

use std::io::{self, Write};

use dicom_core::{Tag, VR};

use super::{Header, StreamError, Syntax, UNDEFINED_LENGTH};

/// How the elements of a data set are read and how they are written.
/// The same nearly always; they differ only inside a sequence written as
/// UN (implicit VR little endian, PS3.5 §6.2.2) in a big endian file,
/// which is written as a sequence in the file's own syntax, so that the
/// whole output has one byte order (as DCMTK writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coding {
    pub read: Syntax,
    pub write: Syntax,
}

impl Coding {
    /// Read and written alike (everywhere but inside transcoded sequences).
    pub fn same(syntax: Syntax) -> Coding {
        Coding {
            read: syntax,
            write: syntax,
        }
    }

    /// Whether values change encoding between reading and writing.
    pub fn transcodes(self) -> bool {
        self.read != self.write
    }

    /// The coding of the items of `sequence`: read as the sequence says
    /// (UN holds implicit VR little endian items); written in the same
    /// syntax, except in a big endian output, which is big endian
    /// throughout.
    pub fn items_of(self, sequence: &Header) -> Coding {
        let read = sequence.item_syntax(self.read);
        let write = if self.write.big_endian {
            self.write
        } else {
            read
        };
        Coding { read, write }
    }
}

/// Makes `value`, read as [`Coding::read`] with the (dictionary) VR `vr`,
/// a value for [`Coding::write`]; returns the VR to write it with. Binary
/// numbers change byte order; a value whose length does not fit its VR is
/// written as UN, as it was (UN bytes are never reinterpreted).
pub fn transcode_value(value: &mut [u8], vr: VR, coding: Coding) -> VR {
    let width = match vr {
        VR::US | VR::SS | VR::OW | VR::AT => 2,
        VR::UL | VR::SL | VR::FL | VR::OF | VR::OL => 4,
        VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => 8,
        _ => 1,
    };
    let long_length = Header {
        tag: Tag(0, 0),
        vr,
        len: 0,
    }
    .length_field_size(coding.write)
        == 4;
    let fits =
        value.len().is_multiple_of(width) && (long_length || value.len() <= usize::from(u16::MAX));
    if vr == VR::UN || !fits {
        return VR::UN;
    }
    if width > 1 && coding.read.big_endian != coding.write.big_endian {
        for number in value.chunks_exact_mut(width) {
            number.reverse();
        }
    }
    vr
}

/// Writes a group length element (gggg,0000) and the group it measures;
/// nothing when the rules left nothing of the group (a group length alone
/// would keep a removed private group's number in the output).
pub fn write_group<W: Write>(
    out: &mut W,
    syntax: Syntax,
    group: u16,
    elements: &[u8],
) -> Result<(), StreamError> {
    if elements.is_empty() {
        return Ok(());
    }
    let len = checked_len(elements.len())?;
    Header {
        tag: Tag(group, 0x0000),
        vr: VR::UL,
        len: 4,
    }
    .write(out, syntax)?;
    out.write_all(&syntax.u32_bytes(len))
        .map_err(StreamError::Write)?;
    out.write_all(elements).map_err(StreamError::Write)?;
    Ok(())
}

/// An item or sequence delimiter (they have no value).
pub fn delimiter(tag: Tag) -> Header {
    Header {
        tag,
        vr: VR::UN,
        len: 0,
    }
}

/// A length that fits a 32-bit defined length (not the undefined one).
pub fn checked_len(len: usize) -> Result<u32, StreamError> {
    u32::try_from(len)
        .ok()
        .filter(|&l| l != UNDEFINED_LENGTH)
        .ok_or_else(|| StreamError::Write(io::Error::other("value longer than 4 GiB")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: Syntax = Syntax::EXPLICIT_VR_BIG_ENDIAN;
    const IMPLICIT: Syntax = Syntax::IMPLICIT_VR_LITTLE_ENDIAN;

    fn transcoding() -> Coding {
        Coding {
            read: IMPLICIT,
            write: BIG,
        }
    }

    #[test]
    fn numbers_change_byte_order_and_text_does_not() {
        let mut rows = 0x0102u16.to_le_bytes().to_vec();
        assert_eq!(transcode_value(&mut rows, VR::US, transcoding()), VR::US);
        assert_eq!(rows, 0x0102u16.to_be_bytes());
        let mut spacing = 1.5f64.to_le_bytes().to_vec();
        assert_eq!(transcode_value(&mut spacing, VR::FD, transcoding()), VR::FD);
        assert_eq!(spacing, 1.5f64.to_be_bytes());
        let mut name = b"Doe^Jane".to_vec();
        assert_eq!(transcode_value(&mut name, VR::PN, transcoding()), VR::PN);
        assert_eq!(name, b"Doe^Jane");
    }

    #[test]
    fn values_that_do_not_fit_their_vr_stay_un_and_untouched() {
        let mut odd = vec![1, 2, 3];
        assert_eq!(transcode_value(&mut odd, VR::US, transcoding()), VR::UN);
        assert_eq!(odd, [1, 2, 3]);
        let mut long = vec![b'a'; 70_000];
        assert_eq!(transcode_value(&mut long, VR::LO, transcoding()), VR::UN);
        let mut unknown = vec![1, 2];
        assert_eq!(transcode_value(&mut unknown, VR::UN, transcoding()), VR::UN);
        assert_eq!(unknown, [1, 2]);
    }

    #[test]
    fn items_of_a_un_sequence_are_written_big_endian_in_a_big_endian_file() {
        let un = Header {
            tag: Tag(0x0029, 0x1010),
            vr: VR::UN,
            len: UNDEFINED_LENGTH,
        };
        let items = Coding::same(BIG).items_of(&un);
        assert_eq!(items, transcoding());
        assert!(items.transcodes());
        // In a little endian file they stay as they were.
        let little = Syntax::EXPLICIT_VR_LITTLE_ENDIAN;
        assert_eq!(Coding::same(little).items_of(&un), Coding::same(IMPLICIT));
        let sq = Header { vr: VR::SQ, ..un };
        assert_eq!(Coding::same(BIG).items_of(&sq), Coding::same(BIG));
    }

    #[test]
    fn a_group_is_written_with_its_length_or_not_at_all() {
        let mut out = Vec::new();
        write_group(&mut out, Syntax::EXPLICIT_VR_LITTLE_ENDIAN, 0x0009, &[]).unwrap();
        assert!(out.is_empty(), "an emptied group leaves no group length");
        write_group(&mut out, Syntax::EXPLICIT_VR_LITTLE_ENDIAN, 0x0009, &[7; 6]).unwrap();
        assert_eq!(&out[..8], b"\x09\x00\x00\x00UL\x04\x00");
        assert_eq!(&out[8..12], &6u32.to_le_bytes());
        assert_eq!(&out[12..], &[7; 6]);
    }

    #[test]
    fn delimiters_are_written_in_the_syntax_asked_for() {
        let mut out = Vec::new();
        delimiter(super::super::SEQUENCE_DELIMITER)
            .write(&mut out, BIG)
            .unwrap();
        assert_eq!(out, b"\xff\xfe\xe0\xdd\x00\x00\x00\x00");
        assert!(checked_len(usize::MAX).is_err());
        assert_eq!(checked_len(10).unwrap(), 10);
    }
}
