#!/bin/sh
# The cases of the pure cgroup v2 lane, run by /init inside the VM (scripts/vm-v2.sh) as busybox
# sh. Each case prints exactly one line: PODRUN-CASE <name> PASS|FAIL <detail>.
# Debian's runc is the reference where a comparison says more than a constant (cases named
# ..._runc check that the reference itself behaves as the podrun case expects).
# The configs start from /base.json: Docker's default capabilities (CAP_MKNOD included) and
# Docker's default device list. brd's /dev/ram0 (block 1:0) is the device outside the list.

CG=/sys/fs/cgroup
PODRUN="podrun --root /run/podrun"
RUNC="runc --root /run/runc"
T="timeout 60"

one_line() { tr '\n' ' ' | cut -c1-400; }
# The detail starts with the VM's uptime, so a slow case shows in the log.
result() { echo "PODRUN-CASE $1 $2 [$(cut -d' ' -f1 /proc/uptime)s] $(printf '%s' "$3" | one_line)"; }
pass() { result "$1" PASS "$2"; }
fail() { result "$1" FAIL "$2"; }

rt_cmd() { if [ "$1" = podrun ]; then echo "$PODRUN"; else echo "$RUNC"; fi; }

# mkb RT ID JQ-FILTER: the bundle /b/RT-ID (rootfs hard-linked from /rootfs, cgroupsPath
# /RT/ID); prints its dir.
mkb() {
    d=/b/$1-$2
    rm -rf "$d"
    mkdir -p "$d"
    cp -al /rootfs "$d/rootfs"
    jq --arg cg "/$1/$2" ".linux.cgroupsPath = \$cg | $3" /base.json >"$d/config.json" ||
        echo "PODRUN-VM-ERROR jq for $1 $2" >&2
    echo "$d"
}

# The script that makes /tmp/r (block 1:0, brd's /dev/ram0) and reads 16 bytes from it:
# exit 3 when mknod fails, 4 when the read fails (the device rules refused it).
READ_BLOCK='mknod /tmp/r b 1 0 || exit 3; head -c 16 /tmp/r >/tmp/o || exit 4; wc -c </tmp/o'

# run_fg RT ID JQ-FILTER: foreground run; sets OUT (stdout), ERR (stderr) and RC.
run_fg() {
    d=$(mkb "$1" "$2" "$3")
    OUT=$($T $(rt_cmd "$1") run -b "$d" "$2" 2>/tmp/err </dev/null)
    RC=$?
    ERR=$(cat /tmp/err)
    $(rt_cmd "$1") delete -f "$2" >/dev/null 2>&1
}

# run_bg RT ID JQ-FILTER: detached run; returns its status, stderr in OUT. (The container
# inherits stdio: a pipe there would never reach EOF.)
run_bg() {
    d=$(mkb "$1" "$2" "$3")
    $T $(rt_cmd "$1") run -d -b "$d" "$2" </dev/null >/dev/null 2>/tmp/err-$2
    rc=$?
    OUT=$(cat /tmp/err-$2)
    return $rc
}

rm_ct() { $(rt_cmd "$1") delete -f "$2" >/dev/null 2>&1; }

# dump DIR FILE...: "file=value" per file, values on one line.
dump() {
    dir=$1
    shift
    for f in "$@"; do
        printf '%s=%s\n' "$f" "$(cat "$dir/$f" 2>&1 | tr '\n' ' ' | sed 's/ *$//')"
    done
}

# expect_lines NAME ACTUAL EXPECTED: PASS when every expected line is in ACTUAL.
expect_lines() {
    missing=$(printf '%s\n' "$3" | while read -r l; do
        [ -z "$l" ] || printf '%s\n' "$2" | grep -qxF "$l" || printf '%s; ' "$l"
    done)
    if [ -z "$missing" ]; then pass "$1" "$(printf '%s' "$2" | tr '\n' ' ')"; else
        fail "$1" "missing: $missing got: $(printf '%s' "$2" | tr '\n' ' ')"; fi
}

