//! The oracle test cases: which operations, which operand distributions, what tolerance.

use super::*;

struct Stats {
    runs: usize,
    off_by_ulp: usize,
    failures: Vec<String>,
}

/// Run `op` over every control word with `n` operand triples from `gen`; results must match
/// exactly, or within `tol` ulps (then the status word is compared without C1).
fn check(
    name: &str,
    n: usize,
    seed: u64,
    tol: u64,
    cws: &[u16],
    mut gen: impl FnMut(&mut Rng) -> ([u8; 16], [u8; 16], [u8; 16]),
) -> Stats {
    let op = op(name);
    let mut emu = Emu::new();
    let mut rng = Rng(seed | 1);
    let mut st = Stats {
        runs: 0,
        off_by_ulp: 0,
        failures: vec![],
    };
    for &cw in cws {
        for _ in 0..n {
            let (x, y, m) = gen(&mut rng);
            let f = Frame {
                x,
                y,
                m,
                o0: [0; 16],
                o1: [0; 16],
                cw,
                cwm: 0x037F,
                sw: 0,
            };
            let h = run_host(op, &f);
            let e = emu.run(op, &f);
            st.runs += 1;
            if h == e {
                continue;
            }
            if tol > 0 {
                let d0 = ulp_diff(&h.o0[..10], &e.o0[..10]);
                let d1 = ulp_diff(&h.o1[..10], &e.o1[..10]);
                let close = matches!(d0, Some(d) if d <= tol) && matches!(d1, Some(d) if d <= tol);
                if close && h.m == e.m && (h.sw & !0x0200) == (e.sw & !0x0200) {
                    st.off_by_ulp += 1;
                    if st.off_by_ulp <= 3 && std::env::var("ORACLE_VERBOSE").is_ok() {
                        eprintln!(
                            "  ~{name} cw={cw:04X} x={} y={}: host {} {} {:04X} | emu {} {} {:04X}",
                            fmt(&x),
                            fmt(&y),
                            fmt(&h.o0),
                            fmt(&h.o1),
                            h.sw,
                            fmt(&e.o0),
                            fmt(&e.o1),
                            e.sw
                        );
                    }
                    continue;
                }
            }
            if st.failures.len() < 12 {
                st.failures.push(format!(
                    "{name} cw={cw:04X} x={} y={} m={:02X?}: host o0={} o1={} sw={:04X} m={:02X?} | emu o0={} o1={} sw={:04X} m={:02X?}",
                    fmt(&x), fmt(&y), &m[..10], fmt(&h.o0), fmt(&h.o1), h.sw, &h.m[..10], fmt(&e.o0), fmt(&e.o1), e.sw, &e.m[..10]
                ));
            } else {
                st.failures.push(String::new());
            }
        }
    }
    st
}

fn report(all: Vec<(&str, Stats)>) {
    let mut bad = 0;
    for (name, s) in &all {
        eprintln!(
            "oracle {name:10}: {} runs, {} within 1 ulp, {} mismatches",
            s.runs,
            s.off_by_ulp,
            s.failures.len()
        );
        for f in s.failures.iter().filter(|f| !f.is_empty()) {
            eprintln!("   {f}");
        }
        bad += s.failures.len();
    }
    assert_eq!(bad, 0, "oracle mismatches");
}

fn any2(r: &mut Rng) -> ([u8; 16], [u8; 16], [u8; 16]) {
    let x = rand_f80(r, 0x3FFF, 40);
    // Second operand often close in exponent to the first (cancellation, ties).
    let y = if r.below(3) == 0 {
        let ex = u16::from_le_bytes([x[8], x[9]]) & 0x7FFF;
        rand_f80(r, ex.clamp(1, 0x7FFE), 66)
    } else {
        rand_f80(r, 0x3FFF, 40)
    };
    (x, y, [0; 16])
}

#[test]
fn oracle_arith() {
    let cws = control_words();
    let mut all = vec![];
    for (k, name) in [
        "fadd", "fsub", "fsubr", "fmul", "fdiv", "fdivr", "faddp", "fsqrt", "fscale", "fxtract",
    ]
    .iter()
    .enumerate()
    {
        all.push((*name, check(name, 400, 1000 + k as u64, 0, &cws, any2)));
    }
    report(all);
}

