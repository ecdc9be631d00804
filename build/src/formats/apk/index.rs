//! Writing a signed `APKINDEX.tar.gz`: the signature member, then a tar of `DESCRIPTION`
//! and `APKINDEX` (one record per package, a blank line after each).

use super::key::SigningKey;
use super::package::signature_segment;
use super::tarball::{gzip, Item, TarWriter};
use anyhow::Result;

/// The index of `records` (from [`super::Package::index_record`]), sorted by the package
/// name so that the bytes do not depend on the build order.
pub fn write_index(
    records: &[String],
    description: &str,
    key: &SigningKey,
    mtime: u64,
) -> Result<Vec<u8>> {
    let mut sorted: Vec<&String> = records.iter().collect();
    sorted.sort_by(|a, b| record_key(a).cmp(&record_key(b)));
    let mut index = String::new();
    for record in sorted {
        index.push_str(record);
        index.push('\n');
    }
    let mut tar = TarWriter::new(mtime);
    let description = format!("{description}\n");
    tar.add(
        "DESCRIPTION",
        0o644,
        Item::File {
            data: description.as_bytes(),
            pax: &[],
        },
    )?;
    tar.add(
        "APKINDEX",
        0o644,
        Item::File {
            data: index.as_bytes(),
            pax: &[],
        },
    )?;
    let body = gzip(&tar.finish())?;
    let mut bytes = signature_segment(key, &body, mtime)?;
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

fn record_key(record: &str) -> (&str, &str) {
    let field = |letter: &str| {
        record
            .lines()
            .find_map(|l| l.strip_prefix(letter))
            .unwrap_or("")
    };
    (field("P:"), field("V:"))
}
