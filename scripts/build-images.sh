#!/usr/bin/env bash
# Assembles ironbox's boot-test guest images from Debian's packages, without root mounts or loop
# devices (mtools, `mkfs.vfat --offset`, `syslinux --offset`, sfdisk on image files,
# grub-mkrescue). Output (cached under target/images/; each rebuilt only when missing):
#   hd-syslinux.img      MBR hard disk (syslinux mbr.bin), one active FAT16 partition with
#                        SYSLINUX booting the default guest (target/guest/vmlinuz + initrd.img)
#   cd-grub.iso          GRUB (i386-pc, El Torito) CD on the serial console, booting the same
#   floppy-syslinux.img  1.44 MB FAT12 floppy with SYSLINUX: its COM32 menu (menu.c32) on the
#                        serial port, timing out into the COM32 module reboot.c32
#   memtest86+ia32.bin   memtest86+ 6's 32-bit image (Linux boot protocol), for --kernel
#   memtest-floppy.img   1.44 MB FAT12 floppy: SYSLINUX loading memtest86+ia32.bin (no serial
#                        console: memtest86+ draws on the VGA text screen)
#   netboot/linux, netboot/initrd.gz
#                        Debian 12's i386 netboot installer (text frontend), for --kernel/--initrd
#   netboot-hd.img       64 MiB MBR hard disk: SYSLINUX loading the netboot installer with its
#                        console on the VGA text screen
# Usage: scripts/build-images.sh [hd-syslinux|cd-grub|floppy-syslinux|memtest|memtest-floppy|
#                                 netboot|netboot-hd]...
# (no argument: all of them). Prints the path of each image asked for on stdout.
# Needs root (or sudo) the first time: it installs the tools it runs and downloads packages.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
out="$root/target/images"
dl="$out/debs"
mkdir -p "$out" "$dl"

sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"

apt_updated=""
apt_update() {
    [ -n "$apt_updated" ] && return 0
    $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 update -qq || true  # a stale mirror index must not stop us
    apt_updated=1
}

