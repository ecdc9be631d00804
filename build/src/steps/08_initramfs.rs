//! `cargo x initramfs`: `build/rootfs.toml` plus the userland build outputs →
//! `dist/initramfs.cpio.gz`, deterministic. It also makes the first disk's file system
//! (`first_disk`), which the image carries for the guest to write on a new, blank disk.

use crate::formats::apk::installed::installed_record;
use crate::formats::apk::tree::{self, EntryKind as TreeKind};
use crate::formats::apk::{write_package, SigningKey};
use crate::formats::sparse::Sparse;
use crate::packages;
use crate::pipeline::{Ctx, SOURCE_DATE_EPOCH};
use crate::repository;
use crate::rootfs::{write_image, Content, Entry, EntryKind, Rootfs, Sources};
use crate::stamp::{InputHash, Stamp};
use crate::steps::{busybox, guest};
use anyhow::{bail, Context, Result};
use flate2::{Compression, GzBuilder};
use std::path::PathBuf;
use std::process::Command;

/// The first disk's size: the host's default for a new disk (`kernel_host::browser::
/// DiskOptions`), which the guest checks before it writes the file system (docs/disk.md).
pub const DISK_BYTES: u64 = 1 << 30;
/// Fixed so that the image is the same on every build machine: the file system's UUID
/// and directory hash seed.
const DISK_UUID: &str = "a1f0e9b8-0c1d-4e5f-8a7b-616c70676c77";
/// ext4 as Debian's mke2fs.conf makes it, spelt out so no local configuration counts.
const DISK_FEATURES: &str = "has_journal,ext_attr,resize_inode,dir_index,filetype,extent,\
64bit,flex_bg,sparse_super,large_file,huge_file,dir_nlink,extra_isize,metadata_csum";

/// Makes the first disk's ext4 file system (journal on) with e2fsprogs' mke2fs, and keeps
/// its non-zero blocks (`formats::sparse`) as `runs` and `blocks.gz` in the `disk` output.
fn first_disk(ctx: &Ctx) -> Result<PathBuf> {
    let dir = ctx.paths.out("disk");
    let args = [
        "-q",
        "-F",
        "-t",
        "ext4",
        "-b",
        "4096",
        "-I",
        "256",
        "-i",
        "16384",
        "-O",
        DISK_FEATURES,
        "-L",
        "alpenglow",
        "-U",
        DISK_UUID,
        "-E",
        &format!(
            "hash_seed={DISK_UUID},root_owner=0:0,nodiscard,lazy_itable_init=0,lazy_journal_init=0"
        ),
    ];
    let version = Command::new("mke2fs")
        .arg("-V")
        .output()
        .context("running mke2fs -V (e2fsprogs; `cargo x doctor` installs it)")?;
    let mut key = InputHash::new("disk");
    key.add("mke2fs", &version.stderr)
        .add("args", args.join(" ").as_bytes())
        .add("bytes", &DISK_BYTES.to_le_bytes());
    let (runs, blocks) = (dir.join("runs"), dir.join("blocks.gz"));
    let stamp = Stamp::new("disk", key).output(&runs).output(&blocks);
    ctx.stamps.refresh(&stamp, || {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let image = dir.join("disk.img");
        let _ = std::fs::remove_file(&image);
        let file = std::fs::File::create(&image)
            .with_context(|| format!("creating {}", image.display()))?;
        file.set_len(DISK_BYTES)
            .with_context(|| format!("sizing {}", image.display()))?;
        drop(file);
        let mut c = Command::new("mke2fs");
        // No local mke2fs.conf, and every time stamp the same.
        c.env("MKE2FS_CONFIG", "/dev/null")
            .env("E2FSPROGS_FAKE_TIME", "1")
            .args(args)
            .arg(&image);
        ctx.ui
            .run("making the first disk (mke2fs)", &mut c, &ctx.log("disk"))?;
        let f =
            std::fs::File::open(&image).with_context(|| format!("reading {}", image.display()))?;
        let sparse = Sparse::read(std::io::BufReader::with_capacity(1 << 20, f))
            .with_context(|| format!("reading {}", image.display()))?;
        std::fs::remove_file(&image).with_context(|| format!("removing {}", image.display()))?;
        if sparse.runs.is_empty() {
            bail!("mke2fs left an empty image");
        }
        let mut gz = GzBuilder::new().write(Vec::new(), Compression::best());
        std::io::Write::write_all(&mut gz, &sparse.blocks).context("compressing the disk")?;
        let gz = gz.finish().context("compressing the disk")?;
        std::fs::write(&blocks, gz).with_context(|| format!("writing {}", blocks.display()))?;
        std::fs::write(&runs, sparse.runs_text())
            .with_context(|| format!("writing {}", runs.display()))?;
        Ok(())
    })?;
    Ok(dir)
}

/// The packages the image carries (`packages::BASE`), as apk would have installed them:
/// their files, and their records for `lib/apk/db/installed` and `etc/apk/world`.
struct BasePackages {
    entries: Vec<Entry>,
    /// (`pkg-<name>`, its staged tree): the sources of the files' entries.
    outputs: Vec<(String, PathBuf)>,
    installed: String,
    world: String,
}

