//! quire's Protobuf messages, generated from `proto/` at build time: one definition for the
//! `application/x-protobuf` of `/api/v1` and for the gRPC services.

/// The messages of package `quire.v1`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/quire.v1.rs"));
}

/// The encoded `FileDescriptorSet` of every `.proto` file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/quire_descriptors.bin"));
