//! The records of a new DICOMDIR, made from the outputs its source's
//! records point at.
//!
//! Every value comes from an output (never from the source DICOMDIR), so a
//! record holds exactly what its files hold, byte for byte: the same
//! pseudonyms, new UIDs and shifted dates. Records are grouped again by
//! those values (PATIENT by Patient ID, STUDY by Study Instance UID,
//! SERIES by Series Instance UID), so that every record agrees with all
//! the files below it, even where the run gave two source patients one
//! index.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dicom_core::Tag;
use dicom_dictionary_std::tags;

use super::DirectoryError;
use super::encode::{Encoded, Record};
use super::fileid;
use crate::codec::tree::{Extent, read_tree};
use crate::codec::{Layout, implicit_vr, meta, open_file};

/// The record types above a file's record, root first.
pub const LEVELS: [&str; 3] = ["PATIENT", "STUDY", "SERIES"];

/// The attribute that tells records of a level apart.
const LEVEL_KEYS: [Tag; 3] = [
    tags::PATIENT_ID,
    tags::STUDY_INSTANCE_UID,
    tags::SERIES_INSTANCE_UID,
];

/// Keys a record of each type must have (Type 1 and 2 of PS3.3 F.5): when
/// the file has none, a Type 1 key gets a [`dummy`], a Type 2 key is empty.
fn required(record_type: &str) -> &'static [Tag] {
    match record_type {
        "PATIENT" => &[tags::PATIENT_NAME, tags::PATIENT_ID],
        "STUDY" => &[
            tags::STUDY_DATE,
            tags::STUDY_TIME,
            tags::ACCESSION_NUMBER,
            tags::STUDY_DESCRIPTION,
            tags::STUDY_INSTANCE_UID,
            tags::STUDY_ID,
        ],
        "SERIES" => &[
            tags::MODALITY,
            tags::SERIES_INSTANCE_UID,
            tags::SERIES_NUMBER,
        ],
        "IMAGE" => &[tags::INSTANCE_NUMBER],
        _ => &[],
    }
}

/// The value a Type 1 key gets when its file has none (PS3.15 empties
/// Study Date, Time and ID in the images, where they are Type 2, but a
/// STUDY record must have them): fixed, so it says nothing of anyone.
fn dummy(tag: Tag) -> Option<&'static [u8]> {
    Some(match tag {
        tags::STUDY_DATE => b"19000101",
        tags::STUDY_TIME => b"000000",
        tags::STUDY_ID | tags::SERIES_NUMBER | tags::INSTANCE_NUMBER => b"0 ",
        tags::MODALITY => b"OT",
        _ => return None,
    })
}

/// Whether a record may carry the file's attribute `tag`: not the
/// directory's own (0004), the file meta, group lengths, private
/// attributes (a record's keys are standard), the de-identification stamp
/// (it describes the image, not the directory), icons, overlays, pixels
/// and signatures.
fn copyable(tag: Tag) -> bool {
    let (group, element) = (tag.group(), tag.element());
    !(group == 0x0002
        || group == 0x0004
        || element == 0x0000
        || group % 2 == 1
        || (group == 0x0012 && (0x0062..=0x0064).contains(&element))
        || tag == tags::ICON_IMAGE_SEQUENCE
        || (0x6000..=0x60FF).contains(&group)
        || group == 0x7FE0
        || group == 0xFFFA
        || group == 0x0400)
}

/// The attributes of a file that the records of one of its source records
/// and those above it may need.
pub fn wanted(record_type: &str, tags_of_records: &[&[Tag]]) -> BTreeSet<Tag> {
    let mut wanted: BTreeSet<Tag> = tags_of_records
        .iter()
        .flat_map(|tags| tags.iter().copied())
        .chain(
            LEVELS
                .iter()
                .flat_map(|level| required(level).iter().copied()),
        )
        .chain(required(record_type).iter().copied())
        .filter(|tag| copyable(*tag))
        .collect();
    wanted.insert(tags::SPECIFIC_CHARACTER_SET);
    wanted
}

/// An output a record points at, with the values records take from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencedFile {
    /// Its file ID, relative to the new DICOMDIR.
    pub file_id: Vec<String>,
    /// Top-level attributes, encoded as a record holds them.
    pub values: BTreeMap<Tag, Encoded>,
    /// Media Storage SOP Class / Instance UID and Transfer Syntax UID of
    /// its file meta, as stored (padded).
    pub sop_class: Vec<u8>,
    pub sop_instance: Vec<u8>,
    pub transfer_syntax: Vec<u8>,
}

