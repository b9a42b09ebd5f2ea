//! The registry's cost per file: numbering a 2,000-file run (50 patients
//! of 40 images, new to the registry) in batches of 16 files, one
//! transaction each, as `anomize --registry` does, on a fresh registry in
//! a temporary folder.
//!
//! Run with `cargo bench --bench registry`; `TMPDIR=/dev/shm` measures
//! the work without the disk's flushes.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dicommanager::profile::PatientKey;
use dicommanager::registry::{PatientIdentity, Registry};

const PATIENTS: usize = 50;
const IMAGES: usize = 40;
const BATCH: usize = 16;

fn number_run(registry: &mut Registry, patients: &[String], uids: &[String]) {
    let run = registry.start_run(&Default::default()).expect("start run");
    let files = patients.len() * IMAGES;
    for first in (0..files).step_by(BATCH) {
        let mut batch = registry.batch(run, false).expect("batch");
        for seq in first..(first + BATCH).min(files) {
            let patient = &patients[seq / IMAGES];
            let assigned = batch
                .assign(
                    seq,
                    PatientIdentity::Key(patient),
                    Some(uids[seq].as_bytes()),
                )
                .expect("assign");
            black_box(assigned);
        }
        batch.commit().expect("commit");
    }
}

fn registry_numbering(c: &mut Criterion) {
    let patients: Vec<String> = (0..PATIENTS).map(|p| format!("PID-{p:06}")).collect();
    let uids: Vec<String> = (0..PATIENTS * IMAGES)
        .map(|i| format!("1.2.826.0.1.3680043.2.1125.{i}"))
        .collect();
    let mut group = c.benchmark_group("registry");
    group.throughput(Throughput::Elements((PATIENTS * IMAGES) as u64));
    group.sample_size(20);
    group.bench_function("number 2,000 files in batches of 16", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temporary folder");
                let path = dir.path().join("registry.sqlite");
                let registry =
                    Registry::open(&path, b"bench secret", &PatientKey::default(), false)
                        .expect("open registry");
                (dir, registry)
            },
            |(dir, mut registry)| {
                number_run(&mut registry, &patients, &uids);
                (dir, registry)
            },
            criterion::BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, registry_numbering);
criterion_main!(benches);
