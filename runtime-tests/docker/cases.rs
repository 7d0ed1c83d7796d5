//! The docker cases. Each one runs with one runtime (`ctx.rt`), records what a user of docker
//! sees (`Rec`), states runc's expected values where they are known, and removes its
//! containers. Names are unique per case and runtime, so cases run in parallel.

use std::time::{Duration, Instant};

use super::{cgroup, poll, Ctx, Rec};
use crate::common::clients::wait_listening;

pub struct Case {
    pub name: &'static str,
    pub run: fn(&Ctx, &mut Rec),
}

fn case(name: &'static str, run: fn(&Ctx, &mut Rec)) -> Case {
    Case { name, run }
}

/// Every case, the slow ones first (they start early and overlap with the rest).
pub fn all() -> Vec<Case> {
    vec![
        case("concurrent", concurrent),
        case("health", health),
        case("stop", stop),
        case("restart", restart),
        case("exit-codes", exit_codes),
        case("exec", exec),
        case("home", home),
        case("top-stats", top_stats),
        case("pause", pause),
        case("update", update),
        case("default-shares", default_shares),
        case("limits", limits),
        case("mounts", mounts),
        case("caps", caps),
        case("ulimit", ulimit),
        case("no-new-privileges", no_new_privileges),
        case("seccomp", seccomp),
        case("tty", tty),
        case("logs", logs),
        case("cp", cp),
        case("init", init),
        case("network-none", network_none),
        case("shared-namespaces", shared_namespaces),
    ]
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `docker run --rm`: exit codes of the command, and docker's codes for a command that
/// cannot be run (127 not found, 126 found but not executable).
fn exit_codes(c: &Ctx, r: &mut Rec) {
    r.out(
        "exit 0",
        &c.run(&["--rm"], &["sh", "-c", "echo hi; exit 0"]),
        Some((0, "hi\n")),
    );
    r.out(
        "exit 3",
        &c.run(&["--rm"], &["sh", "-c", "echo three; exit 3"]),
        Some((3, "three\n")),
    );
    r.out(
        "exit 255",
        &c.run(&["--rm"], &["sh", "-c", "exit 255"]),
        Some((255, "")),
    );
    r.out(
        "absolute path not found",
        &c.run(&["--rm"], &["/nonexistent"]),
        Some((127, "")),
    );
    r.out(
        "not found in PATH",
        &c.run(&["--rm"], &["nosuchcommand"]),
        Some((127, "")),
    );
    r.out(
        "not executable",
        &c.run(&["--rm"], &["/etc/passwd"]),
        Some((126, "")),
    );
    r.out("a directory", &c.run(&["--rm"], &["/tmp"]), Some((126, "")));
    // A failed start leaves no container behind (--rm).
    r.out("containers left", &c.left(), Some((0, "")));
}

/// A detached container and `docker exec`: output, exit codes, -u, -w, -e, -d, and commands
/// that cannot be run.
fn exec(c: &Ctx, r: &mut Rec) {
    let n = c.run_d(
        "d",
        &[],
        &["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"],
    );
    r.text(
        "status",
        c.d.inspect(&n, "{{.State.Status}}"),
        Some("running"),
    );
    r.out(
        "exec exit 4",
        &c.docker(&[
            "exec",
            &n,
            "sh",
            "-c",
            "echo from exec; cat /proc/1/cmdline | tr '\\0' ' '; exit 4",
        ]),
        Some((4, "from exec\nsh -c trap 'exit 0' TERM; sleep 1000 & wait ")),
    );
    r.out(
        "exec -u -w -e",
        &c.docker(&[
            "exec",
            "-u",
            "65534",
            "-w",
            "/tmp",
            "-e",
            "FOO=bar",
            &n,
            "sh",
            "-c",
            "id; pwd; echo $FOO",
        ]),
        Some((
            0,
            "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n/tmp\nbar\n",
        )),
    );
    r.out(
        "exec -u user:group",
        &c.docker(&["exec", "-u", "nobody:tty", &n, "id"]),
        Some((0, "uid=65534(nobody) gid=5(tty) groups=5(tty)\n")),
    );
    r.code(
        "exec -w to a new dir",
        &c.docker(&["exec", "-w", "/newdir", &n, "pwd"]),
        Some(126),
    );
    r.out(
        "exec -d",
        &c.docker(&["exec", "-d", &n, "sh", "-c", "echo bg > /tmp/bg"]),
        Some((0, "")),
    );
    let bg_done = poll(Duration::from_secs(10), || {
        stdout(&c.docker(&["exec", &n, "cat", "/tmp/bg"])) == "bg\n"
    });
    r.text("exec -d ran", bg_done.to_string(), Some("true"));
    r.code(
        "exec not found",
        &c.docker(&["exec", &n, "/nonexistent"]),
        Some(126),
    );
    r.code(
        "exec not in PATH",
        &c.docker(&["exec", &n, "nosuchcommand"]),
        Some(126),
    );
    r.code(
        "exec not executable",
        &c.docker(&["exec", &n, "/etc/passwd"]),
        Some(126),
    );
    c.rm(&[&n]);
}

/// HOME: from /etc/passwd for root and for a user with an entry, "/" for a uid without one,
/// and never over an explicit -e HOME; the same in exec.
fn home(c: &Ctx, r: &mut Rec) {
    let h = ["sh", "-c", "echo $HOME"];
    r.out("run: root", &c.run(&["--rm"], &h), Some((0, "/root\n")));
    r.out(
        "run: nobody",
        &c.run(&["--rm", "-u", "65534"], &h),
        Some((0, "/nonexistent\n")),
    );
    r.out(
        "run: uid without entry",
        &c.run(&["--rm", "-u", "1234"], &h),
        Some((0, "/\n")),
    );
    r.out(
        "run: -e HOME",
        &c.run(&["--rm", "-e", "HOME=/x"], &h),
        Some((0, "/x\n")),
    );
    let n = c.run_d("d", &[], &["sleep", "1000"]);
    let exec = |opts: &[&str]| {
        let mut args = vec!["exec"];
        args.extend_from_slice(opts);
        args.push(&n);
        args.extend_from_slice(&h);
        c.docker(&args)
    };
    r.out("exec: root", &exec(&[]), Some((0, "/root\n")));
    r.out(
        "exec: nobody",
        &exec(&["-u", "65534"]),
        Some((0, "/nonexistent\n")),
    );
    r.out(
        "exec: uid without entry",
        &exec(&["-u", "1234"]),
        Some((0, "/\n")),
    );
    r.out(
        "exec: -e HOME",
        &exec(&["-e", "HOME=/y"]),
        Some((0, "/y\n")),
    );
    c.rm(&[&n]);
}

/// `docker top` (the runtime's `ps` gives the PIDs) and `docker stats` (the shim reads the
/// container's cgroup).
fn top_stats(c: &Ctx, r: &mut Rec) {
    let n = c.run_d(
        "d",
        &["--memory", "64m"],
        &["sh", "-c", "sleep 1000 & wait"],
    );
    let top = || {
        let out = c.docker(&["top", &n]);
        let mut rows: Vec<String> = stdout(&out)
            .lines()
            .skip(1)
            .map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                format!(
                    "{} {}",
                    cols.first().unwrap_or(&""),
                    cols.get(7..).unwrap_or(&[]).join(" ")
                )
            })
            .collect();
        rows.sort();
        rows.join("\n")
    };
    poll(Duration::from_secs(10), || top().lines().count() == 2);
    r.text(
        "top",
        top(),
        Some("root sh -c sleep 1000 & wait\nroot sleep 1000"),
    );
    let stats = c.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}} {{.MemUsage}}",
        &n,
    ]);
    let text = stdout(&stats);
    let fields: Vec<&str> = text.split_whitespace().collect();
    // "NAME PIDS USED / LIMIT": the usage varies, the rest must not.
    let stable = match fields.as_slice() {
        [name, pids, _, "/", limit] => format!("{} {pids} {limit}", name == &n),
        _ => text.clone(),
    };
    r.text_detail(
        "stats",
        stable,
        Some("true 2 64MiB"),
        String::from_utf8_lossy(&stats.stderr),
    );
    c.rm(&[&n]);
}

