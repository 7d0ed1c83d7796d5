//! Build script: the pause binary is built tiny (no libc start files, static-pie, raw
//! syscalls) whenever panics abort (the release profile), so its RSS stays far below 0.5 MB.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(tiny_pause)");
    if std::env::var("CARGO_CFG_PANIC").as_deref() == Ok("abort") {
        println!("cargo::rustc-cfg=tiny_pause");
        for a in ["-nostartfiles", "-nostdlib", "-static-pie"] {
            println!("cargo::rustc-link-arg-bin=podrun-pause={a}");
        }
    }
    println!("cargo::rerun-if-changed=build.rs");
}
