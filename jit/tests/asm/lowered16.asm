; Lowered instructions in 16-bit real mode (code at 0000:1000, data at 0000:8000): LEAVE on
; a 16-bit stack, LOOP with CX (and ECX with an address-size prefix), JCXZ, shifts by CL,
; SETcc, CMOVcc, CWD/CBW, BT, and Jcc/JMP/CALL beyond the CS limit (#GP). Ends with HLT.
bits 16
org 0x1000
start:
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x9000
    mov di, 0x8000
    mov bx, 0x1234
    mov word [di+0x40], 2500
    mov word [13*4], gp_handler
    mov word [13*4+2], 0
.loop:
    imul bx, bx, 25173
    add bx, 13849
    push bp
    mov bp, sp
    push bx
    push word [bp-2]
    leave
    mov cx, bx
    shr cx, 11
    mov ax, bx
    shl ax, cl
    adc [di], ax
    sar ax, cl
    rol al, cl
    pushf
    pop dx
    add [di+2], dx
    setc al
    setg ah
    add [di+4], ax
    cmp bx, 0x8000
    cmova ax, bx
    cbw
    cwd
    add [di+6], dx
    bt bx, 3
    adc word [di+8], 0
    mov cx, bx
    and cx, 3
    jcxz .z
.lp:
    inc word [di+10]
    loop .lp
.z:
    mov ecx, 0x10002
.lpw:
    inc word [di+12]
    loop .lpw
    mov [di+14], ecx
    mov ecx, 3
.lpd:
    inc word [di+12]
    a32 loop .lpd
    mov [di+18], ecx
    ; branches and calls beyond the CS limit (32-bit targets): #GP, skipped by the handler
    test bx, 0x40
    db 0x66, 0x0F, 0x84
    dd 0x20000
    inc word [di+20]
    test bx, 0x80
    jz .nocall
    db 0x66, 0xE8
    dd 0x30000
.nocall:
    test bx, 0x100
    jz .nojmp
    db 0x66, 0xE9
    dd 0x40000
.nojmp:
    dec word [di+0x40]
    jnz .loop
    hlt

; #GP: count it, resume after the faulting 6- or 7-byte instruction (66 E8/E9 or 66 0F 8x)
gp_handler:
    push bp
    mov bp, sp
    push si
    mov si, [bp+2]
    cmp byte [si+1], 0x0F
    je .l7
    add word [bp+2], 6
    jmp .done
.l7:
    add word [bp+2], 7
.done:
    pop si
    pop bp
    inc word [0x8016]
    iret
