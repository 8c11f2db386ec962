//! Which file, and which version of it: device, inode, size and mtime.
//!
//! The inode tells a rename over a path; size and mtime tell a program that
//! rewrote the file in place (an advisory lock only keeps other orstreams
//! out, and an attachment must be the bytes that were counted and sent).

use std::os::unix::fs::MetadataExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
}

impl FileId {
    pub fn of(meta: &std::fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }
}
