; bootdisk.asm — a hard-disk image that SeaBIOS boots from IDE: the boot sector loads the rest
; of the image with INT 13h (LBA extensions), enters 32-bit protected mode, runs the intmix
; workload (benches/workloads/intmix.inc, the same code the native build runs) and prints its
; checksum on the debug console (port 0xE9) before writing to isa-debug-exit (port 0xF4).
; Build: nasm -f bin -I benches/workloads/ -o disk.img tests/guest/bootdisk.asm
BITS 16
ORG 0x7C00
SECTORS equ (image_end - start + 511) / 512

start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7C00
        sti
        mov [drive], dl
        ; Read sectors 1.. to 0x7E00 with INT 13h AH=42h.
        mov si, dap
        mov ah, 0x42
        mov dl, [drive]
        int 0x13
        jc fail
        ; A20 through port 0x92, then protected mode.
        in al, 0x92
        or al, 2
        and al, 0xFE
        out 0x92, al
        cli
        lgdt [gdt_desc]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp 0x08:pm32
fail:
        mov si, msg_fail
.p:     lodsb
        test al, al
        jz .h
        out 0xE9, al
        jmp .p
.h:     mov al, 2
        out 0xF4, al
        hlt

drive:  db 0
msg_fail: db "disk read failed", 10, 0
align 4
dap:    db 16, 0
        dw SECTORS - 1
        dw 0x7E00, 0            ; buffer offset, segment
        dq 1                    ; first LBA
align 8
gdt:    dq 0
        dq 0x00CF9A000000FFFF   ; 0x08: flat code
        dq 0x00CF92000000FFFF   ; 0x10: flat data
gdt_desc:
        dw gdt_desc - gdt - 1
        dd gdt
        times 510 - ($ - $$) db 0
        dw 0xAA55

BITS 32
pm32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x90000
        mov esi, 0x100000
        call workload
        mov ebx, eax
        mov esi, msg_sum
.m:     lodsb
        test al, al
        jz .hex
        out 0xE9, al
        jmp .m
.hex:   mov ecx, 8
.d:     rol ebx, 4
        mov eax, ebx
        and eax, 15
        mov al, [digits + eax]
        out 0xE9, al
        loop .d
        mov al, 10
        out 0xE9, al
        mov al, 0
        out 0xF4, al
        hlt
msg_sum: db "intmix sum=", 0
digits:  db "0123456789ABCDEF"

%include "intmix.inc"
image_end:
        ; pad to a whole number of sectors, at least 64 KiB (a plausible disk)
        times 65536 - ($ - $$) db 0