# same NAME A B: PASS when podrun's dump A equals runc's dump B.
same() {
    if [ "$2" = "$3" ]; then pass "$1" "$(printf '%s' "$2" | tr '\n' ' ')"; else
        fail "$1" "podrun: $(printf '%s' "$2" | tr '\n' ' ') runc: $(printf '%s' "$3" | tr '\n' ' ')"
    fi
}

# ---- devices -------------------------------------------------------------------------------

for rt in podrun runc; do
    run_fg $rt blk ".process.args = [\"sh\", \"-c\", \"$READ_BLOCK\"]"
    case "$RC:$OUT:$ERR" in
        4:*"Operation not permitted"*) pass "dev_block_denied_$rt" "exit $RC: $OUT $ERR" ;;
        *) fail "dev_block_denied_$rt" "a block device outside the list was read or not refused: exit $RC: $OUT stderr: $ERR" ;;
    esac

    # An update without device rules keeps the container's (on v2 the program is swapped):
    # the block device stays refused and the allowed ones keep working.
    id=devupd
    if run_bg $rt $id '.process.args = ["sleep", "600"]'; then
        up=$(echo '{"memory":{"limit":134217728}}' |
            $T $(rt_cmd $rt) update -r - $id 2>&1)
        urc=$?
        blk=$($T $(rt_cmd $rt) exec $id sh -c "$READ_BLOCK" 2>&1)
        brc=$?
        std=$($T $(rt_cmd $rt) exec $id sh -c 'head -c 4 /dev/zero | wc -c; echo x >/dev/null && echo null-ok' 2>&1)
        mem=$(cat $CG/$rt/$id/memory.max 2>&1)
        if [ $urc = 0 ] && [ $brc = 4 ] && [ "$mem" = 134217728 ] && [ "$std" = "4
null-ok" ]; then
            pass "dev_update_keeps_rules_$rt" "memory.max=$mem block: $blk"
        else
            fail "dev_update_keeps_rules_$rt" "update exit $urc: $up; block read exit $brc: $blk; std: $std; memory.max=$mem"
        fi
    else
        fail "dev_update_keeps_rules_$rt" "run -d: $OUT"
    fi
    rm_ct $rt $id
done

# update --resources with device rules replaces the container's (runc ignores them: podrun
# alone): an allow rule for the block device opens it, a deny rule closes it again, and the
# default allowances (/dev/null, /dev/zero) stay throughout.
id=devchg
if run_bg podrun $id '.process.args = ["sleep", "600"]'; then
    x() { $T $PODRUN exec $id sh -c "$1" 2>&1; }
    a=$(x 'mknod /tmp/b b 1 0 && head -c 16 /tmp/b | wc -c')
    u1=$(echo '{"devices":[{"allow":true,"type":"b","major":1,"minor":0,"access":"rwm"}]}' |
        $T $PODRUN update -r - $id 2>&1) || u1="update failed: $u1"
    b=$(x 'head -c 16 /tmp/b | wc -c; head -c 4 /dev/zero | wc -c; echo x >/dev/null && echo null-ok')
    u2=$(echo '{"devices":[{"allow":false,"type":"b","major":1,"minor":0,"access":"rwm"}]}' |
        $T $PODRUN update -r - $id 2>&1) || u2="update failed: $u2"
    c=$(x 'head -c 16 /tmp/b >/dev/null; head -c 4 /dev/zero | wc -c; echo x >/dev/null && echo null-ok')
    got="before: $a; after allow ($u1): $b; after deny ($u2): $c"
    case "$a" in *"Operation not permitted"*) ok_a=1 ;; *) ok_a=0 ;; esac
    case "$c" in *"Operation not permitted"*) ok_c=1 ;; *) ok_c=0 ;; esac
    if [ $ok_a = 1 ] && [ "$b" = "16
4
null-ok" ] && [ $ok_c = 1 ] && [ "$(printf '%s' "$c" | tail -n 2)" = "4
null-ok" ]; then
        pass dev_update_changes_rules "$got"
    else
        fail dev_update_changes_rules "$got"
    fi
else
    fail dev_update_changes_rules "run -d: $OUT"
fi
rm_ct podrun $id

# The sealed exe without a copy on this kernel (6.1: overlayfs takes the "lowerdir" string
# through fsconfig; "lowerdir+" is 6.8+): a running `podrun exec` runs from a read-only overlay
# view of podrun (writing its /proc/PID/exe fails with EROFS) and maps no memfd copy.
id=exeview
if run_bg podrun $id '.process.args = ["sleep", "600"]'; then
    disk=$(readlink -f "$(command -v podrun)")
    $PODRUN exec $id sleep 30 </dev/null >/dev/null 2>&1 &
    ex=$!
    i=0
    exe=
    while [ $i -lt 100 ]; do
        exe=$(readlink /proc/$ex/exe)
        # the shell's fork (busybox) execs podrun, which re-executes itself from the view
        case "$exe" in "" | "$disk" | */busybox) ;; *) break ;; esac
        i=$((i + 1))
        sleep 0.05
    done
    w=$( (echo x >>/proc/$ex/exe) 2>&1)
    m=$(grep -c memfd: /proc/$ex/maps)
    got="disk: $disk; exe: $exe; write: $w; memfd maps: $m"
    kill -9 $ex 2>/dev/null
    wait $ex 2>/dev/null
    case "$w:$m" in
        *"Read-only file system"*:0) pass exe_sealed_view "$got" ;;
        *) fail exe_sealed_view "$got" ;;
    esac
else
    fail exe_sealed_view "run -d: $OUT"
fi
rm_ct podrun $id

# Constants: podrun alone (the reference needs no second opinion).
run_fg podrun stddev '.process.args = ["sh", "-c", "set -e; test $(head -c 8 /dev/zero | wc -c) = 8; test $(head -c 8 /dev/urandom | wc -c) = 8; echo x >/dev/null; if echo x >/dev/full; then exit 5; fi; exec 3<>/dev/ptmx; test -c /dev/pts/0; echo devices-ok"]'
case "$RC:$OUT" in
    0:*devices-ok*) pass dev_allowed "$OUT" ;;
    *) fail dev_allowed "exit $RC: $OUT stderr: $ERR" ;;
esac

run_fg podrun allow ".process.args = [\"sh\", \"-c\", \"$READ_BLOCK\"]
    | .linux.resources.devices += [{allow: true, type: \"b\", major: 1, minor: 0, access: \"rw\"}]"
case "$RC:$OUT" in
    0:16) pass dev_allow_rule "read 16 bytes" ;;
    *) fail dev_allow_rule "exit $RC: $OUT stderr: $ERR" ;;
esac


# ---- every resource field, written and read back ------------------------------------------

RES_FILES="memory.max memory.low memory.high memory.swap.max cpu.weight cpu.max cpuset.cpus cpuset.mems pids.max io.weight io.max hugetlb.2MB.max"
RES_FILTER='.process.args = ["sleep", "600"] | .linux.resources += {
    memory: {limit: 67108864, reservation: 33554432, swap: 134217728},
    cpu: {shares: 2048, quota: 50000, period: 100000, cpus: "0", mems: "0"},
    pids: {limit: 42},
    blockIO: {weight: 500,
        throttleReadBpsDevice: [{major: 1, minor: 0, rate: 1048576}],
        throttleWriteIOPSDevice: [{major: 1, minor: 0, rate: 300}]},
    hugepageLimits: [{pageSize: "2MB", limit: 4194304}],
    unified: {"memory.high": "50331648"}}'
for rt in podrun runc; do
    if run_bg $rt res "$RES_FILTER"; then
        eval "res_$rt=\$(dump $CG/$rt/res $RES_FILES)"
        # events --stats reads the v2 files: the limits it reports, and a live pids count.
        st=$($T $(rt_cmd $rt) events --stats res 2>&1 | jq -c '.data | {mem: .memory.usage.limit, pids: .pids.limit, live: (.pids.current > 0), cpu: (.cpu.usage.total > 0)}' 2>&1)
        eval "stats_$rt=\$st"
    else
        eval "res_$rt=\"run -d failed: \$OUT\""
        eval "stats_$rt=\"run -d failed\""
    fi
    rm_ct $rt res