impl ReferencedFile {
    /// Reads the attributes `wanted` of the output at `path` (its header:
    /// reading stops at the pixel data).
    pub fn read(
        path: &Path,
        file_id: Vec<String>,
        wanted: &BTreeSet<Tag>,
    ) -> Result<ReferencedFile, DirectoryError> {
        let invalid =
            |reason: String| DirectoryError::Invalid(format!("{}: {reason}", path.display()));
        // Outputs are Part 10 files: the run wrote them.
        let mut opened = open_file(path, Layout::Part10).map_err(|e| invalid(e.to_string()))?;
        let file_meta = opened.meta.take().unwrap_or_default();
        let tree = read_tree(&mut opened.dataset, opened.syntax, Extent::Header)
            .map_err(|e| invalid(e.to_string()))?;
        let values = tree
            .dataset
            .elements
            .iter()
            .filter(|element| wanted.contains(&element.tag))
            .filter_map(|element| Some((element.tag, Encoded::of(element, opened.syntax)?)))
            .collect();
        let from_meta = |tag| file_meta.get(tag).map(<[u8]>::to_vec).unwrap_or_default();
        Ok(ReferencedFile {
            file_id,
            values,
            sop_class: from_meta(meta::MEDIA_STORAGE_SOP_CLASS_UID),
            sop_instance: from_meta(meta::MEDIA_STORAGE_SOP_INSTANCE_UID),
            transfer_syntax: opened.transfer_syntax.into_bytes(),
        })
    }

    /// The value of `tag` without its padding, if the file has one that is
    /// not empty.
    fn key(&self, tag: Tag) -> Option<&[u8]> {
        let encoded = self.values.get(&tag)?;
        // Text keys have short headers (8 bytes) in explicit VR.
        let value = encoded.bytes.get(8..)?;
        let end = value
            .iter()
            .rposition(|&b| b != b' ' && b != 0)
            .map_or(0, |i| i + 1);
        (end > 0).then(|| &value[..end])
    }
}

/// One source record above a file's record: who it is (unique in the
/// run) and the tags of its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLevel {
    pub id: (usize, usize),
    pub tags: Vec<Tag>,
}

/// A file's record of a source DICOMDIR, with its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// Its PATIENT, STUDY and SERIES records.
    pub levels: [SourceLevel; 3],
    pub record_type: String,
    pub tags: Vec<Tag>,
    pub file: ReferencedFile,
}

/// How records of a level are told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    /// By the value of the level's key in the files.
    Value(Vec<u8>),
    /// By the source record, where the files have no such value.
    Source((usize, usize)),
}

/// A PATIENT, STUDY or SERIES record being gathered.
struct Node {
    key: Key,
    /// The first leaf below it: its file gives the record's values.
    first: usize,
    /// The tags of the first source record of this group.
    tags: Vec<Tag>,
    children: Vec<Node>,
    leaves: Vec<usize>,
}

/// The root records (PATIENT) of a new DICOMDIR holding `leaves`, in the
/// order they come.
pub fn build(leaves: &[Leaf]) -> Vec<Record> {
    let mut patients: Vec<Node> = Vec::new();
    for (index, leaf) in leaves.iter().enumerate() {
        let [patient, study, series] = &leaf.levels;
        let p = find_or_add(&mut patients, leaf, 0, patient, index);
        let studies = &mut patients[p].children;
        let s = find_or_add(studies, leaf, 1, study, index);
        let all_series = &mut studies[s].children;
        let e = find_or_add(all_series, leaf, 2, series, index);
        all_series[e].leaves.push(index);
    }
    patients
        .iter()
        .map(|patient| record_of(patient, 0, leaves))
        .collect()
}

/// The node of `nodes` that `leaf` belongs to at `level`, added if new.
fn find_or_add(
    nodes: &mut Vec<Node>,
    leaf: &Leaf,
    level: usize,
    source: &SourceLevel,
    index: usize,
) -> usize {
    let key = match leaf.file.key(LEVEL_KEYS[level]) {
        Some(value) => Key::Value(value.to_vec()),
        None => Key::Source(source.id),
    };
    if let Some(at) = nodes.iter().position(|node| node.key == key) {
        return at;
    }
    nodes.push(Node {
        key,
        first: index,
        tags: source.tags.clone(),
        children: Vec::new(),
        leaves: Vec::new(),
    });
    nodes.len() - 1
}

