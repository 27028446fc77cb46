//! Instruction dispatch: one decoded instruction → its semantics in `ops/`, `protected/` or
//! `x87/`, dispatched on the iced-x86 mnemonic. (`supported` is checked once per decode.)

use iced_x86::{CpuidFeature, Instruction, Mnemonic};

use crate::bus::CpuBus;
use crate::fault::Fault;
use crate::ops::alu::AluOp;
use crate::state::CpuModel;
use crate::Cpu;

/// Does this CPU model implement the instruction (else #UD)?
pub(crate) fn supported(model: CpuModel, i: &Instruction) -> bool {
    if model == CpuModel::I8086 {
        return true; // the 8086 has no #UD: its decoder maps every byte to something
    }
    if model == CpuModel::I80286
        && (0..i.op_count()).any(|n| {
            i.op_kind(n) == iced_x86::OpKind::Register
                && matches!(
                    i.op_register(n),
                    iced_x86::Register::FS | iced_x86::Register::GS
                )
        })
    {
        return false;
    }
    // Encodings that a P6 executes as older instructions: REP BSF/BSR (TZCNT/LZCNT on BMI
    // CPUs, which Linux's __ffs uses deliberately) and the 0F 1E hint NOPs (ENDBR, RDSSP...).
    if model == CpuModel::Pentium2 && (is_rep_bit_scan(i.mnemonic()) || is_hint_nop(i)) {
        return true;
    }
    i.cpuid_features().iter().all(|f| match model {
        CpuModel::I80286 => matches!(
            f,
            CpuidFeature::INTEL8086
                | CpuidFeature::INTEL186
                | CpuidFeature::INTEL286
                | CpuidFeature::FPU
                | CpuidFeature::FPU287
        ),
        _ => matches!(
            f,
            CpuidFeature::INTEL8086
                | CpuidFeature::INTEL186
                | CpuidFeature::INTEL286
                | CpuidFeature::INTEL386
                | CpuidFeature::INTEL486
                | CpuidFeature::FPU
                | CpuidFeature::FPU287
                | CpuidFeature::FPU387
                | CpuidFeature::CMOV
                | CpuidFeature::CPUID
                | CpuidFeature::CX8
                | CpuidFeature::MMX
                | CpuidFeature::MSR
                | CpuidFeature::MULTIBYTENOP
                | CpuidFeature::PAUSE
                | CpuidFeature::RDPMC
                | CpuidFeature::SEP
                | CpuidFeature::TSC
        ),
    })
}

