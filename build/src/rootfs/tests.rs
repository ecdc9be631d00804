//! The rootfs tests: descriptions built into images and read back with the system's cpio.

use super::description::parse_mode;
use super::*;
use anyhow::Result;
use std::path::Path;
use std::process::Command;

/// Runs system cpio on a gzipped archive (gzip -dc also checks the stream).
fn cpio(gz: &[u8], args: &str, cwd: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("img.cpio.gz");
    std::fs::write(&file, gz).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -dc '{}' | cpio {args}", file.display()))
        .current_dir(cwd)
        .output()
        .expect("run cpio (is /usr/bin/cpio installed?)");
    assert!(
        out.status.success(),
        "cpio {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn names(gz: &[u8]) -> Vec<String> {
    cpio(gz, "-it --quiet", Path::new("/"))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `cpio -itv` fields of `name`: [mode, nlink, uid, gid, size-or-dev…].
fn long(gz: &[u8], name: &str) -> Vec<String> {
    let listing = cpio(gz, "-itv --quiet --numeric-uid-gid", Path::new("/"));
    listing
        .lines()
        .find(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.contains(&name) && (w.last() == Some(&name) || w.contains(&"->"))
        })
        .unwrap_or_else(|| panic!("{name} not in\n{listing}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Extracts the regular files and symlinks under `pattern` and reads one.
fn extract(gz: &[u8], pattern: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    cpio(gz, &format!("-idm --quiet '{pattern}'"), dir.path());
    dir
}

fn build(text: &str, sources: &Sources) -> Result<Image> {
    Rootfs::parse(text)?.build(sources)
}

fn err(text: &str) -> String {
    format!(
        "{:#}",
        build(text, &Sources::new("/nonexistent")).unwrap_err()
    )
}

fn shipped() -> Rootfs {
    Rootfs::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rootfs.toml")).unwrap()
}

#[test]
fn shipped_description_builds_without_outputs() {
    let image = shipped()
        .build(&Sources::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    let skipped: Vec<&str> = image.skipped.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        skipped,
        [
            "/bin/busybox",
            "/usr/libexec/alpenglow/init",
            "/usr/share/busybox/testsuite.tar.gz",
            "/usr/share/alpenglow/disk/runs",
            "/usr/share/alpenglow/disk/blocks.gz",
            "/usr/bin/alpenglow-bench",
            "/usr/bin/alpenglow-ctest",
            "/usr/sbin/alpenglow-files",
            "/sbin/apk",
            "applets from `busybox:busybox.links`"
        ]
    );
    assert!(image.skipped[0]
        .reason
        .contains("build output `busybox` is not available"));
    // Only the files in the repository itself were read.
    let repo_file = |f: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join("rootfs").join(f);
    assert_eq!(
        image.inputs,
        [repo_file("busybox-testsuite"), repo_file("disk-setup")]
    );

    let gz = &image.cpio_gz;
    let all = names(gz);
    assert_eq!(all.len(), image.entries);
    for want in [
        "bin",
        "usr/sbin",
        "etc/os-release",
        "dev/console",
        "var/run",
    ] {
        assert!(all.iter().any(|n| n == want), "{want} missing: {all:?}");
    }
    let check = |name: &str, mode: &str, uid: &str, gid: &str| {
        let l = long(gz, name);
        assert_eq!(
            (l[0].as_str(), l[2].as_str(), l[3].as_str()),
            (mode, uid, gid),
            "{name}"
        );
        l
    };
    check("tmp", "drwxrwxrwt", "0", "0");
    check("root", "drwx------", "0", "0");
    check("etc/shadow", "-rw-r-----", "0", "42");
    check("etc/passwd", "-rw-r--r--", "0", "0");
    check("etc/inittab", "-rw-r--r--", "0", "0");
    check("usr/bin/busybox-testsuite", "-rwxr-xr-x", "0", "0");
    check("usr/libexec/alpenglow/autologin", "-rwxr-xr-x", "0", "0");
    let hvc = check("dev/hvc0", "crw--w----", "0", "5");
    assert_eq!(hvc[4..6], ["229,", "0"]);
    let ptmx = check("dev/ptmx", "crw-rw-rw-", "0", "5");
    assert_eq!(ptmx[4..6], ["5,", "2"]);
    let console = check("dev/console", "crw-------", "0", "0");
    assert_eq!(console[4..6], ["5,", "1"]);
    let null = check("dev/null", "crw-rw-rw-", "0", "0");
    assert_eq!(null[4..6], ["1,", "3"]);
    let tty = check("dev/tty", "crw-rw-rw-", "0", "5");
    assert_eq!(tty[4..6], ["5,", "0"]);
    let run = check("var/run", "lrwxrwxrwx", "0", "0");
    assert_eq!(run.last().unwrap(), "/run");

    let dir = extract(gz, "etc/*");
    let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
    let os = read("etc/os-release");
    for line in [
        "ID=alpenglow",
        "ID_LIKE=alpine",
        "NAME=\"Alpenglow Linux\"",
        "VERSION_ID=0.1",
    ] {
        assert!(os.lines().any(|l| l == line), "{line} not in {os}");
    }
    assert!(os.contains("PRETTY_NAME="));
    assert_eq!(read("etc/hostname"), "alpenglow\n");
    assert!(read("etc/profile").contains(r"PS1='\h:\w\$ '"));
    assert!(read("etc/passwd").starts_with("root:x:0:0:root:/root:/bin/sh\n"));
    assert!(read("etc/group").contains("shadow:x:42:"));
    // A console login: getty on the virtio console, root's empty password
    // accepted there, the virtual file systems mounted before it.
    let inittab = read("etc/inittab");
    let getty = inittab
        .lines()
        .find(|l| l.starts_with("hvc0::respawn:/sbin/getty "))
        .expect("a getty on hvc0");
    assert!(getty.contains(" hvc0 "), "{getty}");
    let autologin = "/usr/libexec/alpenglow/autologin";
    assert!(getty.contains(&format!("-n -l {autologin} ")), "{getty}");
    for fs in ["devtmpfs /dev", "mount -a", "hostname -F /etc/hostname"] {
        assert!(
            inittab
                .lines()
                .any(|l| l.starts_with("::sysinit:") && l.contains(fs)),
            "{fs} not in {inittab}"
        );
    }
    assert!(inittab.contains("::shutdown:/bin/umount -a -r"));
    // The files helper on hvc1, respawned; `download` is the same program.
    assert!(inittab
        .lines()
        .any(|l| l == "::respawn:/usr/sbin/alpenglow-files"));
    assert_eq!(
        long(gz, "usr/bin/download").last().unwrap(),
        "/usr/sbin/alpenglow-files"
    );
    // The kernel took the DHCP lease at boot (ip=dhcp): the name servers are its, and
    // ifup runs only when it did not (/proc/net/pnp says #MANUAL).
    assert_eq!(long(gz, "etc/resolv.conf").last().unwrap(), "/proc/net/pnp");
    // BusyBox init cuts a line at a hash sign.
    assert!(inittab.lines().any(|l| l.starts_with("::sysinit:")
        && !l.contains('#')
        && l.contains("MANUAL)")
        && l.contains("ifup -a")));
    let fstab = read("etc/fstab");
    for mp in ["/proc", "/sys", "/dev/pts", "/dev/shm", "/tmp", "/run"] {
        assert!(
            fstab
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(mp)),
            "{mp} not in {fstab}"
        );
    }
    // What devtmpfs lacks is copied onto /dev in one process, before `mount -a`
    // mounts /dev/pts and /dev/shm.
    let sysinit = |what: &str| {
        inittab
            .lines()
            .position(|l| l.starts_with("::sysinit:") && l.contains(what))
            .unwrap_or_else(|| panic!("no sysinit line with {what}"))
    };
    assert!(sysinit("devtmpfs /dev") < sysinit("cp -a /usr/share/alpenglow/dev/. /dev/"));
    assert!(sysinit("cp -a /usr/share/alpenglow/dev/. /dev/") < sysinit("mount -a"));
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let path = format!("usr/share/alpenglow/dev/{link}");
        assert_eq!(long(gz, &path).last().unwrap(), target);
    }
    assert!(read("etc/securetty").lines().any(|l| l == "hvc0"));
    assert!(read("etc/shadow").starts_with("root:::"));
    assert!(read("etc/shells").lines().any(|l| l == "/bin/sh"));
    assert!(read("etc/issue").contains("Kernel \\r on an \\m"));
    assert!(read("etc/motd").contains("across reloads"));
    assert!(read("etc/inittab").contains("::sysinit:/usr/libexec/alpenglow/disk-setup\n"));
    assert!(read("etc/profile.d/locale.sh").contains("LANG="));
    let dir = extract(gz, "usr/libexec/alpenglow/*");
    let autologin =
        std::fs::read_to_string(dir.path().join("usr/libexec/alpenglow/autologin")).unwrap();
    assert!(autologin.starts_with("#!/bin/sh\n"));
    assert!(autologin.contains("\nexec /bin/login -f root\n"));
}

#[test]
fn shipped_description_with_busybox_outputs() {
    let out = tempfile::tempdir().unwrap();
    let bb = out.path().join("busybox");
    std::fs::create_dir(&bb).unwrap();
    std::fs::write(bb.join("busybox"), b"\0asm rootfs test input").unwrap();
    std::fs::write(bb.join("testsuite.tar.gz"), b"testsuite").unwrap();
    std::fs::write(
        bb.join("busybox.links"),
        "/bin/ls\n/bin/sh\n/sbin/init\n/usr/bin/awk\n/bin/busybox\n\n# comment\nash\n/bin/ls\n",
    )
    .unwrap();
    let init = out.path().join("init-script");
    std::fs::write(&init, "#!/bin/sh\nexec /sbin/init\n").unwrap();
    let bench = out.path().join("bench-program");
    std::fs::write(&bench, b"\0asm bench test input").unwrap();
    let ctest = out.path().join("ctest-program");
    std::fs::write(&ctest, b"\0asm ctest test input").unwrap();
    let files = out.path().join("files-program");
    std::fs::write(&files, b"\0asm files test input").unwrap();
    let apk = out.path().join("apk-program");
    std::fs::write(&apk, b"\0asm apk test input").unwrap();
    let disk = out.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    std::fs::write(disk.join("runs"), "0 1\n").unwrap();
    std::fs::write(disk.join("blocks.gz"), b"blocks").unwrap();
    let sources = Sources::new(env!("CARGO_MANIFEST_DIR"))
        .with_output("busybox", &bb)
        .with_output("init", &init)
        .with_output("alpenglow-bench", &bench)
        .with_output("ctest", &ctest)
        .with_output("alpenglow-files", &files)
        .with_output("apk", &apk)
        .with_output("disk", &disk);
    let image = shipped().build(&sources).unwrap();
    assert!(image.skipped.is_empty(), "{:?}", image.skipped);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("rootfs/busybox-testsuite");
    let disk_setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("rootfs/disk-setup");
    assert_eq!(
        image.inputs,
        [
            bb.join("busybox"),
            init.clone(),
            bb.join("testsuite.tar.gz"),
            script,
            disk_setup,
            disk.join("runs"),
            disk.join("blocks.gz"),
            bench,
            ctest,
            files,
            apk,
            bb.join("busybox.links")
        ]
    );

    let gz = &image.cpio_gz;
    for link in ["bin/ls", "bin/sh", "bin/ash", "sbin/init", "usr/bin/awk"] {
        let l = long(gz, link);
        assert_eq!(l[0], "lrwxrwxrwx", "{link}");
        assert_eq!(l.last().unwrap(), "/bin/busybox", "{link}");
    }
    assert_eq!(names(gz).iter().filter(|n| *n == "bin/ls").count(), 1);
    assert_eq!(long(gz, "bin/busybox")[0], "-rwxr-xr-x");
    assert_eq!(long(gz, "sbin/apk")[0], "-rwxr-xr-x");
    // The kernel runs /init: BusyBox init; the boot check is kept beside it.
    assert_eq!(long(gz, "init").last().unwrap(), "/bin/busybox");
    assert_eq!(long(gz, "usr/libexec/alpenglow/init")[0], "-rwxr-xr-x");
    let dir = extract(gz, "bin/busybox");
    assert_eq!(
        std::fs::read(dir.path().join("bin/busybox")).unwrap(),
        b"\0asm rootfs test input"
    );
}

#[test]
fn write_tree_mirrors_the_image() {
    use std::os::unix::fs::PermissionsExt;
    let text = r##"
        dir = [{ path = "/ro", mode = "0555" }, { path = "/tmp", mode = "1777" }]
        symlink = [{ path = "/ro/link", target = "../bin/x" }]
        device = [{ path = "/dev/null", type = "char", major = 1, minor = 3 }]
        [[file]]
        path = "/bin/x"
        text = "#!/bin/sh\n"
        mode = "0755"
        [[file]]
        path = "/ro/f"
        text = "f"
    "##;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let skipped = Rootfs::parse(text)
        .unwrap()
        .write_tree(&Sources::new("/"), &root)
        .unwrap();
    assert!(skipped.is_empty());
    let mode = |p: &str| {
        std::fs::symlink_metadata(root.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("ro"), 0o555);
    assert_eq!(mode("tmp"), 0o1777);
    assert_eq!(mode("bin/x"), 0o755);
    assert_eq!(mode("ro/f"), 0o644);
    assert_eq!(
        std::fs::read_to_string(root.join("ro/link")).unwrap(),
        "#!/bin/sh\n"
    );
    assert!(root.join("dev").is_dir());
    assert!(!root.join("dev/null").exists());
    // The directory must be new: nothing is written over an old tree.
    assert!(Rootfs::parse(text)
        .unwrap()
        .write_tree(&Sources::new("/"), &root)
        .is_err());
}

#[test]
fn sorted_with_implicit_parents() {
    let text = r#"
        dir = [{ path = "/z" }, { path = "/a/b", mode = "0700", uid = 7, gid = 8 }]
        symlink = [{ path = "/a-link", target = "a" }]
        [[file]]
        path = "/a/b/c/d"
        text = "deep"
        [[file]]
        path = "/a/b/0"
        text = ""
    "#;
    let image = build(text, &Sources::new("/")).unwrap();
    assert_eq!(
        names(&image.cpio_gz),
        ["a", "a/b", "a/b/0", "a/b/c", "a/b/c/d", "a-link", "z"]
    );
    assert_eq!(image.entries, 7);
    let a = long(&image.cpio_gz, "a");
    assert_eq!((a[0].as_str(), a[2].as_str()), ("drwxr-xr-x", "0"));
    let ab = long(&image.cpio_gz, "a/b");
    assert_eq!(
        (ab[0].as_str(), ab[2].as_str(), ab[3].as_str()),
        ("drwx------", "7", "8")
    );
    assert_eq!(long(&image.cpio_gz, "a/b/c")[0], "drwxr-xr-x");
}

#[test]
fn deterministic_gzip_and_cpio() {
    let sources = Sources::new(env!("CARGO_MANIFEST_DIR"));
    let a = shipped().build(&sources).unwrap().cpio_gz;
    let b = shipped().build(&sources).unwrap().cpio_gz;
    assert_eq!(a, b);
    // gzip header: magic, deflate, no flags (so no file name), mtime 0, OS unknown.
    assert_eq!(a[..3], [0x1f, 0x8b, 8]);
    assert_eq!(a[3], 0);
    assert_eq!(a[4..8], [0, 0, 0, 0]);
    assert_eq!(a[9], 255);
    // Declaration order does not matter.
    let one = "dir = [{ path = \"/x\" }, { path = \"/y\" }]";
    let two = "dir = [{ path = \"/y\" }, { path = \"/x\" }]";
    let s = Sources::new("/");
    assert_eq!(
        build(one, &s).unwrap().cpio_gz,
        build(two, &s).unwrap().cpio_gz
    );
    // Every mtime in the archive is 0.
    let listing = cpio(&a, "-itv --quiet", Path::new("/"));
    assert!(listing.lines().all(|l| l.contains("1970")), "{listing}");
}

#[test]
fn relative_sources_and_missing_files() {
    let base = tempfile::tempdir().unwrap();
    std::fs::create_dir(base.path().join("files")).unwrap();
    std::fs::write(base.path().join("files/motd"), "hi\n").unwrap();
    let text = r#"
        [[file]]
        path = "/etc/motd"
        source = "files/motd"
        [[file]]
        path = "/opt/tool"
        source = "files/tool"
        optional = true
    "#;
    let image = build(text, &Sources::new(base.path())).unwrap();
    assert_eq!(image.skipped.len(), 1);
    assert_eq!(image.skipped[0].path, "/opt/tool");
    assert!(image.skipped[0]
        .reason
        .contains("files/tool does not exist"));
    assert_eq!(names(&image.cpio_gz), ["etc", "etc/motd"]);

    let required = text.replace("optional = true", "");
    let e = format!(
        "{:#}",
        build(&required, &Sources::new(base.path())).unwrap_err()
    );
    assert!(
        e.contains("entry /opt/tool: source `files/tool`")
            && e.contains(&format!(
                "{}/files/tool does not exist",
                base.path().display()
            )),
        "{e}"
    );

    let e = err("[[file]]\npath = \"/bin/busybox\"\nsource = \"busybox:busybox\"");
    assert!(
        e.contains(
            "entry /bin/busybox: source `busybox:busybox`: build output `busybox` is not available"
        ),
        "{e}"
    );
    // A directory where a file is expected is an error even when optional.
    let e = format!(
        "{:#}",
        build(
            "[[file]]\npath = \"/x\"\nsource = \"files\"\noptional = true",
            &Sources::new(base.path())
        )
        .unwrap_err()
    );
    assert!(e.contains("entry /x: source `files`: reading"), "{e}");
}

#[test]
fn declared_entries_win_over_applets() {
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("links"), "/sbin/init\n/bin/ls\n").unwrap();
    let text = r#"
        symlink = [{ path = "/sbin/init", target = "/init" }]
        [[file]]
        path = "/bin/busybox"
        text = "bb"
        [[applets]]
        list = "bb:links"
    "#;
    let image = build(text, &Sources::new("/").with_output("bb", out.path())).unwrap();
    assert_eq!(long(&image.cpio_gz, "sbin/init").last().unwrap(), "/init");
    assert_eq!(
        long(&image.cpio_gz, "bin/ls").last().unwrap(),
        "/bin/busybox"
    );

    // Applets whose target was skipped are skipped too.
    let text = r#"
        [[file]]
        path = "/bin/busybox"
        source = "bb:missing"
        optional = true
        [[applets]]
        list = "bb:links"
    "#;
    let image = build(text, &Sources::new("/").with_output("bb", out.path())).unwrap();
    assert_eq!(image.skipped.len(), 2);
    assert!(image.skipped[1]
        .reason
        .contains("target /bin/busybox was skipped"));
    assert!(names(&image.cpio_gz).is_empty());

    let e = format!(
        "{:#}",
        build(
            "[[applets]]\nlist = \"bb:nope\"",
            &Sources::new("/").with_output("bb", out.path())
        )
        .unwrap_err()
    );
    assert!(
        e.contains("applets from `bb:nope`") && e.contains("does not exist"),
        "{e}"
    );
    std::fs::write(out.path().join("bad"), "/bin/../x\n").unwrap();
    let e = format!(
        "{:#}",
        build(
            "[[applets]]\nlist = \"bb:bad\"",
            &Sources::new("/").with_output("bb", out.path())
        )
        .unwrap_err()
    );
    assert!(e.contains("line 1: `/bin/../x`"), "{e}");
}

#[test]
fn description_errors_name_the_entry() {
    let cases = [
        (
            "dir = [{ path = \"/a\" }]\n[[file]]\npath = \"/a\"\ntext = \"\"",
            "duplicate path /a: declared as a directory and as a file",
        ),
        (
            "dir = [{ path = \"/a\", mode = \"755x\" }]",
            "entry /a: bad mode \"755x\"",
        ),
        (
            "dir = [{ path = \"/a\", mode = \"10000\" }]",
            "entry /a: bad mode \"10000\"",
        ),
        (
            "dir = [{ path = \"/a\", mode = \"\" }]",
            "entry /a: bad mode \"\"",
        ),
        ("dir = [{ path = \"a\" }]", "entry a: path must be absolute"),
        ("dir = [{ path = \"/a/\" }]", "entry /a/: path has an empty"),
        ("dir = [{ path = \"/a/../b\" }]", "entry /a/../b: path has"),
        ("dir = [{ path = \"/\" }]", "root directory itself"),
        (
            "[[file]]\npath = \"/f\"\ntext = \"x\"\nsource = \"y\"",
            "entry /f: a file needs exactly one of `text` and `source`",
        ),
        (
            "[[file]]\npath = \"/f\"",
            "entry /f: a file needs exactly one",
        ),
        (
            "[[file]]\npath = \"/f\"\ntext = \"x\"\noptional = true",
            "entry /f: `optional` only applies",
        ),
        (
            "[[file]]\npath = \"/f\"\nsource = \"/etc/passwd\"",
            "entry /f: source `/etc/passwd` must be relative",
        ),
        (
            "[[file]]\npath = \"/f\"\nsource = \"out:../x\"",
            "entry /f: source `out:../x` leaves its build output",
        ),
        (
            "symlink = [{ path = \"/l\", target = \"\" }]",
            "entry /l: symlink target must be non-empty",
        ),
        (
            "device = [{ path = \"/dev/x\", type = \"char\", major = 4096, minor = 0 }]",
            "entry /dev/x: device number 4096:0 out of range",
        ),
        (
            "device = [{ path = \"/dev/x\", type = \"pipe\", major = 1, minor = 0 }]",
            "unknown variant `pipe`",
        ),
        (
            "dir = [{ path = \"/a\", text = \"x\" }]",
            "unknown field `text`",
        ),
        ("[[dirs]]\npath = \"/a\"", "unknown field `dirs`"),
        (
            "[[file]]\npath = \"/a\"\ntext = \"\"\n[[file]]\npath = \"/a/b\"\ntext = \"\"",
            "entry /a/b: parent /a is a file, not a directory",
        ),
        (
            "[[applets]]\nlist = \"x:y\"\ntarget = \"busybox\"",
            "applets from x:y: path must be absolute",
        ),
    ];
    for (text, want) in cases {
        let e = err(text);
        assert!(
            e.contains(want),
            "for {text:?}\n  want: {want}\n  got:  {e}"
        );
    }
}

#[test]
fn octal_modes() {
    assert_eq!(parse_mode(None, 0o644).unwrap(), 0o644);
    assert_eq!(parse_mode(Some("755"), 0).unwrap(), 0o755);
    assert_eq!(parse_mode(Some("04755"), 0).unwrap(), 0o4755);
    assert_eq!(parse_mode(Some("7777"), 0).unwrap(), 0o7777);
    assert!(parse_mode(Some("8"), 0).is_err());
    assert!(parse_mode(Some("-1"), 0).is_err());
    assert!(parse_mode(Some("000000"), 0).is_err());
}

#[test]
fn write_image_replaces_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("initramfs.cpio.gz");
    std::fs::write(&out, "old").unwrap();
    let image = build("dir = [{ path = \"/x\" }]", &Sources::new("/")).unwrap();
    write_image(&image, &out).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), image.cpio_gz);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
