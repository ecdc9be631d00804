//! The check of a disk image before the machine uses it: the one function for a disk file
//! found at boot (the device worker, `worker/src/disk.rs`) and for an image a person restores
//! (the page, `app/src/disk.rs`). It reads only the image's size and its first bytes (the
//! ext2/3/4 superblock at byte 1024), so it runs before a byte of the disk is written. What
//! it accepts is what the guest's `disk-setup` mounts read-write: ext4 (docs/disk.md).

/// Whole blocks of this size: the device's sectors are 512 bytes, the file system's 4 KiB.
pub const BLOCK: u64 = 4096;
/// The smallest image taken: room for an ext4 file system with its journal.
pub const MIN_BYTES: u64 = 16 << 20;
/// How many bytes of the image's start [`check`] wants: the guest takes a disk whose first
/// 64 KiB are zeros for a new one and writes its file system (`disk-setup`).
pub const HEAD_BYTES: usize = 64 << 10;

const SUPERBLOCK: usize = 1024;
const MAGIC: u16 = 0xEF53;

/// Incompatible features (`s_feature_incompat`) this kernel's ext4 mounts; any other bit
/// would make the mount fail. Not taken: compression (0x1), an external journal (0x8, there
/// is no second disk), dirdata (0x1000), encryption (0x10000) and casefolding (0x20000),
/// which need kernel options this machine does not have.
const INCOMPAT_OK: &[(u32, &str)] = &[
    (0x0002, "filetype"),
    (0x0004, "needs_recovery"),
    (0x0010, "meta_bg"),
    (0x0040, "extent"),
    (0x0080, "64bit"),
    (0x0100, "mmp"),
    (0x0200, "flex_bg"),
    (0x0400, "ea_inode"),
    (0x2000, "metadata_csum_seed"),
    (0x4000, "large_dir"),
    (0x8000, "inline_data"),
];
const INCOMPAT_NAMES: &[(u32, &str)] = &[
    (0x0001, "compression"),
    (0x0008, "journal_dev"),
    (0x1000, "dirdata"),
    (0x10000, "encrypt"),
    (0x20000, "casefold"),
];
/// Read-only-compatible features (`s_feature_ro_compat`) with which the kernel still mounts
/// read-write; with any other the overlays could not be written.
const RO_COMPAT_OK: &[(u32, &str)] = &[
    (0x0001, "sparse_super"),
    (0x0002, "large_file"),
    (0x0008, "huge_file"),
    (0x0010, "uninit_bg"),
    (0x0020, "dir_nlink"),
    (0x0040, "extra_isize"),
    (0x0400, "metadata_csum"),
    (0x10000, "orphan_present"),
];
const RO_COMPAT_NAMES: &[(u32, &str)] = &[
    (0x0004, "btree_dir"),
    (0x0100, "quota"),
    (0x0200, "bigalloc"),
    (0x1000, "read-only"),
    (0x2000, "project"),
    (0x4000, "shared_blocks"),
    (0x8000, "verity"),
];
const INCOMPAT_64BIT: u32 = 0x0080;
/// What ext3 knows (`EXT3_FEATURE_*_SUPP`): a file system with no feature beyond these is
/// ext2 or ext3 to `blkid`, and the guest's `disk-setup` mounts only what `blkid` calls ext4.
const EXT3_INCOMPAT: u32 = 0x0002 | 0x0004 | 0x0010;
const EXT3_RO_COMPAT: u32 = 0x0001 | 0x0002 | 0x0004;

/// What an accepted image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Image {
    /// All zeros where a file system starts: a new disk, which the guest formats.
    Blank,
    /// An ext2/3/4 file system the machine can mount.
    Ext(Ext),
}

/// Facts from an ext2/3/4 superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ext {
    pub block_bytes: u64,
    pub blocks: u64,
    /// The superblock's free-blocks count. ext4 updates it on disk only now and then (at a
    /// journal commit that touches it, at unmount), so it is the figure as of about the last
    /// write, not a live one.
    pub free_blocks: u64,
}

