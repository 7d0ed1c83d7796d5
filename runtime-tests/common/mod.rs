//! The black-box test harness: paths of the built binaries and bundles, a per-test directory
//! with its own state root (`TestEnv`), running podrun, and small process/mount helpers.
//!
//! Every runtime test runs as root and starts with `let env = TestEnv::new("name");`. Dropping the
//! env (also when the test panics) force-deletes every container and pod left in its state root,
//! lazily unmounts anything still mounted under its directory (and says so), and removes the
//! directory.
#![allow(dead_code)] // each helper is used by some test module, not necessarily by all

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

pub mod cgroupfs;
pub mod clients;
pub mod rootless;

/// The podrun binary cargo built for these tests.
pub fn podrun_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_podrun"))
}

/// The pause binary cargo built for these tests.
pub fn pause_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_podrun-pause"))
}

/// The repository (the crate's directory).
pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared busybox rootfs built by scripts/setup.sh (absolute).
pub fn rootfs_dir() -> PathBuf {
    let rootfs = repo_dir().join("oci-bundles/rootfs");
    assert!(
        rootfs.join("bin/busybox").is_file(),
        "{} is missing or incomplete: run scripts/setup.sh first",
        rootfs.display()
    );
    rootfs
}

/// The runtime tests need root (namespaces, mounts, cgroups, network devices). Not a skip:
/// a CI run that is not root must fail loudly.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the runtime tests must run as root: sudo scripts/test.sh"
    );
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

fn unique() -> usize {
    UNIQUE.fetch_add(1, Ordering::Relaxed)
}

/// One test's private world: `dir` (/tmp/podrun-test-<name>-<pid>-<n>) holds its bundles, and
/// `root` (inside `dir`) is the `--root` state directory of every podrun it runs. The state root
/// itself is not created: podrun must create it.
pub struct TestEnv {
    pub root: PathBuf,
    pub dir: PathBuf,
}

