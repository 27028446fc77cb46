//! Host oracle for the MMX instructions: `movq mm0, x; movq mm1, y; OP; movq o, mm0` on the host
//! and through `exec_mmx`, compared bit for bit.

use super::{Emu, Rng};

struct MmxOp {
    name: &'static str,
    host: unsafe fn(&mut [u64; 3]),
    emu: &'static [u8],
}

macro_rules! mmx_ops {
    ($( $name:ident : $asm:literal => [$($b:literal),*] ; )*) => {
        $(
            unsafe fn $name(v: &mut [u64; 3]) {
                let p = v.as_mut_ptr();
                core::arch::asm!(
                    "movq mm0, [{p}]",
                    "movq mm1, [{p} + 8]",
                    $asm,
                    "movq [{p} + 16], mm0",
                    "emms",
                    p = in(reg) p,
                    out("mm0") _, out("mm1") _,
                );
            }
        )*
        const MMX_OPS: &[MmxOp] = &[ $( MmxOp { name: stringify!($name), host: $name, emu: &[$($b),*] } ),* ];
    };
}

mmx_ops! {
    packsswb: "packsswb mm0, mm1" => [0x0F, 0x63, 0xC1];
    packssdw: "packssdw mm0, mm1" => [0x0F, 0x6B, 0xC1];
    packuswb: "packuswb mm0, mm1" => [0x0F, 0x67, 0xC1];
    punpcklbw: "punpcklbw mm0, mm1" => [0x0F, 0x60, 0xC1];
    punpcklwd: "punpcklwd mm0, mm1" => [0x0F, 0x61, 0xC1];
    punpckldq: "punpckldq mm0, mm1" => [0x0F, 0x62, 0xC1];
    punpckhbw: "punpckhbw mm0, mm1" => [0x0F, 0x68, 0xC1];
    punpckhwd: "punpckhwd mm0, mm1" => [0x0F, 0x69, 0xC1];
    punpckhdq: "punpckhdq mm0, mm1" => [0x0F, 0x6A, 0xC1];
    pcmpgtb: "pcmpgtb mm0, mm1" => [0x0F, 0x64, 0xC1];
    pcmpgtw: "pcmpgtw mm0, mm1" => [0x0F, 0x65, 0xC1];
    pcmpgtd: "pcmpgtd mm0, mm1" => [0x0F, 0x66, 0xC1];
    pcmpeqb: "pcmpeqb mm0, mm1" => [0x0F, 0x74, 0xC1];
    pcmpeqw: "pcmpeqw mm0, mm1" => [0x0F, 0x75, 0xC1];
    pcmpeqd: "pcmpeqd mm0, mm1" => [0x0F, 0x76, 0xC1];
    psrlw: "psrlw mm0, mm1" => [0x0F, 0xD1, 0xC1];
    psrld: "psrld mm0, mm1" => [0x0F, 0xD2, 0xC1];
    psrlq: "psrlq mm0, mm1" => [0x0F, 0xD3, 0xC1];
    pmullw: "pmullw mm0, mm1" => [0x0F, 0xD5, 0xC1];
    psubusb: "psubusb mm0, mm1" => [0x0F, 0xD8, 0xC1];
    psubusw: "psubusw mm0, mm1" => [0x0F, 0xD9, 0xC1];
    pand: "pand mm0, mm1" => [0x0F, 0xDB, 0xC1];
    paddusb: "paddusb mm0, mm1" => [0x0F, 0xDC, 0xC1];
    paddusw: "paddusw mm0, mm1" => [0x0F, 0xDD, 0xC1];
    pandn: "pandn mm0, mm1" => [0x0F, 0xDF, 0xC1];
    psraw: "psraw mm0, mm1" => [0x0F, 0xE1, 0xC1];
    psrad: "psrad mm0, mm1" => [0x0F, 0xE2, 0xC1];
    pmulhw: "pmulhw mm0, mm1" => [0x0F, 0xE5, 0xC1];
    psubsb: "psubsb mm0, mm1" => [0x0F, 0xE8, 0xC1];
    psubsw: "psubsw mm0, mm1" => [0x0F, 0xE9, 0xC1];
    por: "por mm0, mm1" => [0x0F, 0xEB, 0xC1];
    paddsb: "paddsb mm0, mm1" => [0x0F, 0xEC, 0xC1];
    paddsw: "paddsw mm0, mm1" => [0x0F, 0xED, 0xC1];
    pxor: "pxor mm0, mm1" => [0x0F, 0xEF, 0xC1];
    psllw: "psllw mm0, mm1" => [0x0F, 0xF1, 0xC1];
    pslld: "pslld mm0, mm1" => [0x0F, 0xF2, 0xC1];
    psllq: "psllq mm0, mm1" => [0x0F, 0xF3, 0xC1];
    pmaddwd: "pmaddwd mm0, mm1" => [0x0F, 0xF5, 0xC1];
    psubb: "psubb mm0, mm1" => [0x0F, 0xF8, 0xC1];
    psubw: "psubw mm0, mm1" => [0x0F, 0xF9, 0xC1];
    psubd: "psubd mm0, mm1" => [0x0F, 0xFA, 0xC1];
    paddb: "paddb mm0, mm1" => [0x0F, 0xFC, 0xC1];
    paddw: "paddw mm0, mm1" => [0x0F, 0xFD, 0xC1];
    paddd: "paddd mm0, mm1" => [0x0F, 0xFE, 0xC1];
    psrlw_i1: "psrlw mm0, 1" => [0x0F, 0x71, 0xD0, 1];
    psrlw_i7: "psrlw mm0, 7" => [0x0F, 0x71, 0xD0, 7];
    psrlw_i15: "psrlw mm0, 15" => [0x0F, 0x71, 0xD0, 15];
    psrlw_i31: "psrlw mm0, 31" => [0x0F, 0x71, 0xD0, 31];
    psrlw_i40: "psrlw mm0, 40" => [0x0F, 0x71, 0xD0, 40];
    psraw_i1: "psraw mm0, 1" => [0x0F, 0x71, 0xE0, 1];
    psraw_i7: "psraw mm0, 7" => [0x0F, 0x71, 0xE0, 7];
    psraw_i15: "psraw mm0, 15" => [0x0F, 0x71, 0xE0, 15];
    psraw_i31: "psraw mm0, 31" => [0x0F, 0x71, 0xE0, 31];
    psraw_i40: "psraw mm0, 40" => [0x0F, 0x71, 0xE0, 40];
    psllw_i1: "psllw mm0, 1" => [0x0F, 0x71, 0xF0, 1];
    psllw_i7: "psllw mm0, 7" => [0x0F, 0x71, 0xF0, 7];
    psllw_i15: "psllw mm0, 15" => [0x0F, 0x71, 0xF0, 15];
    psllw_i31: "psllw mm0, 31" => [0x0F, 0x71, 0xF0, 31];
    psllw_i40: "psllw mm0, 40" => [0x0F, 0x71, 0xF0, 40];
    psrld_i1: "psrld mm0, 1" => [0x0F, 0x72, 0xD0, 1];
    psrld_i7: "psrld mm0, 7" => [0x0F, 0x72, 0xD0, 7];
    psrld_i15: "psrld mm0, 15" => [0x0F, 0x72, 0xD0, 15];
    psrld_i31: "psrld mm0, 31" => [0x0F, 0x72, 0xD0, 31];
    psrld_i40: "psrld mm0, 40" => [0x0F, 0x72, 0xD0, 40];
    psrad_i1: "psrad mm0, 1" => [0x0F, 0x72, 0xE0, 1];
    psrad_i7: "psrad mm0, 7" => [0x0F, 0x72, 0xE0, 7];
    psrad_i15: "psrad mm0, 15" => [0x0F, 0x72, 0xE0, 15];
    psrad_i31: "psrad mm0, 31" => [0x0F, 0x72, 0xE0, 31];
    psrad_i40: "psrad mm0, 40" => [0x0F, 0x72, 0xE0, 40];
    pslld_i1: "pslld mm0, 1" => [0x0F, 0x72, 0xF0, 1];
    pslld_i7: "pslld mm0, 7" => [0x0F, 0x72, 0xF0, 7];
    pslld_i15: "pslld mm0, 15" => [0x0F, 0x72, 0xF0, 15];
    pslld_i31: "pslld mm0, 31" => [0x0F, 0x72, 0xF0, 31];
    pslld_i40: "pslld mm0, 40" => [0x0F, 0x72, 0xF0, 40];
    psrlq_i1: "psrlq mm0, 1" => [0x0F, 0x73, 0xD0, 1];
    psrlq_i7: "psrlq mm0, 7" => [0x0F, 0x73, 0xD0, 7];
    psrlq_i15: "psrlq mm0, 15" => [0x0F, 0x73, 0xD0, 15];
    psrlq_i31: "psrlq mm0, 31" => [0x0F, 0x73, 0xD0, 31];
    psrlq_i40: "psrlq mm0, 40" => [0x0F, 0x73, 0xD0, 40];
    psllq_i1: "psllq mm0, 1" => [0x0F, 0x73, 0xF0, 1];
    psllq_i7: "psllq mm0, 7" => [0x0F, 0x73, 0xF0, 7];
    psllq_i15: "psllq mm0, 15" => [0x0F, 0x73, 0xF0, 15];
    psllq_i31: "psllq mm0, 31" => [0x0F, 0x73, 0xF0, 31];
    psllq_i40: "psllq mm0, 40" => [0x0F, 0x73, 0xF0, 40];
}

