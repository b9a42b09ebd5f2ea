//! A DICOMDIR written afresh in Explicit VR Little Endian: its records laid
//! out depth first, each record's offsets (0004,1400 / 0004,1420) and the
//! root's (0004,1200 / 0004,1202) computed from the encoded sizes.

use dicom_core::{Tag, VR};
use dicom_dictionary_std::{tags, uids};
use sha2::{Digest, Sha256};

use super::DirectoryError;
use crate::codec::tree::{Element, Value};
use crate::codec::{FileMeta, Header, ITEM, Syntax, implicit_vr, meta, pad};

const OUT: Syntax = Syntax::EXPLICIT_VR_LITTLE_ENDIAN;

/// One element encoded in Explicit VR Little Endian, header included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub tag: Tag,
    pub bytes: Vec<u8>,
}

impl Encoded {
    /// An element of `vr` with `value` (already of even length).
    pub fn new(tag: Tag, vr: VR, value: &[u8]) -> Option<Encoded> {
        let len = u32::try_from(value.len()).ok()?;
        let mut bytes = Vec::with_capacity(12 + value.len());
        Header { tag, vr, len }.write(&mut bytes, OUT).ok()?;
        bytes.extend_from_slice(value);
        Some(Encoded { tag, bytes })
    }

    /// A zero-length element, with the dictionary's VR.
    pub fn empty(tag: Tag) -> Encoded {
        let vr = match implicit_vr(tag) {
            VR::UN => VR::LO,
            vr => vr,
        };
        let mut bytes = Vec::with_capacity(12);
        // A zero length fits every header.
        let _ = Header { tag, vr, len: 0 }.write(&mut bytes, OUT);
        Encoded { tag, bytes }
    }

    /// `element` of a data set in `syntax`, as it is written into a record:
    /// the same value bytes (in little endian), sequences with their items
    /// re-encoded with defined lengths. `None` for what a record cannot
    /// hold (an encapsulated value, a value too long for its VR's header).
    pub fn of(element: &Element, syntax: Syntax) -> Option<Encoded> {
        match &element.value {
            Value::Skipped => None,
            Value::Bytes(bytes) => {
                let mut value = bytes.clone();
                if syntax.big_endian {
                    to_little_endian(element.vr, &mut value);
                }
                Encoded::new(element.tag, element.vr, &value)
            }
            Value::Items(items) => {
                let mut value = Vec::new();
                for item in items {
                    let mut inner = Vec::new();
                    for nested in &item.elements {
                        if let Some(encoded) = Encoded::of(nested, syntax) {
                            inner.extend_from_slice(&encoded.bytes);
                        }
                    }
                    let len = u32::try_from(inner.len()).ok()?;
                    Header {
                        tag: ITEM,
                        vr: VR::UN,
                        len,
                    }
                    .write(&mut value, OUT)
                    .ok()?;
                    value.extend_from_slice(&inner);
                }
                Encoded::new(element.tag, VR::SQ, &value)
            }
        }
    }
}

/// Swaps the bytes of each number of a binary VR (PS3.5 §7.3: only those
/// change with the byte order; text does not).
fn to_little_endian(vr: VR, value: &mut [u8]) {
    let width = match vr {
        VR::US | VR::SS | VR::OW | VR::AT => 2,
        VR::UL | VR::SL | VR::FL | VR::OF | VR::OL => 4,
        VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => 8,
        _ => return,
    };
    for number in value.chunks_exact_mut(width) {
        number.reverse();
    }
}

/// A directory record to write: its type, its attributes other than the
/// four every record has (offsets, in-use flag, type), in tag order, and
/// the records of the entity below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub record_type: String,
    pub elements: Vec<Encoded>,
    pub children: Vec<Record>,
}

/// A record in the order it is written, with its links.
struct Flat<'a> {
    record: &'a Record,
    size: u64,
    next: Option<usize>,
    lower: Option<usize>,
}

