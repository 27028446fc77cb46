; rom.asm — wraps one benchmark workload as a BIOS-replacement ROM (roms/lib.inc), the same
; image for ironbox (--bios) and QEMU (-bios). Assemble with
;     nasm -f bin -I roms/ -I benches/workloads/ -DWORKLOAD='"NAME.inc"' [-DROUNDS=N] rom.asm
; The workload file defines `workload` (in: ESI = 0x100000, 8 MiB of free RAM; out: EAX =
; checksum). The checksum goes to the debug console (port 0xE9) as "sum=XXXXXXXX", then the
; lib writes port 0xF4 (isa-debug-exit).
%include "lib.inc"
main:
        finit
        mov esi, 0x100000
        call workload
        H32 "sum=", eax
        NL
        ret
%include WORKLOAD
ROM_END
