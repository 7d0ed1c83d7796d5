//! The container's process: env, cwd, user, umask, capabilities, no_new_privs, rlimits,
//! oom_score_adj, open fds, --preserve-fds, `exec`, and the binary the init runs from.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{describe, podrun_bin, TestEnv};
use crate::lifecycle::{create_sleeper, run_sh, run_sh_ok, s, sh_bundle, start_bundle};

/// The value of `Field:` in a /proc/<pid>/status text.
fn status_field<'a>(status: &'a str, field: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

fn cap_mask(bits: &[u32]) -> u64 {
    bits.iter().fold(0, |m, b| m | 1u64 << b)
}

fn hex_mask(text: &str) -> u64 {
    u64::from_str_radix(text, 16).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

const CHOWN: u32 = 0;
const KILL: u32 = 5;
const SETUID: u32 = 7;
const NET_BIND_SERVICE: u32 = 10;
const AUDIT_WRITE: u32 = 29;

/// Makes `cmd` hand `file` to its child as fd `target` (not close-on-exec).
fn pass_fd_as(cmd: &mut Command, file: &std::fs::File, target: i32) {
    let fd = file.as_raw_fd();
    // SAFETY: dup2 and fcntl are async-signal-safe; they only change the forked child's fds.
    unsafe {
        cmd.pre_exec(move || {
            if fd == target {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, target) != target {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn env_and_cwd() {
    let env = TestEnv::new("proc-env");
    let out = run_sh_ok(&env, "envcwd", "echo \"$ALPHA|$BETA\"; pwd", |spec| {
        spec["process"]["env"] = json!(["PATH=/bin", "ALPHA=1", "BETA=two words"]);
        spec["process"]["cwd"] = json!("/tmp");
    });
    assert_eq!(out, "1|two words\n/tmp\n");
    // A cwd that does not exist in the rootfs is created (as runc does).
    let bundle = env.bundle_with_rootfs_copy("hello", |spec| {
        spec["process"]["args"] = json!(["sh", "-c", "pwd"]);
        spec["process"]["cwd"] = json!("/work/dir");
        spec["root"]["readonly"] = json!(false);
    });
    let out = env.run_ok(&["run", "--bundle", s(&bundle), "newcwd"]);
    assert_eq!(out, "/work/dir\n");
}

#[test]
fn user_and_groups_and_umask() {
    let env = TestEnv::new("proc-user");
    let out = run_sh_ok(&env, "user", "id -u; id -g; id -G; umask", |spec| {
        spec["process"]["user"] =
            json!({ "uid": 1000, "gid": 1001, "additionalGids": [10, 20], "umask": 63 });
    });
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000", "{out}");
    assert_eq!(lines[1], "1001", "{out}");
    let mut groups: Vec<&str> = lines[2].split_whitespace().collect();
    groups.sort();
    assert_eq!(groups, ["10", "1001", "20"], "{out}");
    assert_eq!(lines[3], "0077", "{out}");
}

fn caps_of(out: &str) -> [u64; 5] {
    ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].map(|f| hex_mask(status_field(out, f)))
}

fn cap_names(bits: &[u32]) -> Value {
    let name = |b: &u32| match *b {
        CHOWN => "CAP_CHOWN",
        KILL => "CAP_KILL",
        SETUID => "CAP_SETUID",
        NET_BIND_SERVICE => "CAP_NET_BIND_SERVICE",
        AUDIT_WRITE => "CAP_AUDIT_WRITE",
        _ => unreachable!(),
    };
    json!(bits.iter().map(name).collect::<Vec<_>>())
}

#[test]
fn capabilities_of_the_default_spec() {
    let env = TestEnv::new("proc-caps-default");
    let out = run_sh_ok(&env, "caps", "cat /proc/self/status", |_| {});
    let [inh, prm, eff, bnd, amb] = caps_of(&out);
    let spec_set = cap_mask(&[AUDIT_WRITE, KILL, NET_BIND_SERVICE]);
    assert_eq!(bnd, spec_set, "CapBnd {bnd:x}");
    assert_eq!(prm, spec_set, "CapPrm {prm:x}");
    assert_eq!(eff, spec_set, "CapEff {eff:x}");
    assert_eq!(inh, 0, "CapInh {inh:x}");
    // The spec's ambient set needs the caps in the inheritable set too, which it lacks: the
    // kernel refuses to raise them (runc behaves the same).
    assert_eq!(amb, 0, "CapAmb {amb:x}");
}

#[test]
fn capabilities_all_five_sets_as_non_root() {
    let env = TestEnv::new("proc-caps-user");
    // As a non-root user the sets after exec are exactly what was set: ambient carries the
    // permitted/effective ones across exec.
    let out = run_sh_ok(&env, "caps-user", "cat /proc/self/status", |spec| {
        spec["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
        let two = cap_names(&[KILL, NET_BIND_SERVICE]);
        spec["process"]["capabilities"] = json!({
            "bounding": cap_names(&[CHOWN, KILL, SETUID, NET_BIND_SERVICE, AUDIT_WRITE]),
            "effective": two, "permitted": two, "inheritable": two, "ambient": two,
        });
    });
    let [inh, prm, eff, bnd, amb] = caps_of(&out);
    let two = cap_mask(&[KILL, NET_BIND_SERVICE]);
    assert_eq!(
        bnd,
        cap_mask(&[CHOWN, KILL, SETUID, NET_BIND_SERVICE, AUDIT_WRITE]),
        "CapBnd {bnd:x}"
    );
    assert_eq!(inh, two, "CapInh {inh:x}");
    assert_eq!(prm, two, "CapPrm {prm:x}");
    assert_eq!(eff, two, "CapEff {eff:x}");
    assert_eq!(amb, two, "CapAmb {amb:x}");
    assert_eq!(
        status_field(&out, "Uid").split_whitespace().next(),
        Some("1000")
    );
}

#[test]
fn capabilities_distinct_sets_as_root() {
    let env = TestEnv::new("proc-caps-root");
    let out = run_sh_ok(&env, "caps-root", "cat /proc/self/status", |spec| {
        spec["process"]["noNewPrivileges"] = json!(true);
        spec["process"]["capabilities"] = json!({
            "bounding": cap_names(&[CHOWN, KILL, NET_BIND_SERVICE]),
            "effective": cap_names(&[KILL, NET_BIND_SERVICE]),
            "permitted": cap_names(&[KILL, NET_BIND_SERVICE]),
            "inheritable": cap_names(&[KILL]),
            "ambient": cap_names(&[KILL]),
        });
    });
    let [inh, prm, eff, bnd, amb] = caps_of(&out);
    assert_eq!(
        bnd,
        cap_mask(&[CHOWN, KILL, NET_BIND_SERVICE]),
        "CapBnd {bnd:x}"
    );
    assert_eq!(inh, cap_mask(&[KILL]), "CapInh {inh:x}");
    assert_eq!(amb, cap_mask(&[KILL]), "CapAmb {amb:x}");
    // With no_new_privs, root gains nothing at exec beyond the permitted set it had.
    assert_eq!(prm, cap_mask(&[KILL, NET_BIND_SERVICE]), "CapPrm {prm:x}");
    assert_eq!(eff, cap_mask(&[KILL, NET_BIND_SERVICE]), "CapEff {eff:x}");
}

#[test]
fn no_new_privileges() {
    let env = TestEnv::new("proc-nnp");
    let out = run_sh_ok(
        &env,
        "nnp-on",
        "grep NoNewPrivs /proc/self/status",
        |spec| {
            spec["process"]["noNewPrivileges"] = json!(true);
        },
    );
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");
    let out = run_sh_ok(
        &env,
        "nnp-off",
        "grep NoNewPrivs /proc/self/status",
        |spec| {
            spec["process"]["noNewPrivileges"] = json!(false);
        },
    );
    assert_eq!(status_field(&out, "NoNewPrivs"), "0");
}

#[test]
fn rlimits_applied() {
    let env = TestEnv::new("proc-rlimits");
    // This machine's hard cap for nofile is 20000 (no CAP_SYS_RESOURCE): stay below it.
    let out = run_sh_ok(
        &env,
        "rlimits",
        "ulimit -n; ulimit -Hn; ulimit -Hs",
        |spec| {
            spec["process"]["rlimits"] = json!([
                { "type": "RLIMIT_NOFILE", "soft": 1500, "hard": 2000 },
                { "type": "RLIMIT_STACK", "soft": 4194304, "hard": 8388608 },
            ]);
        },
    );
    assert_eq!(out, "1500\n2000\n8192\n");
}

#[test]
fn unknown_rlimit_is_an_error() {
    let env = TestEnv::new("proc-rlimit-unknown");
    let out = run_sh(&env, "badrl", "true", |spec| {
        spec["process"]["rlimits"] = json!([{ "type": "RLIMIT_BOGUS", "soft": 1, "hard": 1 }]);
    });
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RLIMIT_BOGUS"), "{err}");
    assert!(env.container_ids().is_empty());
}

#[test]
fn oom_score_adj() {
    let env = TestEnv::new("proc-oom");
    let out = run_sh_ok(&env, "oom", "cat /proc/self/oom_score_adj", |spec| {
        spec["process"]["oomScoreAdj"] = json!(500);
    });
    assert_eq!(out, "500\n");
}

#[test]
fn only_stdio_fds_are_open() {
    let env = TestEnv::new("proc-fds");
    let leak = std::fs::File::open("/etc/hostname").expect("open a file to leak");
    let bundle = sh_bundle(&env, "hello", "ls /proc/self/fd", |_| {});
    let mut cmd = env.podrun_cmd();
    cmd.args(["run", "--bundle", s(&bundle), "fds"]);
    // podrun inherits a non-CLOEXEC fd 7 from us: the container must not see it.
    pass_fd_as(&mut cmd, &leak, 7);
    let out = env.output_via_files(&mut cmd);
    assert!(out.status.success(), "{}", describe(&out));
    let fds: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    // 3 is ls's own handle on /proc/self/fd.
    assert_eq!(fds, ["0", "1", "2", "3"], "{}", describe(&out));
}

#[test]
fn preserve_fds_passes_fd_3() {
    let env = TestEnv::new("proc-preserve");
    let file = env.dir.join("given");
    std::fs::write(&file, "through fd 3\n").expect("write");
    let given = std::fs::File::open(&file).expect("open given");
    let bundle = sh_bundle(&env, "hello", "cat <&3; ls /proc/self/fd", |_| {});
    let mut cmd = env.podrun_cmd();
    cmd.args(["run", "--preserve-fds", "1", "--bundle", s(&bundle), "pfd"]);
    pass_fd_as(&mut cmd, &given, 3);
    let out = env.output_via_files(&mut cmd);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("through fd 3"), "{text}");
    // 0-3 are the container's, 4 is ls's directory handle.
    let fds: Vec<&str> = lines.flat_map(str::split_whitespace).collect();
    assert_eq!(fds, ["0", "1", "2", "3", "4"], "{text}");
}

#[test]
fn exec_exit_code_env_cwd_user() {
    let env = TestEnv::new("proc-exec");
    let bundle = env.bundle("sleeper", |_| {});
    start_bundle(&env, &bundle, "ex");
    let out = env.podrun(&["exec", "ex", "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    let out = env.run_ok(&[
        "exec",
        "--env",
        "FOO=bar baz",
        "ex",
        "sh",
        "-c",
        "echo \"$FOO\"",
    ]);
    assert_eq!(out, "bar baz\n");
    let out = env.run_ok(&["exec", "--cwd", "/tmp", "ex", "pwd"]);
    assert_eq!(out, "/tmp\n");
    let out = env.run_ok(&[
        "exec",
        "--user",
        "1000:1002",
        "ex",
        "sh",
        "-c",
        "id -u; id -g",
    ]);
    assert_eq!(out, "1000\n1002\n");
    // The exec'd process is in the container's pid namespace.
    let out = env.run_ok(&["exec", "ex", "sh", "-c", "cat /proc/1/comm"]);
    assert_eq!(out, "sleep\n");
}

/// A foreground `podrun exec` (whose forks join the container) re-executes itself from the
/// sealed read-only overlay view of its binary, not from a memfd copy of all of it:
/// CVE-2019-5736 at no copy per call. Checked on the waiting `podrun exec` process.
#[test]
fn exec_runs_from_a_sealed_view_not_a_copy() {
    let env = TestEnv::new("proc-exec-view");
    let bundle = env.bundle("sleeper", |_| {});
    start_bundle(&env, &bundle, "exv");
    let mut child = env
        .podrun_cmd()
        .args(["exec", "exv", "sleep", "30"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn podrun exec");
    let pid = child.id() as i32;
    let disk = podrun_bin();
    let mut result = Err("podrun exec never left the on-disk binary".to_string());
    for _ in 0..200 {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        if exe != disk && !exe.as_os_str().is_empty() {
            result = crate::common::check_sealed_view_exe(pid, "podrun exec");
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// `exec -d --pid-file` returns (and writes the pid file) once the process runs the program,
/// as runc's does: a caller that acts on the pid at once (the containerd shim reaps it as a
/// subreaper) never meets the exec helper on its way to execve.
#[test]
fn detached_exec_returns_once_the_program_runs() {
    let env = TestEnv::new("proc-exec-d");
    let bundle = env.bundle("sleeper", |_| {});
    start_bundle(&env, &bundle, "exd");
    for i in 0..10 {
        let pid_file = env.dir.join(format!("exec-{i}.pid"));
        env.run_ok(&[
            "exec",
            "-d",
            "--pid-file",
            s(&pid_file),
            "exd",
            "sleep",
            "100",
        ]);
        let pid = std::fs::read_to_string(&pid_file).expect("read exec pid file");
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("readlink exe");
        assert_eq!(
            exe.to_string_lossy(),
            "/bin/busybox",
            "exec #{i}: pid {pid} had not exec'd yet"
        );
    }
}

#[test]
fn exec_cap_adds_a_capability() {
    let env = TestEnv::new("proc-exec-cap");
    let bundle = env.bundle("sleeper", |spec| {
        let one = cap_names(&[NET_BIND_SERVICE]);
        spec["process"]["capabilities"] =
            json!({ "bounding": one, "effective": one, "permitted": one });
    });
    start_bundle(&env, &bundle, "excap");
    let status = env.run_ok(&["exec", "excap", "cat", "/proc/self/status"]);
    let eff = hex_mask(status_field(&status, "CapEff"));
    assert_eq!(
        eff & cap_mask(&[KILL]),
        0,
        "CAP_KILL without --cap: {eff:x}"
    );
    let status = env.run_ok(&[
        "exec",
        "--cap",
        "CAP_KILL",
        "excap",
        "cat",
        "/proc/self/status",
    ]);
    let eff = hex_mask(status_field(&status, "CapEff"));
    assert_ne!(
        eff & cap_mask(&[KILL]),
        0,
        "--cap CAP_KILL missing: {eff:x}"
    );
    assert_ne!(eff & cap_mask(&[NET_BIND_SERVICE]), 0, "{eff:x}");
}

#[test]
fn exec_on_stopped_container_fails() {
    let env = TestEnv::new("proc-exec-stopped");
    let pid = create_sleeper(&env, "exst");
    env.run_ok(&["start", "exst"]);
    env.run_ok(&["kill", "exst", "KILL"]);
    crate::lifecycle::wait_status(&env, "exst", "stopped");
    let err = env.run_fail(&["exec", "exst", "true"]);
    assert!(err.contains("exst"), "{err}");
    assert!(!crate::common::pid_alive(pid));
    let err = env.run_fail(&["exec", "no-such", "true"]);
    assert!(err.contains("no-such"), "{err}");
}

#[test]
fn init_does_not_run_the_on_disk_binary() {
    let env = TestEnv::new("proc-exe");
    let pid = create_sleeper(&env, "exe");
    let exe = std::fs::metadata(format!("/proc/{pid}/exe")).expect("stat /proc/pid/exe");
    let disk = std::fs::metadata(podrun_bin()).expect("stat podrun");
    assert!(
        (exe.dev(), exe.ino()) != (disk.dev(), disk.ino()),
        "the created init runs the writable on-disk podrun (CVE-2019-5736)"
    );
}

/// podman's and Docker's specs ask for seccomp without no_new_privs and without
/// CAP_SYS_ADMIN: the filter must be loaded before the capabilities are dropped (runc's
/// order), or seccomp(2) fails with EACCES and the container never runs. Same outcome as runc.
#[test]
fn seccomp_without_no_new_privileges() {
    let env = TestEnv::new("proc-seccomp-nnp");
    let script = "mkdir /newdir 2>&1; echo \"mkdir=$?\"; \
                  grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status";
    let bundle = |seccomp: bool| {
        sh_bundle(&env, "hello", script, |spec| {
            spec["process"]["noNewPrivileges"] = json!(false);
            if seccomp {
                spec["linux"]["seccomp"] = json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
                    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
                });
            }
        })
    };
    let run = |runtime: &std::path::Path, b: &std::path::Path, id: &str| {
        let mut cmd = Command::new(runtime);
        cmd.arg("--root").arg(env.dir.join(format!("root-{id}")));
        cmd.args(["run", "--bundle", s(b), id]);
        let out = env.output_via_files(&mut cmd);
        assert!(
            out.status.success(),
            "{} run {id}: {}",
            runtime.display(),
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let filtered = run(&podrun_bin(), &bundle(true), "sc-on");
    // The read-only rootfs alone gives EROFS: EPERM can only come from the filter.
    assert!(filtered.contains("Operation not permitted"), "{filtered}");
    assert!(filtered.contains("mkdir=1"), "{filtered}");
    assert_eq!(status_field(&filtered, "NoNewPrivs"), "0");
    assert_eq!(
        status_field(&filtered, "Seccomp"),
        "2",
        "no filter in force: {filtered}"
    );
    let plain = run(&podrun_bin(), &bundle(false), "sc-off");
    assert!(plain.contains("Read-only file system"), "{plain}");
    assert_eq!(status_field(&plain, "Seccomp"), "0");
    let runc = run(
        std::path::Path::new("/usr/sbin/runc"),
        &bundle(true),
        "sc-runc",
    );
    assert_eq!(filtered, runc, "podrun and runc differ");
}

/// An init error after `create` returned (here: execve fails with ENOEXEC once started) has
/// no podrun create left to report to; it goes to the container's stderr instead of vanishing.
#[test]
fn init_error_after_start_goes_to_container_stderr() {
    let env = TestEnv::new("proc-late-error");
    let bundle = env.bundle_with_rootfs_copy("hello", |spec| {
        spec["process"]["args"] = json!(["/notelf"]);
    });
    let notelf = bundle.join("rootfs/notelf");
    std::fs::write(&notelf, "no shebang, no ELF header\n").expect("write /notelf");
    std::fs::set_permissions(&notelf, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod /notelf");
    let out = env.podrun(&["run", "--bundle", s(&bundle), "late"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("podrun: container init: exec /notelf"),
        "{err}"
    );
    assert!(
        err.contains("Exec format error") || err.contains("ENOEXEC"),
        "{err}"
    );
    assert!(
        env.container_ids().is_empty(),
        "run left its container behind"
    );
}

/// The usual create: the waiting init has already become the sealed few-KiB podrun-init
/// (src/bin/init.rs), neither the on-disk podrun nor a copy of all of it.
#[test]
fn created_init_waits_as_sealed_podrun_init() {
    let env = TestEnv::new("proc-stage");
    let pid = create_sleeper(&env, "stage");
    let link = std::fs::read_link(format!("/proc/{pid}/exe")).expect("readlink exe");
    assert_eq!(link.to_string_lossy(), "/memfd:podrun-init (deleted)");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    assert!(
        cmdline.starts_with(b"podrun-init\0"),
        "{:?}",
        String::from_utf8_lossy(&cmdline)
    );
    env.run_ok(&["start", "stage"]);
    crate::lifecycle::wait_status(&env, "stage", "running");
    // `start` returns once the init has been told to go (as runc's does), which can be
    // before its execve: wait for the exec instead of racing it.
    let exe =
        || std::fs::read_link(format!("/proc/{pid}/exe")).map(|l| l.to_string_lossy().into_owned());
    crate::lifecycle::wait_until(
        "the init to exec the container's process",
        Duration::from_secs(5),
        || exe().is_ok_and(|l| l != "/memfd:podrun-init (deleted)"),
    );
    assert_eq!(exe().expect("readlink exe"), "/bin/busybox");
}

/// Without a pid namespace of its own the init would be visible from outside while it runs
/// the on-disk podrun: podrun re-executes itself from a sealed read-only overlay view of its
/// binary first (as runc ≥ 1.2 does; no copy of it), and the container still runs.
#[test]
fn without_own_pid_namespace_the_init_is_a_sealed_podrun_copy() {
    let env = TestEnv::new("proc-hostpid");
    let bundle = env.bundle("sleeper", |spec| {
        let ns = spec["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces");
        ns.retain(|n| n["type"] != "pid");
    });
    env.run_ok(&["create", "--bundle", s(&bundle), "hostpid"]);
    let pid = crate::lifecycle::state_pid(&env.state("hostpid"));
    let link = std::fs::read_link(format!("/proc/{pid}/exe")).expect("readlink exe");
    assert_ne!(link, podrun_bin(), "the init runs the on-disk podrun");
    if let Err(e) = crate::common::check_sealed_view_exe(pid, "the created init") {
        panic!("{e}");
    }
    env.run_ok(&["start", "hostpid"]);
    crate::lifecycle::wait_status(&env, "hostpid", "running");
    env.run_ok(&["delete", "--force", "hostpid"]);
}

/// The extra exec through podrun-init must leave the capability sets exactly as a direct exec
/// would: compared with runc for a non-root user whose capabilities are permitted but not
/// ambient (they vanish at exec) and for one with ambient ones (they stay).
#[test]
fn capabilities_through_podrun_init_match_runc() {
    let env = TestEnv::new("proc-stage-caps");
    for (i, ambient) in [false, true].into_iter().enumerate() {
        let bundle = sh_bundle(&env, "hello", "grep ^Cap /proc/self/status", |spec| {
            spec["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
            let two = cap_names(&[KILL, NET_BIND_SERVICE]);
            spec["process"]["capabilities"] = json!({
                "bounding": cap_names(&[CHOWN, KILL, SETUID, NET_BIND_SERVICE]),
                "effective": two, "permitted": two, "inheritable": two,
                "ambient": if ambient { two.clone() } else { json!([]) },
            });
        });
        let run = |runtime: &std::path::Path, id: &str| {
            let mut cmd = Command::new(runtime);
            cmd.arg("--root").arg(env.dir.join(format!("root-{id}")));
            cmd.args(["run", "--bundle", s(&bundle), id]);
            let out = env.output_via_files(&mut cmd);
            assert!(
                out.status.success(),
                "{} run {id}: {}",
                runtime.display(),
                describe(&out)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let ours = run(&podrun_bin(), &format!("caps-p{i}"));
        let theirs = run(
            std::path::Path::new("/usr/sbin/runc"),
            &format!("caps-r{i}"),
        );
        assert_eq!(ours, theirs, "ambient={ambient}: podrun and runc differ");
    }
}
