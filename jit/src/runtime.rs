//! The `extern "C"` helpers translated code calls, and the context block it shares with them.
//!
//! Translated code keeps guest registers in Cranelift variables; it calls these helpers for
//! data accesses (every segmentation, paging and alignment check of the interpreter), for
//! instructions without a hand-written lowering (the interpreter executes them), and to
//! deliver an exception. Helpers are generic over the bus and monomorphised per bus type;
//! their addresses are baked into the code as constants.

use iced_x86::Instruction;
use ironbox_cpu::state::attr;
use ironbox_cpu::translator::exec_result;
use ironbox_cpu::{Cpu, CpuBus, Fault, SegReg, Segment};

use crate::jumpcache::JumpCache;
use crate::tlb::HostTlb;

mod x87;
pub use x87::{h_x87_rr, X87_FAULT, X87_LEAVE};

/// Shared between a running translation and the helpers. `#[repr(C)]`: code reaches the
/// fields by offset.
#[repr(C)]
pub struct Ctx {
    pub cpu: *mut Cpu,
    pub bus: *mut (),
    /// Instructions the region may still execute (decremented per block, refunded on early
    /// exits so that the dispatcher sees exactly what the interpreter would have counted).
    pub budget: i64,
    /// The budget at entry; instructions already counted as retired by helpers, and
    /// instructions that faulted (they use budget but do not retire). Translated code keeps
    /// no retired count of its own: it passes helpers its budget as of the instruction's
    /// start, and the dispatcher settles the rest at the exit.
    pub start_budget: i64,
    pub synced: i64,
    pub faults: i64,
    /// EFLAGS.IF|TF|RF at region entry (a change makes the region leave).
    pub entry_flags: u32,
    /// The fault of the last failed data access.
    pub fault_vector: u32,
    pub fault_error: u32,
    pub fault_has_error: u32,
    /// Where translated code looks for the next translation (null: no chaining).
    pub jc: *mut JumpCache,
    /// Per segment register: base, and the highest offset + 1 an inline read / write may
    /// reach (-1: always take the helper; expand-down, unusable, or alignment checks on).
    pub seg_base: [u32; 6],
    pub seg_rlim: [i64; 6],
    pub seg_wlim: [i64; 6],
    /// A lazy flag record (`lower::Rec`: op | pending bits << 12, a, b, r) handed from a
    /// translation to the one it chains to; op 0 (nothing pending) everywhere else.
    pub lz: [u32; 4],
    /// What the tables above were computed from (they are recomputed only when it changes).
    seg_key: ([Segment; 6], u32),
    /// Set by translated code when it returns to the dispatcher from an exit that could have
    /// chained (no translation for the target in the jump cache): for `JitStats`.
    pub chain_miss: u32,
    /// The result of a helper called through a thunk (`thunks`).
    pub ret: u64,
    /// The host-pointer TLB (see `tlb`), inside the context so that translated code reaches
    /// it from the context register without a base pointer of its own.
    pub host_tlb: HostTlb,
}

// SAFETY: the raw pointers are only dereferenced during a run of translated code, on the
// thread that owns the `Jit` (and so this context) at that moment; `begin` sets the CPU and
// bus pointers afresh for every run.
unsafe impl Send for Ctx {}

impl Ctx {
    /// A context that `begin` readies for each run (kept between runs: the segment tables
    /// carry over while the segment registers stay the same).
    pub fn new(jc: *mut JumpCache) -> Ctx {
        Ctx {
            jc,
            cpu: std::ptr::null_mut(),
            bus: std::ptr::null_mut(),
            budget: 0,
            start_budget: 0,
            synced: 0,
            faults: 0,
            entry_flags: 0,
            fault_vector: 0,
            fault_error: 0,
            fault_has_error: 0,
            seg_base: [0; 6],
            seg_rlim: [-1; 6],
            seg_wlim: [-1; 6],
            lz: [0; 4],
            seg_key: ([Segment::default(); 6], u32::MAX),
            chain_miss: 0,
            ret: 0,
            host_tlb: HostTlb::new(),
        }
    }

