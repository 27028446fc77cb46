//! Data and stack segment register loads.

use super::*;
use crate::state::attr;

#[test]
fn null_selector_loads() {
    let (mut cpu, mut bus) = setup(3);
    cpu.pm_load_seg(&mut bus, SegReg::Ds, 0x0003).unwrap();
    let ds = cpu.s.seg[SegReg::Ds as usize];
    assert_eq!(ds.selector, 3);
    assert!(!ds.present());
    // Any access through the null segment is #GP(0).
    assert_eq!(cpu.seg_lin(SegReg::Ds, 0, 1, false), Err(Fault::gp0()));
    cpu.pm_load_seg(&mut bus, SegReg::Fs, 0).unwrap();
    // SS may not be null.
    assert_eq!(cpu.pm_load_seg(&mut bus, SegReg::Ss, 0), Err(gp(0)));
    assert_eq!(cpu.pm_load_seg(&mut bus, SegReg::Ss, 3), Err(gp(0)));
}

#[test]
fn table_limit_faults_carry_selector_and_ti() {
    let (mut cpu, mut bus) = setup(0);
    assert_eq!(
        cpu.pm_load_seg(&mut bus, SegReg::Ds, 0x0403),
        Err(gp(0x400))
    );
    assert_eq!(
        cpu.pm_load_seg(&mut bus, SegReg::Es, (GDT_ENTRIES * 8) as u16),
        Err(gp(GDT_ENTRIES * 8))
    );
    // LDT limit is 0x17: entry 3 (selector 0x1C) is outside.
    assert_eq!(cpu.pm_load_seg(&mut bus, SegReg::Ds, 0x1F), Err(gp(0x1C)));
    // With no valid LDT every TI=1 selector faults.
    cpu.lldt(&mut bus, 0).unwrap();
    assert_eq!(cpu.pm_load_seg(&mut bus, SegReg::Ds, 0x0C), Err(gp(0x0C)));
}

#[test]
fn type_checks() {
    let (mut cpu, mut bus) = setup(0);
    // Execute-only code cannot be loaded into a data register; readable code can.
    assert_eq!(
        cpu.pm_load_seg(&mut bus, SegReg::Ds, XCODE0),
        Err(gp(XCODE0 as u32))
    );
    cpu.pm_load_seg(&mut bus, SegReg::Ds, CODE0).unwrap();
    assert!(cpu.s.seg[SegReg::Ds as usize].is_code());
    // System descriptors never.
    assert_eq!(
        cpu.pm_load_seg(&mut bus, SegReg::Es, TSSB_SEL),
        Err(gp(TSSB_SEL as u32))
    );
    assert_eq!(
        cpu.pm_load_seg(&mut bus, SegReg::Es, CGATE32),
        Err(gp(CGATE32 as u32))
    );
    // SS must be writable data.
    assert_eq!(
        cpu.pm_load_seg(&mut bus, SegReg::Ss, CODE0),
        Err(gp(CODE0 as u32))
    );
}

#[test]
fn privilege_checks() {
    let (mut cpu, mut bus) = setup(3);
    // CPL 3 may not load ring-0 data.
    assert_eq!(
        cpu.pm_load_seg(&mut bus, SegReg::Ds, DATA0 | 3),
        Err(gp(DATA0 as u32))
    );
    // A conforming readable code segment is exempt.
    cpu.pm_load_seg(&mut bus, SegReg::Ds, CONF0 | 3).unwrap();
    // SS: DPL must equal CPL.
    assert_eq!(
        cpu.pm_load_seg(&mut bus, SegReg::Ss, DATA2 | 3),
        Err(gp(DATA2 as u32))
    );
    cpu.pm_load_seg(&mut bus, SegReg::Ss, DATA3).unwrap();

    let (mut cpu, mut bus) = setup(0);
    // RPL 3 > DPL 2.
    assert_eq!(
        cpu.pm_load_seg(&mut bus, SegReg::Ds, DATA2 | 3),
        Err(gp(DATA2 as u32))
    );
    cpu.pm_load_seg(&mut bus, SegReg::Ds, DATA2 | 2).unwrap();
    // SS: RPL must equal CPL.
    assert_eq!(
        cpu.pm_load_seg(&mut bus, SegReg::Ss, DATA0 | 1),
        Err(gp(DATA0 as u32))
    );
}

#[test]
fn not_present() {
    let (mut cpu, mut bus) = setup(0);
    let before = cpu.s.seg;
    assert_eq!(
        cpu.pm_load_seg(&mut bus, SegReg::Ds, DATA0_NP),
        Err(Fault::np(DATA0_NP))
    );
    assert_eq!(
        cpu.pm_load_seg(&mut bus, SegReg::Ss, DATA0_NP),
        Err(Fault::ss(DATA0_NP))
    );
    assert_eq!(cpu.s.seg, before);
}

#[test]
fn accessed_bit_and_cache() {
    let (mut cpu, mut bus) = setup(0);
    assert_eq!(gdt_access(&mut bus, DATA2) & 1, 0);
    cpu.pm_load_seg(&mut bus, SegReg::Gs, DATA2).unwrap();
    assert_eq!(gdt_access(&mut bus, DATA2), 0xD3);
    let gs = cpu.s.seg[SegReg::Gs as usize];
    assert_eq!(gs.selector, DATA2);
    assert_eq!(gs.limit, 0xFFFF_FFFF);
    assert_eq!(gs.dpl(), 2);
    assert!(gs.big());
    assert_eq!(gs.attr & attr::ACCESSED, attr::ACCESSED);
    // LDT segment: base 1 MiB, byte-granular limit.
    let (mut cpu, mut bus) = setup(3);
    cpu.pm_load_seg(&mut bus, SegReg::Es, 0x0F).unwrap();
    let es = cpu.s.seg[SegReg::Es as usize];
    assert_eq!((es.base, es.limit, es.selector), (0x10_0000, 0xFFFF, 0x0F));
    assert_eq!(cpu.seg_lin(SegReg::Es, 0xFFFF, 2, false), Err(Fault::gp0()));
}
