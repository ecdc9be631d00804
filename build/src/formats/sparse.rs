//! A disk image as its non-zero blocks: `runs` (one `start count` line per run of non-zero
//! blocks, in block units, ascending) and `blocks` (those blocks, concatenated in the same
//! order). The first disk's guest script writes each run back with `dd` over a disk that is
//! all zeros (`build/rootfs/disk-setup`), so zero blocks cost nothing to ship or to write.

use std::io::Read;

/// The image's block size (the file system's, so runs stay few).
pub const BLOCK: usize = 4096;

/// The non-zero blocks of an image read from `image`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sparse {
    /// (first block, number of blocks).
    pub runs: Vec<(u64, u64)>,
    pub blocks: Vec<u8>,
}

impl Sparse {
    /// Reads `image` to its end; a last partial block counts as a block padded with zeros.
    pub fn read(mut image: impl Read) -> std::io::Result<Sparse> {
        let mut sparse = Sparse::default();
        let mut block = vec![0u8; BLOCK];
        let mut index = 0u64;
        loop {
            let mut filled = 0;
            while filled < BLOCK {
                match image.read(&mut block[filled..])? {
                    0 => break,
                    n => filled += n,
                }
            }
            if filled == 0 {
                return Ok(sparse);
            }
            block[filled..].fill(0);
            if block.iter().any(|&b| b != 0) {
                match sparse.runs.last_mut() {
                    Some((start, count)) if *start + *count == index => *count += 1,
                    _ => sparse.runs.push((index, 1)),
                }
                sparse.blocks.extend_from_slice(&block);
            }
            index += 1;
        }
    }

    /// The `runs` file.
    pub fn runs_text(&self) -> String {
        self.runs
            .iter()
            .map(|(start, count)| format!("{start} {count}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_non_zero_blocks_in_runs() {
        let mut image = vec![0u8; BLOCK * 6];
        image[0] = 1; // block 0
        image[BLOCK + 5] = 2; // block 1
        image[BLOCK * 4 + BLOCK - 1] = 3; // block 4
        let s = Sparse::read(&image[..]).unwrap();
        assert_eq!(s.runs, vec![(0, 2), (4, 1)]);
        assert_eq!(s.runs_text(), "0 2\n4 1\n");
        assert_eq!(s.blocks.len(), 3 * BLOCK);
        assert_eq!(&s.blocks[..2 * BLOCK], &image[..2 * BLOCK]);
        assert_eq!(&s.blocks[2 * BLOCK..], &image[4 * BLOCK..5 * BLOCK]);
    }

    #[test]
    fn an_empty_or_zero_image_has_no_runs_and_a_partial_block_is_padded() {
        assert_eq!(Sparse::read(&[][..]).unwrap(), Sparse::default());
        assert_eq!(
            Sparse::read(&[0u8; 3 * BLOCK][..]).unwrap(),
            Sparse::default()
        );
        let s = Sparse::read(&[0u8, 7][..]).unwrap();
        assert_eq!(s.runs, vec![(0, 1)]);
        assert_eq!(s.blocks.len(), BLOCK);
        assert_eq!(s.blocks[1], 7);
    }
}
