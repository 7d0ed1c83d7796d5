#!/bin/bash
# The systemd lane's cases (scripts/vm-systemd.sh), run by podrun-cases.service inside the VM
# where systemd is PID 1. Every case runs with podrun and with Debian's runc (the reference),
# both with --systemd-cgroup, and prints
#   PODRUN-CASE <name> PASS|FAIL <detail>
# The VM powers off when this script ends (the unit's SuccessAction/FailureAction).
set -u
export PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
P=/usr/local/lib/podrun
W=/run/podrun-cases
mkdir -p "$W"
LAYOUT=$(sed -n 's/.*podrun\.layout=\([a-z0-9]*\).*/\1/p' /proc/cmdline)
# The systemd hierarchy (scopes live there) and where a controller's files are.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    SD=/sys/fs/cgroup
    ctl() { echo /sys/fs/cgroup; }
else
    SD=/sys/fs/cgroup/systemd
    ctl() {
        case $1 in
        memory) echo /sys/fs/cgroup/memory ;;
        pids) echo /sys/fs/cgroup/pids ;;
        cpu) echo /sys/fs/cgroup/cpu,cpuacct ;;
        freezer) echo /sys/fs/cgroup/freezer ;;
        esac
    }
fi
V2=0
[ "$SD" = /sys/fs/cgroup ] && V2=1

result() { printf 'PODRUN-CASE %s %s %s\n' "$1" "$2" "$(printf '%s' "${3:-}" | tr '\n' ' ' | cut -c1-400)"; }
pass() { result "$1" PASS "${2:-}"; }
fail() { result "$1" FAIL "${2:-}"; }

rt() { # rt RUNTIME ARGS...: the runtime with its own state root and the systemd driver
    local r=$1
    shift
    "$r" --root "$W/state-$r" --systemd-cgroup "$@"
}
# do_rt RUNTIME ARGS...: rt with its output in $out. Never through $(...): a detached
# container keeps the stdio it was given, and a pipe would stay open until it exits.
do_rt() {
    rt "$@" >"$W/rt.out" 2>&1 </dev/null
    local c=$?
    out=$(cat "$W/rt.out")
    return $c
}

# bundle ID CGROUPSPATH ARGS_JSON [JQ]: a bundle dir for one container.
bundle() {
    local d=$W/bundles/$1
    mkdir -p "$d"
    jq --arg cg "$2" --argjson args "$3" --arg root "$P/rootfs" \
        ".root.path = \$root | .process.args = \$args | .linux.cgroupsPath = \$cg | ${4:-.}" \
        "$P/base.json" >"$d/config.json"
    echo "$d"
}

status_of() { rt "$1" state "$2" 2>/dev/null | jq -r .status; }
pid_of() { rt "$1" state "$2" 2>/dev/null | jq -r .pid; }
unit_listed() { systemctl list-units --all --no-legend --plain "$1" 2>/dev/null | grep -q "$1"; }
wait_status() { # RUNTIME ID STATUS
    local i
    for i in $(seq 1 100); do
        [ "$(status_of "$1" "$2")" = "$3" ] && return 0
        sleep 0.05
    done
    return 1
}
# gone UNIT CGROUP_DIR: neither the unit nor its cgroup is left.
gone() {
    local i
    for i in $(seq 1 50); do
        if ! unit_listed "$1" && [ ! -d "$2" ]; then return 0; fi
        sleep 0.1
    done
    return 1
}

SLEEP='["sleep","600"]'

