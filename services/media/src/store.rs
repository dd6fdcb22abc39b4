//! The object store: one file per object under `<data>/objects`, written to a temporary
//! name and renamed (readers never see half an upload), seeded with generated images.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{ImageFormat, Rgb, RgbImage};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object store: {0}")]
    Io(#[from] std::io::Error),
    #[error("image: {0}")]
    Image(#[from] image::ImageError),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ObjectInfo {
    pub name: String,
    pub size: u64,
    pub content_type: String,
}

#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// Names are one path segment of safe characters (no `/`, no leading dot).
pub fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

pub fn content_type(name: &str) -> String {
    mime_guess::from_path(name).first_or_octet_stream().essence_str().to_string()
}

impl Store {
    /// Opens `<data_dir>/objects`, seeding it with generated images on first start.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let store = Store { dir: data_dir.join("objects") };
        std::fs::create_dir_all(&store.dir)?;
        let marker = data_dir.join(".seeded");
        if !marker.exists() {
            store.seed()?;
            std::fs::write(&marker, b"")?;
        }
        Ok(store)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A private temporary path next to the objects (same filesystem, so rename is atomic).
    pub fn temp_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), rand::random::<u64>()))
    }

    pub fn put(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let tmp = self.temp_path(name);
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, self.path(name))?;
        Ok(())
    }

    pub fn list(&self) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry.metadata()?;
            if meta.is_file() && valid_name(&name) {
                out.push(ObjectInfo { content_type: content_type(&name), size: meta.len(), name });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Decodes the object and resizes it with a Lanczos filter to fit `size`×`size`: real CPU work.
    pub fn thumbnail(&self, name: &str, size: u32) -> Result<Vec<u8>, StoreError> {
        let img = image::open(self.path(name))?;
        let thumb = img.resize(size, size, FilterType::Lanczos3);
        let mut out = Cursor::new(Vec::new());
        thumb.write_to(&mut out, ImageFormat::Png)?;
        Ok(out.into_inner())
    }

    fn seed(&self) -> Result<(), StoreError> {
        let images: [(&str, RgbImage); 3] = [
            ("mandelbrot.png", mandelbrot(960, 720)),
            ("sunset.png", sunset(1024, 768)),
            ("tiles.png", tiles(800, 800)),
        ];
        for (name, img) in images {
            let mut png = Cursor::new(Vec::new());
            img.write_to(&mut png, ImageFormat::Png)?;
            self.put(name, png.get_ref())?;
        }
        self.put("welcome.txt", b"Objects of the Microdeck sample cluster. Try GET /api/media/objects/sunset.png/thumbnail?size=128\n")?;
        Ok(())
    }
}

fn mandelbrot(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let (cx, cy) = (x as f64 / w as f64 * 3.0 - 2.2, y as f64 / h as f64 * 2.4 - 1.2);
        let (mut zx, mut zy, mut i) = (0.0f64, 0.0f64, 0u32);
        while zx * zx + zy * zy < 4.0 && i < 48 {
            (zx, zy) = (zx * zx - zy * zy + cx, 2.0 * zx * zy + cy);
            i += 1;
        }
        let t = i as f64 / 48.0;
        Rgb([(9.0 * (1.0 - t) * t * t * t * 255.0) as u8, (15.0 * (1.0 - t).powi(2) * t * t * 255.0) as u8, (8.5 * (1.0 - t).powi(3) * t * 255.0) as u8])
    })
}

fn sunset(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let t = y as f32 / h as f32;
        let (dx, dy) = (x as f32 - w as f32 / 2.0, y as f32 - h as f32 * 0.65);
        if dx * dx + dy * dy < (h as f32 * 0.15).powi(2) {
            Rgb([255, 210, 90])
        } else if t > 0.7 {
            Rgb([20, 40 + (60.0 * (1.0 - t)) as u8, 90])
        } else {
            Rgb([(250.0 - 60.0 * t) as u8, (80.0 + 120.0 * t) as u8, (120.0 + 60.0 * t) as u8])
        }
    })
}

fn tiles(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let (tx, ty) = (x / 50, y / 50);
        let shade = ((x % 50) + (y % 50)) as u8;
        Rgb([(tx * 16) as u8 ^ shade, (ty * 16) as u8, ((tx + ty) % 2 * 200) as u8 + shade / 2])
    })
}
