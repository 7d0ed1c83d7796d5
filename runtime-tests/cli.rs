//! The command line itself: `--version` in runc's format, `--systemd-cgroup` on a host
//! without systemd, the pid file (digits only, replaced atomically, relative to the caller's
//! cwd), the state JSON's fields, and bad command lines that must fail with a message, never
//! with a panic (a panic aborts: SIGABRT).

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::common::{describe, pid_alive, podrun_bin, repo_dir, TestEnv};
use crate::lifecycle::{create_sleeper, s, state_pid};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The commit the checkout is at, if it is a git checkout.
fn git_head() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo_dir())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| stdout(&out).trim().to_string())
}

#[test]
fn version_has_runcs_three_lines() {
    let runc = Command::new("/usr/bin/runc")
        .arg("--version")
        .output()
        .expect("run runc --version");
    let runc_text = stdout(&runc);
    let runc_keys: Vec<&str> = runc_text
        .lines()
        .take(3)
        .map(|l| l.split([' ', ':']).next().unwrap_or(""))
        .collect();
    assert_eq!(
        runc_keys,
        ["runc", "commit", "spec"],
        "runc's format changed: {runc_text}"
    );

    for flag in ["--version", "-v"] {
        let out = Command::new(podrun_bin())
            .arg(flag)
            .output()
            .expect("run podrun --version");
        assert!(out.status.success(), "{flag}: {}", describe(&out));
        let text = stdout(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{flag}: {text}");
        assert_eq!(
            lines[0],
            format!("podrun version {}", env!("CARGO_PKG_VERSION")),
            "{text}"
        );
        let commit = lines[1]
            .strip_prefix("commit: ")
            .unwrap_or_else(|| panic!("no commit line: {text}"));
        match git_head() {
            Some(head) => assert_eq!(commit, head, "the binary names another commit: {text}"),
            None => assert!(!commit.is_empty(), "{text}"),
        }
        let spec = lines[2]
            .strip_prefix("spec: ")
            .unwrap_or_else(|| panic!("no spec line: {text}"));
        let parts: Vec<&str> = spec.split('.').collect();
        assert!(
            parts.len() == 3 && parts[0] == "1" && parts.iter().all(|p| p.parse::<u32>().is_ok()),
            "spec line is not 1.x.y: {text}"
        );
    }
}

/// .cargo/config.toml builds podrun static and non-PIE: no program interpreter (no loader,
/// no shared libraries to map) and ELF type EXEC.
#[test]
fn podrun_is_a_static_non_pie_executable() {
    let elf = std::fs::read(podrun_bin()).unwrap();
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(u16_at(16), 2, "e_type: ET_EXEC (not ET_DYN, a PIE)");
    let phoff = u64::from_le_bytes(elf[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    let types: Vec<u32> = (0..phnum)
        .map(|i| u32::from_le_bytes(elf[phoff + i * phentsize..][..4].try_into().unwrap()))
        .collect();
    assert!(types.contains(&1), "a PT_LOAD segment: {types:?}");
    assert!(!types.contains(&3), "no PT_INTERP: {types:?}");
    assert!(!types.contains(&2), "no PT_DYNAMIC: {types:?}");
    // src/cold.ld: the code `run` does not execute sits in a section of its own
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum, shstrndx) = (u64_at(40), u16_at(58), u16_at(60), u16_at(62));
    let names_at = u64_at(shoff + shstrndx * shentsize + 24);
    let sections: Vec<(String, usize)> = (0..shnum)
        .map(|i| {
            let sh = shoff + i * shentsize;
            let name = &elf[names_at + u32_at(sh)..];
            let name = String::from_utf8_lossy(&name[..name.iter().position(|b| *b == 0).unwrap()])
                .into_owned();
            (name, u64_at(sh + 32))
        })
        .collect();
    let size = |n: &str| sections.iter().find(|(s, _)| s == n).map(|(_, z)| *z);
    let (hot, cold) = (
        size(".text").unwrap(),
        size(".text.podrun_cold").unwrap_or(0),
    );
    assert!(
        cold > 256 * 1024 && cold < hot,
        ".text {hot} bytes, .text.podrun_cold {cold}: {sections:?}"
    );
}

#[test]
fn systemd_cgroup_without_systemd_is_a_clear_error() {
    let env = TestEnv::new("cli-systemd");
    let bundle = env.bundle("sleeper", |_| {});
    let out = env.podrun(&["--systemd-cgroup", "create", "--bundle", s(&bundle), "sd"]);
    if std::path::Path::new("/run/systemd/system").is_dir() {
        // systemd runs here: the flag is accepted.
        assert!(out.status.success(), "{}", describe(&out));
        env.run_ok(&["delete", "--force", "sd"]);
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--systemd-cgroup") && err.contains("systemd is not running"),
        "unclear error: {err}"
    );
    assert!(
        env.container_ids().is_empty(),
        "state left: {:?}",
        env.container_ids()
    );
    let err = env.run_fail(&["--systemd-cgroup", "run", "--bundle", s(&bundle), "sd"]);
    assert!(err.contains("systemd is not running"), "{err}");
    let err = env.run_fail(&["--systemd-cgroup", "pod", "create", "--no-network", "sdpod"]);
    assert!(err.contains("systemd is not running"), "{err}");
    assert!(!env.root.join("pods/sdpod").exists(), "pod state left");
    // A systemd-form cgroupsPath (what Docker/containerd send with the systemd driver) without
    // the flag: refused as well, naming the form; nothing is left.
    let sd_bundle = env.bundle("sleeper", |spec| {
        spec["linux"]["cgroupsPath"] = "system.slice:docker:sd3".into();
    });
    let err = env.run_fail(&["create", "--bundle", s(&sd_bundle), "sd3"]);
    assert!(
        err.contains("slice:prefix:name") && err.contains("systemd is not running"),
        "{err}"
    );
    assert!(env.container_ids().is_empty(), "{:?}", env.container_ids());
    // What containerd's shim calls after a failed create, with the same global flags: works.
    env.run_ok(&["--systemd-cgroup", "delete", "--force", "sd"]);
    assert_eq!(env.run_ok(&["--systemd-cgroup", "list", "--quiet"]), "");
    // Commands on existing containers do not make cgroups and work with the flag.
    let pid = create_sleeper(&env, "sd2");
    let st: Value = serde_json::from_str(&env.run_ok(&["--systemd-cgroup", "state", "sd2"]))
        .expect("state json");
    assert_eq!(state_pid(&st), pid);
    env.run_ok(&["--systemd-cgroup", "delete", "--force", "sd2"]);
    assert!(!pid_alive(pid));
}

#[test]
fn pid_file_is_digits_replaced_atomically_and_relative_to_the_cwd() {
    let env = TestEnv::new("cli-pidfile");
    let bundle = env.bundle("sleeper", |_| {});
    // An existing pid file that is a hard link of another file: a write in place would change
    // the other file too; tmp + rename replaces the name only.
    let pid_file = env.dir.join("init.pid");
    let other = env.dir.join("other");
    std::fs::write(&other, "untouched").expect("write other");
    std::fs::hard_link(&other, &pid_file).expect("link pid file");
    env.run_ok(&[
        "create",
        "--bundle",
        s(&bundle),
        "--pid-file",
        s(&pid_file),
        "pf",
    ]);
    let pid = state_pid(&env.state("pf"));
    let text = std::fs::read_to_string(&pid_file).expect("read pid file");
    assert_eq!(text, pid.to_string(), "pid file must be the digits only");
    assert_eq!(
        std::fs::read_to_string(&other).expect("read other"),
        "untouched",
        "the pid file was written in place, not replaced"
    );
    let ino = |p: &std::path::Path| std::fs::metadata(p).expect("stat").ino();
    assert_ne!(ino(&pid_file), ino(&other));
    let leftovers: Vec<String> = std::fs::read_dir(&env.dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("init.pid") && n != "init.pid")
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary pid files left: {leftovers:?}"
    );

    // A relative --pid-file is relative to the caller's working directory (as with runc).
    let mut cmd = env.podrun_cmd();
    cmd.args([
        "create",
        "--bundle",
        s(&bundle),
        "--pid-file",
        "rel.pid",
        "pf-rel",
    ])
    .current_dir(&env.dir);
    let out = env.output_via_files(&mut cmd);
    assert!(out.status.success(), "{}", describe(&out));
    let rel = std::fs::read_to_string(env.dir.join("rel.pid")).expect("relative pid file");
    assert_eq!(rel, state_pid(&env.state("pf-rel")).to_string());
}

#[test]
fn state_json_has_the_spec_and_runc_fields() {
    let env = TestEnv::new("cli-state");
    let bundle = env.bundle("sleeper", |spec| {
        spec["annotations"] = json!({"org.example.key": "value"});
    });
    env.run_ok(&["create", "--bundle", s(&bundle), "st"]);
    let st = env.state("st");
    let config: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).expect("config"))
            .expect("config json");
    assert_eq!(st["ociVersion"], config["ociVersion"], "{st}");
    assert_eq!(st["id"], "st", "{st}");
    assert_eq!(st["status"], "created", "{st}");
    assert!(pid_alive(state_pid(&st)), "{st}");
    assert_eq!(st["bundle"], s(&bundle), "{st}");
    assert_eq!(st["rootfs"], config["root"]["path"], "{st}");
    assert_eq!(
        st["annotations"],
        json!({"org.example.key": "value"}),
        "{st}"
    );
    // runc's `created`: RFC 3339 with nanoseconds, e.g. 2024-01-02T03:04:05.123456789Z
    let created = st["created"]
        .as_str()
        .unwrap_or_else(|| panic!("no created: {st}"));
    let b = created.as_bytes();
    assert!(
        b.len() >= 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && (created.ends_with('Z') || created.contains('+')),
        "created is not RFC 3339: {created}"
    );
    env.run_ok(&["start", "st"]);
    env.run_ok(&["kill", "st", "KILL"]);
    crate::lifecycle::wait_status(&env, "st", "stopped");
    // A stopped container reports pid 0, as runc does.
    assert_eq!(env.state("st")["pid"], 0);
}