/// pause/unpause: docker's status, the host's freezer, exec refused while paused.
fn pause(c: &Ctx, r: &mut Rec) {
    let n = c.run_d("d", &[], &["sleep", "1000"]);
    let cg = c.d.cgroup_of(&n);
    r.code("pause", &c.docker(&["pause", &n]), Some(0));
    r.text(
        "status after pause",
        c.d.inspect(&n, "{{.State.Status}}"),
        Some("paused"),
    );
    r.text(
        "host freezer after pause",
        cgroup::frozen(&cg),
        Some("true"),
    );
    let out = c.docker(&["exec", &n, "true"]);
    r.text(
        "exec while paused fails",
        (!out.status.success()).to_string(),
        Some("true"),
    );
    r.code("unpause", &c.docker(&["unpause", &n]), Some(0));
    r.text(
        "status after unpause",
        c.d.inspect(&n, "{{.State.Status}}"),
        Some("running"),
    );
    r.text(
        "host freezer after unpause",
        cgroup::frozen(&cg),
        Some("false"),
    );
    r.out(
        "exec after unpause",
        &c.docker(&["exec", &n, "echo", "ok"]),
        Some((0, "ok\n")),
    );
    c.rm(&[&n]);
}

/// Whether `pid` catches SIGTERM (SigCgt in /proc/PID/status has bit 15).
fn catches_term(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & (1 << 14) != 0)
}

