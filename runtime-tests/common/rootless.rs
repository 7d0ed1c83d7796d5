//! A dedicated unprivileged user for the rootless tests, made by the test and removed by its
//! Drop (also when the test fails): `useradd` with a unique name, subordinate ids in
//! /etc/subuid and /etc/subgid, a home and an XDG_RUNTIME_DIR inside the test's directory.
//! Commands run as the user through `setpriv` with a clean environment (HOME,
//! XDG_RUNTIME_DIR, PATH, USER). On drop: every container and pod in the user's podrun and
//! runc state roots is force-deleted (as the user), any process still owned by the user is
//! killed by its PID, then the user, its subid lines and its home go.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use serde_json::Value;

use super::{describe, podrun_bin, rootfs_dir, TestEnv};

/// /etc/subuid and /etc/subgid are rewritten by whole-file replacement on removal: one test
/// process at a time.
static SUBID_LOCK: Mutex<()> = Mutex::new(());

/// How many subordinate ids each test user gets.
pub const SUBID_COUNT: u32 = 65536;

pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The first of the user's subordinate uids (and gids: the same range).
    pub subid_start: u32,
    pub home: PathBuf,
    /// XDG_RUNTIME_DIR (mode 0700, the user's): podrun's default state root is its podrun/.
    pub run_dir: PathBuf,
}

impl TestUser {
    /// Creates the user; its home and run dir go inside `env.dir`.
    pub fn new(env: &TestEnv, tag: &str) -> TestUser {
        let name = format!(
            "prl{tag}{}{}",
            std::process::id() % 100_000,
            super::unique()
        );
        assert!(name.len() <= 32, "user name {name} too long");
        let home = env.dir.join(format!("home-{name}"));
        // useradd and userdel rewrite /etc/subuid too (Debian's allocates a range).
        let guard = SUBID_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let out = Command::new("useradd")
            .args(["-M", "-s", "/bin/sh", "-d"])
            .arg(&home)
            .arg(&name)
            .output()
            .unwrap_or_else(|e| panic!("run useradd: {e}"));
        assert!(out.status.success(), "useradd {name}: {}", describe(&out));
        let uid = id_of(&name, "-u");
        let gid = id_of(&name, "-g");
        let mut user = TestUser {
            name,
            uid,
            gid,
            subid_start: 0,
            home: home.clone(),
            run_dir: home.join("run"),
        };
        user.subid_start = user.add_subids();
        drop(guard);
        std::fs::create_dir_all(&user.run_dir)
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", user.run_dir.display()));
        user.chown_tree(&home);
        chmod(&user.run_dir, 0o700);
        user
    }

    /// Gives the user its own subordinate range in /etc/subuid and /etc/subgid (Debian's
    /// useradd may already have allocated one: its lines are replaced by ours).
    /// Called with SUBID_LOCK held.
    fn add_subids(&self) -> u32 {
        // Above every range useradd hands out by default (SUB_UID_MAX 600100000) and unique
        // per uid.
        let start = 700_000_000 + (self.uid % 20_000) * SUBID_COUNT;
        for file in ["/etc/subuid", "/etc/subgid"] {
            let mut text = without_lines_of(file, &self.name);
            text.push_str(&format!("{}:{start}:{SUBID_COUNT}\n", self.name));
            std::fs::write(file, text).unwrap_or_else(|e| panic!("write {file}: {e}"));
        }
        start
    }

