//! Our element reader against dicom-rs on the same files in memory: the
//! reason the codec is ours (byte-for-byte copies, every Specific
//! Character Set term kept) must not cost speed, and this keeps that
//! measured rather than asserted.
//!
//! - `dicommanager-walk`: every header read, every value skipped, nested
//!   sequences included: what the rewrite reads of a file it keeps whole.
//! - `dicommanager-tree`: the data set read into a tree of raw values
//!   (what `metadata` and `verify` read; pixel values skipped).
//! - `dicom-parser-tokens`: dicom-parser's token stream of the data set
//!   (headers and decoded values).
//! - `dicom-object`: the whole file read into an in-memory object.
//!
//! Run with `cargo bench --bench reader`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dicom_dictionary_std::uids;
use dicom_encoding::TransferSyntaxIndex;
use dicom_parser::dataset::read::DataSetReader;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicommanager::codec::tree::{Extent, read_tree};
use dicommanager::codec::{Header, Layout, open_reader, skip_value};

mod common;
use common::ct_like;

/// Reads every header of the data set and skips every value; the number
/// of top-level elements.
fn walk(file: &[u8]) -> usize {
    let mut opened = open_reader(file, Layout::Part10).expect("a valid file");
    let syntax = opened.syntax;
    let mut count = 0;
    while let Some(header) =
        Header::read_top_level(&mut opened.dataset, syntax).expect("a valid data set")
    {
        skip_value(&mut opened.dataset, &header, syntax, 0).expect("a valid value");
        count += 1;
    }
    count
}

fn tree(file: &[u8]) -> usize {
    let mut opened = open_reader(file, Layout::Part10).expect("a valid file");
    read_tree(&mut opened.dataset, opened.syntax, Extent::AllButPixels)
        .expect("a valid data set")
        .dataset
        .elements
        .len()
}

/// Where the data set starts (after preamble and meta).
fn dataset_offset(file: &[u8]) -> usize {
    let opened = open_reader(file, Layout::Part10).expect("a valid file");
    opened.dataset.position() as usize
}

fn tokens(dataset: &[u8]) -> usize {
    let ts = TransferSyntaxRegistry
        .get(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .expect("a known syntax");
    let mut count = 0;
    for token in DataSetReader::new_with_ts(dataset, ts).expect("a reader") {
        black_box(token.expect("a valid data set"));
        count += 1;
    }
    count
}

fn object(file: &[u8]) -> usize {
    dicom_object::from_reader(&file[128..])
        .expect("a valid file")
        .iter()
        .count()
}

fn bench_readers(c: &mut Criterion) {
    for (label, pixels) in [("header-only", 0u16), ("ct-slice-512", 512)] {
        let (file, _) = ct_like(pixels);
        let dataset = &file[dataset_offset(&file)..];
        let mut group = c.benchmark_group(format!("read/{label}"));
        group.throughput(Throughput::Bytes(file.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter("dicommanager-walk"),
            &file,
            |b, f| b.iter(|| walk(black_box(f))),
        );
        group.bench_with_input(
            BenchmarkId::from_parameter("dicommanager-tree"),
            &file,
            |b, f| b.iter(|| tree(black_box(f))),
        );
        group.bench_with_input(
            BenchmarkId::from_parameter("dicom-parser-tokens"),
            &dataset,
            |b, d| b.iter(|| tokens(black_box(d))),
        );
        group.bench_with_input(
            BenchmarkId::from_parameter("dicom-object"),
            &file,
            |b, f| b.iter(|| object(black_box(f))),
        );
        group.finish();
    }
}

criterion_group!(benches, bench_readers);
criterion_main!(benches);
