//! Behaviour clients rely on, side by side with Debian's runc where that says more (issue 15):
//! bind mounts keep the source's flags, tmpfs as configured, data options on binds, no mount
//! namespace, LSM properties that cannot be applied, and no cgroup mount the config did not ask
//! for.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::common::{cgroup_dirs, count_mounts_containing, describe, TestEnv};
use crate::lifecycle::{run_sh, s};

/// Debian's runc, the reference these tests compare with.
const RUNC: &str = "/usr/sbin/runc";

/// A tmpfs mounted on `<env.dir>/<name>` with `opts` (TestEnv's drop detaches it).
fn host_tmpfs(env: &TestEnv, name: &str, opts: &str) -> PathBuf {
    let dir = env.dir.join(name);
    std::fs::create_dir(&dir).expect("mkdir for the host tmpfs");
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", opts, name])
        .arg(&dir)
        .status()
        .expect("run mount");
    assert!(st.success(), "mount -t tmpfs -o {opts} {}", dir.display());
    dir
}

/// `runc --root <env.dir>/runc run --bundle B ID` (stdout/stderr through files), then
/// `runc delete -f ID`.
fn runc_run(env: &TestEnv, bundle: &Path, id: &str) -> std::process::Output {
    let root = env.dir.join("runc-state");
    let out = env.output_via_files(Command::new(RUNC).arg("--root").arg(&root).args([
        "run",
        "--bundle",
        s(bundle),
        id,
    ]));
    let _ = Command::new(RUNC)
        .arg("--root")
        .arg(&root)
        .args(["delete", "-f", id])
        .output();
    out
}

/// Runs `bundle` with podrun and with runc; both must succeed; returns (podrun, runc) stdout.
fn both_ok(env: &TestEnv, bundle: &Path, id: &str) -> (String, String) {
    let ours = env.podrun(&["run", "--bundle", s(bundle), id]);
    assert!(ours.status.success(), "podrun run: {}", describe(&ours));
    let theirs = runc_run(env, bundle, &format!("{id}-runc"));
    assert!(theirs.status.success(), "runc run: {}", describe(&theirs));
    (
        String::from_utf8_lossy(&ours.stdout).into_owned(),
        String::from_utf8_lossy(&theirs.stdout).into_owned(),
    )
}

/// The per-mount options of the (topmost) mount on `target` in a mountinfo text.
fn mount_opts(mountinfo: &str, target: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(target))
        .last()
        .unwrap_or_else(|| panic!("nothing mounted on {target}:\n{mountinfo}"))
        .split(' ')
        .nth(5)
        .unwrap_or("")
        .split(',')
        .map(str::to_string)
        .collect()
}

/// The mount source (field after the fstype) of the topmost mount on `target`.
fn mount_source(mountinfo: &str, target: &str) -> String {
    let line = mountinfo
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(target))
        .last()
        .unwrap_or_else(|| panic!("nothing mounted on {target}:\n{mountinfo}"));
    let (_, right) = line.split_once(" - ").expect("mountinfo separator");
    right.split(' ').nth(1).unwrap_or("").to_string()
}

fn has(opts: &[String], o: &str) -> bool {
    opts.iter().any(|x| x == o)
}

/// A bundle with a private rootfs copy (mount points podrun and runc create stay out of the
/// shared rootfs) whose process is `sh -c script`, after `edit`.
fn sh_bundle(env: &TestEnv, script: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    env.bundle_with_rootfs_copy("hello", |spec| {
        spec["process"]["args"] = json!(["sh", "-c", script]);
        edit(spec)
    })
}

fn mounts_mut(spec: &mut Value) -> &mut Vec<Value> {
    spec["mounts"].as_array_mut().expect("mounts")
}

