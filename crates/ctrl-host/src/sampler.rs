//! One host sample: sysinfo for CPU, memory, disks, networks, sensors and
//! processes; NVML (loaded at run time, when present) for NVIDIA GPUs.
//!
//! A `Sampler` keeps sysinfo's state between calls, because CPU use and I/O
//! rates are differences between two consecutive refreshes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use ctrl_proto::{Cpu, Disk, Gpu, Memory, NetInterface, ProcessInfo, Stats, Swap, Temperature};
use sysinfo::{
    Components, CpuRefreshKind, DiskRefreshKind, Disks, MemoryRefreshKind, Networks, Pid, ProcessRefreshKind,
    ProcessesToUpdate, System, UpdateKind, Users,
};

/// File systems that are not disks (memory, images, kernel views).
const PSEUDO_FS: &[&str] = &["tmpfs", "devtmpfs", "squashfs", "ramfs", "efivarfs", "proc", "sysfs"];

/// How many samples between two re-reads of the user table.
const USERS_EVERY: u32 = 60;

/// Processes and per-service sums of one sample.
#[derive(Debug, Clone, Default)]
pub struct ProcessTable {
    /// Every process of the host.
    pub processes: Vec<ProcessInfo>,
    /// Per service: (cpu % of one core, resident bytes) summed over its process tree.
    pub per_service: HashMap<String, (f32, u64)>,
}

/// The state kept between samples.
pub struct Sampler {
    system: System,
    disks: Disks,
    networks: Networks,
    components: Components,
    users: Users,
    /// Per pid: the command line seen last and the name that goes with it (sysinfo
    /// never re-reads the name of a pid it knows, and exec changes it).
    names: HashMap<Pid, (Vec<std::ffi::OsString>, String)>,
    nvml: Option<nvml_wrapper::Nvml>,
    last: Instant,
    samples: u32,
}