done
expect_lines resources_written "$res_podrun" "memory.max=67108864
memory.low=33554432
memory.high=50331648
memory.swap.max=67108864
cpu.max=50000 100000
cpuset.cpus=0
cpuset.mems=0
pids.max=42
io.max=1:0 rbps=1048576 wbps=max riops=max wiops=300
hugetlb.2MB.max=4194304"
same resources_same_as_runc "$res_podrun" "$res_runc"
expect_lines events_stats "$stats_podrun" '{"mem":67108864,"pids":42,"live":true,"cpu":true}'
same events_stats_same_as_runc "$stats_podrun" "$stats_runc"

# ---- zero means unset: Docker's create and `docker update` documents -------------------------

ZERO_FILES="memory.max memory.low memory.swap.max cpu.weight cpu.max io.weight"
ZERO_FILTER='.process.args = ["sleep", "600"] | .linux.resources += {
    memory: {limit: 0, reservation: 0, swap: 0, kernel: 0, kernelTCP: 0},
    cpu: {shares: 0, quota: 0, period: 0, realtimeRuntime: 0, realtimePeriod: 0},
    blockIO: {weight: 0}}'
UPD_MEM='{"memory":{"limit":67108864,"reservation":0,"kernel":0},"cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0}}'
UPD_CPUS='{"memory":{"limit":0,"reservation":0,"kernel":0},"cpu":{"shares":0,"quota":50000,"period":100000},"blockIO":{"weight":0}}'
for rt in podrun runc; do
    if run_bg $rt zero "$ZERO_FILTER"; then
        eval "zc_$rt=\$(dump $CG/$rt/zero $ZERO_FILES)"
        o=$(echo "$UPD_MEM" | $T $(rt_cmd $rt) update -r - zero 2>&1) || o="update failed: $o"
        eval "zm_$rt=\"\$o\$(dump $CG/$rt/zero $ZERO_FILES)\""
        o=$(echo "$UPD_CPUS" | $T $(rt_cmd $rt) update -r - zero 2>&1) || o="update failed: $o"
        eval "zu_$rt=\"\$o\$(dump $CG/$rt/zero $ZERO_FILES)\""
    else
        eval "zc_$rt=\"run -d failed: \$OUT\""
        eval "zm_$rt=\"run -d failed\""
        eval "zu_$rt=\"run -d failed\""
    fi
    rm_ct $rt zero
done
expect_lines zero_create_is_default "$zc_podrun" "memory.max=max
memory.low=0
memory.swap.max=max
cpu.weight=100
cpu.max=max 100000
io.weight=default 100"
same zero_create_same_as_runc "$zc_podrun" "$zc_runc"
expect_lines zero_update_memory "$zm_podrun" "memory.max=67108864
memory.low=0
cpu.weight=100
cpu.max=max 100000
io.weight=default 100"
same zero_update_memory_same_as_runc "$zm_podrun" "$zm_runc"
expect_lines zero_update_cpus "$zu_podrun" "memory.max=67108864
cpu.weight=100
cpu.max=50000 100000
io.weight=default 100"
same zero_update_cpus_same_as_runc "$zu_podrun" "$zu_runc"

# ---- pause/resume, kill --all, OOM, delete ---------------------------------------------------

if run_bg podrun pz '.process.args = ["sleep", "600"]'; then
    $PODRUN pause pz 2>&1
    f1=$(cat $CG/podrun/pz/cgroup.freeze 2>&1)
    e1=$(grep frozen $CG/podrun/pz/cgroup.events 2>&1)
    s1=$($PODRUN state pz | jq -r .status)
    $PODRUN resume pz 2>&1
    f2=$(cat $CG/podrun/pz/cgroup.freeze 2>&1)
    e2=$(grep frozen $CG/podrun/pz/cgroup.events 2>&1)
    s2=$($PODRUN state pz | jq -r .status)
    got="paused: freeze=$f1 events=$e1 status=$s1; resumed: freeze=$f2 events=$e2 status=$s2"
    if [ "$got" = "paused: freeze=1 events=frozen 1 status=paused; resumed: freeze=0 events=frozen 0 status=running" ]; then
        pass pause_resume "$got"
    else fail pause_resume "$got"; fi
