//! audit-sieve: a Fluent Bit filter, compiled to WebAssembly, that drops high-volume
//! low-risk audit entries by the semantics of a Kubernetes audit Policy, strips what must
//! not be shipped, and tells a log reviewer who did what, on which cluster.
//!
//! Layout: [`abi`] is the only unsafe code (Fluent Bit's calling convention); [`module`]
//! holds one instance's state and the two event formats; [`filter`] takes one record to
//! an outcome; [`kubeaudit`], [`policy`] and [`streams`] hold the rules of each stream;
//! [`json`] and [`msgpack`] read and edit records without recursion.

#![deny(unsafe_code)]

// The Fluent Bit entry points, for the WASI build only (the playground's browser build
// has none).
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
#[allow(unsafe_code)]
mod abi;
pub mod config;
pub mod ecs;
pub mod filter;
pub mod hoststreams;
pub mod identity;
pub mod json;
pub mod kubeaudit;
pub mod module;
pub mod msgpack;
pub mod policy;
pub mod request_info;
pub mod streams;
pub mod yaml;
