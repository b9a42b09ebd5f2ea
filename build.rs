//! Reads TCIA's Private Tag Knowledge Base (8,787 rows) once, at build
//! time, into a static table (`$OUT_DIR/tcia_kb_rows.rs`, included by
//! `src/profile/tcia/kb.rs`): reading and checking the CSV took a run
//! longer to start than the rest of its profile.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::{env, fs};

#[allow(dead_code)] // the library uses the rest of it
#[path = "src/profile/tcia/kb_csv.rs"]
mod kb_csv;

use kb_csv::{Row, Segment};

const KNOWLEDGE_BASE: &str = "reference/tcia/private-tag-kb-2024-02-01.csv";

fn main() {
    println!("cargo::rerun-if-changed={KNOWLEDGE_BASE}");
    println!("cargo::rerun-if-changed=src/profile/tcia/kb_csv.rs");
    let text = fs::read_to_string(KNOWLEDGE_BASE)
        .unwrap_or_else(|err| panic!("cannot read {KNOWLEDGE_BASE}: {err}"));
    let rows = kb_csv::parse(&text).unwrap_or_else(|err| panic!("{KNOWLEDGE_BASE}: {err}"));
    let mut out = String::from("&[\n");
    for row in &rows {
        write_row(&mut out, row);
    }
    out.push_str("]\n");
    let dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(dir.join("tcia_kb_rows.rs"), out).expect("cannot write to OUT_DIR");
}

/// One row as a Rust expression of `kb_csv::Row<'static>`.
fn write_row(out: &mut String, row: &Row<'_>) {
    let path: Vec<String> = row.path.iter().map(segment).collect();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "Row {{ line: {}, path: ::std::borrow::Cow::Borrowed(&[{}]), target: {}, \
         vr: ::std::borrow::Cow::Borrowed({:?}), disposition: Disposition::{:?} }},",
        row.line,
        path.join(", "),
        segment(&row.target),
        row.vr,
        row.disposition,
    );
}

fn segment(segment: &Segment<'_>) -> String {
    match segment {
        Segment::Standard(group, element) => {
            format!("Segment::Standard({group:#06X}, {element:#06X})")
        }
        Segment::Private {
            group,
            creator,
            element,
        } => format!(
            "Segment::Private {{ group: {group:#06X}, \
             creator: ::std::borrow::Cow::Borrowed({creator:?}), element: {element:#04X} }}"
        ),
    }
}
