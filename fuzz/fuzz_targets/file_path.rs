//! The path a run takes through a file (scan its head, rewrite it, let the
//! kernel copy kept pixel data) against the in-memory path of the
//! `deidentify` target, on arbitrary bytes: both must succeed or fail
//! together, and write the same bytes.

#![no_main]

mod common;

use std::path::PathBuf;
use std::sync::LazyLock;

use common::{RULES, context};
use dicommanager::engine::{rewrite_bytes, rewrite_path};
use dicommanager::codec::sniff_bytes;
use libfuzzer_sys::fuzz_target;

/// A folder of this process on tmpfs, for the input and the output.
static FOLDER: LazyLock<PathBuf> = LazyLock::new(|| {
    let folder = PathBuf::from(format!("/dev/shm/dicommanager-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("a folder on tmpfs");
    folder
});

fuzz_target!(|data: &[u8]| {
    let Some(layout) = sniff_bytes(data) else {
        return;
    };
    let input = FOLDER.join("input.dcm");
    let output = FOLDER.join("output.dcm");
    std::fs::write(&input, data).expect("input written");
    let _ = std::fs::remove_file(&output);
    let mut in_memory = Vec::new();
    let by_bytes = rewrite_bytes(data, layout, &mut in_memory, &RULES, context());
    let by_path = rewrite_path(&input, &output, &RULES, context());
    match (by_bytes, by_path) {
        (Ok(()), Ok(())) => {
            let written = std::fs::read(&output).expect("output read back");
            assert!(written == in_memory, "the two paths wrote different bytes");
        }
        (Err(_), Err(_)) => assert!(!output.exists(), "a failed rewrite left an output"),
        (bytes, path) => panic!("the paths disagree: in memory {bytes:?}, by path {path:?}"),
    }
});
