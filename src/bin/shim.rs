//! containerd-shim-podrun-v2: containerd's runtime v2 shim (runtime type
//! `io.containerd.podrun.v2`) on podrun's library. One shim per pod: containers carrying the
//! same `io.kubernetes.cri.sandbox-id` share the sandbox's shim. See src/shim/.

#[path = "../shim/mod.rs"]
mod shim;

fn main() {
    // One malloc arena for all threads (ttrpc's workers, the reaper, the copiers): each extra
    // glibc arena keeps its own touched heap resident, which adds up per shim, per pod.
    // SAFETY: mallopt before any thread exists.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    let config = containerd_shim::Config {
        // The shim only reaps what the library leaves to its subreaper (inits, execs, the
        // pause): the crate's SIGCHLD thread does it and tells src/shim/exits.rs.
        ..Default::default()
    };
    containerd_shim::run::<shim::Shim>(shim::RUNTIME_ID, Some(config));
}
