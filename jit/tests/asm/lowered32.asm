; Instructions lowered beyond the basic set, 32-bit flat code at 0x1000, data at 0x8000:
; shifts by CL (counts 0, >= width), SHLD/SHRD, BT*, BSF/BSR/TZCNT, BSWAP, SETcc (high byte
; registers, memory), CMOVcc (not taken, memory source), LEAVE, CBW..CDQ, CLC/STC/CMC/CLD/STD, LAHF/SAHF, PAUSE,
; XCHG/XADD/CMPXCHG/CMPXCHG8B with memory, LOOP*/JECXZ, PUSH r/m32, and Jcc/JMP out of the region.
; Flags are folded into EBP after each group (PUSHFD). Ends with HLT.
bits 32
org 0x1000
%macro SNAP 0
    pushfd
    pop esi
    add ebp, esi
    rol ebp, 5
%endmacro
start:
    mov esp, 0x9000
    mov edi, 0x8000
    mov ebx, 0x9E3779B9
    xor ebp, ebp
    mov dword [edi+0x80], 2500
main_loop:
    imul ebx, ebx, 1103515245
    add ebx, 12345
    ; shifts by CL: random counts (masked to 5 bits), then count 0 keeps the flags
    mov ecx, ebx
    shr ecx, 24
    mov eax, ebx
    shl eax, cl
    adc [edi], eax
    SNAP
    mov eax, ebx
    shr eax, cl
    SNAP
    sar eax, cl
    jl .neg
    inc dword [edi+4]
.neg:
    rol eax, cl
    SNAP
    ror eax, cl
    SNAP
    mov edx, ebx
    shl dx, cl
    SNAP
    sar dx, cl
    SNAP
    rol dl, cl
    SNAP
    ror dh, cl
    SNAP
    shr dl, cl
    SNAP
    shl dword [edi+8], cl
    SNAP
    ror word [edi+12], cl
    SNAP
    cmp eax, ebx
    mov cl, 0
    shl eax, cl
    SNAP
    cmp edx, ebx
    mov cl, 32
    sar word [edi+14], cl
    rol dx, cl
    SNAP
    rol dx, 3
    rol bl, 1
    ror bl, 1
    shl edx, 0
    SNAP
    mov [edi+16], eax
    mov [edi+20], edx
    ; SHLD / SHRD
    mov ecx, ebx
    shr ecx, 27
    mov eax, ebx
    mov edx, [edi]
    shld eax, edx, cl
    SNAP
    shrd edx, eax, cl
    SNAP
    shld ax, dx, cl
    SNAP
    shrd dx, ax, 7
    SNAP
    shrd [edi+24], eax, cl
    SNAP
    shld [edi+28], edx, 13
    SNAP
    mov cl, 0
    shld eax, edx, cl
    SNAP
    ; BT family
    bt ebx, 7
    adc dword [edi+32], 0
    bts eax, 31
    SNAP
    btr edx, 3
    btc ax, 15
    SNAP
    bts dword [edi+36], 5
    btc dword [edi+36], 17
    btr dword [edi+36], 0
    SNAP
    mov ecx, ebx
    and ecx, 0x3ff
    sub ecx, 0x200
    bts [edi+0x100], ecx
    SNAP
    btr [edi+0x100], ecx
    bt [edi+0x100], ecx
    SNAP
    btc [edi+0x100], cx
    SNAP
    bt ecx, ebx
    SNAP
    ; BSF / BSR / TZCNT / BSWAP
    mov eax, ebx
    and eax, 0x00F0F000
    bsf edx, eax
    SNAP
    bsr esi, eax
    add [edi+40], esi
    mov esi, 12345
    xor eax, eax
    bsf esi, eax
    SNAP
    add [edi+40], esi
    bsr dx, bx
    SNAP
    tzcnt eax, ebx
    add [edi+40], eax
    bswap eax
    add [edi+44], eax
    ; SETcc
    cmp ebx, eax
    seta ah
    setl bh
    setbe [edi+48]
    setg [edi+49]
    sets dl
    setp dh
    seto cl
    setnz ch
    add [edi+52], eax
    add [edi+56], edx
    add [edi+60], ecx
    test ebx, 0x10
    sete al
    add [edi+52], al
    ; CMOVcc
    mov eax, ebx
    mov edx, 0x11111111
    cmp ebx, 0x80000000
    cmovb eax, edx
    cmovae edx, [edi+16]
    cmovs ecx, [edi+20]
    cmovg ax, dx
    cmovnz esi, eax
    add [edi+64], eax
    add [edi+68], edx
    add [edi+72], esi
    ; LEAVE and PUSH r/m32
    push ebp
    mov ebp, esp
    push dword [edi+64]
    push dword [esp]
    sub esp, 16
    pop eax
    leave
    add [edi+76], eax
    ; conversions and flag operations
    mov eax, ebx
    cdq
    add [edi+84], edx
    cwde
    cwd
    cbw
    add [edi+88], eax
    add [edi+88], edx
    clc
    adc dword [edi+92], 0
    stc
    adc dword [edi+92], 0
    cmc
    SNAP
    std
    cld
    cmp ebx, edx
    lahf
    add [edi+92], ah
    mov ah, bl
    sahf
    pause
    SNAP
    sub eax, ebx
    mov ah, bh
    sahf
    jbe .be
    inc dword [edi+92]
.be:
    lahf
    add [edi+92], ah
    ; XCHG / XADD / CMPXCHG
    mov eax, ebx
    xchg [edi+96], eax
    xadd [edi+100], eax
    SNAP
    xadd edx, edx
    SNAP
    lea eax, [edi+0x98]
    xadd [eax], eax
    SNAP
    mov eax, [edi+104]
    test ebx, 1
    jz .noinc
    inc eax
.noinc:
    mov ecx, ebx
    lock cmpxchg [edi+104], ecx
    SNAP
    cmpxchg [edi+108], ebx
    SNAP
    mov eax, ecx
    cmpxchg eax, edx
    SNAP
    cmpxchg dl, bh
    SNAP
    add [edi+112], eax
    add [edi+112], edx
    mov eax, [edi+0x90]
    mov edx, [edi+0x94]
    test ebx, 2
    jz .same8
    inc edx
.same8:
    mov ecx, ebx
    lock cmpxchg8b [edi+0x90]
    SNAP
    cmpxchg8b [edi+0x90]
    SNAP
    add [edi+112], eax
    add [edi+112], edx
    ; LOOP / LOOPE / LOOPNE / JECXZ
    mov ecx, ebx
    and ecx, 7
    jecxz .zero
.lp:
    add dword [edi+116], 3
    loop .lp
.zero:
    mov ecx, 5
.lpe:
    cmp ecx, 3
    loopne .lpe
    add [edi+116], ecx
    mov ecx, 4
    xor eax, eax
.lpz:
    test eax, eax
    loope .lpz
    add [edi+116], ecx
    ; a branch out of the region (to another page) and back
    test ebx, 0x100
    jnz far_a
back_a:
    dec dword [edi+0x80]
    jnz main_loop
    mov [edi+0x84], ebp
    hlt

align 4096
times 4096 db 0x90
far_a:
    add dword [edi+120], 1
    jmp back_a
