; Writes right beside code bytes on the same page, sized and placed to probe the per-byte code
; map at a 64-byte word boundary: every iteration writes the bytes just before and just after
; a called function (data: must stay inline and drop nothing), and now and then a dword that
; starts on the data byte before the function and ends in its immediate (self-modification:
; the new immediate must be what runs next).
bits 32
org 0x1000
start:
    mov esp, 0x9000
    mov ecx, 24000
    xor eax, eax
    xor esi, esi
.loop:
    mov ebx, ecx
    imul ebx, ebx, 0x9E3779B1
    mov [target - 2], bx        ; bytes 62-63 of the bitmap word: data
    mov [target - 4], ebx       ; bytes 60-63: data
    mov [target - 6], bl        ; byte 58: data
    mov [target + 6], ebx       ; after the RET: data
    test ecx, 4095
    jnz .skip
    mov edx, ecx
    shl edx, 16                 ; the immediate's two low bytes
    mov dh, 0xBA                ; the opcode byte, unchanged
    mov dl, 0x55                ; the data byte before it
    mov [target - 1], edx       ; bytes 63-66: data, opcode, immediate
.skip:
    call target
    add eax, edx
    add esi, eax
    xor esi, [target - 4]
    dec ecx
    jnz .loop
    mov [0x8000], eax
    mov [0x8004], esi
    hlt

align 64
    times 64 db 0
target:                         ; 64-byte aligned: the first byte of a bitmap word
    mov edx, 0x11111111
    ret
    times 16 db 0