impl Ext {
    /// The file system's size in bytes.
    pub fn bytes(&self) -> u64 {
        self.blocks * self.block_bytes
    }
    /// Bytes in use by the file system's blocks (metadata and journal included).
    pub fn used_bytes(&self) -> u64 {
        self.blocks.saturating_sub(self.free_blocks) * self.block_bytes
    }
}

/// A disk's file system by its superblock, for the page (the worker protocol's `DiskReady`
/// and `DiskUsage`): its size and the bytes its blocks in use take, as ext4 last wrote them
/// there (it writes the free count only now and then, so this trails `df`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DiskFs {
    pub bytes: f64,
    pub used: f64,
}

impl DiskFs {
    /// None for a blank disk.
    pub fn of(image: &Image) -> Option<DiskFs> {
        match image {
            Image::Ext(e) => Some(DiskFs {
                bytes: e.bytes() as f64,
                used: e.used_bytes() as f64,
            }),
            Image::Blank => None,
        }
    }
}

/// Whether blank disks count: one found at boot is a new disk; an image to restore must hold
/// a file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Boot,
    Restore,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The names of the bits of `flags` not in `ok`, as `name (0x…)`.
fn unknown(flags: u32, ok: &[(u32, &str)], names: &[(u32, &str)]) -> Option<String> {
    let mask = ok.iter().fold(0, |m, (bit, _)| m | bit);
    let rest = flags & !mask;
    if rest == 0 {
        return None;
    }
    let listed: Vec<String> = (0..32)
        .map(|i| 1u32 << i)
        .filter(|bit| rest & bit != 0)
        .map(|bit| match names.iter().find(|(b, _)| *b == bit) {
            Some((_, n)) => format!("{n} (0x{bit:x})"),
            None => format!("0x{bit:x}"),
        })
        .collect();
    Some(listed.join(", "))
}

