//! Host key → PC key: SDL scancodes (USB HID usage positions, independent of the host's
//! keyboard layout) to the MF2 keyboard's scancode set 2 make codes, E0-prefixed keys, and the
//! two odd ones, Print Screen and Pause. The guest applies its own layout, as on real hardware.
//!
//! Sources: Microsoft's "Keyboard Scan Code Specification" (set 2 column and the USB HID usage
//! mapping in its annex); the unit test checks every entry against the 8042's set 2 → set 1
//! translation and the well-known set 1 codes.

use ironbox_devices::i8042::Key;
use sdl2::keyboard::Scancode as S;

/// The PC key at the position of an SDL scancode, `None` for keys a PC keyboard lacks.
pub fn pc_key(sc: S) -> Option<Key> {
    let n = |c| Some(Key::set2(c));
    let e = |c| Some(Key::extended(c));
    match sc {
        S::Escape => n(0x76),
        S::F1 => n(0x05),
        S::F2 => n(0x06),
        S::F3 => n(0x04),
        S::F4 => n(0x0C),
        S::F5 => n(0x03),
        S::F6 => n(0x0B),
        S::F7 => n(0x83),
        S::F8 => n(0x0A),
        S::F9 => n(0x01),
        S::F10 => n(0x09),
        S::F11 => n(0x78),
        S::F12 => n(0x07),
        S::PrintScreen | S::SysReq => Some(Key::PrintScreen),
        S::ScrollLock => n(0x7E),
        S::Pause => Some(Key::Pause),

        S::Grave => n(0x0E),
        S::Num1 => n(0x16),
        S::Num2 => n(0x1E),
        S::Num3 => n(0x26),
        S::Num4 => n(0x25),
        S::Num5 => n(0x2E),
        S::Num6 => n(0x36),
        S::Num7 => n(0x3D),
        S::Num8 => n(0x3E),
        S::Num9 => n(0x46),
        S::Num0 => n(0x45),
        S::Minus => n(0x4E),
        S::Equals => n(0x55),
        S::Backspace => n(0x66),

        S::Tab => n(0x0D),
        S::Q => n(0x15),
        S::W => n(0x1D),
        S::E => n(0x24),
        S::R => n(0x2D),
        S::T => n(0x2C),
        S::Y => n(0x35),
        S::U => n(0x3C),
        S::I => n(0x43),
        S::O => n(0x44),
        S::P => n(0x4D),
        S::LeftBracket => n(0x54),
        S::RightBracket => n(0x5B),
        // The US backslash and the ISO key left of Enter share a position code.
        S::Backslash | S::NonUsHash => n(0x5D),

        S::CapsLock => n(0x58),
        S::A => n(0x1C),
        S::S => n(0x1B),
        S::D => n(0x23),
        S::F => n(0x2B),
        S::G => n(0x34),
        S::H => n(0x33),
        S::J => n(0x3B),
        S::K => n(0x42),
        S::L => n(0x4B),
        S::Semicolon => n(0x4C),
        S::Apostrophe => n(0x52),
        S::Return => n(0x5A),

        S::LShift => n(0x12),
        S::NonUsBackslash => n(0x61),
        S::Z => n(0x1A),
        S::X => n(0x22),
        S::C => n(0x21),
        S::V => n(0x2A),
        S::B => n(0x32),
        S::N => n(0x31),
        S::M => n(0x3A),
        S::Comma => n(0x41),
        S::Period => n(0x49),
        S::Slash => n(0x4A),
        S::RShift => n(0x59),

        S::LCtrl => n(0x14),
        S::LGui => e(0x1F),
        S::LAlt => n(0x11),
        S::Space => n(0x29),
        S::RAlt => e(0x11),
        S::RGui => e(0x27),
        S::Application | S::Menu => e(0x2F),
        S::RCtrl => e(0x14),

        S::Insert => e(0x70),
        S::Home => e(0x6C),
        S::PageUp => e(0x7D),
        S::Delete => e(0x71),
        S::End => e(0x69),
        S::PageDown => e(0x7A),
        S::Up => e(0x75),
        S::Left => e(0x6B),
        S::Down => e(0x72),
        S::Right => e(0x74),

        S::NumLockClear => n(0x77),
        S::KpDivide => e(0x4A),
        S::KpMultiply => n(0x7C),
        S::KpMinus => n(0x7B),
        S::KpPlus => n(0x79),
        S::KpEnter => e(0x5A),
        S::Kp7 => n(0x6C),
        S::Kp8 => n(0x75),
        S::Kp9 => n(0x7D),
        S::Kp4 => n(0x6B),
        S::Kp5 => n(0x73),
        S::Kp6 => n(0x74),
        S::Kp1 => n(0x69),
        S::Kp2 => n(0x72),
        S::Kp3 => n(0x7A),
        S::Kp0 => n(0x70),
        S::KpPeriod => n(0x71),
        S::KpEquals => n(0x0F),
        S::KpComma => n(0x6D),

        // Japanese and Brazilian keys.
        S::International1 => n(0x51), // Ro
        S::International2 => n(0x13), // Katakana/Hiragana
        S::International3 => n(0x6A), // Yen
        S::International4 => n(0x64), // Henkan
        S::International5 => n(0x67), // Muhenkan

        // Windows / multimedia keys.
        S::Power => e(0x37),
        S::Sleep => e(0x3F),
        S::Mute | S::AudioMute => e(0x23),
        S::VolumeDown => e(0x21),
        S::VolumeUp => e(0x32),
        S::AudioNext => e(0x4D),
        S::AudioPrev => e(0x15),
        S::AudioStop => e(0x3B),
        S::AudioPlay => e(0x34),
        S::MediaSelect => e(0x50),
        S::Mail => e(0x48),
        S::Calculator => e(0x2B),
        S::Computer => e(0x40),
        S::AcSearch => e(0x10),
        S::AcHome => e(0x3A),
        S::AcBack => e(0x38),
        S::AcForward => e(0x30),
        S::AcStop => e(0x28),
        S::AcRefresh => e(0x20),
        S::AcBookmarks => e(0x18),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironbox_devices::i8042::translate_byte;

    /// Every key of the 101/102-key layout, by its set 1 make code (E0-prefixed when marked):
    /// the set 2 table above, run through the 8042's translation, must give these.
    #[test]
    fn set2_table_matches_set1_through_the_8042_translation() {
        #[rustfmt::skip]
        let set1: &[(S, u8, bool)] = &[
            (S::Escape, 0x01, false), (S::Num1, 0x02, false), (S::Num2, 0x03, false),
            (S::Num3, 0x04, false), (S::Num4, 0x05, false), (S::Num5, 0x06, false),
            (S::Num6, 0x07, false), (S::Num7, 0x08, false), (S::Num8, 0x09, false),
            (S::Num9, 0x0A, false), (S::Num0, 0x0B, false), (S::Minus, 0x0C, false),
            (S::Equals, 0x0D, false), (S::Backspace, 0x0E, false), (S::Tab, 0x0F, false),
            (S::Q, 0x10, false), (S::W, 0x11, false), (S::E, 0x12, false), (S::R, 0x13, false),
            (S::T, 0x14, false), (S::Y, 0x15, false), (S::U, 0x16, false), (S::I, 0x17, false),
            (S::O, 0x18, false), (S::P, 0x19, false), (S::LeftBracket, 0x1A, false),
            (S::RightBracket, 0x1B, false), (S::Return, 0x1C, false), (S::LCtrl, 0x1D, false),
            (S::A, 0x1E, false), (S::S, 0x1F, false), (S::D, 0x20, false), (S::F, 0x21, false),
            (S::G, 0x22, false), (S::H, 0x23, false), (S::J, 0x24, false), (S::K, 0x25, false),
            (S::L, 0x26, false), (S::Semicolon, 0x27, false), (S::Apostrophe, 0x28, false),
            (S::Grave, 0x29, false), (S::LShift, 0x2A, false), (S::Backslash, 0x2B, false),
            (S::Z, 0x2C, false), (S::X, 0x2D, false), (S::C, 0x2E, false), (S::V, 0x2F, false),
            (S::B, 0x30, false), (S::N, 0x31, false), (S::M, 0x32, false),
            (S::Comma, 0x33, false), (S::Period, 0x34, false), (S::Slash, 0x35, false),
            (S::RShift, 0x36, false), (S::KpMultiply, 0x37, false), (S::LAlt, 0x38, false),
            (S::Space, 0x39, false), (S::CapsLock, 0x3A, false), (S::F1, 0x3B, false),
            (S::F2, 0x3C, false), (S::F3, 0x3D, false), (S::F4, 0x3E, false),
            (S::F5, 0x3F, false), (S::F6, 0x40, false), (S::F7, 0x41, false),
            (S::F8, 0x42, false), (S::F9, 0x43, false), (S::F10, 0x44, false),
            (S::NumLockClear, 0x45, false), (S::ScrollLock, 0x46, false), (S::Kp7, 0x47, false),
            (S::Kp8, 0x48, false), (S::Kp9, 0x49, false), (S::KpMinus, 0x4A, false),
            (S::Kp4, 0x4B, false), (S::Kp5, 0x4C, false), (S::Kp6, 0x4D, false),
            (S::KpPlus, 0x4E, false), (S::Kp1, 0x4F, false), (S::Kp2, 0x50, false),
            (S::Kp3, 0x51, false), (S::Kp0, 0x52, false), (S::KpPeriod, 0x53, false),
            (S::NonUsBackslash, 0x56, false), (S::F11, 0x57, false), (S::F12, 0x58, false),
            (S::KpEnter, 0x1C, true), (S::RCtrl, 0x1D, true), (S::KpDivide, 0x35, true),
            (S::RAlt, 0x38, true), (S::Home, 0x47, true), (S::Up, 0x48, true),
            (S::PageUp, 0x49, true), (S::Left, 0x4B, true), (S::Right, 0x4D, true),
            (S::End, 0x4F, true), (S::Down, 0x50, true), (S::PageDown, 0x51, true),
            (S::Insert, 0x52, true), (S::Delete, 0x53, true), (S::LGui, 0x5B, true),
            (S::RGui, 0x5C, true), (S::Application, 0x5D, true),
            (S::International1, 0x73, false), (S::International3, 0x7D, false),
            (S::International4, 0x79, false), (S::International5, 0x7B, false),
            (S::International2, 0x70, false), (S::KpEquals, 0x59, false),
            (S::Mute, 0x20, true), (S::VolumeDown, 0x2E, true), (S::VolumeUp, 0x30, true),
            (S::AudioNext, 0x19, true), (S::AudioPrev, 0x10, true), (S::AudioPlay, 0x22, true),
            (S::AudioStop, 0x24, true), (S::Power, 0x5E, true), (S::Sleep, 0x5F, true),
            (S::AcHome, 0x32, true), (S::AcSearch, 0x65, true), (S::Mail, 0x6C, true),
            (S::Calculator, 0x21, true), (S::Computer, 0x6B, true), (S::AcBack, 0x6A, true),
            (S::AcForward, 0x69, true), (S::AcStop, 0x68, true), (S::AcRefresh, 0x67, true),
            (S::AcBookmarks, 0x66, true), (S::MediaSelect, 0x6D, true),
            (S::KpComma, 0x7E, false),
        ];
        for &(sc, code1, ext1) in set1 {
            match pc_key(sc) {
                Some(Key::Code { code, extended }) => {
                    assert_eq!(
                        (translate_byte(code), extended),
                        (code1, ext1),
                        "{sc:?}: set 2 {code:#04x} translates to {:#04x}",
                        translate_byte(code)
                    );
                    assert_eq!(Key::from_set1(code1, ext1), pc_key(sc), "{sc:?}");
                }
                k => panic!("{sc:?} maps to {k:?}"),
            }
        }
        assert_eq!(pc_key(S::PrintScreen), Some(Key::PrintScreen));
        assert_eq!(pc_key(S::Pause), Some(Key::Pause));
        assert_eq!(pc_key(S::F24), None);
        // Second names for the same key.
        for (a, b) in [
            (S::NonUsHash, S::Backslash),
            (S::Menu, S::Application),
            (S::SysReq, S::PrintScreen),
            (S::AudioMute, S::Mute),
        ] {
            assert_eq!(pc_key(a), pc_key(b));
        }
    }
}
