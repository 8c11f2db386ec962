//! The answer's images as they arrive (SPEC §11): decoded one at a time,
//! saved into `--images DIR` under the first free `image-N.EXT`, links
//! named, broken ones warned about; without `--images`, one warning after
//! the answer says how many there were.

use crate::answer::{Answer, Image};
use crate::atomic_file::publish;
use crate::chunk::ImagePart;
use crate::exit::io_reason;
use crate::image::{self, Source};
use crate::ui::Ui;
use std::path::PathBuf;

pub struct Images {
    /// `--images DIR`.
    dir: Option<PathBuf>,
    /// Images held but not saved (no `--images`).
    unsaved: u64,
}

impl Images {
    pub fn new(dir: Option<PathBuf>) -> Images {
        Images { dir, unsaved: 0 }
    }

    /// Deals with the image parts of one delta, one image in memory at a
    /// time, recording each in the answer.
    pub fn take(&mut self, parts: &[ImagePart<'_>], answer: &mut Answer, ui: &mut Ui) {
        for part in parts {
            let Some(url) = part.image_url.as_ref().and_then(|u| u.url.as_ref()) else {
                continue;
            };
            match image::source(url.as_str()) {
                Ok(Source::Link(link)) => {
                    ui.note(&format!("image: {link}"));
                    answer.push_image(Image::Link(link.to_string()));
                }
                Ok(Source::Data(bytes)) => {
                    let image = self.save(&bytes, ui);
                    answer.push_image(image);
                }
                Err(_) => {
                    ui.warn("an image of the answer is not a base64 data URL or a link: skipped")
                }
            }
        }
    }

    /// Saves decoded bytes into DIR (or counts them, without `--images`).
    fn save(&mut self, bytes: &[u8], ui: &mut Ui) -> Image {
        let (ext, mime) = image::kind(bytes);
        let size = bytes.len() as u64;
        let Some(dir) = &self.dir else {
            self.unsaved += 1;
            return Image::Data {
                path: None,
                mime,
                bytes: size,
            };
        };
        let path = match publish(dir, &|n| image::file_name(n, ext), bytes) {
            Ok(path) => {
                ui.note(&format!("saved {} ({size} bytes)", path.display()));
                Some(path.display().to_string())
            }
            Err(e) => {
                ui.warn(&format!(
                    "cannot save an image into {}: {}",
                    dir.display(),
                    io_reason(&e)
                ));
                None
            }
        };
        Image::Data {
            path,
            mime,
            bytes: size,
        }
    }

    /// After the answer: images held but not saved are one warning.
    pub fn end(&self, ui: &mut Ui) {
        match self.unsaved {
            0 => {}
            1 => ui.warn("the answer held 1 image, not saved: add --images DIR to save it"),
            n => ui.warn(&format!(
                "the answer held {n} images, not saved: add --images DIR to save them"
            )),
        }
    }
}
