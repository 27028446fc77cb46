//! The GDB remote stub (`--gdb tcp:HOST:PORT`), on the `gdbstub` crate.
//!
//! gdb sees one i386 thread (`gdbstub_arch`'s `X86_SSE` description: the 32-bit core
//! registers, segment selectors, x87 registers and zeros for the SSE registers this CPU lacks).
//! Addresses are LINEAR: memory goes through the guest's current paging (no segmentation; in
//! real mode pass CS*16+IP). Breakpoints and watchpoints are emulator-owned (see
//! `ironbox_machine::pc::control`): nothing is patched into guest memory, so a breakpoint set
//! before the code is loaded still hits. `monitor help` lists the extra commands.
//!
//! The machine runs on the calling thread, in slices ([`Pc::run_slice`]); between slices the
//! stub looks for incoming bytes without blocking. Stopping and starting is the machine's own
//! run control (`ironbox_machine::pc::control`), shared with the display window: gdb's Ctrl-C
//! pauses the machine, `continue` resumes it, `stepi` is [`Pc::step_instruction`]; while gdb
//! is attached and the guest stopped, the machine is paused and its virtual clock stands still.
//!
//! The guest's end (debug exit, reset with `--no-reboot`, triple fault with `--no-reboot`,
//! halt for good) is reported as the inferior exiting, with the exit status `ironbox run` would
//! give. A broken connection or garbage never ends the run: the debugger's breakpoints are
//! dropped, and the guest runs on (or, with `--paused`, waits stopped for the next
//! connection). gdb's `kill` ends ironbox.

mod monitor;

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};

use anyhow::{bail, Context};
use gdbstub::common::Signal;
use gdbstub::conn::{Connection, ConnectionExt};
use gdbstub::stub::{run_blocking, DisconnectReason, GdbStub, SingleThreadStopReason};
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep,
    SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps,
    SwBreakpoint, SwBreakpointOps, WatchKind as GdbWatch,
};
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::{Target, TargetError, TargetResult};
use gdbstub_arch::x86::reg::X86CoreRegs;
use gdbstub_arch::x86::X86_SSE;
use ironbox_cpu::state::{attr, flags};
use ironbox_cpu::{SegReg, WatchKind};
use ironbox_machine::pc::control::Stop;
use ironbox_machine::pc::{Pc, PcOutcome};

/// Instructions run between two looks at the connection (well under a millisecond).
const SLICE: u64 = 200_000;