else
    fail pause_resume "run -d: $OUT"
fi
rm_ct podrun pz

# No PID namespace: killing the init alone would leave the sleeps behind.
for rt in podrun; do
    if run_bg $rt ka '.linux.namespaces |= map(select(.type != "pid"))
        | .process.args = ["sh", "-c", "sleep 600 & sleep 600 & sleep 600 & wait"]'; then
        sleep 0.5
        before=$(wc -l <$CG/$rt/ka/cgroup.procs)
        o=$($T $(rt_cmd $rt) kill --all ka KILL 2>&1)
        i=0
        while [ -s $CG/$rt/ka/cgroup.procs ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
        after=$(wc -l <$CG/$rt/ka/cgroup.procs)
        if [ "$before" -ge 4 ] && [ "$after" = 0 ]; then
            pass "kill_all_$rt" "$before processes, then $after $o"
        else fail "kill_all_$rt" "$before processes, then $after: $o $(for p in $(cat $CG/$rt/ka/cgroup.procs); do cut -d' ' -f1-3 /proc/$p/stat; done | tr '\n' ' ')"; fi
    else
        fail "kill_all_$rt" "run -d: $OUT"
    fi
    rm_ct $rt ka
done

if run_bg podrun oom '.process.args = ["sh", "-c", "while :; do dd if=/dev/zero of=/dev/null bs=48M count=1 2>/dev/null; sleep 0.3; done"]
    | .linux.resources.memory = {limit: 33554432, swap: 33554432}'; then
    ev=$(timeout 8 $PODRUN events --interval 1s oom 2>&1)
    kills=$(grep '^oom_kill ' $CG/podrun/oom/memory.events 2>&1)
    case "$ev" in
        *'"type":"oom"'*) pass oom_event "memory.events $kills" ;;
        *) fail oom_event "no oom event in: $(printf '%s' "$ev" | head -c 200) memory.events $kills" ;;
    esac
else
    fail oom_event "run -d: $OUT"
fi
rm_ct podrun oom

for rt in podrun; do
    if run_bg $rt del '.process.args = ["sleep", "600"]'; then
        [ -d $CG/$rt/del ] && had=yes || had=no
        o=$($T $(rt_cmd $rt) delete -f del 2>&1)
        [ -e $CG/$rt/del ] && left=yes || left=no
        run_fg $rt delfg '.process.args = ["true"]'
        [ -e $CG/$rt/delfg ] && left2=yes || left2=no
        if [ $had = yes ] && [ $left = no ] && [ $left2 = no ] && [ $RC = 0 ]; then
            pass "delete_removes_cgroup_$rt" "detached and foreground: no cgroup left $o"
        else
            fail "delete_removes_cgroup_$rt" "cgroup made: $had, left after delete -f: $left, left after run: $left2 (exit $RC $OUT $ERR) $o"
        fi
    else
        fail "delete_removes_cgroup_$rt" "run -d: $OUT"
    fi
    rm_ct $rt del
done

# ---- a pod: two members on a bridge, through localhost and the gateway -----------------------

