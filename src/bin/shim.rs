//! containerd-shim-podrun-v2: containerd's runtime v2 shim (runtime type
//! `io.containerd.podrun.v2`) on podrun's library. One shim per pod: containers carrying the
//! same `io.kubernetes.cri.sandbox-id` share the sandbox's shim. See src/shim/.

#[path = "../shim/mod.rs"]
mod shim;

fn main() {
    // The long-running shim (not its `start`/`delete` commands) runs from a sealed view of
    // its binary, like `podrun exec`: a private read-only overlayfs mount that shares the page
    // cache (a sealed memfd copy where overlayfs cannot be used). Every process it forks into
    // a container (inits, execs, the pause) then has that view, not the writable on-disk shim,
    // as /proc/PID/exe (CVE-2019-5736). Helper binaries are still found beside the on-disk one.
    if !matches!(
        std::env::args().last().as_deref(),
        Some("start") | Some("delete")
    ) {
        if let Err(e) = podrun::sys::ensure_cloned_binary() {
            eprintln!("containerd-shim-podrun-v2: {e}");
            std::process::exit(1);
        }
        // the execveat of the view named the process after its fd: give it back its name
        // SAFETY: PR_SET_NAME with a NUL-terminated constant (the kernel keeps 15 bytes).
        unsafe { libc::prctl(libc::PR_SET_NAME, c"containerd-shim".as_ptr()) };
    }
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
