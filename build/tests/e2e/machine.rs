//! The machine's limits and clock (issue 15): what a real computer would shrug off must not
//! take the tab's Linux down, and the time must be the real time.

use crate::common::*;
use crate::shell::{has, Shell};
use alpenglow_build::browser::page::with_param;
use alpenglow_build::browser::Kind;
use alpenglow_build::serve::Server;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

in_browsers!(the_wall_clock_is_the_real_time: chromium, firefox);
in_browsers!(a_full_tmpfs_fails_the_write_and_the_shell_goes_on: chromium, firefox);
in_browsers!(a_loop_without_system_calls_cannot_freeze_the_machine: chromium, firefox);
in_browsers!(ps_shows_what_each_process_runs: chromium, firefox);
in_browsers!(ulimit_u_caps_a_users_processes: chromium, firefox);
in_browsers!(cpus_from_the_url_are_the_kernels_cpus: chromium, firefox);
in_browsers!(two_cpus_run_two_loops_and_the_shell_still_answers: chromium, firefox);
// Chromium only: its ceiling (about 125 wasm memories a page, two per process) is reached in
// seconds; Firefox's is near 500 processes (its per-site worker limit).
in_browsers!(past_the_process_ceiling_fork_fails_and_the_machine_goes_on: chromium);

/// Days from 1970-01-01 to January 1st of `year` (the Gregorian calendar).
fn days_before_year(year: u64) -> u64 {
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    (1970..year).map(|y| if leap(y) { 366 } else { 365 }).sum()
}

/// A number a command printed (its last line).
fn number(what: &str, out: &str) -> u64 {
    out.lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("{what}: expected a number, got {out:?}"))
}

/// The kernel reads the RTC (the page's clock) at boot: the year, the seconds since the epoch,
/// a new file's time and the RTC itself agree with this machine, and the RTC keeps a time
/// the guest sets.
fn the_wall_clock_is_the_real_time(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let c = browser(kind);
    let mut sh = Shell::login(&c, &server.url());

    let host = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the host clock is after 1970")
        .as_secs();
    let year = (1970..)
        .find(|&y| days_before_year(y + 1) * 86_400 > host)
        .expect("a year");
    assert_eq!(
        number("date +%Y", &sh.run("date +%Y")),
        year,
        "the guest's year"
    );
    let near = |what: &str, t: u64| {
        assert!(
            t.abs_diff(host) < 600,
            "{what} is {t}, this machine says {host}"
        );
    };
    near("date +%s", number("date +%s", &sh.run("date +%s")));
    let out = sh.run("touch /tmp/now; stat -c %Y /tmp/now");
    near("a new file's mtime", number("stat", &out));
    has(&sh.run("hwclock -r -u"), &year.to_string());
    has(&sh.run("dmesg | grep -i rtc"), "setting system clock");

    // hwclock -w sets the RTC from the system time (2031 here); the system time goes back to
    // now; hwclock -s sets it from the RTC, which kept 2031.
    let out = sh.run(&format!(
        "date -u -s @1936000000 >/dev/null; hwclock -w -u; date -u -s @{host} >/dev/null; \
         hwclock -s -u; date +%Y"
    ));
    assert_eq!(number("date +%Y after hwclock -s", &out), 2031);
    sh.run(&format!("date -u -s @{host} >/dev/null; hwclock -w -u"));
    drop(c);
}

