//! The README's demo (scripts/demo.sh) runs to the end and leaves nothing behind.

use std::process::Command;

use crate::common::{describe, podrun_bin, repo_dir, require_root};

#[test]
fn demo_script_serves_localhost_and_the_pod_ip_then_cleans_up() {
    require_root();
    // the demo runs target/x86_64-unknown-linux-gnu/release/podrun: the binary these (release) tests were built with
    assert!(
        podrun_bin().ends_with("x86_64-unknown-linux-gnu/release/podrun"),
        "{}: run the runtime tests with --release (the static build of .cargo/config.toml)",
        podrun_bin().display()
    );
    let out = Command::new("bash")
        .arg(repo_dir().join("scripts/demo.sh"))
        .env("PODRUN_DEMO_SKIP_SETUP", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed: {}", describe(&out));
    let served = "hello from pod web (served by busybox httpd in container web-server)";
    assert_eq!(
        text.matches(served).count(),
        2,
        "localhost fetch and pod-IP fetch both print the page: {text}"
    );
    assert!(
        text.contains("(fetched by client from 10.244.77."),
        "{text}"
    );
    assert!(
        text.contains("bridge podrun-demo0 removed with the last pod; IPAM store: 0 entries left"),
        "{text}"
    );
    assert!(!std::path::Path::new("/sys/class/net/podrun-demo0").exists());
}