    /// Ready the context for one run of translated code.
    pub fn begin(&mut self, cpu: &mut Cpu, bus: *mut (), budget: i64, entry_flags: u32) {
        self.cpu = cpu;
        self.bus = bus;
        self.budget = budget;
        self.start_budget = budget;
        self.synced = 0;
        self.faults = 0;
        self.entry_flags = entry_flags;
        self.lz[0] = 0;
        self.load_segments(cpu);
    }

    /// Recompute the inline segment checks from the segment registers (at region entry and
    /// after every interpreted instruction, which may load a segment or change EFLAGS.AC),
    /// unless nothing they depend on changed.
    pub fn load_segments(&mut self, cpu: &Cpu) {
        let checks = cpu.s.protected() && !cpu.s.v86();
        let aligned = cpu.alignment_checks_off();
        let mode = checks as u32 | (aligned as u32) << 1;
        if self.seg_key.1 == mode && seg_bytes(&self.seg_key.0) == seg_bytes(&cpu.s.seg) {
            return;
        }
        self.seg_key = (cpu.s.seg, mode);
        for (k, sr) in cpu.s.seg.iter().enumerate() {
            self.seg_base[k] = sr.base;
            let a = sr.attr;
            let lim = sr.limit as i64;
            let (mut r, mut w) = (lim, lim);
            if !aligned || (a & (attr::CODE | attr::DC) == attr::DC) {
                (r, w) = (-1, -1); // alignment checks, or expand-down data
            } else if checks {
                if a & attr::P == 0 {
                    (r, w) = (-1, -1);
                } else if a & attr::CODE != 0 {
                    w = -1;
                    if a & attr::RW == 0 {
                        r = -1;
                    }
                } else if a & attr::RW == 0 {
                    w = -1;
                }
            }
            self.seg_rlim[k] = r;
            self.seg_wlim[k] = w;
        }
    }

    fn set_fault(&mut self, f: Fault) {
        self.fault_vector = f.vector as u32;
        self.fault_error = f.error.unwrap_or(0);
        self.fault_has_error = f.error.is_some() as u32;
    }

    /// Retire the instructions done before the one whose budget-at-start is `bk`.
    fn sync(&mut self, cpu: &mut Cpu, bk: i64) {
        let n = self.start_budget - bk - self.synced - self.faults;
        if n > 0 {
            cpu.retire(n as u64);
            self.synced += n;
        }
    }

    /// Account for an instruction a helper ran through the interpreter (`exec_result` bits):
    /// retired by the interpreter, or faulted (not retired).
    fn count(&mut self, r: u32) {
        if r & exec_result::FAULTED != 0 {
            self.faults += 1;
        } else {
            self.synced += 1;
        }
    }

    /// After the run: retire what the helpers did not.
    pub fn settle(&mut self, cpu: &mut Cpu) {
        let b = self.budget;
        self.sync(cpu, b);
    }

    fn fault(&self) -> Fault {
        Fault {
            vector: self.fault_vector as u8,
            error: (self.fault_has_error != 0).then_some(self.fault_error),
        }
    }
}

/// `h_read` result bit: the access faulted (the fault is in the context).
pub const READ_FAULT: u64 = 1 << 32;
/// `h_write` result bits.
pub const WRITE_FAULT: u32 = 1;
pub const WRITE_HIT_CODE: u32 = 2;

/// # Safety
/// `ctx` points to a live `Ctx` whose `cpu` and `bus` (of type `B`) are live and unaliased.
unsafe fn parts<'a, B>(ctx: *mut Ctx) -> (&'a mut Ctx, &'a mut Cpu, &'a mut B) {
    let c = &mut *ctx;
    let cpu = &mut *c.cpu;
    let bus = &mut *(c.bus as *mut B);
    (c, cpu, bus)
}