/// /tmp is a tmpfs of half of RAM (as on Linux with an MMU): filling it stops with ENOSPC,
/// the shell goes on, and the space comes back. `size=` works on a remount.
fn a_full_tmpfs_fails_the_write_and_the_shell_goes_on(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let c = browser(kind);
    let mut sh = Shell::login(&c, &server.url());

    let ram_kb = number(
        "MemTotal",
        &sh.run("awk '/^MemTotal:/ { print $2 }' /proc/meminfo"),
    );
    let size_kb = number(
        "df /tmp",
        &sh.run("df -k /tmp | awk 'NR == 2 { print $2 }'"),
    );
    assert!(
        size_kb.abs_diff(ram_kb / 2) <= 4,
        "/tmp holds {size_kb} KiB; half of RAM is {} KiB",
        ram_kb / 2
    );

    let (status, out) = sh.run_status("dd if=/dev/zero of=/tmp/fill bs=1M count=4000");
    assert_ne!(status, 0, "dd into a full /tmp succeeded:\n{out}");
    has(&out, "No space left on device");
    let filled_kb = number("du", &sh.run("du -k /tmp/fill | cut -f1"));
    assert!(
        filled_kb + 8 >= size_kb && filled_kb <= size_kb,
        "/tmp/fill is {filled_kb} KiB of a {size_kb} KiB /tmp"
    );
    has(&sh.run("df -k /tmp | awk 'NR == 2 { print $5 }'"), "100%");
    // The machine goes on: a new process, and the space is back once the file is gone.
    has(&sh.run("rm /tmp/fill; echo ok-$((6*7))"), "ok-42");
    let used_kb = number("df", &sh.run("df -k /tmp | awk 'NR == 2 { print $3 }'"));
    assert!(used_kb < 64, "{used_kb} KiB still used in /tmp");

    // A smaller limit on a remount: /proc/mounts says it, and a write stops there.
    has(
        &sh.run("mount -o remount,size=2m /tmp && grep ' /tmp ' /proc/mounts"),
        "size=2048k",
    );
    let (status, out) = sh.run_status("dd if=/dev/zero of=/tmp/f bs=1k count=3000");
    assert_ne!(status, 0, "dd past size=2m succeeded:\n{out}");
    has(&out, "No space left on device");
    // What fits is written (all of 2 MiB but what other files in /tmp hold).
    let written = number("stat", &sh.run("stat -c %s /tmp/f"));
    assert!(
        ((2 << 20) - (64 << 10)..=2 << 20).contains(&written),
        "/tmp/f is {written} bytes after a write past size=2m"
    );
    // Not below what is in use.
    let (status, out) = sh.run_status("mount -o remount,size=1m /tmp");
    assert_ne!(
        status, 0,
        "a remount below what is in use succeeded:\n{out}"
    );
    has(&sh.run("rm /tmp/f; echo ok-$((7*6))"), "ok-42");
    // A mount of its own, with a file in it, unmounts cleanly (the files' pages go back
    // before the mount's accounting does).
    let out = sh.run(
        "mkdir -p /mnt/t && mount -t tmpfs -o size=1m scratch /mnt/t && \
         echo kept > /mnt/t/f && umount /mnt/t && echo unmounted-$((1+1))",
    );
    has(&out, "unmounted-2");
    drop(c);
}

/// A program that computes without system calls is preempted at its loops
/// (`kernel_host::preempt`): the shell answers while one runs in the background, `kill` ends
/// it, and Ctrl-C ends one in the foreground, in a program (awk) and in the shell itself.
fn a_loop_without_system_calls_cannot_freeze_the_machine(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let c = browser(kind);
    let mut sh = Shell::login(&c, &server.url());
    let spin = "awk 'BEGIN { while (1) x++ }'";

    // Two loops in the background; the shell still runs commands, and a second later too.
    let out = sh.run(&format!("{spin} & {spin} & sleep 1; echo ok-$((6*7))"));
    has(&out, "ok-42");
    let out = sh.run("jobs");
    assert_eq!(
        out.lines().filter(|l| l.contains("Running")).count(),
        2,
        "both loops run:\n{out}"
    );
    // Both made progress: each has used CPU time (utime + stime, fields 14 and 15 of
    // /proc/PID/stat; a tick taken at a preemption point counts as system time).
    let out =
        sh.run("for p in $(pidof awk); do awk '{ print ($14 + $15 > 0) }' /proc/$p/stat; done");
    assert_eq!(out.lines().filter(|l| l.trim() == "1").count(), 2, "{out}");
    let out = sh.run("kill %1 %2; wait; echo left-$(pidof awk | wc -w)");
    has(&out, "left-0");

    // Ctrl-C ends a foreground loop: in awk, then in the shell itself.
    type_line(&c, spin);
    std::thread::sleep(Duration::from_millis(1000));
    sh.keys("\u{3}");
    has(&sh.run("echo back-$((40+2))"), "back-42");
    type_line(&c, "i=0; while :; do i=$((i+1)); done");
    std::thread::sleep(Duration::from_millis(1000));
    sh.keys("\u{3}");
    has(&sh.run("echo looped-$((i > 100))"), "looped-1");
    drop(c);
}

