; intmix_rom.asm — the intmix workload as a BIOS-replacement ROM (prints the checksum on 0xE9).
%include "lib.inc"
main:
        mov esi, 0x100000
        call workload
        H32 "intmix sum=", eax
        NL
        ret
%include "intmix.inc"
ROM_END
