#!/usr/bin/env bash
# ironbox benchmark suite (issue 4). Runs every workload under ironbox (each engine) and under
# `qemu-system-i386 -accel tcg` in the same run, checks that both print the same checksum, and
# prints a table: wall times, ironbox/QEMU ratios against the targets, ironbox's peak RSS, and
# the smc shared/separated ratio. See benches/README.md.
#
# Usage: benches/run.sh [WORKLOAD...]     (default: all; names as in the table's first column)
# Environment:
#   ENGINES="interp jit"   engines to run [default: interp and jit when `ironbox run --help`
#                          mentions --engine, else the binary's default engine only]
#   ROUNDS_<NAME>=N        override a workload's size (NAME upper-case, '-' as '_', e.g.
#                          ROUNDS_INTMIX=100, ROUNDS_SMC=500)
#   RUNS=N                 best of N runs per measurement [1]
#   TIMEOUT=S              per-run time limit in seconds [1800]
#   NO_BUILD=1             use target/release/ironbox as it is (no cargo build)
# Needs nasm, qemu-system-x86, and for the Linux workload the guest built by
# scripts/build-guest.sh (run automatically; it downloads Debian packages the first time).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=$root/target/bench
mkdir -p "$out"
runs=${RUNS:-1}
limit=${TIMEOUT:-1800}
mem=128                       # guest RAM (MiB), the same for both
ib=$root/target/release/ironbox
qemu=qemu-system-i386

# name : include file : default rounds : kind (cpu | smc-shared | smc-separated | linux)
workloads=(
    "intmix:intmix.inc:360:cpu"
    "memory:memory.inc:14:cpu"
    "calls:calls.inc:180:cpu"
    "indirect:indirect.inc:50:cpu"
    "strings:strings.inc:12:cpu"
    "x87:x87.inc:5:cpu"
    "smc-separated:smc.inc:3000:smc-separated"
    "smc-shared:smc.inc:3000:smc-shared"
    "linux:-:-:linux"
)
want=" $* "
selected() { [ "$want" = "  " ] || [[ "$want" == *" $1 "* ]]; }

die() { echo "benches/run.sh: $*" >&2; exit 1; }
command -v nasm >/dev/null || die "nasm missing (Debian package nasm)"
command -v "$qemu" >/dev/null || die "$qemu missing (Debian package qemu-system-x86)"
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q -p ironbox || die "cargo build failed"
fi
[ -x "$ib" ] || die "$ib missing"

if [ -n "${ENGINES:-}" ]; then
    engines=$ENGINES
elif "$ib" run --help 2>/dev/null | grep -q -- '--engine'; then
    engines="interp jit"
else
    engines="default"
fi

# ---- measurement helpers ----
# timed LOG CMD...: runs CMD (stdout+stderr to LOG) under the time limit; sets $wall (seconds,
# best of $runs), $rss (peak RSS in KiB of the last run), $rc (exit status of the last run).
timed() {
    local log=$1; shift
    wall=""; rss=""; rc=0
    local i s e t
    for i in $(seq "$runs"); do
        s=$(date +%s.%N)
        if [ -x /usr/bin/time ]; then
            rm -f "$out/rss.txt"
            timeout "$limit" /usr/bin/time -f '%M' -o "$out/rss.txt" "$@" >"$log" 2>&1
            rc=$?
            rss=$(tail -1 "$out/rss.txt" 2>/dev/null)
        else  # getrusage of the waited-for child, via python3
            rss=$(timeout "$limit" python3 -c '
import resource, subprocess, sys
with open(sys.argv[1], "w") as log:
    rc = subprocess.call(sys.argv[2:], stdout=log, stderr=log)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$log" "$@")
            rc=$?
        fi
        e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc -l)
        if [ -z "$wall" ] || [ "$(echo "$t < $wall" | bc -l)" = 1 ]; then wall=$t; fi
        [ "$rc" = 124 ] && break    # timed out: no point repeating
    done
    wall=$(printf '%.2f' "$wall")
    case $rss in ''|*[!0-9]*) rss="";; esac
}
ratio() { if [ -n "$1" ] && [ -n "$2" ] && [ "$(echo "$2 > 0" | bc -l)" = 1 ]; then printf '%.2f' "$(echo "$1 / $2" | bc -l)"; else echo "-"; fi; }
le() { [ "$(echo "$1 <= $2" | bc -l)" = 1 ]; }

