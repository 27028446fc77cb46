# Commands the Linux smoke test runs as /init (after busybox --install and mounting /proc, /sys).
# Their output must be the same under ironbox and under qemu-system-i386: nothing here may
# depend on timing, the CPU model string or the host.
echo IRONBOX-BEGIN
echo "kernel: $(uname -s) $(uname -r) $(uname -m)"
echo "arith: $((6 * 7)) $((1 << 20)) $((123456789 % 97))"
echo "sum: $(seq 1 1000 | awk '{ s += $1 } END { print s }')"
echo "sort: $(echo 'pear apple fig banana' | tr ' ' '\n' | sort | tr '\n' ' ')"
echo "sha1: $(echo ironbox | sha1sum | cut -d' ' -f1)"
echo "md5: $(seq 1 5000 | md5sum | cut -d' ' -f1)"
echo "cmdline: $(cat /proc/cmdline)"
echo "mem: $(awk '/MemTotal/ { print ($2 > 100000) ? "over 100 MB" : "under 100 MB" }' /proc/meminfo)"
echo "fs: $(ls /proc/self > /dev/null && echo proc ok) $(cat /sys/kernel/uevent_seqnum > /dev/null && echo sys ok)"
mkdir -p /tmp/t && echo data > /tmp/t/f && echo "tmpfile: $(cat /tmp/t/f)"
echo IRONBOX-END
