#!/usr/bin/env bash
# Installs the Debian packages that ironbox's build and tests use (idempotent).
set -euo pipefail
need=()
command -v nasm >/dev/null || need+=(nasm)
command -v gdb >/dev/null || need+=(gdb)
command -v qemu-system-i386 >/dev/null || need+=(qemu-system-x86)
[ -f /usr/share/seabios/bios.bin ] || need+=(seabios)
# The SDL2 window (linked against the system library) and its tests under a virtual X server.
pkg-config --exists sdl2 2>/dev/null || need+=(libsdl2-dev pkg-config)
command -v xvfb-run >/dev/null || need+=(xvfb)
command -v xauth >/dev/null || need+=(xauth)
# The window tests press the hotkeys and read the title through the X server.
command -v xdotool >/dev/null || need+=(xdotool)
if [ ${#need[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    echo "installing: ${need[*]}"
    $sudo_cmd apt-get update -qq || true  # a stale mirror index must not stop us
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi
mkdir -p target
