//! Container-escape regressions (issue 7, items 1–7). Every test keeps a marker on the host,
//! outside the rootfs (in the TestEnv dir), and checks that the container cannot read or
//! change it. Pod-specific items (a pod join after the pause died) are in the pod tests.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::common::{cgroup_dirs, describe, pause_bin, podrun_bin, TestEnv};

/// A host directory outside every rootfs holding a secret file; the container must never see
/// the secret or change anything in the directory.
struct Marker {
    dir: PathBuf,
    secret: String,
}

impl Marker {
    fn new(env: &TestEnv) -> Marker {
        let dir = env.dir.join("host-marker");
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let secret = format!(
            "HOST-SECRET-{}-{}",
            std::process::id(),
            env.dir.display().to_string().len()
        );
        std::fs::write(dir.join("secret"), &secret).expect("write marker secret");
        Marker { dir, secret }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("secret")
    }

    /// The marker dir still holds exactly the secret file with its content.
    fn assert_untouched(&self) {
        let names: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.dir.display()))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec!["secret".to_string()],
            "the host marker dir was changed"
        );
        let content = std::fs::read_to_string(self.file()).expect("read marker");
        assert_eq!(content, self.secret, "the host marker file was changed");
    }

    fn assert_not_in(&self, out: &Output) {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !all.contains(&self.secret),
            "the container read the host marker: {}",
            describe(out)
        );
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// A container (or pod) id unique to this test process: the cgroup path /podrun/<id> is
/// host-wide, and other test runs (other worktrees, the lead's) may run at the same time.
fn cid(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn init_pid(env: &TestEnv, id: &str) -> i32 {
    let st = env.state(id);
    st["pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or_else(|| panic!("no pid in {st}"))
}

/// Opens a host directory without O_CLOEXEC (so that it would leak into podrun's children if
/// podrun did not close it).
fn open_dir_inheritable(dir: &Path) -> OwnedFd {
    let f = std::fs::File::open(dir).unwrap_or_else(|e| panic!("open {}: {e}", dir.display()));
    let fd: OwnedFd = f.into();
    // SAFETY: F_SETFD on an fd we own.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) };
    fd
}

/// Runs podrun with `leak` dup'ed (inheritable) onto fd `n` of the podrun process.
fn podrun_with_leaked_fd(env: &TestEnv, leak: &OwnedFd, n: i32, args: &[&str]) -> Output {
    let mut cmd = env.podrun_cmd();
    cmd.args(args);
    let src = leak.as_raw_fd();
    // SAFETY: dup2 is async-signal-safe; it runs in the forked child before exec.
    unsafe {
        cmd.pre_exec(move || {
            if src != n && libc::dup2(src, n) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if src == n {
                libc::fcntl(n, libc::F_SETFD, 0);
            }
            Ok(())
        });
    }
    env.output_via_files(&mut cmd)
}

/// The shell probe run with cwd = /proc/self/fd/N: tries to read the marker through the cwd
/// (the CVE-2024-21626 way: ../../.. from a host directory reaches the host's root).
fn cwd_probe(marker: &Marker) -> String {
    let rel = format!("../../../../../../../../..{}", s(&marker.file()));
    format!(
        "cat secret 2>/dev/null; cat {rel} 2>/dev/null; cat ../secret 2>/dev/null; echo probe-done"
    )
}

// ---------------------------------------------------------------------------------------------
// 1. CVE-2024-21626: leaked fds and cwd
// ---------------------------------------------------------------------------------------------

#[test]
fn sec_cwd_proc_self_fd_run_never_reaches_host() {
    let env = TestEnv::new("sec-cwd-run");
    let marker = Marker::new(&env);
    let leak = open_dir_inheritable(&marker.dir);
    for n in 3..=20 {
        let bundle = env.bundle("hello", |spec| {
            spec["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
            spec["process"]["args"] = json!(["sh", "-c", cwd_probe(&marker)]);
        });
        let id = cid(&format!("cwd-run-{n}"));
        let out = podrun_with_leaked_fd(&env, &leak, n, &["run", "--bundle", s(&bundle), &id]);
        eprintln!(
            "run cwd /proc/self/fd/{n}: {}",
            describe(&out).lines().next().unwrap_or("")
        );
        marker.assert_not_in(&out);
        if out.status.success() {
            assert!(
                stdout(&out).contains("probe-done"),
                "fd {n}: {}",
                describe(&out)
            );
        }
        assert!(!env.root.join(&id).exists(), "fd {n}: state left behind");
    }
    marker.assert_untouched();
}

/// With --preserve-fds the host directory really is fd 3 of the container's process, so
/// chdir(/proc/self/fd/3) after pivot_root succeeds: only the "cwd is under the new root" check
/// stands between the process and the host.
#[test]
fn sec_cwd_on_preserved_host_dir_is_refused() {
    let env = TestEnv::new("sec-cwd-preserved");
    let marker = Marker::new(&env);
    let leak = open_dir_inheritable(&marker.dir);
    let bundle = env.bundle("hello", |spec| {
        spec["process"]["cwd"] = json!("/proc/self/fd/3");
        spec["process"]["args"] = json!(["sh", "-c", cwd_probe(&marker)]);
    });
    let out = podrun_with_leaked_fd(
        &env,
        &leak,
        3,
        &[
            "run",
            "--preserve-fds",
            "1",
            "--bundle",
            s(&bundle),
            &cid("cwd-preserved"),
        ],
    );
    marker.assert_not_in(&out);
    assert!(
        !out.status.success(),
        "the process ran with a cwd outside its root: {}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cwd"),
        "unclear error: {}",
        describe(&out)
    );
    marker.assert_untouched();
}

#[test]
fn sec_exec_cwd_proc_self_fd_never_reaches_host() {
    let env = TestEnv::new("sec-cwd-exec");
    let marker = Marker::new(&env);
    let leak = open_dir_inheritable(&marker.dir);
    let bundle = env.bundle("sleeper", |_| {});
    env.run_ok(&["run", "-d", "--bundle", s(&bundle), &cid("cwd-exec")]);
    for n in 3..=20 {
        let cwd = format!("/proc/self/fd/{n}");
        let probe = cwd_probe(&marker);
        let out = podrun_with_leaked_fd(
            &env,
            &leak,
            n,
            &["exec", "--cwd", &cwd, &cid("cwd-exec"), "sh", "-c", &probe],
        );
        eprintln!("exec --cwd {cwd}: {}", describe(&out));
        marker.assert_not_in(&out);
        if out.status.success() {
            assert!(
                stdout(&out).contains("probe-done"),
                "fd {n}: {}",
                describe(&out)
            );
        }
    }
    marker.assert_untouched();
}

#[test]
fn sec_container_sees_only_stdio_fds() {
    let env = TestEnv::new("sec-fds");
    let marker = Marker::new(&env);
    let leak = open_dir_inheritable(&marker.dir);
    let bundle = env.bundle("hello", |spec| {
        spec["process"]["args"] = json!(["ls", "/proc/self/fd"]);
    });
    let out = podrun_with_leaked_fd(
        &env,
        &leak,
        7,
        &["run", "--bundle", s(&bundle), &cid("fds-run")],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let fds: BTreeSet<String> = stdout(&out)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let expected: BTreeSet<String> = ["0", "1", "2", "3"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        fds,
        expected,
        "run: fds other than 0 1 2 (+ ls's own): {}",
        describe(&out)
    );

    let bundle = env.bundle("sleeper", |_| {});
    env.run_ok(&["run", "-d", "--bundle", s(&bundle), &cid("fds-exec")]);
    let out = podrun_with_leaked_fd(
        &env,
        &leak,
        7,
        &["exec", &cid("fds-exec"), "ls", "/proc/self/fd"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let fds: BTreeSet<String> = stdout(&out)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(
        fds,
        expected,
        "exec: fds other than 0 1 2 (+ ls's own): {}",
        describe(&out)
    );
}

#[test]
fn sec_created_init_holds_no_host_directory() {
    let env = TestEnv::new("sec-init-fds");
    let marker = Marker::new(&env);
    let leak = open_dir_inheritable(&marker.dir);
    let bundle = env.bundle("sleeper", |_| {});
    let out = podrun_with_leaked_fd(
        &env,
        &leak,
        5,
        &["create", "--bundle", s(&bundle), &cid("init-fds")],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let pid = init_pid(&env, &cid("init-fds"));
    let fd_dir = PathBuf::from(format!("/proc/{pid}/fd"));
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&fd_dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", fd_dir.display()))
        .flatten()
    {
        let link = std::fs::read_link(entry.path()).unwrap_or_default();
        let is_dir = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
        seen.push(format!(
            "{} -> {}",
            entry.file_name().to_string_lossy(),
            link.display()
        ));
        assert!(
            !is_dir,
            "the created init holds a directory fd {} -> {} (all: {seen:?})",
            entry.file_name().to_string_lossy(),
            link.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. CVE-2019-5736: overwriting the host's podrun through /proc/<pid>/exe
// ---------------------------------------------------------------------------------------------

fn sha256(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    stdout(&out)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn same_inode(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

#[test]
fn sec_init_exe_is_not_the_podrun_binary() {
    let env = TestEnv::new("sec-exe");
    let before = (sha256(&podrun_bin()), sha256(&pause_bin()));
    let bundle = env.bundle("sleeper", |_| {});
    env.run_ok(&["create", "--bundle", s(&bundle), &cid("exe-c")]);
    let pid = init_pid(&env, &cid("exe-c"));
    let exe = PathBuf::from(format!("/proc/{pid}/exe"));
    assert!(
        std::fs::metadata(&exe).is_ok(),
        "cannot stat {}",
        exe.display()
    );
    assert!(
        !same_inode(&exe, &podrun_bin()),
        "the created init runs the on-disk podrun binary"
    );

    // Before start, pid 1 of the container is podrun's init; after start, the container's process.
    for phase in ["created", "running"] {
        let out = env.podrun(&["exec", &cid("exe-c"), "sh", "-c", "echo x >> /proc/1/exe"]);
        assert!(
            !out.status.success(),
            "{phase}: writing /proc/1/exe succeeded: {}",
            describe(&out)
        );
        if phase == "created" {
            env.run_ok(&["start", &cid("exe-c")]);
        }
    }
    assert_eq!(
        (sha256(&podrun_bin()), sha256(&pause_bin())),
        before,
        "a podrun binary changed"
    );
}

#[test]
fn sec_shebang_proc_self_exe_cannot_overwrite_podrun() {
    let env = TestEnv::new("sec-shebang");
    let before = (sha256(&podrun_bin()), sha256(&pause_bin()));
    let bundle = env.bundle_with_rootfs_copy("sleeper", |_| {});
    let evil = bundle.join("rootfs/bin/true");
    let _ = std::fs::remove_file(&evil);
    std::fs::write(&evil, "#!/proc/self/exe\n").expect("write evil /bin/true");
    std::fs::set_permissions(&evil, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    // A script that, if /proc/self/exe were the host binary, would overwrite it.
    let attack = bundle.join("rootfs/bin/attack");
    std::fs::write(&attack, "#!/bin/sh\nfor p in /proc/[0-9]*; do echo pwned >> $p/exe; done 2>/dev/null\n/bin/true\nexit 0\n")
        .expect("write attack");
    std::fs::set_permissions(&attack, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");

    let run = env.bundle_with_rootfs_copy("hello", |spec| {
        spec["process"]["args"] = json!(["/bin/true"])
    });
    let evil2 = run.join("rootfs/bin/true");
    let _ = std::fs::remove_file(&evil2);
    std::fs::write(&evil2, "#!/proc/self/exe\n").expect("write evil /bin/true");
    std::fs::set_permissions(&evil2, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let _ = env.podrun(&["run", "--bundle", s(&run), &cid("shebang-run")]);

    env.run_ok(&["run", "-d", "--bundle", s(&bundle), &cid("shebang-exec")]);
    let _ = env.podrun(&["exec", &cid("shebang-exec"), "/bin/true"]);
    let _ = env.podrun(&["exec", &cid("shebang-exec"), "/bin/attack"]);
    // The same while the container is only created (pid 1 is podrun's init).
    env.run_ok(&["create", "--bundle", s(&bundle), &cid("shebang-created")]);
    let _ = env.podrun(&["exec", &cid("shebang-created"), "/bin/true"]);
    let _ = env.podrun(&["exec", &cid("shebang-created"), "/bin/attack"]);
    assert_eq!(
        (sha256(&podrun_bin()), sha256(&pause_bin())),
        before,
        "a podrun binary changed"
    );
}

/// A container sharing a pod's pid namespace sees the pause process: its /proc/<pid>/exe must
/// not be the on-disk podrun-pause, and writing every /proc/*/exe it can see changes nothing.
#[test]
fn sec_pause_exe_is_not_writable_from_a_pod() {
    let env = TestEnv::new("sec-pause-exe");
    let before = (sha256(&podrun_bin()), sha256(&pause_bin()));
    let store = env.dir.join("ipam");
    let out = env.podrun(&[
        "pod",
        "create",
        "--share-pid",
        "--no-network",
        "--store-dir",
        s(&store),
        "--",
        &cid("exe-pod"),
    ]);
    assert!(out.status.success(), "pod create: {}", describe(&out));
    let pod: Value = serde_json::from_str(&env.run_ok(&["pod", "state", &cid("exe-pod")]))
        .expect("pod state json");
    let pause = pod["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no pid in {pod}"));
    assert!(
        !same_inode(Path::new(&format!("/proc/{pause}/exe")), &pause_bin()),
        "the pause runs the on-disk binary"
    );
    let bundle = env.bundle("hello", |spec| {
        spec["process"]["args"] = json!([
            "sh", "-c",
            "n=0; for p in /proc/[0-9]*; do n=$((n+1)); echo pwned >> $p/exe && echo WROTE $p; done 2>/dev/null; echo seen $n"
        ]);
    });
    let out = env.podrun(&[
        "run",
        "--pod",
        &cid("exe-pod"),
        "--bundle",
        s(&bundle),
        &cid("exe-in-pod"),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    assert!(
        !text.contains("WROTE"),
        "a /proc/*/exe was writable: {text}"
    );
    assert!(
        !text.contains("seen 0"),
        "the container saw no process: {text}"
    );
    assert_eq!(
        (sha256(&podrun_bin()), sha256(&pause_bin())),
        before,
        "a podrun binary changed"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. CVE-2021-30465: mount targets through symlinks
// ---------------------------------------------------------------------------------------------

#[test]
fn sec_symlinked_mount_target_lands_in_rootfs() {
    let env = TestEnv::new("sec-symlink-target");
    let marker = Marker::new(&env);
    // The chain ends at a host path that must never be created.
    let host_end = env.dir.join("foo");
    let bundle = env.bundle_with_rootfs_copy("hello", |_| {});
    let rootfs = bundle.join("rootfs");
    let _ = std::fs::remove_file(rootfs.join("etc/hosts"));
    std::os::unix::fs::symlink("/jump/baz/hosts", rootfs.join("etc/hosts")).expect("symlink hosts");
    std::os::unix::fs::symlink(format!("{}/bar", s(&host_end)), rootfs.join("jump"))
        .expect("symlink jump");
    let source = env.dir.join("hosts-source");
    std::fs::write(&source, "MOUNTED-HOSTS\n").expect("write source");
    let inside = format!("{}/bar/baz/hosts", s(&host_end));
    let cfg = std::fs::read_to_string(bundle.join("config.json")).expect("config");
    let mut spec: Value = serde_json::from_str(&cfg).expect("json");
    spec["mounts"].as_array_mut().expect("mounts").push(json!({
        "destination": "/etc/hosts", "type": "bind", "source": s(&source), "options": ["bind", "ro"]
    }));
    spec["process"]["args"] = json!(["sh", "-c", format!("cat {inside}")]);
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(&spec).expect("ser"),
    )
    .expect("write config");

    let out = env.podrun(&["run", "--bundle", s(&bundle), &cid("symlink-target")]);
    eprintln!("symlinked target: {}", describe(&out));
    assert!(
        !host_end.exists(),
        "the mount created {} on the host",
        host_end.display()
    );
    if out.status.success() {
        assert!(
            stdout(&out).contains("MOUNTED-HOSTS"),
            "the bind did not land at {inside}: {}",
            describe(&out)
        );
        assert!(
            rootfs.join(inside.trim_start_matches('/')).exists(),
            "the target was not made in the rootfs"
        );
    }
    marker.assert_untouched();
}

#[test]
fn sec_dotdot_mount_destination_stays_inside() {
    let env = TestEnv::new("sec-dotdot");
    let marker = Marker::new(&env);
    let escape = env.dir.join("escaped");
    let dest = format!("/../../../../../..{}", s(&escape));
    let bundle = env.bundle_with_rootfs_copy("hello", |spec| {
        spec["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]
        }));
        spec["process"]["args"] = json!([
            "sh",
            "-c",
            format!("grep -c ' {} ' /proc/self/mountinfo", s(&escape))
        ]);
    });
    let mounts_before = crate::common::count_mounts_containing(s(&env.dir));
    let out = env.podrun(&["run", "--bundle", s(&bundle), &cid("dotdot")]);
    assert!(
        !escape.exists(),
        "a ../ destination created {} on the host",
        escape.display()
    );
    assert_eq!(
        crate::common::count_mounts_containing(s(&env.dir)),
        mounts_before,
        "a host mount appeared"
    );
    if out.status.success() {
        assert_eq!(
            stdout(&out).trim(),
            "1",
            "the tmpfs is not at {} inside: {}",
            s(&escape),
            describe(&out)
        );
        assert!(bundle
            .join("rootfs")
            .join(s(&escape).trim_start_matches('/'))
            .is_dir());
    }
    marker.assert_untouched();
}

/// renameat2(RENAME_EXCHANGE) of two entries in `dir`.
fn exchange(dir: &Path, a: &str, b: &str) -> bool {
    let d = std::ffi::CString::new(s(dir)).expect("cstr");
    let a = std::ffi::CString::new(a).expect("cstr");
    let b = std::ffi::CString::new(b).expect("cstr");
    // SAFETY: valid C strings; AT_FDCWD-relative absolute dir is not used: we build full paths.
    unsafe {
        let fd = libc::open(d.as_ptr(), libc::O_DIRECTORY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let r = libc::renameat2(fd, a.as_ptr(), fd, b.as_ptr(), libc::RENAME_EXCHANGE);
        libc::close(fd);
        r == 0
    }
}

/// How many containers the swap race runs (the brief allows 50 when 200 takes over a minute).
const RACE_RUNS: usize = 200;

#[test]
fn sec_racing_symlink_swap_never_touches_host() {
    let env = TestEnv::new("sec-race");
    let marker = Marker::new(&env);
    let vol = env.dir.join("vol");
    std::fs::create_dir(&vol).expect("mkdir vol");
    std::fs::create_dir(vol.join("target")).expect("mkdir target");
    // The other side of the swap: a symlink to a path in the host marker dir.
    let escape = marker.dir.join("newdir");
    std::os::unix::fs::symlink(&escape, vol.join("swap")).expect("symlink swap");
    // The tmpfs has a unique size; the probe prints where it is mounted as the
    // container sees it. A mount outside the container's root would not be listed at all.
    let probe = "grep size=76k /proc/self/mountinfo | cut -d' ' -f5";
    let inside = [
        "/vol/target".to_string(),
        "/vol/swap".to_string(),
        s(&escape).to_string(),
    ];
    let bundle = env.bundle_with_rootfs_copy("hello", |spec| {
        let m = spec["mounts"].as_array_mut().expect("mounts");
        m.push(json!({"destination": "/vol", "type": "bind", "source": s(&vol), "options": ["rbind", "rw"]}));
        m.push(json!({"destination": "/vol/target", "type": "tmpfs", "source": "tmpfs", "options": ["size=76k"]}));
        spec["process"]["args"] = json!(["sh", "-c", probe]);
    });
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let vol = vol.clone();
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if exchange(&vol, "target", "swap") {
                    swaps += 1;
                }
            }
            swaps
        })
    };
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let guard = StopOnDrop(stop.clone());
    let started = std::time::Instant::now();
    let (mut ok, mut failed) = (0, 0);
    let mut landed = std::collections::BTreeMap::new();
    for i in 0..RACE_RUNS {
        let id = cid(&format!("race-{i}"));
        let out = env.podrun(&["run", "--bundle", s(&bundle), &id]);
        if out.status.success() {
            let at = stdout(&out);
            let at = at.trim();
            assert!(
                inside.iter().any(|p| p == at),
                "run {i}: the tmpfs is not inside the container's root (at {at:?}): {}",
                describe(&out)
            );
            *landed.entry(at.to_string()).or_insert(0) += 1;
            ok += 1;
        } else {
            // Refusing the racy target is a fine defence.
            failed += 1;
        }
        assert!(
            !escape.exists(),
            "run {i}: the mount created {} on the host",
            escape.display()
        );
        marker.assert_untouched();
    }
    drop(guard);
    let swaps = swapper.join().expect("swapper thread");
    eprintln!("race: {RACE_RUNS} runs ({ok} ok, {failed} refused), {swaps} swaps, {:?}; landed at {landed:?}", started.elapsed());
    assert!(swaps > 0, "the swapper never swapped");
    marker.assert_untouched();
}

// ---------------------------------------------------------------------------------------------
// 4. Fake /proc and /sys (CVE-2019-16884, CVE-2023-27561)
// ---------------------------------------------------------------------------------------------

fn assert_create_fails(env: &TestEnv, bundle: &Path, id: &str, what: &str) -> String {
    let out = env.podrun(&["create", "--bundle", s(bundle), id]);
    assert!(
        !out.status.success(),
        "{what}: create succeeded: {}",
        describe(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.trim().is_empty(), "{what}: failed without a message");
    assert!(!env.root.join(id).exists(), "{what}: state dir left behind");
    err
}

#[test]
fn sec_rootfs_proc_or_sys_symlink_is_refused() {
    let env = TestEnv::new("sec-fake-proc");
    let marker = Marker::new(&env);
    for dir in ["proc", "sys"] {
        let bundle = env.bundle_with_rootfs_copy("sleeper", |_| {});
        let p = bundle.join("rootfs").join(dir);
        std::fs::remove_dir(&p).unwrap_or_else(|e| panic!("rmdir {}: {e}", p.display()));
        std::os::unix::fs::symlink(&marker.dir, &p).expect("symlink");
        assert_create_fails(
            &env,
            &bundle,
            &cid(&format!("fake-{dir}")),
            &format!("/{dir} -> host dir"),
        );
    }
    marker.assert_untouched();
}

#[test]
fn sec_non_procfs_on_proc_is_refused() {
    let env = TestEnv::new("sec-tmpfs-proc");
    let bundle = env.bundle("sleeper", |spec| {
        let m = spec["mounts"].as_array_mut().expect("mounts");
        m.retain(|m| m["destination"] != "/proc");
        m.insert(
            0,
            json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}),
        );
    });
    assert_create_fails(&env, &bundle, &cid("tmpfs-proc"), "tmpfs on /proc");
}

#[test]
fn sec_mounts_onto_proc_files_are_refused() {
    let env = TestEnv::new("sec-proc-targets");
    let core_before =
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").expect("core_pattern");
    let src = env.dir.join("payload");
    std::fs::write(&src, "|/tmp/pwned\n").expect("payload");
    for (i, dest) in ["/proc/self/attr/exec", "/proc/sys/kernel/core_pattern"]
        .iter()
        .enumerate()
    {
        let bundle = env.bundle("sleeper", |spec| {
            spec["mounts"].as_array_mut().expect("mounts").push(json!({
                "destination": dest, "type": "bind", "source": s(&src), "options": ["bind"]
            }));
        });
        assert_create_fails(&env, &bundle, &cid(&format!("proc-target-{i}")), dest);
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").expect("core_pattern"),
        core_before
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Masked and read-only paths with the default spec
// ---------------------------------------------------------------------------------------------

#[test]
fn sec_masked_and_readonly_paths() {
    let env = TestEnv::new("sec-masked");
    let bundle = env.bundle("sleeper", |_| {});
    let spec: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).expect("cfg"))
            .expect("json");
    env.run_ok(&["run", "-d", "--bundle", s(&bundle), &cid("masked")]);
    let masked: Vec<String> = spec["linux"]["maskedPaths"]
        .as_array()
        .expect("maskedPaths")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mut checked = 0;
    for p in &masked {
        let host = Path::new(p);
        let Ok(meta) = std::fs::metadata(host) else {
            continue;
        };
        let cmd = if meta.is_dir() {
            format!("ls -A {p} | wc -l")
        } else {
            format!("cat {p} | wc -c")
        };
        let out = env.podrun(&["exec", &cid("masked"), "sh", "-c", &cmd]);
        assert!(out.status.success(), "{cmd}: {}", describe(&out));
        assert_eq!(
            stdout(&out).trim(),
            "0",
            "masked {p} is not empty inside: {}",
            describe(&out)
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "fewer than two masked paths exist on this kernel: {masked:?}"
    );

    // Write the current value back: harmless even if the defence failed.
    let out = env.podrun(&[
        "exec",
        &cid("masked"),
        "sh",
        "-c",
        "v=$(cat /proc/sys/vm/overcommit_memory); echo $v > /proc/sys/vm/overcommit_memory",
    ]);
    assert!(
        !out.status.success(),
        "write under /proc/sys succeeded: {}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Read-only file system"),
        "not EROFS: {}",
        describe(&out)
    );
    let out = env.podrun(&["exec", &cid("masked"), "umount", "/proc/sys"]);
    assert!(
        !out.status.success(),
        "umount /proc/sys succeeded: {}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"),
        "umount not EPERM: {}",
        describe(&out)
    );
    if Path::new("/proc/sysrq-trigger").exists() {
        let out = env.podrun(&[
            "exec",
            &cid("masked"),
            "sh",
            "-c",
            "echo h > /proc/sysrq-trigger",
        ]);
        assert!(
            !out.status.success(),
            "sysrq-trigger writable: {}",
            describe(&out)
        );
    }
}

#[test]
fn sec_dev_null_symlink_is_replaced_or_refused() {
    let env = TestEnv::new("sec-devnull");
    let host_file = env.dir.join("host-file");
    std::fs::write(&host_file, "HOST-FILE\n").expect("host file");
    // With the usual /dev tmpfs the rootfs /dev is hidden; without it podrun fills the rootfs
    // /dev itself: both must end with a real 1:3 char device.
    for with_dev_tmpfs in [true, false] {
        let bundle = env.bundle_with_rootfs_copy("hello", |spec| {
            if !with_dev_tmpfs {
                spec["mounts"].as_array_mut().expect("mounts").retain(|m| m["destination"] != "/dev");
                let m = spec["mounts"].as_array_mut().expect("mounts");
                m.retain(|m| !m["destination"].as_str().unwrap_or("").starts_with("/dev/"));
            }
            spec["process"]["args"] = json!([
                "sh", "-c",
                "stat -c '%t:%T %F' /dev/null; echo overwrite > /dev/null; cat /proc/timer_list | wc -c"
            ]);
        });
        let rootfs_null = bundle.join("rootfs/dev/null");
        let _ = std::fs::remove_file(&rootfs_null);
        std::os::unix::fs::symlink(&host_file, &rootfs_null).expect("symlink dev/null");
        let id = cid(&format!("devnull-{with_dev_tmpfs}"));
        let out = env.podrun(&["run", "--bundle", s(&bundle), &id]);
        eprintln!(
            "/dev/null symlink, /dev tmpfs {with_dev_tmpfs}: {}",
            describe(&out)
        );
        if out.status.success() {
            let text = stdout(&out);
            let mut lines = text.lines();
            assert_eq!(
                lines.next(),
                Some("1:3 character special file"),
                "/dev/tmpfs {with_dev_tmpfs}: {}",
                describe(&out)
            );
            assert_eq!(
                lines.next().map(str::trim),
                Some("0"),
                "masked path not empty: {}",
                describe(&out)
            );
        }
        assert_eq!(
            std::fs::read_to_string(&host_file).expect("host file"),
            "HOST-FILE\n",
            "host file changed"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Capabilities (CVE-2022-29162)
// ---------------------------------------------------------------------------------------------

fn status_fields(text: &str) -> (String, String, String) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    (field("CapInh:"), field("CapAmb:"), field("NoNewPrivs:"))
}

const ZERO_CAPS: &str = "0000000000000000";
const STATUS_PROBE: &str = "grep -E '^(CapInh|CapAmb|NoNewPrivs|CapEff)' /proc/self/status";

#[test]
fn sec_no_inheritable_or_ambient_caps() {
    let env = TestEnv::new("sec-caps");
    // The runc default spec (sleeper/hello are `runc spec`): bounding/effective/permitted/ambient.
    let bundle = env.bundle("hello", |spec| {
        spec["process"]["args"] = json!(["sh", "-c", STATUS_PROBE])
    });
    let out = env.podrun(&["run", "--bundle", s(&bundle), &cid("caps-run")]);
    assert!(out.status.success(), "{}", describe(&out));
    let want = (
        ZERO_CAPS.to_string(),
        ZERO_CAPS.to_string(),
        "1".to_string(),
    );
    assert_eq!(
        status_fields(&stdout(&out)),
        want,
        "run: {}",
        describe(&out)
    );

    let bundle = env.bundle("sleeper", |_| {});
    env.run_ok(&["run", "-d", "--bundle", s(&bundle), &cid("caps-exec")]);
    let exec_id = cid("caps-exec");
    for extra in [&[][..], &["--cap", "CAP_KILL"][..]] {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&exec_id, "sh", "-c", STATUS_PROBE]);
        let out = env.podrun(&args);
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
        assert_eq!(
            status_fields(&stdout(&out)),
            want,
            "{args:?}: {}",
            describe(&out)
        );
    }
}

#[test]
fn sec_unknown_capability_is_named() {
    let env = TestEnv::new("sec-caps-bogus");
    let bundle = env.bundle("sleeper", |spec| {
        spec["process"]["capabilities"]["bounding"]
            .as_array_mut()
            .expect("bounding")
            .push(json!("CAP_BOGUS"));
    });
    let err = assert_create_fails(&env, &bundle, &cid("caps-bogus"), "unknown capability");
    assert!(
        err.contains("CAP_BOGUS"),
        "the error does not name CAP_BOGUS: {err}"
    );

    let bundle = env.bundle("sleeper", |_| {});
    env.run_ok(&["run", "-d", "--bundle", s(&bundle), &cid("caps-exec-bogus")]);
    let err = env.run_fail(&[
        "exec",
        "--cap",
        "CAP_BOGUS",
        &cid("caps-exec-bogus"),
        "true",
    ]);
    assert!(
        err.contains("CAP_BOGUS"),
        "the error does not name CAP_BOGUS: {err}"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Namespace paths (the pod-specific half — a join after the pause died — is in the pod tests)
// ---------------------------------------------------------------------------------------------

#[test]
fn sec_bad_namespace_paths_are_refused() {
    let env = TestEnv::new("sec-ns-paths");
    let file = env.dir.join("regular-file");
    std::fs::write(&file, "not a namespace").expect("file");
    let missing = env.dir.join("missing-ns");
    let ipc = PathBuf::from(format!("/proc/{}/ns/ipc", std::process::id()));
    let cases: Vec<(&str, Value)> = vec![
        ("ipc-as-net", json!([{"type": "network", "path": s(&ipc)}])),
        (
            "file-as-net",
            json!([{"type": "network", "path": s(&file)}]),
        ),
        (
            "missing-net",
            json!([{"type": "network", "path": s(&missing)}]),
        ),
        ("dup-net", json!([{"type": "network"}, {"type": "network"}])),
    ];
    for (name, extra) in cases {
        let id = &cid(name);
        let bundle = env.bundle("sleeper", |spec| {
            let ns = spec["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces");
            ns.retain(|n| n["type"] != "network");
            ns.extend(extra.as_array().expect("list").iter().cloned());
        });
        let err = assert_create_fails(&env, &bundle, id, id);
        assert!(
            err.contains("network") || err.contains("net"),
            "{id}: error does not name the namespace: {err}"
        );
        assert!(
            cgroup_dirs(id).is_empty(),
            "{id}: cgroup left: {:?}",
            cgroup_dirs(id)
        );
    }
    assert!(
        env.container_ids().is_empty(),
        "containers left: {:?}",
        env.container_ids()
    );
}

// ---------------------------------------------------------------------------------------------
// Extra: path traversal through ids and device paths
// ---------------------------------------------------------------------------------------------

#[test]
fn sec_id_with_path_traversal_is_refused() {
    let env = TestEnv::new("sec-id-traversal");
    let bundle = env.bundle("sleeper", |_| {});
    for id in ["../escaped-id", "a/b", "..", ".", ""] {
        let out = env.podrun(&["create", "--bundle", s(&bundle), id]);
        assert!(
            !out.status.success(),
            "id {id:?} accepted: {}",
            describe(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("id"),
            "id {id:?}: unclear error: {}",
            describe(&out)
        );
    }
    assert!(
        !env.dir.join("escaped-id").exists(),
        "a state dir was made outside the root"
    );
    assert!(
        env.container_ids().is_empty(),
        "containers left: {:?}",
        env.container_ids()
    );
}

#[test]
fn sec_device_path_traversal_stays_inside() {
    let env = TestEnv::new("sec-dev-traversal");
    let marker = Marker::new(&env);
    let evil = marker.dir.join("evil-null");
    for with_dev_tmpfs in [true, false] {
        let dev_path = format!("/dev/../../../../../..{}", s(&evil));
        let bundle = env.bundle_with_rootfs_copy("hello", |spec| {
            if !with_dev_tmpfs {
                spec["mounts"]
                    .as_array_mut()
                    .expect("mounts")
                    .retain(|m| !m["destination"].as_str().unwrap_or("").starts_with("/dev"));
            }
            spec["linux"]["devices"] =
                json!([{"path": dev_path, "type": "c", "major": 1, "minor": 3, "fileMode": 438}]);
            spec["process"]["args"] = json!(["sh", "-c", format!("stat -c '%t:%T' {}", s(&evil))]);
        });
        let id = cid(&format!("dev-traversal-{with_dev_tmpfs}"));
        let out = env.podrun(&["run", "--bundle", s(&bundle), &id]);
        eprintln!(
            "device path traversal, /dev tmpfs {with_dev_tmpfs}: {}",
            describe(&out)
        );
        assert!(
            !evil.exists(),
            "a device node was made on the host at {}",
            evil.display()
        );
        if out.status.success() {
            assert_eq!(
                stdout(&out).trim(),
                "1:3",
                "the device is not inside the container: {}",
                describe(&out)
            );
        }
        marker.assert_untouched();
    }
}