fn record_of(node: &Node, level: usize, leaves: &[Leaf]) -> Record {
    let record_type = LEVELS[level];
    let children = if level + 1 < LEVELS.len() {
        node.children
            .iter()
            .map(|child| record_of(child, level + 1, leaves))
            .collect()
    } else {
        node.leaves
            .iter()
            .map(|&i| leaf_record(&leaves[i]))
            .collect()
    };
    Record {
        record_type: record_type.to_string(),
        elements: keys(&node.tags, required(record_type), &leaves[node.first].file),
        children,
    }
}

fn leaf_record(leaf: &Leaf) -> Record {
    let file = &leaf.file;
    let references = [
        (
            tags::REFERENCED_FILE_ID,
            dicom_core::VR::CS,
            fileid::encode(&file.file_id),
        ),
        (
            tags::REFERENCED_SOP_CLASS_UID_IN_FILE,
            dicom_core::VR::UI,
            file.sop_class.clone(),
        ),
        (
            tags::REFERENCED_SOP_INSTANCE_UID_IN_FILE,
            dicom_core::VR::UI,
            file.sop_instance.clone(),
        ),
        (
            tags::REFERENCED_TRANSFER_SYNTAX_UID_IN_FILE,
            dicom_core::VR::UI,
            crate::codec::pad(&file.transfer_syntax, 0),
        ),
    ];
    let mut elements: Vec<Encoded> = references
        .into_iter()
        .filter_map(|(tag, vr, value)| Encoded::new(tag, vr, &value))
        .collect();
    elements.extend(keys(&leaf.tags, required(&leaf.record_type), file));
    Record {
        record_type: leaf.record_type.clone(),
        elements,
        children: Vec::new(),
    }
}

