//! The messages of `proto/quire/v1/resources.proto`, as `quire-proto` generates them.

pub use quire_proto::v1::*;