impl TestEnv {
    pub fn new(name: &str) -> TestEnv {
        require_root();
        let dir = PathBuf::from(format!(
            "/tmp/podrun-test-{name}-{}-{}",
            std::process::id(),
            unique()
        ));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .unwrap_or_else(|e| panic!("remove stale {}: {e}", dir.display()));
        }
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        TestEnv {
            root: dir.join("state"),
            dir,
        }
    }

    /// A new bundle dir made from oci-bundles/<template>/config.json, with root.path set to the
    /// shared rootfs (absolute, readonly); `edit` may change anything. Returns the bundle dir.
    pub fn bundle(&self, template: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
        let rootfs = rootfs_dir();
        self.make_bundle(template, |spec| {
            spec["root"] = serde_json::json!({ "path": rootfs, "readonly": true });
            edit(spec)
        })
    }

    /// Like `bundle`, but with a private copy of the rootfs (`cp -a`) at <bundle>/rootfs and
    /// root.path "rootfs", for tests that change files in it. `readonly` stays the template's
    /// (true); `edit` can flip it.
    pub fn bundle_with_rootfs_copy(
        &self,
        template: &str,
        edit: impl FnOnce(&mut Value),
    ) -> PathBuf {
        let rootfs = rootfs_dir();
        let bundle = self.make_bundle(template, |spec| {
            spec["root"]["path"] = Value::from("rootfs");
            edit(spec)
        });
        let copy = bundle.join("rootfs");
        let status = Command::new("cp")
            .arg("-a")
            .arg(&rootfs)
            .arg(&copy)
            .status()
            .unwrap_or_else(|e| panic!("run cp: {e}"));
        assert!(
            status.success(),
            "cp -a {} {}: {status}",
            rootfs.display(),
            copy.display()
        );
        bundle
    }

    fn make_bundle(&self, template: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
        let source = repo_dir()
            .join("oci-bundles")
            .join(template)
            .join("config.json");
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("read {}: {e}", source.display()));
        let mut spec: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("parse {}: {e}", source.display()));
        edit(&mut spec);
        let bundle = self.dir.join(format!("bundle-{template}-{}", unique()));
        std::fs::create_dir(&bundle).unwrap_or_else(|e| panic!("mkdir {}: {e}", bundle.display()));
        let config = bundle.join("config.json");
        let json =
            serde_json::to_vec_pretty(&spec).unwrap_or_else(|e| panic!("serialize spec: {e}"));
        std::fs::write(&config, json).unwrap_or_else(|e| panic!("write {}: {e}", config.display()));
        bundle
    }

    /// A `podrun --root <root>` command, for tests that need their own stdio or cwd.
    pub fn podrun_cmd(&self) -> Command {
        let mut cmd = Command::new(podrun_bin());
        cmd.arg("--root").arg(&self.root);
        cmd
    }

    /// Runs `podrun --root <root> ARGS...` with stdin from /dev/null and returns its output.
    /// stdout and stderr go through files, not pipes: a container started by the command keeps
    /// its copy of them open, and with pipes we would wait for the container to exit.
    pub fn podrun<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let mut cmd = self.podrun_cmd();
        cmd.args(args);
        self.output_via_files(&mut cmd)
    }

    /// Runs `cmd` with stdout/stderr in files under `dir` and returns what it wrote by the time
    /// it exited.
    pub fn output_via_files(&self, cmd: &mut Command) -> Output {
        let n = unique();
        let out_path = self.dir.join(format!(".out-{n}"));
        let err_path = self.dir.join(format!(".err-{n}"));
        let create =
            |p: &Path| File::create(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        let status = cmd
            .stdin(Stdio::null())
            .stdout(create(&out_path))
            .stderr(create(&err_path))
            .status()
            .unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
        let read =
            |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        let output = Output {
            status,
            stdout: read(&out_path),
            stderr: read(&err_path),
        };
        let _ = std::fs::remove_file(&out_path);
        let _ = std::fs::remove_file(&err_path);
        output
    }

    /// Runs podrun, asserts it succeeded and returns its stdout.
    pub fn run_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.podrun(args);
        if !out.status.success() {
            panic!("podrun {} failed: {}", show_args(args), describe(&out));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs podrun, asserts it failed and returns its stderr.
    pub fn run_fail<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.podrun(args);
        if out.status.success() {
            panic!(
                "podrun {} succeeded but should have failed: {}",
                show_args(args),
                describe(&out)
            );
        }
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `podrun state ID`, parsed.
    pub fn state(&self, id: &str) -> Value {
        let text = self.run_ok(&["state", id]);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("podrun state {id}: invalid JSON ({e}): {text}"))
    }

    /// Ids of the containers in the state root (its subdirectories, except `pods`).
    pub fn container_ids(&self) -> Vec<String> {
        subdir_names(&self.root)
            .into_iter()
            .filter(|n| n != "pods")
            .collect()
    }

    fn cleanup_containers(&self) {
        for id in self.container_ids() {
            let out = self.podrun(&["delete", "--force", &id]);
            if !out.status.success() {
                eprintln!(
                    "TestEnv cleanup: podrun delete --force {id}: {}",
                    describe(&out)
                );
            }
        }
        for pod in subdir_names(&self.root.join("pods")) {
            let out = self.podrun(&["pod", "delete", "--force", &pod]);
            if !out.status.success() {
                eprintln!(
                    "TestEnv cleanup: podrun pod delete --force {pod}: {}",
                    describe(&out)
                );
            }
        }
    }

    /// Nothing should be mounted under `dir` any more; whatever is gets detached and reported.
    fn cleanup_mounts(&self) {
        let mut leftovers: Vec<PathBuf> = mount_points()
            .into_iter()
            .filter(|m| m.starts_with(&self.dir))
            .collect();
        // Deepest first, so that a mount on top of another goes before it.
        leftovers.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in leftovers {
            eprintln!(
                "TestEnv cleanup: {} was still mounted; detaching it",
                m.display()
            );
            let _ = nix_umount_detach(&m);
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.cleanup_containers();
        self.cleanup_mounts();
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("TestEnv cleanup: remove {}: {e}", self.dir.display());
        }
    }
}

fn subdir_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

fn nix_umount_detach(path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: c is a valid NUL-terminated path that outlives the call.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn show_args<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Exit status plus both outputs, for panic messages.
pub fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        describe_status(out.status),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// Mount points of this mount namespace, from /proc/self/mountinfo (octal escapes decoded).
pub fn mount_points() -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_else(|e| panic!("read mountinfo: {e}"));
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(std::ffi::OsString::from_vec(unescape_mountinfo(field))))
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as \040, \011, \012, \134.
fn unescape_mountinfo(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// How many lines of /proc/self/mountinfo contain `s`.
pub fn count_mounts_containing(s: &str) -> usize {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_else(|e| panic!("read mountinfo: {e}"));
    info.lines().filter(|l| l.contains(s)).count()
}

/// Field 22 of /proc/PID/stat: the start time in clock ticks since boot.
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    let after_comm = &stat[stat.rfind(')').expect("comm in stat") + 2..];
    after_comm
        .split_whitespace()
        .nth(19)
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("no start time in {stat}"))
}

