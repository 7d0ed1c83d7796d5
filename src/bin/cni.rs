//! `podrun-cni`: podrun's CNI plugin as its own executable, the way a container runtime calls
//! a CNI plugin (one exec per ADD/DEL/CHECK/GC/STATUS/VERSION). The same code runs as
//! `podrun cni` and under a `podrun-cni` symlink to podrun; this build links only the CNI and
//! network code (no command line, OCI spec or container code), so the kernel maps about a
//! third of podrun's pages at every exec: the plugin starts sooner and takes less memory.
use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(podrun::cli::cni::run_plugin().clamp(0, 255) as u8)
}
