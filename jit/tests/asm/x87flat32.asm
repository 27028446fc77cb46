; x87 instructions in flat 32-bit code at 0x1000 (data at 0x8000): loads and stores in every
; format with base/index/scale addressing, register arithmetic, compares through FNSTSW/SAHF,
; status flags of integer instructions pending across x87 instructions, an FIST into the code
; (the translation leaves), and faults: #NM (CR0.TS), #MF (an unmasked ZE, CR0.NE=1) and #GP
; (a load beyond FS's limit). FXCH, FLD ST(i) and FST(P) ST(i) run inline unless something is
; unusual: C1 set before them, empty and special registers, a full stack, #NM/#MF at them;
; register arithmetic and compares (a leaner call) with empty operands, pops, FNSTENV after
; them, #MF at FCOM ST(i) and FSTSW AX. The handlers fold the EFLAGS image into a checksum.
; Ends with HLT.
bits 32
org 0x1000
IDT equ 0x7F000
SUM equ 0x7000
DATA equ 0x8000
%macro GATE 2
    mov eax, %2
    mov [IDT + %1*8], ax
    mov word [IDT + %1*8 + 2], 8
    mov word [IDT + %1*8 + 4], 0x8E00
    shr eax, 16
    mov [IDT + %1*8 + 6], ax
%endmacro
start:
    lgdt [gdtr]
    lidt [idtr]
    mov esp, 0x9000
    GATE 7, nm_handler
    GATE 13, gp_handler
    GATE 16, mf_handler
    mov ax, 24
    mov fs, ax
    mov eax, cr0
    or eax, 0x22                ; NE, MP
    and eax, ~0xC               ; EM, TS clear
    mov cr0, eax
    mov dword [SUM], 0
    mov dword [DATA + 0x100], 0
    mov dword [DATA + 0x104], 0x3FF80000 ; 1.5
    mov word [DATA + 0x108], 0x037F
    mov word [DATA + 0x10A], 0x037B     ; ZE unmasked
    mov esi, DATA
    mov edi, DATA + 0x400
    xor ebx, ebx
    xor edx, edx
    mov ebp, 1500
.loop:
    fninit
    mov eax, ebp
    imul eax, eax, 0x9E3779B1
    mov [esi], eax
    mov ecx, ebp
    and ecx, 15
    mov [esi + ecx*4 + 0x40], ebp
    add ebx, eax                ; flags pending across the x87 instructions
    fild dword [esi]
    fild dword [esi + ecx*4 + 0x40]
    fmul st0, st1
    fadd qword [esi + 0x100]
    fabs
    fsqrt
    fxch st1
    fdivr st0, st1
    adc edx, 0                  ; CF from the ADD above
    fcom st1
    fnstsw ax
    sahf
    ja .above
    fchs
.above:
    fst qword [edi + ecx*8]
    fistp dword [esi + 0x20]
    fild word [esi + 0x20]
    fmulp st1, st0
    fld1
    faddp st1, st0
    fst dword [esi + 0x24]
    fistp qword [esi + 0x28]
    mov eax, [esi + 0x28]
    add edx, eax
    fldpi
    fld st0
    fsub st0, st2
    fsubrp st1, st0
    fcomp st1
    fucomp st0
    fstp tword [esi + 0x30]
    xor edx, [esi + 0x30]
    fld tword [esi + 0x30]
    fbstp [esi + 0x50]
    add edx, [esi + 0x50]
    ; register stack moves (inline when nothing is unusual): zero, special and empty
    ; registers, a full stack (FLD overflows: masked IE|SF), FXCH with an empty register
    fninit
    fldz
    fld1
    fxch st1
    fld st1
    fxch st2
    fdiv st0, st1               ; 0/1
    fld st0
    fxch st3                    ; ST(3) empty: IE|SF, both become indefinite
    fstp qword [esi + 0x70]
    fld st0
    fld st1
    fld st2
    fld st3
    fld st4                     ; 8 registers in use
    fld st2                     ; overflow
    fxch st7
    fldpi
    fxch st4
    fst st6
    fstp st3
    fstp st0
    fld st0
    fstp tword [esi + 0x80]
    fnstenv [esi + 0x90]
    mov eax, [esi + 0x98]       ; the tag word
    add edx, eax
    fninit
    fstp st0                    ; empty: IE|SF
    fldz
    fst st1                     ; into an empty register
    fstp st1
    fnstsw ax
    add edx, eax
    ; C1 set by a rounding up, cleared by FLD ST(i) / FXCH / FST ST(i)
    fninit
    fld1
    mov dword [esi + 0xF0], 3
    fidiv dword [esi + 0xF0]    ; 1/3 rounds up: C1
    fld st0
    fnstsw ax
    add edx, eax
    fidiv dword [esi + 0xF0]
    fxch st1
    fnstsw ax
    add edx, eax
    fidiv dword [esi + 0xF0]
    fst st2
    fnstsw ax
    add edx, eax
    ; register arithmetic and compares (`x87_rr`): empty operands (masked IE|SF), pops,
    ; reversed forms, unordered compares, FNSTSW after each
    fninit
    fld1
    fldpi
    fdivrp st1, st0
    fld st0
    fsubp st2, st0              ; ST(2) empty
    fnstsw ax
    add edx, eax
    fld1
    fcompp
    fnstsw ax
    add edx, eax
    fucompp                     ; ST(1) empty
    fnstsw ax
    add edx, eax
    fninit
    fldz
    fld1
    fucom st1
    fnstsw ax
    add edx, eax
    fcomp st3                   ; empty
    fnstsw ax
    add edx, eax
    fmul st0, st0
    fadd st0, st5               ; empty
    fsubr st0, st0
    fdiv st0, st0               ; NaN operands
    fldz
    fdivr st0, st0              ; 0/0: IE
    fnstenv [esi + 0x90]        ; FIP, FCS and FOP of the FDIVR
    add edx, [esi + 0x9C]
    add edx, [esi + 0xA0]
    fnstsw ax
    add edx, eax
    fstp qword [esi + 0x78]
    add edx, [esi + 0x7C]
    ; an environment with an unmasked flag set (and ES clear in the image): the FXCH after
    ; FLDENV raises #MF
    fnstenv [esi + 0x100]
    mov word [esi + 0x100], 0x035F      ; PM unmasked
    or word [esi + 0x104], 0x0020       ; PE set
    and word [esi + 0x104], 0x7F7F      ; ES, B clear
    fldenv [esi + 0x100]
    fxch st1
    fnstsw ax
    add edx, eax
    fninit
    ; the code changed under the translation (every 1024th round): FIST into the immediate
    fild dword [esi]
    test ebp, 1023
    jnz .no_patch
    fist dword [.patch + 1]
.patch:
    mov eax, 0
    add [SUM], eax
.no_patch:
    fstp st0
    ; #NM every 8th round
    test ebp, 7
    jnz .no_nm
    mov eax, cr0
    or eax, 8                   ; TS
    mov cr0, eax
    cmp ebp, ebx                ; flags pending at the fault
    fld1                        ; #NM
    fstp st0
    mov eax, cr0
    or eax, 8                   ; TS
    mov cr0, eax
    fxch st1                    ; #NM
    mov eax, cr0
    or eax, 8                   ; TS
    mov cr0, eax
    mov eax, ebx
    fnstsw ax                   ; #NM
    add edx, eax
    fstsw ax
    xor edx, eax
.no_nm:
    ; #MF every 5th round
    mov eax, ebp
    xor edx, edx
    mov ecx, 5
    div ecx
    test edx, edx
    jnz .no_mf
    fldcw [esi + 0x10A]
    fld1
    fldz
    fdivp st1, st0              ; ZE unmasked: ES set
    sub eax, ebp                ; flags pending at the fault
    fcom st1                    ; #MF (the handler clears ES)
    fldz
    fdivp st1, st0              ; ES again
    fstsw ax                    ; #MF
    fldz
    fdivp st1, st0              ; ES again
    fld st0                     ; #MF
    faddp st1, st0
    fld st0
    fdivr st0, st0
    fxch st1
    fldcw [esi + 0x108]
.no_mf:
    ; #GP every 7th round: FS's limit is 0xFFF
    mov eax, ebp
    xor edx, edx
    mov ecx, 7
    div ecx
    mov eax, 0x1000
    test edx, edx
    jz .gp
    xor eax, eax
.gp:
    or ecx, eax                 ; flags pending at the fault
    fld dword [fs:eax + 0x10]   ; #GP when EAX = 0x1000 (the handler clears EAX)
    fstp dword [esi + 0x60]
    add edx, [esi + 0x60]
    dec ebp
    jnz .loop
    fnstenv [esi + 0x200]
    hlt

nm_handler:
    push eax
    mov eax, [esp + 12]         ; the EFLAGS image
    add [SUM], eax
    pop eax
    clts
    iret
mf_handler:
    push eax
    mov eax, [esp + 12]
    add [SUM], eax
    pop eax
    fnclex
    iret
gp_handler:
    mov eax, [esp + 12]         ; (error code, EIP, CS) EFLAGS
    add [SUM], eax
    xor eax, eax
    add esp, 4
    iret

align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF       ; 8: code, flat
    dq 0x00CF92000000FFFF       ; 16: data, flat
    dq 0x0040920080000FFF      ; 24: data at 0x8000, limit 0xFFF (byte granular)
gdtr:
    dw 31
    dd gdt
idtr:
    dw 0x7FF
    dd IDT
