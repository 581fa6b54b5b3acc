//! The AWS peer suite: irsagen against moto, a real local AWS emulator started by
//! `scripts/aws-peer run -- cargo test --features peer-tests --test peer_aws -- --test-threads=1`.
//! Without the peer every test fails (never skips).

mod apply;
mod aws_managed;
#[path = "../shared/eks_replay.rs"]
mod eks_replay;
mod faults;
mod identity;
mod multi_policy;
mod pod_identity;
mod reviewed;
mod support;
mod verify;