impl Cpu {
    pub(crate) fn execute<B: CpuBus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let next = i.next_ip32();
        self.s.eip = if self.s.code32() { next } else { next & 0xFFFF };
        use Mnemonic as M;
        match i.mnemonic() {
            M::Add => self.op_alu(bus, i, AluOp::Add),
            M::Adc => self.op_alu(bus, i, AluOp::Adc),
            M::Sub => self.op_alu(bus, i, AluOp::Sub),
            M::Sbb => self.op_alu(bus, i, AluOp::Sbb),
            M::And => self.op_alu(bus, i, AluOp::And),
            M::Or => self.op_alu(bus, i, AluOp::Or),
            M::Xor => self.op_alu(bus, i, AluOp::Xor),
            M::Cmp | M::Test => self.op_cmp_test(bus, i),
            M::Inc | M::Dec => self.op_incdec(bus, i),
            M::Neg => self.op_neg(bus, i),
            M::Not => self.op_not(bus, i),
            M::Mul | M::Imul | M::Div | M::Idiv => self.op_muldiv(bus, i),
            M::Rol | M::Ror | M::Rcl | M::Rcr | M::Shl | M::Sal | M::Shr | M::Sar => {
                self.op_shift(bus, i)
            }
            M::Shld | M::Shrd => self.op_shld_shrd(bus, i),
            M::Daa | M::Das | M::Aaa | M::Aas | M::Aam | M::Aad | M::Salc => self.op_bcd(bus, i),

            M::Mov => self.op_mov(bus, i),
            M::Movzx | M::Movsx => self.op_movx(bus, i),
            M::Xchg => self.op_xchg(bus, i),
            M::Lea => self.op_lea(i),
            M::Lds | M::Les | M::Lfs | M::Lgs | M::Lss => self.op_lseg(bus, i),
            M::Xlatb => self.op_xlat(bus, i),
            M::Cbw | M::Cwde | M::Cwd | M::Cdq => {
                self.op_convert(i);
                Ok(())
            }
            M::Bswap => {
                self.op_bswap(i);
                Ok(())
            }
            M::Cmova
            | M::Cmovae
            | M::Cmovb
            | M::Cmovbe
            | M::Cmove
            | M::Cmovg
            | M::Cmovge
            | M::Cmovl
            | M::Cmovle
            | M::Cmovne
            | M::Cmovno
            | M::Cmovnp
            | M::Cmovns
            | M::Cmovo
            | M::Cmovp
            | M::Cmovs => self.op_cmovcc(bus, i),
            M::Seta
            | M::Setae
            | M::Setb
            | M::Setbe
            | M::Sete
            | M::Setg
            | M::Setge
            | M::Setl
            | M::Setle
            | M::Setne
            | M::Setno
            | M::Setnp
            | M::Setns
            | M::Seto
            | M::Setp
            | M::Sets => self.op_setcc(bus, i),
            M::Cmpxchg => self.op_cmpxchg(bus, i),
            M::Cmpxchg8b => self.op_cmpxchg8b(bus, i),
            M::Xadd => self.op_xadd(bus, i),
            M::Bt | M::Bts | M::Btr | M::Btc => self.op_bt(bus, i),
            M::Bsf | M::Bsr | M::Tzcnt | M::Lzcnt => self.op_bsf_bsr(bus, i),
            M::Endbr32 | M::Endbr64 | M::Rdsspd | M::Rdsspq => Ok(()),
            M::Lahf | M::Sahf | M::Clc | M::Stc | M::Cmc | M::Cld | M::Std => {
                self.op_flagops(i);
                Ok(())
            }
            M::Cli | M::Sti => self.op_cli_sti(i),

            M::Push => self.op_push(bus, i),
            M::Pop => self.op_pop(bus, i),
            M::Pusha | M::Pushad => self.op_pusha(bus, i),
            M::Popa | M::Popad => self.op_popa(bus, i),
            M::Pushf | M::Pushfd => self.op_pushf(bus, i),
            M::Popf | M::Popfd => self.op_popf(bus, i),
            M::Enter => self.op_enter(bus, i),
            M::Leave => self.op_leave(bus, i),

            M::Jmp => self.op_jmp(bus, i),
            M::Jo
            | M::Jno
            | M::Jb
            | M::Jae
            | M::Je
            | M::Jne
            | M::Jbe
            | M::Ja
            | M::Js
            | M::Jns
            | M::Jp
            | M::Jnp
            | M::Jl
            | M::Jge
            | M::Jle
            | M::Jg => self.op_jcc(i),
            M::Jcxz | M::Jecxz | M::Loop | M::Loope | M::Loopne => self.op_loop(i),
            M::Call => self.op_call(bus, i),
            M::Ret => self.op_ret(bus, i),
            M::Retf => self.op_retf(bus, i),
            M::Iret | M::Iretd => self.op_iret(bus, i),
            M::Int1 if self.s.model == CpuModel::I8086 => self.op_pop_cs(bus), // 0F remapped
            M::Int | M::Int3 | M::Into | M::Int1 => self.op_int(bus, i),
            M::Bound => self.op_bound(bus, i),

            M::Movsb
            | M::Movsw
            | M::Movsd
            | M::Cmpsb
            | M::Cmpsw
            | M::Cmpsd
            | M::Scasb
            | M::Scasw
            | M::Scasd
            | M::Lodsb
            | M::Lodsw
            | M::Lodsd
            | M::Stosb
            | M::Stosw
            | M::Stosd
            | M::Insb
            | M::Insw
            | M::Insd
            | M::Outsb
            | M::Outsw
            | M::Outsd => self.op_string(bus, i),
            M::In | M::Out => self.op_inout(bus, i),

            M::Nop | M::Pause => Ok(()),
            M::Hlt => self.op_hlt(),
            M::Cpuid => {
                self.op_cpuid();
                Ok(())
            }
            M::Rdtsc => self.op_rdtsc(bus),
            M::Rdmsr | M::Wrmsr => self.op_msr(bus, i),
            M::Rdpmc => {
                if self.s.protected() && self.s.cpl != 0 && self.s.cr4 & crate::state::cr4::PCE == 0
                    || self.s.gpr[1] > 1
                {
                    return Err(Fault::gp0());
                }
                self.s.gpr[0] = 0;
                self.s.gpr[2] = 0;
                Ok(())
            }
            M::Clts => self.op_clts(),
            M::Lmsw => self.op_lmsw(bus, i),
            M::Smsw => self.op_smsw(bus, i),
            M::Lgdt | M::Lidt | M::Sgdt | M::Sidt => self.op_desc_table(bus, i),
            M::Invlpg => self.op_invlpg(i),
            M::Wbinvd | M::Invd => self.require_cpl0(),
            M::Sysenter => self.op_sysenter(),
            M::Sysexit => self.op_sysexit(),
            M::Lldt | M::Ltr | M::Sldt | M::Str | M::Lar | M::Lsl | M::Verr | M::Verw | M::Arpl => {
                self.exec_descriptor_op(bus, i)
            }
            // The 8086 and 286 models have no x87 fitted: ESC and WAIT do nothing.
            M::Wait if !self.s.model.is_386_plus() => Ok(()),
            m if !self.s.model.is_386_plus() && is_fpu_escape(m) => Ok(()),
            m if crate::x87::is_x87(m) => self.exec_x87(bus, i),
            m if crate::x87::is_mmx(m) => self.exec_mmx(bus, i),
            _ => Err(Fault::ud()),
        }
    }
}

/// TZCNT and LZCNT: REP BSF and REP BSR to a CPU without BMI1/LZCNT.
fn is_rep_bit_scan(m: Mnemonic) -> bool {
    matches!(m, Mnemonic::Tzcnt | Mnemonic::Lzcnt)
}

/// CET instructions in the 0F 1E reserved-NOP space (ENDBR32/64, RDSSP): NOPs before CET.
fn is_hint_nop(i: &Instruction) -> bool {
    matches!(
        i.mnemonic(),
        Mnemonic::Endbr32 | Mnemonic::Endbr64 | Mnemonic::Rdsspd | Mnemonic::Rdsspq
    )
}

/// An x87 instruction (ESC opcode D8-DF).
fn is_fpu_escape(m: Mnemonic) -> bool {
    let name = format!("{m:?}");
    name.starts_with('F')
}
