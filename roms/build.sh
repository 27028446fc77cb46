#!/bin/sh
# Assemble every test ROM: roms/build.sh [OUTDIR]  (default: target/roms). Needs nasm.
set -e
here=$(dirname "$0")
out=${1:-$here/../target/roms}
mkdir -p "$out"
for f in "$here"/*.asm; do
    n=$(basename "$f" .asm)
    nasm -f bin -w-number-overflow -I "$here/" -o "$out/$n.bin" "$f"
done
