//! The display end to end: SeaBIOS (no disks, deterministic) prints its banner on the VGA text
//! screen; `--dump-screen-text` must show it, and the PNG from `--screenshot` must have ink in
//! exactly the character cells of the banner's text row. Once headless (no X at all), once in
//! a real SDL window on a private X server (Xvfb), where the window's own screenshot path (the
//! Ctrl+Alt+S code) and a read-back of the window's pixels must agree with it. Also: keys
//! pressed in the window reach a guest, graphics modes (VBE, 13h) are letterboxed, and the
//! hotkeys pressed through the X server (xdotool) pause and resume the guest and release the
//! mouse, as the title says.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Enough for SeaBIOS to POST the VGA and print "SeaBIOS (version ...)" (about 45 M are needed).
const INSTRUCTIONS: &str = "50000000";

fn need_seabios() {
    assert!(
        Path::new("/usr/share/seabios/bios.bin").exists(),
        "Debian's `seabios` package is not installed (scripts/setup-deps.sh installs it)"
    );
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_args(dir: &Path, display: &str) -> Vec<String> {
    [
        "run",
        "--deterministic",
        "--serial",
        "none",
        "--max-instructions",
        INSTRUCTIONS,
        "--display",
        display,
        "--screenshot",
        dir.join("shot.png").to_str().unwrap(),
        "--dump-screen-text",
        dir.join("screen.txt").to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn check_exit(out: &Output) {
    // The run ends at the instruction limit: status 3.
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Image {
    w: u32,
    h: u32,
    rgb: Vec<u8>,
}

impl Image {
    fn load(path: &Path) -> Image {
        let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut r = png::Decoder::new(f).read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        Image {
            w: info.width,
            h: info.height,
            rgb: buf,
        }
    }
    fn px(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.w + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
    /// Any pixel in the rectangle differs from the background (black)?
    fn ink(&self, x0: u32, y0: u32, x1: u32, y1: u32) -> bool {
        (y0..y1).any(|y| (x0..x1).any(|x| self.px(x, y) != [0, 0, 0]))
    }
}

/// The screen text holds the banner, and the picture has ink exactly in the cells of the
/// banner's characters (80x25 cells; the picture `img` may be the guest picture scaled into a
/// rectangle (`x0`, `y0`, `w`, `h`) of a bigger one).
fn check_banner(text: &str, img: &Image, (x0, y0, w, h): (u32, u32, u32, u32)) {
    let rows: Vec<&str> = text.lines().collect();
    let (row, line) = rows
        .iter()
        .enumerate()
        .find(|(_, l)| l.contains("SeaBIOS"))
        .unwrap_or_else(|| panic!("no SeaBIOS banner on the text screen:\n{text}"));
    assert!(line.contains("SeaBIOS (version 1.16"), "{line}");
    let (cw, ch) = (w as f64 / 80.0, h as f64 / 25.0);
    let mut checked = 0;
    for (col, c) in line.chars().enumerate() {
        // Cell interior (a pixel's margin, for scaled pictures).
        let cx0 = x0 + (col as f64 * cw).ceil() as u32 + 1;
        let cx1 = x0 + ((col + 1) as f64 * cw).floor() as u32 - 1;
        let cy0 = y0 + (row as f64 * ch).ceil() as u32 + 1;
        let cy1 = y0 + ((row + 1) as f64 * ch).floor() as u32 - 1;
        let ink = img.ink(cx0, cy0, cx1, cy1);
        assert_eq!(
            ink,
            c != ' ',
            "cell {col} of row {row} ({c:?}) in {line:?}: ink {ink}"
        );
        checked += 1;
    }
    assert!(checked > 20);
    // Rows below the cursor row are empty: no ink at all there.
    assert!(!img.ink(x0, y0 + (3.0 * ch) as u32, x0 + w, y0 + h));
}

#[test]
fn headless_screenshot_and_screen_text() {
    need_seabios();
    let dir = tmp_dir("display-headless");
    let out = Command::new(env!("CARGO_BIN_EXE_ironbox"))
        .args(run_args(&dir, "none"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    check_exit(&out);
    let text = std::fs::read_to_string(dir.join("screen.txt")).unwrap();
    let img = Image::load(&dir.join("shot.png"));
    assert_eq!((img.w, img.h), (720, 400), "80x25 text, 9x16 cells");
    check_banner(&text, &img, (0, 0, 720, 400));
}

/// A private X server (Xvfb) on a display number it picks itself (`-displayfd`), killed when
/// dropped. (Started directly rather than through `xvfb-run -a`, whose display-number guessing
/// and temporary-directory clean-up can fail when several run at once.)
struct Xvfb {
    child: std::process::Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        use std::io::BufRead;
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x1024x24",
                "-nolisten",
                "tcp",
                // No server reset when the last client leaves: a reset between an `xdotool`
                // poll and the emulator's first connection refuses that connection.
                "-noreset",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start Xvfb ({e}): install Debian's `xvfb` package \
                     (scripts/setup-deps.sh does)"
                )
            });
        let mut line = String::new();
        let _ = std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        let n = line.trim();
        assert!(
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()),
            "Xvfb did not report a display number (got {line:?})"
        );
        Xvfb {
            display: format!(":{n}"),
            child,
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One X server at a time: the guests need the CPU more than the tests need parallelism.
static XVFB: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `ironbox` in a window on the X server `x`. SDL's software renderer: Mesa's GL emulation
/// would only burn the CPU the guest needs.
fn ironbox_on(x: &Xvfb, args: &[String]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ironbox"));
    c.args(args)
        .env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("XAUTHORITY")
        .env("SDL_VIDEODRIVER", "x11")
        .env("SDL_RENDER_DRIVER", "software");
    c
}

/// `ironbox` in a window on a private X server, to the end of the run.
fn under_xvfb(args: &[String], envs: &[(&str, &Path)]) -> Output {
    let _one = XVFB.lock().unwrap_or_else(|e| e.into_inner());
    let x = Xvfb::start();
    let mut c = ironbox_on(&x, args);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn window_under_xvfb_shows_the_same_screen() {
    need_seabios();
    let dir = tmp_dir("display-sdl");
    let out = under_xvfb(
        &run_args(&dir, "sdl"),
        &[("IRONBOX_TEST_WINDOW_SHOTS", &dir)],
    );
    check_exit(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = std::fs::read_to_string(dir.join("screen.txt")).unwrap();
    // What the run ended with (VGA rendered by --screenshot).
    let shot = Image::load(&dir.join("shot.png"));
    assert_eq!((shot.w, shot.h), (720, 400));
    check_banner(&text, &shot, (0, 0, 720, 400));
    // The window's last frame, saved by the screenshot hotkey's code: the frames reached the
    // window, the final one included, pixel for pixel.
    let hot = Image::load(&dir.join("ironbox-1.png"));
    assert_eq!((hot.w, hot.h), (shot.w, shot.h), "{stderr}");
    assert!(hot.rgb == shot.rgb, "window frame differs from the VGA");
    // The window's pixels as drawn (letterboxed to the window's size).
    let win = Image::load(&dir.join("window.png"));
    let s = f64::min(win.w as f64 / 720.0, win.h as f64 / 400.0);
    let (dw, dh) = ((720.0 * s).round() as u32, (400.0 * s).round() as u32);
    let rect = ((win.w - dw) / 2, (win.h - dh) / 2, dw, dh);
    check_banner(&text, &win, rect);
}

/// A boot sector that echoes every key it reads (INT 16h) with INT 10h teletype output.
fn echo_floppy(path: &Path) {
    #[rustfmt::skip]
    let code = [
        0x31, 0xC0,             // xor ax, ax
        0x8E, 0xD8,             // mov ds, ax
        0xB4, 0x00,             // again: mov ah, 0
        0xCD, 0x16,             // int 16h      (wait for a key)
        0xB4, 0x0E,             // mov ah, 0Eh
        0xBB, 0x07, 0x00,       // mov bx, 7
        0xCD, 0x10,             // int 10h      (teletype: print AL)
        0xEB, 0xF3,             // jmp again
    ];
    let mut img = vec![0u8; 1_474_560];
    img[..code.len()].copy_from_slice(&code);
    img[510] = 0x55;
    img[511] = 0xAA;
    std::fs::write(path, img).unwrap();
}

/// Keys pressed in the window (SDL events through SDL's own queue) reach the guest: SDL
/// scancode → set 2 → the 8042 (translated to set 1) → IRQ 1 → the BIOS → INT 16h.
#[test]
fn keys_in_the_window_reach_the_guest() {
    need_seabios();
    let dir = tmp_dir("display-keys");
    let img = dir.join("echo.img");
    echo_floppy(&img);
    let mut args = run_args(&dir, "sdl");
    args.extend(["--fda", img.to_str().unwrap(), "--boot", "a"].map(String::from));
    // Booting from the floppy takes ~60 M instructions; A is pressed every 200 ms from the start.
    let n = args.iter().position(|a| a == INSTRUCTIONS).unwrap();
    args[n] = "120000000".into();
    let out = under_xvfb(&args, &[("IRONBOX_TEST_PRESS", Path::new("A"))]);
    check_exit(&out);
    let text = std::fs::read_to_string(dir.join("screen.txt")).unwrap();
    let booted = text
        .lines()
        .position(|l| l.contains("Booting from Floppy"))
        .unwrap_or_else(|| panic!("the echo floppy did not boot:\n{text}"));
    let echoed = text.lines().skip(booted + 1).collect::<String>();
    assert!(
        echoed.len() >= 3 && echoed.chars().all(|c| c == 'a'),
        "expected the guest to echo a few `a`s:\n{text}"
    );
}

/// A boot sector: the 8086 code `mode_set` (sets a video mode), then fill `words` words at
/// A000:0000 with colour 4 (red in the BIOS palettes), then spin.
fn fill_floppy(path: &Path, mode_set: &[u8], words: u16) {
    let mut code = vec![0xFC]; // cld
    code.extend_from_slice(mode_set);
    #[rustfmt::skip]
    code.extend_from_slice(&[
        0xB8, 0x00, 0xA0,                                   // mov ax, 0A000h
        0x8E, 0xC0,                                         // mov es, ax
        0x31, 0xFF,                                         // xor di, di
        0xB9, words as u8, (words >> 8) as u8,              // mov cx, words
        0xB8, 0x04, 0x04,                                   // mov ax, 0404h
        0xF3, 0xAB,                                         // rep stosw
        0xEB, 0xFE,                                         // jmp $
    ]);
    let mut img = vec![0u8; 1_474_560];
    img[..code.len()].copy_from_slice(&code);
    img[510] = 0x55;
    img[511] = 0xAA;
    std::fs::write(path, img).unwrap();
}

/// Graphics modes through the window: a VBE mode (640x480, 256 colours, banked) and mode 13h,
/// the window's own pixels letterboxed into a fixed window of another shape.
#[test]
fn graphics_modes_letterboxed_in_the_window() {
    need_seabios();
    // (name, mode-set code, words filled, picture size, rows of red in the picture)
    let cases: [(&str, &[u8], u16, (u32, u32), f64); 2] = [
        // mov ax, 4F02h; mov bx, 0101h; int 10h. 64 KiB = 102.4 rows of 640.
        (
            "vbe",
            &[0xB8, 0x02, 0x4F, 0xBB, 0x01, 0x01, 0xCD, 0x10],
            0x8000,
            (640, 480),
            102.4,
        ),
        // mov ax, 0013h; int 10h. 16000 bytes = 50 rows of 320, shown doubled.
        (
            "13h",
            &[0xB8, 0x13, 0x00, 0xCD, 0x10],
            8000,
            (640, 400),
            100.0,
        ),
    ];
    for (name, mode_set, words, (pw, ph), red_rows) in cases {
        let dir = tmp_dir(&format!("display-{name}"));
        let img = dir.join("fill.img");
        fill_floppy(&img, mode_set, words);
        let mut args = run_args(&dir, "sdl");
        args.extend(["--fda", img.to_str().unwrap(), "--boot", "a"].map(String::from));
        let n = args.iter().position(|a| a == INSTRUCTIONS).unwrap();
        args[n] = "90000000".into();
        let out = under_xvfb(
            &args,
            &[
                ("IRONBOX_TEST_WINDOW_SHOTS", &dir),
                ("IRONBOX_TEST_WINDOW_SIZE", Path::new("1000x600")),
            ],
        );
        check_exit(&out);
        let shot = Image::load(&dir.join("shot.png"));
        assert_eq!((shot.w, shot.h), (pw, ph), "{name}");
        let red = |p: [u8; 3]| p[0] > 0x80 && p[1] < 0x40 && p[2] < 0x40;
        assert!(
            red(shot.px(pw / 2, 10)),
            "{name}: {:?}",
            shot.px(pw / 2, 10)
        );
        assert_eq!(shot.px(pw / 2, ph - 10), [0, 0, 0], "{name}");
        let hot = Image::load(&dir.join("ironbox-1.png"));
        assert!(
            hot.rgb == shot.rgb,
            "{name}: window frame differs from the VGA"
        );
        // The window: 1000x600, the picture scaled to fit and centred, black bars.
        let win = Image::load(&dir.join("window.png"));
        assert_eq!((win.w, win.h), (1000, 600), "{name}");
        let s = f64::min(1000.0 / pw as f64, 600.0 / ph as f64);
        let (dw, dh) = (pw as f64 * s, ph as f64 * s);
        let (x0, y0) = ((1000.0 - dw) / 2.0, (600.0 - dh) / 2.0);
        let mid = (x0 + dw / 2.0) as u32;
        let band = y0 + red_rows.floor() * s;
        assert!(
            red(win.px(mid, (y0 + 2.0) as u32)),
            "{name}: top of the band"
        );
        assert!(
            red(win.px(mid, (band - 2.0) as u32)),
            "{name}: bottom of the band"
        );
        assert_eq!(win.px(mid, (band + 4.0) as u32), [0, 0, 0], "{name}: below");
        if x0 >= 2.0 {
            assert_eq!(
                win.px((x0 - 2.0) as u32, 10 + y0 as u32),
                [0, 0, 0],
                "{name}: bar"
            );
            assert!(
                red(win.px((x0 + 2.0) as u32, (y0 + 2.0) as u32)),
                "{name}: left edge"
            );
        }
        if y0 >= 2.0 {
            assert_eq!(win.px(mid, (y0 - 2.0) as u32), [0, 0, 0], "{name}: top bar");
        }
    }
}

/// A child process killed when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `xdotool` against the X server `x`; its output.
fn xdotool(x: &Xvfb, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", &x.display)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run xdotool ({e}): install Debian's `xdotool` package (scripts/setup-deps.sh does)")
        });
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Poll `f` every 50 ms for up to `secs` seconds.
fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    f()
}

/// A boot sector that writes '#' to the debug console (port 0xE9) about every 4000
/// instructions, for ever: its output grows exactly while the guest runs.
fn ticker_floppy(path: &Path) {
    #[rustfmt::skip]
    let code = [
        0xB0, b'#',             // again: mov al, '#'
        0xE6, 0xE9,             // out 0E9h, al
        0xB9, 0x00, 0x08,       // mov cx, 0800h
        0xE2, 0xFE,             // loop $
        0xEB, 0xF5,             // jmp again
    ];
    let mut img = vec![0u8; 1_474_560];
    img[..code.len()].copy_from_slice(&code);
    img[510] = 0x55;
    img[511] = 0xAA;
    std::fs::write(path, img).unwrap();
}

/// The hotkeys, pressed through the X server as a user would (xdotool, XTEST): Ctrl+Alt+P
/// pauses the machine (the title says so, the guest's output stops: it writes without end while
/// it runs, and what it wrote is flushed on pausing) and resumes it; a click grabs the mouse,
/// and Ctrl+Alt+G, losing the focus and pausing each release it; Ctrl+Alt+Q quits.
#[test]
fn pause_hotkey_freezes_the_guest_and_the_mouse_is_released() {
    need_seabios();
    let dir = tmp_dir("display-pause");
    let img = dir.join("ticker.img");
    ticker_floppy(&img);
    let out = dir.join("debugcon.txt");
    let args = [
        "run",
        "--display",
        "sdl",
        "--serial",
        "none",
        "--fda",
        img.to_str().unwrap(),
        "--boot",
        "a",
        "--debugcon",
        &format!("file:{}", out.display()),
    ]
    .map(String::from);
    let _one = XVFB.lock().unwrap_or_else(|e| e.into_inner());
    let x = Xvfb::start();
    let errs = dir.join("stderr.txt");
    let mut emu = Killed(
        ironbox_on(&x, &args)
            .stderr(std::fs::File::create(&errs).unwrap())
            .spawn()
            .unwrap(),
    );
    let mut win = String::new();
    let mut exited = None;
    let appeared = wait_until(60, || {
        win = xdotool(&x, &["search", "--name", "^ironbox - "]);
        exited = emu.0.try_wait().unwrap();
        !win.is_empty() || exited.is_some()
    });
    assert!(
        appeared && !win.is_empty(),
        "no ironbox window appeared (ironbox exited: {exited:?}); its stderr:\n{}",
        std::fs::read_to_string(&errs).unwrap_or_default()
    );
    let win = win.lines().next().unwrap().to_string();
    let title = || xdotool(&x, &["getwindowname", &win]);
    let key = |k: &str| {
        xdotool(&x, &["key", k]);
    };
    let ticks = || {
        std::fs::read(&out)
            .unwrap_or_default()
            .iter()
            .filter(|&&b| b == b'#')
            .count()
    };
    // The guest boots and ticks (its output reaches the file in 8 KiB pieces while it runs).
    assert!(
        wait_until(120, || ticks() > 0),
        "the guest never ran: {}",
        title()
    );
    assert!(title().contains("running"), "{}", title());

    // Ctrl+Alt+P: paused, and nothing more comes out.
    key("ctrl+alt+p");
    assert!(wait_until(5, || title().contains("paused")), "{}", title());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let frozen = ticks();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(ticks(), frozen, "the guest ran while paused");
    // Again: running, and the guest goes on.
    key("ctrl+alt+p");
    assert!(wait_until(5, || title().contains("running")), "{}", title());
    assert!(
        wait_until(30, || ticks() > frozen),
        "the guest did not resume"
    );

    // The mouse: a click grabs it; Ctrl+Alt+G releases it.
    let grabbed = || title().contains("mouse grabbed");
    xdotool(
        &x,
        &["mousemove", "--window", &win, "50", "50", "click", "1"],
    );
    assert!(wait_until(5, grabbed), "{}", title());
    key("ctrl+alt+g");
    assert!(wait_until(5, || !grabbed()), "{}", title());
    // Losing the focus releases it.
    xdotool(&x, &["click", "1"]);
    assert!(wait_until(5, grabbed), "{}", title());
    let root = xdotool(&x, &["search", "--maxdepth", "0", ""]);
    xdotool(&x, &["windowfocus", root.lines().next().unwrap()]);
    assert!(wait_until(5, || !grabbed()), "{}", title());
    // So does pausing.
    // (SDL ignores a click in the first 200 ms after the window gets the focus back.)
    xdotool(&x, &["windowfocus", "--sync", &win]);
    std::thread::sleep(std::time::Duration::from_millis(400));
    xdotool(&x, &["click", "1"]);
    assert!(wait_until(5, grabbed), "{}", title());
    key("ctrl+alt+p");
    assert!(
        wait_until(5, || title().contains("paused") && !grabbed()),
        "{}",
        title()
    );

    // Ctrl+Alt+Q quits, paused or not.
    key("ctrl+alt+q");
    let mut status = None;
    wait_until(10, || {
        status = emu.0.try_wait().unwrap();
        status.is_some()
    });
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "ironbox did not quit"
    );
}

#[test]
fn display_auto_without_x_is_headless_and_bad_display_is_an_error() {
    need_seabios();
    let out = Command::new(env!("CARGO_BIN_EXE_ironbox"))
        .args(["run", "--serial", "none", "--max-instructions", "1000000"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    check_exit(&out);
    let out = Command::new(env!("CARGO_BIN_EXE_ironbox"))
        .args(["run", "--display", "vnc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected sdl, none or auto"));
    let out = Command::new(env!("CARGO_BIN_EXE_ironbox"))
        .args(["run", "--display", "sdl"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("SDL_VIDEODRIVER", "x11")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--display none"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn help_lists_the_hotkeys() {
    let out = Command::new(env!("CARGO_BIN_EXE_ironbox"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for want in [
        "--display",
        "--screenshot",
        "--dump-screen-text",
        "Ctrl+Alt+P",
        "Ctrl+Alt+S",
        "Ctrl+Alt+End",
        "Ctrl+Alt+G",
        "Ctrl+Alt+Q",
    ] {
        assert!(help.contains(want), "{want} missing from --help:\n{help}");
    }
}
