//! The container's filesystem: the default spec's mounts, binds, tmpfs, readonly root, masked
//! and readonly paths, mount targets behind symlinks, --no-pivot, and devices.

use std::path::Path;

use serde_json::{json, Value};

use crate::common::{describe, TestEnv};
use crate::lifecycle::{run_sh, run_sh_ok, s};

/// One line of /proc/self/mounts inside the container.
struct MountLine {
    target: String,
    fstype: String,
    options: Vec<String>,
}

fn parse_mounts(text: &str) -> Vec<MountLine> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4).then(|| MountLine {
                target: f[1].to_string(),
                fstype: f[2].to_string(),
                options: f[3].split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

/// The last (topmost) mount on `target`.
fn mount_at<'a>(mounts: &'a [MountLine], target: &str) -> &'a MountLine {
    mounts
        .iter()
        .rev()
        .find(|m| m.target == target)
        .unwrap_or_else(|| panic!("nothing mounted on {target}"))
}

fn assert_opts(m: &MountLine, want: &[&str]) {
    for o in want {
        assert!(
            m.options.iter().any(|x| x == o),
            "{} ({}) lacks option {o}: {:?}",
            m.target,
            m.fstype,
            m.options
        );
    }
}

fn push_mount(spec: &mut Value, mount: Value) {
    spec["mounts"].as_array_mut().expect("mounts").push(mount);
}

#[test]
fn default_spec_mounts_are_present() {
    let env = TestEnv::new("rootfs-default");
    let out = run_sh_ok(&env, "mounts", "cat /proc/self/mounts", |_| {});
    let mounts = parse_mounts(&out);
    let root = mount_at(&mounts, "/");
    assert_opts(root, &["ro"]);
    let proc_ = mount_at(&mounts, "/proc");
    assert_eq!(proc_.fstype, "proc");
    let dev = mount_at(&mounts, "/dev");
    assert_eq!(dev.fstype, "tmpfs");
    assert_opts(dev, &["nosuid", "mode=755"]);
    let pts = mount_at(&mounts, "/dev/pts");
    assert_eq!(pts.fstype, "devpts");
    assert_opts(
        pts,
        &["nosuid", "noexec", "ptmxmode=666", "mode=620", "gid=5"],
    );
    let shm = mount_at(&mounts, "/dev/shm");
    assert_eq!(shm.fstype, "tmpfs");
    assert_opts(shm, &["nosuid", "nodev", "noexec", "size=65536k"]);
    let mq = mount_at(&mounts, "/dev/mqueue");
    assert_eq!(mq.fstype, "mqueue");
    assert_opts(mq, &["nosuid", "nodev", "noexec"]);
    let sys = mount_at(&mounts, "/sys");
    assert_eq!(sys.fstype, "sysfs");
    assert_opts(sys, &["ro", "nosuid", "nodev", "noexec"]);
    // cgroup (v1 on this host: a tmpfs with one mount per hierarchy, as runc does), all ro.
    let cg: Vec<&MountLine> = mounts
        .iter()
        .filter(|m| m.target == "/sys/fs/cgroup" || m.target.starts_with("/sys/fs/cgroup/"))
        .collect();
    assert!(!cg.is_empty(), "no cgroup mount: {out}");
    assert!(
        cg.iter()
            .any(|m| m.fstype == "cgroup" || m.fstype == "cgroup2"),
        "no cgroup filesystem under /sys/fs/cgroup: {out}"
    );
    for m in &cg {
        assert_opts(m, &["ro"]);
    }
    // The container sees its own cgroup, not the host's tree: every cgroup mount it has
    // (one per v1 hierarchy, or the unified one) is read-only.
    let out = run_sh_ok(
        &env,
        "cg-write",
        "for d in $(awk '$3 ~ /^cgroup/ { print $2 }' /proc/mounts); do mkdir $d/x 2>&1; done; true",
        |_| {},
    );
    assert!(!out.trim().is_empty(), "no cgroup mount inside: {out}");
    assert!(
        out.lines().all(|l| l.contains("Read-only")),
        "a cgroup mount is writable: {out}"
    );
}

