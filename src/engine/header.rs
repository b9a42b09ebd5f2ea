//! The first pass: the few top-level attributes that number patients and
//! judge burned-in risk, read from the start of each file (never as far as
//! the pixel data).

use std::io::Read;
use std::path::Path;

use dicom_core::Tag;

use super::FileError;
use super::burned_in::{BurnedInClues, BurnedInRisk};
use crate::charset::{CharacterSet, printable};
use crate::stream::{
    Header, Layout, OpenError, OpenedFile, What, open_reader, open_source, skip_value,
};

const SPECIFIC_CHARACTER_SET: Tag = Tag(0x0008, 0x0005);
const SOP_CLASS_UID: Tag = Tag(0x0008, 0x0016);
const SOP_INSTANCE_UID: Tag = Tag(0x0008, 0x0018);
const IMAGE_TYPE: Tag = Tag(0x0008, 0x0008);
const MODALITY: Tag = Tag(0x0008, 0x0060);
const PATIENT_NAME: Tag = Tag(0x0010, 0x0010);
const PATIENT_ID: Tag = Tag(0x0010, 0x0020);
const STUDY_INSTANCE_UID: Tag = Tag(0x0020, 0x000D);
const SERIES_INSTANCE_UID: Tag = Tag(0x0020, 0x000E);
const BURNED_IN_ANNOTATION: Tag = Tag(0x0028, 0x0301);

/// What the first pass learns about one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderFacts {
    /// Patient ID, decoded, without padding; empty when absent.
    pub patient_id: String,
    /// Patient's Name, decoded and made printable, for the audit.
    pub patient_name: String,
    pub study_uid: String,
    pub series_uid: String,
    /// SOP Class and Instance UIDs of the data set, as stored: the file
    /// meta of the output is made from them, so that the two always agree.
    pub sop_uids: SopUids,
    pub burned_in: BurnedInRisk,
}

/// The raw values of (0008,0016) and (0008,0018), when present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SopUids {
    pub class: Option<Vec<u8>>,
    pub instance: Option<Vec<u8>>,
}

/// The first pass reads a few KiB per file: a small buffer keeps it from
/// reading (and allocating) far ahead into pixel data it will not use.
const HEADER_BUFFER: usize = 4 * 1024;

/// Reads the top-level attributes of a file up to Burned In Annotation
/// (0028,0301): what numbering and the burned-in column need.
pub fn read_header_facts(path: &Path, layout: Layout) -> Result<HeaderFacts, FileError> {
    let file = open_source(path).map_err(OpenError::Io)?;
    let rest = std::io::BufReader::with_capacity(HEADER_BUFFER, file);
    facts_of(open_reader(rest, layout)?)
}

/// [`read_header_facts`] of a file already open, whose first bytes
/// (`head`, read to sniff it) come first: no seek back, and for most files
/// no read beyond `head`.
pub fn read_header_facts_of_file(
    head: Vec<u8>,
    file: std::fs::File,
    layout: Layout,
) -> Result<HeaderFacts, FileError> {
    let rest = std::io::BufReader::with_capacity(HEADER_BUFFER, file);
    facts_of(open_reader(std::io::Cursor::new(head).chain(rest), layout)?)
}

/// Reads the first bytes of a file, enough to sniff it and, usually, to
/// find every attribute the first pass wants.
pub fn read_head(file: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEADER_BUFFER);
    (&mut *file)
        .take(HEADER_BUFFER as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// [`read_header_facts`] of bytes in memory.
pub fn read_header_facts_from(bytes: &[u8], layout: Layout) -> Result<HeaderFacts, FileError> {
    facts_of(open_reader(bytes, layout)?)
}

fn facts_of(mut file: OpenedFile<'_>) -> Result<HeaderFacts, FileError> {
    let syntax = file.syntax;
    let source = &mut file.dataset;
    let mut charset = CharacterSet::default();
    let mut facts = HeaderFacts::default();
    let mut clues = BurnedInClues::default();
    while let Some(header) = Header::read_top_level(source, syntax)? {
        if header.tag > BURNED_IN_ANNOTATION {
            break;
        }
        let wanted = [
            SPECIFIC_CHARACTER_SET,
            IMAGE_TYPE,
            SOP_CLASS_UID,
            SOP_INSTANCE_UID,
            MODALITY,
            PATIENT_NAME,
            PATIENT_ID,
            STUDY_INSTANCE_UID,
            SERIES_INSTANCE_UID,
            BURNED_IN_ANNOTATION,
        ];
        if !wanted.contains(&header.tag) || header.is_undefined_length() {
            skip_value(source, &header, syntax, 0)?;
            continue;
        }
        let value = source.read_value(header.len, What::Value(header.tag))?;
        let text = || printable(&charset.decode(&value)).trim().to_string();
        match header.tag {
            SPECIFIC_CHARACTER_SET => charset = CharacterSet::from_declaration(&value),
            SOP_CLASS_UID => {
                clues.sop_class = text();
                facts.sop_uids.class = Some(value);
            }
            SOP_INSTANCE_UID => facts.sop_uids.instance = Some(value),
            PATIENT_NAME => facts.patient_name = text(),
            PATIENT_ID => facts.patient_id = text(),
            STUDY_INSTANCE_UID => facts.study_uid = text(),
            SERIES_INSTANCE_UID => facts.series_uid = text(),
            IMAGE_TYPE => clues.image_type = text(),
            MODALITY => clues.modality = text(),
            BURNED_IN_ANNOTATION => clues.burned_in_annotation = Some(text()),
            _ => {}
        }
    }
    facts.burned_in = clues.risk();
    Ok(facts)
}