/// The bytes of a DICOMDIR whose root entity holds `roots`.
pub fn encode_directory(roots: &[Record]) -> Result<Vec<u8>, DirectoryError> {
    let mut flat = Vec::new();
    let root_indices = flatten(roots, &mut flat);
    let mut file_meta = FileMeta::default();
    file_meta.set(meta::INFORMATION_VERSION, VR::OB, vec![0, 1]);
    file_meta.set_uid(
        meta::MEDIA_STORAGE_SOP_CLASS_UID,
        uids::MEDIA_STORAGE_DIRECTORY_STORAGE,
    );
    file_meta.set_uid(meta::MEDIA_STORAGE_SOP_INSTANCE_UID, &instance_uid(&flat));
    file_meta.set_uid(meta::TRANSFER_SYNTAX_UID, uids::EXPLICIT_VR_LITTLE_ENDIAN);
    file_meta.set_uid(meta::IMPLEMENTATION_CLASS_UID, meta::IMPLEMENTATION_UID);
    file_meta.set(
        meta::IMPLEMENTATION_VERSION_NAME,
        VR::SH,
        pad(meta::IMPLEMENTATION_VERSION.as_bytes(), b' '),
    );
    let mut out = Vec::new();
    file_meta.write(&mut out).map_err(DirectoryError::from)?;

    let records_size: u64 = flat.iter().map(|f| f.size).sum();
    // File-set ID (empty: a label could name the patient), the two root
    // offsets, the consistency flag, then the sequence header.
    let before_records = out.len() as u64 + 8 + 12 + 12 + 10 + 12;
    let too_big = || DirectoryError::Invalid("the new DICOMDIR would exceed 4 GiB".into());
    if before_records + records_size > u64::from(u32::MAX) {
        return Err(too_big());
    }
    let mut offsets = Vec::with_capacity(flat.len());
    let mut at = before_records;
    for record in &flat {
        offsets.push(at as u32);
        at += record.size;
    }
    let offset_of = |index: Option<usize>| index.map_or(0, |i| offsets[i]);
    let first_root = offset_of(root_indices.first().copied());
    let last_root = offset_of(root_indices.last().copied());
    push(&mut out, Encoded::new(tags::FILE_SET_ID, VR::CS, &[]));
    push(
        &mut out,
        ul(
            tags::OFFSET_OF_THE_FIRST_DIRECTORY_RECORD_OF_THE_ROOT_DIRECTORY_ENTITY,
            first_root,
        ),
    );
    push(
        &mut out,
        ul(
            tags::OFFSET_OF_THE_LAST_DIRECTORY_RECORD_OF_THE_ROOT_DIRECTORY_ENTITY,
            last_root,
        ),
    );
    push(
        &mut out,
        Encoded::new(tags::FILE_SET_CONSISTENCY_FLAG, VR::US, &[0, 0]),
    );
    Header {
        tag: tags::DIRECTORY_RECORD_SEQUENCE,
        vr: VR::SQ,
        len: records_size as u32,
    }
    .write(&mut out, OUT)
    .map_err(DirectoryError::from)?;
    for (index, record) in flat.iter().enumerate() {
        debug_assert_eq!(out.len() as u64, u64::from(offsets[index]));
        let own = own_elements(
            record.record,
            offset_of(record.next),
            offset_of(record.lower),
        );
        Header {
            tag: ITEM,
            vr: VR::UN,
            len: (record.size - 8) as u32,
        }
        .write(&mut out, OUT)
        .map_err(DirectoryError::from)?;
        for element in own.iter().chain(&record.record.elements) {
            out.extend_from_slice(&element.bytes);
        }
    }
    Ok(out)
}

/// Appends an element that is known to fit its header.
fn push(out: &mut Vec<u8>, element: Option<Encoded>) {
    if let Some(element) = element {
        out.extend_from_slice(&element.bytes);
    }
}

fn ul(tag: Tag, value: u32) -> Option<Encoded> {
    Encoded::new(tag, VR::UL, &value.to_le_bytes())
}

