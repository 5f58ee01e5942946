//! How the harness measures: wall time (median of runs), peak memory, CPU time, and the real
//! binary's run time and peak memory as a child process. Linux only (it reads `/proc`).

use std::path::Path;
use std::time::{Duration, Instant};

/// Median wall time of `runs` calls of `f`.
pub fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut samples: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

/// Median wall time of `runs` calls of `f`, each on a fresh value from `setup`, which is not
/// timed (copying the replicas a measure starts from is not part of it).
pub fn time_apart<S, T>(
    runs: usize,
    mut setup: impl FnMut() -> S,
    mut f: impl FnMut(S) -> T,
) -> Duration {
    let mut samples: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let input = setup();
            let start = Instant::now();
            std::hint::black_box(f(input));
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

/// Median wall time of `runs` calls of `f`, and the most memory one call needed on top of what
/// the process held before it (peak resident set during the call minus resident set before, in
/// MiB). Before each call, freed memory is handed back to the system (`malloc_trim`), so the
/// call cannot hide its needs in memory an earlier measure left behind, and the kernel's peak
/// counter is reset (`/proc/self/clear_refs`).
pub fn time_and_peak<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, f64) {
    let mut peak: f64 = 0.0;
    let mut samples: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let before = reset_peak();
            let start = Instant::now();
            std::hint::black_box(f());
            let elapsed = start.elapsed();
            peak = peak.max(kib("VmHWM").saturating_sub(before) as f64 / 1024.0);
            elapsed
        })
        .collect();
    samples.sort();
    (samples[samples.len() / 2], peak)
}

/// Resets the peak resident set to the current one and returns it (KiB).
fn reset_peak() -> u64 {
    // SAFETY: malloc_trim only returns free heap memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    kib("VmRSS")
}

/// A `Vm*` line of `/proc/self/status`, in KiB (0 when unavailable).
fn kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) this process has used so far, all threads.
pub fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Runs the real `alliance` binary `runs` times (process start to exit): median wall time and
/// the largest peak resident set of one run, in MiB. The peak comes from GNU time
/// (`/usr/bin/time`, Debian package `time`), which starts the binary from a small process: a
/// child forked from this harness would count the harness's own memory as its peak. Without
/// GNU time the peak is `None`.
pub fn time_cli(bin: &Path, home: &Path, args: &[&str], runs: usize) -> (Duration, Option<f64>) {
    let gnu_time = Path::new("/usr/bin/time");
    let report = tempfile::NamedTempFile::new().expect("temp file");
    let mut peak_kib: Option<u64> = None;
    let median = time(runs, || {
        let mut cmd = if gnu_time.exists() {
            let mut c = std::process::Command::new(gnu_time);
            c.arg("-f").arg("%M").arg("-o").arg(report.path()).arg(bin);
            c
        } else {
            std::process::Command::new(bin)
        };
        let status = cmd
            .env("ALLIANCE_HOME", home)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("alliance runs");
        assert!(status.success(), "alliance {args:?} failed ({status})");
        if gnu_time.exists()
            && let Some(kib) = std::fs::read_to_string(report.path())
                .ok()
                .and_then(|s| s.trim().lines().last()?.trim().parse::<u64>().ok())
        {
            peak_kib = Some(peak_kib.unwrap_or(0).max(kib));
        }
    });
    (median, peak_kib.map(|k| k as f64 / 1024.0))
}

/// Percentile `p` (0..=100) of samples.
pub fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    let i = ((samples.len() - 1) * p).div_ceil(100);
    samples[i.min(samples.len() - 1)]
}
