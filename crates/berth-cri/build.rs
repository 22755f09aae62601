//! Generates the CRI v1 messages and services from `proto/api.proto` (k8s.io/cri-api
//! v0.37.2, `pkg/apis/runtime/v1/api.proto`, Apache-2.0), and NRI's messages from
//! `proto/nri.proto`, compiled by protox.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/api.proto");
    println!("cargo:rerun-if-changed=proto/nri.proto");
    let descriptors = protox::compile(["api.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    // NRI's messages (containerd/nri v0.12.2, `pkg/api/api.proto`, Apache-2.0); its
    // ttrpc services are called by hand (`nri::ttrpc`).
    let nri = protox::compile(["nri.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .compile_fds(nri)?;
    Ok(())
}
