# /init body for the Linux benchmark (benches/run.sh builds it into an initramfs with
# scripts/build-guest.sh GUEST_INIT=script:...; the wrapper adds busybox --install, the /proc and
# /sys mounts and a final `reboot -f`). A small userland workload: a shell arithmetic loop, awk
# generating a file, gzip/gunzip, sort and md5sum over it. Its output must be the same under
# ironbox and QEMU (nothing here depends on timing or the host).
echo BENCH-BEGIN
i=0; s=0
while [ $i -lt 20000 ]; do s=$(( (s * 31 + i) % 1000003 )); i=$((i + 1)); done
echo "loop: $s"
seq 1 20000 | awk '{ print ($1 * 7919) % 100003, $1 }' > /tmp/data
echo "data: $(md5sum < /tmp/data | cut -d' ' -f1) $(wc -l < /tmp/data)"
gzip -6 -c /tmp/data > /tmp/data.gz
echo "gzip: $(wc -c < /tmp/data.gz) $(gunzip -c /tmp/data.gz | md5sum | cut -d' ' -f1)"
echo "sort: $(sort -n /tmp/data | md5sum | cut -d' ' -f1)"
echo "uniq: $(cut -d' ' -f1 /tmp/data | sort | uniq -c | sort -rn | head -3 | md5sum | cut -d' ' -f1)"
echo BENCH-END
