//! irsagen: render, apply and verify IAM Roles for Service Accounts (IRSA) for Amazon EKS.
//!
//! Flow: inputs ([`inputs`], [`config`]) → validated [`context::Context`] → presets resolved
//! into [`component::Component`]s → templates rendered into a [`bundle::Bundle`] →
//! validated ([`bundle_check`]) → written or compared ([`emit`]) → applied and verified
//! against AWS ([`aws`]) and the cluster ([`kube`]).
#![deny(missing_docs)]

pub mod ack;
pub mod aws;
pub mod bundle;
pub mod bundle_check;
pub mod change;
pub mod change_summary;
pub mod chart_schema;
pub mod component;
pub mod config;
pub mod context;
pub mod discovery;
pub mod eksctl;
pub mod emit;
pub mod error;
pub mod fleet;
pub mod helm_values;
pub mod identity;
pub mod inputs;
pub mod install_source;
pub mod kube;
pub mod lint;
pub mod managed_policy;
pub mod migration;
pub mod names;
pub mod overrides;
pub mod parameters;
pub mod partition;
pub mod policy_doc;
pub mod preset;
pub mod preset_listing;
pub mod preset_policy;
pub mod render;
pub mod report;
pub mod reviewed;
pub mod rules;
pub mod safe_fs;
pub mod shared_trust;
pub mod templates;
pub mod yaml;

pub use error::{Error, Result};
