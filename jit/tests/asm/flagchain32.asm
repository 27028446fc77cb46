; Status flags across chained exits (flat 32-bit, code at 0x1000): routines that end with a
; flag-writing instruction and RET, and indirect jumps after a flag writer, whose targets read
; the flags first (ADC, PUSHF, SETcc, Jcc), or fault first (DIV by zero: the #DE handler adds
; the EFLAGS image the CPU pushed into a checksum and makes the divisor 1); carries tested
; right after shifts, rotates and additions. Ends with HLT.
bits 32
org 0x1000
IDT equ 0x7F000
SUM equ 0x7000
start:
    lgdt [gdtr]
    lidt [idtr]
    mov esp, 0x9000
    mov eax, de_handler
    mov [IDT], ax
    mov word [IDT + 2], 8
    mov word [IDT + 4], 0x8E00
    shr eax, 16
    mov [IDT + 6], ax
    mov dword [SUM], 0
    mov ebp, 3000
.loop:
    mov eax, ebp
    imul eax, eax, 0x9E3779B1
    call add_big
    adc ebx, 0                  ; CF from the routine
    call cmp_ab
    pushf                       ; every flag from the routine
    pop edx
    add esi, edx
    call sub_seven
    setc cl
    setz ch
    seto dl
    add bl, cl
    add bh, ch
    add esi, edx
    ; carries read straight from their writer: shifts, rotates and ADD, then JC/JNC
    mov eax, ebp
    imul eax, eax, 0x2545F491
    shr eax, 3
    jc .s1
    inc esi
.s1:
    shl eax, 5
    jnc .s2
    add esi, 3
.s2:
    sar eax, 7
    jc .s3
    xor esi, 0x55
.s3:
    rol eax, 9
    jc .s4
    sub esi, 7
.s4:
    ror eax, 13
    jnc .s5
    add esi, 11
.s5:
    add eax, 0xC0000000
    jc .s6
    add esi, 13
.s6:
    add al, 0x90
    jnc .s7
    add esi, 17
.s7:
    add esi, eax
    ; a DIV that faults when EBP % 4 == 0, first thing after the RET
    mov ecx, ebp
    and ecx, 3
    xor edx, edx
    call add_big
    div ecx
    add edi, eax
    ; indirect jumps to targets that read the flags first
    mov eax, ebp
    and eax, 3
    mov edx, ebp
    shl edx, 29
    add edx, ebp                ; flags of an ADD pending at the jump
    jmp [table + eax * 4]
t0:
    jc .c0
    inc edi
.c0:
    jmp next
t1:
    sbb edi, 5
    jmp next
t2:
    jo .o2
    add edi, 3
.o2:
    jmp next
t3:
    lahf
    add edi, eax
next:
    dec ebp
    jnz start.loop
    mov [SUM + 4], ebx
    mov [SUM + 8], esi
    mov [SUM + 12], edi
    hlt

add_big:
    add eax, 0x7FFFFFF0
    ret
cmp_ab:
    cmp eax, ebx
    ret
sub_seven:
    sub eax, 7
    ret

de_handler:
    push eax
    mov eax, [esp + 12]         ; the EFLAGS image
    add [SUM], eax
    pop eax
    mov ecx, 1
    iret

align 4
table:
    dd t0, t1, t2, t3

align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF       ; 8: code, flat
    dq 0x00CF92000000FFFF       ; 16: data, flat
gdtr:
    dw 23
    dd gdt
idtr:
    dw 0x7FF
    dd IDT
