//! The tar streams inside packages and indexes: ustar headers with fixed owners and times,
//! PAX records where apk wants them, and *segments*, tars without the end-of-archive blocks,
//! which apk concatenates so that a whole `.apk` reads as one tar.

use anyhow::{Context, Result};
use flate2::{write::GzEncoder, Compression};
use std::io::Write;
use tar::{EntryType, Header};

/// An entry to write.
pub enum Item<'a> {
    Dir,
    File {
        data: &'a [u8],
        pax: &'a [(&'a str, String)],
    },
    Symlink {
        target: &'a str,
    },
}

/// Writes tar entries into memory, deterministically.
pub struct TarWriter {
    out: Vec<u8>,
    mtime: u64,
}

impl TarWriter {
    pub fn new(mtime: u64) -> TarWriter {
        TarWriter {
            out: Vec::new(),
            mtime,
        }
    }

    /// Appends one entry; `path` is relative (`usr/bin/lua5.4`, a directory without a
    /// trailing slash).
    pub fn add(&mut self, path: &str, mode: u32, item: Item) -> Result<()> {
        let mut header = Header::new_ustar();
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(self.mtime);
        header
            .set_username("root")
            .and_then(|()| header.set_groupname("root"))
            .context("tar header owner")?;
        let mut pax: Vec<(&str, String)> = Vec::new();
        let (kind, data, name) = match &item {
            Item::Dir => (EntryType::Directory, &[][..], format!("{path}/")),
            Item::File { data, pax: extra } => {
                pax.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
                (EntryType::Regular, *data, path.to_string())
            }
            Item::Symlink { target } => {
                if header.set_link_name(target).is_err() {
                    pax.push(("linkpath", target.to_string()));
                }
                (EntryType::Symlink, &[][..], path.to_string())
            }
        };
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        if header.set_path(&name).is_err() {
            // Too long for ustar's name and prefix: the full name goes in a PAX record and
            // the header keeps a shortened one, as GNU tar does.
            pax.push(("path", name.clone()));
            let short: String = name
                .chars()
                .rev()
                .take(99)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            header
                .set_path(short.trim_start_matches('/'))
                .with_context(|| format!("tar header for {name}"))?;
        }
        if !pax.is_empty() {
            self.pax(&name, &pax)?;
        }
        header.set_cksum();
        self.out.extend_from_slice(header.as_bytes());
        self.out.extend_from_slice(data);
        pad(&mut self.out);
        Ok(())
    }

    fn pax(&mut self, name: &str, records: &[(&str, String)]) -> Result<()> {
        let mut body = Vec::new();
        for (key, value) in records {
            body.extend_from_slice(&pax_record(key, value));
        }
        let mut header = Header::new_ustar();
        header.set_entry_type(EntryType::XHeader);
        header.set_mode(0o644);
        header.set_mtime(self.mtime);
        header.set_size(body.len() as u64);
        let base = name
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(name);
        let pax_name: String = format!("PaxHeaders/{base}").chars().take(99).collect();
        header
            .set_path(&pax_name)
            .with_context(|| format!("PAX header for {name}"))?;
        header.set_cksum();
        self.out.extend_from_slice(header.as_bytes());
        self.out.extend_from_slice(&body);
        pad(&mut self.out);
        Ok(())
    }

    /// The entries without end-of-archive blocks (a segment apk concatenates).
    pub fn segment(self) -> Vec<u8> {
        self.out
    }

    /// A complete archive.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0; 1024]);
        self.out
    }
}

/// One PAX record: `<length> <key>=<value>\n`, the length counting itself.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // space, '=', newline
    let mut len = rest + 1;
    while len.to_string().len() + rest != len {
        len += 1;
    }
    format!("{len} {key}={value}\n").into_bytes()
}

fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

/// One gzip member, deterministic (no name, mtime 0), at the best compression.
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data).context("compressing")?;
    encoder.finish().context("compressing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_count_their_own_length() {
        assert_eq!(pax_record("a", "b"), b"6 a=b\n");
        let long = pax_record("APK-TOOLS.checksum.SHA1", &"0".repeat(40));
        let text = String::from_utf8(long.clone()).unwrap();
        let (len, _) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), long.len());
        // Around a power of ten the length's own digits change the length.
        for n in 0..200 {
            let r = pax_record("k", &"v".repeat(n));
            let t = String::from_utf8(r.clone()).unwrap();
            assert_eq!(
                t.split_once(' ').unwrap().0.parse::<usize>().unwrap(),
                r.len()
            );
        }
    }

    #[test]
    fn a_segment_has_no_end_blocks_and_reads_with_tar() {
        let mut w = TarWriter::new(1_700_000_000);
        w.add("usr", 0o755, Item::Dir).unwrap();
        w.add(
            "usr/hello",
            0o644,
            Item::File {
                data: b"hi\n",
                pax: &[],
            },
        )
        .unwrap();
        let segment = w.segment();
        assert_eq!(segment.len(), 3 * 512);
        let mut complete = segment.clone();
        complete.extend_from_slice(&[0; 1024]);
        let mut archive = tar::Archive::new(&complete[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["usr/", "usr/hello"]);
    }

    #[test]
    fn long_names_survive_through_pax() {
        let long = format!("usr/share/{}/file", "d".repeat(180));
        let mut w = TarWriter::new(0);
        w.add(
            &long,
            0o644,
            Item::File {
                data: b"x",
                pax: &[],
            },
        )
        .unwrap();
        let data = w.finish();
        let mut archive = tar::Archive::new(&data[..]);
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_string_lossy(), long);
    }
}
