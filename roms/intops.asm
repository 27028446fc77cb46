; intops.asm — integer instructions of the 486/Pentium/P6: CMPXCHG, CMPXCHG8B, XADD, BSWAP,
; SHLD/SHRD, BSF/BSR (ZF; the destination is left alone for a zero source on QEMU and Intel
; parts alike), CPUID (vendor, family/model/stepping, a few feature bits), RDTSC (increases),
; CMOVcc, SETcc, MOVSX/MOVZX, IMUL forms, 64/32 DIV. Only defined flags are printed.
%include "lib.inc"

FMASK equ 0x8D5                 ; OF SF ZF AF PF CF

%macro FL 0                     ; print defined arithmetic flags
        pushfd
        push eax
        mov eax, [esp+4]
        and eax, FMASK
        H16 "fl=", eax
        pop eax
        popfd
%endmacro
%macro FLM 1                    ; print flags & mask
        pushfd
        push eax
        mov eax, [esp+4]
        and eax, %1
        H16 "fl=", eax
        pop eax
        popfd
%endmacro

main:
        ; CMPXCHG
        mov eax, 5
        mov ebx, 5
        mov ecx, 9
        cmpxchg ebx, ecx
        FL
        H32 "cmpxchg eq ebx=", ebx
        mov eax, 4
        cmpxchg ebx, ecx
        FL
        H32 "ne eax=", eax
        NL
        ; CMPXCHG8B
        mov dword [0x10000], 0x11111111
        mov dword [0x10004], 0x22222222
        mov eax, 0x11111111
        mov edx, 0x22222222
        mov ebx, 0xAAAAAAAA
        mov ecx, 0xBBBBBBBB
        cmpxchg8b [0x10000]
        FLM 0x40
        H32 "c8b mem=", [0x10004]
        H32 ":", [0x10000]
        mov eax, 1
        cmpxchg8b [0x10000]
        FLM 0x40
        H32 "edx:eax=", edx
        H32 ":", eax
        NL
        ; XADD, BSWAP
        mov eax, 0x7FFFFFFF
        mov ebx, 1
        xadd eax, ebx
        FL
        H32 "xadd eax=", eax
        H32 "ebx=", ebx
        mov eax, 0x12345678
        bswap eax
        H32 "bswap=", eax
        NL
        ; SHLD/SHRD
        mov eax, 0x12345678
        mov ebx, 0x9ABCDEF0
        shld eax, ebx, 8
        FLM 0x0C5                       ; CF ZF SF PF (OF undefined for counts > 1)
        H32 "shld=", eax
        mov eax, 0x12345678
        mov cl, 12
        shrd eax, ebx, cl
        FLM 0x0C5
        H32 "shrd=", eax
        mov ax, 0x1234
        mov bx, 0x8000
        shld ax, bx, 1
        FLM 0x8C5                       ; AF undefined
        H16 "shld16/1=", eax
        NL
        ; BSF/BSR
        mov eax, 0x00F00800
        bsf ebx, eax
        FLM 0x40
        H32 "bsf=", ebx
        bsr ebx, eax
        H32 "bsr=", ebx
        xor eax, eax
        bsf ebx, eax
        FLM 0x40
        NL
        ; CPUID
        xor eax, eax
        cpuid
        H32 "cpuid0 max=", eax
        mov [0x10010], ebx
        mov [0x10014], edx
        mov [0x10018], ecx
        mov byte [0x1001C], 0
        PRINT "vendor="
        mov esi, 0x10010
.v:     mov al, [esi]
        inc esi
        test al, al
        jz .vd
        out 0xE9, al
        jmp .v
.vd:    NL
        mov eax, 1
        cpuid
        mov ebx, eax
        shr ebx, 8
        and ebx, 0xF
        H8 "family=", ebx
        and edx, (1<<0)|(1<<4)|(1<<8)|(1<<15)|(1<<23)   ; FPU TSC CX8 CMOV MMX
        H32 "features=", edx
        NL
        ; RDTSC
        rdtsc
        mov esi, eax
        mov edi, edx
        mov ecx, 100
.d:     loop .d
        rdtsc
        sub eax, esi
        sbb edx, edi
        or edx, edx
        js .no
        or eax, edx
        jz .no
        PRINT `tsc increases: yes\n`
        jmp .tscd
.no:    PRINT `tsc increases: no\n`
.tscd:
        ; CMOVcc / SETcc
        mov eax, 1
        mov ebx, 2
        cmp eax, ebx
        mov ecx, 0x11
        mov edx, 0x22
        cmovl ecx, edx
        H32 "cmovl=", ecx
        mov ecx, 0x11
        cmovg ecx, edx
        H32 "cmovg=", ecx
        cmp eax, ebx
        setb al
        setnz ah
        seto bl
        H16 "setcc=", eax
        H8 "", ebx
        NL
        ; MOVSX/MOVZX, IMUL, DIV
        mov eax, 0x80
        movsx ebx, al
        movzx ecx, al
        H32 "movsx=", ebx
        H32 "movzx=", ecx
        mov eax, 0x12345
        imul ebx, eax, -3
        H32 "imul3=", ebx
        mov eax, 0x10000
        mov ebx, 0x10000
        imul eax, ebx
        FLM 0x801                       ; CF OF
        mov eax, 0x40000000
        mov ebx, 4
        mul ebx
        FLM 0x801
        H32 "mul edx=", edx
        NL
        mov edx, 0x12345
        mov eax, 0x6789ABCD
        mov ecx, 0x123456
        div ecx
        H32 "div q=", eax
        H32 "r=", edx
        mov edx, -1
        mov eax, -1000
        mov ecx, 7
        idiv ecx
        H32 "idiv q=", eax
        H32 "r=", edx
        NL
        ; ADC/SBB/NEG/INC flags
        mov eax, 0xFFFFFFFF
        stc
        adc eax, 0
        FL
        mov eax, 0
        stc
        sbb eax, 0
        FL
        mov eax, 0x80000000
        neg eax
        FL
        mov eax, 0x7FFFFFFF
        stc
        inc eax
        FL
        NL
        ret
ROM_END
