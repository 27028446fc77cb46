; pmode.asm — protected mode entry and segmentation: selector loads (null, beyond the GDT
; limit, execute-only code into ES, read-only data into SS, not present: #NP/#SS, null SS, DPL <
; CPL), accessed bits, LAR/LSL/VERR/VERW, interrupt vs trap gates (IF), ring 3 restrictions (IN,
; CLI, HLT, MOV CR0, POPFD keeping IF/IOPL), segment registers nulled on the way to ring 3,
; conforming code, and a call gate with a privilege change and parameter copy.
; Limit/type checks on memory accesses are in seglimit.asm (QEMU TCG does not check them).
%include "lib.inc"

%macro FLAGS 1                  ; print ZF of the preceding instruction
        pushfd
        push eax
        mov eax, [esp+4]
        shr eax, 6
        and eax, 1
        H8 %1, eax
        pop eax
        popfd
%endmacro

main:
        PRINT `protected mode\n`
        mov eax, cr0
        and eax, 0x8000003F
        H32 "cr0=", eax
        NL
        DESC 0x40, 0x10000, 0xFFF, 0x92, 0x4      ; small RW data
        DESC 0x48, 0x10000, 0xFFFF, 0x90, 0x4     ; read-only data
        DESC 0x50, 0, 0xFFFFF, 0x98, 0xC          ; execute-only code
        DESC 0x58, 0x10000, 0xFFFF, 0x12, 0x4     ; not present data
        DESC 0x60, 0x10000, 0xFFF, 0x96, 0x4      ; expand-down RW, B=1
        DESC 0x70, 0x20000, 0xFFF, 0x92, 0x4      ; small stack
        DESC 0x78, 0, 0xFFFFF, 0x9E, 0xC          ; conforming readable code, DPL 0
        DESC 0x88, 0, 0xFFFFF, 0xFA, 0x8          ; 16-bit ring-3 code (G=1)
        GDT_GATE 0x80, gate_target, SEL_C32, 0xEC, 2
        ; accessed bit before and after a load
        movzx eax, byte [GDT + 0x40 + 5]
        H8 "acc before=", eax
        mov ax, 0x40
        mov fs, ax
        movzx eax, byte [GDT + 0x40 + 5]
        H8 "after=", eax
        NL
        ; selector loads
        xor eax, eax
        mov gs, ax                      ; null into GS is fine
        mov ax, 0x0803
        EXPECT .l2
        mov es, ax                      ; beyond the GDT limit: #GP(0800)
.l2:    mov ax, 0x50
        EXPECT .l3
        mov es, ax                      ; execute-only code: #GP(0050)
.l3:    mov ax, 0x48
        EXPECT .l4
        mov ss, ax                      ; read-only data into SS: #GP(0048)
.l4:    mov ax, 0x58
        EXPECT .l5
        mov es, ax                      ; not present: #NP(0058)
.l5:    mov ax, 0x58
        EXPECT .l6
        mov ss, ax                      ; not present into SS: #SS(0058)
.l6:    xor eax, eax
        EXPECT .l7
        mov ss, ax                      ; null into SS: #GP(0)
.l7:    mov ax, 0x78
        mov es, ax                      ; readable code into ES: fine
        mov eax, [es:gate_target]
        H32 "code read=", eax
        NL
        ; LAR / LSL / VERR / VERW
        mov ax, 0x40
        lar eax, eax
        FLAGS "lar40 zf="
        H32 "ar=", eax
        mov ax, 0x48
        lsl eax, eax
        H32 "lsl48=", eax
        mov ax, SEL_TSS
        lsl eax, eax
        H32 "lsltss=", eax
        NL
        mov eax, 0x800
        mov ebx, 0x12345678
        lsl ebx, eax
        FLAGS "lsl800 zf="
        H32 "ebx=", ebx
        mov ax, 0x80
        lar ebx, eax
        FLAGS "lar gate zf="
        H32 "ar=", ebx
        NL
        mov ax, 0x48
        verr ax
        FLAGS "verr48="
        verw ax
        FLAGS "verw48="
        mov ax, 0x50
        verr ax
        FLAGS "verr50="
        mov ax, 0x78
        verr ax
        FLAGS "verr78="
        mov ax, 0x58
        verr ax
        FLAGS "verr58="
        NL
        ; interrupt vs trap gate
        mov al, 0xFF
        out 0x21, al                    ; mask the PIC (if there is one)
        out 0xA1, al
        IDT_GATE 0x50, gate_if, SEL_C32, 0x8E
        IDT_GATE 0x51, gate_if, SEL_C32, 0x8F
        sti
        int 0x50
        int 0x51
        cli
        NL
        ; ring 3
        mov ax, SEL_D32
        mov fs, ax
        mov gs, ax
        ENTER_RING3
        mov ax, cs
        H16 "r3 cs=", eax
        mov ax, ss
        H16 "ss=", eax
        mov ax, fs
        H16 "fs=", eax
        mov ax, gs
        H16 "gs=", eax
        NL
        EXPECT .r1
        in al, 0x80                     ; IOPL 0, port not in the bitmap: #GP(0)
.r1:    EXPECT .r2
        cli
.r2:    EXPECT .r3
        hlt
.r3:    EXPECT .r4
        mov eax, cr0
.r4:    EXPECT .r5
        mov ax, SEL_D32
        mov ds, ax                      ; DPL 0 data from CPL 3: #GP(0010)
.r5:    pushfd
        or dword [esp], 0x3200          ; try to set IOPL=3 and IF
        popfd
        pushfd
        pop eax
        and eax, 0x3200
        H32 "r3 popfd iopl/if=", eax
        NL
        ; conforming code keeps CPL 3
        call 0x78:conf_target
        ; call gate to ring 0 with two parameters
        push dword 0xAAAA0001
        push dword 0xBBBB0002
        call 0x80:0
        mov ebx, esp
        H32 "after gate esp=", ebx
        NL
        LEAVE_RING3
        ret

conf_target:
        mov ax, cs
        H16 "conforming cs=", eax
        NL
        retf

gate_target:                    ; ring 0, reached through the call gate
        mov ax, cs
        H16 "gate cs=", eax
        mov ax, ss
        H16 "ss=", eax
        mov ebp, esp
        H32 "p0=", [ebp+8]
        H32 "p1=", [ebp+12]
        H16 "ret cs=", [ebp+4]
        H32 "old esp=", [ebp+16]
        H16 "old ss=", [ebp+20]
        NL
        retf 8

gate_if:
        pushfd
        pop eax
        shr eax, 9
        and eax, 1
        H8 "handler if=", eax
        iretd
ROM_END
