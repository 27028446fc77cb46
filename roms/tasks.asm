; tasks.asm — hardware task switches between 32-bit TSSs: JMP to a TSS (busy bits move, no
; back link, NT clear), CALL to a TSS (both busy, NT set, back link), IRET with NT=1 returning
; through the back link, INT n through a task gate, the saved EIP/EFLAGS/registers in the old
; TSS, STR, and #GP for a JMP to a busy TSS.
%include "lib.inc"

TSSB equ 0x10000
TSSC equ 0x10100
SEL_B equ 0x40
SEL_C equ 0x48

%macro BUSY 0                   ; print the TSS descriptor types of A, B and C (9 free, B busy)
        pushfd
        push eax
        movzx eax, byte [GDT + SEL_TSS + 5]
        and eax, 0x0F
        H8 "types A=", eax
        movzx eax, byte [GDT + SEL_B + 5]
        and eax, 0x0F
        H8 "B=", eax
        movzx eax, byte [GDT + SEL_C + 5]
        and eax, 0x0F
        H8 "C=", eax
        pop eax
        popfd
%endmacro
%macro NTF 0                    ; print NT and TR
        pushfd
        push eax
        mov eax, [esp+4]
        shr eax, 14
        and eax, 1
        H8 "nt=", eax
        str ax
        H16 "tr=", eax
        pop eax
        popfd
%endmacro

main:
        ; TSS B and C: fresh 32-bit tasks at ring 0, no I/O bitmap
        mov edi, TSSB
        xor eax, eax
        mov ecx, 0x200/4
        rep stosd
        mov dword [TSSB + 0x20], task_b         ; EIP
        mov dword [TSSB + 0x24], 0x0002         ; EFLAGS
        mov dword [TSSB + 0x28], 0xB0B0B0B0     ; EAX
        mov dword [TSSB + 0x38], 0x7800         ; ESP
        mov dword [TSSC + 0x20], task_c
        mov dword [TSSC + 0x24], 0x0002
        mov dword [TSSC + 0x38], 0x7400
%assign t TSSB
%rep 2
        mov dword [t + 0x48], SEL_D32           ; ES
        mov dword [t + 0x4C], SEL_C32           ; CS
        mov dword [t + 0x50], SEL_D32           ; SS
        mov dword [t + 0x54], SEL_D32           ; DS
        mov dword [t + 0x58], SEL_D32           ; FS
        mov dword [t + 0x5C], SEL_D32           ; GS
        mov word [t + 0x66], 0x68               ; no I/O bitmap
%assign t t + 0x100
%endrep
        DESC SEL_B, TSSB, 0x67, 0x89, 0
        DESC SEL_C, TSSC, 0x67, 0x89, 0
        IDT_GATE 0x60, 0, SEL_C, 0x85
        BUSY
        NTF
        NL
        mov eax, 0xAAAA0001
        mov ebx, 0xAAAA0002
        jmp SEL_B:0
        ; B jumps back here
        PRINT "A after jmp: "
        BUSY
        NTF
        H32 "eax=", eax
        H32 "B eip=", [TSSB + 0x20]
        H32 "B eax=", [TSSB + 0x28]
        NL
        mov eax, 0xAAAA0003
        call SEL_B:0
        PRINT "A after call: "
        BUSY
        NTF
        H32 "eax=", eax
        NL
        int 0x60
        PRINT "A after task gate: "
        BUSY
        NTF
        H16 "C link=", [TSSC]
        NL
        EXPECT .g1
        jmp SEL_TSS:0                           ; A is busy: #GP(0038)
.g1:    BUSY
        NL
        ret

task_b:
        PRINT "task B: "
        BUSY
        NTF
        H32 "eax=", eax
        H32 "ebx=", ebx
        H32 "A eip=", [TSS + 0x20]
        H32 "A eax=", [TSS + 0x28]
        NL
        mov eax, 0xB0B0B0B1
        jmp SEL_TSS:0
        PRINT "task B again: "
        BUSY
        NTF
        H16 "link=", [TSSB]
        H32 "eax=", eax
        NL
        mov eax, 0xB0B0B0B2
        iretd
        jmp task_b

task_c:
        PRINT "task C: "
        BUSY
        NTF
        H16 "link=", [TSSC]
        NL
        iretd
        jmp task_c
ROM_END
