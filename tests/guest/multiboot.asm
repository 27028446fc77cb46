; multiboot.asm — a tiny Multiboot (v1) kernel: prints the boot magic, the flags it got, its
; command line and each module's command line and first bytes on the debug console (port
; 0xE9), then ends through isa-debug-exit. Built either flat with the a.out kludge
; (nasm -f bin -DAOUT) or as an ELF32 executable (nasm -f elf32, ld -m elf_i386 -Ttext 0x100000).
BITS 32
%ifdef AOUT
ORG 0x100000
FLAGS equ 0x00010003
%else
FLAGS equ 0x00000003
section .text
global _start
%endif

_start:
        jmp entry
align 4
mbhdr:  dd 0x1BADB002
        dd FLAGS
        dd -(0x1BADB002 + FLAGS)
%ifdef AOUT
        dd mbhdr                ; header_addr
        dd _start               ; load_addr
        dd image_end            ; load_end_addr
        dd bss_end              ; bss_end_addr
        dd entry                ; entry_addr
%endif

entry:
        mov esp, stack_top
        mov esi, eax
        mov edi, ebx
        mov edx, msg_magic
        call puts
        mov eax, esi
        call puthex
        mov edx, msg_flags
        call puts
        mov eax, [edi]
        and eax, 0x4F           ; MEM, CMDLINE, MODS, MMAP
        call puthex
        call nl
        mov edx, msg_cmd
        call puts
        mov edx, [edi + 16]
        call puts
        call nl
        mov edx, msg_mem
        call puts
        mov eax, [edi + 4]
        call puthex
        call nl
        mov ecx, [edi + 20]     ; mods_count
        mov ebx, [edi + 24]     ; mods_addr
.mod:   test ecx, ecx
        jz .done
        mov edx, msg_mod
        call puts
        mov edx, [ebx + 8]
        call puts
        mov edx, msg_bytes
        call puts
        mov eax, [ebx]
        mov eax, [eax]
        call puthex
        mov edx, msg_len
        call puts
        mov eax, [ebx + 4]
        sub eax, [ebx]
        call puthex
        call nl
        add ebx, 16
        dec ecx
        jmp .mod
.done:  mov al, 0
        out 0xF4, al
        hlt

puts:   mov al, [edx]
        test al, al
        jz .r
        out 0xE9, al
        inc edx
        jmp puts
.r:     ret
nl:     mov al, 10
        out 0xE9, al
        ret
puthex: push ecx
        push edx
        mov ecx, 8
        mov edx, eax
.d:     rol edx, 4
        mov eax, edx
        and eax, 15
        mov al, [hex + eax]
        out 0xE9, al
        loop .d
        pop edx
        pop ecx
        ret

hex:       db "0123456789ABCDEF"
msg_magic: db "magic=", 0
msg_flags: db " flags&4F=", 0
msg_cmd:   db "cmdline=", 0
msg_mem:   db "mem_lower=", 0
msg_mod:   db "module: ", 0
msg_bytes: db " first=", 0
msg_len:   db " len=", 0
image_end:
%ifndef AOUT
section .bss
%endif
align 16
stack:  times 4096 db 0
stack_top:
bss_end:
