//! Deterministic writer for cpio "newc" (magic `070701`) archives, the format the
//! kernel unpacks as an initramfs.
//!
//! Each entry is a 110-byte ASCII header (magic + 13 fields of 8 hex digits), the
//! NUL-terminated name padded so header + name is a multiple of 4 bytes, then the
//! data padded to a multiple of 4. The archive ends with an entry named `TRAILER!!!`.
//! Nothing depends on the host (inode numbers count up from 1, mtime defaults to 0),
//! so the same calls always give the same bytes.

use std::io::Write;

use anyhow::{bail, Context, Result};

const MAGIC: &str = "070701";
const TRAILER: &str = "TRAILER!!!";
const HEADER_LEN: usize = 110;

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFBLK: u32 = 0o060_000;

/// Permission bits, ownership and time of one entry. `mode` holds only the
/// permission bits (including setuid/setgid/sticky, at most `0o7777`); the
/// writer adds the file-type bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
}

impl Metadata {
    /// Owned by root, mtime 0.
    pub fn new(mode: u32) -> Self {
        Metadata {
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
        }
    }

    pub fn owner(mut self, uid: u32, gid: u32) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    pub fn mtime(mut self, mtime: u32) -> Self {
        self.mtime = mtime;
        self
    }
}

/// Character or block device node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Char,
    Block,
}

/// Streams a newc archive into `W`. Call [`CpioWriter::finish`] to write the
/// trailer; dropping the writer without it leaves a truncated archive.
pub struct CpioWriter<W: Write> {
    out: W,
    next_ino: u32,
    written: u64,
}

struct Header {
    mode: u32,
    meta: Metadata,
    nlink: u32,
    filesize: u32,
    rdev_major: u32,
    rdev_minor: u32,
}

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W) -> Self {
        CpioWriter {
            out,
            next_ino: 1,
            written: 0,
        }
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    pub fn add_dir(&mut self, path: &str, meta: Metadata) -> Result<()> {
        // A directory's link count is 2 (itself and "."); the kernel ignores it anyway.
        self.entry(path, S_IFDIR, meta, 2, &[], 0, 0)
            .with_context(|| format!("cpio: directory {path}"))
    }

    pub fn add_file(&mut self, path: &str, meta: Metadata, data: &[u8]) -> Result<()> {
        self.entry(path, S_IFREG, meta, 1, data, 0, 0)
            .with_context(|| format!("cpio: file {path}"))
    }

    /// The link target is stored as the entry's data, without a NUL.
    pub fn add_symlink(&mut self, path: &str, meta: Metadata, target: &str) -> Result<()> {
        let res = if target.is_empty() {
            Err(anyhow::anyhow!("empty symlink target"))
        } else if target.contains('\0') {
            Err(anyhow::anyhow!("symlink target contains a NUL byte"))
        } else {
            self.entry(path, S_IFLNK, meta, 1, target.as_bytes(), 0, 0)
        };
        res.with_context(|| format!("cpio: symlink {path} -> {target}"))
    }

    pub fn add_device(
        &mut self,
        path: &str,
        meta: Metadata,
        kind: DeviceKind,
        major: u32,
        minor: u32,
    ) -> Result<()> {
        let ty = match kind {
            DeviceKind::Char => S_IFCHR,
            DeviceKind::Block => S_IFBLK,
        };
        self.entry(path, ty, meta, 1, &[], major, minor)
            .with_context(|| format!("cpio: device {path}"))
    }

    /// Writes the trailer and returns the underlying writer.
    pub fn finish(mut self) -> Result<W> {
        self.write_entry(
            TRAILER,
            &Header {
                mode: 0,
                meta: Metadata::new(0),
                nlink: 1,
                filesize: 0,
                rdev_major: 0,
                rdev_minor: 0,
            },
            0,
            &[],
        )
        .context("cpio: writing trailer")?;
        self.out.flush().context("cpio: flushing output")?;
        Ok(self.out)
    }

    #[allow(clippy::too_many_arguments)]
    fn entry(
        &mut self,
        path: &str,
        file_type: u32,
        meta: Metadata,
        nlink: u32,
        data: &[u8],
        rdev_major: u32,
        rdev_minor: u32,
    ) -> Result<()> {
        validate_name(path)?;
        if meta.mode & !0o7777 != 0 {
            bail!(
                "mode {:#o} has bits outside 0o7777 (give permission bits only)",
                meta.mode
            );
        }
        let filesize = u32::try_from(data.len())
            .with_context(|| format!("{} bytes do not fit in a newc entry", data.len()))?;
        let ino = self.next_ino;
        self.next_ino = ino.checked_add(1).context("inode numbers exhausted")?;
        let header = Header {
            mode: file_type | meta.mode,
            meta,
            nlink,
            filesize,
            rdev_major,
            rdev_minor,
        };
        self.write_entry(path, &header, ino, data)
    }

    fn write_entry(&mut self, name: &str, h: &Header, ino: u32, data: &[u8]) -> Result<()> {
        let namesize = name.len() + 1;
        let mut buf = Vec::with_capacity(HEADER_LEN + namesize + 3);
        buf.extend_from_slice(MAGIC.as_bytes());
        let fields = [
            ino,
            h.mode,
            h.meta.uid,
            h.meta.gid,
            h.nlink,
            h.meta.mtime,
            h.filesize,
            0, // devmajor: device holding the file, meaningless here
            0, // devminor
            h.rdev_major,
            h.rdev_minor,
            u32::try_from(namesize).context("name too long")?,
            0, // check: only used by the "070702" crc variant
        ];
        for f in fields {
            buf.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        debug_assert_eq!(buf.len(), HEADER_LEN);
        buf.extend_from_slice(name.as_bytes());
        buf.push(0);
        buf.resize(buf.len() + pad4(buf.len()), 0);
        self.write_raw(&buf)?;
        self.write_raw(data)?;
        self.write_raw(&[0u8; 3][..pad4(data.len())])
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).context("cpio: write failed")?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

/// Zero bytes needed to bring `len` up to a multiple of 4.
fn pad4(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// Archive names are relative ("bin/sh"): the kernel and cpio both treat them
/// relative to the extraction root, and GNU cpio refuses absolute names.
fn validate_name(path: &str) -> Result<()> {
    if path.is_empty() {
        bail!("empty path");
    }
    if path.contains('\0') {
        bail!("path contains a NUL byte");
    }
    if path.starts_with('/') {
        bail!("path must be relative to the archive root (no leading '/')");
    }
    if path == TRAILER {
        bail!("{TRAILER} is reserved for the end-of-archive marker");
    }
    if path.split('/').any(|c| c.is_empty() || c == "..") {
        bail!("path has an empty or '..' component");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::path::Path;
    use std::process::{Command, Stdio};

    fn sample() -> Vec<u8> {
        let mut w = CpioWriter::new(Vec::new());
        w.add_dir("bin", Metadata::new(0o755)).unwrap();
        w.add_dir("tmp", Metadata::new(0o1777)).unwrap();
        w.add_dir("dev", Metadata::new(0o755)).unwrap();
        w.add_file("bin/hello", Metadata::new(0o755), b"#!/bin/sh\necho hi\n")
            .unwrap();
        // Lengths 0..=4 exercise every padding case.
        for n in 0..=4 {
            let data = vec![b'a' + n as u8; n];
            w.add_file(
                &format!("f{n}"),
                Metadata::new(0o640).owner(1000, 42),
                &data,
            )
            .unwrap();
        }
        w.add_symlink("bin/sh", Metadata::new(0o777), "/bin/busybox")
            .unwrap();
        w.add_device("dev/console", Metadata::new(0o600), DeviceKind::Char, 5, 1)
            .unwrap();
        w.add_device("dev/sda", Metadata::new(0o660), DeviceKind::Block, 8, 0)
            .unwrap();
        w.finish().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// Feeds a gzipped archive to system cpio via `gzip -dc` so the test also
    /// proves the gzip stream is valid.
    fn run_cpio(gz: &[u8], args: &[&str], dir: &Path) -> String {
        let gzpath = dir.join("archive.cpio.gz");
        std::fs::write(&gzpath, gz).unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "gzip -dc '{}' | cpio {} 2>&1",
                gzpath.display(),
                args.join(" ")
            ))
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("run cpio (is /usr/bin/cpio installed?)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "cpio {args:?} failed: {text}");
        text
    }

    #[test]
    fn header_layout_and_padding() {
        let mut w = CpioWriter::new(Vec::new());
        w.add_file("ab", Metadata::new(0o644), b"xyzzy").unwrap();
        let bytes = w.finish().unwrap();
        let hdr = std::str::from_utf8(&bytes[..HEADER_LEN]).unwrap();
        assert_eq!(
            hdr,
            concat!(
                "070701", "00000001", "000081a4", "00000000", "00000000", "00000001", "00000000",
                "00000005", "00000000", "00000000", "00000000", "00000000", "00000003", "00000000"
            )
        );
        // 110 + "ab\0" = 113 -> padded to 116; data 5 -> padded to 8.
        assert_eq!(&bytes[110..116], b"ab\0\0\0\0");
        assert_eq!(&bytes[116..124], b"xyzzy\0\0\0");
        let trailer = &bytes[124..];
        assert!(trailer.starts_with(b"070701"));
        // Trailer: 110 + "TRAILER!!!\0" (11) = 121 -> 124.
        assert_eq!(trailer.len(), 124);
        assert_eq!(&trailer[110..121], b"TRAILER!!!\0");
        assert_eq!(bytes.len() % 4, 0);
    }

    #[test]
    fn listing_matches_with_system_cpio() {
        let dir = tempfile::tempdir().unwrap();
        let gz = gzip(&sample());
        let names: Vec<String> = run_cpio(&gz, &["-it", "--quiet"], dir.path())
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            names,
            [
                "bin",
                "tmp",
                "dev",
                "bin/hello",
                "f0",
                "f1",
                "f2",
                "f3",
                "f4",
                "bin/sh",
                "dev/console",
                "dev/sda"
            ]
        );

        let verbose = run_cpio(&gz, &["-itv", "--quiet", "--numeric-uid-gid"], dir.path());
        let line = |name: &str| -> Vec<String> {
            verbose
                .lines()
                .find(|l| l.split_whitespace().any(|w| w == name))
                .unwrap_or_else(|| panic!("{name} missing from:\n{verbose}"))
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(line("bin")[0], "drwxr-xr-x");
        assert_eq!(line("tmp")[0], "drwxrwxrwt");
        assert_eq!(line("bin/hello")[0], "-rwxr-xr-x");
        let f3 = line("f3");
        assert_eq!(f3[0], "-rw-r-----");
        assert_eq!((f3[2].as_str(), f3[3].as_str()), ("1000", "42"));
        let sh = line("bin/sh");
        assert_eq!(sh[0], "lrwxrwxrwx");
        assert_eq!(
            sh[sh.len() - 2..],
            ["->".to_owned(), "/bin/busybox".to_owned()]
        );
        let console = line("dev/console");
        assert_eq!(console[0], "crw-------");
        assert_eq!(console[4..6], ["5,".to_owned(), "1".to_owned()]);
        let sda = line("dev/sda");
        assert_eq!(sda[0], "brw-rw----");
        assert_eq!(sda[4..6], ["8,".to_owned(), "0".to_owned()]);
    }

    #[test]
    fn extracted_contents_match() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        // Without devices: extracting them needs privileges.
        let mut w = CpioWriter::new(Vec::new());
        w.add_dir("bin", Metadata::new(0o755)).unwrap();
        w.add_file("bin/hello", Metadata::new(0o755), b"#!/bin/sh\necho hi\n")
            .unwrap();
        let big: Vec<u8> = (0..70_001u32).map(|i| (i * 7 % 251) as u8).collect();
        w.add_file("big", Metadata::new(0o600), &big).unwrap();
        w.add_file("empty", Metadata::new(0o644), b"").unwrap();
        w.add_symlink("bin/sh", Metadata::new(0o777), "hello")
            .unwrap();
        let gz = gzip(&w.finish().unwrap());
        std::fs::write(dir.path().join("a.gz"), &gz).unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg("gzip -dc ../a.gz | cpio -idm --quiet --no-absolute-filenames")
            .current_dir(&root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::read(root.join("bin/hello")).unwrap(),
            b"#!/bin/sh\necho hi\n"
        );
        assert_eq!(std::fs::read(root.join("big")).unwrap(), big);
        assert_eq!(std::fs::read(root.join("empty")).unwrap(), b"");
        assert_eq!(
            std::fs::read_link(root.join("bin/sh")).unwrap(),
            Path::new("hello")
        );
        assert_eq!(
            std::fs::read(root.join("bin/sh")).unwrap(),
            b"#!/bin/sh\necho hi\n"
        );
        let meta = std::fs::metadata(root.join("bin/hello")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
        // -m restores the archive's mtime, which is 0.
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.mtime(), 0);
    }

    #[test]
    fn deterministic() {
        assert_eq!(sample(), sample());
        assert_eq!(gzip(&sample()), gzip(&sample()));
    }

    #[test]
    fn inode_numbers_are_sequential() {
        let bytes = sample();
        let mut inos = Vec::new();
        let mut pos = 0;
        loop {
            let hdr = std::str::from_utf8(&bytes[pos..pos + HEADER_LEN]).unwrap();
            let field = |i: usize| u32::from_str_radix(&hdr[6 + 8 * i..14 + 8 * i], 16).unwrap();
            let (namesize, filesize) = (field(11) as usize, field(6) as usize);
            let name = &bytes[pos + HEADER_LEN..pos + HEADER_LEN + namesize - 1];
            if name == TRAILER.as_bytes() {
                assert_eq!(field(0), 0);
                assert_eq!(
                    pos + HEADER_LEN + namesize + pad4(HEADER_LEN + namesize),
                    bytes.len()
                );
                break;
            }
            inos.push(field(0));
            pos += HEADER_LEN + namesize;
            pos += pad4(pos);
            pos += filesize + pad4(filesize);
        }
        assert_eq!(inos, (1..=12).collect::<Vec<u32>>());
    }

    #[test]
    fn rejects_bad_input() {
        let mut w = CpioWriter::new(Vec::new());
        let err = |r: Result<()>| format!("{:#}", r.unwrap_err());
        assert!(err(w.add_dir("/bin", Metadata::new(0o755))).contains("relative"));
        assert!(err(w.add_dir("", Metadata::new(0o755))).contains("empty path"));
        assert!(err(w.add_dir("a/../b", Metadata::new(0o755))).contains("'..'"));
        assert!(err(w.add_dir("TRAILER!!!", Metadata::new(0o755))).contains("reserved"));
        let e = err(w.add_file("x", Metadata::new(0o100644), b""));
        assert!(e.contains("file x") && e.contains("0o7777"), "{e}");
        assert!(err(w.add_symlink("l", Metadata::new(0o777), "")).contains("empty"));
        // Rejected entries consume no inode and write nothing.
        assert_eq!(w.bytes_written(), 0);
        w.add_dir("ok", Metadata::new(0o755)).unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(&bytes[6..14], b"00000001");
    }
}
