//! Alpine's package formats, written and read in Rust: `.apk` v2 packages (three gzip
//! members: signature, control, data), the signed `APKINDEX.tar.gz`, and the repository's
//! RSA key. The layout is Alpine's own (apk-v2(5), abuild), so apk-tools could read what we
//! write; docs/packages.md has the details, and `reader` checks every byte the writer makes.

pub mod index;
pub mod installed;
pub mod key;
pub mod package;
pub mod pkginfo;
pub mod reader;
pub mod tarball;
#[cfg(test)]
mod tests;
pub mod tree;

pub use index::write_index;
pub use key::SigningKey;
pub use package::{write_package, Package};
pub use pkginfo::{PackageInfo, ARCH};
