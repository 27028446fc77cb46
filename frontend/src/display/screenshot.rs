//! Screenshots (PNG, 8-bit RGB, the guest's resolution) and text-screen dumps.

use std::path::Path;

use anyhow::Context;
use ironbox_devices::vga::Vga;

/// Write `pixels` (0x00RRGGBB, row-major, `w` x `h`) as an RGB PNG.
pub fn save_png(path: &Path, w: u32, h: u32, pixels: &[u32]) -> anyhow::Result<()> {
    anyhow::ensure!(
        w > 0 && h > 0 && pixels.len() >= (w * h) as usize,
        "screenshot: no picture ({w}x{h}, {} pixels)",
        pixels.len()
    );
    let f = std::fs::File::create(path)
        .with_context(|| format!("cannot create screenshot {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(f), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for &p in &pixels[..(w * h) as usize] {
        rgb.extend_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, p as u8]);
    }
    let mut wr = enc
        .write_header()
        .with_context(|| format!("writing screenshot {}", path.display()))?;
    wr.write_image_data(&rgb)
        .with_context(|| format!("writing screenshot {}", path.display()))?;
    wr.finish()
        .with_context(|| format!("writing screenshot {}", path.display()))?;
    Ok(())
}

/// Render the VGA as it is now (blink phase at `now`) and save it.
pub fn save_vga_png(vga: &mut Vga, now: u64, path: &Path) -> anyhow::Result<(u32, u32)> {
    let mut pixels = Vec::new();
    vga.set_time(now);
    let (w, h) = vga.render(&mut pixels);
    save_png(path, w, h, &pixels)?;
    Ok((w, h))
}

/// Write the text screen's rows, one a line (empty, with a note on stderr, in graphics modes).
pub fn save_text(vga: &Vga, path: &Path) -> anyhow::Result<()> {
    let text = match vga.text_snapshot() {
        Some(rows) => rows.join("\n") + "\n",
        None => {
            eprintln!("ironbox: --dump-screen-text: the screen is in a graphics mode; no text");
            String::new()
        }
    };
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// A file name for a hotkey screenshot that does not exist yet: `ironbox-N.png`.
pub fn next_free_name(dir: &Path) -> std::path::PathBuf {
    (1u32..)
        .map(|n| dir.join(format!("ironbox-{n}.png")))
        .find(|p| !p.exists())
        .expect("some name is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip() {
        let dir = std::env::temp_dir().join(format!("ironbox-png-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.png");
        let px: Vec<u32> = (0..6).map(|i| 0x10_20_30 * i).collect();
        save_png(&p, 3, 2, &px).unwrap();
        let dec = png::Decoder::new(std::fs::File::open(&p).unwrap());
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (3, 2));
        assert_eq!(&buf[3..6], &[0x10, 0x20, 0x30]);
        assert_eq!(&buf[15..18], &[0x50, 0xA0, 0xF0]);
        assert!(save_png(&p, 0, 2, &px).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
