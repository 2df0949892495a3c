// Compiles the filter-configuration schema with prost. protoc comes from the
// protoc-bin-vendored crate so a fresh machine needs no system protobuf compiler.
fn main() {
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc for this host");
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=filter_config.proto");
    prost_build::Config::new().compile_protos(&["filter_config.proto"], &["."]).expect("compile filter_config.proto");
}
