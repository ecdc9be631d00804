//! `cargo x …`: the Alpenglow build CLI.

use alpenglow_build::pipeline::Ctx;
use alpenglow_build::sources::tree;
use alpenglow_build::steps::{self, busybox, guest, initramfs, kernel, manifest, musl, site};
use alpenglow_build::ui::Ui;
use alpenglow_build::{
    bbtest, bench, browser, doctor, packages, paths::Paths, pkgtest, relay, serve,
};
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::process::Command;

#[derive(Parser)]
#[command(name = "cargo x", about = "Build, run and test Alpenglow", version)]
struct Cli {
    /// Show the commands being run.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check every prerequisite and install what is missing when possible.
    Doctor {
        /// Only report; install nothing.
        #[arg(long)]
        check: bool,
    },
    /// Resolve, download and verify the pinned sources.
    Fetch,
    /// Build dist/vmlinux.wasm.
    Kernel,
    /// Build musl into the sysroot.
    Musl,
    /// Build BusyBox.
    Busybox,
    /// Build our own guest programs (build/guest/*.c).
    Guest,
    /// BusyBox's own testsuite: `native` runs it against a native build of the same
    /// BusyBox; `compare LOG` compares a guest run with it.
    Bbtest {
        #[command(subcommand)]
        what: Bbtest,
    },
    /// Build packages from their recipes (build/packages/NAME.toml) and what they need,
    /// into $CACHE/out/pkg/<origin>/<package>/{root/,meta.json}, and serve them with the
    /// default set in the site's repository (target/repo/main/wasm32).
    Pkg {
        /// Every recipe.
        #[arg(long, conflicts_with_all = ["names", "default"])]
        all: bool,
        /// The default set CI builds (zlib, mbedtls, lua5.4, sqlite, oniguruma, jq, tree,
        /// ncurses, htop).
        #[arg(long, conflicts_with = "names")]
        default: bool,
        /// Alpine names of packages (a subpackage builds its recipe).
        names: Vec<String>,
    },
    /// Install every package that has a `check` (or the NAMEs) with the guest's apk in a
    /// headless browser and run each check there; prints a table.
    Pkgtest {
        /// Alpine names of packages (default: every package of the repository with a check).
        names: Vec<String>,
        /// The browser: chromium or firefox.
        #[arg(long, default_value = "chromium")]
        browser: browser::Kind,
    },
    /// Build dist/initramfs.cpio.gz (and the guest programs it carries, if stale).
    Initramfs,
    /// Build every artifact (each step skipped when its inputs are unchanged).
    All,
    /// Set up what is missing, build what is stale, serve the app and print its URL.
    Up {
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to listen on (0.0.0.0 to serve beyond this machine, e.g. from Docker).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Also serve the embedding example (app/examples/) on this port: another origin.
        #[arg(long)]
        example_port: Option<u16>,
        /// Also run a Wisp relay (`cargo x relay`'s defaults: loopback, public addresses
        /// only) and print the page's URL with it set.
        #[arg(long)]
        relay: bool,
    },
    /// Run every test: unit tests, then end-to-end tests in headless Chromium and Firefox.
    Test,
    /// Measure Alpenglow in a headless browser against the same workloads run natively:
    /// boot, compute, syscalls, processes, pipes, files, BusyBox, memory, sizes.
    Bench {
        /// Repetitions of every timed figure (median, min and max are reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Small workloads: checks that the command works, says little about speed.
        #[arg(long)]
        quick: bool,
        /// An earlier result file (target/bench/*.json) to print the change against.
        #[arg(long, value_name = "OLD.json")]
        compare: Option<std::path::PathBuf>,
        /// Appended to the kernel command line (the page's `append` URL parameter).
        #[arg(long)]
        append: Option<String>,
        /// The browser: chromium or firefox.
        #[arg(long, default_value = "chromium")]
        browser: browser::Kind,
    },
    /// Boot the built app in a headless browser, type each command at its shell prompt and
    /// print what the terminal shows (stops at the first command that fails).
    Run {
        /// Appended to the kernel command line.
        #[arg(long)]
        append: Option<String>,
        /// A parameter of the page's address, KEY=VALUE (repeatable): `--param preempt=off`,
        /// `--param disk=none`.
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Give up on a command that prints nothing for this many seconds.
        #[arg(long, default_value_t = 120)]
        quiet: u64,
        /// The browser: chromium or firefox.
        #[arg(long, default_value = "chromium")]
        browser: browser::Kind,
        /// Print the browser console's messages (page and workers) after the commands.
        #[arg(long)]
        browser_log: bool,
        #[arg(required = true)]
        commands: Vec<String>,
    },
    /// Serve a Wisp relay so that the guest reaches real TCP (the page's `relay` setting):
    /// without --allow, any public address; loopback and private networks only when a rule
    /// names them.
    Relay {
        /// Address to listen on (only this machine by default).
        #[arg(long, default_value = relay::DEFAULT_LISTEN)]
        listen: String,
        /// Allow HOST:PORTS (repeatable): `example.org:443`, `*.example.org:*`,
        /// `127.0.0.1:8000-8099`, `10.0.0.0/8:22`, `[::1]:22`, `*:443` (public only).
        #[arg(long, value_name = "HOST:PORTS")]
        allow: Vec<String>,
    },
    /// Render the web app's PNG icons from app/icon.svg (trunk's pre-build hook runs this).
    #[command(hide = true)]
    Icons {
        /// Directory to write icons/ into (default: $TRUNK_STAGING_DIR, set by trunk).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Build the kernel with Linux's lock, RCU and sleep checking (lockdep,
    /// DEBUG_ATOMIC_SLEEP), boot it in a headless browser with several CPUs, type a workload
    /// and fail on any report in the kernel log.
    Lockcheck {
        /// CPUs of the machine (the page's `cpus`).
        #[arg(long, default_value_t = 2)]
        cpus: u32,
        /// The browser: chromium or firefox.
        #[arg(long, default_value = "chromium")]
        browser: browser::Kind,
    },
    /// Regenerate patches/<component>/ from the commits in its source tree.
    Patches { component: String },
    /// Remove build outputs (dist/, build trees, stamps); downloads and source trees stay.
    Clean {
        /// Also remove downloaded tarballs.
        #[arg(long)]
        downloads: bool,
    },
}

#[derive(Subcommand)]
enum Bbtest {
    /// Build BusyBox with the image's configuration for this machine and run the testsuite
    /// (results in $CACHE/out/busybox-native/testsuite-results.txt).
    Native,
    /// Boot the built app in a headless browser and run `busybox-testsuite` in it (output in
    /// $CACHE/out/busybox-guest/testsuite.log); a full run is compared with the native one.
    Guest {
        /// Appended to the kernel command line.
        #[arg(long)]
        append: Option<String>,
        /// Give up when the testsuite prints nothing for this many seconds.
        #[arg(long, default_value_t = 300)]
        quiet: u64,
        /// The browser: chromium or firefox.
        #[arg(long, default_value = "chromium")]
        browser: browser::Kind,
        /// Test only these applets (default: all).
        applets: Vec<String>,
    },
    /// Compare the output of `busybox-testsuite` in the guest (saved to LOG) with the native run.
    Compare { log: std::path::PathBuf },
}

fn main() {
    let cli = Cli::parse();
    let ui = Ui {
        verbose: cli.verbose,
    };
    if let Err(e) = run(ui, cli.cmd) {
        eprintln!("\nerror: {e:#}");
        std::process::exit(1);
    }
}

fn run(ui: Ui, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Doctor { check } => doctor::run(&ui, &Paths::discover()?, !check),
        Cmd::Fetch => steps::fetch::run(&mut Ctx::new(ui)?).map(drop),
        Cmd::Kernel => kernel::build(&mut Ctx::new(ui)?),
        Cmd::Musl => musl::build(&mut Ctx::new(ui)?),
        Cmd::Busybox => busybox::build(&mut Ctx::new(ui)?),
        Cmd::Guest => guest::build(&mut Ctx::new(ui)?),
        Cmd::Bbtest { what } => match what {
            Bbtest::Native => bbtest::native(&mut Ctx::new(ui)?).map(drop),
            Bbtest::Guest {
                append,
                quiet,
                browser,
                applets,
            } => bbtest::guest(
                &mut Ctx::new(ui)?,
                &applets,
                append.as_deref(),
                std::time::Duration::from_secs(quiet),
                browser,
            )
            .map(drop),
            Bbtest::Compare { log } => bbtest::compare_with_native(&mut Ctx::new(ui)?, &log),
        },
        Cmd::Pkg {
            all,
            default,
            names,
        } => {
            let mut ctx = Ctx::new(ui)?;
            let names = if all {
                packages::all_names(&ctx)?
            } else if default {
                packages::DEFAULT_SET
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            } else if names.is_empty() {
                bail!("name the packages to build, or pass --all or --default");
            } else {
                names
            };
            let built = steps::packages::build(&mut ctx, &names)?;
            for p in &built {
                println!(
                    "{} {} {} KiB {}",
                    p.name,
                    p.version,
                    p.installed_size.div_ceil(1024),
                    p.root.display()
                );
            }
            Ok(())
        }
        Cmd::Pkgtest { names, browser } => {
            pkgtest::run(&mut Ctx::new(ui)?, &names, browser).map(drop)
        }
        Cmd::Initramfs => {
            let mut ctx = Ctx::new(ui)?;
            // The image carries our guest programs: build what is stale of them first.
            guest::build(&mut ctx)?;
            initramfs::build(&mut ctx)?;
            if kernel::vmlinux_wasm(&ctx).exists() {
                manifest::write(&mut ctx)?;
            }
            Ok(())
        }
        Cmd::All => steps::all(&mut Ctx::new(ui)?),
        Cmd::Relay { listen, allow } => relay::run(&listen, &allow),
        Cmd::Up {
            port,
            host,
            example_port,
            relay: with_relay,
        } => {
            let paths = Paths::discover()?;
            doctor::run(&ui, &paths, true)?;
            let mut ctx = Ctx::new(ui)?;
            steps::all(&mut ctx)?;
            // Every recipe that builds goes in the repository people install from (the
            // default set alone is what the tests need). The machine is usable without them:
            // whatever goes wrong here, the default set's repository stays and the page is
            // served.
            if let Err(e) = steps::packages::build_every_recipe(&mut ctx) {
                ui.info(&format!(
                    "the repository serves the default set only: {e:#}"
                ));
            }
            site::build(&ui, &paths)?;
            let server = serve::Server::start(&paths.site(), &host, port)?;
            let example = match example_port {
                Some(p) => Some(serve::Server::start(
                    &paths.repo.join("app/examples"),
                    &host,
                    p,
                )?),
                None => None,
            };
            let relay = if with_relay {
                Some(relay::start(
                    relay::DEFAULT_LISTEN,
                    relay::Policy::default(),
                    std::sync::Arc::new(|line| eprintln!("relay: {line}")),
                )?)
            } else {
                None
            };
            let url = match &relay {
                Some(r) => format!("{}?relay={}", server.url(), r.url),
                None => server.url(),
            };
            eprintln!("\n  Alpenglow is running at {url}\n  (Ctrl-C to stop)\n");
            if let Some(e) = &example {
                eprintln!(
                    "  The embedding example (another origin): {}\n",
                    serve::example_url(e, &server)
                );
            }
            println!("{url}");
            server.wait();
            Ok(())
        }
        Cmd::Test => test(ui),
        Cmd::Bench {
            reps,
            quick,
            compare,
            append,
            browser,
        } => bench::run(
            &mut Ctx::new(ui)?,
            &bench::Options {
                reps,
                quick,
                compare,
                append,
                browser,
            },
        ),
        Cmd::Run {
            append,
            params,
            quiet,
            browser,
            browser_log,
            commands,
        } => browser::page::run_commands(
            &mut Ctx::new(ui)?,
            &commands,
            &browser::page::RunOptions {
                append: append.as_deref(),
                params: &params,
                quiet: std::time::Duration::from_secs(quiet),
                kind: browser,
                browser_log,
            },
        ),
        Cmd::Lockcheck { cpus, browser } => {
            alpenglow_build::lockcheck::run(&mut Ctx::new(ui)?, cpus, browser)
        }
        Cmd::Icons { out } => site::icons(&Paths::discover()?, out),
        Cmd::Patches { component } => {
            let paths = Paths::discover()?;
            // A package's tree is `src/pkg-<name>`; its series is `patches/<name>/` all the same.
            let recipe = packages::recipe::dir(&paths.repo).join(format!("{component}.toml"));
            let src = if recipe.exists() {
                paths.src(&packages::component(&component))
            } else {
                paths.src(&component)
            };
            if !src.join(".git").exists() {
                bail!(
                    "no source tree for `{component}` at {} (run `cargo x all` first)",
                    src.display()
                );
            }
            let n = tree::export(&component, &src, &paths.patches(&component))?;
            eprintln!(
                "wrote {n} patch(es) to {}",
                paths.patches(&component).display()
            );
            Ok(())
        }
        Cmd::Clean { downloads } => {
            let paths = Paths::discover()?;
            let mut dirs = vec![
                paths.dist(),
                paths.cache.join("out"),
                paths.stamps(),
                paths.sysroot(),
                paths.logs(),
            ];
            if downloads {
                dirs.push(paths.downloads());
            }
            for d in dirs {
                if d.exists() {
                    std::fs::remove_dir_all(&d)
                        .with_context(|| format!("removing {}", d.display()))?;
                    eprintln!("removed {}", d.display());
                }
            }
            eprintln!(
                "source trees in {} are kept (they may hold your commits)",
                paths.cache.join("src").display()
            );
            Ok(())
        }
    }
}