/// Checks an image of `size` bytes whose first bytes are `head` (at least [`HEAD_BYTES`] of
/// them, or all of a shorter image). `Err` is the reason, in words for the page.
pub fn check(size: u64, head: &[u8], purpose: Use) -> Result<Image, String> {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    if size < MIN_BYTES {
        return Err(format!(
            "the image is {size} bytes ({:.1} MiB); a disk has at least {} MiB",
            mib(size),
            MIN_BYTES >> 20
        ));
    }
    if !size.is_multiple_of(BLOCK) {
        return Err(format!(
            "the image is {size} bytes, not whole 4 KiB blocks: truncated or not a disk image"
        ));
    }
    if head.len() < HEAD_BYTES {
        return Err(format!(
            "only {} bytes of the image's start could be read",
            head.len()
        ));
    }
    let sb = &head[SUPERBLOCK..SUPERBLOCK + 1024];
    let magic = u16_at(sb, 56);
    if magic != MAGIC {
        if head[..HEAD_BYTES].iter().all(|&b| b == 0) {
            return match purpose {
                Use::Boot => Ok(Image::Blank),
                Use::Restore => Err("the image is blank (all zeros where a file system \
                                     starts): no ext2/3/4 file system"
                    .into()),
            };
        }
        return Err(format!(
            "not an ext2/3/4 file system: byte 1080 holds 0x{magic:04X}, not the magic 0xEF53"
        ));
    }
    let log = u32_at(sb, 24);
    if log > 6 {
        return Err(format!(
            "the superblock's block size (1 KiB << {log}) is not one of 1 to 64 KiB: corrupt"
        ));
    }
    let block_bytes = 1024u64 << log;
    let incompat = u32_at(sb, 96);
    let ro_compat = u32_at(sb, 100);
    let wide = incompat & INCOMPAT_64BIT != 0;
    let hi = |lo_at: usize, hi_at: usize| {
        let hi = if wide { u32_at(sb, hi_at) as u64 } else { 0 };
        hi << 32 | u32_at(sb, lo_at) as u64
    };
    let blocks = hi(4, 0x150);
    let free_blocks = hi(12, 0x158);
    if blocks == 0 || free_blocks > blocks {
        return Err(format!(
            "the superblock says {blocks} blocks of which {free_blocks} free: corrupt"
        ));
    }
    let need = blocks.saturating_mul(block_bytes);
    if need > size {
        return Err(format!(
            "the file system is {need} bytes ({blocks} blocks of {block_bytes}) but the image \
             only {size}: truncated"
        ));
    }
    if let Some(f) = unknown(incompat, INCOMPAT_OK, INCOMPAT_NAMES) {
        return Err(format!(
            "the file system uses features this machine cannot mount: {f}"
        ));
    }
    if let Some(f) = unknown(ro_compat, RO_COMPAT_OK, RO_COMPAT_NAMES) {
        return Err(format!(
            "the file system uses features with which it could only be mounted read-only: {f}"
        ));
    }
    if incompat & !EXT3_INCOMPAT == 0 && ro_compat & !EXT3_RO_COMPAT == 0 {
        return Err(
            "an ext2 or ext3 file system (no ext4 feature such as extent or \
                    flex_bg): the machine mounts ext4 only"
                .into(),
        );
    }
    Ok(Image::Ext(Ext {
        block_bytes,
        blocks,
        free_blocks,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    /// A head with the superblock of a file system like the first disk's (4 KiB blocks,
    /// 64bit, the build's features).
    fn ext4(blocks: u64, free: u64) -> Vec<u8> {
        let mut h = vec![0u8; HEAD_BYTES];
        let sb = &mut h[SUPERBLOCK..SUPERBLOCK + 1024];
        sb[4..8].copy_from_slice(&(blocks as u32).to_le_bytes());
        sb[0x150..0x154].copy_from_slice(&((blocks >> 32) as u32).to_le_bytes());
        sb[12..16].copy_from_slice(&(free as u32).to_le_bytes());
        sb[24..28].copy_from_slice(&2u32.to_le_bytes());
        sb[56..58].copy_from_slice(&MAGIC.to_le_bytes());
        // filetype, extent, 64bit, flex_bg; sparse_super .. metadata_csum.
        sb[96..100].copy_from_slice(&0x02c2u32.to_le_bytes());
        sb[100..104].copy_from_slice(&0x047bu32.to_le_bytes());
        h
    }

    fn set(h: &mut [u8], at: usize, v: u32) {
        h[SUPERBLOCK + at..SUPERBLOCK + at + 4].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn the_first_disk_is_taken_with_its_figures() {
        let head = ext4(GIB / 4096, 200_000);
        let Ok(Image::Ext(e)) = check(GIB, &head, Use::Restore) else {
            panic!("refused: {:?}", check(GIB, &head, Use::Restore));
        };
        assert_eq!(e.block_bytes, 4096);
        assert_eq!(e.bytes(), GIB);
        assert_eq!(e.used_bytes(), (262_144 - 200_000) * 4096);
        // A larger file than the file system is fine (a disk not grown yet).
        assert!(check(2 * GIB, &head, Use::Boot).is_ok());
    }

    #[test]
    fn a_blank_disk_is_new_at_boot_and_refused_to_restore() {
        let zeros = vec![0u8; HEAD_BYTES];
        assert_eq!(check(GIB, &zeros, Use::Boot), Ok(Image::Blank));
        let e = check(GIB, &zeros, Use::Restore).unwrap_err();
        assert!(e.contains("blank"), "{e}");
    }

    #[test]
    fn a_truncated_image_is_refused() {
        let head = ext4(GIB / 4096, 1000);
        let e = check(GIB / 2, &head, Use::Boot).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        assert!(e.contains("536870912"), "{e}");
        let e = check(GIB - 100, &head, Use::Restore).unwrap_err();
        assert!(e.contains("not whole 4 KiB blocks"), "{e}");
    }

    #[test]
    fn a_small_image_is_refused() {
        let e = check(4096, &ext4(1, 0), Use::Restore).unwrap_err();
        assert!(e.contains("at least 16 MiB"), "{e}");
        let e = check(0, &[], Use::Restore).unwrap_err();
        assert!(e.contains("0 bytes"), "{e}");
    }

    #[test]
    fn a_foreign_file_names_what_is_at_the_magic() {
        let mut head = vec![0u8; HEAD_BYTES];
        head[0] = 0x7f;
        head[1080] = 0x50;
        head[1081] = 0x4b;
        let e = check(GIB, &head, Use::Boot).unwrap_err();
        assert!(e.contains("0x4B50"), "{e}");
        assert!(e.contains("not an ext2/3/4"), "{e}");
    }

    #[test]
    fn features_the_kernel_cannot_mount_are_named() {
        let mut head = ext4(GIB / 4096, 10);
        set(&mut head, 96, 0x02c2 | 0x20000 | 0x1);
        let e = check(GIB, &head, Use::Restore).unwrap_err();
        assert!(e.contains("casefold (0x20000)"), "{e}");
        assert!(e.contains("compression (0x1)"), "{e}");
        // needs_recovery: a disk of a closed tab, whose journal the kernel replays.
        let mut head = ext4(GIB / 4096, 10);
        set(&mut head, 96, 0x02c2 | 0x4);
        assert!(check(GIB, &head, Use::Boot).is_ok());
        let mut head = ext4(GIB / 4096, 10);
        set(&mut head, 100, 0x047b | 0x1000);
        let e = check(GIB, &head, Use::Boot).unwrap_err();
        assert!(e.contains("read-only (0x1000)"), "{e}");
    }

    #[test]
    fn ext2_and_ext3_are_refused_as_the_guest_would() {
        let mut head = ext4(GIB / 4096, 10);
        // ext3 as mke2fs makes it: filetype; sparse_super, large_file.
        set(&mut head, 96, 0x2);
        set(&mut head, 100, 0x3);
        let e = check(GIB, &head, Use::Restore).unwrap_err();
        assert!(e.contains("ext2 or ext3"), "{e}");
        // One ext4 feature is enough for blkid (and the guest).
        set(&mut head, 96, 0x2 | 0x40);
        assert!(check(GIB, &head, Use::Restore).is_ok());
    }

    #[test]
    fn a_corrupt_superblock_is_refused_without_panicking() {
        let mut head = ext4(GIB / 4096, 10);
        set(&mut head, 24, 40);
        assert!(check(GIB, &head, Use::Boot)
            .unwrap_err()
            .contains("block size"));
        let head = ext4(0, 0);
        assert!(check(GIB, &head, Use::Boot)
            .unwrap_err()
            .contains("corrupt"));
        let head = ext4(10, 11);
        assert!(check(GIB, &head, Use::Boot)
            .unwrap_err()
            .contains("corrupt"));
        // A huge block count does not overflow.
        let mut head = ext4(GIB / 4096, 10);
        set(&mut head, 0x150, u32::MAX);
        set(&mut head, 24, 6);
        assert!(check(GIB, &head, Use::Boot)
            .unwrap_err()
            .contains("truncated"));
    }

    /// A real file system made by e2fsprogs, when the machine has it (the build needs it).
    #[test]
    fn an_image_made_by_mke2fs_is_taken() {
        let dir = std::env::temp_dir().join(format!("disk-image-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("fs.img");
        std::fs::File::create(&img)
            .and_then(|f| f.set_len(64 << 20))
            .unwrap();
        let made = std::process::Command::new("mke2fs")
            // The first disk's features (build/src/steps/7_initramfs.rs).
            .args(["-q", "-F", "-T", "default", "-b", "4096", "-O"])
            .arg(
                "has_journal,ext_attr,resize_inode,dir_index,filetype,extent,64bit,flex_bg,\
                 sparse_super,large_file,huge_file,dir_nlink,extra_isize,metadata_csum",
            )
            .arg(&img)
            .env("MKE2FS_CONFIG", "/dev/null")
            .status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("no mke2fs here: skipped");
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
        let bytes = std::fs::read(&img).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let got = check(bytes.len() as u64, &bytes[..HEAD_BYTES], Use::Restore);
        assert!(
            matches!(got, Ok(Image::Ext(e)) if e.bytes() == 64 << 20),
            "{got:?}"
        );
        let got = check(32 << 20, &bytes[..HEAD_BYTES], Use::Restore);
        assert!(got.unwrap_err().contains("truncated"));
    }
}
