//! MOO test-vector files (SingleStepTests, <https://github.com/singlesteptests>): a chunked,
//! little-endian container (`[tag: 4 ASCII][len: u32][payload]`), optionally gzip-compressed.
//! See `../shared/conformance/README.md` for the layout.
//!
//! Parsing never panics: a truncated or corrupt file yields the tests read so far plus a
//! [`ParseError`] naming the position (ordinal of the `TEST` chunk) where reading stopped.
//! Known gap: 32-bit register chunks (`RG32`/`RM32`, 386+ suites) are reported as unsupported.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// Register order of a `REGS` chunk bitmask (bit 0 = ax … bit 13 = flags).
pub const REG_NAMES: [&str; 14] = [
    "ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags",
];
pub const R_CS: usize = 4;
pub const R_SS: usize = 5;
pub const R_SP: usize = 8;
pub const R_IP: usize = 12;
pub const R_FLAGS: usize = 13;

/// Where and why reading a file stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Ordinal (0-based) of the test being read, if the error is inside or after the tests.
    pub test: Option<usize>,
    /// Byte offset in the decompressed data.
    pub offset: usize,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.test {
            Some(t) => write!(f, "test #{t} (offset {:#x}): {}", self.offset, self.msg),
            None => write!(f, "offset {:#x}: {}", self.offset, self.msg),
        }
    }
}

/// A register set: the values whose bit is set in `mask`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub mask: u16,
    pub v: [u16; 14],
}

impl Regs {
    #[inline]
    pub fn get(&self, i: usize) -> Option<u16> {
        (self.mask >> i & 1 != 0).then_some(self.v[i])
    }
    #[inline]
    pub fn set(&mut self, i: usize, v: u16) {
        self.mask |= 1 << i;
        self.v[i] = v;
    }
}

/// CPU state before or after the instruction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub regs: Regs,
    /// (physical address, byte).
    pub ram: Vec<(u32, u8)>,
}

/// The exception the hardware took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Excp {
    pub vector: u8,
    /// Physical address of the FLAGS image pushed on the stack, as captured (rounded down to
    /// even when SP is odd, so the runner computes it from the final SS:SP instead).
    #[allow(dead_code)]
    pub flags_addr: u32,
}

/// One test vector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Test {
    /// The index stored in the `TEST` chunk.
    pub index: u32,
    pub name: String,
    pub bytes: Vec<u8>,
    pub init: State,
    pub fina: State,
    pub excp: Option<Excp>,
    pub hash: Option<[u8; 20]>,
}

impl Test {
    pub fn hash_hex(&self) -> String {
        self.hash
            .map(|h| h.iter().map(|b| format!("{b:02x}")).collect())
            .unwrap_or_default()
    }
}

/// A parsed file: header, the tests that could be read, and the error that stopped reading.
#[derive(Clone, Debug, Default)]
pub struct MooFile {
    pub version: (u8, u8),
    /// Test count declared by the header.
    pub declared: u32,
    pub cpu_id: String,
    pub tests: Vec<Test>,
    pub error: Option<ParseError>,
}

/// Read, decompress (if the name ends in `.gz`) and parse a file.
pub fn load(path: &Path) -> MooFile {
    let raw = match std::fs::read(path) {
        Ok(r) => r,
        Err(e) => return failed(None, format!("cannot read: {e}")),
    };
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if !gz {
        return parse(&raw);
    }
    let mut data = Vec::with_capacity(raw.len() * 4);
    match flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut data) {
        Ok(_) => parse(&data),
        Err(e) => {
            // Keep the tests that decompressed intact; the broken stream is the error.
            let mut f = parse(&data);
            let at = f.tests.len();
            f.error = Some(ParseError {
                test: Some(at),
                offset: data.len(),
                msg: format!("gzip stream broken: {e}"),
            });
            f
        }
    }
}

fn failed(test: Option<usize>, msg: String) -> MooFile {
    MooFile {
        error: Some(ParseError {
            test,
            offset: 0,
            msg,
        }),
        ..MooFile::default()
    }
}

