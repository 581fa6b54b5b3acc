//! The `irsagen` binary: parses arguments, runs the command, maps errors to exit codes.
//! All behaviour lives in the library; see src/cli/commands.rs for the glue.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::args::Cli::parse();
    let code = match cli::commands::run(args) {
        Ok(code) => code,
        Err(e) => {
            if let irsagen::Error::Stale { diff, .. } = &e {
                print!("{diff}");
            }
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
