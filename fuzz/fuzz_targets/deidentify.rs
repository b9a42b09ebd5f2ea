//! The per-file path of `anomize` on arbitrary bytes: sniff, read the
//! header, apply the PS3.15 profile with modified dates and cleaned
//! descriptors (every kind of action), write to memory. It must never
//! panic, and whatever it writes must itself be readable DICOM.

#![no_main]

mod common;

use common::{RULES, context};
use dicommanager::engine::rewrite_bytes;
use dicommanager::codec::{Layout, sniff_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(layout) = sniff_bytes(data) else {
        return;
    };
    let mut out = Vec::new();
    if rewrite_bytes(data, layout, &mut out, &RULES, context()).is_ok() {
        // What we write, we must be able to read again.
        let mut again = Vec::new();
        if let Err(err) = rewrite_bytes(&out, Layout::Part10, &mut again, &RULES, context()) {
            panic!("output of a successful rewrite is unreadable: {err}");
        }
    }
});