/// `cargo x test`: prerequisites, artifacts, unit tests, the site, end-to-end tests, and a
/// smoke run of `cargo x bench`.
fn test(ui: Ui) -> Result<()> {
    let paths = Paths::discover()?;
    doctor::run(&ui, &paths, true)?;
    steps::all(&mut Ctx::new(ui)?)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let step = ui.step("unit tests");
    cargo_test(
        &cargo,
        &paths,
        &["-p", "alpenglow-build", "-p", "kernel-host", "-p", "app"],
    )?;
    // The ABI check and the preemption points of the real programs need the built kernel
    // and initramfs, so they only run here.
    cargo_test(
        &cargo,
        &paths,
        &[
            "-p",
            "kernel-host",
            "--test",
            "abi",
            "--test",
            "programs",
            "--",
            "--ignored",
        ],
    )?;
    step.done("");
    site::build(&ui, &paths)?;
    let step = ui.step("end-to-end tests (headless Chromium and Firefox)");
    cargo_test(
        &cargo,
        &paths,
        &[
            "-p",
            "alpenglow-build",
            "--test",
            "e2e",
            "--",
            "--ignored",
            "--test-threads=1",
        ],
    )?;
    step.done("");
    // A smoke run of the benchmarks: proves `cargo x bench` still works end to end; its
    // figures are not judged (speed is measured by `cargo x bench`, never by a test).
    bench::run(
        &mut Ctx::new(ui)?,
        &bench::Options {
            reps: 1,
            quick: true,
            compare: None,
            append: None,
            browser: browser::Kind::Chromium,
        },
    )?;
    Ok(())
}

fn cargo_test(cargo: &str, paths: &Paths, args: &[&str]) -> Result<()> {
    let status = Command::new(cargo)
        .arg("test")
        .args(args)
        .current_dir(&paths.repo)
        .status()
        .context("running cargo test")?;
    if !status.success() {
        bail!("cargo test {} failed", args.join(" "));
    }
    Ok(())
}
