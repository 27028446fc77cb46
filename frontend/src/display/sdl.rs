//! The SDL2 window: draws the frames the machine thread sends, letterboxed (the guest picture
//! keeps its aspect ratio, black bars fill the rest) at any window size; turns keyboard and
//! mouse events into [`ToMachine`] messages; implements the Ctrl+Alt hotkeys.
//!
//! Keys: SDL scancodes (positions) → set 2 make codes (`keymap.rs`); SDL's key repeat arrives
//! as repeated makes, which is what a PC keyboard's typematic repeat looks like to the guest.
//! Keys held when focus goes or the machine pauses are released towards the guest, so none
//! sticks. Mouse: relative motion while grabbed (click into the window to grab; Ctrl+Alt+G,
//! focus loss or a pause releases).
//!
//! Pause: Ctrl+Alt+P flips the machine's [`PauseHandle`]; the title shows the handle's state,
//! whoever changed it.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use ironbox_devices::i8042::Key;
use ironbox_machine::pc::control::PauseHandle;
use sdl2::event::{Event, WindowEvent};
use sdl2::keyboard::{Mod, Scancode};
use sdl2::mouse::{MouseButton, MouseWheelDirection};
use sdl2::pixels::{Color, PixelFormatEnum};
use sdl2::rect::Rect;
use sdl2::render::{Texture, TextureCreator, WindowCanvas};
use sdl2::video::{FullscreenType, WindowContext};

use super::keymap::pc_key;
use super::screenshot::{next_free_name, save_png};
use super::{Frame, ToMachine, ToWindow};

/// An initialised SDL video subsystem (made on the main thread, before the machine starts).
pub struct Sdl {
    ctx: sdl2::Sdl,
    video: sdl2::VideoSubsystem,
}

impl Sdl {
    pub fn init() -> Result<Sdl, String> {
        let ctx = sdl2::init()?;
        let video = ctx.video()?;
        Ok(Sdl { ctx, video })
    }

    /// Run the window until the machine finishes or the user quits.
    pub fn run(
        self,
        rx: Receiver<ToWindow>,
        tx: Sender<ToMachine>,
        recycle: Sender<Vec<u32>>,
        pause: PauseHandle,
    ) -> anyhow::Result<()> {
        sdl2::hint::set("SDL_RENDER_SCALE_QUALITY", "nearest");
        // Tests: a fixed window size ("WxH") that the guest's mode changes do not alter.
        let fixed = std::env::var("IRONBOX_TEST_WINDOW_SIZE")
            .ok()
            .and_then(|v| {
                let (w, h) = v.split_once('x')?;
                Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?))
            });
        let (w0, h0) = fixed.unwrap_or((720, 400));
        let window = self
            .video
            .window("ironbox", w0, h0)
            .position_centered()
            .resizable()
            .allow_highdpi()
            .build()
            .map_err(|e| anyhow!("cannot create the window: {e}"))?;
        let canvas = window
            .into_canvas()
            .build()
            .map_err(|e| anyhow!("cannot create a renderer: {e}"))?;
        let creator = canvas.texture_creator();
        let events = self.ctx.event_pump().map_err(|e| anyhow!(e))?;
        let mut w = Window {
            mouse: self.ctx.mouse(),
            desktop: self.video.desktop_display_mode(0).ok().map(|m| (m.w, m.h)),
            canvas,
            creator: &creator,
            texture: None,
            frame: None,
            auto_size: fixed.is_none().then_some((w0, h0)),
            tx,
            recycle,
            pause,
            paused: false,
            grabbed: false,
            mips: 0.0,
            held: HashSet::new(),
            swallowed: HashSet::new(),
            buttons: 0,
            quit: false,
            test_press: None,
        };
        // Tests: press and release this key (an SDL scancode name) every 200 ms, through SDL's
        // own event queue, so the whole path from SDL event to guest is exercised.
        if let Some(name) = std::env::var_os("IRONBOX_TEST_PRESS") {
            let name = name.to_string_lossy();
            let sc = Scancode::from_name(&name)
                .ok_or_else(|| anyhow!("IRONBOX_TEST_PRESS: no scancode {name:?}"))?;
            let ev = self.ctx.event().map_err(|e| anyhow!(e))?;
            w.test_press = Some((sc, ev, Instant::now()));
        }
        w.update_title();
        w.event_loop(events, &rx);
        // Tests: save what the window shows, through the hotkey's screenshot path and as read
        // back from the renderer (the letterboxed picture in the window).
        if let Some(dir) = std::env::var_os("IRONBOX_TEST_WINDOW_SHOTS") {
            let dir = PathBuf::from(dir);
            w.screenshot_in(&dir);
            w.draw();
            let (ww, wh) = w.canvas.output_size().map_err(|e| anyhow!(e))?;
            let bytes = w
                .canvas
                .read_pixels(None, PixelFormatEnum::RGB888)
                .map_err(|e| anyhow!(e))?;
            let px: Vec<u32> = bytes
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0xFF_FFFF)
                .collect();
            save_png(&dir.join("window.png"), ww, wh, &px)?;
        }
        Ok(())
    }
}

