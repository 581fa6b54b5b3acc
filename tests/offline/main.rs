//! The offline suite: everything that needs no AWS and no cluster. `cargo test` runs it.

mod bad_input;
mod chart_options;
mod check_mode;
mod cli;
mod eksctl_limits;
mod guide;
mod setup_script;
mod snapshots;
mod support;
