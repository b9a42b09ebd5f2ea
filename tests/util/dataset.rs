//! Data sets written byte by byte, for files that bend or break the standard.

use dicom_core::{Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicommanager::codec::{FileMeta, Header, Syntax, meta};

/// Encodes text elements and raw pieces into a data set.
pub struct DataSet {
    pub syntax: Syntax,
    pub bytes: Vec<u8>,
}

impl DataSet {
    pub fn new(syntax: Syntax) -> DataSet {
        DataSet {
            syntax,
            bytes: Vec::new(),
        }
    }

    pub fn text(mut self, tag: Tag, vr: VR, value: &str) -> DataSet {
        let mut value = value.as_bytes().to_vec();
        if value.len() % 2 == 1 {
            value.push(if vr == VR::UI { 0 } else { b' ' });
        }
        self.header(tag, vr, value.len() as u32);
        self.bytes.extend_from_slice(&value);
        self
    }

    pub fn header(&mut self, tag: Tag, vr: VR, len: u32) {
        Header { tag, vr, len }
            .write(&mut self.bytes, self.syntax)
            .unwrap();
    }

    pub fn raw(mut self, bytes: &[u8]) -> DataSet {
        self.bytes.extend_from_slice(bytes);
        self
    }

    /// The identifying start every test file shares.
    pub fn patient(self) -> DataSet {
        self.text(
            tags::SOP_CLASS_UID,
            VR::UI,
            uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
        )
        .text(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5")
        .text(tags::PATIENT_NAME, VR::PN, "Quirk^Quentin")
        .text(tags::PATIENT_ID, VR::LO, "Q-1")
    }
}

/// A Part 10 file declaring `transfer_syntax` around `dataset`.
pub fn part10(transfer_syntax: &str, dataset: &DataSet) -> Vec<u8> {
    let mut file_meta = FileMeta::default();
    file_meta.set(meta::INFORMATION_VERSION, VR::OB, vec![0, 1]);
    file_meta.set_uid(
        meta::MEDIA_STORAGE_SOP_CLASS_UID,
        uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
    );
    file_meta.set_uid(meta::MEDIA_STORAGE_SOP_INSTANCE_UID, "1.2.3.4.5");
    file_meta.set_uid(meta::TRANSFER_SYNTAX_UID, transfer_syntax);
    let mut bytes = Vec::new();
    file_meta.write(&mut bytes).unwrap();
    bytes.extend_from_slice(&dataset.bytes);
    bytes
}
