; x87 instructions in 16-bit real-mode code at 0000:1000 (data at 0000:8000): memory operands
; with every 16-bit addressing form ([bx+si], [bp+di] on SS, segment overrides, disp8/disp16),
; FNSTSW AX, register stack moves, flags pending across x87 instructions, and #NM (CR0.TS)
; through the real-mode IVT. The handler folds the FLAGS image into a checksum. Ends with HLT.
bits 16
org 0x1000
SUM equ 0x7000
start:
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x9000
    mov word [7*4], nm_handler
    mov word [7*4 + 2], 0
    mov ax, 0x0700
    mov fs, ax                  ; FS:0x1000 = 0x8000
    mov word [SUM], 0
    fninit
    mov cx, 2500
    mov bx, 0x8000
    xor dx, dx
.loop:
    mov si, cx
    and si, 0x1e
    mov [bx+si], cx
    mov di, si
    mov bp, 0x8040
    mov [bp+di+8], dx
    add dx, cx                  ; flags pending across the x87 instructions
    fild word [bx+si]
    fild word [bp+di+8]
    fadd st0, st1
    fld st0
    fmul st0, st0
    fxch st2
    fsubr st0, st1
    adc dx, 0
    fcom st2
    fnstsw ax
    sahf
    jbe .le
    fchs
.le:
    fist word [bx+si+0x100]
    add dx, [bx+si+0x100]
    fstp dword [fs:0x1000 + 0x200]
    fmulp st1, st0
    fstp qword [es:di+0x8300]
    fstp st0
    mov ax, [0x8200]
    xor dx, ax
    ; #NM every 16th round
    test cx, 15
    jnz .no_nm
    mov eax, cr0
    or al, 8
    mov cr0, eax
    cmp cx, dx                  ; flags pending at the fault
    fld1                        ; #NM
    fstp st0
.no_nm:
    dec cx
    jnz .loop
    fnstenv [0x8400]
    hlt

nm_handler:
    push bp
    mov bp, sp
    mov ax, [bp + 6]            ; the FLAGS image
    add [SUM], ax
    pop bp
    clts
    iret
