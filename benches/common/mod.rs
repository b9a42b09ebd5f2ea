//! Files the benches share, made in memory with dicom-object.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

/// A CT-like header (about 80 attributes, a nested sequence, private tags)
/// with `pixels` × `pixels` 16-bit pixels.
pub fn ct_like(pixels: u16) -> (Vec<u8>, u64) {
    let mut obj = InMemDicomObject::new_empty();
    let text = |obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str| {
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    };
    text(&mut obj, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100");
    text(
        &mut obj,
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::CT_IMAGE_STORAGE,
    );
    text(
        &mut obj,
        tags::SOP_INSTANCE_UID,
        VR::UI,
        "1.2.826.0.1.3680043.2.1125.1.1",
    );
    text(&mut obj, tags::PATIENT_NAME, VR::PN, "Doe^Jane");
    text(&mut obj, tags::PATIENT_ID, VR::LO, "PID-0001");
    text(&mut obj, tags::PATIENT_ADDRESS, VR::LO, "1 Main Street");
    text(&mut obj, tags::STUDY_DESCRIPTION, VR::LO, "CT CHEST");
    text(
        &mut obj,
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        "1.2.826.0.1.3680043.2.1125.2",
    );
    text(
        &mut obj,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        "1.2.826.0.1.3680043.2.1125.3",
    );
    // Filler attributes in the groups a CT header really uses.
    for element in 0..60u16 {
        text(
            &mut obj,
            Tag(0x0018, 0x1000 + element * 2),
            VR::LO,
            "SCANNER VALUE",
        );
    }
    for element in 0..10u16 {
        text(&mut obj, Tag(0x0009, 0x1000 + element), VR::LO, "private");
    }
    let mut item = InMemDicomObject::new_empty();
    text(
        &mut item,
        tags::REFERENCED_SOP_CLASS_UID,
        VR::UI,
        uids::CT_IMAGE_STORAGE,
    );
    text(
        &mut item,
        tags::REFERENCED_SOP_INSTANCE_UID,
        VR::UI,
        "1.2.3.4.5",
    );
    obj.put(DataElement::new(
        tags::REFERENCED_IMAGE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![item]),
    ));
    let count = u32::from(pixels) * u32::from(pixels);
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16((0..count).map(|v| v as u16).collect()),
    ));
    let elements = obj.iter().count() as u64 + 2;
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
                .media_storage_sop_instance_uid("1.2.826.0.1.3680043.2.1125.1.1"),
        )
        .expect("a valid meta");
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).expect("written to memory");
    (bytes, elements)
}