POD_ARGS="--bridge vmbr0 --subnet 10.244.77.0/24 --store-dir /var/lib/podrun-ipam"
if o=$($T $PODRUN pod create $POD_ARGS pod1 2>&1); then
    ip=$($PODRUN pod state pod1 | jq -r .ip | cut -d/ -f1)
    d=$(mkb podrun web '.process.args = ["httpd", "-f", "-p", "8080", "-h", "/www"]')
    mkdir -p "$d/rootfs/www"
    echo member-one >"$d/rootfs/www/index.html"
    $T $PODRUN run -d --pod pod1 -b "$d" web </dev/null >/dev/null 2>/tmp/err-web
    w=$(cat /tmp/err-web)
    sleep 0.5
    d2=$(mkb podrun client '.process.args = ["sh", "-c", "timeout 5 wget -q -O- http://127.0.0.1:8080/ && ping -c 1 -W 3 10.244.77.1 >/dev/null && echo gateway-ok"]')
    c=$($T $PODRUN run --pod pod1 -b "$d2" client 2>/tmp/err </dev/null)
    c_err=$(cat /tmp/err)
    h=$(timeout 5 wget -q -O- "http://$ip:8080/" 2>&1)
    ports=$(ls /sys/class/net/vmbr0/brif 2>&1 | tr '\n' ' ')
    rm_ct podrun client
    rm_ct podrun web
    del=$($T $PODRUN pod delete --force pod1 2>&1)
    [ -e /sys/class/net/vmbr0 ] && br=left || br=gone
    got="member: $(printf '%s' "$c" | tr '\n' ' ') host->$ip: $h bridge ports: $ports bridge after delete: $br"
    if [ "$c" = "member-one
gateway-ok" ] && [ "$h" = member-one ] && [ -n "$ports" ] && [ $br = gone ]; then
        pass pod_two_members "$got"
    else
        fail pod_two_members "$got client stderr: $c_err run -d: $w pod delete: $del"
    fi
else
    fail pod_two_members "pod create: $o"
fi

# ---- the run benchmark: podrun vs runc, same loop, interleaved blocks ------------------------

centis() { read -r u _ </proc/uptime; echo "${u%.*}${u#*.}"; }
N=4
ok=0
pt=0
rtt=0
for rt in podrun runc; do mkb $rt bench '.process.args = ["true"]' >/dev/null; done
for block in 1 2; do
    for rt in podrun runc; do
        t0=$(centis)
        i=0
        while [ $i -lt $N ]; do
            $T $(rt_cmd $rt) run -b /b/$rt-bench bench </dev/null >/dev/null 2>&1 && ok=$((ok + 1))
            i=$((i + 1))
        done
        t1=$(centis)
        if [ $rt = podrun ]; then pt=$((pt + t1 - t0)); else rtt=$((rtt + t1 - t0)); fi
    done
done
runs=$((2 * N))
line=$(awk -v p="$pt" -v r="$rtt" -v n="$runs" 'BEGIN { printf "runs=%d podrun_ms=%.1f runc_ms=%.1f ratio=%.2f", n, p * 10 / n, r * 10 / n, (r > 0 ? p / r : 0) }')
echo "PODRUN-BENCH run $line"
if [ $ok = $((2 * runs)) ]; then pass bench_run "$line"; else fail bench_run "$ok of $((2 * runs)) runs exited 0: $line"; fi

# ---- rootless: a cgroup v2 subtree delegated to a user, as systemd's user@.service does ------
# (the directory and its cgroup.procs, cgroup.subtree_control, cgroup.threads chowned to the
# user; the user's processes in init.scope below it). podrun and runc run as that user, with
# limits; podrun's cgroup goes below the delegated one (the parent of its own cgroup).
RUID=4242
echo "rl:x:$RUID:$RUID::/home/rl:/bin/sh" >>/etc/passwd
echo "rl:x:$RUID:" >>/etc/group
DG=$CG/user.slice/user-$RUID.slice/user@$RUID.service
mkdir -p $DG/init.scope
echo "+memory +pids +cpu" >$CG/user.slice/cgroup.subtree_control
echo "+memory +pids +cpu" >$CG/user.slice/user-$RUID.slice/cgroup.subtree_control
for f in $DG $DG/cgroup.procs $DG/cgroup.subtree_control $DG/cgroup.threads \
    $DG/init.scope $DG/init.scope/cgroup.procs $DG/init.scope/cgroup.subtree_control $DG/init.scope/cgroup.threads; do
    chown $RUID:$RUID "$f"
done
mkdir -p /home/rl/run
cp -al /rootfs /home/rl/rootfs
chown $RUID:$RUID /home/rl /home/rl/run
chmod 700 /home/rl/run
# as_user CMD...: CMD as the user, from init.scope, with a clean environment.
as_user() {
    sh -c "echo \$\$ >$DG/init.scope/cgroup.procs && exec /usr/local/bin/setpriv --reuid=$RUID --regid=$RUID --clear-groups \
        env -i HOME=/home/rl XDG_RUNTIME_DIR=/home/rl/run PATH=$PATH \"\$@\"" as_user "$@"
}
RLIM='.process.terminal = false | .process.args = ["sleep", "600"] | .root.path = "/home/rl/rootfs" | .linux.resources = {memory: {limit: 67108864}, pids: {limit: 50}}'
for rt in podrun runc; do
    as_user mkdir -p /home/rl/$rt
    as_user podrun spec --rootless --bundle /home/rl/$rt
    as_user sh -c "jq '$RLIM' /home/rl/$rt/config.json >/home/rl/$rt/c.json && mv /home/rl/$rt/c.json /home/rl/$rt/config.json"
done
RLP="podrun"
RLR="runc --root /home/rl/run/runc"
# The detached container inherits run's stdout/stderr: into a file, never a $(...) pipe that
# would wait for the container's end.
as_user $T $RLP run -d -b /home/rl/podrun rl1 </dev/null >/tmp/rl-run.out 2>&1
rc=$?
o=$(cat /tmp/rl-run.out)
if [ $rc = 0 ]; then
    pd=$DG/podrun-rl1
    lim="memory.max=$(cat $pd/memory.max 2>&1) pids.max=$(cat $pd/pids.max 2>&1)"
    own=$(stat -c %u $pd 2>&1)
    p1=$(as_user $T $RLP pause rl1 2>&1 && as_user $RLP state rl1 | jq -r .status; cat $pd/cgroup.freeze)
    p2=$(as_user $T $RLP resume rl1 2>&1 && as_user $RLP state rl1 | jq -r .status; cat $pd/cgroup.freeze)
    up=$(as_user $T $RLP update --pids-limit 60 rl1 2>&1; cat $pd/pids.max)
    ev=$(as_user $T $RLP events --stats rl1 2>&1 | jq -r '.data.pids.current > 0, .data.memory.usage.limit' 2>&1 | tr '\n' ' ')
    del=$(as_user $T $RLP delete -f rl1 2>&1)
    [ -e $pd ] && cgafter=left || cgafter=gone
    left=$(ls /home/rl/run/podrun 2>&1 | tr '\n' ' ')
    got="$lim owner=$own pause: $(echo $p1) resume: $(echo $p2) update: $(echo $up) events: $ev delete: $del cgroup: $cgafter state root: [$left]"
    if [ "$lim" = "memory.max=67108864 pids.max=50" ] && [ "$own" = $RUID ] &&
        [ "$(echo $p1)" = "paused 1" ] && [ "$(echo $p2)" = "running 0" ] && [ "$(echo $up)" = 60 ] &&
        [ "$ev" = "true 67108864 " ] && [ $cgafter = gone ] && [ -z "$left" ]; then
        pass rootless_delegated_podrun "$got"
    else
        fail rootless_delegated_podrun "$got"
    fi
else
    fail rootless_delegated_podrun "run -d: $o"
fi
as_user $RLP delete -f rl1 >/dev/null 2>&1
as_user $T $RLR run -d -b /home/rl/runc rl1 </dev/null >/tmp/rl-run.out 2>&1
rc=$?
o=$(cat /tmp/rl-run.out)
if [ $rc = 0 ]; then
    rd=$DG/rl1
    rlim="memory.max=$(cat $rd/memory.max 2>&1) pids.max=$(cat $rd/pids.max 2>&1)"
    as_user $RLR delete -f rl1 >/dev/null 2>&1
    if [ "$rlim" = "$lim" ]; then pass rootless_delegated_same_as_runc "$rlim"; else
        fail rootless_delegated_same_as_runc "podrun: $lim runc: $rlim"; fi
else
    fail rootless_delegated_same_as_runc "runc run -d: $o"
fi
as_user $RLR delete -f rl1 >/dev/null 2>&1