/// Data read: `size_rmw` = size (1, 2, 4) | 0x100 for a read-modify-write operand.
pub extern "C" fn h_read<B: CpuBus>(ctx: *mut Ctx, seg: u32, off: u32, size_rmw: u32) -> u64 {
    // SAFETY: translated code passes the context it was given (see `Ctx`).
    let (c, cpu, bus) = unsafe { parts::<B>(ctx) };
    let seg = SegReg::from_index(seg as usize);
    let (size, rmw) = (size_rmw & 0xFF, size_rmw & 0x100 != 0);
    match cpu.data_read(bus, seg, off, size, rmw) {
        Ok(v) => {
            let lim = if rmw { c.seg_wlim } else { c.seg_rlim }[seg as usize];
            if lim >= 0 {
                let lin = c.seg_base[seg as usize].wrapping_add(off);
                // SAFETY: the TLB is owned by the JIT and outlives the region run.
                c.host_tlb.fill(cpu, bus, lin, size, rmw);
            }
            v as u64
        }
        Err(f) => {
            c.set_fault(f);
            READ_FAULT
        }
    }
}

/// Accesses to come in `lo..=hi` (`write`: some are writes) by translated code: 1 if the
/// host TLB now maps both pages for them (`HostTlb::group`), else 0 (they must go through
/// the CPU).
pub extern "C" fn h_group<B: CpuBus>(ctx: *mut Ctx, lo: u32, hi: u32, write: u32) -> u64 {
    // SAFETY: as for `h_read`.
    let (c, cpu, bus) = unsafe { parts::<B>(ctx) };
    c.host_tlb.group(cpu, bus, lo, hi, write != 0) as u64
}

/// The segment registers as bytes (one memcmp instead of field-by-field comparisons: this
/// runs after every interpreted instruction).
fn seg_bytes(s: &[Segment; 6]) -> &[u8] {
    // SAFETY: `Segment` is `repr(C)` with no padding (u16, u16, u32, u32).
    unsafe { std::slice::from_raw_parts(s.as_ptr() as *const u8, std::mem::size_of_val(s)) }
}

/// Data write.
pub extern "C" fn h_write<B: CpuBus>(ctx: *mut Ctx, seg: u32, off: u32, size: u32, v: u32) -> u32 {
    // SAFETY: as for `h_read`.
    let (c, cpu, bus) = unsafe { parts::<B>(ctx) };
    let seg = SegReg::from_index(seg as usize);
    match cpu.data_write(bus, seg, off, size, v) {
        Ok(true) => WRITE_HIT_CODE,
        Ok(false) => {
            if c.seg_wlim[seg as usize] >= 0 {
                let lin = c.seg_base[seg as usize].wrapping_add(off);
                // SAFETY: as above.
                c.host_tlb.fill(cpu, bus, lin, size, true);
            }
            0
        }
        Err(f) => {
            c.set_fault(f);
            WRITE_FAULT
        }
    }
}

/// Execute one instruction with the interpreter (`bk`: the budget as of its start).
pub extern "C" fn h_exec<B: CpuBus>(ctx: *mut Ctx, i: *const Instruction, bk: i64) -> u32 {
    // SAFETY: as for `h_read`; `i` points into the region's instruction list, alive while
    // the region's code runs.
    let (c, cpu, bus) = unsafe { parts::<B>(ctx) };
    c.sync(cpu, bk);
    let i = unsafe { &*i };
    let r = cpu.exec_one(bus, i, c.entry_flags);
    c.count(r);
    c.load_segments(cpu);
    r
}

/// `h_exec` for an instruction that leaves the segment checks as they are
/// (`translator::keeps_segments`).
pub extern "C" fn h_exec_plain<B: CpuBus>(ctx: *mut Ctx, i: *const Instruction, bk: i64) -> u32 {
    // SAFETY: as for `h_exec`.
    let (c, cpu, bus) = unsafe { parts::<B>(ctx) };
    c.sync(cpu, bk);
    let r = cpu.exec_one(bus, unsafe { &*i }, c.entry_flags);
    c.count(r);
    r
}

