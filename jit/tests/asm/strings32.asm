; String instructions in flat 32-bit protected mode with paging (code at 0x1000): REP
; MOVSB/W/D and STOSB/W/D forward and backward (DF=1), unaligned, overlapping (bytes that
; propagate), counts of zero and of several batches; plain LODS/STOS/MOVS; REPE/REPNE CMPS
; and SCAS, forward and backward; a REP MOVSD that runs into a page that is not present (#PF
; midway: the handler logs ECX/ESI/EDI/CR2, maps the page and the instruction resumes); a
; REP STOSB that runs past ES's limit (#GP midway: the handler logs the registers and ends
; the instruction); and REP MOVSB onto a page of code (a routine patched every 4th round,
; called every round). Ends with HLT.
bits 32
org 0x1000
%include "paging32.inc"
PD equ 0x80000
PT equ 0x81000
IDT equ 0x7F000
LOG equ 0x7E000                 ; fault log: [LOG] = entries so far, 16 bytes each
HOLE equ 0x60000                ; the page mapped on demand
start:
    lgdt [gdtr]
    lidt [idtr]
    mov esp, 0x9000
    ; IDT: #GP (13) and #PF (14) as interrupt gates
    mov eax, gp_handler
    mov edi, IDT + 13*8
    call set_gate
    mov eax, pf_handler
    mov edi, IDT + 14*8
    call set_gate
    ; page tables: identity for the first MiB, HOLE not present
    identity_page_table PT
    mov dword [PT + (HOLE >> 12) * 4], HOLE | 2
    enable_paging PD, PT
    mov dword [LOG], 0
    mov ebp, 120                ; rounds
.round:
    cld
    ; fill (several batches, across pages)
    mov edi, 0x10000
    mov ecx, 1000
    add ecx, ebp
    mov eax, ebp
    imul eax, eax, 0x01010101
    rep stosd
    ; unaligned copy
    mov esi, 0x10001
    mov edi, 0x20003
    mov ecx, 1100
    rep movsd
    ; overlapping forward copy: bytes propagate
    mov esi, 0x20000
    mov edi, 0x20001
    mov ecx, 600
    rep movsb
    ; backward word copy, overlapping the other way
    std
    mov esi, 0x21000
    mov edi, 0x21002
    mov ecx, 700
    rep movsw
    ; backward fills
    mov edi, 0x22FFF
    mov ecx, 5000
    mov al, 0x5A
    add al, bl
    rep stosb
    mov edi, 0x23002
    mov ecx, 300
    rep stosw
    cld
    ; counts of zero
    xor ecx, ecx
    rep movsd
    rep stosb
    ; plain forms, both directions
    mov esi, 0x20100
    mov edi, 0x24000
    mov ecx, 100
.plain:
    lodsd
    xor eax, ecx
    stosw
    lodsb
    stosb
    movsd
    std
    movsb
    stosd
    lodsw
    cld
    add ebx, eax
    dec ecx
    jnz .plain
    ; REPE CMPSB / REPNE SCASB
    mov esi, 0x20003
    mov edi, 0x20003
    mov ecx, 3000
    repe cmpsb
    add ebx, ecx
    mov edi, 0x10000
    mov ecx, 6000
    mov al, 0x5A
    repne scasb
    add ebx, ecx
    ; backward REPE SCASD over the fill, REPNE CMPSW
    std
    mov edi, 0x10000 + 4 * 900
    mov ecx, 2000
    mov eax, [edi]
    repe scasd
    add ebx, ecx
    add ebx, edi
    pushf
    pop eax
    add ebx, eax
    cld
    mov esi, 0x20010
    mov edi, 0x22000
    mov ecx, 1500
    repne cmpsw
    pushf
    add ebx, ecx
    add ebx, esi
    pop eax
    add ebx, eax
    ; copy into the hole: #PF after 512 dwords, resumed by the handler
    mov esi, 0x10000
    mov edi, HOLE - 0x800
    mov ecx, 1024
    rep movsd
    mov eax, [HOLE + 0x10]
    add ebx, eax
    mov dword [PT + (HOLE >> 12) * 4], HOLE | 2
    invlpg [HOLE]
    ; a plain MOVSD into the hole (#PF, resumed), backwards
    std
    mov esi, 0x10010
    mov edi, HOLE + 0x20
    movsd
    cld
    add ebx, esi
    add ebx, edi
    mov dword [PT + (HOLE >> 12) * 4], HOLE | 2
    invlpg [HOLE]
    ; a fill past ES's limit: #GP midway
    mov ax, 24
    mov es, ax
    mov edi, 0xF00
    mov ecx, 0x200
    mov al, bl
    rep stosb
    mov ax, 16
    mov es, ax
    ; every 4th round: patch the routine on the code page; call it
    test ebp, 3
    jnz .nopatch
    mov [template + 1], ebp
    mov esi, template
    mov edi, patch
    mov ecx, template_end - template
    rep movsb
.nopatch:
    call patch
    add ebx, eax
    dec ebp
    jnz .round
    mov [0x7D000], ebx
    hlt

set_gate:
    mov [edi], ax
    mov word [edi + 2], 8
    mov word [edi + 4], 0x8E00
    shr eax, 16
    mov [edi + 6], ax
    ret

log_regs:                       ; ECX, ESI, EDI, EDX (what) into the log
    push eax
    mov eax, [LOG]
    inc dword [LOG]
    and eax, 0xFF
    shl eax, 4
    mov [LOG + 16 + eax], ecx
    mov [LOG + 20 + eax], esi
    mov [LOG + 24 + eax], edi
    mov [LOG + 28 + eax], edx
    pop eax
    ret

pf_handler:
    push edx
    mov edx, cr2
    call log_regs
    mov dword [PT + (HOLE >> 12) * 4], HOLE | 3
    invlpg [HOLE]
    pop edx
    add esp, 4                  ; error code
    iret

gp_handler:
    push edx
    mov edx, [esp + 4]          ; error code
    call log_regs
    pop edx
    add esp, 4
    push eax
    mov ax, 16
    mov es, ax
    pop eax
    xor ecx, ecx                ; the retried instruction does nothing
    iret

template:
    mov eax, 0x12345678
    ret
template_end:

align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF       ; 8: code, flat
    dq 0x00CF92000000FFFF       ; 16: data, flat
    dq 0x0040920300000FFF       ; 24: data, base 0x30000, limit 0xFFF (bytes)
gdtr:
    dw 31
    dd gdt
idtr:
    dw 0x7FF
    dd IDT

; the patched routine, on a page of its own (every translation on a rewritten page goes
; stale, and code that keeps going stale stays interpreted)
align 4096
    nop
patch:
    mov eax, 0
    ret
    nop
