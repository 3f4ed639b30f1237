//! CPU time per call: how much processor time each process of the chain spent during a
//! throughput phase, divided by the calls it served. On a shared or throttled machine the
//! calls per second move with the neighbours; the CPU time a call costs moves much less, so it
//! is the figure to compare between runs (and it says which process to make cheaper).

use std::time::Duration;

/// A process whose CPU time is read from `/proc/<pid>/stat`.
struct Watched {
    name: &'static str,
    pid: u32,
}

/// The processes of one run: the bench itself, the children, and Redis and NATS when they run
/// on this machine (found by the port in their command line).
pub struct Meter {
    watched: Vec<Watched>,
    ticks_per_sec: f64,
}

/// CPU time per process since [`Meter::start`].
pub struct Reading {
    start: Vec<Option<Duration>>,
}

impl Meter {
    /// `children`: the bench's child processes by name.
    pub fn new(children: &[(&'static str, Option<u32>)], redis_url: &str, nats_url: &str) -> Meter {
        let mut watched = vec![Watched {
            name: "bench (load, stand-in)",
            pid: std::process::id(),
        }];
        for (name, pid) in children {
            if let Some(pid) = pid {
                watched.push(Watched { name, pid: *pid });
            }
        }
        if let Some(pid) =
            port_of(redis_url).and_then(|p| find("redis-server", &[&format!(":{p}")]))
        {
            watched.push(Watched { name: "Redis", pid });
        }
        // Only for a single NATS server: a cluster's several URLs are not one process.
        if !nats_url.contains(',') {
            if let Some(pid) = port_of(nats_url).and_then(|p| {
                find(
                    "nats-server",
                    &[
                        &format!("-p {p} "),
                        &format!("--port {p} "),
                        &format!(":{p} "),
                    ],
                )
            }) {
                watched.push(Watched { name: "NATS", pid });
            }
        }
        Meter {
            watched,
            ticks_per_sec: clock_ticks(),
        }
    }

    pub fn start(&self) -> Reading {
        Reading {
            start: self.watched.iter().map(|w| self.cpu(w.pid)).collect(),
        }
    }

    fn cpu(&self, pid: u32) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces) end with ") ".
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_secs_f64(ticks as f64 / self.ticks_per_sec))
    }

    /// CPU microseconds per call of each process since `reading`, and their sum.
    pub fn per_call(&self, reading: &Reading, calls: u64) -> Vec<(&'static str, f64)> {
        let calls = calls.max(1) as f64;
        let mut out: Vec<(&'static str, f64)> = self
            .watched
            .iter()
            .zip(&reading.start)
            .filter_map(|(w, start)| {
                let used = self.cpu(w.pid)?.checked_sub((*start)?)?;
                Some((w.name, used.as_secs_f64() * 1e6 / calls))
            })
            .collect();
        let total = out.iter().map(|(_, us)| us).sum();
        out.push(("total", total));
        out
    }
}

/// The port of a `scheme://host:port` URL.
fn port_of(url: &str) -> Option<u16> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split(['/', '?']).next()?;
    let host_port = host_port.rsplit('@').next()?;
    host_port.rsplit_once(':')?.1.parse().ok()
}

/// The pid of a process named `comm` whose command line holds one of `needles`.
fn find(comm: &str, needles: &[&str]) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if name.trim() != comm {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ") + " ";
        if needles.iter().any(|n| cmdline.contains(n)) {
            return Some(pid);
        }
    }
    None
}

/// Clock ticks per second for `/proc` times (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// Prints one line per process, then what the total allows on this machine's cores.
pub fn print(title: &str, per_call: &[(&'static str, f64)], cores: usize) {
    if per_call.len() <= 1 {
        return;
    }
    println!();
    println!("{title}");
    for (name, us) in per_call {
        println!("  {name:<24} {us:>8.0} µs");
    }
    if let Some((_, total)) = per_call.last() {
        if *total > 0.0 {
            println!(
                "  at that cost {cores} cores serve at most {:.0} calls/s",
                cores as f64 * 1e6 / total
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::port_of;

    #[test]
    fn ports_of_urls() {
        assert_eq!(port_of("redis://127.0.0.1:6379"), Some(6379));
        assert_eq!(port_of("redis://:secret@127.0.0.1:6380/0"), Some(6380));
        assert_eq!(port_of("nats://127.0.0.1:4222"), Some(4222));
        assert_eq!(port_of("127.0.0.1:4222"), Some(4222));
        assert_eq!(port_of("redis://localhost"), None);
    }
}
