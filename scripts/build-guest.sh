#!/usr/bin/env bash
# Assembles ironbox's default guest from Debian's packages: the i386 Linux kernel
# (linux-image-686) and a busybox (busybox-static) initramfs whose /init prints a banner and
# starts a shell on the serial console. Output (cached; rebuilt only when missing):
#   target/guest/vmlinuz        the kernel (bzImage)
#   target/guest/initrd.img     the initramfs (gzip'd newc cpio)
# With GUEST_INIT=script:FILE, /init runs FILE's commands instead of a shell and then reboots
# (for automated tests): output goes to target/guest/initrd-FILENAME.img.
# Needs root (or sudo) the first time: it enables the i386 architecture and downloads packages.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(pwd)/target/guest"
dl="$out/debs"
mkdir -p "$out" "$dl"

sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"

need_pkgs=()
command -v cpio >/dev/null || need_pkgs+=(cpio)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    $sudo_cmd apt-get update -qq || true  # a stale mirror index must not stop us
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

fetch() { # fetch PKG:i386 into $dl (once)
    local pkg=$1
    if ! ls "$dl"/"${pkg%%:*}"_*.deb >/dev/null 2>&1; then
        if ! dpkg --print-foreign-architectures | grep -qx i386; then
            $sudo_cmd dpkg --add-architecture i386
            $sudo_cmd apt-get update -qq || true
        fi
        if ! apt-cache show "$pkg" >/dev/null 2>&1; then
            $sudo_cmd apt-get update -qq || true
        fi
        (cd "$dl" && apt-get download -qq "$pkg")
    fi
}

if [ ! -s "$out/vmlinuz" ]; then
    fetch linux-image-686:i386
    real=$(apt-cache depends linux-image-686:i386 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-686\)\(:i386\)\{0,1\}$/\1/p' | head -1)
    [ -n "$real" ] || { echo "cannot resolve the kernel package behind linux-image-686" >&2; exit 1; }
    fetch "$real:i386"
    tmp=$(mktemp -d)
    dpkg-deb -x "$(ls "$dl"/"$real"_*.deb | head -1)" "$tmp"
    cp "$(ls "$tmp"/boot/vmlinuz-* | head -1)" "$out/vmlinuz.tmp"
    mv "$out/vmlinuz.tmp" "$out/vmlinuz"
    rm -rf "$tmp"
fi

fetch busybox-static:i386

build_initrd() { # build_initrd INIT_SCRIPT OUTPUT
    local init=$1 dest=$2 root
    root=$(mktemp -d)
    mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,root,usr/bin,usr/sbin}
    dpkg-deb -x "$(ls "$dl"/busybox-static_*.deb | head -1)" "$root/bb"
    cp "$root/bb/bin/busybox" "$root/bin/busybox"
    rm -rf "$root/bb"
    cp "$init" "$root/init"
    chmod 755 "$root/init"
    # Byte-for-byte the same image from the same packages and script (fixed times, inode
    # numbers and no gzip timestamp): the guest's instruction count depends on its bytes.
    find "$root" -exec touch -h -d @0 {} +
    (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 --reproducible | gzip -9 -n > "$dest.tmp")
    mv "$dest.tmp" "$dest"
    rm -rf "$root"
}

shell_init=$(mktemp)
cat > "$shell_init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo
echo "ironbox guest: Linux $(uname -r) with $(busybox | head -1 | cut -d' ' -f1-2)"
echo "(Ctrl-A X quits ironbox)"
exec setsid cttyhack sh
INIT

if [ "${GUEST_INIT:-}" != "" ]; then
    script=${GUEST_INIT#script:}
    name=$(basename "$script" .sh)
    test_init=$(mktemp)
    { echo '#!/bin/busybox sh'
      echo '/bin/busybox --install -s'
      echo 'mount -t proc proc /proc; mount -t sysfs sysfs /sys'
      cat "$script"
      echo 'reboot -f'; } > "$test_init"
    build_initrd "$test_init" "$out/initrd-$name.img"
    rm -f "$test_init"
    echo "$out/initrd-$name.img"
elif [ ! -s "$out/initrd.img" ]; then
    build_initrd "$shell_init" "$out/initrd.img"
fi
rm -f "$shell_init"
ls -l "$out"/vmlinuz "$out"/initrd*.img >&2
