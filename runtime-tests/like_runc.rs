//! Where clients and the runtime-spec depend on runc's behaviour (issue 15): a seccomp
//! profile that refuses `close_range`, HOME from the container's /etc/passwd, the error text
//! of a command that cannot be executed, poststart hooks after the exec, the init's log
//! lines in `--log`, and output commands writing into a closed pipe. Compared side by side
//! with Debian's runc where that says more than a fixed expectation.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

use crate::common::{describe, podrun_bin, TestEnv};
use crate::lifecycle::{s, sh_bundle, wait_status};

const RUNC: &str = "/usr/sbin/runc";

/// `RUNTIME --root <dir>/root-<id> ARGS...` (each runtime and container its own root).
fn runtime_cmd(env: &TestEnv, runtime: &Path, id: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(runtime);
    cmd.arg("--root").arg(env.dir.join(format!("root-{id}")));
    cmd.args(args);
    env.output_via_files(&mut cmd)
}

fn runtime_ok(env: &TestEnv, runtime: &Path, id: &str, args: &[&str]) -> String {
    let out = runtime_cmd(env, runtime, id, args);
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        runtime.display(),
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes a container made under `runtime_cmd`'s root, whatever its state.
struct Remove<'a> {
    env: &'a TestEnv,
    runtime: PathBuf,
    id: String,
}

impl Drop for Remove<'_> {
    fn drop(&mut self) {
        let _ = runtime_cmd(
            self.env,
            &self.runtime,
            &self.id,
            &["delete", "--force", &self.id],
        );
    }
}

fn both() -> [PathBuf; 2] {
    [podrun_bin(), PathBuf::from(RUNC)]
}

/// A profile that lets everything through but `close_range` (an allowlist written before
/// kernel 5.9 knows nothing of it) and mkdir, which shows the filter is in force.
fn profile_without_close_range() -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
        "syscalls": [
            {"names": ["close_range"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
        ]
    })
}

const MKDIR_PROBE: &str = "mkdir /newdir 2>&1; echo \"mkdir=$?\"; grep ^Seccomp: /proc/self/status";

/// Issue 15 item 1: nothing a profile may refuse runs after the filter is loaded. With and
/// without noNewPrivileges, for run and for exec, podrun runs what runc runs.
#[test]
fn seccomp_profile_refusing_close_range_runs_as_with_runc() {
    let env = TestEnv::new("like-seccomp-cr");
    for nnp in [false, true] {
        let run_bundle = sh_bundle(&env, "hello", MKDIR_PROBE, |spec| {
            spec["process"]["noNewPrivileges"] = json!(nnp);
            spec["linux"]["seccomp"] = profile_without_close_range();
        });
        let sleeper = env.bundle("sleeper", |spec| {
            spec["process"]["noNewPrivileges"] = json!(nnp);
            spec["linux"]["seccomp"] = profile_without_close_range();
        });
        let mut outputs = Vec::new();
        for (i, rt) in both().iter().enumerate() {
            let id = format!("cr-run-{i}-{nnp}");
            let ran = runtime_ok(&env, rt, &id, &["run", "--bundle", s(&run_bundle), &id]);
            // The read-only rootfs alone gives EROFS: EPERM can only come from the filter.
            assert!(ran.contains("mkdir=1"), "{}: {ran}", rt.display());
            assert!(
                ran.contains("Operation not permitted"),
                "{}: {ran}",
                rt.display()
            );
            assert!(ran.contains("Seccomp:\t2"), "{}: {ran}", rt.display());

            let id = format!("cr-exec-{i}-{nnp}");
            let _rm = Remove {
                env: &env,
                runtime: rt.clone(),
                id: id.clone(),
            };
            runtime_ok(
                &env,
                rt,
                &id,
                &["run", "--detach", "--bundle", s(&sleeper), &id],
            );
            let execed = runtime_ok(&env, rt, &id, &["exec", &id, "sh", "-c", MKDIR_PROBE]);
            assert!(execed.contains("mkdir=1"), "{}: {execed}", rt.display());
            outputs.push((ran, execed));
        }
        assert_eq!(
            outputs[0], outputs[1],
            "noNewPrivileges={nnp}: podrun and runc differ"
        );
        // Without a pid namespace of its own the init executes the process itself (no
        // podrun-init stage): the same outcome.
        let host_pid = sh_bundle(&env, "hello", MKDIR_PROBE, |spec| {
            spec["process"]["noNewPrivileges"] = json!(nnp);
            spec["linux"]["seccomp"] = profile_without_close_range();
            spec["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces")
                .retain(|n| n["type"] != "pid");
        });
        let id = format!("cr-hostpid-{nnp}");
        let ran = runtime_ok(
            &env,
            &podrun_bin(),
            &id,
            &["run", "--bundle", s(&host_pid), &id],
        );
        assert_eq!(ran, outputs[1].0, "noNewPrivileges={nnp}, no pid namespace");
    }
}

