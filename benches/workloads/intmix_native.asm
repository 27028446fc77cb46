; intmix_native.asm — the intmix workload as a static 32-bit Linux program (the native baseline).
BITS 32
section .bss
scratch: resb 2*1024*1024
out:     resb 16
section .text
global _start
_start:
        mov esi, scratch
        call workload
        ; print the checksum in hex and a newline
        mov edi, out
        mov ecx, 8
.hex:   rol eax, 4
        mov edx, eax
        and edx, 15
        mov dl, [digits + edx]
        mov [edi], dl
        inc edi
        loop .hex
        mov byte [edi], 10
        mov eax, 4
        mov ebx, 1
        mov ecx, out
        mov edx, 9
        int 0x80
        mov eax, 1
        xor ebx, ebx
        int 0x80
digits: db "0123456789ABCDEF"
%include "intmix.inc"
