//! gdb `monitor` commands: machine state gdb's own commands do not show (control registers,
//! descriptor tables, page walks, a device summary). Each returns text for gdb's console.

use std::fmt::Write;

use ironbox_cpu::state::{attr, cr0, cr4, flags};
use ironbox_cpu::{SegReg, Segment};
use ironbox_machine::pc::Pc;

const HELP: &str = "\
ironbox monitor commands:
  regs | cr          control registers, EFLAGS (decoded), segment caches, GDTR/IDTR/LDTR/TR, DRs
  gdt [N]            GDT descriptors (first N, default all up to 64)
  ldt [N]            LDT descriptors
  idt [N]            IDT gates (real mode: the IVT) (default 64)
  tss                the current task state segment (32-bit)
  translate ADDR     page walk of a linear address (also: tlb ADDR)
  devices            PIC, PIT channel 0, VGA mode, A20
  help               this text
Addresses are linear (real mode: CS*16+IP); numbers are hex with 0x, or decimal.
";

/// Run one monitor command line.
pub fn run(pc: &mut Pc, line: &str) -> String {
    let mut words = line.split_whitespace();
    let cmd = words.next().unwrap_or("help");
    let arg = words.next();
    let num = arg.and_then(parse_num);
    if arg.is_some() && num.is_none() {
        return format!("bad number {:?}\n", arg.unwrap_or_default());
    }
    match cmd {
        "help" | "?" => HELP.to_string(),
        "regs" | "cr" => regs(pc),
        "gdt" => {
            let t = pc.cpu.s.gdtr;
            table(pc, "GDT", t.base, t.limit, num, 0)
        }
        "ldt" => {
            let l = pc.cpu.s.ldtr;
            if l.selector & !3 == 0 {
                "LDTR is null: no LDT\n".to_string()
            } else {
                table(pc, "LDT", l.base, l.limit, num, 4)
            }
        }
        "idt" => idt(pc, num),
        "tss" => tss(pc),
        "translate" | "tlb" => match num {
            Some(a) => translate(pc, a as u32),
            None => "usage: translate ADDR\n".to_string(),
        },
        "devices" | "dev" => devices(pc),
        _ => format!("unknown command {cmd:?}\n{HELP}"),
    }
}

fn parse_num(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn bits(v: u32, names: &[(u32, &str)]) -> String {
    let set: Vec<&str> = names
        .iter()
        .filter(|(b, _)| v & b != 0)
        .map(|(_, n)| *n)
        .collect();
    set.join(" ")
}

fn mode(pc: &Pc) -> &'static str {
    let s = &pc.cpu.s;
    if !s.protected() {
        "real"
    } else if s.v86() {
        "virtual-8086"
    } else if s.cr0 & cr0::PG != 0 {
        "protected, paging"
    } else {
        "protected"
    }
}

fn seg_line(name: &str, g: &Segment) -> String {
    format!(
        "{name:<4} {:04x}  base={:08x} limit={:08x} attr={:04x} {}\n",
        g.selector,
        g.base,
        g.limit,
        g.attr,
        describe_attr(g.attr)
    )
}

