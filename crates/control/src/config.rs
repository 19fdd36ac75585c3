//! The configuration schema and its compilation.

use core::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use orbital_fib::{
    Attach, IfId, NeighborState, PortConfig, PortId, PortMode, TableUpdate, TablesBuilder,
};
use orbital_wire::EthernetAddress;
use serde::Deserialize;
use toml::Spanned;

use crate::vocab;

/// A configuration error, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), location(.line, .column))]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// `:line:column`, or nothing for an error about the whole file (line 0,
/// e.g. it cannot be read): a made-up `:0:0` would point nowhere.
fn location(line: &usize, column: &usize) -> String {
    if *line == 0 {
        String::new()
    } else {
        format!(":{line}:{column}")
    }
}

/// How a port reaches the wire (used by `orbital run`; replay uses captures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// A capture file (replay) — the embedded default.
    #[default]
    Pcap,
    /// In-memory rings.
    Memory,
    /// AF_XDP socket on a Linux interface.
    AfXdp,
    /// AF_PACKET socket on a Linux interface.
    AfPacket,
    /// A TAP device to the host stack.
    Tap,
}

/// Where an AF_XDP port attaches its XDP program (`xdp_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XdpAttach {
    /// In the driver when it can, else generic.
    #[default]
    Auto,
    /// In the driver only.
    Native,
    /// Generic (skb) mode only: after the kernel built an skb.
    Generic,
}

/// A port as the runtime needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// Index (order in the file).
    pub id: PortId,
    /// Name.
    pub name: String,
    /// Its MAC (also its L3 interface's, for routed ports).
    pub mac: EthernetAddress,
    /// Backend.
    pub backend: Backend,
    /// Linux interface for kernel backends.
    pub device: Option<String>,
    /// Queues to open.
    pub queues: u16,
    /// AF_XDP: program attach mode.
    pub xdp_mode: XdpAttach,
    /// AF_XDP: descriptors per ring (power of two); `None` for the default.
    pub ring_size: Option<u32>,
}

/// Engine settings from `[engine]` (absent fields: defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineSettings {
    /// Worker threads.
    pub workers: Option<usize>,
    /// CPUs to pin workers to.
    pub cpus: Option<Vec<usize>>,
    /// Buffers in the pool.
    pub buffers: Option<u32>,
    /// Punts per second per worker.
    pub punt_rate: Option<u64>,
    /// Punt burst.
    pub punt_burst: Option<u64>,
    /// ICMP errors per second.
    pub icmp_rate: Option<u64>,
    /// ICMP error burst.
    pub icmp_burst: Option<u64>,
    /// API socket path.
    pub api_socket: Option<String>,
    /// Idle time before a worker sleeps, microseconds.
    pub idle_us: Option<u64>,
    /// Forward source-routed IPv4 packets (LSRR/SSRR); default false, as
    /// Linux's `accept_source_route = 0` (RFC 1812 §5.2.4.1).
    pub accept_source_route: Option<bool>,
    /// Bytes of buffers held per unresolved neighbour (Linux
    /// `unres_qlen_bytes`; default 212,992).
    pub neighbor_hold_bytes: Option<usize>,
    /// Bytes of buffers held for all unresolved neighbours together
    /// (default an eighth of the pool).
    pub neighbor_hold_total_bytes: Option<usize>,
}

/// Whether a changed `[engine]` setting can be applied to a running daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apply {
    /// Applied by a reload (it travels in the published snapshot).
    Live,
    /// Needs a restart (threads, memory or sockets are made from it).
    Restart,
}

impl EngineSettings {
    /// Every setting: its name, whether a reload applies it, and its value
    /// as written (`None` when absent).
    pub fn settings(&self) -> Vec<(&'static str, Apply, Option<String>)> {
        fn v<T: core::fmt::Debug>(x: &Option<T>) -> Option<String> {
            x.as_ref().map(|x| format!("{x:?}"))
        }
        vec![
            ("workers", Apply::Restart, v(&self.workers)),
            ("cpus", Apply::Restart, v(&self.cpus)),
            ("buffers", Apply::Restart, v(&self.buffers)),
            ("api_socket", Apply::Restart, v(&self.api_socket)),
            ("punt_rate", Apply::Live, v(&self.punt_rate)),
            ("punt_burst", Apply::Live, v(&self.punt_burst)),
            ("icmp_rate", Apply::Live, v(&self.icmp_rate)),
            ("icmp_burst", Apply::Live, v(&self.icmp_burst)),
            ("idle_us", Apply::Live, v(&self.idle_us)),
            (
                "accept_source_route",
                Apply::Live,
                v(&self.accept_source_route),
            ),
            (
                "neighbor_hold_bytes",
                Apply::Restart,
                v(&self.neighbor_hold_bytes),
            ),
            (
                "neighbor_hold_total_bytes",
                Apply::Restart,
                v(&self.neighbor_hold_total_bytes),
            ),
        ]
    }

    /// The settings that need a restart and differ between `self` (in
    /// force) and `new`: name, value in force, new value.
    pub fn restart_needed(&self, new: &EngineSettings) -> Vec<(&'static str, String, String)> {
        let show = |v: Option<String>| v.unwrap_or_else(|| "(default)".into());
        self.settings()
            .into_iter()
            .zip(new.settings())
            .filter(|((_, how, a), (_, _, b))| *how == Apply::Restart && a != b)
            .map(|((name, _, a), (_, _, b))| (name, show(a), show(b)))
            .collect()
    }
}

