//! `dicommanager verify`: one stdout line per leak, one stderr line per
//! file that could not be checked, a summary on stderr.

use std::io::Write;

use dicommanager::charset::printable;
use dicommanager::engine::AUDIT_CSV;
use dicommanager::verify::{Config, FileCheck, Location, Summary, Utility};

use crate::cli::VerifyArgs;
use crate::exit::ExitCode;

pub fn run(args: &VerifyArgs) -> ExitCode {
    let config = Config {
        source: args.source.clone(),
        dest: args.dest.clone(),
        audit_dir: args.audit_dir.clone(),
        strict: args.strict,
        utility: args.utility_report.is_some(),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut utility = Utility::default();
    let mut report = |check: &FileCheck| {
        if let Some(counts) = &check.utility {
            utility.merge(counts);
        }
        print_check(&mut out, check, args)
    };
    let summary = match dicommanager::verify::run(&config, &mut report) {
        Ok(summary) => summary,
        Err(err) => {
            eprintln!("error: {}", printable(&err.to_string()));
            return ExitCode::Usage;
        }
    };
    let _ = out.flush();
    if let Some(path) = &args.utility_report
        && let Err(err) = write_utility(path, &utility)
    {
        eprintln!(
            "error: cannot write the utility report {}: {err}",
            printable(&path.display().to_string())
        );
        return ExitCode::Usage;
    }
    if !args.verbosity.quiet {
        eprintln!("{}", summary_line(&summary, args.strict));
    }
    if summary.clean() {
        ExitCode::Success
    } else {
        ExitCode::SomeFailed
    }
}

/// Writes the utility report: JSON for a `.json` name, else CSV.
fn write_utility(path: &std::path::Path, utility: &Utility) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        serde_json::to_writer_pretty(&mut file, &utility.to_json())
            .map_err(std::io::Error::other)?;
        writeln!(file)?;
    } else {
        utility.write_csv(&mut file)?;
    }
    file.flush()
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
