//! The setup-script peer suite: the rendered `setup-irsa.sh` run for real — the real AWS CLI
//! (PyPI, pinned) against moto, kubectl (built at the apiserver's version) against a real
//! kube-apiserver — with an eksctl STAND-IN (`bin/eksctl`, a script that records its arguments and
//! makes eksctl's equivalent AWS and kubectl calls; it is not eksctl). Started by
//! `scripts/aws-peer run -- scripts/kube-peer run -- scripts/script-tools run -- cargo test
//! --features peer-tests --test peer_script -- --test-threads=1`; without them every test fails.
//! Tests run one at a time: each resets moto (policy names are account-wide) and works in its own
//! namespace with its own cluster name.

mod pod_identity;
mod run;
mod support;