# A detached container through create/start/kill/delete with cgroupsPath $2; checks the
# unit, its cgroup, `systemctl status`, and that delete leaves no unit and no cgroup.
lifecycle() { # NAME CGROUPSPATH UNIT CGDIR RUNTIME
    local name=$1 cgp=$2 unit=$3 dir=$4 r=$5 id b pid out
    id=${cgp##*:}
    b=$(bundle "$id" "$cgp" "$SLEEP")
    do_rt "$r" create --no-pivot -b "$b" "$id" || { fail "$name" "create: $out"; return; }
    pid=$(pid_of "$r" "$id")
    if [ "$(systemctl is-active "$unit")" != active ]; then
        fail "$name" "unit $unit not active after create: $(systemctl status "$unit" 2>&1 | head -5)"
    elif ! grep -qx "$pid" "$dir/cgroup.procs" 2>/dev/null; then
        fail "$name" "init $pid not in $dir/cgroup.procs: $(cat "$dir/cgroup.procs" 2>&1)"
    elif ! do_rt "$r" start "$id"; then
        fail "$name" "start: $out"
    elif ! wait_status "$r" "$id" running; then
        fail "$name" "not running after start"
    elif ! { sleep 0.3; systemctl status --no-pager -l "$unit" 2>&1 | grep -q 'sleep 600'; }; then
        fail "$name" "systemctl status shows no 'sleep 600': $(systemctl status --no-pager "$unit" 2>&1 | head -12)"
    elif ! do_rt "$r" kill "$id" KILL || ! wait_status "$r" "$id" stopped; then
        fail "$name" "kill: $out status $(status_of "$r" "$id")"
    elif ! do_rt "$r" delete "$id"; then
        fail "$name" "delete: $out"
    elif ! gone "$unit" "$dir"; then
        fail "$name" "after delete: $(systemctl list-units --all --no-legend --plain "$unit") dir $(ls -d "$dir" 2>&1)"
    else
        pass "$name" "$unit at ${dir#/sys/fs/cgroup}"
        touch "$W/passed-$name"
    fi
    rt "$r" delete --force "$id" >/dev/null 2>&1
}

# Slices that were not active before a runtime ran: podrun stops those it started; runc
# leaves them, so they are stopped here after its case.
slice_active() { [ "$(systemctl is-active "$1" 2>/dev/null)" = active ]; }
# no_slices_left NAME SLICE...: podrun left none of the slices it caused.
no_slices_left() {
    local name=$1 s left=
    shift
    for s in "$@"; do
        unit_listed "$s" && slice_active "$s" && left="$left $s"
    done
    if [ ! -f "$W/passed-kubernetes_form_podrun" ]; then
        fail "$name" "the Kubernetes form case did not pass: nothing to check"
    elif [ -n "$left" ]; then fail "$name" "slices left:$left"; else pass "$name" "none of:$*"; fi
}

case_forms() { # RUNTIME
    local r=$1 uid
    lifecycle "docker_form_$r" "system.slice:docker:dk-$r" "docker-dk-$r.scope" \
        "$SD/system.slice/docker-dk-$r.scope" "$r"
    local machine_before=0
    slice_active machine.slice && machine_before=1
    lifecycle "podman_form_$r" "machine.slice:libpod:pm-$r" "libpod-pm-$r.scope" \
        "$SD/machine.slice/libpod-pm-$r.scope" "$r"
    uid=1a2b3c4d_$r
    lifecycle "kubernetes_form_$r" "kubepods-besteffort-pod$uid.slice:cri-containerd:k8-$r" \
        "cri-containerd-k8-$r.scope" \
        "$SD/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod$uid.slice/cri-containerd-k8-$r.scope" "$r"
    if [ "$r" = podrun ]; then
        local slices="kubepods.slice kubepods-besteffort.slice kubepods-besteffort-pod$uid.slice"
        [ "$machine_before" = 0 ] && slices="$slices machine.slice"
        # shellcheck disable=SC2086
        no_slices_left slices_removed_podrun $slices
    else
        systemctl stop "kubepods.slice" >/dev/null 2>&1
        [ "$machine_before" = 0 ] && systemctl stop machine.slice >/dev/null 2>&1
        # runc also leaves the slices' dirs in the v1 hierarchies systemd does not manage
        # (cpuset, freezer, ...): a later case would find another cgroup in them.
        local h
        for h in /sys/fs/cgroup/*/; do
            [ -d "$h/kubepods.slice" ] && find "$h/kubepods.slice" -depth -type d -exec rmdir {} + 2>/dev/null
            [ "$machine_before" = 0 ] && [ -d "$h/machine.slice" ] &&
                find "$h/machine.slice" -depth -type d -exec rmdir {} + 2>/dev/null
        done
    fi
}

# run in the foreground with the default cgroupsPath (system.slice:<runtime>:<id>) and a
# device check: /dev/null and /dev/zero allowed, a block device denied.
case_run() { # RUNTIME
    local r=$1 id=run-$1 b out unit
    b=$(bundle "$id" "" '["sh","-c","head -c 4 /dev/zero | wc -c; echo x >/dev/null && echo null-ok; mknod /dev/blk b 7 0 && head -c 1 /dev/blk 2>&1; cat /proc/self/cgroup"]' \
        'del(.linux.cgroupsPath)')
    out=$(rt "$r" run --no-pivot -b "$b" "$id" 2>&1 </dev/null)
    local code=$?
    unit="$r-$id.scope"
    if [ "$code" != 0 ]; then
        fail "run_default_path_$r" "exit $code: $out"
    elif ! printf '%s' "$out" | grep -Eq '^ *4$' || ! printf '%s' "$out" | grep -q null-ok; then
        fail "run_default_path_$r" "allowed devices failed: $out"
    elif ! printf '%s' "$out" | grep -q 'Operation not permitted'; then
        fail "run_default_path_$r" "block device 7:0 was not denied: $out"
    elif ! printf '%s' "$out" | grep -q "^0::/system.slice/$unit\$\|:name=systemd:/system.slice/$unit\$"; then
        fail "run_default_path_$r" "not in the scope $unit (system.slice:$r:$id): $out"
    elif ! gone "$unit" "$SD/system.slice/$unit"; then
        fail "run_default_path_$r" "unit $unit left after run"
    else
        pass "run_default_path_$r" "$(printf '%s' "$out" | tail -n1)"
    fi
}

# Limits at create, read back from the scope's files and from `systemctl show`; then update,
# pause/resume and kill on the same container.
case_limits() { # RUNTIME
    local r=$1 id=lim-$1 b unit dir out show
    unit="docker-$id.scope"
    dir=$SD/system.slice/$unit
    b=$(bundle "$id" "system.slice:docker:$id" "$SLEEP" \
        '.linux.resources.memory = {limit: 67108864} | .linux.resources.pids = {limit: 42}
         | .linux.resources.cpu = {shares: 1024, quota: 50000, period: 100000}')
    if ! do_rt "$r" run -d --no-pivot -b "$b" "$id"; then
        fail "limits_$r" "run: $out"
        return
    fi
    show() { systemctl show -p MemoryMax -p TasksMax -p CPUWeight -p CPUShares -p MemoryLimit -p CPUQuotaPerSecUSec -p CPUQuotaPeriodUSec "$unit" | sort | tr '\n' ' '; }
    files() {
        if [ "$V2" = 1 ]; then
            echo "memory.max=$(cat "$dir/memory.max") pids.max=$(cat "$dir/pids.max") cpu.weight=$(cat "$dir/cpu.weight") cpu.max=$(cat "$dir/cpu.max")"
        else
            echo "memory.limit=$(cat "$(ctl memory)/system.slice/$unit/memory.limit_in_bytes") pids.max=$(cat "$(ctl pids)/system.slice/$unit/pids.max") cpu.shares=$(cat "$(ctl cpu)/system.slice/$unit/cpu.shares") cpu.quota=$(cat "$(ctl cpu)/system.slice/$unit/cpu.cfs_quota_us")"
        fi
    }
    show=$(show)
    out=$(files 2>&1)
    printf '%s | %s\n' "$out" "$show" >"$W/limits-$r"
    local want_files want_show
    if [ "$V2" = 1 ]; then
        want_files="memory.max=67108864 pids.max=42 cpu.weight=39 cpu.max=50000 100000"
        want_show="CPUWeight=39"
    else
        want_files="memory.limit=67108864 pids.max=42 cpu.shares=1024 cpu.quota=50000"
        want_show="CPUShares=1024"
    fi
    if [ "$out" != "$want_files" ]; then
        fail "limits_$r" "files: $out (want $want_files)"
    elif ! printf '%s' "$show" | grep -q "TasksMax=42" || ! printf '%s' "$show" | grep -q "$want_show" ||
        ! printf '%s' "$show" | grep -q "CPUQuotaPerSecUSec=500ms" ||
        ! printf '%s' "$show" | grep -Eq "(MemoryMax|MemoryLimit)=67108864"; then
        fail "limits_$r" "systemctl show: $show"
    else
        pass "limits_$r" "$out | $show"
    fi

    # update: through SetUnitProperties and the files
    if ! do_rt "$r" update --memory 134217728 --pids-limit 50 --cpu-quota 20000 "$id"; then
        fail "update_$r" "update: $out"
    else
        show=$(show)
        out=$(files 2>&1)
        printf '%s | %s\n' "$out" "$show" >"$W/update-$r"
        if ! printf '%s' "$out" | grep -Eq "memory.(max|limit)=134217728 pids.max=50"; then
            fail "update_$r" "files: $out"
        elif ! printf '%s' "$show" | grep -q "TasksMax=50" || ! printf '%s' "$show" | grep -Eq "(MemoryMax|MemoryLimit)=134217728" ||
            ! printf '%s' "$show" | grep -q "CPUQuotaPerSecUSec=200ms"; then
            fail "update_$r" "systemctl show: $show"
        else
            pass "update_$r" "$out | $show"
        fi
    fi

    # pause/resume: the scope's freezer
    local frozen
    frozen() {
        if [ "$V2" = 1 ]; then sed -n 's/^frozen //p' "$dir/cgroup.events"; else
            [ "$(cat "$(ctl freezer)/system.slice/$unit/freezer.state")" = FROZEN ] && echo 1 || echo 0
        fi
    }
    if ! do_rt "$r" pause "$id" || [ "$(status_of "$r" "$id")" != paused ] || [ "$(frozen)" != 1 ]; then
        fail "pause_resume_$r" "pause: $out status $(status_of "$r" "$id") frozen $(frozen)"
    elif ! do_rt "$r" resume "$id" || [ "$(status_of "$r" "$id")" != running ] || [ "$(frozen)" != 0 ]; then
        fail "pause_resume_$r" "resume: $out status $(status_of "$r" "$id") frozen $(frozen)"
    else
        pass "pause_resume_$r"
    fi

    # kill, then delete: no unit, no cgroup
    if ! do_rt "$r" kill "$id" KILL || ! wait_status "$r" "$id" stopped; then
        fail "kill_$r" "kill: $out status $(status_of "$r" "$id")"
    else
        pass "kill_$r"
    fi
    if ! do_rt "$r" delete "$id"; then
        fail "delete_leaves_no_unit_$r" "delete: $out"
    elif ! gone "$unit" "$dir"; then
        fail "delete_leaves_no_unit_$r" "$(systemctl list-units --all --no-legend --plain "$unit") $(ls -d "$dir" 2>&1)"
    else
        pass "delete_leaves_no_unit_$r"
    fi
    rt "$r" delete --force "$id" >/dev/null 2>&1
}

compare() { # NAME FILE
    if [ -f "$W/$2-podrun" ] && [ "$(cat "$W/$2-podrun")" = "$(cat "$W/$2-runc" 2>/dev/null)" ]; then
        pass "$1" "$(cat "$W/$2-podrun")"
    else
        fail "$1" "podrun: $(cat "$W/$2-podrun" 2>&1) runc: $(cat "$W/$2-runc" 2>&1)"
    fi
}

# A pod (pause + two members) in a Kubernetes pod slice: every scope in it, then
# `pod delete --force` leaves no unit and no slice.
case_pod() {
    local slice=kubepods-besteffort-podfeed01.slice out b i units
    local sdir=$SD/kubepods.slice/kubepods-besteffort.slice/$slice
    if ! do_rt podrun pod create --no-network --cgroups-path "$slice:cri-containerd:pause01" pod01; then
        fail pod_two_containers "pod create: $out"
        return
    fi
    for i in 1 2; do
        b=$(bundle "member0$i" "$slice:cri-containerd:member0$i" "$SLEEP")
        do_rt podrun run -d --no-pivot --pod pod01 -b "$b" "member0$i" || fail pod_two_containers "member $i: $out"
    done
    units="cri-containerd-pause01.scope cri-containerd-member01.scope cri-containerd-member02.scope"
    local bad=
    for u in $units; do
        # (cgroup files report size 0: read them)
        [ "$(systemctl is-active "$u")" = active ] && grep -q . "$sdir/$u/cgroup.procs" || bad="$bad $u"
    done
    local status
    status=$(systemctl status --no-pager -l "$slice" 2>&1)
    if [ -n "$bad" ]; then
        fail pod_two_containers "not active or empty:$bad"
    elif [ "$(printf '%s' "$status" | grep -c 'sleep 600')" -lt 2 ]; then
        fail pod_two_containers "systemctl status $slice: $(printf '%s' "$status" | head -15)"
    else
        pass pod_two_containers "$units in $slice"
    fi
    do_rt podrun pod delete --force pod01
    local left=
    for u in $units $slice kubepods-besteffort.slice kubepods.slice; do
        unit_listed "$u" && left="$left $u"
    done
    if [ -n "$left" ] || [ -d "$SD/kubepods.slice" ]; then
        fail pod_delete_leaves_nothing "$out left:$left $(ls -d "$SD/kubepods.slice" 2>&1)"
    else
        pass pod_delete_leaves_nothing
    fi
}

# A second container with the cgroupsPath of a running one: refused, and the first one's unit
# is left alone (the rollback must not stop a unit podrun did not start).
case_unit_exists() {
    local unit=docker-shared.scope b
    b=$(bundle ex1 "system.slice:docker:shared" "$SLEEP")
    if ! do_rt podrun run -d --no-pivot -b "$b" ex1; then
        fail unit_exists_refused "first: $out"
        return
    fi
    b=$(bundle ex2 "system.slice:docker:shared" "$SLEEP")
    if do_rt podrun run -d --no-pivot -b "$b" ex2; then
        fail unit_exists_refused "a second container joined $unit"
    elif [ "$(systemctl is-active "$unit")" != active ] || [ "$(status_of podrun ex1)" != running ]; then
        fail unit_exists_refused "the first container's unit was hurt: $(systemctl is-active "$unit") $(status_of podrun ex1): $out"
    else
        pass unit_exists_refused "$out"
    fi
    rt podrun delete --force ex2 >/dev/null 2>&1
    rt podrun delete --force ex1 >/dev/null 2>&1
}

# containerd (Debian's 1.6, a private daemon) with podrun's shim, containerd-shim-podrun-v2,
# and with runc.v2 + runc as the reference. / is the initramfs here: podrun's shim gets
# NoPivotRoot from its config file or from `ctr run --no-pivot`; runc through a wrapper that
# adds --no-pivot to `create` (ctr's --no-pivot replaces the runtime options that carry
# SystemdCgroup for runc.v2: runc would silently fall back to cgroupfs).
CTRD=$W/containerd
CPID=
# (bounded: a hung client call must not hold the VM until the lane's timeout)
ctr_() { timeout 60 ctr -a "$CTRD/c.sock" "$@"; }
start_containerd() {
    mkdir -p "$CTRD"
    cat >"$CTRD/config.toml" <<EOF
version = 2
root = "$CTRD/root"
state = "$CTRD/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.overlayfs"]
[grpc]
  address = "$CTRD/c.sock"
[ttrpc]
  address = "$CTRD/c.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD/opt"
EOF
    PODRUN_SHIM_ROOT=$W/shim-root containerd --config "$CTRD/config.toml" >"$CTRD/log" 2>&1 </dev/null &
    CPID=$!
    local i
    for i in $(seq 1 100); do
        ctr_ version >/dev/null 2>&1 && break
        sleep 0.1
    done
    ctr_ images import --snapshotter native "$P/busybox.tar" >"$CTRD/import.out" 2>&1
}
stop_containerd() {
    [ -n "$CPID" ] && kill "$CPID" 2>/dev/null && wait "$CPID" 2>/dev/null
    CPID=
}
printf '#!/bin/bash\nargs=()\nfor a in "$@"; do args+=("$a"); [ "$a" = create ] && args+=(--no-pivot); done\nexec runc "${args[@]}"\n' >"$W/runc-nopivot"
chmod +x "$W/runc-nopivot"
# The podrun shim's config file (CRI: ConfigPath in the runtime's options; ctr:
# --runtime-config-path), with runc's key names.
printf '# containerd-shim-podrun-v2\nSystemdCgroup = true\nNoPivotRoot = true\n' >"$W/podrun-shim.toml"

ctrd_task_status() { ctr_ task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }
ctrd_task_pid() { ctr_ task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $2 }'; }

# ctrd_case NAME ID CGROUPSPATH UNIT CGDIR CTR_RUN_ARGS...: `ctr run -d ... sleep 600`; the
# unit is active with the init in its cgroup, `systemctl status` shows it, an exec sees the
# scope; kill, task delete, container rm leave no unit and no cgroup dir (NAME_deleted).
ctrd_case() {
    local name=$1 id=$2 cgp=$3 unit=$4 dir=$5 pid out i
    shift 5
    if ! out=$(ctr_ run -d --snapshotter native --cgroup "$cgp" "$@" localhost/podrun-busybox:latest "$id" sleep 600 2>&1 </dev/null); then
        fail "$name" "ctr run: $out"
        fail "${name}_deleted" "the case did not pass"
        ctr_ containers rm "$id" >/dev/null 2>&1
        return
    fi
    pid=$(ctrd_task_pid "$id")
    if [ "$(systemctl is-active "$unit")" != active ]; then
        fail "$name" "unit $unit not active: $(systemctl status --no-pager "$unit" 2>&1 | head -5) init $pid: $(cat "/proc/$pid/cgroup" 2>&1)"
    elif ! grep -qx "$pid" "$dir/cgroup.procs" 2>/dev/null; then
        fail "$name" "init $pid not in $dir/cgroup.procs: $(cat "$dir/cgroup.procs" 2>&1) $(cat "/proc/$pid/cgroup" 2>&1)"
    elif ! systemctl status --no-pager -l "$unit" 2>&1 | grep -q 'sleep 600'; then
        fail "$name" "systemctl status shows no 'sleep 600': $(systemctl status --no-pager "$unit" 2>&1 | head -12)"
    elif ! out=$(ctr_ task exec --exec-id cg "$id" cat /proc/self/cgroup 2>&1 </dev/null) ||
        ! printf '%s\n' "$out" | grep -q "/$unit\$"; then
        fail "$name" "exec not in $unit: $out"
    else
        pass "$name" "$unit at ${dir#/sys/fs/cgroup}, init $pid"
        touch "$W/passed-$name"
    fi
    # (not `task delete --force`: with runc.v2 on the hybrid layout it can hang)
    ctr_ task kill -s KILL "$id" >/dev/null 2>&1
    for i in $(seq 1 50); do
        [ "$(ctrd_task_status "$id")" = STOPPED ] && break
        sleep 0.1
    done
    ctr_ task delete "$id" >/dev/null 2>&1
    ctr_ containers rm "$id" >/dev/null 2>&1
    if [ ! -f "$W/passed-$name" ]; then
        fail "${name}_deleted" "the case did not pass"
    elif gone "$unit" "$dir"; then
        pass "${name}_deleted" "no $unit, no ${dir#/sys/fs/cgroup}"
    else
        fail "${name}_deleted" "$(systemctl list-units --all --no-legend --plain "$unit") $(ls -d "$dir" 2>&1)"
    fi
}

case_containerd() {
    start_containerd
    if ! ctr_ images ls -q 2>/dev/null | grep -q podrun-busybox; then
        echo "PODRUN-VM-ERROR containerd did not start or import: $(tail -5 "$CTRD/log" | tr '\n' ' ') $(tr '\n' ' ' <"$CTRD/import.out")"
    fi
    local r uid slice kdir u left h shims
    # SystemdCgroup = true in the runtime options (podrun's shim: runtimeoptions' ConfigPath;
    # runc.v2: runc's Options), a cgroupsPath naming no slice (the driver's system.slice).
    ctrd_case containerd_option_podrun opt-podrun ":ctrd:opt-podrun" ctrd-opt-podrun.scope \
        "$SD/system.slice/ctrd-opt-podrun.scope" \
        --runtime io.containerd.podrun.v2 --runtime-config-path "$W/podrun-shim.toml"
    ctrd_case containerd_option_runc opt-runc ":ctrd:opt-runc" ctrd-opt-runc.scope \
        "$SD/system.slice/ctrd-opt-runc.scope" \
        --runtime io.containerd.runc.v2 --runc-binary "$W/runc-nopivot" --runc-systemd-cgroup
    # Kubernetes' form (what CRI makes of kubelet's systemd cgroup parent): podrun's shim with
    # no option but `ctr --no-pivot`, runc with its option.
    for r in podrun runc; do
        uid=c0ffee_$r
        slice=kubepods-besteffort-pod$uid.slice
        kdir=$SD/kubepods.slice/kubepods-besteffort.slice/$slice
        if [ "$r" = podrun ]; then
            set -- --runtime io.containerd.podrun.v2 --no-pivot
        else
            set -- --runtime io.containerd.runc.v2 --runc-binary "$W/runc-nopivot" --runc-systemd-cgroup
        fi
        ctrd_case "containerd_kubernetes_form_$r" "k8s-$r" "$slice:cri-containerd:k8s-$r" \
            "cri-containerd-k8s-$r.scope" "$kdir/cri-containerd-k8s-$r.scope" "$@"
        if [ "$r" = podrun ]; then
            left=
            for u in kubepods.slice kubepods-besteffort.slice "$slice"; do
                unit_listed "$u" && slice_active "$u" && left="$left $u"
            done
            if [ ! -f "$W/passed-containerd_kubernetes_form_podrun" ]; then
                fail containerd_slices_removed_podrun "the Kubernetes form case did not pass"
            elif [ -n "$left" ]; then
                fail containerd_slices_removed_podrun "slices left:$left"
            else
                pass containerd_slices_removed_podrun
            fi
        else
            systemctl stop kubepods.slice >/dev/null 2>&1
            for h in /sys/fs/cgroup/*/; do
                [ -d "$h/kubepods.slice" ] && find "$h/kubepods.slice" -depth -type d -exec rmdir {} + 2>/dev/null
            done
        fi
    done
    # No shim process left once its tasks are deleted (podrun's exits with its last task).
    sleep 0.5
    shims=$(ps -eo pid=,comm= | awk '$2 ~ /^containerd-shim/ { print }')
    stop_containerd
    if [ -n "$shims" ]; then fail containerd_no_process_left "$shims"; else pass containerd_no_process_left; fi
}

echo "PODRUN-VM-START layout=$LAYOUT cgroup=$SD systemd=$(systemctl --version | head -n1)"
if [ "$(cat /proc/1/comm)" != systemd ]; then
    echo "PODRUN-VM-ERROR PID 1 is $(cat /proc/1/comm), not systemd"
fi
for r in podrun runc; do
    case_run "$r"
    case_forms "$r"
    case_limits "$r"
done
compare limits_same_as_runc limits
compare update_same_as_runc update
case_pod
case_unit_exists
echo "PODRUN-VM-TIME podrun and runc cases done at ${SECONDS}s ($(cut -d' ' -f1 /proc/uptime)s since boot)"
case_containerd
echo "PODRUN-VM-TIME containerd cases done at ${SECONDS}s"
# Nothing of the cases is left: no unit of theirs, no container state.
left=$(systemctl list-units --all --no-legend --plain | grep -E 'docker-|libpod-|cri-containerd-|kubepods|podrun-|ctrd-' | grep -v '^podrun-cases\.service' || true)
if [ -n "$left" ]; then fail nothing_left "$left"; else pass nothing_left; fi
echo "PODRUN-VM-DONE"