fn base_packages(ctx: &mut Ctx, key: &SigningKey) -> Result<BasePackages> {
    let names: Vec<String> = packages::BASE.iter().map(|s| s.to_string()).collect();
    let built = packages::build(ctx, &names)?;
    let mtime: u64 = SOURCE_DATE_EPOCH.parse().context("SOURCE_DATE_EPOCH")?;
    let mut base = BasePackages {
        entries: Vec::new(),
        outputs: Vec::new(),
        installed: String::new(),
        world: String::new(),
    };
    for name in packages::BASE {
        let p = built
            .iter()
            .find(|p| p.name == *name)
            .with_context(|| format!("the base package {name} was not built"))?;
        // Nothing runs a package script while the image is made, and nothing outside
        // the image may be needed.
        if !p.scripts.is_empty() {
            bail!("the base package {name} has scripts; the image cannot run them");
        }
        for dep in &p.depends {
            if !packages::BASE.contains(&packages::order::dep_name(dep)) {
                bail!("the base package {name} depends on {dep}, which is not in the base");
            }
        }
        // The same bytes as the repository's copy, so apk sees the installed package and
        // the offered one as one (`C:`).
        let rp = repository::from_built(p, mtime)?;
        let apk = write_package(&rp.info, &rp.root, &rp.scripts, key)
            .with_context(|| format!("packing the base package {name}"))?;
        base.installed += &installed_record(&apk.index_record, &p.root)
            .with_context(|| format!("recording the base package {name}"))?;
        base.world += &format!("{name}\n");
        let output = format!("pkg-{name}");
        for e in tree::entries(&p.root)? {
            let kind = match e.kind {
                TreeKind::Dir => EntryKind::Dir,
                TreeKind::Symlink(target) => EntryKind::Symlink(target),
                TreeKind::File(_) => {
                    EntryKind::File(Content::Source(format!("{output}:{}", e.rel)))
                }
            };
            base.entries.push(Entry {
                path: format!("/{}", e.rel),
                mode: e.mode,
                uid: 0,
                gid: 0,
                kind,
                optional: false,
            });
        }
        base.outputs.push((output, p.root.clone()));
    }
    Ok(base)
}

/// Sets the text of the file entry `path` of the description.
fn set_text(rootfs: &mut Rootfs, path: &str, text: &str) -> Result<()> {
    let e = rootfs
        .entries
        .iter_mut()
        .find(|e| e.path == path)
        .with_context(|| format!("build/rootfs.toml has no {path}"))?;
    e.kind = EntryKind::File(Content::Text(text.to_string()));
    Ok(())
}

pub fn image_path(ctx: &Ctx) -> PathBuf {
    ctx.paths.dist().join("initramfs.cpio.gz")
}

pub fn build(ctx: &mut Ctx) -> Result<()> {
    let step = ctx.ui.step("initramfs");
    let desc_path = ctx.paths.repo.join("build/rootfs.toml");
    let mut rootfs = Rootfs::load(&desc_path)?;
    // The package repository's public key, under the name its signatures carry.
    let apk_key = repository::signing_key(&ctx.paths)?;
    let apk_key_pem = apk_key.public_pem()?;
    rootfs.entries.push(Entry {
        path: format!("/etc/apk/keys/{}", apk_key.name()),
        mode: 0o644,
        uid: 0,
        gid: 0,
        kind: EntryKind::File(Content::Text(apk_key_pem.clone())),
        optional: false,
    });
    let base = base_packages(ctx, &apk_key)?;
    set_text(&mut rootfs, "/lib/apk/db/installed", &base.installed)?;
    set_text(&mut rootfs, "/etc/apk/world", &base.world)?;
    rootfs.entries.extend(base.entries);
    let disk = first_disk(ctx)?;
    let mut sources = Sources::new(ctx.paths.repo.join("build"))
        .with_output("busybox", busybox::output_dir(ctx))
        .with_output("disk", disk);
    for (name, root) in &base.outputs {
        sources = sources.with_output(name, root);
    }
    // Each guest program is `<name>:`, its output file.
    for (_, name, _) in guest::PROGRAMS {
        sources = sources.with_output(name, guest::output(ctx, name));
    }
    for p in guest::MULTI_PROGRAMS {
        sources = sources.with_output(p.name, guest::output(ctx, p.name));
    }
    let image = rootfs
        .build(&sources)
        .with_context(|| format!("building the image from {}", desc_path.display()))?;
    let mut key = InputHash::new("initramfs");
    key.add_file(&desc_path)?;
    key.add("apk-key", apk_key_pem.as_bytes());
    key.add("apk-installed", base.installed.as_bytes());
    for input in &image.inputs {
        key.add_file(input)?;
    }
    let dest = image_path(ctx);
    for s in &image.skipped {
        ctx.ui.info(&format!("left out {}: {}", s.path, s.reason));
    }
    // The stamp is in the shared cache: another clone may have recorded it, so this
    // clone's file must also hold the image.
    let current = std::fs::read(&dest).is_ok_and(|old| old == image.cpio_gz);
    let stamp = Stamp::new("initramfs", key).output(&dest).only_if(current);
    ctx.run_step(step, stamp, "description and inputs unchanged", |ctx| {
        std::fs::create_dir_all(ctx.paths.dist()).context("creating dist/")?;
        write_image(&image, &dest)?;
        Ok(format!(
            "{} entries, {} bytes",
            image.entries,
            image.cpio_gz.len()
        ))
    })
}
