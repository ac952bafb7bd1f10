//! Generates the gRPC service traits and clients of `proto/quire/v1/services.proto` (with
//! protox: no system `protoc`). The messages are `quire-proto`'s, shared with `/api/v1`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let descriptors = protox::compile([root.join("quire/v1/services.proto")], [&root])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .extern_path(".quire.v1", "::quire_proto::v1")
        .compile_fds(descriptors)?;
    Ok(())
}
