#!/usr/bin/env bash
# CPU-bound interpreter benchmark: the intmix workload (benches/workloads) natively (static
# 32-bit Linux program), under ironbox's interpreter (as a ROM) and under qemu-system-i386 TCG,
# in the same run. Prints wall times (best of N), the ratios, and ironbox's peak RSS.
# Usage: benches/cpu_bound.sh [RUNS]   (needs nasm, binutils, qemu-system-x86)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
out=target/bench
mkdir -p "$out"
nasm -f bin -w-number-overflow -I roms/ -I benches/workloads/ -o "$out/intmix.bin" benches/workloads/intmix_rom.asm
nasm -f elf32 -I benches/workloads/ -o "$out/intmix.o" benches/workloads/intmix_native.asm
ld -m elf_i386 -o "$out/intmix" "$out/intmix.o"
cargo build --release -q -p ironbox

best() { # best wall time in seconds of "$@" over $runs runs
    local b=999999
    for _ in $(seq "$runs"); do
        local s e t
        s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc -l)
        b=$(echo "if ($t < $b) $t else $b" | bc -l)
    done
    printf '%.3f' "$b"
}

native_sum=$("$out/intmix")
ib_sum=$(target/release/ironbox run --engine interp --bios "$out/intmix.bin" --debugcon stdio --debug-exit 2>/dev/null | sed -n 's/^intmix sum=\([0-9A-F]*\).*/\1/p' || true)
[ "$native_sum" = "$ib_sum" ] || { echo "checksum mismatch: native $native_sum, ironbox $ib_sum"; exit 1; }

t_native=$(best "$out/intmix")
t_ib=$(best target/release/ironbox run --engine interp --bios "$out/intmix.bin" --debugcon none --debug-exit)
rss=$( { /usr/bin/time -f '%M' target/release/ironbox run --engine interp --bios "$out/intmix.bin" --debugcon none --debug-exit >/dev/null || true; } 2>&1 | tail -1)
if command -v qemu-system-i386 >/dev/null; then
    t_q=$(best qemu-system-i386 -cpu pentium2 -accel tcg -bios "$out/intmix.bin" -display none -nodefaults -m 32 \
        -debugcon file:/dev/null -device isa-debug-exit,iobase=0xf4,iosize=0x04 -no-reboot)
else
    t_q=nan
fi
printf '%-28s %10s %12s\n' workload "time (s)" "x native"
printf '%-28s %10s %12s\n' "intmix native" "$t_native" 1.0
printf '%-28s %10s %12.1f\n' "intmix ironbox interpreter" "$t_ib" "$(echo "$t_ib / $t_native" | bc -l)"
printf '%-28s %10s %12.1f\n' "intmix qemu-system-i386 tcg" "$t_q" "$(echo "$t_q / $t_native" | bc -l)"
printf 'ironbox / qemu-tcg: %.2f   ironbox peak RSS: %s KiB   checksum %s\n' "$(echo "$t_ib / $t_q" | bc -l)" "$rss" "$native_sum"
