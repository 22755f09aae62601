//! Generates the CRI v1 messages and services from `proto/api.proto` (k8s.io/cri-api
//! v0.37.2, `pkg/apis/runtime/v1/api.proto`, Apache-2.0), compiled by protox.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/api.proto");
    let descriptors = protox::compile(["api.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
