//! Generates the `selfharness.v1` code from `selfharness/v1/*.proto` with protox (a Rust protobuf
//! compiler), so a fresh clone builds without a system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new("selfharness/v1");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    files.sort();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = protox::compile(&files, ["."])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("selfharness_v1_descriptor.bin"),
        protox::prost::Message::encode_to_vec(&fds),
    )?;
    tonic_build::configure()
        // Maps decode to BTreeMap: deterministic order, and the domain's own map type.
        .btree_map(["."])
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