fn regs(pc: &Pc) -> String {
    let s = &pc.cpu.s;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "mode {}  CPL {}  model {}",
        mode(pc),
        s.cpl,
        s.model.name()
    );
    let _ = writeln!(
        o,
        "CR0 {:08x}  {}",
        s.cr0,
        bits(
            s.cr0,
            &[
                (cr0::PE, "PE"),
                (cr0::MP, "MP"),
                (cr0::EM, "EM"),
                (cr0::TS, "TS"),
                (cr0::ET, "ET"),
                (cr0::NE, "NE"),
                (cr0::WP, "WP"),
                (cr0::AM, "AM"),
                (cr0::NW, "NW"),
                (cr0::CD, "CD"),
                (cr0::PG, "PG"),
            ]
        )
    );
    let _ = writeln!(o, "CR2 {:08x}", s.cr2);
    let _ = writeln!(
        o,
        "CR3 {:08x}  page directory at {:08x}",
        s.cr3,
        s.cr3 & !0xFFF
    );
    let _ = writeln!(
        o,
        "CR4 {:08x}  {}",
        s.cr4,
        bits(
            s.cr4,
            &[
                (cr4::VME, "VME"),
                (cr4::PVI, "PVI"),
                (cr4::TSD, "TSD"),
                (cr4::DE, "DE"),
                (cr4::PSE, "PSE"),
                (1 << 5, "PAE"),
                (1 << 6, "MCE"),
                (cr4::PGE, "PGE"),
                (cr4::PCE, "PCE"),
                (cr4::OSFXSR, "OSFXSR"),
            ]
        )
    );
    let _ = writeln!(
        o,
        "EFLAGS {:08x}  {} IOPL={}",
        s.eflags,
        bits(
            s.eflags,
            &[
                (flags::CF, "CF"),
                (flags::PF, "PF"),
                (flags::AF, "AF"),
                (flags::ZF, "ZF"),
                (flags::SF, "SF"),
                (flags::TF, "TF"),
                (flags::IF, "IF"),
                (flags::DF, "DF"),
                (flags::OF, "OF"),
                (flags::NT, "NT"),
                (flags::RF, "RF"),
                (flags::VM, "VM"),
                (flags::AC, "AC"),
                (flags::VIF, "VIF"),
                (flags::VIP, "VIP"),
                (flags::ID, "ID"),
            ]
        ),
        (s.eflags >> 12) & 3
    );
    for r in [
        SegReg::Cs,
        SegReg::Ss,
        SegReg::Ds,
        SegReg::Es,
        SegReg::Fs,
        SegReg::Gs,
    ] {
        let name = match r {
            SegReg::Cs => "CS",
            SegReg::Ss => "SS",
            SegReg::Ds => "DS",
            SegReg::Es => "ES",
            SegReg::Fs => "FS",
            SegReg::Gs => "GS",
        };
        o.push_str(&seg_line(name, &s.seg[r as usize]));
    }
    o.push_str(&seg_line("LDTR", &s.ldtr));
    o.push_str(&seg_line("TR", &s.tr));
    let _ = writeln!(
        o,
        "GDTR base={:08x} limit={:04x}",
        s.gdtr.base, s.gdtr.limit
    );
    let _ = writeln!(
        o,
        "IDTR base={:08x} limit={:04x}",
        s.idtr.base, s.idtr.limit
    );
    let _ = writeln!(
        o,
        "DR0-3 {:08x} {:08x} {:08x} {:08x}  DR6 {:08x}  DR7 {:08x}",
        s.dr[0], s.dr[1], s.dr[2], s.dr[3], s.dr[6], s.dr[7]
    );
    let _ = writeln!(
        o,
        "halted={} interrupt-shadow={} instructions={}",
        s.halted, s.int_shadow, pc.cpu.instret
    );
    o
}

/// A decoded segment descriptor (base, byte-granular limit, attributes in the CPU's format).
pub struct Desc {
    pub base: u32,
    pub limit: u32,
    pub attr: u16,
}

fn parse_desc(raw: u64) -> Desc {
    let lo = raw as u32;
    let hi = (raw >> 32) as u32;
    let mut limit = (lo & 0xFFFF) | (hi & 0xF_0000);
    let attr = ((hi >> 8) & 0xF0FF) as u16;
    if attr & attr::G != 0 {
        limit = (limit << 12) | 0xFFF;
    }
    Desc {
        base: (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF00_0000),
        limit,
        attr,
    }
}

fn read_u64(pc: &mut Pc, lin: u32) -> Option<u64> {
    let b = pc.read_linear_debug(lin, 8);
    (b.len() == 8).then(|| u64::from_le_bytes(b.try_into().unwrap()))
}

/// The descriptor a selector names (GDT or LDT), if it is inside its table.
pub fn descriptor(pc: &mut Pc, sel: u16) -> Option<Desc> {
    let s = &pc.cpu.s;
    let (base, limit) = if sel & 4 != 0 {
        (s.ldtr.base, s.ldtr.limit)
    } else {
        (s.gdtr.base, s.gdtr.limit)
    };
    let off = (sel & !7) as u32;
    if off == 0 && sel & 4 == 0 || off + 7 > limit {
        return None;
    }
    read_u64(pc, base.wrapping_add(off)).map(parse_desc)
}

fn describe_attr(a: u16) -> String {
    let p = if a & attr::P != 0 { "P" } else { "not-present" };
    let dpl = (a & attr::DPL_MASK) >> attr::DPL_SHIFT;
    let t = a & attr::TYPE_MASK;
    let kind = if a & attr::S != 0 {
        if a & attr::CODE != 0 {
            format!(
                "code{}{}{}",
                if a & attr::RW != 0 {
                    " readable"
                } else {
                    " exec-only"
                },
                if a & attr::DC != 0 { " conforming" } else { "" },
                if a & attr::DB != 0 {
                    " 32-bit"
                } else {
                    " 16-bit"
                }
            )
        } else {
            format!(
                "data{}{}{}",
                if a & attr::RW != 0 {
                    " writable"
                } else {
                    " read-only"
                },
                if a & attr::DC != 0 {
                    " expand-down"
                } else {
                    ""
                },
                if a & attr::DB != 0 { " big" } else { "" }
            )
        }
    } else {
        match t {
            1 => "TSS16 available",
            2 => "LDT",
            3 => "TSS16 busy",
            4 => "call gate 16",
            5 => "task gate",
            6 => "interrupt gate 16",
            7 => "trap gate 16",
            9 => "TSS32 available",
            0xB => "TSS32 busy",
            0xC => "call gate 32",
            0xE => "interrupt gate 32",
            0xF => "trap gate 32",
            _ => "reserved system type",
        }
        .to_string()
    };
    format!(
        "{kind} DPL{dpl} {p}{}",
        if a & attr::G != 0 { " G" } else { "" }
    )
}

