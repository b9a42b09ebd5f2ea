//! `dicommanager verify`: one stdout line per leak, one stderr line per
//! file that could not be checked, a summary on stderr.

use std::io::Write;

use dicommanager::charset::printable;
use dicommanager::engine::AUDIT_CSV;
use dicommanager::verify::{Config, FileCheck, Location, Summary};

use crate::cli::VerifyArgs;
use crate::exit::ExitCode;

pub fn run(args: &VerifyArgs) -> ExitCode {
    let config = Config {
        source: args.source.clone(),
        dest: args.dest.clone(),
        audit_dir: args.audit_dir.clone(),
        strict: args.strict,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut report = |check: &FileCheck| print_check(&mut out, check, args);
    let summary = match dicommanager::verify::run(&config, &mut report) {
        Ok(summary) => summary,
        Err(err) => {
            eprintln!("error: {}", printable(&err.to_string()));
            return ExitCode::Usage;
        }
    };
    let _ = out.flush();
    if !args.verbosity.quiet {
        eprintln!("{}", summary_line(&summary, args.strict));
    }
    if summary.clean() {
        ExitCode::Success
    } else {
        ExitCode::SomeFailed
    }
}

fn print_check(out: &mut impl Write, check: &FileCheck, args: &VerifyArgs) {
    let show_values = args.show_values;
    match &check.result {
        Ok(leaks) => {
            // A path that itself leaks is PHI too: name the file by its
            // audit row instead, unless values are to be shown.
            if leaks.is_empty() && args.verbosity.verbose {
                let _ = writeln!(out, "{}: clean", check.output);
            }
            let path_leaks = leaks.iter().any(|l| l.location == Location::FilePath);
            let file = if path_leaks && !show_values {
                format!("{AUDIT_CSV} line {}", check.line)
            } else {
                check.output.clone()
            };
            for leak in leaks.iter().filter(|l| args.strict || !l.coincidence) {
                let note = if leak.coincidence {
                    " (unchanged from the source, in an attribute PS3.15 does not list)"
                } else {
                    ""
                };
                let value = if show_values {
                    format!(": {:?}", leak.value)
                } else {
                    String::new()
                };
                // A closed pipe (`| head`) is not worth a panic; the exit
                // code still says what was found.
                let _ = writeln!(
                    out,
                    "{file}: {} holds {}{value}{note}",
                    leak.location, leak.origin
                );
            }
        }
        // Paths in messages come from the audit: keep control characters
        // in them from driving the terminal.
        Err(err) => eprintln!("error: {}", printable(&format!("{}: {err}", check.output))),
    }
}

fn summary_line(summary: &Summary, strict: bool) -> String {
    let mut line = format!(
        "verify: {} files checked, {} with leaks, {} leaks",
        summary.checked, summary.with_leaks, summary.leaks
    );
    if summary.coincidences > 0 {
        line.push_str(&format!(
            ", {} matches in attributes PS3.15 does not list, unchanged from the source ({})",
            summary.coincidences,
            if strict {
                "counted"
            } else {
                "not counted; --strict lists them"
            }
        ));
    }
    if summary.failed > 0 {
        line.push_str(&format!(", {} could not be checked", summary.failed));
    }
    if summary.not_ok > 0 {
        line.push_str(&format!(
            ", {} audit rows not OK (not checked)",
            summary.not_ok
        ));
    }
    line
}