# ---- build the images ----
wl=$root/benches/workloads
asm() { nasm -f bin -w-number-overflow -I "$root/roms/" -I "$wl/" "$@" || die "nasm failed: $*"; }
rounds_for() { # NAME DEFAULT
    local var="ROUNDS_$(echo "${1%%-*}" | tr 'a-z-' 'A-Z_')"
    echo "${!var:-$2}"
}
image_for() { # NAME INC ROUNDS KIND -> path of the ROM
    local name=$1 inc=$2 r=$3 kind=$4 rom=$out/$1.bin
    case $kind in
        cpu) asm -DWORKLOAD="\"$inc\"" -DROUNDS="$r" -o "$rom" "$wl/rom.asm" ;;
        smc-*)
            local sep=""; [ "$kind" = smc-separated ] && sep=-DSEPARATE
            asm $sep -DROUNDS="$r" -o "$out/$name.blob" "$wl/smc_blob.asm"
            asm -DWORKLOAD="\"$inc\"" -DSMC_BLOB="\"$out/$name.blob\"" -o "$rom" "$wl/rom.asm" ;;
    esac
    echo "$rom"
}

kernel=$root/target/guest/vmlinuz
initrd=$root/target/guest/initrd-linux-workload.img
linux_ok=1
if selected linux; then
    if [ ! -s "$kernel" ] || [ ! -s "$initrd" ] || [ "$root/benches/linux-workload.sh" -nt "$initrd" ]; then
        GUEST_INIT=script:benches/linux-workload.sh scripts/build-guest.sh >"$out/build-guest.log" 2>&1 \
            || { linux_ok=0; echo "note: scripts/build-guest.sh failed (see $out/build-guest.log): linux skipped" >&2; }
    fi
fi
append="console=ttyS0 quiet"

# The guest's result: the checksum line of a ROM, or an md5 of the Linux workload's output
# (the lines between BENCH-BEGIN and BENCH-END, kernel messages dropped).
result_of() { # KIND FILE
    if [ "$1" = linux ]; then
        local body
        body=$(sed -n '/^BENCH-BEGIN/,/^BENCH-END/p' "$2" 2>/dev/null | tr -d '\r' | grep -v '^\[')
        if [ -n "$body" ] && grep -q '^BENCH-END' <<<"$body"; then md5sum <<<"$body" | cut -c1-8; else echo none; fi
    else
        sed -n 's/^sum=\([0-9A-F]*\).*/\1/p' "$2" 2>/dev/null | head -1 | grep . || echo none
    fi
}

qemu_cmd() { # KIND ROM OUTFILE -> the command in ${cmd[@]}
    cmd=("$qemu" -cpu pentium2 -accel tcg -m "$mem" -display none -nodefaults -no-reboot)
    if [ "$1" = linux ]; then
        cmd+=(-kernel "$kernel" -initrd "$initrd" -append "$append" -serial "file:$3")
    else
        cmd+=(-bios "$2" -debugcon "file:$3" -device isa-debug-exit,iobase=0xf4,iosize=0x04)
    fi
}
ib_cmd() { # ENGINE KIND ROM OUTFILE -> the command in ${cmd[@]}
    cmd=("$ib" run --display none --memory "$mem")
    [ "$1" != default ] && cmd+=(--engine "$1")
    if [ "$2" = linux ]; then
        cmd+=(--no-reboot --kernel "$kernel" --initrd "$initrd" --append "$append" --serial "file:$4")
    else
        cmd+=(--serial none --bios "$3" --debugcon "file:$4" --debug-exit)
    fi
}
# Exit statuses that mean "the guest finished": ROMs end through isa-debug-exit (status 1),
# Linux by rebooting with -no-reboot / --no-reboot (status 0).
finished() { [ "$1" = linux ] && [ "$2" = 0 ] || { [ "$1" != linux ] && [ "$2" = 1 ]; }; }

