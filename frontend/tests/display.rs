//! The display end to end: SeaBIOS (no disks, deterministic) prints its banner on the VGA text
//! screen; `--dump-screen-text` must show it, and the PNG from `--screenshot` must have ink in
//! exactly the character cells of the banner's text row. Once headless (no X at all), once in
//! a real SDL window under Xvfb, where the window's own screenshot path (the Ctrl+Alt+S code)
//! and a read-back of the window's pixels must agree with it.

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

/// `ironbox` in a window on a private X server (Xvfb). SDL's software renderer: Mesa's GL
/// emulation would only burn the CPU the guest needs.
/// `xvfb-run -a` picks a free display number racily: one X server at a time.
static XVFB: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn under_xvfb(args: &[String], envs: &[(&str, &Path)]) -> Output {
    let _one = XVFB.lock().unwrap_or_else(|e| e.into_inner());
    let have_xvfb = Command::new("xvfb-run").arg("--help").output().is_ok();
    assert!(
        have_xvfb,
        "xvfb-run is missing: install Debian's `xvfb` and `xauth` packages (scripts/setup-deps.sh)"
    );
    let mut c = Command::new("xvfb-run");
    c.args(["-a", "-s", "-screen 0 1280x1024x24"])
        .arg(env!("CARGO_BIN_EXE_ironbox"))
        .args(args)
        .env("SDL_VIDEODRIVER", "x11")
        .env("SDL_RENDER_DRIVER", "software");
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
