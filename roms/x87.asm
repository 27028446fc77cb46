; x87.asm — x87 FPU: FINIT state, constants (FLDPI, FLDL2T, FLDLN2) as 80-bit images, + - * /
; and FSQRT to 80 bits, FPREM, FRNDINT and FISTP under all four rounding modes, FBSTP, 64-bit
; FILD/FISTP, FCOM/FUCOM with FSTSW AX, FXAM, FSTENV/FSAVE control/status/tag words, a masked
; zero divide (status flags), and an unmasked one with CR0.NE=1 raising #MF on the next FWAIT.
; FSIN/FCOS are printed only as single-precision values: QEMU computes them in host double
; precision, so their low-order 80-bit bits differ from real hardware.
%include "lib.inc"

M equ 0x10000                   ; scratch

%macro P80 1                    ; print the 80-bit value at %1
        H16 "", [%1 + 8]
        H32 "", [%1 + 4]
        H32 "", [%1]
%endmacro
%macro ST80 1                   ; pop ST0, print it as 80 bits with a label
        fstp tword [M]
        PRINT %1
        P80 M
%endmacro
%macro SW 0
        fnstsw ax
        and eax, 0xFFFF
        H16 "sw=", eax
%endmacro

main:
        mov eax, cr0
        and eax, ~(1<<2)                ; EM=0
        or eax, (1<<1) | (1<<5)         ; MP, NE
        mov cr0, eax
        finit
        fnstcw [M]
        H16 "cw=", [M]
        SW
        NL
        fldpi
        ST80 "pi="
        fldl2t
        ST80 "l2t="
        fldln2
        ST80 "ln2="
        NL
        fld1
        mov dword [M], 3
        fidiv dword [M]
        ST80 "1/3="
        mov dword [M], 2
        fild dword [M]
        fsqrt
        ST80 "sqrt2="
        NL
        fldpi
        fld1
        faddp st1, st0
        mov dword [M+16], 7
        fimul dword [M+16]
        ST80 "(pi+1)*7="
        fld1
        fldpi
        fsubrp st1, st0                 ; st0 = pi - 1
        ST80 "pi-1="
        NL
        ; FPREM: 10 mod 3
        mov dword [M], 3
        fild dword [M]
        mov dword [M], 10
        fild dword [M]
        fprem
        SW
        ST80 "fprem="
        fstp st0
        NL
        ; rounding modes: +2.5 and -2.5 through FISTP, and 1/3 via FRNDINT
        mov ecx, 0
.rc:    fnstcw [M]
        and word [M], ~0x0C00
        mov eax, ecx
        shl eax, 10
        or [M], ax
        fldcw [M]
        mov dword [M+4], 0x40200000     ; 2.5 as a float
        fld dword [M+4]
        fistp dword [M+8]
        mov dword [M+4], 0xC0200000     ; -2.5
        fld dword [M+4]
        fistp dword [M+12]
        fld1
        mov dword [M+4], 3
        fidiv dword [M+4]
        fstp dword [M+16]               ; 1/3 rounded to single precision
        H8 "rc", ecx
        H32 "", [M+8]
        H32 "", [M+12]
        H32 "", [M+16]
        NL
        inc ecx
        cmp ecx, 4
        jb .rc
        finit
        ; FBSTP, 64-bit integers
        mov dword [M], 12345678
        fild dword [M]
        fchs
        fbstp [M]
        PRINT "fbstp="
        P80 M
        mov dword [M], 0x89ABCDEF
        mov dword [M+4], 0x01234567
        fild qword [M]
        fistp qword [M+8]
        H32 "fild64=", [M+12]
        H32 "", [M+8]
        NL
        ; compares, FXAM
        fld1
        fldz
        fcom st1
        SW
        fucomp st1
        SW
        fxam
        SW
        fstp st0
        fldz
        fchs
        fxam
        SW
        fstp st0
        NL
        ; FSIN/FCOS at single precision
        mov dword [M], 0x3F000000       ; 0.5
        fld dword [M]
        fsin
        fstp dword [M+4]
        fld dword [M]
        fcos
        fstp dword [M+8]
        H32 "sin=", [M+4]
        H32 "cos=", [M+8]
        NL
        ; FSTENV / FSAVE
        finit
        fld1
        fldpi
        fstenv [M]
        H16 "env cw=", [M]
        H16 "sw=", [M+4]
        H16 "tw=", [M+8]
        fsave [M+0x40]
        H16 "save cw=", [M+0x40]
        H16 "sw=", [M+0x44]
        H16 "tw=", [M+0x48]
        PRINT "st0="
        P80 M+0x40+28
        NL
        fnstcw [M]                      ; FSAVE reinitialised the FPU
        H16 "after fsave cw=", [M]
        SW
        NL
        frstor [M+0x40]
        ST80 "frstor st0="
        NL
        ; masked zero divide
        finit
        fld1
        fldz
        fdivp st1, st0
        SW
        ST80 "1/0="
        NL
        ; unmasked zero divide -> #MF at the next waiting instruction
        mov dword [exc_hook], clear_fpu
        finit
        fnstcw [M]
        and word [M], ~0x04             ; unmask ZE
        fldcw [M]
        fld1
        fldz
        fdivp st1, st0
        nop
        fwait                           ; #MF here
        mov dword [exc_hook], 0
        ; TOP is not printed: a Pentium II leaves the stack alone when an unmasked zero divide
        ; is detected (SDM vol. 1, 8.5: pre-computation exceptions do not pop), while QEMU's
        ; FDIVP pops anyway (TOP 7 instead of 6).
        fnstsw ax
        and eax, 0xC7FF
        H16 "sw=", eax
        NL
        ret

clear_fpu:                      ; exception hook: clear the pending x87 exception
        fnclex
        ret
ROM_END