/// Parse `tcp:HOST:PORT` (`tcp::PORT` and `:PORT` mean the loopback address).
pub fn parse_addr(spec: &str) -> anyhow::Result<SocketAddr> {
    let rest = spec.strip_prefix("tcp:").unwrap_or(spec);
    let Some((host, port)) = rest.rsplit_once(':') else {
        bail!("--gdb {spec:?}: expected tcp:HOST:PORT or tcp::PORT");
    };
    let port: u16 = port
        .parse()
        .with_context(|| format!("--gdb {spec:?}: bad port {port:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("--gdb {spec:?}: cannot resolve {host:?}"))?
        .next()
        .with_context(|| format!("--gdb {spec:?}: no address for {host:?}"))
}

/// How the run under the stub ended.
pub enum GdbEnd {
    /// The guest ended the run.
    Exited(PcOutcome),
    /// gdb sent `kill`.
    Killed,
}

/// Run the machine under the GDB stub listening on `addr`. With `paused`, nothing runs until
/// a debugger is attached (and again whenever it goes away).
pub fn serve(pc: &mut Pc, addr: SocketAddr, paused: bool) -> anyhow::Result<GdbEnd> {
    let listener =
        TcpListener::bind(addr).with_context(|| format!("--gdb: cannot listen on {addr}"))?;
    let shown = listener.local_addr().unwrap_or(addr);
    eprintln!(
        "ironbox: gdb stub listening on {shown}{}",
        if paused {
            " (paused: waiting for gdb before the first instruction)"
        } else {
            ""
        }
    );
    listener.set_nonblocking(true)?;
    if paused {
        pc.pause();
    }
    loop {
        let stream = if pc.is_paused() {
            listener.set_nonblocking(false)?;
            let s = listener.accept().map(|(s, _)| s);
            listener.set_nonblocking(true)?;
            match s {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("ironbox: gdb: accept failed: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    continue;
                }
            }
        } else {
            match pc.run_slice(SLICE, None)? {
                Stop::Exited(o) => return Ok(GdbEnd::Exited(o)),
                _ => listener.accept().ok().map(|(s, _)| s),
            }
        };
        let Some(stream) = stream else { continue };
        if let Some(end) = session(pc, stream)? {
            return Ok(end);
        }
        // Without a debugger the guest runs on, unless asked to wait for the next one.
        if paused {
            pc.pause();
        } else {
            pc.resume();
        }
    }
}

/// One debugger connection. `Some` when the run is over.
fn session(pc: &mut Pc, stream: TcpStream) -> anyhow::Result<Option<GdbEnd>> {
    let peer = stream
        .peer_addr()
        .map_or("?".to_string(), |a| a.to_string());
    eprintln!("ironbox: gdb connected from {peer}");
    let _ = stream.set_nodelay(true);
    let _ = stream.set_nonblocking(false);
    // gdb starts with the target stopped.
    pc.pause();
    let mut target = IronTarget {
        pc,
        resume: Resume::Continue,
        exited: None,
        fatal: None,
        sw: HashSet::new(),
        hw: HashSet::new(),
    };
    let stub = match GdbStub::builder(stream).packet_buffer_size(0x4000).build() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ironbox: gdb: {e}");
            return Ok(None);
        }
    };
    // gdbstub can panic on hostile packets (e.g. an address + length that overflows, as
    // `m ffffffff,ffffffff`): the machine is between instructions whenever gdbstub code runs,
    // so such a panic only ends this connection.
    let r = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        stub.run_blocking::<EventLoop<'_>>(&mut target)
    })) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("the stub panicked on a packet".to_string()),
    };
    let exited = target.exited;
    let fatal = target.fatal.take();
    // The debugger's breakpoints go away with it.
    target.pc.clear_debug();
    if let Some(e) = fatal {
        return Err(e.into());
    }
    match r {
        Ok(DisconnectReason::TargetExited(_)) | Ok(DisconnectReason::TargetTerminated(_)) => {
            eprintln!("ironbox: gdb: the guest ended the run");
        }
        Ok(DisconnectReason::Kill) => {
            eprintln!("ironbox: gdb: killed by the debugger");
            return Ok(Some(GdbEnd::Killed));
        }
        Ok(DisconnectReason::Disconnect) => eprintln!("ironbox: gdb detached"),
        Err(e) => eprintln!("ironbox: gdb connection dropped: {e}"),
    }
    Ok(exited.map(GdbEnd::Exited))
}

/// The exit status `ironbox run` gives for an outcome (as gdb's exit code).
pub fn exit_code(o: &PcOutcome) -> u8 {
    match o {
        PcOutcome::DebugExit(status) => *status as u8,
        PcOutcome::Reset | PcOutcome::Halted { .. } => 0,
        PcOutcome::Shutdown { .. } | PcOutcome::InstructionLimit { .. } => 3,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Resume {
    Continue,
    Step,
}

struct IronTarget<'a> {
    pc: &'a mut Pc,
    resume: Resume,
    /// Set when the guest ended the run.
    exited: Option<PcOutcome>,
    /// A machine error (not the debugger's fault): ends ironbox.
    fatal: Option<ironbox_machine::pc::PcError>,
    /// Breakpoints gdb set as software (Z0) and hardware (Z1) breakpoints.
    sw: HashSet<u32>,
    hw: HashSet<u32>,
}

struct EventLoop<'a>(std::marker::PhantomData<&'a ()>);