/// `h_exec_plain` for a REP string instruction: the interpreter runs it in batches, each a
/// retired instruction that restarts itself (EIP left on it) until the count is done; run
/// further batches here while the region's budget allows (`avail`: instructions it may
/// still spend) instead of leaving the region after each. Returns the `exec_result` bits
/// of the last batch | the number of further batches << 32 (the caller takes them off its
/// budget).
pub extern "C" fn h_rep<B: CpuBus>(
    ctx: *mut Ctx,
    i: *const Instruction,
    bk: i64,
    avail: i64,
) -> u64 {
    // SAFETY: as for `h_exec`.
    let (c, cpu, bus) = unsafe { parts::<B>(ctx) };
    c.sync(cpu, bk);
    let i = unsafe { &*i };
    let mut extra = 0i64;
    loop {
        let r = cpu.exec_one(bus, i, c.entry_flags);
        c.count(r);
        // Exactly BRANCHED: the batch ended with the count not done (nothing else to report).
        if r != exec_result::BRANCHED || extra >= avail {
            return r as u64 | (extra as u64) << 32;
        }
        extra += 1;
    }
}

/// Execute the instruction at CS:EIP with the interpreter, decoding it afresh (one that
/// crosses a page: see `Region::straddles`; the instruction pointer is unused).
pub extern "C" fn h_step<B: CpuBus>(ctx: *mut Ctx, _i: *const Instruction, bk: i64) -> u32 {
    // SAFETY: as for `h_read`.
    let (c, cpu, bus) = unsafe { parts::<B>(ctx) };
    c.sync(cpu, bk);
    let r = cpu.exec_fresh(bus, c.entry_flags);
    c.count(r);
    c.load_segments(cpu);
    r
}

/// Deliver the fault of the last failed access, raised by the instruction at `eip` (`bk`:
/// the budget as of its start). Returns `exec_result` bits. With `leave`, there is no fault:
/// the last instruction completed (a write that hit translated code, `Lower::write_mem_last`)
/// and the guest goes on at `eip` outside this translation.
pub extern "C" fn h_raise<B: CpuBus>(ctx: *mut Ctx, eip: u32, bk: i64, leave: u32) -> u32 {
    // SAFETY: as for `h_read`.
    let (c, cpu, bus) = unsafe { parts::<B>(ctx) };
    if leave != 0 {
        cpu.s.eip = eip;
        return exec_result::LEAVE;
    }
    c.sync(cpu, bk);
    c.faults += 1;
    let f = c.fault();
    let shutdown = cpu.raise_at(bus, f, eip);
    exec_result::LEAVE | exec_result::FAULTED | if shutdown { exec_result::SHUTDOWN } else { 0 }
}

/// `h_flags` for the lazy record in the context (`Ctx::lz`).
pub extern "C" fn h_flags_ctx(ctx: *mut Ctx, flags: u32, mask: u32) -> u32 {
    // SAFETY: translated code passes its own context.
    let [op, a, b, r] = unsafe { (*ctx).lz };
    h_flags(op, a, b, r, flags, mask)
}