#[test]
fn bind_mounts_rw_and_ro() {
    let env = TestEnv::new("rootfs-bind");
    let rw = env.dir.join("rw");
    let ro = env.dir.join("ro");
    std::fs::create_dir(&rw).expect("mkdir rw");
    std::fs::create_dir(&ro).expect("mkdir ro");
    std::fs::write(ro.join("given"), "from host").expect("write given");
    let out = run_sh(
        &env,
        "binds",
        "echo written > /rw/new && cat /ro/given && echo && touch /ro/x",
        |spec| {
            push_mount(
                spec,
                json!({"destination": "/rw", "type": "bind", "source": s(&rw), "options": ["rbind", "rw"]}),
            );
            push_mount(
                spec,
                json!({"destination": "/ro", "type": "bind", "source": s(&ro), "options": ["bind", "ro"]}),
            );
        },
    );
    assert!(
        !out.status.success(),
        "touch on a ro bind worked: {}",
        describe(&out)
    );
    assert_eq!(
        std::fs::read_to_string(rw.join("new")).expect("the rw bind write"),
        "written\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from host\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!ro.join("x").exists());
    // A file bind, too.
    let file = env.dir.join("file.txt");
    std::fs::write(&file, "one file").expect("write file");
    let out = run_sh_ok(&env, "filebind", "cat /etc/given.txt", |spec| {
        push_mount(
            spec,
            json!({"destination": "/etc/given.txt", "type": "bind", "source": s(&file), "options": ["bind", "ro"]}),
        );
    });
    assert_eq!(out, "one file");
}

#[test]
fn tmpfs_with_size_and_mode() {
    let env = TestEnv::new("rootfs-tmpfs");
    let out = run_sh_ok(
        &env,
        "tmpfs",
        "stat -c %a /scratch; grep ' /scratch ' /proc/self/mounts; echo hi > /scratch/f && cat /scratch/f",
        |spec| {
            push_mount(
                spec,
                json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "size=2m", "mode=750"]}),
            );
        },
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("750"), "{out}");
    let mounts = parse_mounts(lines.next().unwrap_or_default());
    let m = mount_at(&mounts, "/scratch");
    assert_eq!(m.fstype, "tmpfs");
    assert_opts(m, &["rw", "nosuid", "nodev", "size=2048k", "mode=750"]);
    assert_eq!(lines.next(), Some("hi"), "{out}");
}

#[test]
fn readonly_root() {
    let env = TestEnv::new("rootfs-ro");
    let out = run_sh(&env, "ro-root", "touch /newfile", |_| {});
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Read-only file system"), "{err}");
    // A writable root with a private copy.
    let bundle = env.bundle_with_rootfs_copy("hello", |spec| {
        spec["root"]["readonly"] = json!(false);
        spec["process"]["args"] = json!(["sh", "-c", "touch /newfile"]);
    });
    env.run_ok(&["run", "--bundle", s(&bundle), "rw-root"]);
    assert!(bundle.join("rootfs/newfile").exists());
}

#[test]
fn masked_paths_read_empty() {
    let env = TestEnv::new("rootfs-masked");
    // Masked files of the default spec that this kernel has (it has no /proc/kcore).
    let files: Vec<&str> = [
        "/proc/keys",
        "/proc/timer_list",
        "/proc/kcore",
        "/proc/sched_debug",
    ]
    .into_iter()
    .filter(|p| Path::new(p).exists())
    .collect();
    assert!(!files.is_empty(), "no maskable /proc file on this kernel");
    let dirs: Vec<&str> = ["/sys/firmware", "/proc/acpi"]
        .into_iter()
        .filter(|p| Path::new(p).is_dir())
        .collect();
    let mut script = String::new();
    for f in &files {
        script.push_str(&format!("echo {f}=$(wc -c < {f}); "));
    }
    for d in &dirs {
        script.push_str(&format!("echo {d}=$(ls -A {d} | wc -l); "));
    }
    let out = run_sh_ok(&env, "masked", &script, |_| {});
    for f in &files {
        assert!(out.contains(&format!("{f}=0\n")), "{f} not empty: {out}");
    }
    for d in &dirs {
        assert!(out.contains(&format!("{d}=0\n")), "{d} not empty: {out}");
    }
    // And on the host it is not: /proc/timer_list has content.
    if Path::new("/proc/timer_list").exists() {
        assert!(!std::fs::read("/proc/timer_list")
            .expect("read timer_list")
            .is_empty());
    }
}

