//! Compiles proto/*.proto with protox (pure Rust), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/cluster.proto",
        "proto/agent.proto",
        "proto/raft.proto",
        "proto/drill.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    // The descriptors also go to a file, for gRPC reflection.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("nonstop_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        // In name order, as nonstop_contract::Properties: a desired state converts to the same
        // message every time, and a bad value is named in the same order.
        .btree_map(".nonstop.agent.v1.DesiredResource.properties")
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
