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
            if let irsagen::Error::Stale { diff, .. } | irsagen::Error::NotAsReviewed { diff, .. } = &e {
                // With `-o json` stdout holds only the JSON document; the diff goes to stderr.
                if json {
                    eprint!("{diff}");
                } else {
                    print!("{diff}");
                }
            }
            match (json, &e) {
                // With `-o json` stdout holds one JSON document: the error object, unless the
                // report (checks that failed) is already there; then the object goes to stderr.
                (true, irsagen::Error::ChecksFailed { .. }) => eprint!("{}", e.to_json()),
                (true, _) => print!("{}", e.to_json()),
                (false, _) => eprintln!("error: {e}"),
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}