/// CRI's /dev/shm (`rbind,rprivate,rw` of the sandbox's nosuid,nodev,noexec tmpfs) and an rw
/// volume from a noexec tmpfs keep the source's flags, as with runc: no exec from them.
#[test]
fn rw_binds_keep_the_sources_noexec_nosuid_nodev() {
    let env = TestEnv::new("compat-bind-flags");
    let shm = host_tmpfs(&env, "shm", "nosuid,nodev,noexec,size=4m");
    let script = "grep -E ' /dev/shm | /vol ' /proc/self/mountinfo; \
                  cp /bin/busybox /vol/busybox && /vol/busybox true && echo VOL-EXEC || echo VOL-NOEXEC; \
                  cp /bin/busybox /dev/shm/busybox && /dev/shm/busybox true && echo SHM-EXEC || echo SHM-NOEXEC";
    let bundle = sh_bundle(&env, script, |spec| {
        let m = mounts_mut(spec);
        m.retain(|m| m["destination"] != "/dev/shm");
        m.push(
            json!({"destination": "/dev/shm", "type": "bind", "source": s(&shm),
                      "options": ["rbind", "rprivate", "rw"]}),
        );
        m.push(
            json!({"destination": "/vol", "type": "bind", "source": s(&shm),
                      "options": ["rbind", "rw"]}),
        );
    });
    let (ours, theirs) = both_ok(&env, &bundle, "bindflags");
    for (who, out) in [("podrun", &ours), ("runc", &theirs)] {
        for target in ["/dev/shm", "/vol"] {
            let o = mount_opts(out, target);
            for want in ["rw", "nosuid", "nodev", "noexec"] {
                assert!(has(&o, want), "{who}: {target} lacks {want}: {o:?}\n{out}");
            }
        }
        assert!(
            out.contains("VOL-NOEXEC") && out.contains("SHM-NOEXEC"),
            "{who}: a program ran from a noexec source:\n{out}"
        );
    }
}

