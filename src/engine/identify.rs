//! The identifying values of one file, for `clean`: every person name and
//! the IDs, accession number and birth date, at every depth of the data
//! set (a requesting physician in a request sequence, a person name in
//! report content), read before the file is rewritten.

use std::io::Read;

use dicom_core::{Tag, VR};

use super::FileError;
use crate::charset::CharacterSet;
use crate::rules::Identifiers;
use crate::stream::{
    Header, ITEM, ITEM_DELIMITER, MAX_DEPTH, OpenedFile, SEQUENCE_DELIMITER, Source, StreamError,
    Syntax, What, skip_value,
};

const SPECIFIC_CHARACTER_SET: Tag = Tag(0x0008, 0x0005);
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
const PATIENT_BIRTH_DATE: Tag = Tag(0x0010, 0x0030);

/// Identifiers (not names) whose values identify the patient.
const IDS: [Tag; 5] = [
    Tag(0x0008, 0x0050), // AccessionNumber
    Tag(0x0010, 0x0020), // PatientID
    Tag(0x0010, 0x1000), // OtherPatientIDs
    Tag(0x0010, 0x1090), // MedicalRecordLocator
    Tag(0x0020, 0x0010), // StudyID
];

/// Collects the identifying values of a file's data set, up to its
/// top-level pixel data.
pub fn collect_identifiers(mut file: OpenedFile<'_>) -> Result<Identifiers, FileError> {
    let mut found = Identifiers::default();
    let syntax = file.syntax;
    let source = &mut file.dataset;
    let mut charset = CharacterSet::default();
    while let Some(header) = Header::read_top_level(source, syntax)? {
        if header.tag == PIXEL_DATA {
            break;
        }
        element(source, &header, syntax, 0, &mut charset, &mut found)?;
    }
    Ok(found)
}

fn element<R: Read>(
    source: &mut Source<R>,
    header: &Header,
    syntax: Syntax,
    depth: usize,
    charset: &mut CharacterSet,
    found: &mut Identifiers,
) -> Result<(), FileError> {
    if header.is_sequence() {
        return sequence(source, header, syntax, depth, charset, found);
    }
    let wanted = header.vr == VR::PN
        || IDS.contains(&header.tag)
        || header.tag == PATIENT_BIRTH_DATE
        || header.tag == SPECIFIC_CHARACTER_SET;
    if !wanted || header.is_undefined_length() {
        skip_value(source, header, syntax, depth)?;
        return Ok(());
    }
    let value = source.read_value(header.len, What::Value(header.tag))?;
    if header.tag == SPECIFIC_CHARACTER_SET {
        *charset = CharacterSet::from_declaration(&value);
        return Ok(());
    }
    let text = charset.decode(&value);
    match header.tag {
        PATIENT_BIRTH_DATE => found.add_date(&text),
        tag if IDS.contains(&tag) => found.add_id(&text),
        _ => found.add_name(&text),
    }
    Ok(())
}

fn sequence<R: Read>(
    source: &mut Source<R>,
    header: &Header,
    syntax: Syntax,
    depth: usize,
    charset: &CharacterSet,
    found: &mut Identifiers,
) -> Result<(), FileError> {
    if depth >= MAX_DEPTH {
        return Err(StreamError::TooDeep {
            max: MAX_DEPTH,
            offset: source.position(),
        }
        .into());
    }
    let inner = header.item_syntax(syntax);
    let end = (!header.is_undefined_length()).then(|| source.position() + u64::from(header.len));
    loop {
        if end.is_some_and(|end| source.position() >= end) {
            return Ok(());
        }
        let item = Header::read(source, inner)?.ok_or_else(|| StreamError::Truncated {
            what: What::Sequence(header.tag).to_string(),
            offset: source.position(),
        })?;
        match item.tag {
            SEQUENCE_DELIMITER => return Ok(()),
            ITEM => {}
            tag => {
                return Err(StreamError::UnexpectedTag {
                    tag,
                    offset: source.position(),
                    context: "where a sequence item should start",
                }
                .into());
            }
        }
        let item_end =
            (!item.is_undefined_length()).then(|| source.position() + u64::from(item.len));
        // An item inherits the character set; a declaration inside it
        // holds for that item only.
        let mut item_charset = charset.clone();
        loop {
            if item_end.is_some_and(|end| source.position() >= end) {
                break;
            }
            let Some(element_header) = Header::read(source, inner)? else {
                return Err(StreamError::Truncated {
                    what: "a sequence item".into(),
                    offset: source.position(),
                }
                .into());
            };
            if element_header.tag == ITEM_DELIMITER {
                break;
            }
            element(
                source,
                &element_header,
                inner,
                depth + 1,
                &mut item_charset,
                found,
            )?;
        }
    }
}
