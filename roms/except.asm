; except.asm — exceptions in real and protected mode: #DE (DIV, IDIV overflow, AAM 0), #UD
; (UD2, LOCK on a non-lockable instruction), #BR (BOUND), #BP (INT3), #OF (INTO), #DB
; single-step via TF (trap EIP, DR6.BS), #NP for a not-present IDT gate, #GP for INT n through a
; DPL-0 gate from ring 3, and a double fault (#GP delivered through a not-present gate).
; Fault EIPs must point at the faulting instruction, trap EIPs after it.
%define REAL_MAIN
%include "lib.inc"

        bits 16
RRESUME equ VARS + 0x40
real_main:
        PRINT16 `real mode\n`
        mov word [RRESUME], 0
        ; IVT entries 0..7 -> rm_stubs
        xor bx, bx
        mov ax, R(rm_stubs)
.ivt:   mov [bx], ax
        mov word [bx+2], 0xF000
        add ax, 8
        add bx, 4
        cmp bx, 8*4
        jb .ivt
        mov word [RRESUME], R(.r1)
        xor ax, ax
        xor dx, dx
        div ax
.r1:    mov word [RRESUME], R(.r2)
        aam 0
.r2:    mov word [RRESUME], R(.r3)
        ud2
.r3:    int3
        mov al, 0x7F
        add al, 1                       ; OF=1
        into
        mov word [0x500], 10
        mov word [0x502], 20
        mov ax, 25
        mov word [RRESUME], R(.r4)
        bound ax, [0x500]
.r4:    mov ax, 15
        bound ax, [0x500]               ; in range: no exception
        pushf
        pop ax
        or ax, 0x100
        push ax
        popf                            ; TF=1: trap after the next instruction
        nop
        nop
        pushf
        pop ax
        and ax, ~0x100
        push ax
        popf
        PRINT16 `real mode done\n`
        ret

        align 8
rm_stubs:
%assign v 0
%rep 8
        push strict word v
        jmp near rm_common
        times 8 - 6 nop
%assign v v+1
%endrep
rm_common:                      ; [bp+2] vec, [bp+4] ip, [bp+6] cs, [bp+8] flags
        push bp
        mov bp, sp
        push ax
        PRINT16 "rexc "
        mov ax, [bp+2]
        call hex16_16
        PRINT16 " ip="
        mov ax, [bp+4]
        call hex16_16
        PRINT16 ` tf=`
        mov ax, [bp+8]
        shr ax, 8
        and ax, 1
        call hex16_16
        PRINT16 `\n`
        mov ax, [RRESUME]
        test ax, ax
        jz .r
        mov [bp+4], ax
        mov word [RRESUME], 0
.r:     pop ax
        pop bp
        add sp, 2
        iret

        bits 32
main:
        PRINT `protected mode\n`
        xor eax, eax
        xor edx, edx
        EXPECT .d1
        div eax
.d1:    mov eax, 0x80000000
        cdq
        mov ecx, -1
        EXPECT .d2
        idiv ecx
.d2:    mov ax, 0x1234
        mov cl, 0
        EXPECT .d3
        div cl
.d3:    EXPECT .u1
        ud2
.u1:    EXPECT .u2
        db 0xF0, 0x90                   ; LOCK NOP
.u2:    int3
        mov al, 0x7F
        add al, 1
        into
        test al, al                     ; OF=0
        into                            ; nothing
        mov dword [0x10000], -5
        mov dword [0x10004], 5
        mov eax, 6
        EXPECT .b1
        bound eax, [0x10000]
.b1:    mov eax, -6
        EXPECT .b2
        bound eax, [0x10000]
.b2:    mov eax, -5
        bound eax, [0x10000]
        ; single step
        mov eax, 0xFFFF0FF0
        mov dr6, eax
        pushfd
        or dword [esp], 0x100
        popfd
        nop
        mov ebx, 1
        pushfd
        and dword [esp], ~0x100
        popfd
        mov eax, dr6
        H32 "dr6=", eax
        NL
        ; not-present gate -> #NP(vec*8+2)
        IDT_GATE 0x40, exc_stubs + 0x40*16, SEL_C32, 0x0E
        EXPECT .n1
        int 0x40
.n1:    IDT_GATE 0x41, exc_stubs + 0x41*16, SEL_C32, 0xEE
        IDT_GATE 0x42, exc_stubs + 0x42*16, SEL_C32, 0x8E
        ENTER_RING3
        int 0x41                        ; DPL 3 gate: allowed
        EXPECT .g1
        int 0x42                        ; DPL 0 gate from ring 3: #GP(0x42*8+2)
.g1:    EXPECT .g2
        int3                            ; the lib's vector 3 gate is DPL 0: #GP(1A)
.g2:    LEAVE_RING3
        ; double fault: #GP delivered through a not-present gate raises #NP -> #DF
        IDT_GATE 13, exc_stubs + 13*16, SEL_C32, 0x0E
        mov ax, 0x0800                  ; beyond the GDT limit
        EXPECT .df
        mov ds, ax
.df:    IDT_STD 13
        mov ax, SEL_D32
        mov ds, ax
        ; #GP with a selector error code, and #NP/#SS/#TS are in pmode.asm
        mov eax, [exc_cnt]
        H32 "exceptions=", eax
        NL
        ret
ROM_END
