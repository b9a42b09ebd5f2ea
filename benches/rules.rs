//! Rule throughput: every built-in profile against a keep-all baseline, on
//! DICOM files held in memory (no disk), in elements/s and files/s.
//!
//! Run with `cargo bench --bench rules`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dicommanager::codec::Layout;
use dicommanager::engine::rewrite_bytes;
use dicommanager::profile::Profile;
use dicommanager::rules::{FileContext, Identifiers, RuleSet};

mod common;
use common::ct_like;

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
