//! The messages of `proto/quire/v1/resources.proto`, generated at build time.
#![allow(clippy::all, clippy::pedantic, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/quire.v1.rs"));
