; String instructions in 16-bit real mode (code at 0000:1000, data in segment 0x7000): REP
; STOSB/MOVSW/MOVSB whose offsets wrap at 0xFFFF (both directions), a32 forms, CX counting with
; the high half of ECX kept, and a REP STOSW whose word at offset 0xFFFF overruns the segment
; (#GP midway: the handler logs CX/DI and ends the instruction), and a plain STOSW there.
; Ends with HLT.
bits 16
org 0x1000
LOG equ 0x6000                  ; fault log in segment 0: count, then 8 bytes per entry
start:
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x9000
    mov word [13*4], gp_handler
    mov word [13*4+2], 0
    mov word [LOG], 0
    mov ax, 0x7000
    mov es, ax
    mov bp, 150                 ; rounds
.round:
    cld
    push ds
    mov ax, 0x7000
    mov ds, ax
    ; a fill that wraps DI from 0xFFFF to 0
    mov di, 0xFFF0
    mov cx, 0x120
    mov al, 0x11
    add ax, bp
    rep stosb
    ; word copy with both offsets wrapping (even: no overrun)
    mov si, 0xFF00
    mov di, 0xFFF0
    mov cx, 0x300
    rep movsw
    ; backward byte copy wrapping below 0
    std
    mov si, 0x0008
    mov di, 0x0100
    mov cx, 0x40
    rep movsb
    mov di, 0x0010
    mov cx, 0x30
    rep stosw
    cld
    ; the high half of ECX stays
    mov ecx, 0x12340105
    mov si, 0x2000
    mov di, 0x3001
    rep movsb
    add bx, cx
    shr ecx, 16
    add bx, cx
    ; address-size prefix: ESI/EDI/ECX
    mov esi, 0x4000
    mov edi, 0x5003
    mov ecx, 0x203
    a32 rep movsd
    mov edi, 0x6000
    mov ecx, 0x311
    a32 rep stosb
    ; overlapping forward copy
    mov si, 0x5000
    mov di, 0x5001
    mov cx, 0x200
    rep movsb
    ; plain forms
    mov si, 0x5100
    mov di, 0x7000
    mov cx, 30
.plain:
    lodsw
    xor ax, cx
    stosb
    movsw
    std
    lodsb
    stosw
    cld
    add bx, ax
    loop .plain
    ; REPE CMPSW / REPNE SCASB
    mov si, 0x5001
    mov di, 0x5001
    mov cx, 0x150
    repe cmpsw
    add bx, cx
    mov di, 0x2000
    mov cx, 0x1000
    mov al, 0x99
    repne scasb
    add bx, cx
    pop ds
    ; a word fill overrunning offset 0xFFFF: #GP after 7 words
    mov di, 0xFFF1
    mov cx, 0x10
    mov ax, bx
    rep stosw
    ; a plain STOSW at 0xFFFF: #GP (the handler moves DI to 0)
    mov di, 0xFFFF
    stosw
    add bx, di
    dec bp
    jnz .round
    mov [0x7000], bx
    hlt

gp_handler:
    push si
    mov si, [LOG]
    inc word [LOG]
    and si, 0x3F
    shl si, 3
    mov [LOG + 2 + si], cx
    mov [LOG + 4 + si], di
    mov [LOG + 6 + si], bx
    pop si
    xor cx, cx                  ; a retried REP does nothing,
    xor di, di                  ; a plain one writes at 0
    iret