    fn chown_tree(&self, dir: &Path) {
        let out = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("run chown: {e}"));
        assert!(
            out.status.success(),
            "chown -R {}: {}",
            dir.display(),
            describe(&out)
        );
    }

    /// The user's podrun state root (the default one: $XDG_RUNTIME_DIR/podrun).
    pub fn podrun_root(&self) -> PathBuf {
        self.run_dir.join("podrun")
    }

    /// The runc state root the tests give runc (`runc --root`).
    pub fn runc_root(&self) -> PathBuf {
        self.run_dir.join("runc")
    }

    /// `program` as the user: setpriv to its uid/gid/groups, a clean environment.
    pub fn cmd(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(program)
            .env_clear()
            .env("HOME", &self.home)
            .env("XDG_RUNTIME_DIR", &self.run_dir)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .current_dir(&self.home);
        cmd
    }

    /// `podrun ARGS...` as the user (default state root), output through files.
    pub fn podrun<S: AsRef<OsStr>>(&self, env: &TestEnv, args: &[S]) -> Output {
        let mut cmd = self.cmd(podrun_bin());
        cmd.args(args);
        env.output_via_files(&mut cmd)
    }

    /// `runc --root <runc_root> ARGS...` as the user.
    pub fn runc<S: AsRef<OsStr>>(&self, env: &TestEnv, args: &[S]) -> Output {
        let mut cmd = self.cmd("runc");
        cmd.arg("--root").arg(self.runc_root()).args(args);
        env.output_via_files(&mut cmd)
    }

    /// podrun as the user; panics unless it succeeded; stdout.
    pub fn podrun_ok<S: AsRef<OsStr>>(&self, env: &TestEnv, args: &[S]) -> String {
        let out = self.podrun(env, args);
        assert!(
            out.status.success(),
            "podrun {:?} as {}: {}",
            args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
            self.name,
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// runc as the user; panics unless it succeeded; stdout.
    pub fn runc_ok<S: AsRef<OsStr>>(&self, env: &TestEnv, args: &[S]) -> String {
        let out = self.runc(env, args);
        assert!(
            out.status.success(),
            "runc {:?} as {}: {}",
            args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
            self.name,
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A bundle the user owns: `podrun spec --rootless` written by the user (so the mappings
    /// are its ids), a private copy of the busybox rootfs, then `edit`.
    pub fn bundle(&self, env: &TestEnv, edit: impl FnOnce(&mut Value)) -> PathBuf {
        let bundle = self.home.join(format!("bundle-{}", super::unique()));
        let rootfs = bundle.join("rootfs");
        std::fs::create_dir_all(&bundle)
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", bundle.display()));
        let status = Command::new("cp")
            .arg("-a")
            .arg(rootfs_dir())
            .arg(&rootfs)
            .status()
            .unwrap_or_else(|e| panic!("run cp: {e}"));
        assert!(status.success(), "cp -a rootfs: {status}");
        self.chown_tree(&bundle);
        let mut cmd = self.cmd(podrun_bin());
        cmd.args(["spec", "--rootless", "--bundle"]).arg(&bundle);
        let out = env.output_via_files(&mut cmd);
        assert!(
            out.status.success(),
            "podrun spec --rootless: {}",
            describe(&out)
        );
        let config = bundle.join("config.json");
        let mut spec: Value = serde_json::from_slice(
            &std::fs::read(&config).unwrap_or_else(|e| panic!("read {}: {e}", config.display())),
        )
        .unwrap_or_else(|e| panic!("parse {}: {e}", config.display()));
        spec["process"]["terminal"] = Value::Bool(false);
        edit(&mut spec);
        std::fs::write(
            &config,
            serde_json::to_vec_pretty(&spec).expect("serialize"),
        )
        .unwrap_or_else(|e| panic!("write {}: {e}", config.display()));
        self.chown_tree(&bundle);
        bundle
    }

    /// Mappings of the user's own id to 0 plus its subordinate range from 1.
    pub fn subid_mappings(&self, own: u32) -> Value {
        serde_json::json!([
            {"containerID": 0, "hostID": own, "size": 1},
            {"containerID": 1, "hostID": self.subid_start, "size": SUBID_COUNT},
        ])
    }

    /// Processes owned by the user (real uid), zombies excluded.
    pub fn processes(&self) -> Vec<i32> {
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| super::pid_alive(*pid))
            .filter(|pid| owner_uid(*pid) == Some(self.uid))
            .collect()
    }

    /// Waits (bounded) until the user has no live process; returns what is left.
    pub fn wait_no_processes(&self) -> Vec<i32> {
        for _ in 0..100 {
            let left = self.processes();
            if left.is_empty() {
                return left;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.processes()
    }

    /// Container ids (and pods) left in a state root.
    pub fn entries(root: &Path) -> Vec<String> {
        std::fs::read_dir(root)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn cleanup(&self, env: &TestEnv) {
        for id in Self::entries(&self.podrun_root()) {
            if id == "pods" {
                for pod in Self::entries(&self.podrun_root().join("pods")) {
                    let _ = self.podrun(env, &["pod", "delete", "--force", &pod]);
                }
            } else {
                let _ = self.podrun(env, &["delete", "--force", &id]);
            }
        }
        for id in Self::entries(&self.runc_root()) {
            let _ = self.runc(env, &["delete", "--force", &id]);
        }
        for pid in self.processes() {
            eprintln!(
                "TestUser cleanup: pid {pid} of {} still alive: killing it",
                self.name
            );
            // SAFETY: kill with integer arguments; a process of the test's own user.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// The test env a TestUser was made in is needed for its cleanup: keep both together.
pub struct UserGuard<'a> {
    pub env: &'a TestEnv,
    pub user: TestUser,
}

impl std::ops::Deref for UserGuard<'_> {
    type Target = TestUser;
    fn deref(&self) -> &TestUser {
        &self.user
    }
}

impl<'a> UserGuard<'a> {
    pub fn new(env: &'a TestEnv, tag: &str) -> UserGuard<'a> {
        UserGuard {
            env,
            user: TestUser::new(env, tag),
        }
    }
}

impl Drop for UserGuard<'_> {
    fn drop(&mut self) {
        self.user.cleanup(self.env);
        self.user.wait_no_processes();
        let _g = SUBID_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let out = Command::new("userdel").arg(&self.user.name).output();
        if let Ok(o) = &out {
            if !o.status.success() {
                eprintln!(
                    "TestUser cleanup: userdel {}: {}",
                    self.user.name,
                    describe(o)
                );
            }
        }
        for file in ["/etc/subuid", "/etc/subgid"] {
            let text = without_lines_of(file, &self.user.name);
            if let Err(e) = std::fs::write(file, text) {
                eprintln!("TestUser cleanup: rewrite {file}: {e}");
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.user.home) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("TestUser cleanup: remove {}: {e}", self.user.home.display());
            }
        }
    }
}

fn id_of(name: &str, flag: &str) -> u32 {
    let out = Command::new("id")
        .arg(flag)
        .arg(name)
        .output()
        .unwrap_or_else(|e| panic!("run id: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("id {flag} {name}: {e}: {}", describe(&out)))
}

fn without_lines_of(file: &str, name: &str) -> String {
    let prefix = format!("{name}:");
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// The real uid of a process (the first field of `Uid:` in its status).
fn owner_uid(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
