//! Compiles the repository's `.proto` files with protox (pure Rust, so a build needs no
//! system `protoc`) into message types, and keeps the encoded descriptors for gRPC reflection.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let files = [
        root.join("quire/v1/resources.proto"),
        root.join("quire/v1/services.proto"),
    ];
    let descriptors = protox::compile(&files, [&root])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("quire_descriptors.bin"),
        descriptors.encode_to_vec(),
    )?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