/// `[engine]` as written, with positions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineSection {
    workers: Option<Spanned<usize>>,
    cpus: Option<Spanned<Vec<usize>>>,
    buffers: Option<Spanned<u32>>,
    punt_rate: Option<Spanned<u64>>,
    punt_burst: Option<Spanned<u64>>,
    icmp_rate: Option<Spanned<u64>>,
    icmp_burst: Option<Spanned<u64>>,
    api_socket: Option<Spanned<String>>,
    idle_us: Option<Spanned<u64>>,
    accept_source_route: Option<Spanned<bool>>,
    neighbor_hold_bytes: Option<Spanned<usize>>,
    neighbor_hold_total_bytes: Option<Spanned<usize>>,
}

impl EngineSection {
    fn settings(&self) -> (EngineSettings, Vec<(&'static str, Range<usize>)>) {
        let mut spans = Vec::new();
        macro_rules! take {
            ($($f:ident),*) => {
                EngineSettings { $( $f: self.$f.as_ref().map(|v| {
                    spans.push((stringify!($f), v.span()));
                    v.get_ref().clone()
                }), )* }
            };
        }
        let s = take!(
            workers,
            cpus,
            buffers,
            punt_rate,
            punt_burst,
            icmp_rate,
            icmp_burst,
            api_socket,
            idle_us,
            accept_source_route,
            neighbor_hold_bytes,
            neighbor_hold_total_bytes
        );
        (s, spans)
    }
}

/// A compiled configuration.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Ports, by id.
    pub ports: Vec<PortSpec>,
    /// The table updates that build the configured state.
    pub updates: Vec<TableUpdate>,
    /// Engine settings.
    pub engine: EngineSettings,
    /// The firewall's rules (empty: no filtering).
    pub firewall: orbital_firewall::rules::Ruleset,
    /// Connection tracking's settings.
    pub conntrack: orbital_conntrack::CtConfig,
    /// NAT rules (empty: no translation).
    pub nat: orbital_nat::NatRules,
    nat_spans: Vec<Range<usize>>,
    engine_spans: Vec<(&'static str, Range<usize>)>,
    engine_at: Range<usize>,
    route_files: Vec<(PathBuf, Range<usize>)>,
    ifaces: Vec<(String, IfId)>,
    rule_spans: Vec<Vec<Range<usize>>>,
    conntrack_at: Range<usize>,
    spans: Vec<Range<usize>>,
    source: String,
    file: PathBuf,
}

impl Compiled {
    /// The error for update `i` of the batch, located at its config item.
    pub fn locate(&self, i: Option<usize>, message: String) -> ConfigError {
        let span = i.and_then(|i| self.spans.get(i).cloned()).unwrap_or(0..0);
        error_at(&self.file, &self.source, span, message)
    }

    /// An error about `[engine]` setting `name`, located at its value (or
    /// at the section, when the file leaves it out).
    pub fn locate_setting(&self, name: &str, message: String) -> ConfigError {
        let span = self
            .engine_spans
            .iter()
            .find(|(n, _)| *n == name)
            .map_or_else(|| self.engine_at.clone(), |(_, s)| s.clone());
        error_at(&self.file, &self.source, span, message)
    }

    /// An error about rule `rule` of firewall chain `chain` (0-based),
    /// located at its text.
    pub fn locate_rule(&self, chain: usize, rule: usize, message: String) -> ConfigError {
        let span = self
            .rule_spans
            .get(chain)
            .and_then(|r| r.get(rule))
            .cloned()
            .unwrap_or(0..0);
        error_at(&self.file, &self.source, span, message)
    }

    /// An error about static NAT rule `rule` (0-based), located at it.
    pub fn locate_nat(&self, rule: usize, message: String) -> ConfigError {
        let span = self.nat_spans.get(rule).cloned().unwrap_or(0..0);
        error_at(&self.file, &self.source, span, message)
    }

    /// An error about the `[conntrack]` section.
    pub fn locate_conntrack(&self, message: String) -> ConfigError {
        error_at(&self.file, &self.source, self.conntrack_at.clone(), message)
    }

    /// A port by name.
    pub fn port(&self, name: &str) -> Option<&PortSpec> {
        self.ports.iter().find(|p| p.name == name)
    }

    /// A builder holding exactly this configuration.
    ///
    /// # Errors
    /// The first update the tables refuse, located in the file.
    pub fn builder(&self) -> Result<TablesBuilder, ConfigError> {
        let mut b = TablesBuilder::new();
        self.apply_to(&mut b)?;
        Ok(b)
    }