/// `docker stop`: a TERM trap's exit code, well before the 10 s timeout; `stop -t 1` on an
/// init that ignores TERM: SIGKILL after about 1 s (137).
fn stop(c: &Ctx, r: &mut Rec) {
    let n = c.run_d(
        "trap",
        &[],
        &["sh", "-c", "trap 'exit 7' TERM; sleep 1000 & wait"],
    );
    let pid = c.pid(&n);
    r.text(
        "trap set",
        poll(Duration::from_secs(10), || catches_term(pid)).to_string(),
        Some("true"),
    );
    let t = Instant::now();
    r.code("stop", &c.docker(&["stop", &n]), Some(0));
    r.text(
        "stopped by TERM, not the timeout",
        (t.elapsed() < Duration::from_secs(8)).to_string(),
        Some("true"),
    );
    r.text(
        "state after stop",
        c.d.inspect(&n, "{{.State.Status}} {{.State.ExitCode}}"),
        Some("exited 7"),
    );
    // sleep as PID 1 has no TERM handler: the kernel ignores TERM for a namespace's init.
    let m = c.run_d("ignore", &[], &["sleep", "1000"]);
    let t = Instant::now();
    r.code("stop -t 1", &c.docker(&["stop", "-t", "1", &m]), Some(0));
    let took = t.elapsed();
    r.text_detail(
        "stop -t 1 killed after about 1 s",
        (took >= Duration::from_millis(900) && took < Duration::from_secs(8)).to_string(),
        Some("true"),
        format!("{took:?}"),
    );
    r.text(
        "state after stop -t 1",
        c.d.inspect(&m, "{{.State.Status}} {{.State.ExitCode}}"),
        Some("exited 137"),
    );
    r.code("start again", &c.docker(&["start", &n]), Some(0));
    r.text(
        "status after start",
        c.d.inspect(&n, "{{.State.Status}}"),
        Some("running"),
    );
    c.rm(&[&n, &m]);
}

/// `--restart on-failure:2`: two restarts, then exited with the command's code.
fn restart(c: &Ctx, r: &mut Rec) {
    let n = c.run_d("d", &["--restart", "on-failure:2"], &["sh", "-c", "exit 5"]);
    let state = || {
        c.d.inspect(
            &n,
            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
        )
    };
    poll(Duration::from_secs(20), || state() == "2 exited 5");
    r.text("after the restarts", state(), Some("2 exited 5"));
    c.rm(&[&n]);
}