#[test]
fn oracle_mmx() {
    let mut emu = Emu::new();
    let mut rng = Rng(0x5EED);
    let mut runs = 0;
    let mut bad = vec![];
    for op in MMX_OPS {
        for k in 0..300 {
            let x = rng.next();
            let y = match k % 4 {
                0 => rng.below(70),
                1 => rng.next() & 0x00FF_00FF_7FFF_8000,
                _ => rng.next(),
            };
            let mut h = [x, y, 0];
            // SAFETY: the asm reads/writes the 24-byte array and leaves the FPU in the EMMS state.
            unsafe { (op.host)(&mut h) };
            emu.bus.mem[0x200..0x208].copy_from_slice(&x.to_le_bytes());
            emu.bus.mem[0x208..0x210].copy_from_slice(&y.to_le_bytes());
            let mut code = vec![0x0F, 0x6F, 0x06, 0x00, 0x02, 0x0F, 0x6F, 0x0E, 0x08, 0x02];
            code.extend_from_slice(op.emu);
            code.extend_from_slice(&[0x0F, 0x7F, 0x06, 0x10, 0x02, 0x0F, 0x77]);
            emu.exec(&code).expect("mmx harness faulted");
            let e = u64::from_le_bytes(emu.bus.mem[0x210..0x218].try_into().unwrap());
            runs += 1;
            if e != h[2] && bad.len() < 10 {
                bad.push(format!(
                    "{} x={x:016X} y={y:016X}: host {:016X} emu {e:016X}",
                    op.name, h[2]
                ));
            }
        }
    }
    eprintln!(
        "oracle mmx: {} ops, {runs} runs, {} mismatches",
        MMX_OPS.len(),
        bad.len()
    );
    assert!(bad.is_empty(), "{bad:#?}");
}
