; mmx.asm — MMX: MOVD/MOVQ, PADD/PSUB (wrapping, signed and unsigned saturation), PMULLW/
; PMULHW/PMADDWD, PACKSSWB/PACKUSWB/PACKSSDW, PUNPCKL/H, shifts by immediate and by register
; (including counts >= the element width), PCMPEQ/PCMPGT, PAND/PANDN/POR/PXOR, EMMS and the
; x87 tag word after MMX use.
%include "lib.inc"

M equ 0x10000

%macro PQ 2                     ; print mm register %2 with label %1
        movq [M+0x100], %2
        H32 %1, [M+0x104]
        H32 "", [M+0x100]
%endmacro
%macro LD 3                     ; mm%1 <- %2:%3 (high:low dwords)
        mov dword [M+0x108], %3
        mov dword [M+0x10C], %2
        movq %1, [M+0x108]
%endmacro

main:
        mov eax, cr0
        and eax, ~(1<<2)
        or eax, (1<<1) | (1<<5)
        mov cr0, eax
        finit
        LD mm0, 0x7F80FF01, 0x8000FFFF
        LD mm1, 0x01800102, 0x80017FFF
        movq mm2, mm0
        paddb mm2, mm1
        PQ "paddb=", mm2
        movq mm2, mm0
        paddsb mm2, mm1
        PQ "paddsb=", mm2
        movq mm2, mm0
        paddusb mm2, mm1
        PQ "paddusb=", mm2
        NL
        movq mm2, mm0
        paddw mm2, mm1
        PQ "paddw=", mm2
        movq mm2, mm0
        paddsw mm2, mm1
        PQ "paddsw=", mm2
        movq mm2, mm0
        paddusw mm2, mm1
        PQ "paddusw=", mm2
        NL
        movq mm2, mm0
        paddd mm2, mm1
        PQ "paddd=", mm2
        movq mm2, mm0
        psubw mm2, mm1
        PQ "psubw=", mm2
        movq mm2, mm0
        psubsw mm2, mm1
        PQ "psubsw=", mm2
        movq mm2, mm0
        psubusb mm2, mm1
        PQ "psubusb=", mm2
        NL
        LD mm3, 0x00030004, 0xFFFF1234
        LD mm4, 0x00050006, 0x00025678
        movq mm2, mm3
        pmullw mm2, mm4
        PQ "pmullw=", mm2
        movq mm2, mm3
        pmulhw mm2, mm4
        PQ "pmulhw=", mm2
        movq mm2, mm3
        pmaddwd mm2, mm4
        PQ "pmaddwd=", mm2
        NL
        LD mm5, 0x7FFF8000, 0x00FF0100
        LD mm6, 0xFF80007F, 0x12345678
        movq mm2, mm5
        packsswb mm2, mm6
        PQ "packsswb=", mm2
        movq mm2, mm5
        packuswb mm2, mm6
        PQ "packuswb=", mm2
        movq mm2, mm5
        packssdw mm2, mm6
        PQ "packssdw=", mm2
        NL
        movq mm2, mm5
        punpcklbw mm2, mm6
        PQ "punpcklbw=", mm2
        movq mm2, mm5
        punpckhwd mm2, mm6
        PQ "punpckhwd=", mm2
        movq mm2, mm5
        punpckldq mm2, mm6
        PQ "punpckldq=", mm2
        NL
        movq mm2, mm0
        psllw mm2, 3
        PQ "psllw3=", mm2
        movq mm2, mm0
        psraw mm2, 4
        PQ "psraw4=", mm2
        movq mm2, mm0
        psrlq mm2, 12
        PQ "psrlq12=", mm2
        NL
        LD mm7, 0, 17
        movq mm2, mm0
        psrlw mm2, mm7
        PQ "psrlw17=", mm2
        movq mm2, mm0
        psraw mm2, mm7
        PQ "psraw17=", mm2
        LD mm7, 0, 33
        movq mm2, mm0
        pslld mm2, mm7
        PQ "pslld33=", mm2
        LD mm7, 1, 0
        movq mm2, mm0
        psllq mm2, mm7
        PQ "psllq2^32=", mm2
        NL
        movq mm2, mm0
        pcmpeqb mm2, mm1
        PQ "pcmpeqb=", mm2
        movq mm2, mm0
        pcmpgtw mm2, mm1
        PQ "pcmpgtw=", mm2
        movq mm2, mm0
        pcmpgtd mm2, mm1
        PQ "pcmpgtd=", mm2
        NL
        movq mm2, mm0
        pand mm2, mm1
        PQ "pand=", mm2
        movq mm2, mm0
        pandn mm2, mm1
        PQ "pandn=", mm2
        movq mm2, mm0
        por mm2, mm1
        PQ "por=", mm2
        movq mm2, mm0
        pxor mm2, mm1
        PQ "pxor=", mm2
        NL
        mov eax, 0xCAFEBABE
        movd mm2, eax
        PQ "movd=", mm2
        movd ebx, mm1
        H32 "movd r=", ebx
        fnstenv [M]
        H16 "tw=", [M+8]
        H16 "sw=", [M+4]
        emms
        fnstenv [M]
        H16 "emms tw=", [M+8]
        NL
        ret
ROM_END
