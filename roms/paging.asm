; paging.asm — 4 KiB and 4 MiB (CR4.PSE) pages: #PF error codes (P, W/R, U/S) and CR2 for
; not-present reads/writes, supervisor pages from ring 3, read-only pages from ring 3 and from
; ring 0 with CR0.WP=0/1, instruction fetch from a not-present page, an access crossing into a
; not-present page; accessed/dirty bits in PTEs and PDEs (4 KiB and 4 MiB); INVLPG and CR3
; reloads after changing a mapping.
%include "lib.inc"

PD   equ 0x100000
PT0  equ 0x101000               ; identity map of 0..4 MiB, user RW
PT3  equ 0x102000               ; 0xC00000..: the test pages
T    equ 0xC00000

%macro PTE 1                    ; print the PTE of test page %1
        H32 "pte=", [PT3 + (%1)*4]
%endmacro

main:
        ; page directory and tables
        mov edi, PD
        xor eax, eax
        mov ecx, 3*1024
        rep stosd
        mov edi, PT0
        mov eax, 0x007
        mov ecx, 1024
.id:    stosd
        add eax, 0x1000
        loop .id
        mov dword [PD + 0*4], PT0 | 0x007
        mov dword [PD + 1*4], 0x800000 | 0x087          ; 4 MiB: 400000 -> 800000, user RW
        mov dword [PD + 2*4], 0x800000 | 0x083          ; 4 MiB identity 800000, supervisor RW
        mov dword [PD + 3*4], PT3 | 0x007
        mov dword [PT3 + 1*4], 0x200000 | 0x001         ; supervisor read-only
        mov dword [PT3 + 2*4], 0x201000 | 0x007         ; user RW
        mov dword [PT3 + 3*4], 0x202000 | 0x005         ; user read-only
        mov dword [PT3 + 4*4], 0x203000 | 0x007         ; user RW (remapped later)
        mov dword [0x200000], 0xAAAA0000
        mov dword [0x201000], 0xAAAA1000
        mov dword [0x202000], 0xAAAA2000
        mov dword [0x203000], 0xAAAA3000
        mov dword [0x204000], 0xAAAA4000
        mov dword [0x203FFC], 0x11223344
        mov dword [0x800000], 0x88888888
        mov eax, PD
        mov cr3, eax
        mov eax, cr4
        or eax, 0x10                    ; PSE
        mov cr4, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax
        PRINT `paging on\n`
        ; 4 MiB page: linear 400000 -> physical 800000
        mov eax, [0x400000]
        H32 "4m read=", eax
        mov dword [0x400004], 0x12345678
        mov eax, [0x800004]
        H32 "alias=", eax
        H32 "pde1=", [PD + 4]
        H32 "pde2=", [PD + 8]
        NL
        ; not present
        EXPECT .p1
        mov eax, [T]
.p1:    EXPECT .p2
        mov dword [T + 0x10], 1
.p2:    ; supervisor read-only, ring 0, WP=0: the write goes through
        mov eax, [T + 0x1000]
        mov dword [T + 0x1000], 0xBBBB0000
        H32 "wp0 write=", [0x200000]
        PTE 1
        NL
        mov eax, cr0
        or eax, 1 << 16                 ; WP
        mov cr0, eax
        EXPECT .p3
        mov dword [T + 0x1004], 2
.p3:    ; accessed/dirty
        PTE 2
        mov eax, [T + 0x2000]
        PTE 2
        mov [T + 0x2000], eax
        PTE 2
        H32 "pde3=", [PD + 12]
        NL
        ; ring 3
        ENTER_RING3
        EXPECT .u1
        mov eax, [T + 0x1000]           ; supervisor page: #PF(5)
.u1:    EXPECT .u2
        mov dword [T + 0x1000], 0       ; #PF(7)
.u2:    mov eax, [T + 0x3000]           ; user read-only: read is fine
        H32 "u read=", eax
        NL
        EXPECT .u3
        mov [T + 0x3000], eax           ; #PF(7)
.u3:    EXPECT .u4
        mov eax, [0x800000]             ; supervisor 4 MiB page: #PF(5)
.u4:    EXPECT .u5
        mov [T], eax                    ; not present, user write: #PF(6)
.u5:    LEAVE_RING3
        ; fetch from a not-present page
        EXPECT .f1
        mov eax, T + 0x20
        jmp eax
.f1:    ; access crossing into a not-present page
        EXPECT .c1
        mov eax, [T + 0x4FFE]
.c1:    mov eax, [T + 0x4FFC]
        H32 "last=", eax
        NL
        ; remap page 4 and INVLPG
        mov eax, [T + 0x4000]
        mov dword [PT3 + 4*4], 0x204000 | 0x007
        invlpg [T + 0x4000]
        mov eax, [T + 0x4000]
        H32 "invlpg=", eax
        mov dword [PT3 + 4*4], 0x203000 | 0x007
        mov eax, cr3
        mov cr3, eax
        mov eax, [T + 0x4000]
        H32 "cr3 reload=", eax
        NL
        ; not present again after clearing P
        mov dword [PT3 + 2*4], 0x201000 | 0x006
        invlpg [T + 0x2000]
        EXPECT .n1
        mov eax, [T + 0x2000]
.n1:    mov eax, cr2
        H32 "cr2=", eax
        NL
        ret
ROM_END
