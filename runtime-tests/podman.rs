//! podman 4.3 (Debian's, with conmon) driving podrun as its OCI runtime, next to runc. podman
//! calls the runtime without `--root` and writes outside its own --root/--runroot
//! (/var/lib/containers/cache, /var/tmp, /run/...), so every podman command runs in one
//! private mount namespace that the test made, with tmpfs over /run, /var/lib and /var/tmp: the
//! runtimes' default state roots (/run/podrun, /run/runc) live and die there too. Its own
//! containers.conf (cgroupfs, file events and locks, nofile/nproc within this machine's hard
//! limits, podrun as a named `[engine.runtimes]` entry) and storage.conf; `--network none`
//! everywhere: no traffic leaves the containers' own namespaces.
//!
//! One scenario, run with `--runtime /usr/sbin/runc` and with `--runtime podrun`, must give the
//! same outputs and exit codes, and runc's the expected ones: `run --rm`; a detached container
//! with `exec` (as another user, with -w and -e), `pause`/`unpause`, `stop` (its TERM trap's
//! exit code, well before the kill timeout), `start` again, `rm -f`; a pod whose infra
//! container is a locally built catatonit image, with an httpd and a wget client talking over
//! 127.0.0.1; at the end no state is left in the runtime's root.
//!
//! A Drop guard removes all containers and pods through podman, kills whatever is left in the
//! test's cgroup parent (conmon and container processes: that cgroup holds only them), ends
//! the namespace holder and removes the cgroup tree; TestEnv removes the directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::clients::{
    build_catatonit_image, build_image, pids_in_cgroup_trees, remove_cgroup_trees, runtimes,
    wait_listening, Step, BUSYBOX_IMAGE,
};
use crate::common::{describe, podrun_bin, TestEnv};
use crate::lifecycle::wait_until;

pub(crate) const INFRA_IMAGE: &str = "localhost/podrun-infra:latest";
/// How long `podman stop` waits before SIGKILL; a stop that took this long ignored TERM.
const STOP_TIMEOUT_S: u64 = 10;

/// podman's private world: its directories, config files, the mount namespace it runs in
/// (kept alive by a holder process), the cgroup parent of its containers.
struct Podman {
    dir: PathBuf,
    holder: Option<(Child, ChildStdin)>,
    holder_pid: i32,
    cgroup_parent: String,
}

impl Podman {
    fn new(env: &TestEnv) -> Podman {
        let dir = env.dir.join("podman");
        for sub in ["tmp", "net", "copytmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap_or_else(|e| panic!("mkdir {sub}: {e}"));
        }
        let d = dir.display();
        let conf = format!(
            r#"[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{d}/events.log"
lock_type = "file"
tmp_dir = "{d}/tmp"
image_copy_tmp_dir = "{d}/copytmp"
infra_image = "{INFRA_IMAGE}"

[engine.runtimes]
podrun = ["{podrun}"]

[network]
network_config_dir = "{d}/net"
"#,
            podrun = podrun_bin().display()
        );
        write(&dir.join("containers.conf"), &conf);
        let storage = format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{d}/root\"\nrunroot = \"{d}/runroot\"\n"
        );
        write(&dir.join("storage.conf"), &storage);

        // The holder: a shell in a new mount namespace that covers the directories podman (and
        // the runtimes) write outside their roots, says "ready", then waits on its stdin. Our
        // end of that pipe is its lifeline: when this test ends, even killed, it exits.
        let mut child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(
                "mount -t tmpfs -o mode=755 tmpfs /run && \
                 mount -t tmpfs -o mode=755 tmpfs /var/lib && \
                 mount -t tmpfs -o mode=1777 tmpfs /var/tmp && \
                 echo ready && exec cat >/dev/null",
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start unshare: {e}"));
        let stdin = child.stdin.take().expect("holder stdin");
        let stdout = child.stdout.take().expect("holder stdout");
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let holder_pid = child.id() as i32;
        let podman = Podman {
            dir,
            holder: Some((child, stdin)),
            holder_pid,
            cgroup_parent: format!("podrun-test-podman-{}", std::process::id()),
        };
        assert_eq!(line.trim(), "ready", "the mount namespace holder failed");
        podman
    }

