; 16-bit real-mode mix for the engine tests: code at 0000:1000, data at 0000:8000.
bits 16
org 0x1000
start:
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x9000
    mov cx, 2000
    mov bx, 0x1234
    mov di, 0x8000
.loop:
    add ax, cx
    adc bx, ax
    xor dx, bx
    mov [di], ax
    add [di+2], bx
    inc word [di+4]
    mov al, [di+3]
    mov ah, bl
    mov si, bx
    and si, 0x3e
    add [si+0x8008], dx
    lea bp, [bx+si+3]
    cmp ax, bp
    jb .below
    inc word [di+6]
.below:
    push ax
    call f16
    pop ax
    dec cx
    jnz .loop
    mov [0x8100], ax
    mov [0x8102], bx
    mov [0x8104], dx
    hlt
f16:
    push bp
    mov bp, sp
    mov dx, [bp+4]
    rcl dx, 1
    add [0x8080], dx
    pop bp
    ret
