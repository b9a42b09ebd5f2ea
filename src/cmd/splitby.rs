//! `dicommanager splitby`: plan, show or carry out, then summarise.

use dicommanager::splitby::{Plan, execute, plan};

use crate::cli::SplitbyArgs;
use crate::exit::ExitCode;

pub fn run(args: &SplitbyArgs) -> ExitCode {
    if !args.source.is_dir() {
        eprintln!("error: {}: not a folder", args.source.display());
        return ExitCode::Usage;
    }
    let planned = match plan(&args.source, &args.mask, &args.delimiter) {
        Ok(p) => p,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::Usage;
        }
    };
    let quiet = args.verbosity.quiet;
    let outcome = if args.dry_run {
        for m in planned.moves.iter().filter(|_| !quiet) {
            println!("would move {} -> {}", m.from.display(), m.to.display());
        }
        planned
    } else {
        let done = execute(planned);
        for m in done.moves.iter().filter(|_| args.verbosity.verbose) {
            println!("moved {} -> {}", m.from.display(), m.to.display());
        }
        done
    };
    report(&outcome, args.dry_run, quiet);
    if outcome.left.iter().any(|l| l.reason.is_error()) {
        ExitCode::SomeFailed
    } else {
        ExitCode::Success
    }
}

fn report(outcome: &Plan, dry_run: bool, quiet: bool) {
    for left in &outcome.left {
        let line = format!("left {}: {}", left.path.display(), left.reason);
        if left.reason.is_error() {
            eprintln!("error: {line}");
        } else if !quiet {
            println!("{line}");
        }
    }
    if quiet {
        return;
    }
    let clashes = outcome.left.iter().filter(|l| l.reason.is_error()).count();
    let verb = if dry_run { "to move" } else { "moved" };
    println!(
        "{verb} {}, left {} (no delimiter), clashes {}, not matching the mask {}",
        outcome.moves.len(),
        outcome.left.len() - clashes,
        clashes,
        outcome.not_matching
    );
}
