//! `dicommanager metadata`: print the header of one or more files as a
//! table, a dump or DICOM JSON (an array of objects for several files).

use std::io::Write;
use std::path::Path;

use dicommanager::metadata::{dump, read_header, table, to_json};

use crate::cli::MetadataArgs;
use crate::exit::ExitCode;

pub fn run(args: &MetadataArgs) -> ExitCode {
    let files: Vec<&Path> = args
        .file
        .iter()
        .chain(&args.more)
        .map(|f| f.as_path())
        .collect();
    let several = files.len() > 1;
    let mut code = ExitCode::Success;
    let mut json = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in files {
        let header = match read_header(file) {
            Ok(header) => header,
            Err(err) => {
                eprintln!("error: {err}");
                code = ExitCode::SomeFailed;
                continue;
            }
        };
        if args.json {
            json.push(to_json(&header));
            continue;
        }
        let text = if args.all {
            dump(&header)
        } else {
            table(&header)
        };
        let title = if several {
            format!("# {}\n", file.display())
        } else {
            String::new()
        };
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = out.write_all(format!("{title}{text}").as_bytes());
        if several {
            let _ = out.write_all(b"\n");
        }
    }
    if args.json && !json.is_empty() {
        let value = if several {
            serde_json::Value::Array(json)
        } else {
            json.remove(0)
        };
        match serde_json::to_string_pretty(&value) {
            Ok(text) => {
                let _ = writeln!(out, "{text}");
            }
            Err(err) => {
                eprintln!("error: cannot write JSON: {err}");
                code = ExitCode::SomeFailed;
            }
        }
    }
    code
}