need_tools() { # need_tools CMD:PKG... installs PKG when CMD (a path or a command name) is missing
    local pkgs=() spec cmd pkg
    for spec in "$@"; do
        cmd=${spec%%:*} pkg=${spec#*:}
        if [[ $cmd == /* ]]; then [ -e "$cmd" ] && continue; else command -v "$cmd" >/dev/null && continue; fi
        pkgs+=("$pkg")
    done
    [ ${#pkgs[@]} -eq 0 ] && return 0
    apt_update
    # (Once more after a fresh index if it fails: a mirror caught mid-sync, or another
    # install running at the same time, fails an install that works a minute later.)
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        "${pkgs[@]}" >/dev/null || {
        sleep 20
        apt_updated=""
        apt_update
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
            "${pkgs[@]}" >/dev/null
    }
}

fetch() { # fetch PKG: download PKG's .deb into $dl (once) and unpack it to $dl/PKG/; prints that dir
    local pkg=$1 deb
    if ! ls "$dl"/"$pkg"_*.deb >/dev/null 2>&1; then
        apt-cache show "$pkg" >/dev/null 2>&1 || apt_update
        (cd "$dl" && apt-get download -qq "$pkg" 2>&1 | grep -v 'Download is performed unsandboxed' >&2 || true)
        ls "$dl"/"$pkg"_*.deb >/dev/null 2>&1 || { echo "cannot download Debian package $pkg" >&2; exit 1; }
    fi
    if [ ! -d "$dl/$pkg" ]; then
        deb=$(ls "$dl"/"$pkg"_*.deb | head -1)
        rm -rf "$dl/$pkg.tmp"
        dpkg-deb -x "$deb" "$dl/$pkg.tmp"
        mv "$dl/$pkg.tmp" "$dl/$pkg"
    fi
    echo "$dl/$pkg"
}

guest() { # the default guest's kernel and initramfs
    if [ ! -s target/guest/vmlinuz ] || [ ! -s target/guest/initrd.img ]; then
        scripts/build-guest.sh >&2
    fi
}

syslinux_hd() { # syslinux_hd IMG MIB CFG FILE...: an MBR disk (syslinux mbr.bin), one active
    # FAT16 partition at 1 MiB holding syslinux.cfg (from the file CFG) and FILE...
    local img=$1 mib=$2 cfg=$3 tmp="$1.tmp"
    shift 3
    need_tools mcopy:mtools mkfs.vfat:dosfstools sfdisk:fdisk syslinux:syslinux \
        /usr/lib/syslinux/mbr/mbr.bin:syslinux-common
    rm -f "$tmp"
    truncate -s "${mib}M" "$tmp"
    printf 'label: dos\nstart=2048, type=6, bootable\n' | sfdisk -q "$tmp"
    dd if=/usr/lib/syslinux/mbr/mbr.bin of="$tmp" bs=440 count=1 conv=notrunc status=none
    # -h: the boot sector's hidden-sectors field holds the partition's start.
    mkfs.vfat --invariant --offset 2048 -h 2048 -g 16/63 -F 16 -n IRONBOX "$tmp" >/dev/null
    export MTOOLS_SKIP_CHECK=1
    mcopy -i "$tmp@@1M" "$cfg" ::syslinux.cfg
    mcopy -i "$tmp@@1M" "$@" ::
    syslinux --offset $((2048 * 512)) --install "$tmp"
    mv "$tmp" "$img"
}

syslinux_floppy() { # syslinux_floppy IMG CFG FILE...: a 1.44 MB FAT12 floppy with SYSLINUX,
    # syslinux.cfg (from the file CFG) and FILE...
    local img=$1 cfg=$2 tmp="$1.tmp"
    shift 2
    need_tools mcopy:mtools mkfs.vfat:dosfstools syslinux:syslinux
    rm -f "$tmp"
    mkfs.vfat --invariant -C "$tmp" 1440 >/dev/null
    export MTOOLS_SKIP_CHECK=1
    mcopy -i "$tmp" "$cfg" ::syslinux.cfg
    mcopy -i "$tmp" "$@" ::
    syslinux --install "$tmp"
    mv "$tmp" "$img"
}

build_hd_syslinux() {
    local img="$out/hd-syslinux.img" cfg
    [ -s "$img" ] && return 0
    guest
    cfg=$(mktemp)
    cat > "$cfg" <<'CFG'
SERIAL 0 115200
PROMPT 0
TIMEOUT 0
DEFAULT linux
SAY ironbox: SYSLINUX on the hard disk, loading the default guest
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND console=ttyS0
CFG
    # 32 MiB disk.
    syslinux_hd "$img" 32 "$cfg" target/guest/vmlinuz target/guest/initrd.img
    rm -f "$cfg"
}

build_cd_grub() {
    local iso="$out/cd-grub.iso"
    [ -s "$iso" ] && return 0
    guest
    need_tools grub-mkrescue:grub-common /usr/lib/grub/i386-pc/eltorito.img:grub-pc-bin \
        xorriso:xorriso mformat:mtools
    local tree
    tree=$(mktemp -d)
    mkdir -p "$tree/boot/grub"
    cp target/guest/vmlinuz target/guest/initrd.img "$tree/boot/"
    cat > "$tree/boot/grub/grub.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
menuentry "ironbox default guest" {
    echo "ironbox: GRUB loading Linux"
    linux /boot/vmlinuz console=ttyS0
    echo "ironbox: GRUB loading the initramfs"
    initrd /boot/initrd.img
}
CFG
    grub-mkrescue -d /usr/lib/grub/i386-pc -o "$iso.tmp" "$tree" 2>/dev/null \
        || grub-mkrescue -d /usr/lib/grub/i386-pc -o "$iso.tmp" "$tree"
    rm -rf "$tree"
    mv "$iso.tmp" "$iso"
}

build_floppy_syslinux() {
    local img="$out/floppy-syslinux.img" cfg
    [ -s "$img" ] && return 0
    local mods=/usr/lib/syslinux/modules/bios
    need_tools $mods/menu.c32:syslinux-common
    # SYSLINUX 6's SAY and DISPLAY reach only the screen (the config is read before the serial
    # console opens), so the visible proof is the COM32 menu, drawn on the serial port too;
    # after its 0.5 s timeout it runs reboot.c32, which resets the machine.
    cfg=$(mktemp)
    cat > "$cfg" <<'CFG'
SERIAL 0 115200
UI menu.c32
PROMPT 0
TIMEOUT 5
MENU TITLE ironbox floppy boot ok
DEFAULT reboot
LABEL reboot
  MENU LABEL Reboot (reboot.c32)
  COM32 reboot.c32
CFG
    syslinux_floppy "$img" "$cfg" $mods/menu.c32 $mods/libutil.c32 $mods/libcom32.c32 \
        $mods/reboot.c32
    rm -f "$cfg"
}

build_memtest() {
    local bin="$out/memtest86+ia32.bin" dir
    [ -s "$bin" ] && return 0
    dir=$(fetch memtest86+)
    cp "$dir/boot/memtest86+ia32.bin" "$bin.tmp"
    mv "$bin.tmp" "$bin"
}

build_netboot() {
    local dest="$out/netboot" dir src
    [ -s "$dest/linux" ] && [ -s "$dest/initrd.gz" ] && return 0
    dir=$(fetch debian-installer-12-netboot-i386)
    src="$dir/usr/lib/debian-installer/images/12/i386/text/debian-installer/i386"
    mkdir -p "$dest"
    cp "$src/linux" "$dest/linux.tmp" && mv "$dest/linux.tmp" "$dest/linux"
    cp "$src/initrd.gz" "$dest/initrd.gz.tmp" && mv "$dest/initrd.gz.tmp" "$dest/initrd.gz"
    # The unpacked package (100 MB, mostly the graphical installer) is not needed again.
    rm -rf "$dir"
}

boot_cfg() { # boot_cfg KERNEL INITRD|- APPEND: a syslinux.cfg (in a temporary file, whose
    # name it prints) that boots KERNEL through the Linux boot protocol at once
    local cfg
    cfg=$(mktemp)
    printf 'PROMPT 0\nTIMEOUT 0\nDEFAULT boot\nLABEL boot\n  LINUX %s\n' "$1" > "$cfg"
    [ "$2" != - ] && printf '  INITRD %s\n' "$2" >> "$cfg"
    printf '  APPEND %s\n' "$3" >> "$cfg"
    echo "$cfg"
}

build_memtest_floppy() {
    local img="$out/memtest-floppy.img" cfg
    [ -s "$img" ] && return 0
    build_memtest
    # memtest86+ 6 is a Linux-boot-protocol image: SYSLINUX's LINUX directive loads it (the
    # name has no .bin, which SYSLINUX would take for a boot sector). `nobench` skips the
    # start-up memory benchmark (~1.5 G instructions of timing loops).
    cfg=$(boot_cfg memtest - "nobench nopause")
    cp "$out/memtest86+ia32.bin" "$out/memtest"
    syslinux_floppy "$img" "$cfg" "$out/memtest"
    rm -f "$cfg" "$out/memtest"
}

build_netboot_hd() {
    local img="$out/netboot-hd.img" cfg
    [ -s "$img" ] && return 0
    build_netboot
    # The installer's console is the VGA text screen (no console=, vga=normal); `quiet` keeps
    # the kernel's log off it, as on Debian's own boot media; `nomodeset` keeps bochs-drm (and
    # with it fbcon at 1024x768) away, so that the screen stays in VGA text mode (vgacon).
    cfg=$(boot_cfg linux initrd.gz "vga=normal nomodeset quiet")
    syslinux_hd "$img" 64 "$cfg" "$out/netboot/linux" "$out/netboot/initrd.gz"
    rm -f "$cfg"
}

[ $# -eq 0 ] && set -- hd-syslinux cd-grub floppy-syslinux memtest memtest-floppy netboot netboot-hd
for name in "$@"; do
    case $name in
        hd-syslinux) build_hd_syslinux; echo "$out/hd-syslinux.img" ;;
        cd-grub) build_cd_grub; echo "$out/cd-grub.iso" ;;
        floppy-syslinux) build_floppy_syslinux; echo "$out/floppy-syslinux.img" ;;
        memtest) build_memtest; echo "$out/memtest86+ia32.bin" ;;
        memtest-floppy) build_memtest_floppy; echo "$out/memtest-floppy.img" ;;
        netboot) build_netboot; echo "$out/netboot/linux"; echo "$out/netboot/initrd.gz" ;;
        netboot-hd) build_netboot_hd; echo "$out/netboot-hd.img" ;;
        *) echo "unknown image $name (expected hd-syslinux, cd-grub, floppy-syslinux, memtest," \
               "memtest-floppy, netboot, netboot-hd)" >&2
           exit 2 ;;
    esac
done