/// `docker update`: --memory alone, --cpus alone, both; each time the cgroup files are read
/// back and the limits not given stay as they were (docker sends zeros for them).
fn update(c: &Ctx, r: &mut Rec) {
    let n = c.run_d(
        "d",
        &["--memory", "64m", "--cpus", "0.5", "--pids-limit", "100"],
        &["sleep", "1000"],
    );
    let cg = c.d.cgroup_of(&n);
    let shares = cgroup::default_shares(&cg);
    let want =
        |mem: u64, quota: u64| format!("memory={} cpu={quota} 100000 pids=100 {shares}", mem << 20);
    r.text("at create", cgroup::limits(&cg), Some(&want(64, 50000)));
    r.code(
        "update --memory",
        &c.docker(&["update", "--memory", "96m", &n]),
        Some(0),
    );
    r.text(
        "after --memory",
        cgroup::limits(&cg),
        Some(&want(96, 50000)),
    );
    r.code(
        "update --cpus",
        &c.docker(&["update", "--cpus", "1.5", &n]),
        Some(0),
    );
    r.text("after --cpus", cgroup::limits(&cg), Some(&want(96, 150000)));
    r.code(
        "update both",
        &c.docker(&["update", "--memory", "48m", "--cpus", "0.25", &n]),
        Some(0),
    );
    r.text("after both", cgroup::limits(&cg), Some(&want(48, 25000)));
    r.out(
        "still running",
        &c.docker(&["exec", &n, "echo", "ok"]),
        Some((0, "ok\n")),
    );
    c.rm(&[&n]);
}

/// No resource flags: docker sends zero shares, memory, quota; the cgroup keeps the kernel's
/// defaults.
fn default_shares(c: &Ctx, r: &mut Rec) {
    let n = c.run_d("d", &[], &["sleep", "1000"]);
    let cg = c.d.cgroup_of(&n);
    let want = format!(
        "memory=max cpu=max 100000 pids=max {}",
        cgroup::default_shares(&cg)
    );
    r.text("limits", cgroup::limits(&cg), Some(&want));
    c.rm(&[&n]);
}

/// --memory, --cpus, --pids-limit, --cpuset-cpus, --cpu-shares in the host's cgroup files and
/// as the container sees them.
fn limits(c: &Ctx, r: &mut Rec) {
    let n = c.run_d(
        "d",
        &[
            "--memory",
            "32m",
            "--cpus",
            "1.5",
            "--pids-limit",
            "50",
            "--cpuset-cpus",
            "0",
            "--cpu-shares",
            "512",
        ],
        &["sleep", "1000"],
    );
    let cg = c.d.cgroup_of(&n);
    let want = format!(
        "memory={} cpu=150000 100000 pids=50 {}",
        32u64 << 20,
        cgroup::shares_for(&cg, 512)
    );
    r.text("limits", cgroup::limits(&cg), Some(&want));
    r.text("cpuset", cgroup::cpuset(&cg), Some("0"));
    r.out(
        "nproc inside",
        &c.docker(&["exec", &n, "nproc"]),
        Some((0, "1\n")),
    );
    c.rm(&[&n]);
}

/// --read-only, --tmpfs on an existing and on a new directory (written by a non-root user),
/// -v ro and rw, and the mount flags of these and of /dev/shm.
fn mounts(c: &Ctx, r: &mut Rec) {
    let host = c.d.host_dir(&format!("mounts-{}", c.rt));
    let ro = host.join("ro");
    let rw = host.join("rw");
    for d in [&ro, &rw] {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
    }
    std::fs::write(ro.join("f"), "ro-data\n").unwrap_or_else(|e| panic!("write: {e}"));
    let vro = format!("{}:/ro:ro", ro.display());
    let vrw = format!("{}:/rw", rw.display());
    let opts = [
        "--rm",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/newdir",
        "-v",
        &vro,
        "-v",
        &vrw,
    ];
    let script = "touch /x 2>/dev/null && echo rootfs-writable || echo rootfs-ro; \
                  cat /ro/f; touch /ro/g 2>/dev/null && echo ro-writable || echo ro-ro; \
                  echo rw-data > /rw/f && echo rw-written; \
                  stat -c '%n %a %u' /tmp /newdir; \
                  flags() { printf '%s: ' $1; awk -v m=$1 '$2 == m {print $4}' /proc/mounts \
                      | tail -n 1 | tr ',' '\\n' | grep -E \"^($2)$\" | sort | tr '\\n' ' '; echo; }; \
                  for m in / /ro /rw; do flags $m 'ro|rw'; done; \
                  for m in /tmp /newdir /dev/shm; do flags $m 'ro|rw|nosuid|nodev|noexec|mode=.*'; done; \
                  awk '$3 == \"tmpfs\" {print $2}' /proc/mounts | grep -E '^/(tmp|newdir|dev/shm)$' | sort";
    r.out(
        "as root",
        &c.run(&opts, &["sh", "-c", script]),
        Some((
            0,
            "rootfs-ro\nro-data\nro-ro\nrw-written\n/tmp 1777 0\n/newdir 1777 0\n\
             /: ro \n/ro: ro \n/rw: rw \n/tmp: nodev noexec nosuid rw \n\
             /newdir: nodev noexec nosuid rw \n/dev/shm: nodev noexec nosuid rw \n\
             /dev/shm\n/newdir\n/tmp\n",
        )),
    );
    r.text(
        "the rw volume's file on the host",
        std::fs::read_to_string(rw.join("f")).unwrap_or_default(),
        Some("rw-data\n"),
    );
    let mut as_user = vec!["-u", "65534"];
    as_user.extend_from_slice(&opts);
    r.out(
        "as a non-root user",
        &c.run(&as_user, &["sh", "-c", "echo a > /tmp/f && echo tmp-ok; echo b > /newdir/f && echo newdir-ok; \
                               echo c > /dev/shm/f && echo shm-ok; touch /rw/u 2>/dev/null || echo rw-refused"]),
        Some((0, "tmp-ok\nnewdir-ok\nshm-ok\nrw-refused\n")),
    );
}

