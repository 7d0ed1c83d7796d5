//! `podrun-cni`: podrun's CNI plugin as its own executable, the way a container runtime calls
//! a CNI plugin (one exec per ADD/DEL/CHECK/GC/STATUS/VERSION). The same code runs as
//! `podrun cni` and under a `podrun-cni` symlink to podrun; this build links only the CNI and
//! network code (no command line, OCI spec or container code): 2.0 MB instead of 4.4 MB, so
//! each exec maps fewer pages (RSS ~1.9 MB instead of ~3.2 MB) and starts sooner.
use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(podrun::cli::cni::run_plugin().clamp(0, 255) as u8)
}