fn table(pc: &mut Pc, name: &str, base: u32, limit: u32, n: Option<u64>, ti: u16) -> String {
    let mut o = format!("{name} base={base:08x} limit={limit:04x}\n");
    let count = ((limit as u64 + 1) / 8).min(n.unwrap_or(64)).min(8192);
    for i in 0..count {
        let off = (i * 8) as u32;
        let Some(raw) = read_u64(pc, base.wrapping_add(off)) else {
            let _ = writeln!(o, "{:04x}: <not mapped>", off as u16 | ti);
            break;
        };
        if raw == 0 {
            continue;
        }
        let d = parse_desc(raw);
        let sel = off as u16 | ti;
        if d.attr & attr::S == 0 && matches!(d.attr & 0xF, 4 | 5 | 6 | 7 | 0xC | 0xE | 0xF) {
            let (gsel, goff) = gate(raw);
            let _ = writeln!(
                o,
                "{sel:04x}: {raw:016x}  {} -> {gsel:04x}:{goff:08x}",
                describe_attr(d.attr)
            );
        } else {
            let _ = writeln!(
                o,
                "{sel:04x}: {raw:016x}  base={:08x} limit={:08x} {}",
                d.base,
                d.limit,
                describe_attr(d.attr)
            );
        }
    }
    o
}

fn gate(raw: u64) -> (u16, u32) {
    let lo = raw as u32;
    let hi = (raw >> 32) as u32;
    ((lo >> 16) as u16, (lo & 0xFFFF) | (hi & 0xFFFF_0000))
}

fn idt(pc: &mut Pc, n: Option<u64>) -> String {
    let t = pc.cpu.s.idtr;
    let count = n.unwrap_or(64);
    if !pc.cpu.s.protected() {
        let mut o = format!(
            "IVT (real mode) base={:08x} limit={:04x}\n",
            t.base, t.limit
        );
        let count = ((t.limit as u64 + 1) / 4).min(count).min(256);
        for v in 0..count {
            let b = pc.read_linear_debug(t.base.wrapping_add(v as u32 * 4), 4);
            if b.len() < 4 {
                break;
            }
            let off = u16::from_le_bytes([b[0], b[1]]);
            let seg = u16::from_le_bytes([b[2], b[3]]);
            let _ = writeln!(o, "{v:02x}: {seg:04x}:{off:04x}");
        }
        return o;
    }
    let mut o = format!("IDT base={:08x} limit={:04x}\n", t.base, t.limit);
    let count = ((t.limit as u64 + 1) / 8).min(count).min(256);
    for v in 0..count {
        let Some(raw) = read_u64(pc, t.base.wrapping_add(v as u32 * 8)) else {
            let _ = writeln!(o, "{v:02x}: <not mapped>");
            break;
        };
        if raw == 0 {
            continue;
        }
        let d = parse_desc(raw);
        let (sel, off) = gate(raw);
        let _ = writeln!(o, "{v:02x}: {sel:04x}:{off:08x}  {}", describe_attr(d.attr));
    }
    o
}

fn tss(pc: &mut Pc) -> String {
    let tr = pc.cpu.s.tr;
    let mut o = seg_line("TR", &tr);
    if !pc.cpu.s.protected() || tr.selector & !3 == 0 {
        o.push_str("no task register loaded\n");
        return o;
    }
    let b = pc.read_linear_debug(tr.base, 0x68);
    if b.len() < 0x68 {
        o.push_str("TSS not mapped\n");
        return o;
    }
    if tr.attr & 0xF != 9 && tr.attr & 0xF != 0xB {
        o.push_str("(16-bit TSS; shown as 32-bit)\n");
    }
    let d = |off: usize| u32::from_le_bytes(b[off..off + 4].try_into().unwrap());
    let w = |off: usize| d(off) & 0xFFFF;
    let _ = writeln!(o, "link={:04x}", w(0));
    let _ = writeln!(
        o,
        "ss0:esp0={:04x}:{:08x} ss1:esp1={:04x}:{:08x} ss2:esp2={:04x}:{:08x}",
        w(8),
        d(4),
        w(16),
        d(12),
        w(24),
        d(20)
    );
    let _ = writeln!(
        o,
        "cr3={:08x} eip={:08x} eflags={:08x}",
        d(28),
        d(32),
        d(36)
    );
    let _ = writeln!(
        o,
        "eax={:08x} ecx={:08x} edx={:08x} ebx={:08x} esp={:08x} ebp={:08x} esi={:08x} edi={:08x}",
        d(40),
        d(44),
        d(48),
        d(52),
        d(56),
        d(60),
        d(64),
        d(68)
    );
    let _ = writeln!(
        o,
        "es={:04x} cs={:04x} ss={:04x} ds={:04x} fs={:04x} gs={:04x} ldt={:04x} T={} iomap={:04x}",
        w(72),
        w(76),
        w(80),
        w(84),
        w(88),
        w(92),
        w(96),
        d(100) & 1,
        d(100) >> 16
    );
    o
}