impl<'a> run_blocking::BlockingEventLoop for EventLoop<'a> {
    type Target = IronTarget<'a>;
    type Connection = TcpStream;
    type StopReason = SingleThreadStopReason<u32>;

    #[allow(clippy::type_complexity)]
    fn wait_for_stop_reason(
        target: &mut Self::Target,
        conn: &mut Self::Connection,
    ) -> Result<
        run_blocking::Event<Self::StopReason>,
        run_blocking::WaitForStopReasonError<
            <Self::Target as Target>::Error,
            <Self::Connection as Connection>::Error,
        >,
    > {
        use run_blocking::{Event, WaitForStopReasonError as E};
        loop {
            let r = match target.resume {
                Resume::Step => target.pc.step_instruction(),
                Resume::Continue => target.pc.run_slice(SLICE, None),
            };
            let stop = match r {
                Ok(s) => s,
                Err(e) => {
                    target.fatal = Some(e);
                    return Err(E::Target("machine error"));
                }
            };
            let reason = match stop {
                Stop::Exited(o) => {
                    target.exited = Some(o);
                    SingleThreadStopReason::Exited(exit_code(&o))
                }
                Stop::Breakpoint(lin) => {
                    if target.hw.contains(&lin) && !target.sw.contains(&lin) {
                        SingleThreadStopReason::HwBreak(())
                    } else {
                        SingleThreadStopReason::SwBreak(())
                    }
                }
                Stop::Watchpoint { addr, kind } => SingleThreadStopReason::Watch {
                    tid: (),
                    kind: match kind {
                        WatchKind::Write => GdbWatch::Write,
                        WatchKind::Read => GdbWatch::Read,
                        WatchKind::Access => GdbWatch::ReadWrite,
                    },
                    addr,
                },
                Stop::Paused => SingleThreadStopReason::Signal(Signal::SIGINT),
                Stop::SliceDone if target.resume == Resume::Step => {
                    SingleThreadStopReason::DoneStep
                }
                Stop::SliceDone => {
                    // Still running: anything from gdb (Ctrl-C)?
                    match conn.peek() {
                        Ok(None) => continue,
                        Ok(Some(_)) => {
                            let byte = conn.read().map_err(E::Connection)?;
                            return Ok(Event::IncomingData(byte));
                        }
                        Err(e) => return Err(E::Connection(e)),
                    }
                }
            };
            return Ok(Event::TargetStopped(reason));
        }
    }

    fn on_interrupt(
        target: &mut Self::Target,
    ) -> Result<Option<Self::StopReason>, <Self::Target as Target>::Error> {
        // Ctrl-C: pause the machine; the next slice reports it stopped (`Stop::Paused`, SIGINT).
        target.pc.pause();
        Ok(None)
    }
}

impl Target for IronTarget<'_> {
    type Arch = X86_SSE;
    type Error = &'static str;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }

    fn guard_rail_implicit_sw_breakpoints(&self) -> bool {
        true
    }
}

fn seg_index(r: SegReg) -> usize {
    r as usize
}

impl IronTarget<'_> {
    /// Load a segment register as a debugger's write: real/V86 mode computes the base from
    /// the selector; protected mode loads the descriptor (left alone if it cannot be read).
    fn load_segment(&mut self, r: SegReg, sel: u16) {
        let s = &self.pc.cpu.s;
        let i = seg_index(r);
        if s.seg[i].selector == sel {
            return;
        }
        if !s.protected() || s.v86() {
            let seg = &mut self.pc.cpu.s.seg[i];
            seg.selector = sel;
            seg.base = (sel as u32) << 4;
            return;
        }
        if let Some(d) = monitor::descriptor(self.pc, sel) {
            let seg = &mut self.pc.cpu.s.seg[i];
            seg.selector = sel;
            seg.base = d.base;
            seg.limit = d.limit;
            seg.attr = d.attr;
            if r == SegReg::Cs {
                self.pc.cpu.s.cpl = (sel & 3) as u8;
            }
        } else if sel & !3 == 0 && r != SegReg::Cs && r != SegReg::Ss {
            let seg = &mut self.pc.cpu.s.seg[i];
            seg.selector = sel;
            seg.attr &= !attr::P;
        }
    }
}

