; Integer mix for the engine tests: 32-bit flat code at 0x1000, data at 0x8000.
; Loops, ALU with every flag reader, memory operands, 8/16-bit registers, push/pop,
; calls, string instructions, self-modifying code. Ends with HLT (IF=0).
bits 32
org 0x1000
start:
    mov esp, 0x9000
    xor eax, eax
    mov ebx, 0x12345678
    mov ecx, 3000
    mov edi, 0x8000
.loop:
    add eax, ecx
    adc ebx, eax
    sbb edx, ebx
    rol ebx, 3
    xor edx, eax
    mov [edi], eax
    add [edi+4], ebx
    sub dword [edi+8], 7
    inc dword [edi+12]
    movzx esi, byte [edi+1]
    movsx ebp, word [edi+2]
    add esi, ebp
    mov [edi+16], si
    mov [edi+18], dh
    mov al, [edi+5]
    mov ah, bl
    neg dh
    not cx
    not cx
    lea esi, [eax+ebx*4+0x10]
    test esi, 3
    jz .skip
    or edx, 1
.skip:
    cmp eax, ebx
    jl .less
    jg .greater
    jmp .next
.less:
    inc dword [edi+20]
    jmp .next
.greater:
    dec dword [edi+24]
.next:
    push eax
    push ebx
    call func
    pop ebx
    pop eax
    jo .over
    jp .par
    jmp .cont
.over:
    inc dword [edi+28]
.par:
    add dword [edi+32], 1
.cont:
    call smcfunc
    dec ecx
    jnz .loop
    ; strings
    mov esi, 0x8000
    mov edi, 0x8100
    mov ecx, 16
    cld
    rep movsd
    mov al, 0x5a
    mov ecx, 64
    rep stosb
    ; 16-bit operand forms
    mov cx, 500
.l16:
    add ax, cx
    sub bx, ax
    xchg ax, bx
    shl ax, 1
    loop .l16
    mov [0x8200], eax
    mov [0x8204], ebx
    ; shifts, rotates, multiplies with every flag reader
    mov ecx, 4000
    mov eax, 0x9abcdef1
    mov ebx, 0x13572468
.lsh:
    shl eax, 3
    adc ebx, 0
    shr ebx, 1
    sbb edx, edx
    sar edx, 5
    rol eax, 7
    ror ebx, 13
    jo .o1
    add dword [0x8208], 1
.o1:
    shl bx, 2
    shr al, 3
    sar dh, 1
    seto [0x821c]
    mul ebx
    jc .c1
    inc dword [0x820c]
.c1:
    imul esi, eax, -7
    imul edi, esi
    imul di, si, 300
    imul edx
    add [0x8210], edx
    xor eax, esi
    add ebx, edi
    dec ecx
    jnz .lsh
    mov [0x8214], eax
    mov [0x8218], ebx
    ; divides (no divide errors: the IDT is not set up)
    mov ecx, 3000
.ldiv:
    mov eax, ecx
    imul eax, eax, 0x9e3779b1
    xor edx, edx
    mov ebx, ecx
    or ebx, 1
    div ebx
    add [0x8220], edx
    add [0x8224], eax
    mov eax, ecx
    neg eax
    cdq
    mov ebx, 7
    idiv ebx
    add [0x8228], edx
    add [0x822c], eax
    mov dword [0x8230], 13
    xor edx, edx
    mov eax, ecx
    div dword [0x8230]
    add [0x8234], edx
    dec ecx
    jnz .ldiv
    ; indirect calls and jumps through a table and registers
    mov ecx, 3000
.lind:
    mov eax, ecx
    and eax, 3
    call [ftab + eax*4]
    mov ebx, .back
    jmp ebx
    hlt
.back:
    mov edx, ftab
    call dword [edx + 4]
    dec ecx
    jnz .lind
    hlt
f0: add dword [0x8240], 1
    ret
f1: add dword [0x8244], ecx
    ret
f2: xor dword [0x8248], ecx
    ret 0
f3: sub dword [0x824c], 3
    ret
align 4
ftab: dd f0, f1, f2, f3

; Self-modifying, on a page of its own: bumps its own immediate on every call.
align 4096
smcfunc:
    inc dword [.smc+1]
.smc:
    mov esi, 0
    add [edi+36], esi
    ret

func:
    mov eax, [esp+8]
    imul eax, eax, 3
    add [0x8040], eax
    ret

; (appended) shifts, rotates and multiplies in a loop, called from `more`
