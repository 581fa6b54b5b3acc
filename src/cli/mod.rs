//! The command-line layer: argument definitions and the glue from arguments to the library.

pub mod args;
pub mod commands;
pub mod fleet;
pub mod review;