    fn nsenter(&self) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--mount=/proc/{}/ns/mnt", self.holder_pid))
            .arg("--");
        cmd
    }

    /// `podman` with the isolated roots and configs, `runtime` (a path or a configured name).
    fn cmd(&self, runtime: &str) -> Command {
        let mut cmd = self.nsenter();
        cmd.arg("podman")
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("runroot"))
            .args(["--storage-driver", "overlay"])
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(["--runtime", runtime])
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"));
        cmd
    }

    fn podman(&self, env: &TestEnv, runtime: &str, args: &[&str]) -> Output {
        let mut cmd = self.cmd(runtime);
        cmd.args(args);
        env.output_via_files(&mut cmd)
    }

    fn podman_ok(&self, env: &TestEnv, runtime: &str, args: &[&str]) -> String {
        let out = self.podman(env, runtime, args);
        assert!(
            out.status.success(),
            "podman {}: {}",
            args.join(" "),
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn inspect(&self, env: &TestEnv, runtime: &str, what: &str, name: &str) -> String {
        self.podman_ok(env, runtime, &["inspect", "-f", what, name])
    }

    /// Entries of a directory as seen inside podman's mount namespace (`ls -A`).
    fn ls_inside(&self, env: &TestEnv, dir: &str) -> String {
        let mut cmd = self.nsenter();
        cmd.args(["ls", "-A", dir]);
        let out = env.output_via_files(&mut cmd);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .replace('\n', ",")
    }

    fn cleanup(&mut self, env: &TestEnv) {
        if self.holder.is_some() {
            for runtime in ["podrun", crate::common::clients::RUNC] {
                let _ = self.podman(env, runtime, &["pod", "rm", "-a", "-f"]);
                let _ = self.podman(env, runtime, &["rm", "-a", "-f", "-t", "0"]);
            }
        }
        // Left over after a failure: conmon and container processes, all in our cgroup parent.
        for pid in pids_in_cgroup_trees(&self.cgroup_parent) {
            eprintln!(
                "podman cleanup: SIGKILL {pid} (left in {})",
                self.cgroup_parent
            );
            // SAFETY: kill(2) on a process in this test's own cgroup tree.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if let Some((mut child, stdin)) = self.holder.take() {
            drop(stdin);
            let _ = child.wait();
        }
        let parent = self.cgroup_parent.clone();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pids_in_cgroup_trees(&parent).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        remove_cgroup_trees(&parent);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

struct Guard<'a> {
    env: &'a TestEnv,
    podman: Podman,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.podman.cleanup(self.env);
    }
}

fn text_step(what: &str, text: &str) -> Step {
    Step {
        what: what.to_string(),
        code: None,
        stdout: text.to_string(),
    }
}

/// A step whose stdout is an id (different every run): only the exit code counts.
fn code_step(what: &str, out: &Output) -> Step {
    Step {
        what: what.to_string(),
        code: out.status.code(),
        stdout: String::new(),
    }
}

/// The scenario with one runtime (`--runtime` value) whose default state root is `state_root`.
fn scenario(env: &TestEnv, p: &Podman, runtime: &str, state_root: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let cg = format!("/{}", p.cgroup_parent);
    let base = ["--pull", "never", "--cgroup-parent", &cg];
    let run = |extra: &[&str], image: &str, cmd: &[&str]| {
        let mut args = vec!["run"];
        args.extend_from_slice(&base);
        args.extend_from_slice(extra);
        args.push(image);
        args.extend_from_slice(cmd);
        p.podman(env, runtime, &args)
    };

    // podman reads the runtime's `--version` (go-runc's Version format).
    let version = p.podman_ok(
        env,
        runtime,
        &["info", "--format", "{{.Host.OCIRuntime.Version}}"],
    );
    assert!(
        version.contains("version") && version.contains("spec:"),
        "podman info sees no version of {runtime}: {version:?}"
    );

    // 1. run --rm: output and exit code.
    let out = run(
        &["--rm", "--network", "none"],
        BUSYBOX_IMAGE,
        &["sh", "-c", "echo hello from podman; id; ulimit -n; exit 3"],
    );
    steps.push(Step::new("run --rm", &out));

    // A terminal: conmon hands the runtime a --console-socket and relays the pty.
    let out = run(
        &["--rm", "-t", "--network", "none"],
        BUSYBOX_IMAGE,
        &[
            "sh",
            "-c",
            "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-tty; exit 2",
        ],
    );
    steps.push(Step::new("run --rm -t", &out));

    // 2. A detached container: exec, pause/unpause, stop, start, rm.
    let out = run(
        &["-d", "--name", "pm-d", "--network", "none"],
        BUSYBOX_IMAGE,
        &["sh", "-c", "trap 'exit 7' TERM; sleep 1000 & wait"],
    );
    steps.push(code_step("run -d", &out));
    steps.push(text_step(
        "status",
        &p.inspect(env, runtime, "{{.State.Status}}", "pm-d"),
    ));
    let out = p.podman(
        env,
        runtime,
        &[
            "exec",
            "pm-d",
            "sh",
            "-c",
            "echo from exec; cat /proc/1/cmdline | tr '\\0' ' '; exit 4",
        ],
    );
    steps.push(Step::new("exec", &out));
    let out = p.podman(
        env,
        runtime,
        &[
            "exec",
            "-u",
            "65534",
            "-w",
            "/tmp",
            "-e",
            "FOO=bar",
            "pm-d",
            "sh",
            "-c",
            "id; pwd; echo $FOO",
        ],
    );
    steps.push(Step::new("exec -u -w -e", &out));
    steps.push(code_step(
        "pause",
        &p.podman(env, runtime, &["pause", "pm-d"]),
    ));
    steps.push(text_step(
        "status after pause",
        &p.inspect(env, runtime, "{{.State.Status}}", "pm-d"),
    ));
    let out = p.podman(env, runtime, &["exec", "pm-d", "true"]);
    steps.push(text_step(
        "exec while paused fails",
        &(!out.status.success()).to_string(),
    ));
    steps.push(code_step(
        "unpause",
        &p.podman(env, runtime, &["unpause", "pm-d"]),
    ));
    steps.push(text_step(
        "status after unpause",
        &p.inspect(env, runtime, "{{.State.Status}}", "pm-d"),
    ));
    let t = STOP_TIMEOUT_S.to_string();
    let started = Instant::now();
    steps.push(code_step(
        "stop",
        &p.podman(env, runtime, &["stop", "-t", &t, "pm-d"]),
    ));
    let by_term = started.elapsed() < Duration::from_secs(STOP_TIMEOUT_S - 2);
    steps.push(text_step(
        "stopped by TERM, not the kill timeout",
        &by_term.to_string(),
    ));
    steps.push(text_step(
        "state after stop",
        &p.inspect(
            env,
            runtime,
            "{{.State.Status}} {{.State.ExitCode}}",
            "pm-d",
        ),
    ));
    steps.push(code_step(
        "start again",
        &p.podman(env, runtime, &["start", "pm-d"]),
    ));
    steps.push(text_step(
        "status after start",
        &p.inspect(env, runtime, "{{.State.Status}}", "pm-d"),
    ));
    steps.push(code_step(
        "rm -f",
        &p.podman(env, runtime, &["rm", "-f", "-t", "0", "pm-d"]),
    ));
    steps.push(text_step(
        "containers left",
        &p.podman_ok(env, runtime, &["ps", "-a", "-q"]),
    ));

    // 3. A pod (catatonit infra, its own netns with only lo) with two containers on localhost.
    let out = p.podman(
        env,
        runtime,
        &[
            "pod",
            "create",
            "--name",
            "pm-pod",
            "--infra-image",
            INFRA_IMAGE,
            "--network",
            "none",
            "--cgroup-parent",
            &cg,
        ],
    );
    steps.push(code_step("pod create", &out));
    let out = run(
        &["-d", "--pod", "pm-pod", "--name", "pm-srv"],
        BUSYBOX_IMAGE,
        &[
            "sh",
            "-c",
            "mkdir -p /www && echo hello-pod > /www/index.html && trap 'exit 0' TERM; \
             httpd -f -p 127.0.0.1:8080 -h /www & wait",
        ],
    );
    steps.push(code_step("run -d httpd in the pod", &out));
    let srv_pid: i32 = p
        .inspect(env, runtime, "{{.State.Pid}}", "pm-srv")
        .parse()
        .unwrap_or_else(|e| panic!("pid of pm-srv: {e}"));
    wait_listening(srv_pid, 8080, "httpd in the podman pod to listen");
    let infra = p.podman_ok(
        env,
        runtime,
        &["pod", "inspect", "-f", "{{.InfraContainerID}}", "pm-pod"],
    );
    let infra_pid = p.inspect(env, runtime, "{{.State.Pid}}", &infra);
    let infra_comm = std::fs::read_to_string(format!("/proc/{infra_pid}/comm")).unwrap_or_default();
    steps.push(text_step("infra process", infra_comm.trim()));
    let out = run(
        &["--rm", "--pod", "pm-pod"],
        BUSYBOX_IMAGE,
        &[
            "sh",
            "-c",
            "timeout 5 wget -q -O - http://127.0.0.1:8080/; echo \"wget=$?\"; hostname; \
             ip -o link | awk -F': ' '{print $2}'",
        ],
    );
    steps.push(Step::new("wget over localhost in the pod", &out));
    let started = Instant::now();
    steps.push(code_step(
        "pod stop",
        &p.podman(env, runtime, &["pod", "stop", "-t", &t, "pm-pod"]),
    ));
    let by_term = started.elapsed() < Duration::from_secs(STOP_TIMEOUT_S - 2);
    steps.push(text_step("pod stopped by TERM", &by_term.to_string()));
    steps.push(text_step(
        "httpd exit code",
        &p.inspect(env, runtime, "{{.State.ExitCode}}", "pm-srv"),
    ));
    steps.push(code_step(
        "pod rm",
        &p.podman(env, runtime, &["pod", "rm", "pm-pod"]),
    ));
    steps.push(text_step(
        "pods left",
        &p.podman_ok(env, runtime, &["pod", "ps", "-q"]),
    ));
    steps.push(text_step(
        "containers left",
        &p.podman_ok(env, runtime, &["ps", "-a", "-q"]),
    ));

    // 4. Nothing of these containers is left in the runtime's own state root.
    let root = state_root.to_string();
    wait_until(
        &format!("{root} to be empty"),
        Duration::from_secs(10),
        || p.ls_inside(env, &root).is_empty(),
    );
    steps
}

#[test]
fn podman_runs_podrun_like_runc() {
    let env = TestEnv::new("podman");
    let busybox = build_image(&env, "busybox.tar", BUSYBOX_IMAGE, &[]);
    let infra = build_catatonit_image(&env, INFRA_IMAGE);
    let guard = Guard {
        env: &env,
        podman: Podman::new(&env),
    };
    let p = &guard.podman;
    for image in [&busybox, &infra] {
        let loaded = p.podman_ok(
            &env,
            "podrun",
            &["load", "-q", "-i", image.to_str().expect("utf8")],
        );
        assert!(loaded.contains("Loaded image"), "{loaded}");
    }

    let mut results = Vec::new();
    for (name, binary) in runtimes() {
        // runc by path; podrun by the name containers.conf gives it, as a user would set it up.
        let (runtime, state_root) = if name == "podrun" {
            ("podrun".to_string(), "/run/podrun")
        } else {
            (binary.display().to_string(), "/run/runc")
        };
        let steps = scenario(&env, p, &runtime, state_root);
        for step in &steps {
            println!("{name}: {step:?}");
        }
        results.push(steps);
    }
    let (want, got) = (&results[0], &results[1]);
    let find = |what: &str| -> &Step {
        want.iter()
            .find(|s| s.what == what)
            .unwrap_or_else(|| panic!("no step {what}"))
    };
    // runc's run is the expected one, so the comparison below is against a known-good run.
    assert_eq!(find("run --rm").code, Some(3));
    assert_eq!(
        find("run --rm").stdout,
        "hello from podman\nuid=0(root) gid=0(root)\n20000\n"
    );
    assert_eq!(find("run --rm -t").code, Some(2));
    assert_eq!(
        find("run --rm -t").stdout,
        "/dev/pts/0\r\nstdio-is-a-tty\r\n"
    );
    assert_eq!(find("exec").code, Some(4));
    assert_eq!(
        find("exec -u -w -e").stdout,
        "uid=65534(nobody) gid=65534(nogroup)\n/tmp\nbar\n"
    );
    assert_eq!(find("status after pause").stdout, "paused");
    assert_eq!(find("state after stop").stdout, "exited 7");
    assert_eq!(find("stopped by TERM, not the kill timeout").stdout, "true");
    assert_eq!(find("infra process").stdout, "catatonit");
    assert_eq!(
        find("wget over localhost in the pod").stdout,
        "hello-pod\nwget=0\npm-pod\nlo\n"
    );
    for (w, g) in want.iter().zip(got.iter()) {
        assert_eq!(g, w, "podrun differs from runc at step {:?}", w.what);
    }
    assert_eq!(got.len(), want.len());
}
