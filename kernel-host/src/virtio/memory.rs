//! Kernel memory as the device side sees it: where the virtqueues and the buffers are. The
//! browser's implementation is `browser::devices::KernelMemory`; tests use `Ram`.

/// A driver handed the device an address outside kernel memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub addr: u64,
    pub len: usize,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes at {:#x} are outside kernel memory",
            self.len, self.addr
        )
    }
}

/// Kernel memory. The 16-bit ring indices are accessed atomically (they are what orders the
/// driver's and the device's view of a ring).
pub trait GuestMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Fault>;
    fn write(&self, addr: u64, data: &[u8]) -> Result<(), Fault>;
    fn load_u16(&self, addr: u64) -> Result<u16, Fault>;
    fn store_u16(&self, addr: u64, v: u16) -> Result<(), Fault>;

    fn read_u16(&self, addr: u64) -> Result<u16, Fault> {
        let mut b = [0; 2];
        self.read(addr, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }
    fn read_u32(&self, addr: u64) -> Result<u32, Fault> {
        let mut b = [0; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn read_u64(&self, addr: u64) -> Result<u64, Fault> {
        let mut b = [0; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}

/// Kernel memory for tests: a byte vector.
#[cfg(test)]
pub(crate) struct Ram(pub std::cell::RefCell<Vec<u8>>);

#[cfg(test)]
impl Ram {
    pub fn new(len: usize) -> Ram {
        Ram(std::cell::RefCell::new(vec![0; len]))
    }
    fn range(&self, addr: u64, len: usize) -> Result<std::ops::Range<usize>, Fault> {
        let end = addr.checked_add(len as u64).ok_or(Fault { addr, len })?;
        if end > self.0.borrow().len() as u64 {
            return Err(Fault { addr, len });
        }
        Ok(addr as usize..end as usize)
    }
    pub fn put_u16(&self, addr: u64, v: u16) {
        self.write(addr, &v.to_le_bytes()).unwrap()
    }
    pub fn put_u32(&self, addr: u64, v: u32) {
        self.write(addr, &v.to_le_bytes()).unwrap()
    }
    pub fn put_u64(&self, addr: u64, v: u64) {
        self.write(addr, &v.to_le_bytes()).unwrap()
    }
}

#[cfg(test)]
impl GuestMemory for Ram {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let r = self.range(addr, buf.len())?;
        buf.copy_from_slice(&self.0.borrow()[r]);
        Ok(())
    }
    fn write(&self, addr: u64, data: &[u8]) -> Result<(), Fault> {
        let r = self.range(addr, data.len())?;
        self.0.borrow_mut()[r].copy_from_slice(data);
        Ok(())
    }
    fn load_u16(&self, addr: u64) -> Result<u16, Fault> {
        self.read_u16(addr)
    }
    fn store_u16(&self, addr: u64, v: u16) -> Result<(), Fault> {
        self.write(addr, &v.to_le_bytes())
    }
}
