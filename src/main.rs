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
            // With `-o json` the diff is inside the summary on stdout already.
            if let (irsagen::Error::Stale { diff, .. }, false) = (&e, json) {
                print!("{diff}");
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