impl SingleThreadBase for IronTarget<'_> {
    fn read_registers(&mut self, regs: &mut X86CoreRegs) -> TargetResult<(), Self> {
        let s = &self.pc.cpu.s;
        let g = &s.gpr;
        regs.eax = g[0];
        regs.ecx = g[1];
        regs.edx = g[2];
        regs.ebx = g[3];
        regs.esp = g[4];
        regs.ebp = g[5];
        regs.esi = g[6];
        regs.edi = g[7];
        regs.eip = s.eip;
        regs.eflags = s.eflags;
        let sel = |r: SegReg| s.seg[seg_index(r)].selector as u32;
        regs.segments.cs = sel(SegReg::Cs);
        regs.segments.ss = sel(SegReg::Ss);
        regs.segments.ds = sel(SegReg::Ds);
        regs.segments.es = sel(SegReg::Es);
        regs.segments.fs = sel(SegReg::Fs);
        regs.segments.gs = sel(SegReg::Gs);
        let f = &s.fpu;
        for i in 0..8 {
            let r = f.regs[(f.top as usize + i) & 7];
            let mut b = [0u8; 10];
            b[..8].copy_from_slice(&r.mant.to_le_bytes());
            b[8..].copy_from_slice(&r.se.to_le_bytes());
            regs.st[i] = b;
        }
        regs.fpu.fctrl = f.cw as u32;
        regs.fpu.fstat = ((f.sw & !0x3800) | ((f.top as u16 & 7) << 11)) as u32;
        regs.fpu.ftag = f.tw as u32;
        regs.fpu.fiseg = f.fcs as u32;
        regs.fpu.fioff = f.fip;
        regs.fpu.foseg = f.fds as u32;
        regs.fpu.fooff = f.fdp;
        regs.fpu.fop = f.fop as u32;
        regs.xmm = [0; 8];
        regs.mxcsr = 0x1F80;
        Ok(())
    }

    fn write_registers(&mut self, regs: &X86CoreRegs) -> TargetResult<(), Self> {
        {
            let s = &mut self.pc.cpu.s;
            s.gpr = [
                regs.eax, regs.ecx, regs.edx, regs.ebx, regs.esp, regs.ebp, regs.esi, regs.edi,
            ];
            s.eip = regs.eip;
            s.eflags = (regs.eflags & 0x003F_7FD5) | flags::RESERVED1;
            let f = &mut s.fpu;
            let top = ((regs.fpu.fstat >> 11) & 7) as u8;
            f.top = top;
            f.sw = (regs.fpu.fstat as u16) & !0x3800;
            f.cw = regs.fpu.fctrl as u16;
            f.tw = regs.fpu.ftag as u16;
            f.fcs = regs.fpu.fiseg as u16;
            f.fip = regs.fpu.fioff;
            f.fds = regs.fpu.foseg as u16;
            f.fdp = regs.fpu.fooff;
            f.fop = regs.fpu.fop as u16;
            for i in 0..8 {
                let b = regs.st[i];
                let r = &mut f.regs[(top as usize + i) & 7];
                r.mant = u64::from_le_bytes(b[..8].try_into().unwrap());
                r.se = u16::from_le_bytes([b[8], b[9]]);
            }
        }
        let segs = &regs.segments;
        for (r, v) in [
            (SegReg::Cs, segs.cs),
            (SegReg::Ss, segs.ss),
            (SegReg::Ds, segs.ds),
            (SegReg::Es, segs.es),
            (SegReg::Fs, segs.fs),
            (SegReg::Gs, segs.gs),
        ] {
            self.load_segment(r, v as u16);
        }
        Ok(())
    }

    fn read_addrs(&mut self, start: u32, data: &mut [u8]) -> TargetResult<usize, Self> {
        let got = self.pc.read_linear_debug(start, data.len());
        if got.is_empty() && !data.is_empty() {
            return Err(TargetError::Errno(14)); // EFAULT: not mapped
        }
        data[..got.len()].copy_from_slice(&got);
        Ok(got.len())
    }

    fn write_addrs(&mut self, start: u32, data: &[u8]) -> TargetResult<(), Self> {
        if self.pc.write_linear_debug(start, data) < data.len() {
            return Err(TargetError::Errno(14));
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadResume for IronTarget<'_> {
    fn resume(&mut self, _signal: Option<Signal>) -> Result<(), Self::Error> {
        self.resume = Resume::Continue;
        self.pc.resume();
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadSingleStep for IronTarget<'_> {
    fn step(&mut self, _signal: Option<Signal>) -> Result<(), Self::Error> {
        self.resume = Resume::Step;
        Ok(())
    }
}

impl Breakpoints for IronTarget<'_> {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl IronTarget<'_> {
    fn add_bp(&mut self, addr: u32, hw: bool) -> bool {
        let set = if hw { &mut self.hw } else { &mut self.sw };
        set.insert(addr);
        self.pc.add_breakpoint(addr);
        true
    }

    fn remove_bp(&mut self, addr: u32, hw: bool) -> bool {
        let (set, other) = if hw {
            (&mut self.hw, &self.sw)
        } else {
            (&mut self.sw, &self.hw)
        };
        let had = set.remove(&addr);
        if had && !other.contains(&addr) {
            self.pc.remove_breakpoint(addr);
        }
        had
    }
}

impl SwBreakpoint for IronTarget<'_> {
    fn add_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.add_bp(addr, false))
    }

    fn remove_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.remove_bp(addr, false))
    }
}

