//! The header facts the scan reads: the few top-level attributes that
//! number patients and judge burned-in risk, read from the start of each
//! file (never as far as the pixel data).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use dicom_core::Tag;

use super::FileError;
use super::burned_in::{BurnedInClues, BurnedInRisk};
use super::head::{Head, ReaderAt};
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

/// What the scan learns about one file.
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

/// Headers longer than a [`Head`] are read on in steps this size: a small
/// buffer keeps the scan from reading far ahead into pixel data it will
/// not use.
const HEADER_BUFFER: usize = 4 * 1024;

/// Reads the top-level attributes of a file up to Burned In Annotation
/// (0028,0301): what numbering and the burned-in column need.
pub fn read_header_facts(path: &Path, layout: Layout) -> Result<HeaderFacts, FileError> {
    let file = open_source(path).map_err(OpenError::Io)?;
    let rest = BufReader::with_capacity(HEADER_BUFFER, file);
    facts_of(open_reader(rest, layout)?)
}

/// [`read_header_facts`] of a file whose first bytes were read: the rest
/// of the header, for the rare header longer than `head`, is read from
/// `file` after them.
pub fn read_header_facts_of_file(
    head: &Head,
    file: &File,
    layout: Layout,
) -> Result<HeaderFacts, FileError> {
    let after_head = ReaderAt {
        file,
        offset: head.bytes().len() as u64,
    };
    let rest = BufReader::with_capacity(HEADER_BUFFER, after_head);
    facts_of(open_reader(head.bytes().chain(rest), layout)?)
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