    /// Apply this configuration to a fresh builder: its updates, then its
    /// route files (read now, streamed in chunks).
    ///
    /// # Errors
    /// The first update the tables refuse, or a route file's error, located
    /// in its file.
    pub fn apply_to(&self, b: &mut TablesBuilder) -> Result<(), ConfigError> {
        b.apply(&self.updates)
            .map_err(|e| self.locate(e.index, e.kind.to_string()))?;
        let iface = |n: &str| self.ifaces.iter().find(|(m, _)| m == n).map(|&(_, id)| id);
        for (path, span) in &self.route_files {
            crate::route_file::apply(path, b, &iface).map_err(|e| {
                if e.line == 0 {
                    // Unreadable: point at where the configuration names it.
                    error_at(
                        &self.file,
                        &self.source,
                        span.clone(),
                        format!("{}: {}", path.display(), e.message),
                    )
                } else {
                    e
                }
            })?;
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    engine: Option<Spanned<EngineSection>>,
    #[serde(default, rename = "port")]
    ports: Vec<PortSection>,
    #[serde(default, rename = "bridge")]
    bridges: Vec<BridgeSection>,
    #[serde(default, rename = "route")]
    routes: Vec<Spanned<RouteSection>>,
    #[serde(default)]
    route_files: Vec<Spanned<String>>,
    #[serde(default, rename = "neighbor")]
    neighbors: Vec<Spanned<NeighborSection>>,
    #[serde(default)]
    firewall: crate::firewall::FirewallSection,
    conntrack: Option<Spanned<ConntrackSection>>,
    #[serde(default)]
    nat: crate::nat::NatSection,
}

/// `[conntrack]`: the connection table's size and timeouts (seconds), with
/// Linux's defaults and names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConntrackSection {
    max_entries: Option<Spanned<u32>>,
    tcp_loose: Option<bool>,
    tcp_be_liberal: Option<bool>,
    #[serde(default)]
    timeouts: std::collections::BTreeMap<String, Spanned<u64>>,
}

impl ConntrackSection {
    fn config(
        &self,
        err: &dyn Fn(Range<usize>, String) -> ConfigError,
    ) -> Result<orbital_conntrack::CtConfig, ConfigError> {
        let mut c = orbital_conntrack::CtConfig::default();
        if let Some(m) = &self.max_entries {
            let v = *m.get_ref();
            if !(1..=orbital_conntrack::MAX_ENTRIES).contains(&v) {
                return Err(err(
                    m.span(),
                    format!(
                        "max_entries must be 1..={} (per worker)",
                        orbital_conntrack::MAX_ENTRIES
                    ),
                ));
            }
            c.max_entries = v;
        }
        if let Some(v) = self.tcp_loose {
            c.tcp_loose = v;
        }
        if let Some(v) = self.tcp_be_liberal {
            c.tcp_be_liberal = v;
        }
        let t = &mut c.timeouts;
        for (name, v) in &self.timeouts {
            let d = core::time::Duration::from_secs(*v.get_ref());
            let slot = match name.as_str() {
                "tcp_syn_sent" => &mut t.tcp_syn_sent,
                "tcp_syn_recv" => &mut t.tcp_syn_recv,
                "tcp_established" => &mut t.tcp_established,
                "tcp_fin_wait" => &mut t.tcp_fin_wait,
                "tcp_close_wait" => &mut t.tcp_close_wait,
                "tcp_last_ack" => &mut t.tcp_last_ack,
                "tcp_time_wait" => &mut t.tcp_time_wait,
                "tcp_close" => &mut t.tcp_close,
                "tcp_retrans" => &mut t.tcp_retrans,
                "tcp_unacknowledged" => &mut t.tcp_unacknowledged,
                "udp" => &mut t.udp,
                "udp_stream" => &mut t.udp_stream,
                "icmp" => &mut t.icmp,
                "generic" => &mut t.generic,
                other => {
                    return Err(err(
                        v.span(),
                        format!(
                            "unknown timeout `{other}` (tcp_syn_sent, tcp_syn_recv, tcp_established, tcp_fin_wait, tcp_close_wait, tcp_last_ack, tcp_time_wait, tcp_close, tcp_retrans, tcp_unacknowledged, udp, udp_stream, icmp, generic)"
                        ),
                    ));
                }
            };
            if *v.get_ref() == 0 {
                return Err(err(
                    v.span(),
                    format!("timeout `{name}` must be at least 1 second"),
                ));
            }
            *slot = d;
        }
        Ok(c)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PortSection {
    name: Spanned<String>,
    mac: Spanned<String>,
    mtu: Option<Spanned<u16>>,
    #[serde(default)]
    addresses: Vec<Spanned<String>>,
    mode: Option<Spanned<String>>,
    vlan: Option<Spanned<u16>>,
    vlans: Option<Spanned<Vec<u16>>>,
    native: Option<Spanned<u16>>,
    backend: Option<Spanned<String>>,
    device: Option<String>,
    queues: Option<u16>,
    xdp_mode: Option<Spanned<String>>,
    ring_size: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BridgeSection {
    vlan: Spanned<u16>,
    aging: Option<u32>,
    name: Option<String>,
    mac: Option<Spanned<String>>,
    mtu: Option<Spanned<u16>>,
    #[serde(default)]
    addresses: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Via {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSection {
    prefix: Spanned<String>,
    via: Option<Spanned<Via>>,
    dev: Option<Spanned<String>>,
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NeighborSection {
    address: Spanned<String>,
    mac: Spanned<String>,
    port: Spanned<String>,
}

fn error_at(file: &Path, source: &str, span: Range<usize>, message: String) -> ConfigError {
    let upto = &source[..span.start.min(source.len())];
    let line = upto.matches('\n').count() + 1;
    let column = upto.len() - upto.rfind('\n').map_or(0, |i| i + 1) + 1;
    ConfigError {
        file: file.to_path_buf(),
        line,
        column,
        message,
    }
}

/// Some sections of a file (`T` names them; the others are ignored), with
/// the file's text for locating errors.
fn sections_of<T: serde::de::DeserializeOwned>(path: &Path) -> Result<(T, String), ConfigError> {
    let source = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read: {e}"),
    })?;
    let f: T = toml::from_str(&source).map_err(|e| {
        let msg = e.message().to_string();
        error_at(path, &source, e.span().unwrap_or(0..0), msg)
    })?;
    Ok((f, source))
}

/// The firewall and connection tracking sections of a file, alone (other
/// sections are ignored): for a benchmark or tool whose ports are not the
/// file's. Names resolve in `ifaces` and `ports`.
///
/// # Errors
/// Unreadable file, syntax, or a rule that does not compile, located.
pub fn firewall_file(
    path: &Path,
    ifaces: &[(String, IfId)],
    ports: &[(String, PortId)],
) -> Result<
    (
        orbital_firewall::rules::Ruleset,
        orbital_conntrack::CtConfig,
    ),
    ConfigError,
> {
    #[derive(Deserialize)]
    struct Only {
        #[serde(default)]
        firewall: crate::firewall::FirewallSection,
        conntrack: Option<Spanned<ConntrackSection>>,
    }
    let (f, source): (Only, String) = sections_of(path)?;
    let err = |span, msg| error_at(path, &source, span, msg);
    let (rs, _) = f.firewall.ruleset(&source, ifaces, ports, &err)?;
    let ct = match &f.conntrack {
        Some(c) => c.get_ref().config(&err)?,
        None => orbital_conntrack::CtConfig::default(),
    };
    Ok((rs, ct))
}

/// The `[nat]` section of a file, alone (other sections are ignored): for a
/// benchmark or tool whose ports are not the file's. Interface names
/// resolve in `ifaces`, `masquerade` and port forwards take the address
/// `addrs` gives the interface.
///
/// # Errors
/// Unreadable file, syntax, or a rule that does not compile, located.
pub fn nat_file(
    path: &Path,
    ifaces: &[(String, IfId)],
    addrs: &[(IfId, std::net::Ipv4Addr)],
) -> Result<orbital_nat::NatRules, ConfigError> {
    #[derive(Deserialize)]
    struct Only {
        #[serde(default)]
        nat: crate::nat::NatSection,
    }
    let (f, source): (Only, String) = sections_of(path)?;
    let address_of = |id: IfId| addrs.iter().find(|(i, _)| *i == id).map(|&(_, a)| a);
    let (rules, _) = f.nat.rules(&source, ifaces, &address_of, &|span, msg| {
        error_at(path, &source, span, msg)
    })?;
    Ok(rules)
}

/// Read and compile a configuration file, and check it against fresh tables.
///
/// # Errors
/// Unreadable file, syntax, or a value or reference the tables refuse.
pub fn load(path: &Path) -> Result<(Compiled, TablesBuilder), ConfigError> {
    let source = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read: {e}"),
    })?;
    let c = compile_str(path, &source)?;
    let b = c.builder()?;
    Ok((c, b))
}

/// Compile configuration text (`file` only names it in errors).
///
/// # Errors
/// Syntax errors and values that do not parse, located.
pub fn compile_str(file: &Path, source: &str) -> Result<Compiled, ConfigError> {
    let parsed: File = toml::from_str(source).map_err(|e| {
        let msg = e.message().to_string();
        error_at(file, source, e.span().unwrap_or(0..0), msg)
    })?;
    compile(file, source, parsed)
}

struct Ctx<'a> {
    file: &'a Path,
    source: &'a str,
    updates: Vec<TableUpdate>,
    spans: Vec<Range<usize>>,
}

impl Ctx<'_> {
    fn err<T>(&self, span: Range<usize>, msg: impl Into<String>) -> Result<T, ConfigError> {
        Err(error_at(self.file, self.source, span, msg.into()))
    }

