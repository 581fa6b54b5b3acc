//! The kube peer suite: irsagen's cluster half against a real kube-apiserver + etcd started by
//! `scripts/kube-peer run -- cargo test --features peer-tests --test peer_kube`.
//! Without the peer every test fails (never skips). Each test works in its own namespace(s)
//! and with its own cluster name (so role ARNs never collide across tests), and deletes its
//! namespaces at the end.

mod ack;
mod apply;
mod cli;
mod errors;
mod pod_identity;
mod support;
mod verify;