/// The keys of a record: the attributes its source record had and those
/// its type requires, with the file's values; its Specific Character Set
/// when the file has one.
fn keys(source_tags: &[Tag], required: &[Tag], file: &ReferencedFile) -> Vec<Encoded> {
    let mut wanted: BTreeSet<Tag> = source_tags
        .iter()
        .chain(required)
        .copied()
        .filter(|tag| copyable(*tag))
        .collect();
    wanted.insert(tags::SPECIFIC_CHARACTER_SET);
    wanted
        .into_iter()
        .filter_map(|tag| {
            let required = required.contains(&tag);
            match (file.values.get(&tag), dummy(tag)) {
                (Some(_), Some(dummy)) if required && file.key(tag).is_none() => {
                    Encoded::new(tag, implicit_vr(tag), dummy)
                }
                (Some(value), _) => Some(value.clone()),
                (None, Some(dummy)) if required => Encoded::new(tag, implicit_vr(tag), dummy),
                (None, _) if required => Some(Encoded::empty(tag)),
                (None, _) => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use dicom_core::VR;

    use super::*;

    fn file(name: &str, values: &[(Tag, VR, &[u8])]) -> ReferencedFile {
        ReferencedFile {
            file_id: vec![name.to_string()],
            values: values
                .iter()
                .map(|&(tag, vr, value)| (tag, Encoded::new(tag, vr, value).unwrap()))
                .collect(),
            sop_class: b"1.2.840.10008.5.1.4.1.1.2\0".to_vec(),
            sop_instance: name.as_bytes().to_vec(),
            transfer_syntax: b"1.2.840.10008.1.2.1".to_vec(),
        }
    }

    /// A file's record below source records numbered `patient`, `study`,
    /// `series` (the study record had Study Date).
    fn leaf(ids: [usize; 3], file: ReferencedFile) -> Leaf {
        let level = |i: usize, tags: Vec<Tag>| SourceLevel {
            id: (0, ids[i]),
            tags,
        };
        Leaf {
            levels: [
                level(0, vec![tags::PATIENT_NAME]),
                level(1, vec![tags::STUDY_DATE]),
                level(2, vec![]),
            ],
            record_type: "IMAGE".into(),
            tags: vec![tags::IMAGE_TYPE, Tag(0x0009, 0x1001)],
            file,
        }
    }

    fn value(record: &Record, tag: Tag) -> Option<Vec<u8>> {
        record
            .elements
            .iter()
            .find(|e| e.tag == tag)
            .map(|e| e.bytes[8..].to_vec())
    }

    #[test]
    fn records_are_grouped_by_the_values_of_the_outputs() {
        let image = |name: &str, patient: &[u8], study: &[u8]| {
            file(
                name,
                &[
                    (tags::PATIENT_ID, VR::LO, patient),
                    (tags::STUDY_INSTANCE_UID, VR::UI, study),
                    (tags::SERIES_INSTANCE_UID, VR::UI, b"9.9\0"),
                ],
            )
        };
        // Two source patients whose files got one patient index: one
        // PATIENT record; a source patient with no Patient ID left in its
        // file stays a patient of its own.
        let leaves = [
            leaf([1, 2, 3], image("A", b"1 ", b"1.1\0")),
            leaf([4, 5, 6], image("B", b"1 ", b"1.2\0")),
            leaf([7, 8, 9], image("C", b"", b"1.3\0")),
        ];
        let roots = build(&leaves);
        assert_eq!(roots.len(), 2);
        assert_eq!(roots[0].children.len(), 2, "two studies of patient 1");
        assert_eq!(value(&roots[0], tags::PATIENT_ID).unwrap(), b"1 ");
        assert_eq!(value(&roots[1], tags::PATIENT_ID).unwrap(), b"");
    }

    #[test]
    fn values_come_from_the_file_and_type_1_keys_it_lacks_get_a_dummy() {
        let leaves = [leaf(
            [1, 2, 3],
            file(
                "A",
                &[
                    (tags::SPECIFIC_CHARACTER_SET, VR::CS, b"ISO_IR 100"),
                    (tags::IMAGE_TYPE, VR::CS, b"ORIGINAL\\PRIMARY "),
                    (tags::STUDY_DATE, VR::DA, b""),
                    (tags::PATIENT_NAME, VR::PN, b"M\xfcller^A "),
                    (tags::PATIENT_ID, VR::LO, b"7 "),
                    (tags::INSTANCE_NUMBER, VR::IS, b"12"),
                    (tags::PATIENT_IDENTITY_REMOVED, VR::CS, b"YES "),
                ],
            ),
        )];
        let roots = build(&leaves);
        let patient = &roots[0];
        // Byte for byte, in the file's character set, which the record names.
        assert_eq!(value(patient, tags::PATIENT_NAME).unwrap(), b"M\xfcller^A ");
        assert_eq!(
            value(patient, tags::SPECIFIC_CHARACTER_SET).unwrap(),
            b"ISO_IR 100"
        );
        let study = &patient.children[0];
        assert_eq!(value(study, tags::STUDY_DATE).unwrap(), b"19000101");
        assert_eq!(value(study, tags::STUDY_TIME).unwrap(), b"000000");
        // Type 2: present and empty.
        assert_eq!(value(study, tags::ACCESSION_NUMBER).unwrap(), b"");
        let series = &study.children[0];
        assert_eq!(value(series, tags::MODALITY).unwrap(), b"OT");
        let image = &series.children[0];
        assert_eq!(value(image, tags::INSTANCE_NUMBER).unwrap(), b"12");
        assert_eq!(
            value(image, tags::IMAGE_TYPE).unwrap(),
            b"ORIGINAL\\PRIMARY "
        );
        assert_eq!(value(image, tags::REFERENCED_FILE_ID).unwrap(), b"A ");
        assert_eq!(
            value(image, tags::REFERENCED_TRANSFER_SYNTAX_UID_IN_FILE).unwrap(),
            b"1.2.840.10008.1.2.1\0"
        );
        // Neither private attributes nor the image's de-identification
        // stamp are a directory's.
        for record in [patient, study, series, image] {
            assert!(value(record, Tag(0x0009, 0x1001)).is_none());
            assert!(value(record, tags::PATIENT_IDENTITY_REMOVED).is_none());
        }
        // Elements in tag order.
        for record in [patient, study, series, image] {
            let order: Vec<Tag> = record.elements.iter().map(|e| e.tag).collect();
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(order, sorted, "{}", record.record_type);
        }
    }
}
