//! Compiles `proto/oxmon.proto` with protox (pure Rust): no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/oxmon.proto");
    #[cfg(feature = "grpc")]
    {
        let fds = protox::compile(["proto/oxmon.proto"], ["proto"])?;
        tonic_prost_build::configure()
            .build_client(true)
            .build_server(false)
            .compile_fds(fds)?;
    }
    Ok(())
}
