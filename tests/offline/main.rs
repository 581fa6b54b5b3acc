//! The offline suite: everything that needs no AWS and no cluster. `cargo test` runs it.

mod aws_plan;
mod aws_verify;
mod bad_input;
mod check_mode;
mod cli;
mod guide;
mod setup_script;
mod snapshots;
mod support;