/// Capabilities: docker's default set, --cap-drop ALL, --cap-add, and a non-root user.
fn caps(c: &Ctx, r: &mut Rec) {
    let show = [
        "sh",
        "-c",
        "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status | tr '\\t' ' '",
    ];
    let want = |prm: &str, bnd: &str| {
        format!("CapInh: 0000000000000000\nCapPrm: {prm}\nCapEff: {prm}\nCapBnd: {bnd}\nCapAmb: 0000000000000000\n")
    };
    let default = "00000000a80425fb";
    r.out(
        "default",
        &c.run(&["--rm"], &show),
        Some((0, &want(default, default))),
    );
    let none = "0000000000000000";
    r.out(
        "--cap-drop ALL",
        &c.run(&["--rm", "--cap-drop", "ALL"], &show),
        Some((0, &want(none, none))),
    );
    let two = "0000000000001001";
    r.out(
        "--cap-drop ALL --cap-add CHOWN,NET_ADMIN",
        &c.run(
            &[
                "--rm",
                "--cap-drop",
                "ALL",
                "--cap-add",
                "CHOWN",
                "--cap-add",
                "NET_ADMIN",
            ],
            &show,
        ),
        Some((0, &want(two, two))),
    );
    r.out(
        "non-root with --cap-add NET_ADMIN",
        &c.run(&["--rm", "-u", "65534", "--cap-add", "NET_ADMIN"], &show),
        Some((0, &want(none, "00000000a80435fb"))),
    );
    r.out(
        "--cap-drop CHOWN: chown refused",
        &c.run(
            &["--rm", "--cap-drop", "CHOWN"],
            &[
                "sh",
                "-c",
                "touch /f; chown 65534 /f 2>/dev/null || echo refused",
            ],
        ),
        Some((0, "refused\n")),
    );
}

/// --ulimit soft:hard pairs.
fn ulimit(c: &Ctx, r: &mut Rec) {
    r.out(
        "--ulimit",
        &c.run(
            &[
                "--rm",
                "--ulimit",
                "nofile=1024:2048",
                "--ulimit",
                "nproc=500:600",
                "--ulimit",
                "core=0:0",
            ],
            &[
                "sh",
                "-c",
                "ulimit -Sn; ulimit -Hn; ulimit -Su; ulimit -Hu; ulimit -c",
            ],
        ),
        Some((0, "1024\n2048\n500\n600\n0\n")),
    );
}

fn no_new_privileges(c: &Ctx, r: &mut Rec) {
    let nnp = [
        "sh",
        "-c",
        "grep NoNewPrivs /proc/self/status | tr '\\t' ' '",
    ];
    r.out(
        "default",
        &c.run(&["--rm"], &nnp),
        Some((0, "NoNewPrivs: 0\n")),
    );
    r.out(
        "--security-opt no-new-privileges",
        &c.run(&["--rm", "--security-opt", "no-new-privileges"], &nnp),
        Some((0, "NoNewPrivs: 1\n")),
    );
}