/// Parse decompressed MOO data.
pub fn parse(data: &[u8]) -> MooFile {
    let mut file = MooFile::default();
    let mut r = Reader {
        buf: data,
        pos: 0,
        base: 0,
    };
    let err = |r: &Reader, test, msg: String| {
        Some(ParseError {
            test,
            offset: r.base + r.pos,
            msg,
        })
    };

    // Header chunk.
    match r.chunk() {
        Ok((tag, mut h)) if &tag == b"MOO " => {
            let hdr = (|| -> Result<_, String> {
                Ok((h.u8()?, h.u8()?, h.u16()?, h.u32()?, h.bytes(4)?))
            })();
            match hdr {
                Ok((major, minor, _, count, id)) => {
                    file.version = (major, minor);
                    file.declared = count;
                    file.cpu_id = String::from_utf8_lossy(id).trim_end().to_string();
                }
                Err(e) => {
                    file.error = err(&h, None, format!("bad MOO header: {e}"));
                    return file;
                }
            }
        }
        Ok((tag, _)) => {
            file.error = err(
                &r,
                None,
                format!(
                    "not a MOO file (first chunk {:?})",
                    String::from_utf8_lossy(&tag)
                ),
            );
            return file;
        }
        Err(e) => {
            file.error = err(&r, None, format!("not a MOO file: {e}"));
            return file;
        }
    }

    while !r.at_end() {
        let ordinal = file.tests.len();
        let (tag, body) = match r.chunk() {
            Ok(c) => c,
            Err(e) => {
                file.error = err(&r, Some(ordinal), e);
                return file;
            }
        };
        if &tag != b"TEST" {
            continue; // META, GMET, …: not needed.
        }
        let mut body = body;
        match parse_test(&mut body) {
            Ok(t) => file.tests.push(t),
            Err(e) => {
                file.error = err(&body, Some(ordinal), e);
                return file;
            }
        }
    }
    if (file.tests.len() as u64) < file.declared as u64 {
        let n = file.tests.len();
        file.error = err(
            &r,
            Some(n),
            format!(
                "truncated: header declares {} tests, file holds {n}",
                file.declared
            ),
        );
    }
    file
}

fn parse_test(r: &mut Reader) -> Result<Test, String> {
    let mut t = Test {
        index: r.u32()?,
        ..Test::default()
    };
    let (mut init, mut fina) = (false, false);
    while !r.at_end() {
        let (tag, mut c) = r.chunk()?;
        // On error, point the reader at the sub-chunk for the offset in the message.
        let res: Result<(), String> = (|| {
            match &tag {
                b"NAME" => {
                    let n = c.u32()? as usize;
                    t.name = String::from_utf8_lossy(c.bytes(n)?).into_owned();
                }
                b"BYTS" => {
                    let n = c.u32()? as usize;
                    t.bytes = c.bytes(n)?.to_vec();
                }
                b"INIT" => {
                    t.init = parse_state(&mut c)?;
                    init = true;
                }
                b"FINA" => {
                    t.fina = parse_state(&mut c)?;
                    fina = true;
                }
                b"EXCP" => {
                    t.excp = Some(Excp {
                        vector: c.u8()?,
                        flags_addr: c.u32()?,
                    })
                }
                b"HASH" => {
                    let mut h = [0u8; 20];
                    h.copy_from_slice(c.bytes(20)?);
                    t.hash = Some(h);
                }
                _ => {} // CYCL, GMET, …
            }
            Ok(())
        })();
        if let Err(e) = res {
            *r = c;
            return Err(format!("{}: {e}", tag_str(&tag)));
        }
    }
    if !init || !fina {
        return Err(format!(
            "test {} lacks {}",
            t.index,
            if init { "FINA" } else { "INIT" }
        ));
    }
    Ok(t)
}

fn parse_state(r: &mut Reader) -> Result<State, String> {
    let mut s = State::default();
    while !r.at_end() {
        let (tag, mut c) = r.chunk()?;
        match &tag {
            b"REGS" => {
                let mask = c.u16()?;
                if mask >> 14 != 0 {
                    return Err(format!("REGS: unknown register bits in mask {mask:#06x}"));
                }
                for i in 0..14 {
                    if mask >> i & 1 != 0 {
                        s.regs.set(i, c.u16()?);
                    }
                }
                if !c.at_end() {
                    return Err(format!("REGS: {} bytes left over", c.buf.len() - c.pos));
                }
            }
            b"RAM " => {
                let n = c.u32()? as usize;
                if c.buf.len() - c.pos != n.saturating_mul(5) {
                    return Err(format!(
                        "RAM : count {n} does not match length {}",
                        c.buf.len()
                    ));
                }
                s.ram.reserve(n);
                for _ in 0..n {
                    s.ram.push((c.u32()?, c.u8()?));
                }
            }
            b"RG32" | b"RM32" => {
                return Err(format!(
                    "{} (32-bit registers) not supported",
                    tag_str(&tag)
                ))
            }
            _ => {} // QUEU, RMSK, …
        }
    }
    Ok(s)
}

