//! Where the boot data goes in kernel memory: the kernel image (data, bss, boot stack) from
//! 0 up to its `__heap_base`, then free RAM; the host puts the initramfs and the device tree
//! at the top of RAM, page aligned, where early boot reserves them.

pub const PAGE_SIZE: u32 = 4096;
pub const WASM_PAGE: u32 = 65536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub start: u32,
    pub len: u32,
}

impl Region {
    pub fn end(&self) -> u32 {
        self.start + self.len
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootLayout {
    pub ram_bytes: u32,
    pub initrd: Region,
    pub fdt: Region,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    RamNotWasmPages(u32),
    TooSmall { needed: u64, ram: u32 },
}

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayoutError::RamNotWasmPages(r) => {
                write!(f, "memory size {r} is not a multiple of 64 KiB")
            }
            LayoutError::TooSmall { needed, ram } => write!(
                f,
                "{} MiB of memory is too small: the kernel image and boot data need {} MiB",
                ram >> 20,
                needed.div_ceil(1 << 20)
            ),
        }
    }
}

impl std::error::Error for LayoutError {}

fn align_down(x: u64, a: u64) -> u64 {
    x / a * a
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// Places the initramfs at the top of RAM and the device tree below it, leaving at least
/// `min_free` bytes between the kernel image end (`image_end`) and the boot data.
pub fn plan(
    ram_bytes: u32,
    image_end: u32,
    initrd_len: u32,
    fdt_len: u32,
    min_free: u32,
) -> Result<BootLayout, LayoutError> {
    if !ram_bytes.is_multiple_of(WASM_PAGE) {
        return Err(LayoutError::RamNotWasmPages(ram_bytes));
    }
    let page = u64::from(PAGE_SIZE);
    let initrd_start = align_down(
        u64::from(ram_bytes).saturating_sub(u64::from(initrd_len)),
        page,
    );
    let fdt_start = align_down(initrd_start.saturating_sub(u64::from(fdt_len)), page);
    let needed = align_up(u64::from(image_end), page)
        + u64::from(min_free)
        + align_up(u64::from(initrd_len), page)
        + align_up(u64::from(fdt_len), page);
    if needed > u64::from(ram_bytes) {
        return Err(LayoutError::TooSmall {
            needed,
            ram: ram_bytes,
        });
    }
    Ok(BootLayout {
        ram_bytes,
        initrd: Region {
            start: initrd_start as u32,
            len: initrd_len,
        },
        fdt: Region {
            start: fdt_start as u32,
            len: fdt_len,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_data_sits_page_aligned_at_the_top() {
        let l = plan(64 << 20, 3 << 20, 1_000_000, 1500, 16 << 20).unwrap();
        assert_eq!(l.initrd.start % PAGE_SIZE, 0);
        assert_eq!(l.fdt.start % PAGE_SIZE, 0);
        assert!(l.initrd.end() <= 64 << 20);
        assert!(l.fdt.end() <= l.initrd.start);
        assert!(l.fdt.start >= 3 << 20);
    }

    #[test]
    fn too_little_memory_is_an_error_that_says_how_much() {
        let e = plan(8 << 20, 6 << 20, 3 << 20, 4096, 1 << 20).unwrap_err();
        assert_eq!(
            e.to_string(),
            "8 MiB of memory is too small: the kernel image and boot data need 11 MiB"
        );
        assert_eq!(
            plan(100_000, 0, 0, 0, 0).unwrap_err(),
            LayoutError::RamNotWasmPages(100_000)
        );
    }
}
