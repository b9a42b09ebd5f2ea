//! A DICOMDIR of SOURCE read into its directory records, and the records
//! put in their hierarchy by following the record offsets (PS3.3 F.3).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use dicom_core::Tag;
use dicom_dictionary_std::tags;

use super::DirectoryError;
use super::fileid::components_of;
use crate::codec::{
    Header, ITEM, ITEM_DELIMITER, SEQUENCE_DELIMITER, Source, StreamError, Syntax, What, open_file,
    skip_value, sniff,
};

/// Record in Use Flag (0004,1410) of an inactive record (PS3.3 F.3.2.2).
const INACTIVE: u16 = 0x0000;
/// Deeper than this, a hierarchy is a loop or hostile (a standard one has
/// four levels).
const MAX_LEVELS: usize = 16;

/// One directory record as the source has it: its place, its links and
/// the tags of its other attributes (their values are not kept: a new
/// record takes them from the output it points at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// Where its item starts, in bytes from the start of the file.
    pub offset: u64,
    /// Directory Record Type (0004,1430), padding removed.
    pub record_type: String,
    /// Offset of the next record of the same entity, 0 for none.
    pub next: u64,
    /// Offset of the first record of the entity below, 0 for none.
    pub lower: u64,
    pub in_use: bool,
    /// Referenced File ID (0004,1500), as components.
    pub file_id: Option<Vec<String>>,
    /// The tags of the record's attributes outside group 0004.
    pub tags: Vec<Tag>,
}

/// A source DICOMDIR's records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceDirectory {
    /// Offset of the first record of the root entity, 0 for none.
    pub first_root: u64,
    pub records: Vec<SourceRecord>,
}

/// A record in the hierarchy: its index in [`SourceDirectory::records`]
/// and those of the records above it, root first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub record: usize,
    pub ancestors: Vec<usize>,
}

impl SourceDirectory {
    /// Reads the DICOMDIR at `path`.
    pub fn read(path: &Path) -> Result<SourceDirectory, DirectoryError> {
        let layout = sniff(path)
            .map_err(|source| DirectoryError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .ok_or_else(|| DirectoryError::Invalid("not a DICOM file".into()))?;
        let opened = open_file(path, layout).map_err(|e| DirectoryError::Invalid(e.to_string()))?;
        if opened.syntax.deflated {
            // Offsets count bytes of the file, which a deflated data set
            // does not have in the same places.
            return Err(DirectoryError::Invalid(
                "a deflated DICOMDIR: its record offsets cannot be followed".into(),
            ));
        }
        let syntax = opened.syntax;
        let mut source = opened.dataset;
        let mut directory = SourceDirectory::default();
        while let Some(header) = Header::read_top_level(&mut source, syntax)? {
            match header.tag {
                tags::OFFSET_OF_THE_FIRST_DIRECTORY_RECORD_OF_THE_ROOT_DIRECTORY_ENTITY
                    if !header.is_undefined_length() =>
                {
                    let value = source.read_value(header.len, What::Value(header.tag))?;
                    directory.first_root = u64::from(number(&value, syntax));
                }
                tags::DIRECTORY_RECORD_SEQUENCE if header.is_sequence() => {
                    directory.records = read_records(&mut source, &header, syntax)?;
                }
                _ => skip_value(&mut source, &header, syntax, 0)?,
            }
        }
        Ok(directory)
    }

    /// The records in use, in the order of the hierarchy (each record
    /// before the records below it), found by following the offsets from
    /// the first root record.
    pub fn hierarchy(&self) -> Result<Vec<Placed>, DirectoryError> {
        let at: HashMap<u64, usize> = self
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.offset, i))
            .collect();
        let mut walk = Walk {
            directory: self,
            at,
            seen: HashSet::new(),
            placed: Vec::new(),
        };
        walk.entity(self.first_root, &mut Vec::new())?;
        Ok(walk.placed)
    }
}

struct Walk<'a> {
    directory: &'a SourceDirectory,
    at: HashMap<u64, usize>,
    seen: HashSet<usize>,
    placed: Vec<Placed>,
}

impl Walk<'_> {
    /// The records of one directory entity, from its first at `offset`.
    fn entity(
        &mut self,
        mut offset: u64,
        ancestors: &mut Vec<usize>,
    ) -> Result<(), DirectoryError> {
        if ancestors.len() > MAX_LEVELS {
            return Err(DirectoryError::Invalid(format!(
                "records nested deeper than {MAX_LEVELS} levels"
            )));
        }
        while offset != 0 {
            let index = *self.at.get(&offset).ok_or_else(|| {
                DirectoryError::Invalid(format!(
                    "offset {offset} does not point at a directory record"
                ))
            })?;
            if !self.seen.insert(index) {
                return Err(DirectoryError::Invalid(format!(
                    "the record at offset {offset} is reached twice (its offsets form a loop)"
                )));
            }
            let record = &self.directory.records[index];
            if record.in_use {
                self.placed.push(Placed {
                    record: index,
                    ancestors: ancestors.clone(),
                });
                ancestors.push(index);
                self.entity(record.lower, ancestors)?;
                ancestors.pop();
            }
            offset = record.next;
        }
        Ok(())
    }
}

