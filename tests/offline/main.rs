//! The offline suite: everything that needs no AWS and no cluster. `cargo test` runs it.

mod ack;
mod aws_managed;
mod aws_plan;
mod aws_verify;
mod bad_input;
mod catalogue;
mod change_summary;
mod chart_data;
mod chart_options;
mod check_mode;
mod cli;
#[path = "../shared/eks_replay.rs"]
mod eks_replay;
mod eksctl_limits;
mod fleet;
mod fuzz;
mod gitops;
mod guide;
mod identity_modes;
mod kube_plan;
mod lint;
mod long_names;
mod multi_policy;
mod output_folder;
mod pod_identity_aws;
mod pod_identity_iam;
mod pod_identity_kube;
mod pod_identity_wiring;
mod preset_policy;
mod readme;
mod scripts;
mod setup_script;
mod shared_trust;
mod snapshots;
mod support;
