//! `dicommanager metadata`: print one file's header as a table, a dump or
//! DICOM JSON.

use std::io::Write;

use dicommanager::metadata::{dump, read_header, table, to_json};

use crate::cli::MetadataArgs;
use crate::exit::ExitCode;

pub fn run(args: &MetadataArgs) -> ExitCode {
    let header = match read_header(&args.file) {
        Ok(header) => header,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::SomeFailed;
        }
    };
    let text = if args.json {
        match serde_json::to_string_pretty(&to_json(&header)) {
            Ok(mut text) => {
                text.push('\n');
                text
            }
            Err(err) => {
                eprintln!("error: {}: cannot write JSON: {err}", args.file.display());
                return ExitCode::SomeFailed;
            }
        }
    } else if args.all {
        dump(&header)
    } else {
        table(&header)
    };
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::Success
}
