//! The root filesystem: `build/rootfs.toml` → a deterministic `initramfs.cpio.gz` (or
//! the same files written as a tree, for a chroot).
//!
//! The description lists entries by kind, each a TOML array of tables:
//! `dir`, `file`, `symlink`, `device` and `applets`. Paths are absolute. Modes are
//! octal strings ("0755") so a decimal 755 cannot slip through. A file's content is
//! inline (`text`) or a `source`: a path relative to the description's directory,
//! or `key:path` inside a build output the CLI registers (`busybox:busybox` is the
//! file `busybox` in the `busybox` output; `key:` is the output itself). Entries whose
//! source may not exist yet say `optional = true`; they are skipped and reported.
//!
//! The image is reproducible: entries sorted by path (so parents precede children),
//! missing parent directories added as root-owned 0755, mtimes 0, and a gzip header
//! with mtime 0 and no file name.
//!
//! `description` reads and checks the TOML, `inputs` finds the files entries name,
//! `assemble` lays out the tree (applet links, implicit parents, skipped entries) and
//! `image` writes it.

mod assemble;
mod description;
mod image;
mod inputs;
#[cfg(test)]
mod tests;

pub use assemble::Skipped;
pub use description::{Applets, Content, Entry, EntryKind, Rootfs};
pub use image::{write_image, Image};
pub use inputs::Sources;
