//! The offline suite: everything that needs no AWS and no cluster. `cargo test` runs it.

mod bad_input;
mod check_mode;
mod cli;
mod guide;
mod kube_plan;
mod setup_script;
mod snapshots;
mod support;
