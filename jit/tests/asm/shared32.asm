; Code and data on one 4 KiB page: a loop that keeps writing a buffer next to its own
; instructions (no self-modification). Translations must survive (sub-page tracking).
bits 32
org 0x1000
start:
    mov esp, 0x9000
    mov ecx, 20000
    xor eax, eax
.loop:
    mov ebx, ecx
    and ebx, 63
    add eax, ecx
    mov [buf + ebx*4], eax
    add [buf + 256], eax
    xor eax, [buf + ebx*4 + 4]
    dec ecx
    jnz .loop
    mov [0x8000], eax
    hlt
align 16
buf: times 70 dd 0