struct Window<'t> {
    mouse: sdl2::mouse::MouseUtil,
    desktop: Option<(i32, i32)>,
    canvas: WindowCanvas,
    creator: &'t TextureCreator<WindowContext>,
    /// Streaming texture and its size.
    texture: Option<(Texture<'t>, u32, u32)>,
    frame: Option<Frame>,
    /// The window size we last chose for the guest's resolution; `None` once the user resized.
    auto_size: Option<(u32, u32)>,
    tx: Sender<ToMachine>,
    recycle: Sender<Vec<u32>>,
    /// The machine's run control; `paused` is its state as the window last showed it.
    pause: PauseHandle,
    paused: bool,
    grabbed: bool,
    mips: f64,
    /// Keys the guest has seen go down (and not yet up).
    held: HashSet<Scancode>,
    /// Hotkey keys: their release is not sent either.
    swallowed: HashSet<Scancode>,
    buttons: u8,
    quit: bool,
    test_press: Option<(Scancode, sdl2::EventSubsystem, Instant)>,
}

impl Window<'_> {
    fn event_loop(&mut self, mut events: sdl2::EventPump, rx: &Receiver<ToWindow>) {
        loop {
            self.test_press();
            self.sync_pause();
            let (mut dx, mut dy, mut dz) = (0, 0, 0);
            for ev in events.poll_iter() {
                self.event(ev, &mut dx, &mut dy, &mut dz);
            }
            if (dx, dy, dz) != (0, 0, 0) {
                self.send(ToMachine::Mouse {
                    dx,
                    dy,
                    dz,
                    buttons: self.buttons,
                });
            }
            if self.quit {
                let _ = self.tx.send(ToMachine::Quit);
                return;
            }
            // Frames (the newest wins), stats, the end.
            let mut newest = None;
            let mut finished = false;
            let first = match rx.recv_timeout(Duration::from_millis(8)) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            for m in first.into_iter().chain(rx.try_iter()) {
                match m {
                    ToWindow::Frame(f) => {
                        if let Some(old) = newest.replace(f) {
                            let _ = self.recycle.send(old.pixels);
                        }
                    }
                    ToWindow::Stats { mips } => {
                        self.mips = mips;
                        self.update_title();
                    }
                    ToWindow::Finished => finished = true,
                }
            }
            if let Some(f) = newest {
                self.show(f);
            }
            if finished {
                return;
            }
        }
    }

    fn test_press(&mut self) {
        let id = self.canvas.window().id();
        let Some((sc, ev, last)) = &mut self.test_press else {
            return;
        };
        if last.elapsed() < Duration::from_millis(200) {
            return;
        }
        *last = Instant::now();
        for down in [true, false] {
            let (timestamp, window_id, keycode, scancode) = (0, id, None, Some(*sc));
            let (keymod, repeat) = (Mod::NOMOD, false);
            let e = if down {
                Event::KeyDown {
                    timestamp,
                    window_id,
                    keycode,
                    scancode,
                    keymod,
                    repeat,
                }
            } else {
                Event::KeyUp {
                    timestamp,
                    window_id,
                    keycode,
                    scancode,
                    keymod,
                    repeat,
                }
            };
            let _ = ev.push_event(e);
        }
    }

    fn send(&self, m: ToMachine) {
        let _ = self.tx.send(m);
    }

    fn event(&mut self, ev: Event, dx: &mut i32, dy: &mut i32, dz: &mut i32) {
        match ev {
            Event::Quit { .. } => self.quit = true,
            Event::Window { win_event, .. } => match win_event {
                WindowEvent::FocusLost => {
                    self.release_keys();
                    self.set_grab(false);
                }
                WindowEvent::Close => self.quit = true,
                WindowEvent::Exposed | WindowEvent::SizeChanged(..) => {
                    if let (Some((aw, ah)), (cw, ch)) =
                        (self.auto_size, self.canvas.window().size())
                    {
                        if (aw, ah) != (cw, ch) {
                            self.auto_size = None;
                        }
                    }
                    self.draw();
                    self.canvas.present();
                }
                _ => {}
            },
            Event::KeyDown {
                scancode: Some(sc),
                keymod,
                repeat,
                ..
            } => {
                let ctrl = keymod.intersects(Mod::LCTRLMOD | Mod::RCTRLMOD);
                let alt = keymod.intersects(Mod::LALTMOD | Mod::RALTMOD);
                if ctrl && alt && (self.swallowed.contains(&sc) || self.hotkey(sc, repeat)) {
                    self.swallowed.insert(sc);
                    return;
                }
                if self.paused {
                    return;
                }
                if let Some(k) = pc_key(sc) {
                    self.held.insert(sc);
                    self.send(ToMachine::Key(k, true));
                }
            }
            Event::KeyUp {
                scancode: Some(sc), ..
            } => {
                if self.swallowed.remove(&sc) {
                    return;
                }
                if self.held.remove(&sc) {
                    if let Some(k) = pc_key(sc) {
                        self.send(ToMachine::Key(k, false));
                    }
                }
            }
            Event::MouseButtonDown { mouse_btn, .. } => {
                if !self.grabbed {
                    if !self.paused && mouse_btn == MouseButton::Left {
                        self.set_grab(true);
                    }
                    return;
                }
                self.buttons |= button_bit(mouse_btn);
                self.send_buttons();
            }
            Event::MouseButtonUp { mouse_btn, .. } => {
                let bit = button_bit(mouse_btn);
                if self.buttons & bit != 0 {
                    self.buttons &= !bit;
                    self.send_buttons();
                }
            }
            Event::MouseMotion { xrel, yrel, .. } if self.grabbed => {
                *dx += xrel;
                *dy += yrel;
            }
            Event::MouseWheel { y, direction, .. } if self.grabbed => {
                *dz += if direction == MouseWheelDirection::Flipped {
                    -y
                } else {
                    y
                };
            }
            _ => {}
        }
    }

    fn send_buttons(&self) {
        self.send(ToMachine::Mouse {
            dx: 0,
            dy: 0,
            dz: 0,
            buttons: self.buttons,
        });
    }

    /// Ctrl+Alt+`sc`: act and return true if it is a hotkey.
    fn hotkey(&mut self, sc: Scancode, repeat: bool) -> bool {
        let known = matches!(
            sc,
            Scancode::P | Scancode::S | Scancode::End | Scancode::G | Scancode::F | Scancode::Q
        );
        if !known || repeat {
            return known;
        }
        match sc {
            Scancode::P => {
                self.pause.toggle();
                self.sync_pause();
            }
            Scancode::S => {
                let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
                self.screenshot_in(&dir);
            }
            Scancode::End => self.ctrl_alt_del(),
            Scancode::G => self.set_grab(false),
            Scancode::F => {
                let win = self.canvas.window_mut();
                let next = match win.fullscreen_state() {
                    FullscreenType::Off => FullscreenType::Desktop,
                    _ => FullscreenType::Off,
                };
                self.auto_size = None;
                if let Err(e) = win.set_fullscreen(next) {
                    eprintln!("ironbox: full screen: {e}");
                }
            }
            Scancode::Q => self.quit = true,
            _ => {}
        }
        true
    }

    /// Ctrl+Alt+Del towards the guest, pressing Ctrl and Alt only if the guest does not already
    /// see them held.
    fn ctrl_alt_del(&mut self) {
        if self.paused {
            return;
        }
        let ctrl = !self.held.contains(&Scancode::LCtrl) && !self.held.contains(&Scancode::RCtrl);
        let alt = !self.held.contains(&Scancode::LAlt) && !self.held.contains(&Scancode::RAlt);
        let (lctrl, lalt, del) = (Key::set2(0x14), Key::set2(0x11), Key::extended(0x71));
        if ctrl {
            self.send(ToMachine::Key(lctrl, true));
        }
        if alt {
            self.send(ToMachine::Key(lalt, true));
        }
        self.send(ToMachine::Key(del, true));
        self.send(ToMachine::Key(del, false));
        if alt {
            self.send(ToMachine::Key(lalt, false));
        }
        if ctrl {
            self.send(ToMachine::Key(lctrl, false));
        }
    }

    /// Follow the machine's pause state: on pausing, release keys, buttons and the mouse.
    fn sync_pause(&mut self) {
        let p = self.pause.is_paused();
        if p == self.paused {
            return;
        }
        if p {
            self.release_keys();
            self.set_grab(false);
        }
        self.paused = p;
        self.update_title();
    }

    /// Send releases for every key the guest sees held.
    fn release_keys(&mut self) {
        for sc in std::mem::take(&mut self.held) {
            if let Some(k) = pc_key(sc) {
                self.send(ToMachine::Key(k, false));
            }
        }
        if self.buttons != 0 {
            self.buttons = 0;
            self.send_buttons();
        }
    }

    fn set_grab(&mut self, on: bool) {
        if on == self.grabbed {
            return;
        }
        self.grabbed = on;
        self.mouse.set_relative_mouse_mode(on);
        self.canvas.window_mut().set_grab(on);
        if !on && self.buttons != 0 {
            self.buttons = 0;
            self.send_buttons();
        }
        self.update_title();
    }

    fn update_title(&mut self) {
        let state = if self.paused {
            "paused".to_string()
        } else {
            format!("running, {:.1} MIPS", self.mips)
        };
        let grab = if self.grabbed {
            " - mouse grabbed, Ctrl+Alt+G releases"
        } else {
            ""
        };
        let _ = self
            .canvas
            .window_mut()
            .set_title(&format!("ironbox - {state}{grab}"));
    }

    /// Save the picture shown now as `ironbox-N.png` in `dir`.
    fn screenshot_in(&self, dir: &std::path::Path) {
        let Some(f) = &self.frame else {
            eprintln!("ironbox: screenshot: nothing on the screen yet");
            return;
        };
        let path = next_free_name(dir);
        match save_png(&path, f.w, f.h, &f.pixels) {
            Ok(()) => eprintln!("ironbox: screenshot saved to {}", path.display()),
            Err(e) => eprintln!("ironbox: {e:#}"),
        }
    }

    /// Take a new frame: upload it, fit the window to a new guest resolution, draw.
    fn show(&mut self, f: Frame) {
        let size_changed = self
            .texture
            .as_ref()
            .is_none_or(|(_, w, h)| (*w, *h) != (f.w, f.h));
        if size_changed {
            self.texture = self
                .creator
                .create_texture_streaming(PixelFormatEnum::RGB888, f.w, f.h)
                .ok()
                .map(|t| (t, f.w, f.h));
            // Follow the guest's resolution unless the user sized the window (or the mode is
            // too small to be a real one).
            if self.auto_size.is_some() && f.w >= 160 && f.h >= 100 {
                let size = self.fit(f.w, f.h);
                let _ = self.canvas.window_mut().set_size(size.0, size.1);
                self.auto_size = Some(self.canvas.window().size());
            }
        }
        if let Some((tex, w, _)) = &mut self.texture {
            // SAFETY: u32 slice viewed as its bytes; RGB888 is 0x00RRGGBB per native u32.
            let bytes = unsafe {
                std::slice::from_raw_parts(f.pixels.as_ptr() as *const u8, f.pixels.len() * 4)
            };
            let _ = tex.update(None, bytes, *w as usize * 4);
        }
        if let Some(old) = self.frame.replace(f) {
            let _ = self.recycle.send(old.pixels);
        }
        self.draw();
        self.canvas.present();
    }

    /// A window size for a guest picture: small modes doubled, big ones kept within the desktop.
    fn fit(&self, w: u32, h: u32) -> (u32, u32) {
        let (dw, dh) = self.desktop.map_or((1920, 1080), |(a, b)| {
            (a.max(640) as u32, b.max(480) as u32)
        });
        let (maxw, maxh) = (dw * 9 / 10, dh * 9 / 10);
        let mut s = if h <= 300 { 2.0 } else { 1.0 };
        s = f64::min(s, f64::min(maxw as f64 / w as f64, maxh as f64 / h as f64));
        (
            ((w as f64 * s).round() as u32).max(1),
            ((h as f64 * s).round() as u32).max(1),
        )
    }

    /// Draw the current frame letterboxed into the window (not presented).
    fn draw(&mut self) {
        self.canvas.set_draw_color(Color::RGB(0, 0, 0));
        self.canvas.clear();
        let Some((tex, w, h)) = &self.texture else {
            return;
        };
        let Ok((ow, oh)) = self.canvas.output_size() else {
            return;
        };
        let _ = self.canvas.copy(tex, None, letterbox(*w, *h, ow, oh));
    }
}