#[test]
fn readonly_paths_refuse_writes() {
    let env = TestEnv::new("rootfs-ropaths");
    let out = run_sh(
        &env,
        "ropaths",
        "cat /proc/sys/kernel/hostname && echo changed > /proc/sys/kernel/hostname",
        |_| {},
    );
    assert!(!out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "podrun\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Read-only file system"), "{err}");
    let out = run_sh_ok(
        &env,
        "ro-mounts",
        "grep ' /proc/sys ' /proc/self/mounts",
        |_| {},
    );
    let mounts = parse_mounts(&out);
    assert_opts(mount_at(&mounts, "/proc/sys"), &["ro"]);
}

#[test]
fn mount_target_behind_symlinks_stays_in_rootfs() {
    let env = TestEnv::new("rootfs-symlink");
    // A host directory name that nothing else uses: it must never appear.
    let host_dir = format!("/tmp/podrun-symlink-escape-{}", std::process::id());
    assert!(!Path::new(&host_dir).exists(), "{host_dir} exists already");
    let source = env.dir.join("hosts");
    std::fs::write(&source, "10.9.8.7 marker\n").expect("write hosts");
    let bundle = env.bundle_with_rootfs_copy("hello", |spec| {
        spec["process"]["args"] = json!(["sh", "-c", "cat /etc/hosts; cat /tmp/foo/bar/baz/hosts"]);
        push_mount(
            spec,
            json!({"destination": "/etc/hosts", "type": "bind", "source": s(&source), "options": ["bind", "ro"]}),
        );
        spec["root"]["readonly"] = json!(false);
    });
    let rootfs = bundle.join("rootfs");
    let _ = std::fs::remove_file(rootfs.join("etc/hosts"));
    std::os::unix::fs::symlink("/jump/baz/hosts", rootfs.join("etc/hosts")).expect("symlink hosts");
    // Absolute: resolved against the host it would point at the host's /tmp/foo/bar.
    std::os::unix::fs::symlink("/tmp/foo/bar", rootfs.join("jump")).expect("symlink jump");
    // The test's own /tmp/foo/bar on the host, if any, must not be touched either.
    let host_foo = Path::new("/tmp/foo/bar/baz/hosts");
    let host_foo_before = host_foo.exists();

    let host_jump = format!("{host_dir}/bar");
    let bundle2 = env.bundle_with_rootfs_copy("hello", |spec| {
        spec["process"]["args"] = json!(["sh", "-c", "cat /etc/hosts"]);
        push_mount(
            spec,
            json!({"destination": "/etc/hosts", "type": "bind", "source": s(&source), "options": ["bind", "ro"]}),
        );
        spec["root"]["readonly"] = json!(false);
    });
    let rootfs2 = bundle2.join("rootfs");
    let _ = std::fs::remove_file(rootfs2.join("etc/hosts"));
    std::os::unix::fs::symlink("/jump/baz/hosts", rootfs2.join("etc/hosts")).expect("symlink");
    std::os::unix::fs::symlink(&host_jump, rootfs2.join("jump")).expect("symlink");

    let out = env.podrun(&["run", "--bundle", s(&bundle), "symlinked"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "10.9.8.7 marker\n10.9.8.7 marker\n"
    );
    assert!(
        rootfs.join("tmp/foo/bar/baz/hosts").exists(),
        "the mount target was not made inside the rootfs copy"
    );
    assert_eq!(
        host_foo.exists(),
        host_foo_before,
        "the host's /tmp/foo changed"
    );

    let out = env.podrun(&["run", "--bundle", s(&bundle2), "symlinked2"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "10.9.8.7 marker\n");
    assert!(
        !Path::new(&host_dir).exists(),
        "a mount target was created on the host at {host_dir}"
    );
    assert!(rootfs2
        .join(host_jump.trim_start_matches('/'))
        .join("baz/hosts")
        .exists());
}

#[test]
fn no_pivot_runs() {
    let env = TestEnv::new("rootfs-nopivot");
    let bundle = crate::lifecycle::sh_bundle(
        &env,
        "hello",
        "ls /bin/busybox && test ! -e /work && cat /proc/self/mounts | head -1",
        |_| {},
    );
    let out = env.podrun(&["run", "--no-pivot", "--bundle", s(&bundle), "nopivot"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("/bin/busybox\n"), "{text}");
    assert!(env.container_ids().is_empty());
}

#[test]
fn default_devices_and_links() {
    let env = TestEnv::new("rootfs-devices");
    let script =
        "for d in null zero full random urandom tty; do stat -c '%n %F %t,%T %a' /dev/$d; done; \
                  for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done; \
                  head -c 4 /dev/zero | wc -c; echo gone > /dev/null && echo null-ok";
    let out = run_sh_ok(&env, "devices", script, |_| {});
    let expect = [
        "/dev/null character special file 1,3 666",
        "/dev/zero character special file 1,5 666",
        "/dev/full character special file 1,7 666",
        "/dev/random character special file 1,8 666",
        "/dev/urandom character special file 1,9 666",
        "/dev/tty character special file 5,0 666",
        "pts/ptmx",
        "/proc/self/fd",
        "/proc/self/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
        "4",
        "null-ok",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expect, "{out}");
}

#[test]
fn spec_devices_are_created() {
    let env = TestEnv::new("rootfs-specdev");
    let out = run_sh_ok(
        &env,
        "specdev",
        "stat -c '%F %t,%T %a %u:%g' /dev/mynull; echo x > /dev/mynull && echo written",
        |spec| {
            spec["linux"]["devices"] = json!([{
                "path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                "fileMode": 432, "uid": 0, "gid": 5
            }]);
        },
    );
    assert_eq!(out, "character special file 1,3 660 0:5\nwritten\n");
}

/// The optional fields (shared:N, master:N, ...) of the mountinfo line of each of `targets`,
/// as the container sees them.
fn propagation_in_container(
    env: &TestEnv,
    id: &str,
    targets: &[&str],
    edit: impl FnOnce(&mut Value),
) -> Vec<String> {
    let out = run_sh_ok(env, id, "cat /proc/self/mountinfo", edit);
    targets
        .iter()
        .map(|t| {
            let line = out
                .lines()
                .rev()
                .find(|l| l.split(' ').nth(4) == Some(*t))
                .unwrap_or_else(|| panic!("{t} not in the container's mountinfo: {out}"));
            // fields 7.. up to the "-" separator are the optional fields
            line.split(' ')
                .skip(6)
                .take_while(|f| *f != "-")
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// linux.rootfsPropagation sets the propagation of the container's `/`, and propagation
/// options on a mount (`rshared`, `rprivate`) set that mount's.
#[test]
fn rootfs_propagation_and_mount_propagation_flags() {
    let env = TestEnv::new("rootfs-prop");
    let vol = env.dir.join("vol");
    std::fs::create_dir(&vol).expect("mkdir vol");
    let with = |root: &'static str, vol_opt: &'static str| {
        let vol = s(&vol).to_string();
        move |spec: &mut Value| {
            spec["linux"]["rootfsPropagation"] = json!(root);
            push_mount(
                spec,
                json!({"destination": "/vol", "type": "bind", "source": vol, "options": ["rbind", vol_opt]}),
            );
        }
    };
    let shared = propagation_in_container(
        &env,
        "prop-shared",
        &["/", "/vol"],
        with("shared", "rshared"),
    );
    assert!(
        shared[0].contains("shared:"),
        "rootfsPropagation shared: / is {:?}",
        shared[0]
    );
    assert!(
        shared[1].contains("shared:"),
        "rshared bind: /vol is {:?}",
        shared[1]
    );
    let private = propagation_in_container(
        &env,
        "prop-private",
        &["/", "/vol"],
        with("private", "rprivate"),
    );
    for (t, p) in ["/", "/vol"].iter().zip(&private) {
        assert!(
            !p.contains("shared:") && !p.contains("master:"),
            "private: {t} is {p:?}"
        );
    }
}