/// Issue 15 item 4: without HOME in the process's env, HOME comes from the container's
/// /etc/passwd for the process's uid (`/` for a uid without an entry), for run, exec and
/// exec --user; a HOME given in the env is kept. Same as runc.
#[test]
fn home_from_the_containers_passwd_as_runc() {
    let env = TestEnv::new("like-home");
    let probe = "echo \"HOME=${HOME-unset}\"";
    for (uid, given) in [(0, None), (65534, None), (4321, None), (0, Some("/given"))] {
        let bundle = sh_bundle(&env, "hello", probe, |spec| {
            spec["process"]["user"] = json!({ "uid": uid, "gid": uid });
            let mut vars = vec![json!("PATH=/bin")];
            if let Some(h) = given {
                vars.push(json!(format!("HOME={h}")));
            }
            spec["process"]["env"] = json!(vars);
        });
        let want = match (uid, given) {
            (_, Some(h)) => h,
            (0, None) => "/root",
            (65534, None) => "/nonexistent",
            _ => "/",
        };
        for (i, rt) in both().iter().enumerate() {
            let id = format!("home-{i}-{uid}-{}", given.is_some());
            let out = runtime_ok(&env, rt, &id, &["run", "--bundle", s(&bundle), &id]);
            assert_eq!(
                out.trim(),
                format!("HOME={want}"),
                "{} run as uid {uid}",
                rt.display()
            );
        }
    }
    let sleeper = env.bundle("sleeper", |spec| {
        spec["process"]["env"] = json!(["PATH=/bin"]);
    });
    for (i, rt) in both().iter().enumerate() {
        let id = format!("home-exec-{i}");
        let _rm = Remove {
            env: &env,
            runtime: rt.clone(),
            id: id.clone(),
        };
        runtime_ok(
            &env,
            rt,
            &id,
            &["run", "--detach", "--bundle", s(&sleeper), &id],
        );
        for (user, want) in [
            (None, "/root"),
            (Some("65534:65534"), "/nonexistent"),
            (Some("4321"), "/"),
        ] {
            let mut args = vec!["exec"];
            if let Some(u) = user {
                args.extend(["--user", u]);
            }
            args.extend([id.as_str(), "sh", "-c", probe]);
            let out = runtime_ok(&env, rt, &id, &args);
            assert_eq!(
                out.trim(),
                format!("HOME={want}"),
                "{} exec --user {user:?}",
                rt.display()
            );
        }
        let out = runtime_ok(
            &env,
            rt,
            &id,
            &["exec", "--env", "HOME=/mine", &id, "sh", "-c", probe],
        );
        assert_eq!(out.trim(), "HOME=/mine", "{}", rt.display());
    }
}

/// Issue 15 item 5: Docker and containerd tell "cannot be executed" (126) from "missing"
/// (127) by the words of the runtime's error: "permission denied" for a file that exists but
/// is not executable (or is a directory), "no such file or directory" only when it is missing.
#[test]
fn not_executable_is_permission_denied_missing_is_no_such_file() {
    let env = TestEnv::new("like-noexec");
    let cases = [
        ("/etc/passwd", true),
        ("/etc", true),
        ("/bin/no-such-file", false),
    ];
    for (arg0, exists) in cases {
        let bundle = env.bundle("sleeper", |spec| {
            spec["process"]["args"] = json!([arg0]);
        });
        for (i, rt) in both().iter().enumerate() {
            let id = format!("noexec-{i}");
            let _rm = Remove {
                env: &env,
                runtime: rt.clone(),
                id: id.clone(),
            };
            let out = runtime_cmd(&env, rt, &id, &["create", "--bundle", s(&bundle), &id]);
            assert!(!out.status.success(), "{}", describe(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(arg0), "{}: {err}", rt.display());
            if exists {
                assert!(
                    err.contains("permission denied") && !err.contains("no such file"),
                    "{} {arg0}: {err}",
                    rt.display()
                );
            } else {
                assert!(
                    err.contains("no such file or directory") && !err.contains("permission"),
                    "{} {arg0}: {err}",
                    rt.display()
                );
            }
        }
    }
    // exec into a running container: the same words.
    let sleeper = env.bundle("sleeper", |_| {});
    env.run_ok(&["run", "--detach", "--bundle", s(&sleeper), "noexec-run"]);
    let err = env.run_fail(&["exec", "noexec-run", "/etc/passwd"]);
    assert!(
        err.contains("permission denied") && !err.contains("no such file"),
        "{err}"
    );
    let err = env.run_fail(&["exec", "noexec-run", "/bin/no-such-file"]);
    assert!(err.contains("no such file or directory"), "{err}");
}

/// Issue 15 item 8: a poststart hook runs once the container's program has been executed:
/// the container's pid already runs /bin/busybox (the sleeper's `sleep`), never podrun-init.
#[test]
fn poststart_hook_runs_after_the_exec() {
    let env = TestEnv::new("like-poststart");
    let seen = env.dir.join("seen");
    // The hook reads the pid from the state on its stdin and compares what that process
    // runs with the rootfs's busybox, with shell builtins only: it looks at once.
    let script = "read -r st; p=${st#*\\\"pid\\\":}; p=${p%%[,\\}]*}; \
                  if [ /proc/$p/exe -ef \"$BUSYBOX\" ]; then echo exec >> \"$OUT\"; \
                  else echo \"before the exec: $(readlink /proc/$p/exe)\" >> \"$OUT\"; fi";
    let busybox = crate::common::rootfs_dir().join("bin/busybox");
    let bundle = env.bundle("sleeper", |spec| {
        // A big environment (room for it: a big stack limit) makes the execve of the user's
        // program take a few milliseconds, which is what a hook run too early races with.
        let mut vars = vec![json!("PATH=/bin")];
        for i in 0..50 {
            vars.push(json!(format!("FILLER{i}={}", "x".repeat(100_000))));
        }
        spec["process"]["env"] = json!(vars);
        spec["process"]["rlimits"] = json!([
            { "type": "RLIMIT_STACK", "soft": 64u64 << 20, "hard": 64u64 << 20 }
        ]);
        spec["hooks"] = json!({ "poststart": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", script],
            "env": [format!("OUT={}", seen.display()), format!("BUSYBOX={}", busybox.display())],
        }]});
    });
    for round in 0..10 {
        let id = format!("ps-{round}");
        env.run_ok(&["create", "--bundle", s(&bundle), &id]);
        env.run_ok(&["start", &id]);
        env.run_ok(&["delete", "--force", &id]);
    }
    let text = std::fs::read_to_string(&seen).expect("the hook's record");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10, "{text}");
    for l in lines {
        assert_eq!(l, "exec", "a poststart hook ran before the exec:\n{text}");
    }
}

