//! Rule throughput: every built-in profile against a keep-all baseline, on
//! DICOM files held in memory (no disk), in elements/s and files/s.
//!
//! Run with `cargo bench --bench rules`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use dicommanager::engine::rewrite_bytes;
use dicommanager::profile::Profile;
use dicommanager::rules::{FileContext, Identifiers, RuleSet};
use dicommanager::stream::Layout;

/// A CT-like header (about 80 attributes, a nested sequence, private tags)
/// with `pixels` × `pixels` 16-bit pixels.
fn ct_like(pixels: u16) -> (Vec<u8>, u64) {
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

fn rule_sets() -> Vec<(String, RuleSet)> {
    let keep_all = Profile::from_text(
        "keep-all",
        "private-attributes = \"keep\"\nunlisted-attributes = \"keep\"\n",
    )
    .expect("a valid profile");
    let mut sets = vec![(
        "keep-all".to_string(),
        RuleSet::compile(&keep_all).expect("compiles"),
    )];
    for layers in [
        &["basic"][..],
        &["ps3.15-basic"],
        &[
            "ps3.15-basic",
            "retain-long-modified-dates",
            "clean-descriptors",
        ],
    ] {
        let specs: Vec<String> = layers.iter().map(|l| l.to_string()).collect();
        sets.push((
            layers.join("+"),
            RuleSet::load(&specs).expect("built-in profiles compile"),
        ));
    }
    sets
}

fn bench_profiles(c: &mut Criterion) {
    let context = FileContext {
        patient_index: 1,
        secret: b"bench",
        date_shift_days: -1000,
        identifiers: Identifiers::none(),
    };
    for (label, pixels) in [("header-only", 0u16), ("ct-slice-512", 512)] {
        let (file, elements) = ct_like(pixels);
        // The same work measured twice: per element and per file.
        for (unit, per_iteration) in [("elements", elements), ("files", 1)] {
            let mut group = c.benchmark_group(format!("{unit}/{label}"));
            group.throughput(Throughput::Elements(per_iteration));
            for (name, rules) in rule_sets() {
                let mut out = Vec::with_capacity(file.len() + 1024);
                group.bench_with_input(BenchmarkId::from_parameter(&name), &file, |b, file| {
                    b.iter(|| {
                        out.clear();
                        rewrite_bytes(black_box(file), Layout::Part10, &mut out, &rules, context)
                            .expect("the bench file is valid");
                        black_box(out.len())
                    })
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, bench_profiles);
criterion_main!(benches);
