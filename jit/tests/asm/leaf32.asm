; Leaf functions on other pages than the code that calls them, which translations take in
; (jit/src/region.rs, `Foreign`), in flat 32-bit protected mode with paging: a loop calls a
; position-independent-code thunk (`mov ebx, [esp] / ret`, as `__x86.get_pc_thunk.bx`) and a
; short function of its argument, each on a page of its own. A third of the way through, the
; function's linear page is remapped (PTE and INVLPG) to another physical page with other
; code; two thirds of the way, the thunk's code is rewritten in place. Both changes must
; show in the sums at once. Ends with HLT.
bits 32
org 0x1000
%include "paging32.inc"
PD equ 0x80000
PT equ 0x81000
THUNK equ 0x4000                ; linear = physical
LEAF equ 0x5000                 ; linear page of the function: physical LEAF, then ALT
ALT equ 0x6000
ROUNDS equ 30000
start:
    mov esp, 0x9000
    identity_page_table PT
    enable_paging PD, PT
    ; the code of the other pages
    mov esi, thunk_code
    mov edi, THUNK
    mov ecx, thunk_end - thunk_code
    rep movsb
    mov esi, leaf_a
    mov edi, LEAF
    mov ecx, leaf_a_end - leaf_a
    rep movsb
    mov esi, leaf_b
    mov edi, ALT
    mov ecx, leaf_b_end - leaf_b
    rep movsb
    xor edx, edx
    xor edi, edi
    mov ecx, ROUNDS
.loop:
    call THUNK
.after_thunk:
    sub ebx, .after_thunk
    add edx, ebx                ; + 0, or + 1 once the thunk is rewritten
    push ecx
    call LEAF
    add esp, 4
    add edi, eax
    cmp ecx, ROUNDS * 2 / 3
    jne .not_remap
    mov dword [PT + (LEAF >> 12) * 4], ALT | 3
    invlpg [LEAF]
.not_remap:
    cmp ecx, ROUNDS / 3
    jne .not_rewrite
    mov byte [THUNK + 3], 0x43  ; inc ebx
    mov byte [THUNK + 4], 0xC3  ; ret
.not_rewrite:
    dec ecx
    jnz .loop
    mov [0x8000], edx
    mov [0x8004], edi
    hlt

thunk_code:
    mov ebx, [esp]
    ret
    nop
thunk_end:

leaf_a:
    mov eax, [esp + 4]
    lea eax, [eax * 2 + 1]
    ret
leaf_a_end:

leaf_b:
    mov eax, [esp + 4]
    imul eax, eax, 3
    xor eax, 0x55
    ret
leaf_b_end:
