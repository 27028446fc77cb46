; Runs of x87 register instructions (FLD ST(i), FXCH, FST(P) ST(i), FADD/FSUB(R)/FMUL,
; FCOM(P)(P), FNSTSW AX), which translated code does inline as one piece, on pseudo-random
; values with full 64-bit significands: rounding ties and carries, exact cancellation (a zero
; result), exponents far apart, results that overflow and underflow, zero, infinity and empty
; operands, a full stack, and other control words (53-bit precision, rounding up, ZE
; unmasked) under which the runs go instruction by instruction. Each round stores the stack
; and the status word to memory. Flat 32-bit code at 0x1000, data at 0x8000. Ends with HLT.
bits 32
org 0x1000
DATA equ 0x8000
RES equ 0x9000
start:
    mov esp, 0x7000
    mov eax, cr0
    and eax, ~0xC               ; EM, TS clear
    or eax, 0x22                ; NE, MP
    mov cr0, eax
    mov esi, DATA
    mov edi, RES
    mov ebx, 12345              ; random state
    mov ebp, 1200               ; rounds
.round:
    fninit
    ; The control word: mostly the default; every 8th round (offset) 53-bit precision, every 8th
    ; (another offset) rounding up, every 32nd (offset) ZE unmasked (never raised).
    mov word [esi + 0x20], 0x037F
    mov eax, ebp
    and eax, 7
    cmp eax, 1
    jne .cw1
    mov word [esi + 0x20], 0x027F
.cw1:
    mov eax, ebp
    and eax, 7
    cmp eax, 3
    jne .cw2
    mov word [esi + 0x20], 0x0B7F
.cw2:
    mov eax, ebp
    and eax, 31
    cmp eax, 5
    jne .cw3
    mov word [esi + 0x20], 0x037B
.cw3:
    fldcw [esi + 0x20]
    ; a = r1 / r2, b = r3 / r4 (full significands), scaled apart every so often.
    call lcg
    mov [esi], eax
    call lcg
    or eax, 1
    mov [esi + 4], eax
    call lcg
    mov [esi + 8], eax
    call lcg
    or eax, 3
    mov [esi + 12], eax
    fild dword [esi + 8]
    fidiv dword [esi + 12]      ; b
    fild dword [esi]
    fidiv dword [esi + 4]       ; a b
    mov eax, ebp
    and eax, 7
    cmp eax, 2
    jne .s1
    fld tword [big]             ; 2^100: far apart
    fmulp st1, st0
.s1:
    cmp eax, 4
    jne .s2
    fld tword [huge]            ; near the top of the range: products overflow
    fmul st1, st0
    fmulp st2, st0
.s2:
    cmp eax, 6
    jne .s3
    fld tword [tiny]            ; near the bottom: products underflow
    fmul st1, st0
    fmulp st2, st0
.s3:
    ; A run (a b on the stack).
    fld st1                     ; b a b
    fmul st0, st1               ; ab a b
    fld st2                     ; b ab a b
    fadd st0, st2               ; b+a ab a b
    fsub st0, st1               ; b+a-ab ...
    fsubr st0, st3              ; b-(b+a-ab)
    fxch st2                    ; a ab x b
    fmul st0, st0               ; a*a
    fcom st1
    fnstsw ax
    fadd st0, st3
    fxch st1
    fsubrp st2, st0
    fcomp st2
    fld st0
    fsub st0, st1               ; exact zero
    fadd st0, st2               ; zero operand
    fst st3
    fmulp st1, st0
    fxch st1
    fnstsw ax
    mov [edi], ax
    ; A tie: (2^62 + 1) * 2 + 0.5 and 2^64 + 5 at 64 bits (to even).
    fild qword [tie]            ; T
    fadd st0, st0               ; 2^63+2
    fld1                        ; 1 T2
    fld st0                     ; 1 1 T2
    fadd st0, st0               ; 2 1 T2
    fdivr st0, st1              ; 0.5 1 T2
    fadd st0, st2               ; T2+0.5 1 T2
    fxch st1                    ; 1 t T2
    fadd st0, st1               ; 1+t
    fadd st0, st2               ; 2^64+5
    fxch st2                    ; T2 t u
    fmul st0, st0
    fcompp                      ; u
    fnstsw ax
    mov [edi + 2], ax
    ; A carry out of the significand: (2^63 - 1) * 2 + 1, + 0.5.
    fild qword [m63]            ; M u
    fadd st0, st0               ; 2^64-2
    fld1                        ; 1 M2 u
    fadd st1, st0               ; 1 2^64-1 u
    fld st0                     ; 1 1 M u
    fadd st0, st0               ; 2 1 M u
    fdivr st0, st1              ; 0.5 1 M u
    fadd st2, st0               ; 0.5 1 2^64 u
    fmulp st1, st0              ; 0.5 2^64 u
    fcompp                      ; u
    ; Empty operands (after FFREE) and a full stack.
    ffree st3
    fld st3                     ; empty source: stack underflow (masked: indefinite)
    fadd st0, st1
    fldz
    fldz
    fldz
    fldz
    fld st0                     ; full: stack overflow
    fadd st0, st5
    fxch st4
    fmul st0, st3
    fnstsw ax
    mov [edi + 4], ax
    ; The stack and the environment to memory.
    fnstenv [edi + 8]
    mov ecx, 8
    lea edx, [edi + 40]
.st:
    fstp tword [edx]
    add edx, 10
    loop .st
    ; A short run under each rounding control in turn.
    fninit
    mov eax, ebp
    and eax, 3
    mov ax, [rcs + eax * 2]
    mov [esi + 0x22], ax
    fldcw [esi + 0x22]
    fild dword [esi + 8]
    fidiv dword [esi + 12]
    fild dword [esi]
    fidiv dword [esi + 4]       ; a b
    fld st1
    fmul st0, st1
    fadd st0, st2
    fsubr st0, st1
    fnstsw ax
    mov [edi + 6], ax
    fstp tword [edi + 128]
    fstp tword [edi + 138]
    fstp tword [edi + 148]
    fnclex
    add edi, 160
    cmp edi, RES + 160 * 64
    jb .next
    mov edi, RES
.next:
    dec ebp
    jnz .round
    ; A run that pushes, writes and pops: the popped registers keep what it wrote.
    fninit
    fld1
    fld st0
    fadd st0, st1
    fstp st0
    fstp st0
    hlt

; ebx: xorshift32; eax = its high bits, signed, sometimes small.
lcg:
    mov eax, ebx
    shl eax, 13
    xor ebx, eax
    mov eax, ebx
    shr eax, 17
    xor ebx, eax
    mov eax, ebx
    shl eax, 5
    xor ebx, eax
    mov eax, ebx
    sar eax, 3
    test ebx, 0x100
    jz .big
    sar eax, 20
.big:
    test eax, eax
    jnz .nz
    inc eax
.nz:
    ret

rcs:  dw 0x037F, 0x077F, 0x0B7F, 0x0F7F
align 16
big:  dq 0x8000000000000000
      dw 0x3FFF + 100
align 16
huge: dq 0xC000000000000000
      dw 0x7FF0
align 16
tiny: dq 0xC000000000000000
      dw 0x0010
align 16
tie:  dq 0x4000000000000001
m63:  dq 0x7FFFFFFFFFFFFFFF
