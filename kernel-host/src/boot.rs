//! Everything the host decides before the kernel runs: the command line, where the
//! initramfs and the device tree go, and the device tree itself.

use crate::abi;
use crate::fdt::{self, MachineConfig};
use crate::layout::{self, BootLayout, LayoutError};

/// The kernel command line. The boot console (`arch/wasm/kernel/console.c`, "wasmboot") is
/// registered by `setup_arch` itself and writes through `host.console_write`, so no
/// `earlycon=` is needed (the kernel has no earlycon drivers and would only complain about
/// the unknown parameter). `console=hvc0` names the virtio console that will take over from
/// the boot console; until it exists the boot console stays. `loglevel=8` shows everything.
/// `ip=dhcp`: the kernel leases eth0 its address from the gateway before init runs
/// (`CONFIG_IP_PNP_DHCP`), so no process on the way to the prompt does it (docs/network.md).
pub const DEFAULT_BOOTARGS: &str = "console=hvc0 loglevel=8 ip=dhcp";

/// Free memory the kernel gets at least, between its image and the boot data.
pub const MIN_FREE: u32 = 8 << 20;

/// Bytes of `rng-seed` the host gives the kernel.
pub const RNG_SEED_BYTES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootPlan {
    pub layout: BootLayout,
    /// The device tree blob, to be copied to `layout.fdt.start`.
    pub fdt: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootError {
    Layout(LayoutError),
    InitramfsTooLarge(usize),
    /// Not 1 to `abi::MAX_CPUS` CPUs.
    Cpus(u32),
    Fdt(String),
}

impl std::fmt::Display for BootError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BootError::Layout(e) => write!(f, "cannot place the boot data: {e}"),
            BootError::InitramfsTooLarge(n) => {
                write!(f, "the initramfs ({n} bytes) does not fit a 32-bit machine")
            }
            BootError::Cpus(n) => write!(
                f,
                "a machine has 1 to {} CPUs (the kernel's NR_CPUS), not {n}",
                abi::MAX_CPUS
            ),
            BootError::Fdt(e) => write!(f, "cannot build the device tree: {e}"),
        }
    }
}

impl std::error::Error for BootError {}

/// What the machine looks like to the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootRequest<'a> {
    /// Size of the kernel memory in bytes (a multiple of 64 KiB).
    pub ram_bytes: u32,
    /// End of the kernel image: the memory import's minimum size, in bytes.
    pub image_end: u32,
    pub initramfs_len: usize,
    pub bootargs: &'a str,
    /// 1 to `abi::MAX_CPUS`.
    pub cpus: u32,
    pub rng_seed: Vec<u8>,
}

/// Places the initramfs and the device tree and builds the device tree, which records where
/// the initramfs is. The tree's size does not depend on the addresses in it, so it is built
/// once to measure it and once more with the final addresses.
pub fn plan(req: &BootRequest<'_>) -> Result<BootPlan, BootError> {
    if !(1..=abi::MAX_CPUS).contains(&req.cpus) {
        return Err(BootError::Cpus(req.cpus));
    }
    let initrd_len = u32::try_from(req.initramfs_len)
        .map_err(|_| BootError::InitramfsTooLarge(req.initramfs_len))?;
    let mut cfg = MachineConfig {
        ram_bytes: req.ram_bytes,
        cpus: req.cpus,
        bootargs: req.bootargs.to_string(),
        initrd: (initrd_len > 0).then_some((0, initrd_len)),
        rng_seed: req.rng_seed.clone(),
    };
    let probe = fdt::build(&cfg).map_err(|e| BootError::Fdt(e.to_string()))?;
    let fdt_len = u32::try_from(probe.len()).map_err(|_| BootError::Fdt("too large".into()))?;
    let layout = layout::plan(req.ram_bytes, req.image_end, initrd_len, fdt_len, MIN_FREE)
        .map_err(BootError::Layout)?;
    if initrd_len > 0 {
        cfg.initrd = Some((layout.initrd.start, layout.initrd.end()));
    }
    let fdt = fdt::build(&cfg).map_err(|e| BootError::Fdt(e.to_string()))?;
    if fdt.len() != probe.len() {
        return Err(BootError::Fdt(format!(
            "the device tree changed size ({} → {} bytes) when its addresses were filled in",
            probe.len(),
            fdt.len()
        )));
    }
    Ok(BootPlan { layout, fdt })
}

/// The monotonic clock every worker reports to the kernel, in nanoseconds since the machine
/// started (`epoch_ms`, on the same wall-clock based scale as `time_origin_ms + now_ms`).
/// Each worker has its own `performance.timeOrigin`; adding it makes the workers agree.
pub fn clock_ns(time_origin_ms: f64, now_ms: f64, epoch_ms: f64) -> i64 {
    let ns = (time_origin_ms + now_ms - epoch_ms) * 1e6;
    if ns.is_finite() && ns > 0.0 {
        ns as i64
    } else {
        0
    }
}

/// The time the computer slept since the machine started, in ms: how much further the wall
/// clock (`wall_ms`, `Date.now()`) has run than the monotonic one (`time_origin_ms + now_ms`)
/// since `wall_skew_ms` was measured. `performance.now()` stands still while the system
/// sleeps on most systems; `Date.now()` does not. Less than a second is the wall clock being
/// adjusted, not sleep, and counts as 0, as does a wall clock set back.
pub fn slept_ms(wall_ms: f64, time_origin_ms: f64, now_ms: f64, wall_skew_ms: f64) -> f64 {
    let ahead = wall_ms - (time_origin_ms + now_ms) - wall_skew_ms;
    if ahead.is_finite() && ahead >= 1000.0 {
        ahead
    } else {
        0.0
    }
}

