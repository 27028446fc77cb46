; The stack on the page of the code (as a boot sector's often is): calls, pushes, pops and
; frame accesses in a loop whose stack bytes hold no code. Their stack groups must stay in
; translated code (lower/stack.rs), not leave it for the interpreter on every block.
bits 32
org 0x1000
start:
    mov esp, stack_top
    mov ecx, 20000
    xor eax, eax
.loop:
    push ecx
    push eax
    call mix
    add esp, 8
    dec ecx
    jnz .loop
    mov [0x8000], eax
    hlt
mix:
    push ebp
    mov ebp, esp
    push ebx
    mov eax, [ebp + 8]
    mov ebx, [ebp + 12]
    imul ebx, ebx, 7
    add eax, ebx
    mov [ebp - 8], eax
    xor eax, [ebp - 8]
    add eax, [ebp + 12]
    pop ebx
    pop ebp
    ret
align 16
    times 256 db 0
stack_top:
