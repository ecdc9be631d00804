//! The flattened device tree the kernel boots from: memory, CPUs, command line, initramfs
//! location, an RNG seed (DESIGN decision 5), the interrupt controller, the virtio-mmio
//! devices and the real-time clock.

use crate::{rtc, virtio};
use vm_fdt::{FdtWriter, FdtWriterResult};

/// The interrupt controller's phandle.
const INTC_PHANDLE: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineConfig {
    pub ram_bytes: u32,
    pub cpus: u32,
    pub bootargs: String,
    /// Start and end (exclusive) of the initramfs in kernel memory.
    pub initrd: Option<(u32, u32)>,
    /// Seeds the kernel's RNG (`rng-seed`), so early boot has entropy.
    pub rng_seed: Vec<u8>,
}

/// Builds the device tree blob.
pub fn build(cfg: &MachineConfig) -> FdtWriterResult<Vec<u8>> {
    let mut fdt = FdtWriter::new()?;
    let root = fdt.begin_node("")?;
    fdt.property_string("compatible", "alpenglow,wasm")?;
    fdt.property_string("model", "Alpenglow WebAssembly machine")?;
    fdt.property_u32("#address-cells", 1)?;
    fdt.property_u32("#size-cells", 1)?;
    fdt.property_u32("interrupt-parent", INTC_PHANDLE)?;

    let chosen = fdt.begin_node("chosen")?;
    fdt.property_string("bootargs", &cfg.bootargs)?;
    if let Some((start, end)) = cfg.initrd {
        fdt.property_u32("linux,initrd-start", start)?;
        fdt.property_u32("linux,initrd-end", end)?;
    }
    if !cfg.rng_seed.is_empty() {
        fdt.property("rng-seed", &cfg.rng_seed)?;
    }
    fdt.end_node(chosen)?;

    let memory = fdt.begin_node("memory@0")?;
    fdt.property_string("device_type", "memory")?;
    fdt.property_array_u32("reg", &[0, cfg.ram_bytes])?;
    fdt.end_node(memory)?;

    let cpus = fdt.begin_node("cpus")?;
    fdt.property_u32("#address-cells", 1)?;
    fdt.property_u32("#size-cells", 0)?;
    for i in 0..cfg.cpus {
        let cpu = fdt.begin_node(&format!("cpu@{i}"))?;
        fdt.property_string("device_type", "cpu")?;
        fdt.property_string("compatible", "alpenglow,wasm32")?;
        fdt.property_u32("reg", i)?;
        fdt.end_node(cpu)?;
    }
    fdt.end_node(cpus)?;

    // The pending-IRQ word's lines (arch/wasm/kernel/irq.c); one cell: the line.
    let intc = fdt.begin_node("interrupt-controller")?;
    fdt.property_string("compatible", "alpenglow,wasm-intc")?;
    fdt.property_null("interrupt-controller")?;
    fdt.property_u32("#interrupt-cells", 1)?;
    fdt.property_phandle(INTC_PHANDLE)?;
    fdt.end_node(intc)?;

    for (i, device) in virtio::DEVICES.iter().enumerate() {
        let base = virtio::mmio_address(i);
        let node = fdt.begin_node(&format!("virtio@{base:x}"))?;
        fdt.property_string("compatible", "virtio,mmio")?;
        fdt.property_array_u32("reg", &[base, virtio::MMIO_STRIDE])?;
        fdt.property_u32("interrupts", device.irq_line)?;
        fdt.end_node(node)?;
    }

    let node = fdt.begin_node(&format!("rtc@{:x}", rtc::BASE))?;
    fdt.property_string("compatible", "google,goldfish-rtc")?;
    fdt.property_array_u32("reg", &[rtc::BASE, rtc::SIZE])?;
    fdt.property_u32("interrupts", rtc::IRQ_LINE)?;
    fdt.end_node(node)?;

    fdt.end_node(root)?;
    fdt.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_finds_memory_cmdline_initrd_and_cpus() {
        let cfg = MachineConfig {
            ram_bytes: 128 << 20,
            cpus: 2,
            bootargs: "console=hvc0 loglevel=8".into(),
            initrd: Some((0x07f0_0000, 0x07f8_1234)),
            rng_seed: vec![7; 32],
        };
        let blob = build(&cfg).unwrap();
        let tree = ::fdt::Fdt::new(&blob).unwrap();
        assert_eq!(tree.chosen().bootargs(), Some("console=hvc0 loglevel=8"));
        let region = tree.memory().regions().next().unwrap();
        assert_eq!(
            (region.starting_address as usize, region.size),
            (0, Some(128 << 20))
        );
        assert_eq!(tree.cpus().count(), 2);
        let chosen = tree.find_node("/chosen").unwrap();
        let start = chosen
            .property("linux,initrd-start")
            .unwrap()
            .as_usize()
            .unwrap();
        let end = chosen
            .property("linux,initrd-end")
            .unwrap()
            .as_usize()
            .unwrap();
        assert_eq!((start, end), (0x07f0_0000, 0x07f8_1234));
        assert_eq!(chosen.property("rng-seed").unwrap().value, &[7; 32][..]);
    }

    #[test]
    fn every_virtio_device_is_described_with_its_registers_and_line() {
        let cfg = MachineConfig {
            ram_bytes: 64 << 20,
            cpus: 1,
            bootargs: String::new(),
            initrd: None,
            rng_seed: Vec::new(),
        };
        let blob = build(&cfg).unwrap();
        let tree = ::fdt::Fdt::new(&blob).unwrap();
        let intc = tree.find_compatible(&["alpenglow,wasm-intc"]).unwrap();
        assert!(intc.property("interrupt-controller").is_some());
        let devices: Vec<_> = tree
            .all_nodes()
            .filter(|n| n.compatible().is_some_and(|c| c.first() == "virtio,mmio"))
            .collect();
        assert_eq!(devices.len(), virtio::DEVICES.len());
        for (node, (i, device)) in devices.iter().zip(virtio::DEVICES.iter().enumerate()) {
            let reg = node.reg().unwrap().next().unwrap();
            assert_eq!(
                reg.starting_address as usize,
                virtio::mmio_address(i) as usize
            );
            assert_eq!(reg.size, Some(virtio::MMIO_STRIDE as usize));
            let line = node.property("interrupts").unwrap().as_usize().unwrap();
            assert_eq!(line, device.irq_line as usize);
            // Nothing else is on a device's line, and the timer keeps line 0.
            assert_ne!(line, crate::abi::IRQ_BIT_TIMER as usize);
            assert_ne!(line, rtc::IRQ_LINE as usize);
        }
        let clock = tree.find_compatible(&["google,goldfish-rtc"]).unwrap();
        let reg = clock.reg().unwrap().next().unwrap();
        assert_eq!(reg.starting_address as usize, rtc::BASE as usize);
        assert_eq!(reg.size, Some(rtc::SIZE as usize));
        let line = clock.property("interrupts").unwrap().as_usize().unwrap();
        assert_eq!(line, rtc::IRQ_LINE as usize);
    }
}
