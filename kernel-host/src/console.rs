//! What the host remembers of the kernel's console: the last lines (shown when the machine
//! crashes) and whether the kernel has finished reporting a panic.

use std::collections::VecDeque;

/// The line `panic()` prints last before it spins forever (kernel/panic.c).
const PANIC_END: &str = "---[ end Kernel panic - not syncing: ";
/// A line longer than this is cut (a kernel line is at most 1 KiB).
const MAX_LINE: usize = 4096;

#[derive(Debug, Clone)]
pub struct ConsoleLog {
    lines: VecDeque<String>,
    partial: Vec<u8>,
    keep: usize,
    panicked: bool,
}

impl ConsoleLog {
    /// Keeps the last `keep` lines.
    pub fn new(keep: usize) -> ConsoleLog {
        ConsoleLog {
            lines: VecDeque::new(),
            partial: Vec::new(),
            keep: keep.max(1),
            panicked: false,
        }
    }

    /// Adds console bytes. Returns the panic message the first time the kernel finishes
    /// reporting a panic; after that it only loops, so the host may stop the machine.
    pub fn push(&mut self, bytes: &[u8]) -> Option<String> {
        let mut found = None;
        for &b in bytes {
            match b {
                b'\n' => {
                    let line = String::from_utf8_lossy(&self.partial).into_owned();
                    self.partial.clear();
                    if !self.panicked {
                        if let Some(msg) = panic_message(&line) {
                            self.panicked = true;
                            found = Some(msg);
                        }
                    }
                    if self.lines.len() == self.keep {
                        self.lines.pop_front();
                    }
                    self.lines.push_back(line);
                }
                b'\r' => {}
                _ if self.partial.len() < MAX_LINE => self.partial.push(b),
                _ => {}
            }
        }
        found
    }

    /// The last lines, oldest first, with an unfinished last line if there is one.
    pub fn last_lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.lines.iter().cloned().collect();
        if !self.partial.is_empty() {
            out.push(String::from_utf8_lossy(&self.partial).into_owned());
        }
        if out.len() > self.keep {
            out.drain(..out.len() - self.keep);
        }
        out
    }
}

/// `"[    0.1] ---[ end Kernel panic - not syncing: VFS: oops ]---"` → `"VFS: oops"`.
fn panic_message(line: &str) -> Option<String> {
    let at = line.find(PANIC_END)?;
    let rest = &line[at + PANIC_END.len()..];
    let msg = rest.strip_suffix(" ]---").unwrap_or(rest);
    Some(format!("Kernel panic - not syncing: {}", msg.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_across_split_writes() {
        let mut log = ConsoleLog::new(2);
        assert_eq!(log.push(b"one\r\ntw"), None);
        // "é" is two bytes; the write splits it.
        let e = "o \u{e9}".as_bytes();
        assert_eq!(log.push(&e[..3]), None);
        log.push(&e[3..]);
        log.push(b"\n");
        assert_eq!(log.last_lines(), vec!["one", "two \u{e9}"]);
        log.push(b"three\npart");
        assert_eq!(log.last_lines(), vec!["three", "part"]);
    }

    #[test]
    fn reports_a_panic_once_when_its_end_line_is_complete() {
        let mut log = ConsoleLog::new(10);
        assert_eq!(
            log.push(b"[    0.2] Kernel panic - not syncing: wasm: no init\n[    0.2] ---[ end Kernel panic - not syncing: wasm: no"),
            None
        );
        assert_eq!(
            log.push(b" init ]---\n").as_deref(),
            Some("Kernel panic - not syncing: wasm: no init")
        );
        assert_eq!(
            log.push(b"---[ end Kernel panic - not syncing: again ]---\n"),
            None
        );
    }

    #[test]
    fn endless_lines_are_cut_not_kept() {
        let mut log = ConsoleLog::new(1);
        log.push(&vec![b'x'; 100_000]);
        assert_eq!(log.last_lines()[0].len(), MAX_LINE);
    }
}