impl Default for Sampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Sampler {
    /// Reads every list once, so that the first real sample already has rates.
    pub fn new() -> Sampler {
        let mut system = System::new().unwrap_or_else(|_| unreachable_system());
        system.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
        system.refresh_processes_specifics(ProcessesToUpdate::All, true, process_kind());
        let disks =
            Disks::new_with_refreshed_list_specifics(disk_kind()).unwrap_or_else(|_| empty(Disks::new));
        let networks = Networks::new_with_refreshed_list().unwrap_or_else(|_| empty(Networks::new));
        let components = Components::new_with_refreshed_list().unwrap_or_else(|_| empty(Components::new));
        let users = Users::new_with_refreshed_list().unwrap_or_else(|_| empty(Users::new));
        let nvml = match nvml_wrapper::Nvml::init() {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::debug!(error = %e, "no NVIDIA GPUs: NVML is not available");
                None
            }
        };
        Sampler {
            system,
            disks,
            networks,
            components,
            users,
            names: HashMap::new(),
            nvml,
            last: Instant::now(),
            samples: 0,
        }
    }

    /// Takes a sample. `services` maps a service's main pid to its name; each
    /// process is attributed to the service whose process tree holds it.
    pub fn sample(&mut self, services: &HashMap<u32, String>) -> (Stats, ProcessTable) {
        let secs = self.last.elapsed().as_secs_f64().max(0.001);
        self.last = Instant::now();
        self.samples = self.samples.wrapping_add(1);
        if self.samples.is_multiple_of(USERS_EVERY) {
            self.users.refresh();
        }
        let s = &mut self.system;
        s.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
        s.refresh_memory_specifics(MemoryRefreshKind::everything());
        s.refresh_processes_specifics(ProcessesToUpdate::All, true, process_kind());
        self.disks.refresh_specifics(true, disk_kind());
        self.networks.refresh(true);
        self.components.refresh(true);

        let table = self.processes(services);
        let stats = Stats {
            cpu: self.cpu(),
            memory: self.memory(),
            swap: self.swap(),
            disks: self.disks(secs),
            network: self.network(secs),
            temperatures: self.temperatures(),
            gpus: self.gpus(),
            uptime_s: System::uptime().unwrap_or(0),
            process_count: u32::try_from(table.processes.len()).unwrap_or(u32::MAX),
            timestamp: Utc::now(),
        };
        (stats, table)
    }

    fn cpu(&self) -> Cpu {
        let load = System::load_average().map(|l| [l.one, l.five, l.fifteen]).unwrap_or_default();
        let per_core: Vec<f32> = self.system.cpus().iter().map(|c| round1(c.usage())).collect();
        Cpu {
            percent: round1(self.system.global_cpu_usage()),
            count: u32::try_from(per_core.len()).unwrap_or(0),
            per_core,
            load_avg: load,
        }
    }

    fn memory(&self) -> Memory {
        let total = self.system.total_memory();
        let available = self.system.available_memory();
        let used = total.saturating_sub(available);
        Memory {
            total_bytes: total,
            used_bytes: used,
            available_bytes: available,
            percent: percent(used, total),
            total_gb: gib(total),
            used_gb: gib(used),
        }
    }

    fn swap(&self) -> Swap {
        let (total, used) = (self.system.total_swap(), self.system.used_swap());
        Swap { total_bytes: total, used_bytes: used, percent: percent(used, total) }
    }

    fn disks(&self, secs: f64) -> Vec<Disk> {
        let mut seen = std::collections::HashSet::new();
        self.disks
            .iter()
            .filter(|d| !PSEUDO_FS.contains(&d.file_system().to_string_lossy().as_ref()))
            // A device mounted twice (bind mounts) is one disk.
            .filter(|d| seen.insert(d.name().to_owned()))
            .map(|d| {
                let (total, free) = (d.total_space(), d.available_space());
                let used = total.saturating_sub(free);
                let io = d.usage();
                Disk {
                    mount: d.mount_point().display().to_string(),
                    fs: d.file_system().to_string_lossy().into_owned(),
                    total_bytes: total,
                    used_bytes: used,
                    free_bytes: free,
                    percent: percent(used, total),
                    read_bytes_per_s: per_s(io.read_bytes, secs),
                    write_bytes_per_s: per_s(io.written_bytes, secs),
                }
            })
            .collect()
    }

    fn network(&self, secs: f64) -> Vec<NetInterface> {
        let mut out: Vec<NetInterface> = self
            .networks
            .iter()
            .map(|(name, n)| NetInterface {
                interface: name.to_string_lossy().into_owned(),
                rx_bytes_per_s: per_s(n.received(), secs),
                tx_bytes_per_s: per_s(n.transmitted(), secs),
            })
            .collect();
        out.sort_by(|a, b| a.interface.cmp(&b.interface));
        out
    }

    fn temperatures(&self) -> Vec<Temperature> {
        self.components
            .iter()
            .filter_map(|c| {
                Some(Temperature { label: c.label().to_owned(), celsius: round1(c.temperature()?) })
            })
            .collect()
    }

    fn gpus(&self) -> Vec<Gpu> {
        let Some(nvml) = &self.nvml else { return Vec::new() };
        let count = nvml.device_count().unwrap_or(0);
        (0..count)
            .filter_map(|i| nvml.device_by_index(i).ok())
            .map(|d| {
                let mem = d.memory_info().ok();
                Gpu {
                    name: d.name().unwrap_or_default(),
                    utilization_percent: d.utilization_rates().map(|u| u.gpu as f32).unwrap_or(0.0),
                    memory_used_bytes: mem.as_ref().map_or(0, |m| m.used),
                    memory_total_bytes: mem.as_ref().map_or(0, |m| m.total),
                    temperature_celsius: d
                        .temperature(nvml_wrapper::enum_wrappers::device::TemperatureSensor::Gpu)
                        .map(|t| t as f32)
                        .unwrap_or(0.0),
                }
            })
            .collect()
    }

    fn processes(&mut self, services: &HashMap<u32, String>) -> ProcessTable {
        let all = self.system.processes();
        self.names.retain(|pid, _| all.contains_key(pid));
        // Owner of each pid: the service of the nearest ancestor that is a service's main pid.
        let mut owner: HashMap<Pid, Option<Arc<str>>> = HashMap::with_capacity(all.len());
        let names: HashMap<u32, Arc<str>> =
            services.iter().map(|(pid, name)| (*pid, Arc::from(name.as_str()))).collect();
        let mut table = ProcessTable { processes: Vec::with_capacity(all.len()), ..Default::default() };
        for (pid, p) in all {
            let service = service_of(*pid, all, &names, &mut owner);
            let cpu = round1(p.cpu_usage());
            let mem = p.memory();
            if let Some(s) = &service {
                let sum = table.per_service.entry(s.to_string()).or_default();
                sum.0 += cpu;
                sum.1 += mem;
            }
            let name = match self.names.get(pid) {
                Some((cmd, name)) if cmd.as_slice() == p.cmd() => name.clone(),
                seen => {
                    // New, or exec'd since: the kernel's name now.
                    let name = match seen {
                        None => p.name().to_string_lossy().into_owned(),
                        Some(_) => {
                            comm(pid.as_u32()).unwrap_or_else(|| p.name().to_string_lossy().into_owned())
                        }
                    };
                    self.names.insert(*pid, (p.cmd().to_vec(), name.clone()));
                    name
                }
            };
            table.processes.push(ProcessInfo {
                pid: pid.as_u32(),
                name,
                cmdline: join_cmd(p.cmd()),
                user: p.user_id().map(|u| match self.users.get_user_by_id(u) {
                    Some(user) => user.name().to_owned(),
                    None => u.to_string(),
                }),
                cpu_percent: cpu,
                memory_bytes: mem,
                started_at: started_at(p.start_time()),
                service: service.map(|s| s.to_string()),
            });
        }
        table
    }
}