/// The largest rectangle of the picture's aspect ratio that fits the window, centred.
fn letterbox(w: u32, h: u32, ow: u32, oh: u32) -> Rect {
    let s = f64::min(ow as f64 / w as f64, oh as f64 / h as f64);
    let (dw, dh) = (
        ((w as f64 * s).round() as u32).clamp(1, ow.max(1)),
        ((h as f64 * s).round() as u32).clamp(1, oh.max(1)),
    );
    Rect::new(((ow - dw) / 2) as i32, ((oh - dh) / 2) as i32, dw, dh)
}

/// PS/2 button bits: 0 left, 1 right, 2 middle, 3 side, 4 extra.
fn button_bit(b: MouseButton) -> u8 {
    match b {
        MouseButton::Left => 1,
        MouseButton::Right => 2,
        MouseButton::Middle => 4,
        MouseButton::X1 => 8,
        MouseButton::X2 => 16,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_keeps_the_aspect_ratio_and_centres() {
        assert_eq!(letterbox(720, 400, 720, 400), Rect::new(0, 0, 720, 400));
        assert_eq!(letterbox(720, 400, 1440, 800), Rect::new(0, 0, 1440, 800));
        // Wider window: bars left and right.
        assert_eq!(letterbox(640, 480, 1000, 480), Rect::new(180, 0, 640, 480));
        // Taller window: bars top and bottom.
        assert_eq!(letterbox(320, 200, 640, 1000), Rect::new(0, 300, 640, 400));
        assert_eq!(letterbox(1024, 768, 512, 600), Rect::new(0, 108, 512, 384));
    }

    #[test]
    fn mouse_buttons_map_to_ps2_bits() {
        assert_eq!(button_bit(MouseButton::Left), 1);
        assert_eq!(button_bit(MouseButton::Right), 2);
        assert_eq!(button_bit(MouseButton::Middle), 4);
    }
}