fn translate(pc: &mut Pc, lin: u32) -> String {
    let paging = pc.cpu.s.cr0 & cr0::PG != 0;
    if !paging {
        return match pc.walk_debug(lin) {
            Some(w) => format!("paging off: linear {lin:08x} = physical {:08x}\n", w.phys),
            None => "?\n".to_string(),
        };
    }
    let cr3 = pc.cpu.s.cr3;
    let pde_addr = (cr3 & 0xFFFF_F000) | ((lin >> 20) & 0xFFC);
    let mut o = format!("linear {lin:08x}  CR3 {cr3:08x}\n");
    let pte_flags = |v: u32| {
        bits(
            v,
            &[
                (1, "P"),
                (2, "RW"),
                (4, "US"),
                (8, "PWT"),
                (0x10, "PCD"),
                (0x20, "A"),
                (0x40, "D"),
                (0x80, "PS"),
                (0x100, "G"),
            ],
        )
    };
    match pc.walk_debug(lin) {
        Some(w) => {
            if let Some((a, v)) = w.pde {
                let _ = writeln!(o, "PDE at {a:08x} = {v:08x}  {}", pte_flags(v));
            }
            if let Some((a, v)) = w.pte {
                let _ = writeln!(o, "PTE at {a:08x} = {v:08x}  {}", pte_flags(v));
            } else {
                o.push_str("4 MiB page\n");
            }
            let _ = writeln!(o, "physical {:08x}", w.phys);
        }
        None => {
            use ironbox_cpu::CpuBus;
            let v = pc.bus.read32(pde_addr);
            let _ = writeln!(o, "PDE at {pde_addr:08x} = {v:08x}  {}", pte_flags(v));
            if v & 1 != 0 {
                let pte_addr = (v & 0xFFFF_F000) | ((lin >> 10) & 0xFFC);
                let p = pc.bus.read32(pte_addr);
                let _ = writeln!(o, "PTE at {pte_addr:08x} = {p:08x}  {}", pte_flags(p));
            }
            o.push_str("not mapped\n");
        }
    }
    o
}

fn devices(pc: &mut Pc) -> String {
    let chip = &pc.bus.chip;
    let mut o = String::new();
    // The device states are serde-serializable; read their registers from that view.
    let pic = serde_json::to_value(&chip.pic).unwrap_or_default();
    for (i, name) in ["master", "slave"].iter().enumerate() {
        let c = &pic["chips"][i];
        let g = |k: &str| c[k].as_u64().unwrap_or(0);
        let _ = writeln!(
            o,
            "PIC {name}: IMR={:02x} IRR={:02x} ISR={:02x} base={:02x} ELCR={:02x}",
            g("imr"),
            g("irr"),
            g("isr"),
            g("base"),
            g("elcr")
        );
    }
    let pit = serde_json::to_value(&chip.pit).unwrap_or_default();
    let ch = &pit["channels"][0];
    let count = ch["count"].as_u64().unwrap_or(0);
    let reload = if count == 0 { 0x10000 } else { count };
    let _ = writeln!(
        o,
        "PIT ch0: mode={} reload={:#x} ({:.2} Hz) gate={}",
        ch["raw_mode"].as_u64().unwrap_or(0),
        count,
        1_193_182.0 / reload as f64,
        ch["gate"].as_bool().unwrap_or(false)
    );
    let vga = &chip.vga;
    let mode = if let Some((w, h, bpp, _)) = vga.vbe_mode() {
        format!("VBE {w}x{h}x{bpp}")
    } else if vga.is_text_mode() {
        let cur = vga
            .cursor_position()
            .map_or(String::new(), |(x, y)| format!(", cursor {x},{y}"));
        format!("text{cur}")
    } else {
        "graphics (VGA)".to_string()
    };
    let _ = writeln!(o, "VGA: {mode}");
    let _ = writeln!(o, "A20: {}", if chip.a20 { "enabled" } else { "disabled" });
    let _ = writeln!(
        o,
        "interrupt pending: {}  exit status: {:?}",
        chip.pic.intr_pending(),
        chip.exit_status
    );
    o
}
