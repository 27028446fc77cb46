//! The GDB stub end to end, with Debian's real `gdb` in batch mode: SeaBIOS boots a tiny disk
//! whose boot sector stores to memory and writes isa-debug-exit. Breakpoints set before the
//! sector is loaded hit, registers and memory read and write, stepi, watchpoints, continue to
//! the guest's exit; and a socket fed garbage (or dropped) never ends the emulator.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn need_tools() {
    assert!(
        std::path::Path::new("/usr/share/seabios/bios.bin").exists(),
        "Debian's `seabios` package is not installed (scripts/setup-deps.sh installs it)"
    );
    assert!(
        Command::new("gdb").arg("--version").output().is_ok(),
        "Debian's `gdb` package is not installed (scripts/setup-deps.sh installs it)"
    );
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// A 1 MiB disk whose boot sector is `code` (then 0x55AA).
fn disk(name: &str, code: &[u8]) -> std::path::PathBuf {
    let mut img = code.to_vec();
    img.resize(510, 0);
    img.extend_from_slice(&[0x55, 0xAA]);
    img.resize(1 << 20, 0);
    let p = tmp(name);
    std::fs::write(&p, img).unwrap();
    p
}

/// ironbox under `--gdb`, killed when dropped; stderr lines collected.
struct Emu {
    child: Child,
    port: u16,
    stderr: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Drop for Emu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emu {
    /// Start ironbox listening on a free port (chosen from the pid, retried on a clash).
    fn start(disk: &std::path::Path, extra: &[&str], salt: u16) -> Emu {
        let base = 20000 + (std::process::id() % 20000) as u16 + salt * 211;
        for attempt in 0..20u16 {
            let port = base.wrapping_add(attempt * 13) % 40000 + 20000;
            let mut child = Command::new(env!("CARGO_BIN_EXE_ironbox"))
                .args(["run", "--serial", "none", "--debug-exit", "--hda"])
                .arg(disk)
                .arg("--gdb")
                .arg(format!("tcp::{port}"))
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let (tx, rx) = mpsc::channel();
            let err = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let mut emu = Emu {
                child,
                port,
                stderr: rx,
                log: Vec::new(),
            };
            if emu.wait_for("gdb stub listening", Duration::from_secs(20)) {
                return emu;
            }
            let log = emu.log.join("\n");
            assert!(
                log.contains("cannot listen"),
                "ironbox did not start listening:\n{log}"
            );
        }
        panic!("no free port found");
    }

    /// Wait for a stderr line containing `what`.
    fn wait_for(&mut self, what: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        if self.log.iter().any(|l| l.contains(what)) {
            return true;
        }
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(what);
                    self.log.push(line);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Wait for ironbox to end; its exit status.
    fn exit_code(&mut self) -> Option<i32> {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// Run gdb in batch mode against `port` with these commands; its stdout + stderr.
fn gdb(port: u16, cmds: &[&str]) -> String {
    let mut c = Command::new("gdb");
    c.args(["-batch", "-nx", "-ex", "set architecture i386"])
        .arg("-ex")
        .arg(format!("target remote :{port}"));
    for cmd in cmds {
        c.arg("-ex").arg(cmd);
    }
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let end = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
    t.join().unwrap() + &e.join().unwrap()
}

/// Does some line of `text` read as these whitespace-separated words?
fn has_line(text: &str, words: &[&str]) -> bool {
    text.lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == words)
}

/// xor ax,ax; mov ds,ax; mov ax,0x1234; mov [0x600],ax; mov bx,[0x600]; mov al,0x21;
/// out 0xf4,al; hlt; jmp $-1.
const STORE_AND_EXIT: &[u8] = &[
    0x31, 0xC0, // 7c00
    0x8E, 0xD8, // 7c02
    0xB8, 0x34, 0x12, // 7c04
    0xA3, 0x00, 0x06, // 7c07
    0x8B, 0x1E, 0x00, 0x06, // 7c0a
    0xB0, 0x21, // 7c0e
    0xE6, 0xF4, // 7c10
    0xF4, // 7c12
    0xEB, 0xFD, // 7c13
];

#[test]
fn gdb_debugs_a_boot_sector_from_the_reset_vector() {
    need_tools();
    let img = disk("gdb-store.img", STORE_AND_EXIT);
    let mut emu = Emu::start(&img, &["--paused"], 1);
    // Garbage and hang-ups first: ironbox stays paused at the reset vector, waiting.
    garbage(&mut emu);
    let out = gdb(
        emu.port,
        &[
            "info registers eip cs",
            // Not in RAM yet: SeaBIOS loads the sector later.
            "break *0x7c00",
            "continue",
            "info registers eip cs",
            "x/4xb 0x7c00",
            "stepi",
            "info registers eip",
            "set $ebx = 0x5a5a",
            "info registers ebx",
            "set var *(unsigned short *)0x700 = 0xbeef",
            "x/2xb 0x700",
            "watch *(short *)0x600",
            "continue",
            "info registers eip",
            "delete 2",
            "rwatch *(short *)0x600",
            "continue",
            "info registers eip",
            "delete",
            "hbreak *0x7c10",
            "continue",
            "info registers eip",
            "monitor regs",
            "monitor translate 0x7c00",
            "monitor idt 2",
            "monitor devices",
            "delete",
            "continue",
        ],
    );
    let ctx = |what: &str| {
        format!(
            "{what}\n--- gdb:\n{out}\n--- ironbox:\n{}",
            emu.log.join("\n")
        )
    };
    // Stopped before the first instruction.
    assert!(
        has_line(&out, &["eip", "0xfff0", "0xfff0"]),
        "{}",
        ctx("reset vector")
    );
    assert!(
        has_line(&out, &["cs", "0xf000", "61440"]),
        "{}",
        ctx("reset CS")
    );
    assert!(
        out.contains("Breakpoint 1, 0x00007c00"),
        "{}",
        ctx("breakpoint")
    );
    assert!(
        has_line(&out, &["eip", "0x7c00", "0x7c00"]),
        "{}",
        ctx("eip at 7c00")
    );
    assert!(has_line(&out, &["cs", "0x0", "0"]), "{}", ctx("cs 0"));
    assert!(
        has_line(&out, &["0x7c00:", "0x31", "0xc0", "0x8e", "0xd8"]),
        "{}",
        ctx("boot sector bytes")
    );
    assert!(
        has_line(&out, &["eip", "0x7c02", "0x7c02"]),
        "{}",
        ctx("stepi")
    );
    assert!(
        has_line(&out, &["ebx", "0x5a5a", "23130"]),
        "{}",
        ctx("register write")
    );
    assert!(
        has_line(&out, &["0x700:", "0xef", "0xbe"]),
        "{}",
        ctx("memory write")
    );
    assert!(
        out.contains("Hardware watchpoint 2: *(short *)0x600"),
        "{}",
        ctx("watch")
    );
    assert!(out.contains("New value = 4660"), "{}", ctx("watch value"));
    // Stopped right after the storing instruction (at 0x7c07).
    assert!(
        has_line(&out, &["eip", "0x7c0a", "0x7c0a"]),
        "{}",
        ctx("watch eip")
    );
    assert!(
        out.contains("Hardware read watchpoint 3"),
        "{}",
        ctx("rwatch")
    );
    assert!(
        has_line(&out, &["eip", "0x7c0e", "0x7c0e"]),
        "{}",
        ctx("rwatch eip")
    );
    assert!(
        out.contains("Hardware assisted breakpoint 4"),
        "{}",
        ctx("hbreak")
    );
    assert!(
        has_line(&out, &["eip", "0x7c10", "0x7c10"]),
        "{}",
        ctx("hbreak eip")
    );
    assert!(out.contains("mode real  CPL 0"), "{}", ctx("monitor regs"));
    assert!(out.contains("EFLAGS"), "{}", ctx("monitor regs eflags"));
    assert!(
        out.contains("paging off: linear 00007c00 = physical 00007c00"),
        "{}",
        ctx("monitor translate")
    );
    assert!(out.contains("IVT (real mode)"), "{}", ctx("monitor idt"));
    assert!(
        out.contains("PIC master: IMR="),
        "{}",
        ctx("monitor devices")
    );
    // 0x21 to isa-debug-exit: status (0x21 << 1) | 1 = 67 = 0103 (gdb prints octal).
    assert!(
        out.contains("[Inferior 1 (process 1) exited with code 0103]"),
        "{}",
        ctx("exit")
    );
    let msg = ctx("ironbox exit status");
    assert_eq!(emu.exit_code(), Some(67), "{msg}");
}

/// Send one RSP packet.
fn send_packet(s: &mut TcpStream, body: &str) {
    let sum = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    write!(s, "${body}#{sum:02x}").unwrap();
}

/// Read until a complete `$...#xx` packet; its body.
fn read_packet(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    loop {
        if s.read(&mut b).unwrap_or(0) == 0 {
            panic!("connection closed; got {:?}", String::from_utf8_lossy(&got));
        }
        got.push(b[0]);
        if let Some(start) = got.iter().position(|&c| c == b'$') {
            let body = &got[start + 1..];
            if let Some(h) = body.iter().position(|&c| c == b'#') {
                if body.len() >= h + 3 {
                    let _ = s.write_all(b"+");
                    return String::from_utf8_lossy(&body[..h]).into_owned();
                }
            }
        }
    }
}

/// Feed garbage to the stub over several connections.
fn garbage(emu: &mut Emu) {
    let addr = format!("127.0.0.1:{}", emu.port);
    let mut payloads: Vec<Vec<u8>> = vec![
        b"hello\xff\xfe\x00+-+".to_vec(),
        b"$qSupported:bogus#00".to_vec(),
        b"$Zq,zz,zz#00".to_vec(),
        [b"$".as_slice(), &[b'A'; 70_000], b"#00"].concat(),
    ];
    for body in [
        "Z0,notahex,1",
        "m,,,,",
        "mffffffff,ffffffff",
        "Mffffffff,ffffffff:00",
        "Z2,fffffffe,ffffffff",
        "qRcmd,zz",
        "qRcmd,fffe",
        "pffff",
        "vCont;x",
    ] {
        let sum = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
        payloads.push(format!("${body}#{sum:02x}").into_bytes());
    }
    for p in payloads {
        let mut s = TcpStream::connect(&addr).unwrap();
        let _ = s.write_all(&p);
        std::thread::sleep(Duration::from_millis(100));
        drop(s);
        std::thread::sleep(Duration::from_millis(50));
        assert!(emu.alive(), "ironbox died:\n{}", emu.log.join("\n"));
    }
}

/// Undo the protocol's run-length encoding (`X*N`: N - 29 more copies of X).
fn unrle(p: &str) -> String {
    let mut out: Vec<u8> = Vec::new();
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'*' && i + 1 < b.len() {
            let last = *out.last().unwrap();
            out.extend(std::iter::repeat_n(last, (b[i + 1] - 29) as usize));
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// jmp $ (at 0x7c00); mov al,5; out 0xf4,al; hlt.
const SPIN: &[u8] = &[0xEB, 0xFE, 0xB0, 0x05, 0xE6, 0xF4, 0xF4];

#[test]
fn garbage_and_dropped_connections_do_not_stop_the_emulator() {
    need_tools();
    let img = disk("gdb-spin.img", SPIN);
    let mut emu = Emu::start(&img, &[], 2);
    let addr = format!("127.0.0.1:{}", emu.port);

    // Garbage, one connection each: stray bytes, a bad checksum, malformed packets, packets
    // that overflow gdbstub's arithmetic, an oversized packet; then hang-ups.
    garbage(&mut emu);
    std::thread::sleep(Duration::from_millis(300));
    assert!(emu.alive(), "ironbox died:\n{}", emu.log.join("\n"));

    // A raw session: continue, Ctrl-C interrupts the running guest, read the registers,
    // then drop the connection without detaching: the guest runs on.
    {
        let mut s = TcpStream::connect(&addr).unwrap();
        send_packet(&mut s, "?");
        let stop = read_packet(&mut s);
        assert!(stop.starts_with('S') || stop.starts_with('T'), "{stop}");
        send_packet(&mut s, "c");
        std::thread::sleep(Duration::from_millis(1500));
        s.write_all(b"\x03").unwrap();
        let stop = loop {
            let p = read_packet(&mut s);
            if p.starts_with('S') || p.starts_with('T') {
                break p;
            }
        };
        assert!(stop.starts_with("T02") || stop.starts_with("S02"), "{stop}");
        send_packet(&mut s, "g");
        let regs = unrle(&read_packet(&mut s));
        // EIP is the ninth 32-bit register, little-endian hex: the guest spins at 0x7c00.
        assert_eq!(&regs[64..72], "007c0000", "registers {regs}");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(emu.alive(), "ironbox died:\n{}", emu.log.join("\n"));

    // A real gdb attaches to the running guest, moves it past the loop and lets it exit.
    let out = gdb(
        emu.port,
        &["info registers eip cs", "set $eip = 0x7c02", "continue"],
    );
    assert!(
        has_line(&out, &["eip", "0x7c00", "0x7c00"]),
        "gdb:\n{out}\nironbox:\n{}",
        emu.log.join("\n")
    );
    // (5 << 1) | 1 = 11 = 013.
    assert!(
        out.contains("[Inferior 1 (process 1) exited with code 013]"),
        "gdb:\n{out}\nironbox:\n{}",
        emu.log.join("\n")
    );
    assert_eq!(emu.exit_code(), Some(11));
}
