//! Build script:
//! - the pause and init helpers are built tiny (no libc start files, static, raw syscalls) in the
//!   release profile (where panics abort, see Cargo.toml), so the pause's RSS stays far below 0.5 MB
//!   and the init's sealed memfd copy is a few KiB;
//! - podrun's cold code is linked apart from its hot code (src/cold.ld), in release builds, and
//!   so is the shim's (src/cold.ld and src/shim-cold.ld);
//! - `PODRUN_COMMIT` (the `commit:` line of `podrun --version`, as runc prints it) is the git
//!   commit the binary is built from, or "unknown" outside a git checkout. The script reruns
//!   when HEAD or the branch it points to moves, so the line never names an older commit.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(tiny_helper)");
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        println!("cargo::rustc-cfg=tiny_helper");
        // podrun's code that the parent of a `run` never executes goes after the hot code
        // (src/cold.ld says why).
        let cold = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cold.ld");
        println!("cargo::rustc-link-arg-bin=podrun=-Wl,-T,{}", cold.display());
        println!("cargo::rerun-if-changed=src/cold.ld");
        // The shim: the same, and what only its forked helpers run (src/shim-cold.ld).
        let shim_cold = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/shim-cold.ld");
        for script in [&cold, &shim_cold] {
            println!(
                "cargo::rustc-link-arg-bin=containerd-shim-podrun-v2=-Wl,-T,{}",
                script.display()
            );
        }
        println!("cargo::rerun-if-changed=src/shim-cold.ld");
        // Plain static executables, like podrun itself (.cargo/config.toml: non-PIC code):
        // the linker fills their GOT (the init calls its own memset/memcpy through it), where
        // a static-pie would need a loader to relocate it.
        for bin in ["podrun-pause", "podrun-init"] {
            for a in ["-nostartfiles", "-nostdlib", "-static", "-no-pie"] {
                println!("cargo::rustc-link-arg-bin={bin}={a}");
            }
        }
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PODRUN_COMMIT");
    let commit = std::env::var("PODRUN_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo::rustc-env=PODRUN_COMMIT={commit}");
}

/// `git rev-parse HEAD` of the crate's checkout, watching the files that move HEAD.
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"])?;
    let mut watch: Vec<PathBuf> = Vec::new();
    watch.extend(git(&["rev-parse", "--git-path", "HEAD"]).map(PathBuf::from));
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.extend(git(&["rev-parse", "--git-path", &branch]).map(PathBuf::from));
        watch.extend(git(&["rev-parse", "--git-path", "packed-refs"]).map(PathBuf::from));
    }
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    for p in watch {
        let p = if p.is_absolute() { p } else { base.join(p) };
        // A path that does not exist would make cargo rerun the script on every build.
        if p.exists() {
            println!("cargo::rerun-if-changed={}", p.display());
        }
    }
    Some(commit)
}