/// Milliseconds for a `setTimeout` that fires `delta_ns` from now, or `None` for a negative
/// delta, which cancels the timer. Rounded up: firing early would only make the kernel set
/// the timer again.
pub fn timer_delay_ms(delta_ns: i64) -> Option<i32> {
    if delta_ns < 0 {
        return None;
    }
    let ms = (delta_ns as u64).div_ceil(1_000_000);
    Some(ms.min(i32::MAX as u64) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(initramfs_len: usize) -> BootRequest<'static> {
        BootRequest {
            ram_bytes: 128 << 20,
            image_end: 9 * 65536,
            initramfs_len,
            bootargs: DEFAULT_BOOTARGS,
            cpus: 1,
            rng_seed: vec![1; RNG_SEED_BYTES],
        }
    }

    #[test]
    fn the_tree_points_at_the_initramfs_and_sits_where_the_layout_says() {
        let plan = plan(&req(638_021)).unwrap();
        assert_eq!(plan.layout.fdt.len as usize, plan.fdt.len());
        assert!(plan.layout.fdt.end() <= plan.layout.initrd.start);
        assert_eq!(plan.layout.initrd.end(), plan.layout.initrd.start + 638_021);
        let tree = ::fdt::Fdt::new(&plan.fdt).unwrap();
        assert_eq!(tree.chosen().bootargs(), Some(DEFAULT_BOOTARGS));
        let chosen = tree.find_node("/chosen").unwrap();
        let prop = |n| chosen.property(n).unwrap().as_usize().unwrap() as u32;
        assert_eq!(prop("linux,initrd-start"), plan.layout.initrd.start);
        assert_eq!(prop("linux,initrd-end"), plan.layout.initrd.end());
        assert_eq!(
            chosen.property("rng-seed").unwrap().value.len(),
            RNG_SEED_BYTES
        );
    }

    #[test]
    fn no_initramfs_means_no_initrd_properties() {
        let plan = plan(&req(0)).unwrap();
        let tree = ::fdt::Fdt::new(&plan.fdt).unwrap();
        let chosen = tree.find_node("/chosen").unwrap();
        assert!(chosen.property("linux,initrd-start").is_none());
    }

    #[test]
    fn the_tree_has_one_node_per_cpu_and_no_more_than_the_kernel_takes() {
        let mut r = req(0);
        r.cpus = 4;
        let tree_plan = plan(&r).unwrap();
        let tree = ::fdt::Fdt::new(&tree_plan.fdt).unwrap();
        assert_eq!(tree.cpus().count(), 4);
        for n in [0, abi::MAX_CPUS + 1] {
            r.cpus = n;
            let e = plan(&r).unwrap_err();
            assert_eq!(e, BootError::Cpus(n));
            assert!(e.to_string().contains("1 to 8 CPUs"), "{e}");
        }
    }

    #[test]
    fn too_small_a_machine_is_an_error_not_a_panic() {
        let mut r = req(200 << 20);
        assert!(matches!(plan(&r), Err(BootError::Layout(_))));
        r.ram_bytes = 100_000;
        r.initramfs_len = 10;
        assert!(plan(&r).unwrap_err().to_string().contains("64 KiB"));
    }

    #[test]
    fn the_clock_catches_up_with_the_time_the_computer_slept() {
        let (origin, skew) = (1_000_000.0, 3.0);
        // Awake: the wall clock keeps its distance, or drifts a little.
        assert_eq!(slept_ms(origin + 500.0 + skew, origin, 500.0, skew), 0.0);
        assert_eq!(
            slept_ms(origin + 500.0 + skew + 250.0, origin, 500.0, skew),
            0.0
        );
        // Asleep for a minute: performance.now() stood still, Date.now() did not.
        assert_eq!(
            slept_ms(origin + 500.0 + skew + 60_000.0, origin, 500.0, skew),
            60_000.0
        );
        // The wall clock set back: nothing to catch up.
        assert_eq!(slept_ms(origin - 3_600_000.0, origin, 500.0, skew), 0.0);
        // clock_ns moves forward by the sleep when epoch is moved back by it.
        let slept = slept_ms(origin + 500.0 + skew + 60_000.0, origin, 500.0, skew);
        assert_eq!(
            clock_ns(origin, 500.0, origin - slept) - clock_ns(origin, 500.0, origin),
            60_000_000_000
        );
    }

    #[test]
    fn workers_with_different_time_origins_agree() {
        // Worker A started 1000 ms after the epoch, worker B 2500 ms after it.
        let epoch = 1.7e12;
        let a = clock_ns(epoch + 1000.0, 500.0, epoch);
        let b = clock_ns(epoch + 2500.0, -1000.0 + 0.0 + 0.0, epoch);
        assert_eq!(a, 1_500_000_000);
        assert_eq!(b, 1_500_000_000);
        assert_eq!(clock_ns(epoch - 5.0, 0.0, epoch), 0);
        assert_eq!(clock_ns(f64::NAN, 0.0, epoch), 0);
    }

    #[test]
    fn timer_delays_round_up_and_negative_cancels() {
        assert_eq!(timer_delay_ms(-1), None);
        assert_eq!(timer_delay_ms(0), Some(0));
        assert_eq!(timer_delay_ms(1), Some(1));
        assert_eq!(timer_delay_ms(10_000_000), Some(10));
        assert_eq!(timer_delay_ms(i64::MAX), Some(i32::MAX));
    }
}
