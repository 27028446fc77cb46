; seglimit.asm — segment limit and type checks on memory accesses (ring 3, so that faults
; switch to the ring-0 stack): a null segment register used, a dword crossing a byte-granular
; limit, a write to read-only data, expand-down segments, stack pushes/pops beyond SS's limit.
; QEMU TCG does not check segment limits or types on accesses, so this ROM's expected output is
; the hand-written seglimit.expected (Intel SDM vol. 3, 5.3 and 5.4), not QEMU's.
%include "lib.inc"

        ; fixed address, so that the expected EIPs do not move when lib.inc changes
        times 0x8000 - ($ - $$) db 0xFF
main:
        DESC 0x40, 0x10000, 0xFFF, 0xF2, 0x4      ; small RW data, DPL 3
        DESC 0x48, 0x10000, 0xFFFF, 0xF0, 0x4     ; read-only data, DPL 3
        DESC 0x60, 0x10000, 0xFFF, 0xF6, 0x4      ; expand-down RW, B=1, DPL 3
        DESC 0x70, 0x20000, 0xFFF, 0xF2, 0x4      ; small stack, DPL 3
        ENTER_RING3
        xor eax, eax
        mov gs, ax
        EXPECT .l1
        mov eax, [gs:0]                 ; null selector used: #GP(0)
.l1:    mov ax, 0x43
        mov es, ax
        mov al, [es:0xFFF]              ; last byte: fine
        EXPECT .m1
        mov eax, [es:0xFFE]             ; crosses the limit: #GP(0)
.m1:    mov ax, 0x4B
        mov es, ax
        mov eax, [es:0]
        EXPECT .m2
        mov [es:0], eax                 ; read-only: #GP(0)
.m2:    mov ax, 0x63
        mov es, ax
        EXPECT .m3
        mov eax, [es:0x800]             ; expand-down, at or below the limit: #GP(0)
.m3:    mov dword [es:0x1000], 0x11223344
        mov eax, [es:0xFFFFFFFC]
        mov eax, [0x11000]
        H32 "expand-down write=", eax
        NL
        mov ax, 0x73
        mov ebx, esp
        mov ss, ax
        mov esp, 0x1000
        push eax                        ; fine
        mov esp, 0x1002
        EXPECT .m4
        push eax                        ; wraps to FFFFFFFE, beyond the limit: #SS(0)
.m4:    mov esp, 0x2000
        EXPECT .m5
        pop eax                         ; above the limit: #SS(0)
.m5:    mov ax, SEL_D3
        mov ss, ax
        mov esp, ebx
        LEAVE_RING3
        ret
ROM_END
