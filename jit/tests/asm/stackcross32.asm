; Stack-frame groups (jit/src/lower/stack.rs) whose range crosses from one page into the
; next, where the next linear page maps to a physical page elsewhere (paging on): pushes,
; pops and frame reads across the boundary with ESP 4-aligned, then with ESP 2 bytes off,
; where pushes themselves straddle the two pages. Ends with HLT.
bits 32
org 0x1000
%include "paging32.inc"
PD equ 0x80000
PT equ 0x81000
LOW equ 0x20000                 ; linear = physical
HIGH equ 0x21000                ; linear HIGH -> physical AWAY
AWAY equ 0x40000
start:
    ; page tables: identity for the first MiB, but HIGH -> AWAY
    identity_page_table PT
    mov dword [PT + (HIGH >> 12) * 4], AWAY | 3
    enable_paging PD, PT
    xor esi, esi
    mov esp, HIGH + 8           ; aligned: frames across the boundary
    call frames
    mov esp, HIGH + 6           ; misaligned: the first push straddles the boundary
    call frames
    mov esp, HIGH + 0x806       ; misaligned, all on one page
    call frames
    mov esp, 0x9000
    mov [0x8000], esi
    hlt

; 3000 rounds of pushes, frame reads and pops at ESP - 12 .. ESP + 3 (ESP as called:
; below the return address).
frames:
    mov ecx, 3000
.loop:
    mov eax, ecx
    imul eax, eax, 0x01010101
    push eax
    push ecx
    mov edx, [esp + 4]
    add edx, [esp]
    push edx
    add esi, [esp + 8]
    pop edx
    pop ebx
    pop eax
    add esi, edx
    xor esi, ebx
    dec ecx
    jnz .loop
    ret