/// A custom seccomp profile (mkdir refused with EPERM, the rest allowed), unconfined, and
/// docker's default profile.
fn seccomp(c: &Ctx, r: &mut Rec) {
    let profile =
        c.d.host_dir(&format!("seccomp-{}", c.rt))
            .join("profile.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    )
    .unwrap_or_else(|e| panic!("write {}: {e}", profile.display()));
    let script = [
        "sh",
        "-c",
        "grep '^Seccomp:' /proc/self/status | tr '\\t' ' '; \
                   mkdir /tmp/d 2>&1 && echo made; touch /tmp/f && echo touched",
    ];
    let opt = format!("seccomp={}", profile.display());
    r.out(
        "custom profile",
        &c.run(&["--rm", "--security-opt", &opt], &script),
        Some((0, "Seccomp: 2\nmkdir: can't create directory '/tmp/d': Operation not permitted\ntouched\n")),
    );
    r.out(
        "unconfined",
        &c.run(&["--rm", "--security-opt", "seccomp=unconfined"], &script),
        Some((0, "Seccomp: 0\nmade\ntouched\n")),
    );
    r.out(
        "docker's default profile",
        &c.run(
            &["--rm"],
            &[
                "sh",
                "-c",
                "grep '^Seccomp:' /proc/self/status | tr '\\t' ' '",
            ],
        ),
        Some((0, "Seccomp: 2\n")),
    );
}

/// -t: the command's stdio is a terminal, and its exit code comes through.
fn tty(c: &Ctx, r: &mut Rec) {
    r.out(
        "run -t",
        &c.run(
            &["--rm", "-t"],
            &[
                "sh",
                "-c",
                "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-tty; exit 2",
            ],
        ),
        Some((2, "/dev/pts/0\r\nstdio-is-a-tty\r\n")),
    );
}

/// `docker logs`: stdout and stderr kept apart.
fn logs(c: &Ctx, r: &mut Rec) {
    let n = c.run_d(
        "d",
        &[],
        &["sh", "-c", "echo out1; echo err1 >&2; echo out2"],
    );
    r.out("wait", &c.docker(&["wait", &n]), Some((0, "0\n")));
    let out = c.docker(&["logs", &n]);
    r.out("logs: stdout", &out, Some((0, "out1\nout2\n")));
    r.text(
        "logs: stderr",
        String::from_utf8_lossy(&out.stderr),
        Some("err1\n"),
    );
    c.rm(&[&n]);
}

/// `docker cp` both ways on a running container.
fn cp(c: &Ctx, r: &mut Rec) {
    let host = c.d.host_dir(&format!("cp-{}", c.rt));
    std::fs::write(host.join("in"), "to the container\n").unwrap_or_else(|e| panic!("write: {e}"));
    let n = c.run_d("d", &[], &["sleep", "1000"]);
    let src = host.join("in").display().to_string();
    r.code(
        "cp in",
        &c.docker(&["cp", &src, &format!("{n}:/tmp/in")]),
        Some(0),
    );
    r.out(
        "read inside",
        &c.docker(&["exec", &n, "cat", "/tmp/in"]),
        Some((0, "to the container\n")),
    );
    r.code(
        "write inside",
        &c.docker(&["exec", &n, "sh", "-c", "echo from the container > /tmp/out"]),
        Some(0),
    );
    let dst = host.join("out").display().to_string();
    r.code(
        "cp out",
        &c.docker(&["cp", &format!("{n}:/tmp/out"), &dst]),
        Some(0),
    );
    r.text(
        "read on the host",
        std::fs::read_to_string(&dst).unwrap_or_default(),
        Some("from the container\n"),
    );
    c.rm(&[&n]);
}

/// A healthcheck (an exec every 500 ms): unhealthy, then healthy once its file exists.
fn health(c: &Ctx, r: &mut Rec) {
    let n = c.run_d(
        "d",
        &[
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            "500ms",
            "--health-retries",
            "1",
            "--health-timeout",
            "5s",
        ],
        &["sleep", "1000"],
    );
    let status = || c.d.inspect(&n, "{{.State.Health.Status}}");
    poll(Duration::from_secs(20), || status() == "unhealthy");
    r.text("without the file", status(), Some("unhealthy"));
    r.code(
        "touch",
        &c.docker(&["exec", &n, "touch", "/tmp/ok"]),
        Some(0),
    );
    poll(Duration::from_secs(20), || status() == "healthy");
    r.text("with the file", status(), Some("healthy"));
    c.rm(&[&n]);
}

/// --init: docker-init (tini) is PID 1, runs the command, passes its exit code on.
fn init(c: &Ctx, r: &mut Rec) {
    r.out(
        "--init",
        &c.run(&["--rm", "--init"], &["sh", "-c", "cat /proc/1/comm; cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 9"]),
        Some((9, "docker-init\n/sbin/docker-init -- sh -c cat /proc/1/comm; cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 9 \n")),
    );
}

/// --network none: only lo; the hostname given.
fn network_none(c: &Ctx, r: &mut Rec) {
    r.out(
        "--network none",
        &c.run(
            &["--rm", "--network", "none", "--hostname", "h1"],
            &["sh", "-c", "ip -o link | awk -F': ' '{print $2}'; ip -o -4 addr | awk '{print $2, $4}'; hostname"],
        ),
        Some((0, "lo\nlo 127.0.0.1/8\nh1\n")),
    );
}

/// Readlink of a namespace of `pid` ("net:[N]").
fn ns_of(pid: i32, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// The pause model docker offers: a container P holding the namespaces, a member joining its
/// network, IPC and PID namespaces (`container:P`): same inodes, localhost and /dev/shm shared,
/// P's processes visible.
fn shared_namespaces(c: &Ctx, r: &mut Rec) {
    let p = c.run_d(
        "p",
        &["--ipc", "shareable"],
        &["sh", "-c", "mkdir -p /www && echo hello-pod > /www/index.html && echo shm-ok > /dev/shm/marker && \
                       trap 'exit 0' TERM; httpd -f -p 127.0.0.1:8080 -h /www & wait"],
    );
    let pid = c.pid(&p);
    wait_listening(pid, 8080, &format!("httpd of {p} to listen"));
    let joined = format!("container:{p}");
    let out = c.run(
        &[
            "--rm",
            "--network",
            &joined,
            "--ipc",
            &joined,
            "--pid",
            &joined,
        ],
        &[
            "sh",
            "-c",
            "timeout 5 wget -q -O - http://127.0.0.1:8080/; echo wget=$?; cat /dev/shm/marker; \
                       for n in net ipc pid; do readlink /proc/self/ns/$n; done; \
                       ps -o comm | grep -c httpd; ip -o link | awk -F': ' '{print $2}'",
        ],
    );
    let mut text = stdout(&out);
    for ns in ["net", "ipc", "pid"] {
        let own = ns_of(pid, ns);
        if !own.is_empty() {
            text = text.replace(&own, &format!("{ns}:P"));
        }
    }
    r.text_detail(
        "member joined to P",
        show_code(out.status.code(), &text),
        Some(&show_code(
            Some(0),
            "hello-pod\nwget=0\nshm-ok\nnet:P\nipc:P\npid:P\n1\nlo\n",
        )),
        String::from_utf8_lossy(&out.stderr),
    );
    c.rm(&[&p]);
}

fn show_code(code: Option<i32>, s: &str) -> String {
    super::show(code, s)
}

/// 20 `docker run --rm` at once: all succeed with their own output, none is left.
fn concurrent(c: &Ctx, r: &mut Rec) {
    const N: usize = 20;
    let results: Vec<(usize, std::process::Output)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                s.spawn(move || {
                    let name = c.name(&i.to_string());
                    let msg = format!("member-{i}");
                    (i, c.run(&["--rm", "--name", &name], &["echo", &msg]))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("docker run thread"))
            .collect()
    });
    let bad: Vec<String> = results
        .iter()
        .filter(|(i, o)| !(o.status.success() && stdout(o) == format!("member-{i}\n")))
        .map(|(i, o)| format!("#{i}: {}", crate::common::describe(o)))
        .collect();
    r.text_detail(
        "runs that gave their output",
        (N - bad.len()).to_string(),
        Some("20"),
        bad.join("\n"),
    );
    r.out("containers left", &c.left(), Some((0, "")));
}