    fn push(&mut self, u: TableUpdate, span: Range<usize>) {
        self.updates.push(u);
        self.spans.push(span);
    }

    fn mac(&self, s: &Spanned<String>) -> Result<EthernetAddress, ConfigError> {
        vocab::station_mac(s.get_ref()).or_else(|e| self.err(s.span(), e))
    }

    fn addr_len(&self, s: &Spanned<String>) -> Result<(IpAddr, u8), ConfigError> {
        let text = s.get_ref();
        let Some((a, l)) = text.split_once('/') else {
            return self.err(s.span(), format!("`{text}` needs a /length"));
        };
        let (Ok(a), Ok(l)) = (a.parse::<IpAddr>(), l.parse::<u8>()) else {
            return self.err(s.span(), format!("`{text}` is not address/length"));
        };
        if l > if a.is_ipv4() { 32 } else { 128 } {
            return self.err(s.span(), format!("`{text}`: length {l} is too long"));
        }
        Ok((a, l))
    }
}

/// The interfaces the configuration names: each routed port (its own
/// name) and each bridge with an interface (`bviVLAN`, and its name). Routes,
/// neighbours and route files resolve names through this one list.
fn interface_names(f: &File, bvi_ids: &[Option<IfId>]) -> Vec<(String, IfId)> {
    let mut ifaces = Vec::new();
    for (i, p) in f.ports.iter().enumerate() {
        let routed = matches!(
            p.mode.as_ref().map(|m| m.get_ref().as_str()),
            None | Some("routed")
        );
        if let (true, Ok(i)) = (routed, u16::try_from(i)) {
            ifaces.push((p.name.get_ref().clone(), IfId(i)));
        }
    }
    for (b, id) in f.bridges.iter().zip(bvi_ids) {
        if let Some(id) = id {
            ifaces.push((format!("bvi{}", b.vlan.get_ref()), *id));
            if let Some(n) = &b.name {
                ifaces.push((n.clone(), *id));
            }
        }
    }
    ifaces
}

fn iface_named(ifaces: &[(String, IfId)], name: &str) -> Option<IfId> {
    ifaces.iter().find(|(n, _)| n == name).map(|&(_, id)| id)
}

/// The bridge domains (before the ports: port modes refer to them); each
/// bridge's interface id, if it has one.
fn bridges(cx: &mut Ctx<'_>, f: &File) -> Result<Vec<Option<IfId>>, ConfigError> {
    let mut bvi_ids = Vec::new();
    for (i, b) in f.bridges.iter().enumerate() {
        let vlan = *b.vlan.get_ref();
        if !(1..=4094).contains(&vlan) {
            return cx.err(b.vlan.span(), format!("VLAN {vlan} is outside 1-4094"));
        }
        let bvi = b.mac.as_ref().map(|_| IfId((f.ports.len() + i) as u16));
        bvi_ids.push(bvi);
        cx.push(
            TableUpdate::SetBridge {
                vlan,
                aging_secs: b.aging.unwrap_or(300),
                bvi,
            },
            b.vlan.span(),
        );
    }
    Ok(bvi_ids)
}

/// How a port reaches the wire: backend, XDP attach mode, ring size.
fn port_io(
    cx: &Ctx<'_>,
    p: &PortSection,
) -> Result<(Backend, XdpAttach, Option<u32>), ConfigError> {
    let backend = match p.backend.as_ref().map(|b| b.get_ref().as_str()) {
        None | Some("pcap") => Backend::Pcap,
        Some("memory") => Backend::Memory,
        Some("af_xdp") | Some("af-xdp") | Some("xdp") => Backend::AfXdp,
        Some("af_packet") | Some("af-packet") | Some("packet") => Backend::AfPacket,
        Some("tap") => Backend::Tap,
        Some(other) => {
            let span = p.backend.as_ref().map_or(0..0, |b| b.span());
            return cx.err(
                span,
                format!("unknown backend `{other}` (pcap, memory, af_xdp, af_packet, tap)"),
            );
        }
    };
    let xdp_mode = match p
        .xdp_mode
        .as_ref()
        .map(|m| (m.get_ref().as_str(), m.span()))
    {
        None | Some(("auto", _)) => XdpAttach::Auto,
        Some(("native", _)) => XdpAttach::Native,
        Some(("generic", _)) => XdpAttach::Generic,
        Some((other, span)) => {
            return cx.err(
                span,
                format!("unknown xdp_mode `{other}` (auto, native, generic)"),
            );
        }
    };
    let ring_size = match &p.ring_size {
        Some(r) if !(r.get_ref().is_power_of_two() && (64..=32768).contains(r.get_ref())) => {
            return cx.err(
                r.span(),
                format!(
                    "ring_size {} must be a power of two from 64 to 32768",
                    r.get_ref()
                ),
            );
        }
        r => r.as_ref().map(|r| *r.get_ref()),
    };
    Ok((backend, xdp_mode, ring_size))
}

/// A port's mode: routed (its own interface), access or trunk.
fn port_mode(cx: &Ctx<'_>, p: &PortSection, id: PortId) -> Result<PortMode, ConfigError> {
    let mode_name = p.mode.as_ref().map_or("routed", |m| m.get_ref().as_str());
    let mode_span = p.mode.as_ref().map_or(p.name.span(), |m| m.span());
    let mode = match mode_name {
        "routed" => PortMode::Routed { iface: IfId(id.0) },
        "access" => match &p.vlan {
            Some(v) => PortMode::Access { vlan: *v.get_ref() },
            None => return cx.err(mode_span, "an access port needs `vlan`"),
        },
        "trunk" => PortMode::Trunk {
            vlans: p
                .vlans
                .as_ref()
                .map(|v| v.get_ref().iter().copied().collect())
                .unwrap_or_default(),
            native: p.native.as_ref().map(|n| *n.get_ref()),
        },
        other => {
            return cx.err(
                mode_span,
                format!("unknown mode `{other}` (routed, access, trunk)"),
            );
        }
    };
    Ok(mode)
}

/// Port `i`: its table updates, and what the runtime needs to open it.
fn port(cx: &mut Ctx<'_>, f: &File, i: usize, p: &PortSection) -> Result<PortSpec, ConfigError> {
    let id = PortId(i as u16);
    let name = p.name.get_ref().clone();
    if f.ports[..i].iter().any(|q| q.name.get_ref() == &name) {
        return cx.err(p.name.span(), format!("port `{name}` is defined twice"));
    }
    let mac = cx.mac(&p.mac)?;
    let (backend, xdp_mode, ring_size) = port_io(cx, p)?;
    let mode = port_mode(cx, p, id)?;
    let routed = matches!(mode, PortMode::Routed { .. });
    cx.push(
        TableUpdate::SetPort(PortConfig {
            id,
            name: name.clone(),
            mode,
        }),
        p.name.span(),
    );
    if routed {
        let mtu = p.mtu.as_ref().map_or(1500, |m| *m.get_ref());
        cx.push(
            TableUpdate::SetInterface {
                id: IfId(id.0),
                name: name.clone(),
                mac,
                mtu,
                attach: Attach::Port(id),
            },
            p.mtu.as_ref().map_or(p.name.span(), |m| m.span()),
        );
        for a in &p.addresses {
            let (addr, len) = cx.addr_len(a)?;
            cx.push(
                TableUpdate::AddAddress {
                    iface: IfId(id.0),
                    addr,
                    len,
                },
                a.span(),
            );
        }
    } else if let Some(a) = p.addresses.first() {
        return cx.err(
            a.span(),
            "a bridged port has no addresses; give them to its [[bridge]]",
        );
    }
    Ok(PortSpec {
        id,
        name,
        mac,
        backend,
        device: p.device.clone(),
        queues: p.queues.unwrap_or(1),
        xdp_mode,
        ring_size,
    })
}

/// The bridges' own L3 interfaces and their addresses.
fn bridge_interfaces(
    cx: &mut Ctx<'_>,
    f: &File,
    bvi_ids: &[Option<IfId>],
) -> Result<(), ConfigError> {
    for (b, bvi) in f.bridges.iter().zip(bvi_ids) {
        let (Some(id), Some(mac)) = (bvi, &b.mac) else {
            continue;
        };
        let vlan = *b.vlan.get_ref();
        cx.push(
            TableUpdate::SetInterface {
                id: *id,
                name: b.name.clone().unwrap_or_else(|| format!("bvi{vlan}")),
                mac: cx.mac(mac)?,
                mtu: b.mtu.as_ref().map_or(1500, |m| *m.get_ref()),
                attach: Attach::Bridge(vlan),
            },
            mac.span(),
        );
        for a in &b.addresses {
            let (addr, len) = cx.addr_len(a)?;
            cx.push(
                TableUpdate::AddAddress {
                    iface: *id,
                    addr,
                    len,
                },
                a.span(),
            );
        }
    }
    Ok(())
}

/// The `[[route]]` sections.
fn routes(cx: &mut Ctx<'_>, f: &File, ifaces: &[(String, IfId)]) -> Result<(), ConfigError> {
    for r in &f.routes {
        let span = r.span();
        let r = r.get_ref();
        let via: Vec<String> = match r.via.as_ref().map(Spanned::get_ref) {
            None => Vec::new(),
            Some(Via::One(g)) => vec![g.clone()],
            Some(Via::Many(gs)) => gs.clone(),
        };
        let via: Vec<&str> = via.iter().map(String::as_str).collect();
        let prefix = vocab::prefix_or_default(r.prefix.get_ref(), via.first().copied())
            .or_else(|e| cx.err(r.prefix.span(), e))?;
        let spec = vocab::RouteSpec {
            via: &via,
            dev: r.dev.as_ref().map(|d| d.get_ref().as_str()),
            kind: r.kind.as_ref().map(|k| k.get_ref().as_str()),
        };
        let target = vocab::route_target(spec, |name| iface_named(ifaces, name)).or_else(|e| {
            let at = match e.part {
                vocab::Part::Via(_) => r.via.as_ref().map(Spanned::span),
                vocab::Part::Dev => r.dev.as_ref().map(Spanned::span),
                vocab::Part::Kind => r.kind.as_ref().map(Spanned::span),
                vocab::Part::Item => None,
            };
            cx.err(at.unwrap_or_else(|| span.clone()), e.message)
        })?;
        cx.push(TableUpdate::AddRoute { prefix, target }, r.prefix.span());
    }
    Ok(())
}

/// The `[[neighbor]]` sections (static neighbours).
fn neighbors(cx: &mut Ctx<'_>, f: &File, ifaces: &[(String, IfId)]) -> Result<(), ConfigError> {
    for n in &f.neighbors {
        let span = n.span();
        let n = n.get_ref();
        let addr: IpAddr = match n.address.get_ref().parse() {
            Ok(a) => a,
            Err(_) => {
                return cx.err(
                    n.address.span(),
                    format!("`{}` is not an address", n.address.get_ref()),
                );
            }
        };
        let mac = cx.mac(&n.mac)?;
        let iface = match iface_named(ifaces, n.port.get_ref()) {
            Some(id) => id,
            None => {
                return cx.err(
                    n.port.span(),
                    format!("no port or bridge interface named `{}`", n.port.get_ref()),
                );
            }
        };
        cx.push(
            TableUpdate::AddNeighbor {
                addr,
                mac,
                iface,
                state: NeighborState::Static,
            },
            span,
        );
    }
    Ok(())
}

/// Turn a parsed file into ports and updates.
fn compile(file: &Path, source: &str, f: File) -> Result<Compiled, ConfigError> {
    let mut cx = Ctx {
        file,
        source,
        updates: Vec::new(),
        spans: Vec::new(),
    };
    let bvi_ids = bridges(&mut cx, &f)?;
    let mut ports = Vec::new();
    for (i, p) in f.ports.iter().enumerate() {
        ports.push(port(&mut cx, &f, i, p)?);
    }
    bridge_interfaces(&mut cx, &f, &bvi_ids)?;
    let ifaces = interface_names(&f, &bvi_ids);
    routes(&mut cx, &f, &ifaces)?;
    neighbors(&mut cx, &f, &ifaces)?;
    if ports.is_empty() {
        return cx.err(0..0, "the configuration has no [[port]]");
    }
    let port_names: Vec<(String, PortId)> = ports.iter().map(|p| (p.name.clone(), p.id)).collect();
    let (firewall, rule_spans) =
        f.firewall
            .ruleset(source, &ifaces, &port_names, &|span, msg| {
                error_at(file, source, span, msg)
            })?;
    let conntrack = match &f.conntrack {
        Some(c) => c
            .get_ref()
            .config(&|span, msg| error_at(file, source, span, msg))?,
        None => orbital_conntrack::CtConfig::default(),
    };
    let address_of = |id: IfId| {
        cx.updates.iter().find_map(|u| match u {
            TableUpdate::AddAddress {
                iface,
                addr: IpAddr::V4(a),
                ..
            } if *iface == id => Some(*a),
            _ => None,
        })
    };
    let (nat, nat_spans) = f.nat.rules(source, &ifaces, &address_of, &|span, msg| {
        error_at(file, source, span, msg)
    })?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let route_files = f
        .route_files
        .iter()
        .map(|p| (dir.join(p.get_ref()), p.span()))
        .collect();
    let (engine, engine_spans) = f
        .engine
        .as_ref()
        .map(|e| e.get_ref().settings())
        .unwrap_or_default();
    Ok(Compiled {
        ports,
        updates: cx.updates,
        engine,
        firewall,
        conntrack,
        nat,
        nat_spans,
        engine_spans,
        engine_at: f.engine.as_ref().map_or(0..0, Spanned::span),
        route_files,
        ifaces,
        rule_spans,
        conntrack_at: f.conntrack.as_ref().map_or(0..0, Spanned::span),
        spans: cx.spans,
        source: source.to_string(),
        file: file.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[engine]
workers = 2

[[port]]
name = "lan0"
mac = "02:00:00:00:00:01"
addresses = ["10.0.0.1/24", "2001:db8::1/64"]

[[port]]
name = "wan0"
mac = "02:00:00:00:01:01"
mtu = 1280
addresses = ["192.0.2.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "192.0.2.254"

[[route]]
prefix = "172.16.0.0/12"
via = ["10.0.0.2", "10.0.0.3"]

[[route]]
prefix = "203.0.113.0/24"
type = "blackhole"

[[neighbor]]
address = "192.0.2.254"
mac = "02:00:00:00:01:fe"
port = "wan0"
"#;

    fn compile(s: &str) -> Result<(Compiled, TablesBuilder), ConfigError> {
        let c = compile_str(Path::new("router.toml"), s)?;
        let b = c.builder()?;
        Ok((c, b))
    }

    #[test]
    fn a_router_compiles_and_applies() {
        let (c, b) = compile(GOOD).unwrap();
        assert_eq!(c.engine.workers, Some(2));
        assert_eq!(c.ports.len(), 2);
        assert_eq!(c.port("wan0").unwrap().id, PortId(1));
        let t = b.current();
        assert_eq!(t.version, 1);
        assert!(t.ifs.local_v4("10.0.0.1".parse().unwrap()).is_some());
        assert_eq!(t.neighbors.len(), 1);
        assert_eq!(
            b.routes()
                .iter()
                .filter(|r| r.origin == orbital_fib::tables::RouteOrigin::Static)
                .count(),
            3
        );
    }

    fn err(s: &str) -> ConfigError {
        compile(s).unwrap_err()
    }

    #[test]
    fn errors_name_file_line_and_reason() {
        let e = err(&GOOD.replace("via = \"192.0.2.254\"", "via = \"8.8.8.8\""));
        assert_eq!(
            (e.line, e.file.to_str().unwrap()),
            (17, "router.toml"),
            "{e}"
        );
        assert!(
            e.message.contains("8.8.8.8 is not on any connected subnet"),
            "{e}"
        );
        assert!(e.to_string().starts_with("router.toml:17:"), "{e}");
        let e = err(&GOOD.replace("\"10.0.0.1/24\"", "\"10.0.0.1/33\""));
        assert_eq!(e.line, 8);
        assert!(e.message.contains("too long"), "{e}");
        let e = err(&GOOD.replace("mtu = 1280", "mtu = \"big\""));
        assert_eq!(e.line, 13, "{e}");
        let e = err(&GOOD.replace("port = \"wan0\"", "port = \"wan9\""));
        assert!(
            e.message
                .contains("no port or bridge interface named `wan9`"),
            "{e}"
        );
        let e = err(&GOOD.replace("type = \"blackhole\"", "type = \"sinkhole\""));
        assert!(e.message.contains("unknown route type"), "{e}");
        let e = err(&format!(
            "{GOOD}\n[[port]]\nname = \"lan0\"\nmac = \"02:00:00:00:00:09\"\n"
        ));
        assert!(e.message.contains("defined twice"), "{e}");
        let e = err(&GOOD.replace("[engine]", "[engine]\nturbo = true"));
        assert!(e.message.contains("unknown field"), "{e}");
        let e = err(&GOOD.replace("02:00:00:00:00:01", "01:00:5e:00:00:01"));
        assert!(e.message.contains("group MAC"), "{e}");
    }

    #[test]
    fn af_xdp_settings_are_checked() {
        let xdp = |extra: &str| {
            GOOD.replace(
                "mac = \"02:00:00:00:00:01\"",
                &format!(
                    "mac = \"02:00:00:00:00:01\"\nbackend = \"af_xdp\"\ndevice = \"eth0\"\n{extra}"
                ),
            )
        };
        let (c, _) = compile(&xdp("xdp_mode = \"generic\"\nring_size = 4096")).unwrap();
        let p = c.port("lan0").unwrap();
        assert_eq!(
            (p.backend, p.xdp_mode, p.ring_size),
            (Backend::AfXdp, XdpAttach::Generic, Some(4096))
        );
        let (c, _) = compile(&xdp("")).unwrap();
        assert_eq!(c.port("lan0").unwrap().xdp_mode, XdpAttach::Auto);
        let e = err(&xdp("xdp_mode = \"turbo\""));
        assert!(e.message.contains("unknown xdp_mode `turbo`"), "{e}");
        assert_eq!(e.line, 10, "{e}");
        let e = err(&xdp("ring_size = 1000"));
        assert!(e.message.contains("power of two"), "{e}");
        assert_eq!(e.line, 10, "{e}");
    }

    #[test]
    fn route_files_load_and_their_errors_point_into_them() {
        let dir = std::env::temp_dir().join(format!("orbital-routes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("t.routes"),
            "# upstream\n1.0.0.0/24 via 192.0.2.254\n2001:db8:ff::/48 via 2001:db8::9\n\n8.8.0.0/16 blackhole\n",
        )
        .unwrap();
        let cfg = format!("route_files = [\"t.routes\"]\n{GOOD}");
        std::fs::write(dir.join("r.toml"), &cfg).unwrap();
        let (_, b) = load(&dir.join("r.toml")).unwrap();
        let n = b
            .routes()
            .iter()
            .filter(|r| r.origin == orbital_fib::tables::RouteOrigin::Static)
            .count();
        assert_eq!(n, 3 + 3, "the file's routes beside the configuration's");
        std::fs::write(
            dir.join("t.routes"),
            "1.0.0.0/24 via 192.0.2.254\n5.0.0.0/8 via 8.8.8.8\n",
        )
        .unwrap();
        let e = load(&dir.join("r.toml")).unwrap_err();
        assert!(e.to_string().contains("t.routes:2:1:"), "{e}");
        assert!(e.message.contains("not on any connected subnet"), "{e}");
        std::fs::write(
            dir.join("r.toml"),
            cfg.replace("t.routes", "missing.routes"),
        )
        .unwrap();
        let e = load(&dir.join("r.toml")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("{}:1:", dir.join("r.toml").display())),
            "{e}"
        );
        assert!(e.message.contains("missing.routes"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    const FIREWALL: &str = r#"
[[firewall.set]]
name = "blocklist"
type = "ipv4_addr"
elements = ["198.51.100.0/24", "203.0.113.7"]

[[firewall.chain]]
name = "input"
hook = "input"
policy = "drop"
rules = [
  "ct state established,related accept",
  "ip saddr @blocklist drop",
  "iif lan0 jump lan-in",
]

[[firewall.chain]]
name = "lan-in"
rules = ["tcp dport { 22, 443 } accept", "return"]
"#;

    #[test]
    fn firewall_sections_compile_and_errors_point_into_the_rule() {
        let (c, _) = compile(&format!("{GOOD}{FIREWALL}")).unwrap();
        let fw = &c.firewall;
        assert_eq!(fw.chains.len(), 2);
        assert_eq!(
            fw.chains[0].base,
            Some((
                orbital_firewall::rules::FwHook::Input,
                0,
                orbital_firewall::rules::Policy::Drop
            ))
        );
        assert_eq!(
            fw.chains[0].rules[2].verdict,
            Some(orbital_firewall::rules::Verdict::Jump(1))
        );
        let base = GOOD.lines().count();
        let e = err(&format!(
            "{GOOD}{}",
            FIREWALL.replace("iif lan0", "iif lan7")
        ));
        assert_eq!((e.line, e.column), (base + 14, 8), "{e}");
        assert!(e.message.contains("no interface named `lan7`"), "{e}");
        let e = err(&format!(
            "{GOOD}{}",
            FIREWALL.replace("jump lan-in", "jump input")
        ));
        assert!(e.message.contains("loop"), "{e}");
        let e = err(&format!(
            "{GOOD}{}",
            FIREWALL.replace("hook = \"input\"", "hook = \"inbound\"")
        ));
        assert!(e.message.contains("unknown hook `inbound`"), "{e}");
        let e = err(&format!(
            "{GOOD}{}",
            FIREWALL.replace("203.0.113.7", "203.0.113.300")
        ));
        assert!(e.message.contains("not an IPv4 address"), "{e}");
        let e = err(&format!(
            "{GOOD}{}",
            FIREWALL.replace("\"return\"", "\"notrack\"")
        ));
        assert!(e.message.contains("only before connection tracking"), "{e}");
    }

    #[test]
    fn bridges_and_bvi() {
        let s = r#"
[[bridge]]
vlan = 10
mac = "02:00:00:00:0a:01"
addresses = ["10.10.0.1/24"]

[[port]]
name = "p0"
mac = "02:00:00:00:00:10"
mode = "access"
vlan = 10

[[port]]
name = "p1"
mac = "02:00:00:00:00:11"
mode = "trunk"
vlans = [10]

[[route]]
prefix = "10.20.0.0/16"
via = "10.10.0.9"
"#;
        let (_, b) = compile(s).unwrap();
        let t = b.current();
        assert_eq!(t.ifs.bridge(10).unwrap().members.len(), 2);
        assert!(t.ifs.local_v4("10.10.0.1".parse().unwrap()).is_some());
    }
}
