; v86.asm — virtual-8086 mode entered by IRETD with VM=1: real-mode segmentation, the I/O
; permission bitmap (port E9 allowed, port 80 denied), and the IOPL-sensitive instructions
; (CLI, STI, PUSHF, POPF, INT n, IRET) trapping with #GP(0) at IOPL 0 but running at IOPL 3;
; HLT and MOV CR0 always #GP; INT n at IOPL 3 going through a DPL-3 IDT gate to ring 0, with
; the segment registers cleared on entry and restored by IRETD.
%include "lib.inc"

v86_cont equ VARS + 0x20

%macro V86 2                    ; enter V86 at %1 with extra EFLAGS %2, continue at next instr
        mov dword [v86_cont], %%back
        call enter_v86_%1
%%back:
%endmacro

main:
        mov al, 0xFF
        out 0x21, al
        out 0xA1, al
        mov dword [exc_hook], v86_hook
        IDT_GATE 0x31, v86_exit, SEL_C32, 0xEE
        IDT_GATE 0x41, seg_dump, SEL_C32, 0xEE
        mov dword [v86_cont], .b1
        mov [saved_esp], esp
        push 0                          ; GS
        push 0                          ; FS
        push 0x0100                     ; DS
        push 0x0200                     ; ES
        push 0x1000                     ; SS
        push 0x1000                     ; SP
        push 0x20002                    ; VM, IOPL 0
        push 0xF000
        push R(v86_iopl0)
        iretd
.b1:    PRINT `back from v86 (iopl 0)\n`
        mov dword [v86_cont], .b2
        mov [saved_esp], esp
        push 0x0400
        push 0x0300
        push 0x0100
        push 0x0200
        push 0x1000
        push 0x1000
        push 0x23002                    ; VM, IOPL 3
        push 0xF000
        push R(v86_iopl3)
        iretd
.b2:    PRINT `back from v86 (iopl 3)\n`
        H32 "mem 12350=", [0x12350]
        H32 "stack=", [0x10FFC]
        NL
        mov dword [exc_hook], 0
        ret

; exception hook: an INT 31 that faulted in V86 (IOPL < 3) leaves V86 too
v86_hook:
        test dword [ebp+56], 0x20000
        jz .r
        movzx eax, word [ebp+52]
        shl eax, 4
        add eax, [ebp+48]
        cmp word [eax], 0x31CD
        je v86_exit
.r:     ret

v86_exit:
        mov ax, SEL_D32
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov dword [resume], 0
        mov esp, [saved_esp]
        jmp [v86_cont]

seg_dump:                       ; INT 41 from V86: ring 0 sees null data segments
        push eax
        push ebp
        mov ebp, esp                    ; +8 EIP, +12 CS, ... +28 ES, +32 DS, +36 FS, +40 GS
        mov ax, ds
        H16 "int41 ds=", eax
        mov ax, es
        H16 "es=", eax
        mov ax, fs
        H16 "fs=", eax
        mov ax, cs
        H16 "cs=", eax
        H16 "v86 cs=", [ebp+12]
        H16 "ss=", [ebp+24]
        H16 "es=", [ebp+28]
        H16 "ds=", [ebp+32]
        H16 "fs=", [ebp+36]
        H16 "gs=", [ebp+40]
        NL
        pop ebp
        pop eax
        iretd

        bits 16
%macro EXP16 1
        mov dword [resume], R(%1)
%endmacro
v86_iopl0:
        PRINT16 `v86 iopl 0\n`
        mov ax, ds
        call hex16_16
        PRINT16 " "
        mov ax, ss
        call hex16_16
        PRINT16 " "
        smsw ax
        call hex16_16
        PRINT16 `\n`
        mov ax, 0
        mov ds, ax                      ; DS=0 for the resume variable
        EXP16 .1
        cli
.1:     EXP16 .2
        sti
.2:     EXP16 .3
        pushf
.3:     EXP16 .4
        popf
.4:     EXP16 .5
        int 0x41
.5:     EXP16 .6
        in al, 0x80
.6:     EXP16 .7
        hlt
.7:     EXP16 .8
        mov eax, cr0
.8:     EXP16 .9
        iret
.9:     mov ax, 0x1234
        mov es, ax
        mov word [es:0x10], 0xBEEF
        int 0x31                        ; #GP, then the hook leaves V86

v86_iopl3:
        PRINT16 `v86 iopl 3\n`
        pushf
        pop ax
        call hex16_16
        PRINT16 " "
        cli
        pushfd
        pop eax
        shr eax, 16
        call hex16_16
        PRINT16 `\n`
        int 0x41
        mov ax, 0x1234
        mov es, ax
        inc word [es:0x10]
        push word 0x5678
        push word 0x9ABC
        int 0x31
        bits 32
ROM_END