/// The service owning `pid`, walking up parents and remembering every answer.
fn service_of(
    pid: Pid,
    all: &HashMap<Pid, sysinfo::Process>,
    services: &HashMap<u32, Arc<str>>,
    memo: &mut HashMap<Pid, Option<Arc<str>>>,
) -> Option<Arc<str>> {
    let mut chain = Vec::new();
    let mut cur = Some(pid);
    let found = loop {
        let Some(p) = cur else { break None };
        if let Some(known) = memo.get(&p) {
            break known.clone();
        }
        if let Some(name) = services.get(&p.as_u32()) {
            break Some(name.clone());
        }
        chain.push(p);
        // Bounded: a parent loop cannot happen in /proc, but a race could show one.
        if chain.len() > 4096 {
            break None;
        }
        cur = all.get(&p).and_then(|proc_| proc_.parent());
    };
    for p in chain {
        memo.insert(p, found.clone());
    }
    found
}

/// Command line and user are re-read at every sample: a process sampled between
/// fork and exec, or one that switched user, would otherwise keep stale values.
/// `/proc/PID/comm`, the name the kernel gives the process now.
fn comm(pid: u32) -> Option<String> {
    Some(std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?.trim_end().to_owned())
}

fn process_kind() -> ProcessRefreshKind {
    ProcessRefreshKind::nothing()
        .with_cpu()
        .with_memory()
        .with_cmd(UpdateKind::Always)
        .with_user(UpdateKind::Always)
        .without_tasks()
}

fn disk_kind() -> DiskRefreshKind {
    DiskRefreshKind::nothing().with_storage().with_io_usage()
}

fn join_cmd(cmd: &[std::ffi::OsString]) -> String {
    let parts: Vec<_> = cmd.iter().map(|a| a.to_string_lossy()).collect();
    parts.join(" ")
}

fn started_at(secs: u64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(i64::try_from(secs).ok()?, 0).single()
}

fn percent(part: u64, total: u64) -> f32 {
    if total == 0 { 0.0 } else { round1((part as f64 / total as f64 * 100.0) as f32) }
}

fn per_s(bytes: u64, secs: f64) -> u64 {
    (bytes as f64 / secs).round() as u64
}

fn gib(bytes: u64) -> f64 {
    (bytes as f64 / (1u64 << 30) as f64 * 100.0).round() / 100.0
}

fn round1(v: f32) -> f32 {
    (v * 10.0).round() / 10.0
}

fn empty<T>(new: fn() -> Result<T, sysinfo::Error>) -> T {
    new().unwrap_or_else(|_| unreachable_system())
}

#[cold]
fn unreachable_system() -> ! {
    panic!("sysinfo does not support this platform; ctrl runs on Linux")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_sees_this_host() {
        let mut s = Sampler::new();
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let me = std::process::id();
        let (stats, table) = s.sample(&HashMap::from([(me, "self".to_string())]));
        assert!(stats.cpu.count >= 1);
        assert_eq!(stats.cpu.per_core.len() as u32, stats.cpu.count);
        assert!(stats.memory.total_bytes > 0 && stats.memory.used_bytes <= stats.memory.total_bytes);
        assert!(stats.uptime_s > 0);
        assert_eq!(stats.process_count as usize, table.processes.len());
        let mine = table.processes.iter().find(|p| p.pid == me).expect("this test process is listed");
        assert_eq!(mine.service.as_deref(), Some("self"));
        assert!(mine.memory_bytes > 0);
        assert!(table.per_service["self"].1 >= mine.memory_bytes);
        // pid 1 is nobody's child here.
        assert!(table.processes.iter().find(|p| p.pid == 1).is_none_or(|p| p.service.is_none()));
    }

    #[test]
    fn children_belong_to_the_service_of_their_ancestor() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let mut s = Sampler::new();
        let (_, table) = s.sample(&HashMap::from([(std::process::id(), "tree".to_string())]));
        let found = table.processes.iter().find(|p| p.pid == child.id()).expect("child listed");
        assert_eq!(found.service.as_deref(), Some("tree"));
        assert!(found.cmdline.contains("sleep 5"), "{}", found.cmdline);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
