#!/usr/bin/env bash
# CPU-bound interpreter benchmark: the intmix workload (benches/workloads) natively (static
# 32-bit Linux program), under ironbox's interpreter (as a ROM) and under qemu-system-i386 TCG,
# in the same run. Prints wall times (best of N), the ratios, and ironbox's peak RSS.
# Usage: [ROUNDS=N] benches/cpu_bound.sh [RUNS]   (needs nasm, binutils, qemu-system-x86)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
# 300 rounds: the native run takes ~0.3 s, long enough for the CPU-time clock's 10 ms ticks.
rounds=${ROUNDS:-300}
out=target/bench
mkdir -p "$out"
nasm -f bin -w-number-overflow -DROUNDS="$rounds" -I roms/ -I benches/workloads/ -o "$out/intmix.bin" benches/workloads/intmix_rom.asm
nasm -f elf32 -DROUNDS="$rounds" -I benches/workloads/ -o "$out/intmix.o" benches/workloads/intmix_native.asm
ld -m elf_i386 -o "$out/intmix" "$out/intmix.o"
cargo build --release -q -p ironbox

# best() prints "WALL CPU": the best wall time and the best CPU time (user + system) in
# seconds of "$@" over $runs runs. On a shared, loaded host the CPU time is the steadier
# figure (the interpreter and native code are single-threaded; QEMU TCG adds a thread or two).
best() {
    local bw=999999 bc=999999
    for _ in $(seq "$runs"); do
        local s e t c
        s=$(date +%s.%N)
        /usr/bin/time -o "$out/time.txt" -f '%U %S' "$@" >/dev/null 2>&1 || true
        c=$(tail -1 "$out/time.txt" | awk '{print $1 + $2}')
        e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc -l)
        bw=$(echo "if ($t < $bw) $t else $bw" | bc -l)
        bc=$(echo "if ($c < $bc) $c else $bc" | bc -l)
    done
    printf '%.3f %.3f' "$bw" "$bc"
}

native_sum=$("$out/intmix")
ib_sum=$(target/release/ironbox run --engine interp --bios "$out/intmix.bin" --debugcon stdio --debug-exit 2>/dev/null | sed -n 's/^intmix sum=\([0-9A-F]*\).*/\1/p' || true)
[ "$native_sum" = "$ib_sum" ] || { echo "checksum mismatch: native $native_sum, ironbox $ib_sum"; exit 1; }

read -r t_native c_native <<<"$(best "$out/intmix")"
read -r t_ib c_ib <<<"$(best target/release/ironbox run --engine interp --bios "$out/intmix.bin" --debugcon none --debug-exit)"
rss=$( { /usr/bin/time -f '%M' target/release/ironbox run --engine interp --bios "$out/intmix.bin" --debugcon none --debug-exit >/dev/null || true; } 2>&1 | tail -1)
if command -v qemu-system-i386 >/dev/null; then
    read -r t_q c_q <<<"$(best qemu-system-i386 -cpu pentium2 -accel tcg -bios "$out/intmix.bin" -display none -nodefaults -m 32 \
        -debugcon file:/dev/null -device isa-debug-exit,iobase=0xf4,iosize=0x04 -no-reboot)"
else
    t_q=nan c_q=nan
fi
ratio() { echo "$1 / $2" | bc -l; }
printf 'host load: %s (best of %s runs)\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$runs"
printf '%-28s %9s %9s %11s %11s\n' workload "wall (s)" "CPU (s)" "wall x nat" "CPU x nat"
printf '%-28s %9s %9s %11.1f %11.1f\n' "intmix native" "$t_native" "$c_native" 1 1
printf '%-28s %9s %9s %11.1f %11.1f\n' "intmix ironbox interpreter" "$t_ib" "$c_ib" "$(ratio "$t_ib" "$t_native")" "$(ratio "$c_ib" "$c_native")"
printf '%-28s %9s %9s %11.1f %11.1f\n' "intmix qemu-system-i386 tcg" "$t_q" "$c_q" "$(ratio "$t_q" "$t_native")" "$(ratio "$c_q" "$c_native")"
printf 'ironbox / qemu-tcg (wall): %.2f   ironbox peak RSS: %s KiB   checksum %s\n' "$(ratio "$t_ib" "$t_q")" "$rss" "$native_sum"