#[test]
fn oracle_misc() {
    let cws = control_words();
    let mut all = vec![];
    for (k, name) in [
        "frndint", "fprem", "fprem1", "fcom", "fucomp", "fcompp", "ftst", "fxam", "fchs", "fabs",
        "fxch",
    ]
    .iter()
    .enumerate()
    {
        all.push((*name, check(name, 200, 2000 + k as u64, 0, &cws, any2)));
    }
    report(all);
}

#[test]
fn oracle_stores() {
    let cws = control_words();
    let mut all = vec![];
    for (k, name) in [
        "fst_m32",
        "fst_m64",
        "fist_m16",
        "fist_m32",
        "fistp_m64",
        "fbstp",
    ]
    .iter()
    .enumerate()
    {
        all.push((
            *name,
            check(name, 400, 3000 + k as u64, 0, &cws, |r| {
                let center = match r.below(4) {
                    0 => 0x3FFF + 10,
                    1 => 0x3FFF - 126,
                    2 => 0x3FFF - 1022,
                    _ => 0x3FFF + 40,
                };
                (rand_f80(r, center, 30), rand_f80(r, 0x3FFF, 3), [0; 16])
            }),
        ));
    }
    report(all);
}

#[test]
fn oracle_loads() {
    let cws = control_words();
    let mut all = vec![];
    for (k, name) in [
        "fld_m32",
        "fld_m64",
        "fadd_m32",
        "fdivr_m64",
        "fild_m16",
        "fimul_m32",
        "fild_m64",
        "fbld",
        "ficom_m16",
    ]
    .iter()
    .enumerate()
    {
        all.push((
            *name,
            check(name, 300, 4000 + k as u64, 0, &cws, |r| {
                let mut m = [0u8; 16];
                let v = match r.below(6) {
                    0 => r.next() & 0x807F_FFFF,           // f32 denormal / zero
                    1 => r.next() | 0x7F80_0000,           // f32 NaN / inf
                    2 => r.next() & 0x800F_FFFF_FFFF_FFFF, // f64 denormal
                    3 => r.next() | 0x7FF0_0000_0000_0000, // f64 NaN / inf
                    4 => 0x0909_0909_0909_0909 & r.next(), // BCD-looking
                    _ => r.next(),
                };
                m[..8].copy_from_slice(&v.to_le_bytes());
                m[8] = (r.next() & 0x09) as u8;
                m[9] = (r.next() & 0x80) as u8;
                // Empty ST(7)... keep the stack at two values: X and Y.
                (rand_f80(r, 0x3FFF, 20), rand_f80(r, 0x3FFF, 20), m)
            }),
        ));
    }
    report(all);
}

#[test]
fn oracle_constants() {
    let cws = control_words();
    let mut all = vec![];
    for name in [
        "fld1", "fldl2t", "fldl2e", "fldpi", "fldlg2", "fldln2", "fldz",
    ] {
        all.push((
            name,
            check(name, 1, 5, 0, &cws, |r| {
                (rand_f80(r, 0x3FFF, 3), rand_f80(r, 0x3FFF, 3), [0; 16])
            }),
        ));
    }
    report(all);
}

