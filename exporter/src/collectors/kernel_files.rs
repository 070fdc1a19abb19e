//! Reads small `/proc` and `/sys` files with as few system calls as possible.
//!
//! `std::fs::read_to_string` asks for the file's size first (a `statx` and an `lseek`),
//! useless here: procfs reports 0 and sysfs 4096 for everything. A scrape reads ~130 such
//! files. [`AttrDir`] further opens the attributes of one sysfs directory relative to a
//! directory fd instead of walking the whole path again for each (netclass reads up to 22
//! attributes per interface per scrape, 6 when rtnetlink supplies the rest), with one `read`
//! each.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

/// Enough for most `/proc` files in one `read`.
const CHUNK: usize = 8192;

/// `std::fs::read_to_string` without the size probe.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    let mut buf = Vec::new();
    read_into(path, &mut buf)?;
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `File::read_to_end` into `buf` (cleared first, its allocation reused) without the size
/// probe, for callers that read many files per scrape (a few per process).
pub fn read_into(path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    buf.clear();
    let mut chunk = [0u8; CHUNK];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// How many descriptors a `/proc/PID/fd` directory holds. On a `live` procfs the size
/// `stat(2)` reports for it is that count (Linux ≥ 6.2): one syscall instead of a listing.
/// Otherwise (older kernels report 0; fixture trees) the directory is listed, counting only
/// numeric names, since a fixture may hold placeholders (`.gitkeep`).
pub fn fd_count(dir: &Path, live: bool) -> io::Result<u64> {
    if live
        && let Ok(stat) = rustix::fs::stat(dir)
        && stat.st_size > 0
    {
        return Ok(stat.st_size as u64);
    }
    let numeric = |e: &std::fs::DirEntry| {
        e.file_name()
            .to_str()
            .is_some_and(|n| n.parse::<u32>().is_ok())
    };
    Ok(std::fs::read_dir(dir)?.flatten().filter(numeric).count() as u64)
}

/// An open sysfs directory whose attributes are read by name.
pub struct AttrDir {
    dir: OwnedFd,
    buf: Vec<u8>,
}

impl AttrDir {
    pub fn open(path: &Path) -> io::Result<Self> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Ok(Self {
            dir: rustix::fs::open(path, flags, Mode::empty())?,
            buf: Vec::with_capacity(256),
        })
    }

    /// The attribute's text without the trailing newline.
    pub fn read(&mut self, name: &str) -> io::Result<&str> {
        let file = rustix::fs::openat(
            &self.dir,
            name,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        loop {
            let n = rustix::io::read(&file, &mut chunk[..])?;
            self.buf.extend_from_slice(&chunk[..n]);
            // A sysfs attribute is one `show()` record that the kernel hands out whole: a read
            // that did not fill the buffer has reached the end, so the usual second read
            // that returns 0 is skipped. (Not so for multi-record /proc files, which stop
            // short before a record that does not fit; those go through read_to_string.)
            if n < chunk.len() {
                break;
            }
        }
        let text = std::str::from_utf8(&self.buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(text.trim_end_matches('\n'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_attributes_relative_to_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mtu"), "1500\n").unwrap();
        std::fs::write(dir.path().join("address"), "aa:bb\n").unwrap();
        let mut attrs = AttrDir::open(dir.path()).unwrap();
        assert_eq!(attrs.read("mtu").unwrap(), "1500");
        assert_eq!(attrs.read("address").unwrap(), "aa:bb");
        let missing = attrs.read("speed").unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert!(AttrDir::open(&dir.path().join("mtu")).is_err());
    }

    #[test]
    fn reads_whole_files_larger_than_one_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let text = "x".repeat(3 * CHUNK + 17);
        std::fs::write(&path, &text).unwrap();
        assert_eq!(read_to_string(&path).unwrap(), text);
        let mut attrs = AttrDir::open(dir.path()).unwrap();
        assert_eq!(attrs.read("big").unwrap(), text);
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_to_string(&path).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            read_to_string(&dir.path().join("missing"))
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
    }
}