/// The four attributes every record starts with (PS3.3 F.3-3).
fn own_elements(record: &Record, next: u32, lower: u32) -> Vec<Encoded> {
    [
        ul(tags::OFFSET_OF_THE_NEXT_DIRECTORY_RECORD, next),
        Encoded::new(tags::RECORD_IN_USE_FLAG, VR::US, &0xFFFFu16.to_le_bytes()),
        ul(
            tags::OFFSET_OF_REFERENCED_LOWER_LEVEL_DIRECTORY_ENTITY,
            lower,
        ),
        Encoded::new(
            tags::DIRECTORY_RECORD_TYPE,
            VR::CS,
            &pad(record.record_type.as_bytes(), b' '),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Lists `records` and those below them depth first, each before the
/// entity below it, linked; returns the indices of `records` themselves.
fn flatten<'a>(records: &'a [Record], flat: &mut Vec<Flat<'a>>) -> Vec<usize> {
    let mut indices = Vec::with_capacity(records.len());
    for record in records {
        let index = flat.len();
        if let Some(&previous) = indices.last() {
            let previous: usize = previous;
            flat[previous].next = Some(index);
        }
        indices.push(index);
        let own: usize = own_elements(record, 0, 0)
            .iter()
            .map(|e| e.bytes.len())
            .sum();
        let rest: usize = record.elements.iter().map(|e| e.bytes.len()).sum();
        flat.push(Flat {
            record,
            size: 8 + (own + rest) as u64,
            next: None,
            lower: None,
        });
        if !record.children.is_empty() {
            flat[index].lower = Some(flat.len());
            flatten(&record.children, flat);
        }
    }
    indices
}

/// The new DICOMDIR's SOP Instance UID: a hash of its records, so that
/// the same outputs give the same file, and nothing of the source's UID
/// is carried over.
fn instance_uid(flat: &[Flat<'_>]) -> String {
    let mut hasher = Sha256::new();
    for record in flat {
        hasher.update(record.record.record_type.as_bytes());
        hasher.update([
            u8::from(record.lower.is_some()),
            u8::from(record.next.is_some()),
        ]);
        for element in &record.record.elements {
            hasher.update(&element.bytes);
        }
    }
    let digest = hasher.finalize();
    crate::rules::hash_uid(&digest, "DICOMDIR")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicomdir::SourceDirectory;

    fn record(record_type: &str, children: Vec<Record>) -> Record {
        let id = Encoded::new(tags::PATIENT_ID, VR::LO, b"ID").unwrap();
        Record {
            record_type: record_type.to_string(),
            elements: vec![id],
            children,
        }
    }

    fn image(name: &str) -> Record {
        let file_id = Encoded::new(
            tags::REFERENCED_FILE_ID,
            VR::CS,
            &pad(name.as_bytes(), b' '),
        );
        Record {
            record_type: "IMAGE".to_string(),
            elements: vec![file_id.unwrap()],
            children: Vec::new(),
        }
    }

    /// Two patients: one with a study of two series, one with one image.
    fn tree() -> Vec<Record> {
        vec![
            record(
                "PATIENT",
                vec![record(
                    "STUDY",
                    vec![
                        record("SERIES", vec![image("A"), image("B")]),
                        record("SERIES", vec![image("C")]),
                    ],
                )],
            ),
            record(
                "PATIENT",
                vec![record("STUDY", vec![record("SERIES", vec![image("D")])])],
            ),
        ]
    }

    #[test]
    fn the_offsets_lead_to_every_record_in_order() {
        let bytes = encode_directory(&tree()).unwrap();
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("DICOMDIR");
        std::fs::write(&path, &bytes).unwrap();
        let read = SourceDirectory::read(&path).unwrap();
        let placed = read.hierarchy().unwrap();
        let walked: Vec<(String, usize)> = placed
            .iter()
            .map(|p| {
                (
                    read.records[p.record].record_type.clone(),
                    p.ancestors.len(),
                )
            })
            .collect();
        let expected = [
            ("PATIENT", 0),
            ("STUDY", 1),
            ("SERIES", 2),
            ("IMAGE", 3),
            ("IMAGE", 3),
            ("SERIES", 2),
            ("IMAGE", 3),
            ("PATIENT", 0),
            ("STUDY", 1),
            ("SERIES", 2),
            ("IMAGE", 3),
        ];
        let expected: Vec<(String, usize)> =
            expected.iter().map(|(t, d)| (t.to_string(), *d)).collect();
        assert_eq!(walked, expected);
        // Every record was reached, and the file IDs are the ones written.
        assert_eq!(placed.len(), read.records.len());
        let ids: Vec<String> = placed
            .iter()
            .filter_map(|p| read.records[p.record].file_id.as_ref())
            .map(|id| id.join("\\"))
            .collect();
        assert_eq!(ids, ["A", "B", "C", "D"]);
    }

    #[test]
    fn dicom_object_reads_the_directory_and_its_root_offsets() {
        let bytes = encode_directory(&tree()).unwrap();
        let object = dicom_object::OpenFileOptions::new()
            .from_reader(&bytes[128..])
            .unwrap();
        assert_eq!(
            object.meta().media_storage_sop_class_uid(),
            uids::MEDIA_STORAGE_DIRECTORY_STORAGE
        );
        let offset = |tag| object.element(tag).unwrap().to_int::<u32>().unwrap() as usize;
        let first = offset(tags::OFFSET_OF_THE_FIRST_DIRECTORY_RECORD_OF_THE_ROOT_DIRECTORY_ENTITY);
        let last = offset(tags::OFFSET_OF_THE_LAST_DIRECTORY_RECORD_OF_THE_ROOT_DIRECTORY_ENTITY);
        // Each points at an item tag (FFFE,E000) in little endian.
        for at in [first, last] {
            assert_eq!(bytes[at..at + 4], [0xFE, 0xFF, 0x00, 0xE0]);
        }
        assert!(last > first);
        let records = object.element(tags::DIRECTORY_RECORD_SEQUENCE).unwrap();
        assert_eq!(records.items().unwrap().len(), 11);
    }

    #[test]
    fn the_same_records_make_the_same_file_and_other_records_another_uid() {
        let one = encode_directory(&tree()).unwrap();
        assert_eq!(one, encode_directory(&tree()).unwrap());
        let mut other = tree();
        other.pop();
        let two = encode_directory(&other).unwrap();
        let uid = |bytes: &[u8]| {
            let object = dicom_object::OpenFileOptions::new()
                .from_reader(&bytes[128..])
                .unwrap();
            object.meta().media_storage_sop_instance_uid().to_string()
        };
        assert_ne!(uid(&one), uid(&two));
        assert!(uid(&one).starts_with("2.25."));
    }

    #[test]
    fn an_empty_directory_has_no_root_record() {
        let bytes = encode_directory(&[]).unwrap();
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("DICOMDIR");
        std::fs::write(&path, &bytes).unwrap();
        let read = SourceDirectory::read(&path).unwrap();
        assert_eq!(read.first_root, 0);
        assert!(read.hierarchy().unwrap().is_empty());
    }

    #[test]
    fn a_sequence_of_a_big_endian_file_is_written_little_endian_with_defined_lengths() {
        use crate::codec::tree::Item;
        let code = |value: &[u8]| Element {
            tag: tags::CODE_VALUE,
            vr: VR::SH,
            value: Value::Bytes(value.to_vec()),
        };
        let number = Element {
            tag: tags::REFERENCED_FRAME_NUMBER,
            vr: VR::US,
            value: Value::Bytes(vec![0x00, 0x07]),
        };
        let sequence = Element {
            tag: tags::CONCEPT_NAME_CODE_SEQUENCE,
            vr: VR::SQ,
            value: Value::Items(vec![Item {
                elements: vec![code(b"121071"), number],
            }]),
        };
        let big_endian = Syntax {
            explicit_vr: true,
            big_endian: true,
            deflated: false,
        };
        let encoded = Encoded::of(&sequence, big_endian).unwrap();
        let object = dicom_object::InMemDicomObject::read_dataset_with_ts(
            encoded.bytes.as_slice(),
            &dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased(),
        )
        .unwrap();
        let items = object
            .element(tags::CONCEPT_NAME_CODE_SEQUENCE)
            .unwrap()
            .items()
            .unwrap();
        assert_eq!(items.len(), 1);
        let item = &items[0];
        assert_eq!(
            item.element(tags::CODE_VALUE).unwrap().to_str().unwrap(),
            "121071"
        );
        let frame = item.element(tags::REFERENCED_FRAME_NUMBER).unwrap();
        assert_eq!(frame.to_int::<u16>().unwrap(), 7);
        // Defined lengths: no delimiter anywhere.
        assert!(
            !encoded
                .bytes
                .windows(4)
                .any(|w| w == [0xFE, 0xFF, 0xDD, 0xE0])
        );
    }

    #[test]
    fn big_endian_numbers_are_swapped_and_text_is_not() {
        let mut numbers = vec![0x00, 0x01, 0x00, 0x02];
        to_little_endian(VR::US, &mut numbers);
        assert_eq!(numbers, [0x01, 0x00, 0x02, 0x00]);
        let mut long = vec![0, 0, 0, 1];
        to_little_endian(VR::UL, &mut long);
        assert_eq!(long, [1, 0, 0, 0]);
        let mut text = b"AB".to_vec();
        to_little_endian(VR::CS, &mut text);
        assert_eq!(text, b"AB");
    }
}