/// Asserts that podrun exited with a usage/runtime error (1, or clap's 2) and a message: not a
/// signal (a panic aborts), not success.
fn assert_clean_failure(out: &Output, what: &str) {
    assert!(
        out.status.signal().is_none(),
        "{what}: podrun died by a signal (a panic?): {}",
        describe(out)
    );
    assert!(
        matches!(out.status.code(), Some(1) | Some(2)),
        "{what}: exit code {:?}: {}",
        out.status.code(),
        describe(out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.trim().is_empty(), "{what}: no message");
    assert!(!err.contains("panicked"), "{what}: {err}");
}

#[test]
fn bad_command_lines_fail_with_a_message_not_a_panic() {
    let env = TestEnv::new("cli-bad");
    let bundle = env.bundle("sleeper", |_| {});
    let b = s(&bundle).to_string();
    let pid = create_sleeper(&env, "live");
    let long_id = "a".repeat(5000);
    let store = s(&env.dir.join("ipam")).to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["no-such-command"],
        vec!["--log-format", "xml", "list"],
        vec!["list", "--format", "yaml"],
        vec![
            "create",
            "--preserve-fds",
            "4294967295",
            "--bundle",
            &b,
            "pfds",
        ],
        vec!["create", "--preserve-fds", "-1", "--bundle", &b, "pfds"],
        vec!["create", "--bundle", "/nonexistent-bundle-dir", "nb"],
        vec!["state", &long_id],
        vec!["state", "../../etc"],
        vec!["delete", "a/../../b"],
        vec!["kill", "live", "99999"],
        vec!["kill", "live", "0"],
        vec!["kill", "live", "-9"],
        vec!["kill", "live", "SIGNOPE"],
        vec!["kill", "missing"],
        vec!["exec", "live"],
        vec!["exec", "--preserve-fds", "99999999", "live", "true"],
        vec!["exec", "--process", "/nonexistent.json", "live"],
        vec!["exec", "--cap", "CAP_NOPE", "live", "true"],
        vec!["update", "--memory", "lots", "live"],
        vec!["update", "--pids-limit", "many", "live"],
        vec!["events", "--interval", "forever", "live"],
        vec!["ps", "live", "--format", "xml"],
        vec!["spec", "--bundle", "/nonexistent-dir/sub"],
        // own bridge and store: should a check be missing, nothing lands on the host's podrun0
        vec![
            "pod",
            "create",
            "--bridge",
            "prcli150",
            "--store-dir",
            &store,
            "--subnet",
            "300.1.1.1/24",
            "p1",
        ],
        vec![
            "pod",
            "create",
            "--bridge",
            "prcli150",
            "--store-dir",
            &store,
            "--subnet",
            "10.244.150.0/99",
            "p1",
        ],
        vec![
            "pod",
            "create",
            "--bridge",
            "prcli150",
            "--store-dir",
            &store,
            "--subnet",
            "10.244.150.0/24",
            "--ip",
            "not-an-ip",
            "p1",
        ],
        vec![
            "pod",
            "create",
            "--bridge",
            "prcli150",
            "--store-dir",
            &store,
            "--subnet",
            "10.244.150.0/24",
            "--mtu",
            "many",
            "p1",
        ],
        vec![
            "pod",
            "create",
            "--bridge",
            "a-name-much-too-long-for-a-link",
            "--store-dir",
            &store,
            "--subnet",
            "10.244.150.0/24",
            "p1",
        ],
        vec!["pod", "state", "../x"],
        vec!["pod", "delete", "nope"],
    ];
    for args in &cases {
        let out = env.podrun(args);
        assert_clean_failure(&out, &format!("podrun {}", args.join(" ")));
    }
    assert!(pid_alive(pid), "a bad command line hurt the live container");
    let mut ids = env.container_ids();
    ids.sort();
    assert_eq!(ids, ["live"], "bad command lines left containers");
    assert!(
        !env.root.join("pods/p1").exists(),
        "a refused pod create left state"
    );
    assert!(
        !std::path::Path::new("/sys/class/net/prcli150").exists(),
        "a refused pod create made a bridge"
    );
}