fn json_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("the log file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line not JSON ({e}): {l}")))
        .collect()
}

/// Issue 15 item 9: the init's own log lines (its mounts, made inside the container's mount
/// namespace) reach `--log`, and an init-stage failure is the last JSON line, with the real
/// message, where containerd's shim looks.
#[test]
fn init_stage_log_lines_reach_the_log_file() {
    let env = TestEnv::new("like-initlog");
    let log = env.dir.join("create.json");
    let bundle = env.bundle("sleeper", |_| {});
    env.run_ok(&[
        "--debug",
        "--log",
        s(&log),
        "--log-format",
        "json",
        "create",
        "--bundle",
        s(&bundle),
        "logged",
    ]);
    let lines = json_lines(&log);
    let text = format!("{lines:#?}");
    // Only the init mounts /proc and /dev inside the container.
    assert!(
        lines
            .iter()
            .any(|l| l["dest"].as_str() == Some("/proc") && l["level"] == "debug"),
        "no init-stage mount line in the log:\n{text}"
    );
    assert!(
        lines.iter().any(|l| l["msg"]
            .as_str()
            .is_some_and(|m| m.contains("container init"))),
        "no init step in the log:\n{text}"
    );
    env.run_ok(&["delete", "--force", "logged"]);

    // A failure inside the init: a cwd that is a file.
    let log = env.dir.join("fail.json");
    let bad = env.bundle("sleeper", |spec| {
        spec["process"]["cwd"] = json!("/etc/passwd");
    });
    let out = env.podrun(&[
        "--debug",
        "--log",
        s(&log),
        "--log-format",
        "json",
        "create",
        "--bundle",
        s(&bad),
        "badcwd",
    ]);
    assert!(!out.status.success(), "{}", describe(&out));
    let lines = json_lines(&log);
    let last = lines.last().expect("a log line");
    assert_eq!(last["level"], "error", "{lines:#?}");
    let msg = last["msg"].as_str().unwrap_or_default();
    assert!(
        msg.contains("process.cwd") && msg.contains("/etc/passwd"),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l["dest"].as_str() == Some("/proc")),
        "the failed init's steps are missing:\n{lines:#?}"
    );
    assert!(env.container_ids().is_empty(), "{:?}", env.container_ids());
}

/// Issue 15 item 11: `podrun --version | head -1` and other commands printing to a pipe
/// whose reader is gone exit 0 without a word (no panic, no exit 101).
#[test]
fn output_into_a_closed_pipe_exits_quietly() {
    let env = TestEnv::new("like-epipe");
    let bundle = env.bundle("sleeper", |_| {});
    env.run_ok(&["create", "--bundle", s(&bundle), "piped"]);
    let cases: [&[&str]; 5] = [
        &["--version"],
        &["state", "piped"],
        &["list", "--format", "json"],
        &["features"],
        &["pod", "list", "--format", "json"],
    ];
    for args in cases {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two fds, owned right below.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both fds were just made and are owned by nothing else.
        let (reader, writer) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        drop(reader);
        let out = env
            .podrun_cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .expect("run podrun");
        assert_eq!(
            out.status.code(),
            Some(0),
            "podrun {args:?} into a closed pipe: {}",
            describe(&out)
        );
        assert!(
            out.stderr.is_empty(),
            "podrun {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    wait_status(&env, "piped", "created");
}
