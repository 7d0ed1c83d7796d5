//! Rootless podman (4.3, with conmon) driving podrun as its OCI runtime, next to runc, as the
//! dedicated test user of common/rootless.rs: its own vfs storage under the user's home, a
//! private containers.conf (file locks and events; cgroupfs, where runc and podrun go on
//! without a cgroup: no delegated cgroup on this host and podman refuses cgroups="disabled"
//! for runtimes other than crun, ulimits within the machine's hard limits), `--network none`, images loaded from
//! local archives (nothing pulled). podman calls the runtime without `--root`, so podrun uses
//! its rootless default state root, $XDG_RUNTIME_DIR/podrun.
//!
//! The same scenario with both runtimes must give the same outputs and exit codes, runc's the
//! expected ones: `run --rm`; `run -d` + `exec` + `stop` + `rm`; a pod (catatonit infra) whose
//! two containers talk over 127.0.0.1. Cleanup: `podman system reset -f` as the user (its
//! storage was made inside the user's namespace), then the user's processes by PID and the
//! user itself (UserGuard).

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::common::clients::{build_catatonit_image, build_image, runtimes, Step, BUSYBOX_IMAGE};
use crate::common::rootless::{TestUser, UserGuard};
use crate::common::{describe, TestEnv};
use crate::podman::INFRA_IMAGE;

/// The user's podman: its config files and storage, all under its home.
struct UserPodman<'a> {
    env: &'a TestEnv,
    user: &'a TestUser,
    dir: PathBuf,
    /// podman wants a runroot shorter than 50 characters: a short dir in /tmp, removed on drop.
    runroot: PathBuf,
}

