; smc_blob.asm — the "smc" integer workload, assembled as a flat blob that runs from RAM at
; SMC_ORG (smc.inc copies it there from the ROM). Four kernels (sieve, insertion sort,
; histogram, table CRC-32), each on its own 4 KiB page. Default ("shared"): each kernel's data
; buffer sits on the same page as its code, right after it, so every store lands on a page that
; holds running code (but never on code bytes). With -DSEPARATE the identical code (same
; addresses) uses buffers on pages of their own at 0x400000 instead.
; Out: EAX = checksum. Clobbers everything else.
BITS 32
%ifndef SMC_ORG
%define SMC_ORG 0x20000
%endif
        org SMC_ORG
%ifndef ROUNDS
%define ROUNDS 300
%endif
%ifdef SEPARATE
%define DATA(k) (0x400000 + (k) * 0x1000)
%else
%define DATA(k) buf %+ k
%endif
SIEVE_N  equ 2048
SORT_N   equ 256
HIST_N   equ 12000

; ---- page 0: the driver; its round counter (buf0) shares the page ----
entry:
        xor ebp, ebp
        mov dword [DATA(0)], ROUNDS
.round: call k_sieve
        add ebp, eax
        call k_sort
        xor ebp, eax
        call k_hist
        add ebp, eax
        call k_crc
        xor ebp, eax
        rol ebp, 1
        dec dword [DATA(0)]
        jnz .round
        mov eax, ebp
        ret
        align 64
buf0:   times 64 db 0

; ---- page 1: sieve of Eratosthenes below SIEVE_N, byte flags ----
        align 4096
k_sieve:
        mov edi, DATA(1)
        xor ecx, ecx
.init:  mov dword [edi + ecx], 0x01010101
        add ecx, 4
        cmp ecx, SIEVE_N
        jb .init
        mov ebx, 2
.outer: mov eax, ebx
        mul ebx
        cmp eax, SIEVE_N
        jae .count
        cmp byte [edi + ebx], 0
        je .next
.mark:  mov byte [edi + eax], 0
        add eax, ebx
        cmp eax, SIEVE_N
        jb .mark
.next:  inc ebx
        jmp .outer
.count: xor eax, eax
        mov ecx, 2
.cnt:   movzx edx, byte [edi + ecx]
        add eax, edx
        inc ecx
        cmp ecx, SIEVE_N
        jb .cnt
        ret
        align 64
buf1:   times SIEVE_N db 0

; ---- page 2: insertion sort of SORT_N LCG dwords seeded from the checksum ----
        align 4096
k_sort: mov edi, DATA(2)
        mov eax, ebp
        xor ecx, ecx
.fill:  imul eax, eax, 1103515245
        add eax, 12345
        mov [edi + 4*ecx], eax
        inc ecx
        cmp ecx, SORT_N
        jb .fill
        mov ecx, 1
.isort: mov eax, [edi + 4*ecx]
        mov ebx, ecx
.shift: test ebx, ebx
        jz .place
        mov edx, [edi + 4*ebx - 4]
        cmp edx, eax
        jbe .place
        mov [edi + 4*ebx], edx
        dec ebx
        jmp .shift
.place: mov [edi + 4*ebx], eax
        inc ecx
        cmp ecx, SORT_N
        jb .isort
        mov eax, [edi + 4*(SORT_N/2)]
        ret
        align 64
buf2:   times 4*SORT_N db 0

; ---- page 3: histogram of HIST_N LCG bytes into 256 dword counters ----
        align 4096
k_hist: mov edi, DATA(3)
        xor eax, eax
        xor ecx, ecx
.clr:   mov [edi + 4*ecx], eax
        inc ecx
        cmp ecx, 256
        jb .clr
        mov eax, ebp
        mov ecx, HIST_N
.h:     imul eax, eax, 69069
        inc eax
        mov edx, eax
        shr edx, 24
        inc dword [edi + 4*edx]
        dec ecx
        jnz .h
        xor eax, eax
        xor ecx, ecx
.sum:   mov edx, [edi + 4*ecx]
        imul edx, ecx
        add eax, edx
        inc ecx
        cmp ecx, 256
        jb .sum
        ret
        align 64
buf3:   times 1024 db 0

; ---- page 4: build the CRC-32 table (1 KiB), then CRC the sieve flags with it ----
        align 4096
k_crc:  mov edi, DATA(4)
        xor ecx, ecx
.tab:   mov eax, ecx
        mov ebx, 8
.bit:   shr eax, 1
        jnc .nox
        xor eax, 0xEDB88320
.nox:   dec ebx
        jnz .bit
        mov [edi + 4*ecx], eax
        inc ecx
        cmp ecx, 256
        jb .tab
        mov esi, DATA(1)
        mov eax, 0xFFFFFFFF
        xor ecx, ecx
.crc:   movzx edx, byte [esi + ecx]
        xor dl, al
        shr eax, 8
        xor eax, [edi + 4*edx]
        inc ecx
        cmp ecx, SIEVE_N
        jb .crc
        not eax
        ret
        align 64
buf4:   times 1024 db 0
        align 4096
