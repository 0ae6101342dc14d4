//! Host objects: the `stats` sample, processes, ports and history points.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One sample of the whole host (the `stats` object).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    /// Processor use.
    pub cpu: Cpu,
    /// Main memory.
    pub memory: Memory,
    /// Swap space.
    pub swap: Swap,
    /// Every real (block-device backed) file system.
    pub disks: Vec<Disk>,
    /// Every network interface.
    pub network: Vec<NetInterface>,
    /// Sensor readings; empty on machines without sensors.
    pub temperatures: Vec<Temperature>,
    /// NVIDIA GPUs; empty when NVML is absent.
    pub gpus: Vec<Gpu>,
    /// Seconds since the host booted.
    pub uptime_s: u64,
    /// Processes on the host.
    pub process_count: u32,
    /// When the sample was taken.
    pub timestamp: DateTime<Utc>,
}

/// `stats.cpu`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Cpu {
    /// All cores together, 0–100.
    pub percent: f32,
    /// Each core, 0–100.
    pub per_core: Vec<f32>,
    /// 1, 5 and 15 minute load averages.
    pub load_avg: [f64; 3],
    /// Logical cores.
    pub count: u32,
}

/// `stats.memory`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Memory {
    /// Installed memory.
    pub total_bytes: u64,
    /// In use (total minus available).
    pub used_bytes: u64,
    /// Available to new work without swapping.
    pub available_bytes: u64,
    /// Used, 0–100.
    pub percent: f32,
    /// Installed memory in GiB (the seed's field).
    pub total_gb: f64,
    /// Used memory in GiB (the seed's field).
    pub used_gb: f64,
}

/// `stats.swap`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Swap {
    /// Swap configured.
    pub total_bytes: u64,
    /// Swap in use.
    pub used_bytes: u64,
    /// Used, 0–100 (0 without swap).
    pub percent: f32,
}

/// One entry of `stats.disks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Disk {
    /// Mount point.
    pub mount: String,
    /// File system type.
    pub fs: String,
    /// Size.
    pub total_bytes: u64,
    /// Used.
    pub used_bytes: u64,
    /// Free to unprivileged users.
    pub free_bytes: u64,
    /// Used, 0–100.
    pub percent: f32,
    /// Bytes read per second since the last sample.
    pub read_bytes_per_s: u64,
    /// Bytes written per second since the last sample.
    pub write_bytes_per_s: u64,
}

/// One entry of `stats.network`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NetInterface {
    /// Interface name.
    pub interface: String,
    /// Bytes received per second since the last sample.
    pub rx_bytes_per_s: u64,
    /// Bytes sent per second since the last sample.
    pub tx_bytes_per_s: u64,
}

/// One entry of `stats.temperatures`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Temperature {
    /// Sensor label.
    pub label: String,
    /// Degrees Celsius.
    pub celsius: f32,
}

/// One entry of `stats.gpus`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Gpu {
    /// Product name.
    pub name: String,
    /// Busy, 0–100.
    pub utilization_percent: f32,
    /// Memory in use.
    pub memory_used_bytes: u64,
    /// Memory installed.
    pub memory_total_bytes: u64,
    /// Degrees Celsius.
    pub temperature_celsius: f32,
}

/// One process (the `process` object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Short name.
    pub name: String,
    /// Full command line.
    pub cmdline: String,
    /// Owner's user name (or uid when it has no name).
    pub user: Option<String>,
    /// CPU since the last sample, in % of one core.
    pub cpu_percent: f32,
    /// Resident memory.
    pub memory_bytes: u64,
    /// Start time.
    pub started_at: Option<DateTime<Utc>>,
    /// The managed service whose process tree holds it.
    pub service: Option<String>,
}

/// One listening socket (the `port` object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PortInfo {
    /// Local port.
    pub port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// Local address (0.0.0.0 or :: for every address).
    pub address: String,
    /// Owning process, when it could be seen.
    pub pid: Option<u32>,
    /// Its short name.
    pub process: Option<String>,
    /// The managed service whose process tree holds it.
    pub service: Option<String>,
}

/// Which series of the history ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Total CPU %.
    Cpu,
    /// Memory used %.
    Memory,
    /// Bytes received per second over the host's interfaces (not loopback, bridges or container ends).
    NetRx,
    /// Bytes sent per second over the host's interfaces.
    NetTx,
}

/// A series of the history ring: `points` are `[unix_seconds, value]` pairs, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct History {
    /// The series.
    pub metric: Metric,
    /// Seconds between points (the sample interval, or 60 past the last hour).
    pub step_s: f64,
    /// `[unix_seconds, value]`, oldest first.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub points: Vec<(i64, f64)>,
}