impl HwBreakpoint for IronTarget<'_> {
    fn add_hw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.add_bp(addr, true))
    }

    fn remove_hw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.remove_bp(addr, true))
    }
}

fn watch_kind(k: GdbWatch) -> WatchKind {
    match k {
        GdbWatch::Write => WatchKind::Write,
        GdbWatch::Read => WatchKind::Read,
        GdbWatch::ReadWrite => WatchKind::Access,
    }
}

impl HwWatchpoint for IronTarget<'_> {
    fn add_hw_watchpoint(
        &mut self,
        addr: u32,
        len: u32,
        kind: GdbWatch,
    ) -> TargetResult<bool, Self> {
        self.pc.add_watchpoint(addr, len, watch_kind(kind));
        Ok(true)
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u32,
        len: u32,
        kind: GdbWatch,
    ) -> TargetResult<bool, Self> {
        Ok(self.pc.remove_watchpoint(addr, len, watch_kind(kind)))
    }
}

impl MonitorCmd for IronTarget<'_> {
    fn handle_monitor_cmd(
        &mut self,
        cmd: &[u8],
        mut out: ConsoleOutput<'_>,
    ) -> Result<(), Self::Error> {
        let cmd = String::from_utf8_lossy(cmd);
        let text = monitor::run(self.pc, cmd.trim());
        out.write_raw(text.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_addr;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("tcp::1234").unwrap(),
            "127.0.0.1:1234".parse().unwrap()
        );
        assert_eq!(
            parse_addr("tcp:0.0.0.0:99").unwrap(),
            "0.0.0.0:99".parse().unwrap()
        );
        assert_eq!(parse_addr(":7").unwrap(), "127.0.0.1:7".parse().unwrap());
        assert!(parse_addr("tcp:1234").is_err());
        assert!(parse_addr("tcp::x").is_err());
    }
}
