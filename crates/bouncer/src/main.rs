//! `bouncer`: see `bouncer --help`.

use std::process::ExitCode;

use bouncer::app::AppError;
use bouncer::cli::{Cli, Command, ConfigCommand, run};
use bouncer::config::Config;
use clap::Parser;

/// Rust's allocations go to mimalloc: a `/users/me` makes ~38 of them, and glibc's `malloc`
/// and `free` took 18% of its instructions (mimalloc: 9% fewer instructions a request, see
/// `docs/benchmarks.md`). Built without transparent huge pages (`no_thp`: with them, every 2 MiB
/// region it touched became resident, +40 MiB idle) and told to return freed memory at once
/// instead of after 10 ms (with the delay, +17 MiB idle and +36 MiB after a few logins: the
/// Argon2 buffers' pages stayed).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's option number (`mi_option_e` in mimalloc 2's `mimalloc.h`; the bindings do not name
/// it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// SQLite allocates with the C library's `malloc`, which stays glibc's: it keeps freed large
/// blocks for reuse and raises its mmap threshold after each one. A fixed threshold keeps large
/// blocks in mmap, returned to the system when freed; two arenas bound per-thread caching.
fn tune_allocator() {
    // SAFETY: mi_option_set only sets a value mimalloc reads when it next purges; called first
    // thing, before other threads.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called first thing, before other threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// glibc gives memory back to the system only from the top of a heap; what SQLite freed in the
/// middle stays resident (before mimalloc served Rust's allocations, 1,000 connections left ~210
/// MiB, of which a `malloc_trim` returned a third). A thread of its own asks glibc every 10 s to
/// return the free pages of every arena (`madvise`, no copying; the pages fault back in if used).
fn trim_allocator_periodically() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let trim = || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(10));
                // SAFETY: malloc_trim only releases free memory; glibc locks each arena for it.
                unsafe {
                    libc::malloc_trim(0);
                }
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name("malloc-trim".into())
            .spawn(trim)
        {
            tracing::warn!(error = %e, "cannot start the allocator's trim thread");
        }
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let file = match &cli.command {
        Command::Config(ConfigCommand::Check { file: Some(f) }) => Some(f.clone()),
        _ => cli.config.clone(),
    };
    let config = match Config::load(file.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bouncer: {e}");
            return ExitCode::from(2);
        }
    };
    // Held to the end: dropping it writes out the lines still queued.
    let _log = matches!(cli.command, Command::Serve | Command::Migrate)
        .then(|| bouncer::logging::init(&config));
    if matches!(cli.command, Command::Serve) {
        trim_allocator_periodically();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bouncer: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(AppError::Exit(status, message)) => {
            if !message.is_empty() {
                eprintln!("bouncer: {message}");
            }
            ExitCode::from(status)
        }
        // A bad configuration value found late (the first admin's password) is still one.
        Err(e @ AppError::Config(_)) => {
            eprintln!("bouncer: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("bouncer: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number set in [`tune_allocator`] is mimalloc 2's `purge_delay`: the version
    /// linked is 2.x, and the option and its neighbours hold their documented defaults
    /// (`eager_commit_delay` 1, `purge_delay` 10 ms, `use_numa_nodes` 0), so an upgrade that
    /// renumbers them fails here instead of setting some other option to 0.
    #[test]
    fn the_purge_delay_option_number_is_mimalloc_2s() {
        // SAFETY: reading mimalloc's version and options has no side effect.
        let (version, before, at, after) = unsafe {
            (
                libmimalloc_sys::mi_version(),
                libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY - 1),
                libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY),
                libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY + 1),
            )
        };
        assert!((20_000..30_000).contains(&version), "mimalloc {version}");
        assert_eq!((before, at, after), (1, 10, 0));
    }
}