/// More background processes than the browser has room for (`kernel_host::pool`): the ones
/// past the ceiling fail to fork with the kernel's EAGAIN (or to exec with ENOMEM), the shell
/// says so and goes on, and once they end, new processes start again.
fn past_the_process_ceiling_fork_fails_and_the_machine_goes_on(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let c = browser(kind);
    let mut sh = Shell::login(&c, &server.url());

    // Only builtins after the loop: at the ceiling a command that forks may fail.
    sh.run("for i in $(seq 200); do sleep 300 & p=\"$p $!\"; done 2>/tmp/fork-errors");
    has(&sh.run("echo still-$((6*7))"), "still-42");
    let live = number(
        "sleeps in /proc",
        &sh.run(
            "n=0; for d in /proc/[0-9]*; do read c < $d/comm && [ \"$c\" = sleep ] && \
             n=$((n+1)); done; echo $n",
        ),
    );
    assert!(
        (30..200).contains(&live),
        "{live} sleeps ran at once: expected the ceiling to stop them short of 200"
    );
    sh.run("kill $p 2>/dev/null; wait; echo");
    // Processes start again once the sleeps are gone (their memories go as the workers'
    // collectors run: a few tries at most).
    let mut forked = String::new();
    for _ in 0..20 {
        forked = sh.run_status("echo $(echo forked-$((6*9)))").1;
        if forked.contains("forked-54") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    has(&forked, "forked-54");
    let errors = sh.run("sort -u /tmp/fork-errors");
    assert!(
        errors.contains("vfork: Resource temporarily unavailable")
            || errors.contains("Out of memory"),
        "the shell said nothing of the processes it could not start:\n{errors}"
    );
    drop(c);
}

/// `ps` reads other processes' command lines from /proc (each process's memory is its own,
/// so the kernel serves them from what exec laid out).
fn ps_shows_what_each_process_runs(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let c = browser(kind);
    let mut sh = Shell::login(&c, &server.url());
    // The arguments are computed by the shell, so the typed line does not hold them.
    sh.run("sleep $((60+3)) & sleep $((60+4)) & A=$((6*7)) sh -c 'sleep 65; true' & sleep 0.5");
    let out = sh.run("ps -o pid,args");
    has(&out, "sleep 63");
    has(&out, "sleep 64");
    has(&out, "sh -c sleep 65; true");
    has(&out, "-sh");
    // Another process's environment too, as Linux shows it to its owner.
    let out = sh.run(
        "for d in /proc/[0-9]*; do tr '\\0' ' ' < $d/cmdline | grep -q '^sh -c sleep 65' && \
         tr '\\0' '\\n' < $d/environ | grep '^A='; done; true",
    );
    has(&out, "A=42");
    sh.run("kill %1 %2 %3; wait; echo");
}

/// RLIMIT_NPROC, set with `ulimit -u`, caps the processes of a user (root is exempt, as on
/// Linux): a user's shell limited to 5 processes starts 4 of 8 background sleeps, each
/// other fork fails with EAGAIN and the shell says so, and the machine goes on.
fn ulimit_u_caps_a_users_processes(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let c = browser(kind);
    let mut sh = Shell::login(&c, &server.url());
    sh.run("adduser -D -s /bin/sh bob");
    sh.run(
        "su bob -c 'ulimit -u 5; for i in 1 2 3 4 5 6 7 8; do sleep 61 & done \
         2>/tmp/nproc.err; true'",
    );
    // Counted by root, whose own forks the limit does not touch.
    has(
        &sh.run("echo live-$(ps -o user,args | grep -c '^bob .*sleep 61')"),
        "live-4",
    );
    has(
        &sh.run("echo refused-$(grep -c 'Resource temporarily unavailable' /tmp/nproc.err)"),
        "refused-4",
    );
    sh.run("pkill -u bob sleep; sleep 0.5");
    has(&sh.run("echo ok-$((6*7))"), "ok-42");
}

/// `?cpus=2` boots a machine with two CPUs: the kernel brings both up and the status bar says
/// so. The counts are computed by the shell, so the typed line does not hold them.
fn cpus_from_the_url_are_the_kernels_cpus(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let c = browser(kind);
    let mut sh = Shell::login(&c, &with_param(&server.url(), "cpus", "2"));
    has(&sh.run("echo cpus-$(($(nproc)*10))"), "cpus-20");
    has(
        &sh.run("echo processors-$(($(grep -c ^processor /proc/cpuinfo)*10))"),
        "processors-20",
    );
    has(&sh.run("dmesg | grep 'smp: Brought up'"), "2 CPUs");
    let facts = text_of(&c, ".statusbar .machine-facts");
    assert!(facts.contains("CPUs 2"), "status bar: {facts:?}");
    drop(c);
}

/// With two CPUs, two programs that compute in the background both make progress, CPU 1 does
/// its share, and the shell still answers at once; `kill` ends both.
fn two_cpus_run_two_loops_and_the_shell_still_answers(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let c = browser(kind);
    let mut sh = Shell::login(&c, &with_param(&server.url(), "cpus", "2"));
    let counting =
        |file: &str| format!("sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/{file}; done'");
    sh.run(&format!("{} & {} & sleep 2", counting("a"), counting("b")));
    // A loop empties its file before it writes the next number: read until it holds one.
    let out = sh.run(
        "for f in a b; do n=; while [ -z \"$n\" ]; do n=$(cat /tmp/$f); done; \
         echo counted-$f-$((n > 0)); done",
    );
    has(&out, "counted-a-1");
    has(&out, "counted-b-1");
    // CPU 1 ran too: its user and system time in /proc/stat are not both zero.
    has(
        &sh.run("echo cpu1-busy-$(awk '/^cpu1 / { print ($2 + $4 > 0) }' /proc/stat)"),
        "cpu1-busy-1",
    );
    has(&sh.run("echo ok-$((6*7))"), "ok-42");
    sh.run("kill %1 %2; wait; echo");
    has(&sh.run("echo done-$((6*9))"), "done-54");
    drop(c);
}