# ---- run ----
rss_limit=$((mem + 100))
declare -A T                       # T[name/engine] = ironbox wall time, T[name/qemu]
rows=()
fail=0
printf 'engines: %s; best of %s run(s); guest RAM %s MiB; host: %s cores, load %s\n' \
    "$engines" "$runs" "$mem" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
for w in "${workloads[@]}"; do
    IFS=: read -r name inc defr kind <<<"$w"
    selected "$name" || continue
    rom=-
    if [ "$kind" = linux ]; then
        [ "$linux_ok" = 1 ] || { rows+=("linux|-|-|-|-|-|-|skipped (no guest)"); continue; }
        label=linux
    else
        r=$(rounds_for "$name" "$defr")
        rom=$(image_for "$name" "$inc" "$r" "$kind")
        label="$name"
    fi
    echo "running $label under qemu ..." >&2
    rm -f "$out/$name".*.out                 # no stale guest output from an earlier run
    qemu_cmd "$kind" "$rom" "$out/$name.qemu.out"
    timed "$out/$name.qemu.log" "${cmd[@]}"
    tq=$wall
    finished "$kind" "$rc" || tq=""
    T[$name/qemu]=$tq
    sq=$(result_of "$kind" "$out/$name.qemu.out")
    for e in $engines; do
        echo "running $label under ironbox ($e) ..." >&2
        ib_cmd "$e" "$kind" "$rom" "$out/$name.$e.out"
        timed "$out/$name.$e.log" "${cmd[@]}"
        ti=$wall
        note=""
        if ! finished "$kind" "$rc"; then
            note="ironbox exit $rc"; [ "$rc" = 124 ] && note="ironbox timed out (${limit}s)"
            ti=""
        fi
        T[$name/$e]=$ti
        si=$(result_of "$kind" "$out/$name.$e.out")
        if [ "$si" = "$sq" ] && [ "$si" != none ]; then
            check="ok $si"
        else
            check="MISMATCH ironbox=$si qemu=$sq"; fail=1
        fi
        [ -n "$note" ] && { check="$check; $note"; fail=1; }
        r=$(ratio "$ti" "$tq")
        case $kind in cpu) tgt=0.80 ;; linux) tgt=1.00 ;; *) tgt="" ;; esac
        if [ -n "$tgt" ] && [ "$r" != - ]; then
            if le "$r" "$tgt"; then r="$r (<=$tgt ok)"; else r="$r (<=$tgt MISS)"; fi
        fi
        m=-
        if [ -n "$rss" ]; then
            m=$((rss / 1024))
            [ "$m" -gt "$rss_limit" ] && m="$m (> $rss_limit!)"
        fi
        rows+=("$label|$e|${ti:--}|${tq:--}|$r|$m|$check")
    done
done

# ---- table ----
line() { printf '%-14s %-8s %10s %8s %-20s %-12s %s\n' "$@"; }
echo
line workload engine "ironbox s" "qemu s" "ratio (target)" "peak RSS MiB" "checksum"
line -------------- -------- ---------- -------- -------------------- ------------ --------
for row in "${rows[@]}"; do
    IFS='|' read -r a b c d e f g <<<"$row"
    line "$a" "$b" "$c" "$d" "$e" "$f" "$g"
done
if selected smc-shared && selected smc-separated; then
    echo
    echo "code and data on shared 4 KiB pages: smc-shared time / smc-separated time (target <= 1.30)"
    for e in $engines qemu; do
        r=$(ratio "${T[smc-shared/$e]:-}" "${T[smc-separated/$e]:-}")
        v=""
        if [ "$e" != qemu ] && [ "$r" != - ]; then
            if le "$r" 1.30; then v=" (ok)"; else v=" (MISS)"; fi
        fi
        printf '  %-8s %s%s\n' "$e" "$r" "$v"
    done
fi
echo
echo "targets: cpu workloads ironbox <= 0.80x QEMU-TCG; linux <= 1.00x; shared/separated <= 1.30;"
echo "         peak RSS <= guest RAM + 100 MiB = $rss_limit MiB. Logs and guest output: $out/"
[ "$fail" = 0 ] || { echo "SOME RUNS FAILED OR DISAGREED WITH QEMU (see the checksum column)"; exit 1; }
