//! `podrun-node`: the node agent (`podrun node join` execs it from podrun's directory). Its own
//! executable because its etcd v3 client (gRPC) would make podrun 1.1 MB larger, and podrun's
//! RSS at every container start with it. See `net::agent` and docs/nodes.md.
use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(podrun::cli::node::agent_main().clamp(0, 255) as u8)
}