impl<'a> UserPodman<'a> {
    fn new(env: &'a TestEnv, user: &'a TestUser) -> UserPodman<'a> {
        let dir = user.home.join("podman");
        for sub in ["tmp", "net"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap_or_else(|e| panic!("mkdir {sub}: {e}"));
        }
        let runroot = PathBuf::from(format!("/tmp/prlpm-{}", user.uid));
        std::fs::create_dir_all(&runroot).unwrap_or_else(|e| panic!("mkdir runroot: {e}"));
        chown_tree(user, &runroot);
        let d = dir.display();
        let conf = format!(
            r#"[containers]
default_ulimits = ["nofile=20000:20000"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{d}/events.log"
lock_type = "file"
tmp_dir = "{d}/tmp"
infra_image = "{INFRA_IMAGE}"

[network]
network_config_dir = "{d}/net"
"#
        );
        std::fs::write(dir.join("containers.conf"), conf).expect("write containers.conf");
        let storage = format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{d}/root\"\nrunroot = \"{run}\"\n",
            run = runroot.display()
        );
        std::fs::write(dir.join("storage.conf"), storage).expect("write storage.conf");
        chown_tree(user, &dir);
        UserPodman {
            env,
            user,
            dir,
            runroot,
        }
    }

    fn cmd(&self, runtime: &str) -> Command {
        let mut cmd = self.user.cmd("podman");
        cmd.arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(&self.runroot)
            .args(["--storage-driver", "vfs"])
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(["--runtime", runtime])
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"));
        cmd
    }

    fn podman(&self, runtime: &str, args: &[&str]) -> Output {
        let mut cmd = self.cmd(runtime);
        cmd.args(args);
        self.env.output_via_files(&mut cmd)
    }

    fn podman_ok(&self, runtime: &str, args: &[&str]) -> String {
        let out = self.podman(runtime, args);
        assert!(
            out.status.success(),
            "podman {} as {}: {}",
            args.join(" "),
            self.user.name,
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for UserPodman<'_> {
    fn drop(&mut self) {
        for runtime in [
            "/usr/sbin/runc",
            crate::common::podrun_bin().to_str().unwrap_or(""),
        ] {
            let _ = self.podman(runtime, &["pod", "rm", "-a", "-f"]);
            let _ = self.podman(runtime, &["rm", "-a", "-f", "-t", "0"]);
        }
        let out = self.podman("/usr/sbin/runc", &["system", "reset", "-f"]);
        if !out.status.success() {
            eprintln!("rootless podman cleanup: system reset: {}", describe(&out));
        }
        let _ = std::fs::remove_dir_all(&self.runroot);
    }
}

fn chown_tree(user: &TestUser, dir: &std::path::Path) {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{}:{}", user.uid, user.gid))
        .arg(dir)
        .status()
        .unwrap_or_else(|e| panic!("run chown: {e}"));
    assert!(status.success(), "chown {}: {status}", dir.display());
}

fn code_step(what: &str, out: &Output) -> Step {
    if !out.status.success() {
        eprintln!("{what}: {}", describe(out));
    }
    Step {
        what: what.to_string(),
        code: out.status.code(),
        stdout: String::new(),
    }
}

fn text_step(what: &str, text: &str) -> Step {
    Step {
        what: what.to_string(),
        code: None,
        stdout: text.to_string(),
    }
}

fn scenario(p: &UserPodman, runtime: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let run = |extra: &[&str], image: &str, cmd: &[&str]| {
        let mut args = vec!["run", "--pull", "never"];
        args.extend_from_slice(extra);
        args.push(image);
        args.extend_from_slice(cmd);
        p.podman(runtime, &args)
    };

    // 1. run --rm: output and exit code.
    let out = run(
        &["--rm", "--network", "none"],
        BUSYBOX_IMAGE,
        &["sh", "-c", "echo hello rootless; id; ulimit -n; exit 3"],
    );
    steps.push(Step::new("run --rm", &out));

    // 2. run -d, exec, stop, rm.
    let out = run(
        &["-d", "--name", "rl-d", "--network", "none"],
        BUSYBOX_IMAGE,
        &["sh", "-c", "trap 'exit 7' TERM; sleep 1000 & wait"],
    );
    steps.push(code_step("run -d", &out));
    let out = p.podman(
        runtime,
        &["exec", "rl-d", "sh", "-c", "echo from exec; id -u; exit 4"],
    );
    steps.push(Step::new("exec", &out));
    steps.push(code_step(
        "stop",
        &p.podman(runtime, &["stop", "-t", "10", "rl-d"]),
    ));
    steps.push(text_step(
        "state after stop",
        String::from_utf8_lossy(
            &p.podman(
                runtime,
                &[
                    "inspect",
                    "-f",
                    "{{.State.Status}} {{.State.ExitCode}}",
                    "rl-d",
                ],
            )
            .stdout,
        )
        .trim(),
    ));
    steps.push(code_step("rm", &p.podman(runtime, &["rm", "rl-d"])));

    // 3. A pod: two containers on localhost.
    let out = p.podman(
        runtime,
        &[
            "pod",
            "create",
            "--name",
            "rl-pod",
            "--infra-image",
            INFRA_IMAGE,
            "--network",
            "none",
        ],
    );
    steps.push(Step {
        stdout: if out.status.success() {
            String::new()
        } else {
            describe(&out)
        },
        ..code_step("pod create", &out)
    });
    let out = run(
        &["-d", "--pod", "rl-pod", "--name", "rl-srv"],
        BUSYBOX_IMAGE,
        &[
            "sh",
            "-c",
            "mkdir -p /www && echo hello-pod > /www/index.html && trap 'exit 0' TERM; \
             httpd -f -p 127.0.0.1:8080 -h /www & wait",
        ],
    );
    steps.push(code_step("run -d httpd in the pod", &out));
    let out = run(
        &["--rm", "--pod", "rl-pod"],
        BUSYBOX_IMAGE,
        &[
            "sh",
            "-c",
            "for i in $(seq 50); do wget -q -O - http://127.0.0.1:8080/ 2>/dev/null && break; \
             sleep 0.1; done; hostname",
        ],
    );
    steps.push(Step::new("wget over localhost in the pod", &out));
    steps.push(code_step(
        "pod rm -f",
        &p.podman(runtime, &["pod", "rm", "-f", "-t", "0", "rl-pod"]),
    ));
    steps.push(text_step(
        "containers left",
        &p.podman_ok(runtime, &["ps", "-a", "-q"]),
    ));
    steps
}

#[test]
fn rootless_podman_runs_podrun_like_runc() {
    let env = TestEnv::new("rootless-podman");
    let busybox = build_image(&env, "busybox.tar", BUSYBOX_IMAGE, &[]);
    let infra = build_catatonit_image(&env, INFRA_IMAGE);
    let user = UserGuard::new(&env, "pm");
    let p = UserPodman::new(&env, &user);
    for image in [&busybox, &infra] {
        let copy = user.home.join(image.file_name().expect("name"));
        std::fs::copy(image, &copy).expect("copy image");
        chown_tree(&user, &copy);
        let loaded = p.podman_ok(
            "/usr/sbin/runc",
            &["load", "-q", "-i", copy.to_str().expect("utf8")],
        );
        assert!(loaded.contains("Loaded image"), "{loaded}");
    }
    let mut results = Vec::new();
    for (name, binary) in runtimes() {
        let steps = scenario(&p, binary.to_str().expect("utf8"));
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
    assert_eq!(find("run --rm").code, Some(3));
    assert_eq!(
        find("run --rm").stdout,
        "hello rootless\nuid=0(root) gid=0(root)\n20000\n"
    );
    assert_eq!(find("exec").code, Some(4));
    assert_eq!(find("exec").stdout, "from exec\n0\n");
    assert_eq!(find("state after stop").stdout, "exited 7");
    assert_eq!(find("pod create").code, Some(0));
    assert_eq!(
        find("wget over localhost in the pod").stdout,
        "hello-pod\nrl-pod\n"
    );
    for (w, g) in want.iter().zip(got.iter()) {
        assert_eq!(g, w, "podrun differs from runc at step {:?}", w.what);
    }
    assert_eq!(got.len(), want.len());
    // Nothing left in podrun's default rootless state root.
    let left = TestUser::entries(&user.podrun_root());
    assert!(left.is_empty(), "left in podrun's state root: {left:?}");
    drop(p);
}