/// The status flags of a lazily kept operation (see `lower::Rec`): `op` = kind | size << 4
/// | shift count << 7 (higher bits ignored). Returns `flags` with its `mask` bits replaced. The same formulas as
/// the interpreter's (ADC/SBB carry-in is recovered from the result).
pub extern "C" fn h_flags(op: u32, a: u32, b: u32, r: u32, flags: u32, mask: u32) -> u32 {
    use crate::lower::{K_ADD, K_LOGIC, K_MUL, K_ROT_L, K_ROT_R, K_SAR, K_SHL, K_SHR, K_SUB};
    use ironbox_cpu::state::flags::{AF, CF, OF, PF, SF, ZF};
    if mask == 0 {
        return flags;
    }
    let (kind, size, count) = (op & 0xF, (op >> 4) & 7, (op >> 7) & 0x1F);
    let bits = size * 8;
    let m = if size >= 4 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    };
    let sb = 1u32 << (bits - 1);
    let (a, b, r) = (a & m, b & m, r & m);
    let bit = |v: u32, n: u32| (v >> n) & 1 != 0;
    let mut f = 0;
    if r == 0 {
        f |= ZF;
    }
    if r & sb != 0 {
        f |= SF;
    }
    if (r as u8).count_ones() % 2 == 0 {
        f |= PF;
    }
    let mut set = |flag: u32, on: bool| {
        if on {
            f |= flag
        }
    };
    match kind {
        K_ADD => {
            let c = r.wrapping_sub(a).wrapping_sub(b) & m;
            set(CF, a as u64 + b as u64 + c as u64 > m as u64);
            set(OF, (a ^ r) & (b ^ r) & sb != 0);
            set(AF, (a ^ b ^ r) & 0x10 != 0);
        }
        K_SUB => {
            let c = a.wrapping_sub(b).wrapping_sub(r) & m;
            set(CF, (a as u64) < b as u64 + c as u64);
            set(OF, (a ^ b) & (a ^ r) & sb != 0);
            set(AF, (a ^ b ^ r) & 0x10 != 0);
        }
        K_SHL => {
            let cf = bit(a, bits - count);
            set(CF, cf);
            set(OF, (r & sb != 0) != cf);
        }
        K_SHR => {
            set(CF, bit(a, count - 1));
            set(OF, count == 1 && a & sb != 0);
        }
        K_SAR => {
            // `a` is the sign-extended operand (masked above: re-extend).
            let sa = ((a << (32 - bits)) as i32) >> (32 - bits);
            set(CF, bit(sa as u32, count - 1));
        }
        K_ROT_L => {
            let cf = r & 1 != 0;
            set(CF, cf);
            set(OF, (r & sb != 0) != cf);
        }
        K_ROT_R => {
            set(CF, r & sb != 0);
            set(OF, (r & sb != 0) != (r & (sb >> 1) != 0));
        }
        K_MUL => {
            set(CF, b != 0);
            set(OF, b != 0);
        }
        K_LOGIC => {}
        _ => return flags, // no record (mask is 0 then anyway)
    }
    (flags & !mask) | (f & mask)
}

/// Addresses of the helpers for one bus type.
#[derive(Clone, Copy)]
pub struct Helpers {
    pub flags: usize,
    /// `h_flags_ctx` itself (C convention), for a region's entry, where a call clobbers
    /// nothing that lives on (`flags` may be its register-preserving thunk).
    pub flags_entry: usize,
    pub read: usize,
    pub write: usize,
    /// `h_group` (through a thunk with `preserve_all`).
    pub group: usize,
    pub exec: usize,
    pub exec_plain: usize,
    pub step: usize,
    pub raise: usize,
    pub rep: usize,
    /// `read`, `write`, `group` and `flags` are `thunks` with the `preserve_all` convention.
    pub preserve_all: bool,
    /// `h_x87` per x87 instruction class.
    pub x87: [usize; ironbox_cpu::x87::class::COUNT],
    /// The shared exit code's functions, per `lower::ExitStub` (0: none yet; regions then
    /// carry the code themselves).
    pub stubs: [usize; 4],
}

impl Helpers {
    pub fn for_bus<B: CpuBus>() -> Helpers {
        Helpers {
            flags: h_flags_ctx as *const () as usize,
            flags_entry: h_flags_ctx as *const () as usize,
            read: h_read::<B> as *const () as usize,
            write: h_write::<B> as *const () as usize,
            group: h_group::<B> as *const () as usize,
            exec: h_exec::<B> as *const () as usize,
            exec_plain: h_exec_plain::<B> as *const () as usize,
            step: h_step::<B> as *const () as usize,
            raise: h_raise::<B> as *const () as usize,
            rep: h_rep::<B> as *const () as usize,
            preserve_all: false,
            x87: x87::helpers::<B>(),
            stubs: [0; 4],
        }
    }
}
