//! Telling DICOM files from everything else by their content.

use std::io::{self, Read};
use std::path::Path;

use super::Syntax;

/// Where the parts of a DICOM file start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// PS3.10: a preamble, `DICM`, then the file meta group.
    Part10,
    /// `DICM` and the file meta group without the 128-byte preamble.
    MetaWithoutPreamble,
    /// The file meta group at the very start: no preamble, no `DICM`
    /// (DCMTK reads these too).
    MetaWithoutMarker,
    /// A bare data set (no preamble, no meta), in the syntax guessed from
    /// its first element.
    Bare(Syntax),
}

impl Layout {
    /// Bytes before the file meta group (after `DICM`) or the bare data set.
    pub fn header_skip(self) -> u64 {
        match self {
            Layout::Part10 => 132,
            Layout::MetaWithoutPreamble => 4,
            Layout::MetaWithoutMarker | Layout::Bare(_) => 0,
        }
    }
}

/// Reads the start of `path` and says whether (and how) it is DICOM.
pub fn sniff(path: &Path) -> io::Result<Option<Layout>> {
    sniff_reader(&mut super::open_source(path)?)
}

/// [`sniff`] on an open file (which is left after the bytes it read).
pub fn sniff_reader<R: Read>(file: &mut R) -> io::Result<Option<Layout>> {
    let mut head = [0u8; 140];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(sniff_bytes(&head[..n]))
}

/// The decision of [`sniff`] on the first bytes of a file.
pub fn sniff_bytes(head: &[u8]) -> Option<Layout> {
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        return Some(Layout::Part10);
    }
    if head.starts_with(b"DICM") {
        return Some(Layout::MetaWithoutPreamble);
    }
    if starts_with_file_meta(head) {
        return Some(Layout::MetaWithoutMarker);
    }
    guess_bare_syntax(head).map(Layout::Bare)
}

/// Whether the bytes start with a file meta element (group 0002, explicit
/// VR little endian, as PS3.10 writes it), the group length or another.
fn starts_with_file_meta(head: &[u8]) -> bool {
    head.len() >= 8
        && head[..2] == [0x02, 0x00]
        && u16::from_le_bytes([head[2], head[3]]) <= 0x0100
        && matches!(&head[4..6], b"UL" | b"OB" | b"UI" | b"SH" | b"AE")
}

/// Guesses the syntax of a data set without meta from its first element,
/// which in practice is in group 0008 (Identifying Information). Requiring
/// that group keeps text, images and archives from passing as DICOM.
pub fn guess_bare_syntax(head: &[u8]) -> Option<Syntax> {
    if head.len() < 8 {
        return None;
    }
    let group = u16::from_le_bytes([head[0], head[1]]);
    let element = u16::from_le_bytes([head[2], head[3]]);
    if group != 0x0008 || element > 0x0100 {
        // Explicit VR big endian (DCMTK reads such files): the tag in
        // big endian, and a VR after it.
        let group = u16::from_be_bytes([head[0], head[1]]);
        let element = u16::from_be_bytes([head[2], head[3]]);
        let explicit = super::vr_from_bytes([head[4], head[5]]).is_some();
        return (group == 0x0008 && element <= 0x0100 && explicit)
            .then_some(Syntax::EXPLICIT_VR_BIG_ENDIAN);
    }
    // An implicit VR length whose low bytes spell a VR would be over 16 KiB
    // for the first (short) element: read such bytes as an explicit VR.
    if super::vr_from_bytes([head[4], head[5]]).is_some() {
        return Some(Syntax::EXPLICIT_VR_LITTLE_ENDIAN);
    }
    let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    (len < 0x1_0000 || len == 0xFFFF_FFFF).then_some(Syntax::IMPLICIT_VR_LITTLE_ENDIAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part10_marker() {
        let mut head = vec![0u8; 132];
        head[128..].copy_from_slice(b"DICM");
        assert_eq!(sniff_bytes(&head), Some(Layout::Part10));
    }

    #[test]
    fn bare_implicit_and_explicit_data_sets() {
        let implicit = b"\x08\x00\x05\x00\x0a\x00\x00\x00ISO_IR 100";
        assert_eq!(
            sniff_bytes(implicit),
            Some(Layout::Bare(Syntax::IMPLICIT_VR_LITTLE_ENDIAN))
        );
        let explicit = b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100";
        assert_eq!(
            sniff_bytes(explicit),
            Some(Layout::Bare(Syntax::EXPLICIT_VR_LITTLE_ENDIAN))
        );
    }

    #[test]
    fn bare_big_endian_data_set() {
        let explicit = b"\x00\x08\x00\x05CS\x00\x0aISO_IR 100";
        assert_eq!(
            sniff_bytes(explicit),
            Some(Layout::Bare(Syntax::EXPLICIT_VR_BIG_ENDIAN))
        );
    }

    #[test]
    fn file_meta_at_the_start() {
        let meta = b"\x02\x00\x00\x00UL\x04\x00\x5a\x00\x00\x00";
        assert_eq!(sniff_bytes(meta), Some(Layout::MetaWithoutMarker));
        let meta = b"\x02\x00\x01\x00OB\x00\x00\x02\x00\x00\x00\x00\x01";
        assert_eq!(sniff_bytes(meta), Some(Layout::MetaWithoutMarker));
    }

    #[test]
    fn other_files_are_not_dicom() {
        assert_eq!(sniff_bytes(b""), None);
        assert_eq!(sniff_bytes(b"%PDF-1.4\n% not a DICOM file"), None);
        assert_eq!(sniff_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), None);
        assert_eq!(sniff_bytes(b"\x1f\x8b\x08\x08\0\0\0\0"), None);
        // A big endian tag needs a VR after it.
        assert_eq!(
            sniff_bytes(b"\x00\x08\x00\x05\x00\x00\x00\x0aISO_IR 100"),
            None
        );
        // A data set shifted by one stray byte (corpus broken/no_meta.dcm).
        assert_eq!(sniff_bytes(b" \x08\x00\x05\x00CS\x0a\x00ISO_IR 100"), None);
    }
}