/// Transcendentals over their ordinary ranges, masked exceptions only; up to 1 ulp allowed.
#[test]
fn oracle_transcendental() {
    let cws: Vec<u16> = (0..4u16).map(|rc| 0x037F | (rc << 10)).collect();
    let mut all = vec![];
    let normal = |r: &mut Rng, center: u16, spread: u16| {
        let mut b = rand_f80(r, center, spread);
        if r.below(10) != 0 {
            b = f80b(
                r.next() & 1 != 0,
                (center as i32 + r.below(2 * spread as u64 + 1) as i32 - spread as i32) as u16,
                r.next() | 1 << 63,
            );
        }
        b
    };
    for name in ["fsin", "fcos", "fsincos", "fptan"] {
        all.push((
            name,
            check(name, 500, 6000, 1, &cws, |r| {
                (normal(r, 0x3FFF, 12), normal(r, 0x3FFF, 3), [0; 16])
            }),
        ));
    }
    all.push((
        "fpatan",
        check("fpatan", 500, 6100, 1, &cws, |r| {
            (normal(r, 0x3FFF, 20), normal(r, 0x3FFF, 20), [0; 16])
        }),
    ));
    all.push((
        "f2xm1",
        check("f2xm1", 500, 6200, 1, &cws, |r| {
            (normal(r, 0x3FFD, 8), normal(r, 0x3FFF, 3), [0; 16])
        }),
    ));
    all.push((
        "fyl2x",
        check("fyl2x", 500, 6300, 1, &cws, |r| {
            let mut x = normal(r, 0x3FFF, 30);
            x[9] &= 0x7F;
            (x, normal(r, 0x3FFF, 10), [0; 16])
        }),
    ));
    all.push((
        "fyl2xp1",
        check("fyl2xp1", 500, 6400, 1, &cws, |r| {
            (normal(r, 0x3FFA, 8), normal(r, 0x3FFF, 10), [0; 16])
        }),
    ));
    report(all);
}

/// Results right at the underflow threshold (tininess after rounding) and the overflow edge.
#[test]
fn oracle_boundary() {
    let cws = control_words();
    let near_one = |r: &mut Rng| -> u64 {
        match r.below(3) {
            0 => !0u64 - r.below(1 << 12),
            1 => (!0u64 << r.below(41)) | (r.below(2) << 23),
            _ => (1 << 63) | r.below(1 << 12),
        }
    };
    let mut all = vec![];
    for (k, name) in ["fmul", "fdiv", "fadd", "fsub"].iter().enumerate() {
        all.push((
            *name,
            check(name, 300, 7000 + k as u64, 0, &cws, |r| {
                let s = r.next() & 1 != 0;
                let (e1, e2) = match r.below(3) {
                    0 => (0x3FFF, 1),
                    1 => (0x3FFE, 2),
                    _ => (0x3FFF, 0x7FFE),
                };
                let x = f80b(s, e1, near_one(r));
                let y = if *name == "fdiv" {
                    f80b(r.next() & 1 != 0, 0x7FFE - e2 + 2, near_one(r))
                } else {
                    f80b(r.next() & 1 != 0, e2, near_one(r))
                };
                if r.below(2) == 0 {
                    (x, y, [0; 16])
                } else {
                    (y, x, [0; 16])
                }
            }),
        ));
    }
    for (k, name) in ["fst_m32", "fst_m64"].iter().enumerate() {
        let e = if k == 0 { 0x3FFF - 127 } else { 0x3FFF - 1023 };
        all.push((
            *name,
            check(name, 300, 7100 + k as u64, 0, &cws, |r| {
                let x = f80b(r.next() & 1 != 0, e + r.below(2) as u16, near_one(r));
                (x, [0; 16], [0; 16])
            }),
        ));
    }
    report(all);
}

/// Wide argument ranges: FSIN/FCOS/FPTAN up to and beyond 2^63 (66-bit pi reduction, C2), and
/// FPREM/FPREM1 with large exponent differences (partial remainders).
#[test]
fn oracle_wide() {
    let cws: Vec<u16> = (0..4u16).map(|rc| 0x037F | (rc << 10)).collect();
    let mut all = vec![];
    for name in ["fsin", "fcos", "fptan", "fsincos"] {
        all.push((
            name,
            check(name, 300, 8000, 1, &cws, |r| {
                (rand_f80(r, 0x3FFF + 34, 30), [0; 16], [0; 16])
            }),
        ));
    }
    for name in ["fprem", "fprem1"] {
        all.push((
            name,
            check(name, 500, 8100, 0, &cws, |r| {
                (
                    rand_f80(r, 0x3FFF + 100, 100),
                    rand_f80(r, 0x3FFF, 30),
                    [0; 16],
                )
            }),
        ));
    }
    report(all);
}