fn tag_str(tag: &[u8; 4]) -> String {
    String::from_utf8_lossy(tag).into_owned()
}

/// A bounds-checked cursor over a chunk's payload.
#[derive(Clone, Copy)]
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` in the whole file (for messages).
    base: usize,
}

impl<'a> Reader<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let left = self.buf.len() - self.pos;
        if n > left {
            return Err(format!("needs {n} bytes, {left} left"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(
            self.bytes(2)?.try_into().unwrap_or_default(),
        ))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.bytes(4)?.try_into().unwrap_or_default(),
        ))
    }
    /// The next chunk: its tag and a reader over its payload.
    fn chunk(&mut self) -> Result<([u8; 4], Reader<'a>), String> {
        let left = self.buf.len() - self.pos;
        if left < 8 {
            return Err(format!("truncated chunk header ({left} bytes left)"));
        }
        let mut tag = [0u8; 4];
        tag.copy_from_slice(&self.buf[self.pos..self.pos + 4]);
        if !tag.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return Err(format!("bad chunk tag {tag:02x?}"));
        }
        self.pos += 4;
        let len = self.u32()? as usize;
        let base = self.base + self.pos;
        let body = self.bytes(len).map_err(|_| {
            format!(
                "chunk {:?} length {len} overruns its container ({} bytes left)",
                tag_str(&tag),
                left - 8
            )
        })?;
        Ok((
            tag,
            Reader {
                buf: body,
                pos: 0,
                base,
            },
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn chunk(tag: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = tag.to_vec();
        v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        v.extend_from_slice(payload);
        v
    }

    pub(crate) fn regs(mask: u16, vals: &[u16]) -> Vec<u8> {
        let mut p = mask.to_le_bytes().to_vec();
        vals.iter()
            .for_each(|v| p.extend_from_slice(&v.to_le_bytes()));
        chunk(b"REGS", &p)
    }

    pub(crate) fn ram(entries: &[(u32, u8)]) -> Vec<u8> {
        let mut p = (entries.len() as u32).to_le_bytes().to_vec();
        for (a, v) in entries {
            p.extend_from_slice(&a.to_le_bytes());
            p.push(*v);
        }
        chunk(b"RAM ", &p)
    }

    fn test_chunk(index: u32) -> Vec<u8> {
        let mut p = index.to_le_bytes().to_vec();
        p.extend(chunk(b"NAME", &[3, 0, 0, 0, b'n', b'o', b'p']));
        p.extend(chunk(b"BYTS", &[2, 0, 0, 0, 0x90, 0xF4]));
        let mut init = regs(
            0x3FFF,
            &[
                1, 2, 3, 4, 0x100, 0x200, 0x300, 0x400, 0xFFFE, 6, 7, 8, 0x10, 0xF002,
            ],
        );
        init.extend(ram(&[(0x1010, 0x90), (0x1011, 0xF4)]));
        init.extend(chunk(b"QUEU", &[0, 0, 0, 0]));
        p.extend(chunk(b"INIT", &init));
        p.extend(chunk(
            b"FINA",
            &[regs(1 << R_IP, &[0x12]), ram(&[])].concat(),
        ));
        p.extend(chunk(b"CYCL", &[0; 8]));
        p.extend(chunk(b"EXCP", &[6, 0x34, 0x12, 0, 0]));
        p.extend(chunk(b"HASH", &[0xAB; 20]));
        chunk(b"TEST", &p)
    }

    /// A well-formed two-test file.
    pub(crate) fn sample_file() -> Vec<u8> {
        let mut f = chunk(b"MOO ", &[1, 0, 0, 0, 2, 0, 0, 0, b'C', b'2', b'8', b'6']);
        f.extend(chunk(b"META", b"whatever"));
        f.extend(test_chunk(0));
        f.extend(test_chunk(1));
        f
    }

    #[test]
    fn parses_a_well_formed_file() {
        let f = parse(&sample_file());
        assert_eq!(f.error, None);
        assert_eq!(
            (f.version, f.declared, f.cpu_id.as_str()),
            ((1, 0), 2, "C286")
        );
        assert_eq!(f.tests.len(), 2);
        let t = &f.tests[1];
        assert_eq!(
            (t.index, t.name.as_str(), &t.bytes[..]),
            (1, "nop", &[0x90, 0xF4][..])
        );
        assert_eq!(t.init.regs.get(R_SP), Some(0xFFFE));
        assert_eq!(t.init.regs.get(R_FLAGS), Some(0xF002));
        assert_eq!(t.init.ram, vec![(0x1010, 0x90), (0x1011, 0xF4)]);
        assert_eq!(t.fina.regs.get(R_IP), Some(0x12));
        assert_eq!(t.fina.regs.get(0), None);
        assert_eq!(
            t.excp,
            Some(Excp {
                vector: 6,
                flags_addr: 0x1234
            })
        );
        assert_eq!(t.hash_hex(), "ab".repeat(20));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = sample_file();
        let second_test = full.len() - test_chunk(1).len();
        for len in 0..full.len() {
            let f = parse(&full[..len]);
            let e = f
                .error
                .unwrap_or_else(|| panic!("truncation at {len} not reported"));
            if len >= second_test {
                assert_eq!(f.tests.len(), 1, "at {len}");
                assert_eq!(e.test, Some(1), "at {len}: {e}");
            } else if len > 20 {
                assert!(f.tests.is_empty());
                assert_eq!(e.test, Some(0), "at {len}: {e}");
            }
        }
    }

    #[test]
    fn hand_made_truncated_buffer() {
        // Header declares 2 tests; the second TEST chunk says 200 bytes but only 10 follow.
        let mut buf = chunk(b"MOO ", &[1, 0, 0, 0, 2, 0, 0, 0, b'8', b'0', b'8', b'6']);
        buf.extend(test_chunk(0));
        buf.extend_from_slice(b"TEST");
        buf.extend_from_slice(&200u32.to_le_bytes());
        buf.extend_from_slice(&[0; 10]);
        let f = parse(&buf);
        assert_eq!(f.tests.len(), 1);
        let e = f.error.expect("error");
        assert_eq!(e.test, Some(1));
        assert!(e.msg.contains("overruns"), "{e}");
        assert!(e.to_string().starts_with("test #1"), "{e}");
    }

    #[test]
    fn corrupt_inner_lengths() {
        // REGS with a mask claiming more registers than it holds.
        let mut p = 0u32.to_le_bytes().to_vec();
        p.extend(chunk(b"INIT", &regs(0x0003, &[1])));
        let mut buf = chunk(b"MOO ", &[1, 0, 0, 0, 1, 0, 0, 0, b'8', b'0', b'8', b'6']);
        buf.extend(chunk(b"TEST", &p));
        let e = parse(&buf).error.expect("error");
        assert_eq!(e.test, Some(0));
        assert!(e.msg.contains("INIT"), "{e}");

        // RAM count larger than the chunk.
        let mut p = 0u32.to_le_bytes().to_vec();
        p.extend(chunk(
            b"INIT",
            &chunk(b"RAM ", &[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4, 5]),
        ));
        let mut buf = chunk(b"MOO ", &[1, 0, 0, 0, 1, 0, 0, 0, b'8', b'0', b'8', b'6']);
        buf.extend(chunk(b"TEST", &p));
        assert!(parse(&buf).error.expect("error").msg.contains("RAM"));

        // A TEST without FINA.
        let mut p = 0u32.to_le_bytes().to_vec();
        p.extend(chunk(b"INIT", &regs(1, &[1])));
        let mut buf = chunk(b"MOO ", &[1, 0, 0, 0, 1, 0, 0, 0, b'8', b'0', b'8', b'6']);
        buf.extend(chunk(b"TEST", &p));
        assert!(parse(&buf).error.expect("error").msg.contains("FINA"));

        // Garbage.
        assert!(parse(b"\x1f\x8b\x08\x00garbage!").error.is_some());
        assert!(parse(&[]).error.is_some());
    }

    #[test]
    fn broken_gzip_keeps_earlier_tests() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&sample_file()).unwrap();
        let gz = enc.finish().unwrap();
        let dir = std::env::temp_dir().join(format!("ironbox-moo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("90.MOO.gz");
        std::fs::write(&ok, &gz).unwrap();
        let f = load(&ok);
        assert_eq!((f.error, f.tests.len()), (None, 2));
        for cut in [5, gz.len() / 2, gz.len() - 4] {
            let bad = dir.join("91.MOO.gz");
            std::fs::write(&bad, &gz[..cut]).unwrap();
            let f = load(&bad);
            let e = f.error.expect("error");
            assert_eq!(e.test, Some(f.tests.len()));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
