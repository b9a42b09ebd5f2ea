//! DICOM files for the engine's unit tests, written with dicom-object.

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

/// A Part 10 CT image of Patient ID `P1` with `pixels` bytes of pixel
/// data and the `extra` elements.
pub fn image(pixels: usize, extra: Vec<(Tag, VR, PrimitiveValue)>) -> Vec<u8> {
    image_with_meta(pixels, extra, meta())
}

/// The file meta of [`image`], to add to.
pub fn meta() -> FileMetaTableBuilder {
    FileMetaTableBuilder::new()
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
        .media_storage_sop_instance_uid("1.2.3")
}

/// [`image`] with the file meta `meta`.
pub fn image_with_meta(
    pixels: usize,
    extra: Vec<(Tag, VR, PrimitiveValue)>,
    meta: FileMetaTableBuilder,
) -> Vec<u8> {
    let mut obj = InMemDicomObject::new_empty();
    let elements = [
        (
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
        ),
        (tags::PATIENT_ID, VR::LO, PrimitiveValue::from("P1")),
        (
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(vec![7u8; pixels]),
        ),
    ];
    for (tag, vr, value) in elements.into_iter().chain(extra) {
        obj.put(DataElement::new(tag, vr, value));
    }
    let file = obj.with_meta(meta).expect("a valid meta");
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).expect("written to memory");
    bytes
}