/// A `sleep 1000` whose start time is not `ticks` (spawned again in the next clock tick): a
/// stand-in for a process that reused a container's PID. One started within the init's clock
/// tick (10 ms) would have the init's very start time, and so be the init to podrun.
pub fn spawn_started_after(ticks: u64) -> std::process::Child {
    for _ in 0..100 {
        let mut child = Command::new("sleep")
            .arg("1000")
            .spawn()
            .expect("spawn sleep");
        if start_time(child.id()) != ticks {
            return child;
        }
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("every sleep started in clock tick {ticks}");
}

/// Whether `pid` is a live process (a zombie is not alive: it has exited).
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // Fields after the command name (which may contain spaces and parentheses): state first.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    !matches!(state, Some("Z") | Some("X") | None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harness_mountinfo_unescape() {
        assert_eq!(unescape_mountinfo(r"/tmp/a\040b\134c"), b"/tmp/a b\\c");
        assert_eq!(unescape_mountinfo(r"/plain"), b"/plain");
        assert_eq!(unescape_mountinfo(r"/odd\04"), b"/odd\\04");
    }

    #[test]
    fn harness_pid_alive() {
        assert!(pid_alive(std::process::id() as i32));
        assert!(!pid_alive(0));
        let mut child = Command::new("/bin/true").spawn().expect("spawn true");
        let pid = child.id() as i32;
        child.wait().expect("wait");
        assert!(!pid_alive(pid));
    }

    #[test]
    fn harness_env_makes_bundles_and_cleans_up() {
        let dir;
        {
            let env = TestEnv::new("harness");
            dir = env.dir.clone();
            let b = env.bundle("hello", |spec| spec["hostname"] = Value::from("edited"));
            let spec: Value =
                serde_json::from_slice(&std::fs::read(b.join("config.json")).expect("config"))
                    .expect("json");
            assert_eq!(spec["hostname"], "edited");
            assert_eq!(
                spec["root"]["path"],
                Value::from(rootfs_dir().to_str().expect("utf8"))
            );
            assert_eq!(spec["root"]["readonly"], true);
            let c = env.bundle_with_rootfs_copy("sleeper", |_| {});
            assert!(c.join("rootfs/bin/busybox").is_file());
            assert_ne!(b, c);
            let out = env.podrun(&["--version"]);
            assert!(out.status.success(), "{}", describe(&out));
            assert!(String::from_utf8_lossy(&out.stdout).starts_with("podrun version"));
        }
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

/// The hash of a state root that podrun puts in host-wide names (FNV-1a 32 of the path, as
/// podrun's `state::root_hash`).
pub fn root_hash(root: &Path) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in root.as_os_str().as_encoded_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// The default cgroup of container `id` in state root `root`, relative to a hierarchy's
/// root: `podrun/<id>-<root hash>`.
pub fn container_cgroup(root: &Path, id: &str) -> String {
    format!("podrun/{id}-{}", root_hash(root))
}

/// The default cgroup directories of container `id` (`/podrun/<id>-<root hash>` whatever the
/// root, or a plain `/podrun/<id>`) that exist, in every mounted hierarchy (v1, v2 and
/// hybrid hosts alike: see cgroupfs).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for base in cgroupfs::existing_dirs("podrun") {
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = name == id
                || name
                    .strip_prefix(id)
                    .and_then(|r| r.strip_prefix('-'))
                    .is_some_and(|h| h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            if ours && e.path().is_dir() {
                out.push(e.path());
            }
        }
    }
    out
}

/// `podrun/<name>` of the live default cgroup of container `id` (any root), for reading its
/// files; `podrun/<id>` when none is found.
pub fn cgroup_rel(id: &str) -> String {
    cgroup_dirs(id)
        .first()
        .and_then(|d| d.file_name())
        .map(|n| format!("podrun/{}", n.to_string_lossy()))
        .unwrap_or_else(|| format!("podrun/{id}"))
}

/// CVE-2019-5736 without a copy: `pid` runs podrun's sealed read-only overlay view of its
/// binary (src/sys.rs): opening its /proc/PID/exe for writing fails with EROFS (a sealed
/// memfd copy would open, the on-disk binary fails with ETXTBSY), and no memfd copy of a
/// binary is mapped in it. `what` names the process in the failure.
pub fn check_sealed_view_exe(pid: i32, what: &str) -> Result<(), String> {
    let exe = format!("/proc/{pid}/exe");
    match std::fs::OpenOptions::new().write(true).open(&exe) {
        Ok(_) => return Err(format!("{what}: {exe} opens for writing")),
        Err(e) if e.raw_os_error() == Some(libc::EROFS) => {}
        Err(e) => {
            return Err(format!(
                "{what}: opening {exe} for writing: {e} (want EROFS: the sealed overlay view)"
            ))
        }
    }
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map_err(|e| format!("{what}: read /proc/{pid}/maps: {e}"))?;
    let memfd: Vec<&str> = maps.lines().filter(|l| l.contains("/memfd:")).collect();
    if !memfd.is_empty() {
        return Err(format!(
            "{what}: a memfd copy is mapped:\n{}",
            memfd.join("\n")
        ));
    }
    Ok(())
}
