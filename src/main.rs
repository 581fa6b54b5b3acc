//! The `irsagen` binary: parses arguments, runs the command, maps errors to exit codes.
//! All behaviour lives in the library; see src/cli/commands.rs for the glue.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::args::Cli::parse();
    let json = args.json_output();
    let code = match cli::commands::run(args) {
        Ok(code) => code,
        Err(e) => {
            match (&e, json) {
                // With `-o json` a stale check's diff is inside the summary on stdout already.
                (irsagen::Error::Stale { diff, .. } | irsagen::Error::NotAsReviewed { diff, .. }, false) => {
                    print!("{diff}")
                }
                // stdout holds only the JSON document; the diff goes to stderr.
                (irsagen::Error::NotAsReviewed { diff, .. }, true) => eprint!("{diff}"),
                _ => {}
            }
            match (json, &e) {
                // With `-o json` stdout holds one JSON document: the error object, unless the
                // report (checks that failed, a change summary) is already there; then the object goes
                // to stderr.
                (true, irsagen::Error::ChecksFailed { .. } | irsagen::Error::Stale { .. }) => {
                    eprint!("{}", e.to_json())
                }
                (true, _) => print!("{}", e.to_json()),
                (false, _) => eprintln!("error: {e}"),
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}
