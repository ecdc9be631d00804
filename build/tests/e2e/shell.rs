//! The shell, as people use it (issue 4).

use crate::common::*;
use alpenglow_build::browser::{input, Kind, Session};
use alpenglow_build::serve::Server;
use std::time::{Duration, Instant};

in_browsers!(a_login_shell_runs_what_people_type: chromium, firefox);

/// A logged-in shell on the page's terminal: types commands as a person would and reads
/// what the terminal shows. Each command line ends with `echo @@N:$?`, so the end of its
/// output (and its exit status) is a line the typed text itself cannot contain.
pub struct Shell<'a> {
    c: &'a Session,
    n: u32,
}

impl<'a> Shell<'a> {
    /// Opens the page and waits for the console's prompt (root is logged in on hvc0).
    pub fn login(c: &'a Session, url: &str) -> Shell<'a> {
        goto(c, url);
        wait_until_started(c);
        wait_for_line(c, "the login shell's prompt", |l| l.ends_with(":~#"));
        Shell { c, n: 0 }
    }

    /// Sends keys to the terminal without Enter (control characters included).
    pub fn keys(&self, keys: &str) {
        self.c
            .type_into("#terminal .xterm-helper-textarea", keys)
            .unwrap_or_else(|e| panic!("type {keys:?}: {e:#}"));
    }

    /// Waits for the marker of command `n`; returns its exit status and the screen.
    fn wait_marker(&self, n: u32, wait: Duration) -> (i32, String) {
        let mark = format!("@@{n}:");
        let deadline = Instant::now() + wait;
        loop {
            let screen = terminal_text(self.c);
            if let Some(status) = screen
                .lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix(&mark))
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                return (status, screen);
            }
            assert!(
                Instant::now() < deadline,
                "command {n} did not finish; the terminal shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clears the screen, runs `cmd` and returns what it printed (the lines between the
    /// command line and the marker). Asserts the exit status is 0.
    pub fn run(&mut self, cmd: &str) -> String {
        let (status, out) = self.run_status(cmd);
        assert_eq!(status, 0, "`{cmd}` failed ({status}); it printed:\n{out}");
        out
    }

    pub fn run_status(&mut self, cmd: &str) -> (i32, String) {
        self.n += 1;
        let n = self.n;
        type_line(self.c, &format!("clear; {cmd}; echo @@{n}:$?"));
        let (status, screen) = self.wait_marker(n, WAIT);
        let lines: Vec<&str> = screen.lines().collect();
        let start = lines
            .iter()
            .position(|l| l.contains(&format!("echo @@{n}:")))
            .map_or(0, |i| i + 1);
        let end = lines
            .iter()
            .position(|l| l.trim().starts_with(&format!("@@{n}:")))
            .unwrap_or(lines.len());
        let out = lines[start.min(end)..end].join("\n");
        (status, out)
    }
}

pub fn has(out: &str, needle: &str) {
    assert!(out.contains(needle), "expected {needle:?} in:\n{out}");
}

/// The commands the issue lists, typed into the terminal of a normally booted page: the
/// kernel runs BusyBox init, which logs root in on hvc0 (a real tty, so job control works).
fn a_login_shell_runs_what_people_type(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    {
        let c = browser(kind);
        let mut sh = Shell::login(&c, &url);

        let out = sh.run("uname -a");
        has(&out, "Linux alpenglow 6.12.");
        has(&out, "wasm32");
        let out = sh.run("cat /etc/os-release");
        has(&out, "ID=alpenglow");
        has(&out, "ID_LIKE=alpine");
        let out = sh.run("tty");
        has(&out, "/dev/hvc0");
        // The screen shows ~20 lines: keep each command's output shorter than that.
        let out = sh.run("ls -l / | grep -E ' (bin|etc|proc|tmp|usr)$'");
        for d in ["bin", "etc", "proc", "tmp", "usr"] {
            assert!(
                out.lines()
                    .any(|l| l.starts_with('d') && l.ends_with(&format!(" {d}"))),
                "ls -l / lacks the directory {d}:\n{out}"
            );
        }
        has(&sh.run("echo hello | tr a-z A-Z"), "HELLO");
        let out = sh.run("cat /proc/cpuinfo");
        has(&out, "processor");
        has(&out, "WebAssembly");
        let out = sh.run("ps | grep -E 'PID|init|-sh'");
        has(&out, "PID");
        has(&out, "init");
        has(&sh.run("echo x > /tmp/f; cat /tmp/f"), "x");
        has(
            &sh.run("for i in 1 2 3; do echo n$i; done | xargs"),
            "n1 n2 n3",
        );
        has(&sh.run("printf 'a b\\nc\\n' | wc -lw"), "2");
        has(&sh.run("grep ^root: /etc/passwd"), "root:x:0:0");
        has(&sh.run("echo alpine | sed s/alp/ALP/"), "ALPine");
        has(&sh.run("echo 3 4 | awk '{ print $1 * $2 }'"), "12");
        has(&sh.run("printf 'b\\na\\nc\\n' | sort | xargs"), "a b c");
        has(&sh.run("find /etc -name os-release"), "/etc/os-release");
        let out = sh.run("dmesg | head -3");
        has(&out, "Linux version 6.12");
        let out = sh.run("tar czf /tmp/t.tgz /etc && tar tzf /tmp/t.tgz | grep -c etc/");
        let listed: u32 = out
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .expect("a count of listed files");
        assert!(listed >= 10, "tar listed {listed} entries under etc/");
        has(
            &sh.run("tar tzf /tmp/t.tgz | grep os-release"),
            "etc/os-release",
        );

        // The C runtime checks (setjmp/longjmp, a pthread, SA_SIGINFO, vfork+exec).
        let out = sh.run("alpenglow-ctest | tail -1");
        has(&out, "passed, 0 failed");

        // Ctrl-C ends a foreground job at once and the prompt comes back.
        type_line(&c, "sleep 30");
        std::thread::sleep(Duration::from_millis(700));
        sh.keys("\u{3}");
        let out = sh.run("echo back");
        has(&out, "back");
        // A background job, jobs, kill %1.
        let out = sh.run("sleep 30 & jobs");
        has(&out, "sleep 30");
        has(&out, "Running");
        let out = sh.run("kill %1; sleep 1; jobs; ps | grep -c '[s]leep 30' || true");
        assert!(out.trim_end().ends_with('0'), "sleep 30 still runs:\n{out}");
        // Ctrl-Z stops a foreground job; fg resumes it; Ctrl-C ends it.
        type_line(&c, "sleep 40");
        std::thread::sleep(Duration::from_millis(700));
        sh.keys("\u{1a}");
        let out = sh.run("jobs");
        has(&out, "Stopped");
        type_line(&c, "fg");
        std::thread::sleep(Duration::from_millis(700));
        sh.keys("\u{3}");
        let out = sh.run("jobs; echo none-left");
        has(&out, "none-left");
        assert!(!out.contains("sleep 40"), "sleep 40 survived:\n{out}");

        // vi: insert a line, :wq, and the file has it.
        type_line(&c, "vi /tmp/v");
        wait_for_line(&c, "vi's screen", |l| l.starts_with('~'));
        sh.keys("ihello from vi");
        sh.keys(&input::ESCAPE.to_string());
        // vi waits a moment after ESC for the rest of an escape sequence, as a person does.
        std::thread::sleep(Duration::from_millis(500));
        type_line(&c, ":wq");
        has(&sh.run("cat /tmp/v"), "hello from vi");

        // `exit` gives a new login and prompt.
        type_line(&c, "exit");
        wait_for_terminal(&c, "login on 'hvc0'", false, WAIT);
        let out = sh.run("echo after-exit");
        has(&out, "after-exit");

        // 500 typed commands, then the terminal still answers.
        for i in 0..500 {
            let cmd = if i % 10 == 9 {
                format!("cat /etc/hostname > /dev/null # {i}")
            } else {
                format!("echo {i} > /dev/null")
            };
            type_line(&c, &cmd);
        }
        let out = sh.run("echo still-here");
        has(&out, "still-here");
        screenshot(&c, "shell-after-500-commands.png");
    }
}