/// Reads the items of the Directory Record Sequence whose header was
/// just read.
fn read_records<R: std::io::Read>(
    source: &mut Source<R>,
    header: &Header,
    syntax: Syntax,
) -> Result<Vec<SourceRecord>, StreamError> {
    let end = (!header.is_undefined_length()).then(|| source.position() + u64::from(header.len));
    let mut records = Vec::new();
    loop {
        if end.is_some_and(|end| source.position() >= end) {
            break;
        }
        let offset = source.position();
        let item = Header::read(source, syntax)?.ok_or_else(|| StreamError::Truncated {
            what: "the Directory Record Sequence".into(),
            offset: source.position(),
        })?;
        match item.tag {
            SEQUENCE_DELIMITER => break,
            ITEM => records.push(read_record(source, &item, syntax, offset)?),
            tag => {
                return Err(StreamError::UnexpectedTag {
                    tag,
                    offset,
                    context: "where a directory record should start",
                });
            }
        }
    }
    Ok(records)
}

/// Reads one record whose item header (at `offset`) was just read.
fn read_record<R: std::io::Read>(
    source: &mut Source<R>,
    item: &Header,
    syntax: Syntax,
    offset: u64,
) -> Result<SourceRecord, StreamError> {
    let end = (!item.is_undefined_length()).then(|| source.position() + u64::from(item.len));
    let mut record = SourceRecord {
        offset,
        record_type: String::new(),
        next: 0,
        lower: 0,
        in_use: true,
        file_id: None,
        tags: Vec::new(),
    };
    loop {
        if end.is_some_and(|end| source.position() >= end) {
            break;
        }
        let Some(header) = Header::read(source, syntax)? else {
            return Err(StreamError::Truncated {
                what: "a directory record".into(),
                offset: source.position(),
            });
        };
        if header.tag == ITEM_DELIMITER && end.is_none() {
            break;
        }
        let wanted = [
            tags::OFFSET_OF_THE_NEXT_DIRECTORY_RECORD,
            tags::RECORD_IN_USE_FLAG,
            tags::OFFSET_OF_REFERENCED_LOWER_LEVEL_DIRECTORY_ENTITY,
            tags::DIRECTORY_RECORD_TYPE,
            tags::REFERENCED_FILE_ID,
        ];
        if !wanted.contains(&header.tag) || header.is_undefined_length() || header.is_sequence() {
            if header.tag.group() != 0x0004 {
                record.tags.push(header.tag);
            }
            skip_value(source, &header, syntax, 1)?;
            continue;
        }
        let value = source.read_value(header.len, What::Value(header.tag))?;
        match header.tag {
            tags::OFFSET_OF_THE_NEXT_DIRECTORY_RECORD => {
                record.next = u64::from(number(&value, syntax));
            }
            tags::OFFSET_OF_REFERENCED_LOWER_LEVEL_DIRECTORY_ENTITY => {
                record.lower = u64::from(number(&value, syntax));
            }
            tags::RECORD_IN_USE_FLAG => {
                let flag = match value[..] {
                    [a, b] if syntax.big_endian => u16::from_be_bytes([a, b]),
                    [a, b] => u16::from_le_bytes([a, b]),
                    _ => 0xFFFF,
                };
                record.in_use = flag != INACTIVE;
            }
            tags::DIRECTORY_RECORD_TYPE => {
                record.record_type = String::from_utf8_lossy(&value)
                    .trim_matches([' ', '\0'])
                    .to_string();
            }
            _ => record.file_id = Some(components_of(&value)),
        }
    }
    Ok(record)
}

/// A UL value; 0 (no record) when it is not 4 bytes.
fn number(value: &[u8], syntax: Syntax) -> u32 {
    match value {
        [a, b, c, d] if syntax.big_endian => u32::from_be_bytes([*a, *b, *c, *d]),
        [a, b, c, d] => u32::from_le_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: u64, next: u64, lower: u64) -> SourceRecord {
        SourceRecord {
            offset,
            record_type: "PATIENT".into(),
            next,
            lower,
            in_use: true,
            file_id: None,
            tags: Vec::new(),
        }
    }

    #[test]
    fn offsets_that_loop_or_point_nowhere_are_refused() {
        let looped = SourceDirectory {
            first_root: 100,
            records: vec![record(100, 200, 0), record(200, 100, 0)],
        };
        let err = looped.hierarchy().unwrap_err().to_string();
        assert!(err.contains("loop"), "{err}");
        let nowhere = SourceDirectory {
            first_root: 100,
            records: vec![record(100, 0, 300)],
        };
        let err = nowhere.hierarchy().unwrap_err().to_string();
        assert!(err.contains("offset 300"), "{err}");
    }

    #[test]
    fn inactive_records_and_those_below_them_are_left_out() {
        let mut inactive = record(200, 300, 400);
        inactive.in_use = false;
        let directory = SourceDirectory {
            first_root: 100,
            records: vec![
                record(100, 200, 0),
                inactive,
                record(300, 0, 0),
                record(400, 0, 0),
            ],
        };
        let placed: Vec<usize> = directory
            .hierarchy()
            .unwrap()
            .iter()
            .map(|p| p.record)
            .collect();
        assert_eq!(placed, [0, 2]);
    }
}