/// A `ro` bind of a nosuid source is ro and still nosuid (its flags are kept when the config
/// changes one), also in a user namespace (where runc 1.1 fails with EPERM); an explicit `exec`
/// still clears noexec.
#[test]
fn flag_changing_binds_keep_the_other_source_flags() {
    let env = TestEnv::new("compat-bind-ro");
    let nosuid = host_tmpfs(&env, "nosuid", "nosuid,size=1m");
    let noexec = host_tmpfs(&env, "noexec", "noexec,size=4m");
    let script =
        "grep -E ' /ro | /ex ' /proc/self/mountinfo; touch /ro/x 2>/dev/null && echo RO-WRITABLE; \
                  cp /bin/busybox /ex/busybox && /ex/busybox true && echo EX-EXEC; true";
    for userns in [false, true] {
        let bundle = sh_bundle(&env, script, |spec| {
            let m = mounts_mut(spec);
            m.push(
                json!({"destination": "/ro", "type": "bind", "source": s(&nosuid),
                          "options": ["bind", "ro"]}),
            );
            if !userns {
                // (in a user namespace noexec is locked: clearing it must fail there)
                m.push(
                    json!({"destination": "/ex", "type": "bind", "source": s(&noexec),
                              "options": ["rbind", "rw", "exec"]}),
                );
            }
            if userns {
                let ns = spec["linux"]["namespaces"].as_array_mut().expect("ns");
                ns.push(json!({"type": "user"}));
                // cgroup and sysfs need more than a mapped root in a user namespace
                mounts_mut(spec).retain(|m| m["type"] != "cgroup");
                let map = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
                spec["linux"]["uidMappings"] = map.clone();
                spec["linux"]["gidMappings"] = map;
            }
        });
        let out = env.podrun(&["run", "--bundle", s(&bundle), &format!("bindro{userns}")]);
        assert!(out.status.success(), "userns={userns}: {}", describe(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        let ro = mount_opts(&text, "/ro");
        assert!(
            has(&ro, "ro") && has(&ro, "nosuid"),
            "userns={userns}: /ro is not ro,nosuid: {ro:?}"
        );
        assert!(!text.contains("RO-WRITABLE"), "userns={userns}: {text}");
        if !userns {
            // exec was asked for explicitly: noexec is cleared (a locked flag in a userns)
            assert!(!has(&mount_opts(&text, "/ex"), "noexec"), "{text}");
            assert!(text.contains("EX-EXEC"), "{text}");
        }
    }
}

/// tmpfs: the mount source is the config's (`shm`), and a mount point podrun creates gets
/// tmpfs's own mode 1777 (Docker's `--tmpfs /newdir` written by a non-root user); an existing
/// directory lends its mode; an explicit `mode=` wins.
#[test]
fn tmpfs_source_and_mode_as_configured() {
    let env = TestEnv::new("compat-tmpfs");
    let bundle = env.bundle_with_rootfs_copy("hello", |spec| {
        spec["process"]["args"] =
            json!(["sh", "-c",
            "stat -c 'new=%a' /newdir; stat -c 'old=%a' /olddir; stat -c 'given=%a' /givendir; \
             touch /newdir/f && echo WROTE; grep ' /dev/shm ' /proc/self/mountinfo"]);
        spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        let m = mounts_mut(spec);
        for (dest, opts) in [
            ("/newdir", json!(["noexec", "nosuid", "nodev"])),
            ("/olddir", json!(["nosuid"])),
            ("/givendir", json!(["nosuid", "mode=0750"])),
        ] {
            m.push(
                json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                          "options": opts}),
            );
        }
    });
    let olddir = bundle.join("rootfs/olddir");
    std::fs::create_dir(&olddir).expect("mkdir olddir");
    std::fs::set_permissions(&olddir, std::os::unix::fs::PermissionsExt::from_mode(0o710))
        .expect("chmod olddir");
    let out = env.podrun(&["run", "--bundle", s(&bundle), "tmpfs"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", describe(&out));
    for want in ["new=1777", "old=710", "given=750", "WROTE"] {
        assert!(text.contains(want), "lacks {want}: {}", describe(&out));
    }
    assert_eq!(mount_source(&text, "/dev/shm"), "shm", "{text}");
}

/// Filesystem data options on a bind (`mode=755`) are accepted, as runc passes them on to a
/// bind mount (where the kernel ignores them).
#[test]
fn bind_accepts_data_options() {
    let env = TestEnv::new("compat-bind-data");
    let src = env.dir.join("src");
    std::fs::create_dir(&src).expect("mkdir src");
    std::fs::write(src.join("f"), "data\n").expect("write f");
    let bundle = sh_bundle(&env, "cat /m/f", |spec| {
        mounts_mut(spec).push(
            json!({"destination": "/m", "type": "bind", "source": s(&src),
                                     "options": ["rbind", "rw", "mode=755", "size=1m"]}),
        );
    });
    let (ours, theirs) = both_ok(&env, &bundle, "binddata");
    assert_eq!(ours, "data\n");
    assert_eq!(theirs, "data\n");
}

fn mnt_ns_of_self() -> String {
    std::fs::read_link("/proc/self/ns/mnt")
        .expect("readlink /proc/self/ns/mnt")
        .display()
        .to_string()
}

/// No mount namespace in the config: the container runs in the runtime's mount namespace
/// (the spec: a missing namespace type is inherited), chrooted into its rootfs, as with runc;
/// masked/readonly paths without one are refused with runc's words.
#[test]
fn no_mount_namespace_runs_in_the_runtimes() {
    let env = TestEnv::new("compat-no-mntns");
    let no_mnt = |spec: &mut Value| {
        spec["linux"]["namespaces"]
            .as_array_mut()
            .expect("ns")
            .retain(|n| n["type"] != "mount");
    };
    let bundle = env.bundle_with_rootfs_copy("hello", |spec| {
        spec["process"]["args"] = json!([
            "sh",
            "-c",
            "readlink /proc/self/ns/mnt; cat /etc/hostname-marker"
        ]);
        no_mnt(spec);
        let linux = spec["linux"].as_object_mut().expect("linux");
        linux.remove("maskedPaths");
        linux.remove("readonlyPaths");
    });
    std::fs::write(bundle.join("rootfs/etc/hostname-marker"), "in-rootfs\n").expect("marker");
    let mounts_before = count_mounts_containing(s(&env.dir));
    let out = env.podrun(&["run", "--bundle", s(&bundle), "nomnt"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text, format!("{}\nin-rootfs\n", mnt_ns_of_self()));
    let _ = env.podrun(&["delete", "--force", "nomnt"]);
    assert_eq!(
        count_mounts_containing(s(&env.dir)),
        mounts_before,
        "the container's mounts are left in the runtime's mount namespace after delete"
    );

    // runc refuses masked/readonly paths without a mount namespace; so does podrun.
    let bundle = env.bundle("hello", no_mnt);
    let err = env.run_fail(&["create", "--bundle", s(&bundle), "nomnt2"]);
    assert!(
        err.contains("without a private MNT namespace"),
        "unclear error: {err}"
    );
    assert!(env.container_ids().is_empty());
}

fn apparmor_enabled() -> bool {
    Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.starts_with('Y'))
}

fn selinux_enabled() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .is_ok_and(|m| m.lines().any(|l| l.contains(" - selinuxfs ")))
}

/// `create` of `bundle` fails naming `needle`, exits non-zero and leaves no state, cgroup,
/// process or mount.
fn create_fails_cleanly(env: &TestEnv, bundle: &Path, id: &str, needle: &str) {
    let mounts_before = count_mounts_containing(s(&env.dir));
    let err = env.run_fail(&["create", "--bundle", s(bundle), id]);
    assert!(err.contains(needle), "the error lacks {needle:?}: {err}");
    assert!(!env.root.join(id).exists(), "state dir left for {id}");
    assert!(env.container_ids().is_empty(), "{:?}", env.container_ids());
    assert_eq!(cgroup_dirs(id), Vec::<PathBuf>::new(), "cgroup left");
    assert_eq!(count_mounts_containing(s(&env.dir)), mounts_before);
    let leftover = Command::new("pgrep")
        .args(["-f", s(bundle)])
        .output()
        .expect("pgrep");
    assert!(leftover.stdout.is_empty(), "processes left");
}

/// An AppArmor profile without AppArmor, an SELinux label without SELinux: the container
/// cannot be confined as asked, so create fails (runtime-spec: MUST error), as runc does.
#[test]
fn lsm_properties_that_cannot_be_applied_fail_create() {
    let env = TestEnv::new("compat-lsm");
    if apparmor_enabled() {
        // The profile is applied: an unconfined profile must show in the process's attr.
        let out = run_sh(&env, "aa", "cat /proc/self/attr/current", |spec| {
            spec["process"]["apparmorProfile"] = json!("unconfined");
        });
        assert!(out.status.success(), "{}", describe(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("unconfined"));
    } else {
        let bundle = env.bundle("sleeper", |spec| {
            spec["process"]["apparmorProfile"] = json!("docker-default");
        });
        create_fails_cleanly(&env, &bundle, "aa", "apparmor");
        // exec --apparmor (runc's flag) cannot be applied either
        let bundle = env.bundle("sleeper", |_| {});
        env.run_ok(&["create", "--bundle", s(&bundle), "aa-exec"]);
        let err = env.run_fail(&["exec", "--apparmor", "docker-default", "aa-exec", "true"]);
        assert!(err.contains("apparmor"), "{err}");
        env.run_ok(&["delete", "--force", "aa-exec"]);
    }
    if !selinux_enabled() {
        let bundle = env.bundle("sleeper", |spec| {
            spec["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
        });
        create_fails_cleanly(&env, &bundle, "sel", "selinux");
        let bundle = env.bundle("sleeper", |spec| {
            spec["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
        });
        create_fails_cleanly(&env, &bundle, "ml", "mountLabel");
    }
}

/// The cgroup mount holds what runc's holds for the same config on this host: on a hybrid
/// host no cgroup2 `unified` mount the config did not ask for.
#[test]
fn cgroup_mount_holds_what_runcs_holds() {
    let env = TestEnv::new("compat-cgmounts");
    let bundle = sh_bundle(&env, "cat /proc/self/mountinfo", |_| {});
    let (ours, theirs) = both_ok(&env, &bundle, "cgmounts");
    let under_cgroup = |text: &str| {
        let mut v: Vec<String> = text
            .lines()
            .filter_map(|l| {
                let target = l.split(' ').nth(4)?;
                let fstype = l.split_once(" - ")?.1.split(' ').next()?;
                target
                    .starts_with("/sys/fs/cgroup")
                    .then(|| format!("{target} {fstype}"))
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(under_cgroup(&ours), under_cgroup(&theirs));
}
