//! The `orbital` command: the operator's entry point to the data plane.
//!
//! Subcommands live one per module so each reads on its own:
//! [`inspect`] shows how the parser sees a capture; [`replay`] runs the
//! engine on captures; [`daemon`] is `orbital run` on real ports with its
//! API and metrics; [`ctl`] is `orbctl`; [`lab`] builds a namespace lab;
//! [`bench`](mod@bench) measures the engine's parts; [`routes_file`] reads
//! route lists; [`console`] prints without panicking on a broken pipe.
#![forbid(unsafe_code)]

pub mod bench;
pub mod console;
pub mod ctl;
pub mod daemon;
pub mod firewall_view;
pub mod inspect;
pub mod lab;
pub mod nat_view;
pub mod replay;
pub mod report;
pub mod routes_file;
pub mod version;

/// The graph every command runs (the daemon, replay, the benchmarks): the
/// forwarding path and the features registered at its hooks (the stateful
/// firewall with connection tracking, and NAT). One type, so what is
/// replayed or benchmarked is what the daemon runs.
pub type Graph = orbital_nat::Router;

/// The policy of [`Graph`]: compile a configuration's firewall and NAT for
/// `workers` workers as policy generation `generation`; `previous` (a
/// reload) passes its log queue and table views on.
///
/// # Errors
/// A rule the classifier or the NAT compiler cannot take, located in the
/// configuration.
pub fn policy(
    compiled: &orbital_control::Compiled,
    workers: usize,
    generation: u32,
    previous: Option<&orbital_nat::RouterPolicy>,
) -> Result<orbital_nat::RouterPolicy, orbital_control::ConfigError> {
    let fw = orbital_firewall::FirewallPolicy::compile(&compiled.firewall, workers, generation)
        .map_err(|e| match e.at {
            Some((c, r)) => compiled.locate_rule(c, r, e.message),
            None => compiled.locate(None, e.message),
        })?;
    let mut nat = orbital_nat::NatPolicy::compile(&compiled.nat, workers, previous.map(|p| &p.nat))
        .map_err(|e| {
            compiled.locate_nat(
                e.rule,
                format!("{}: {}", compiled.nat.label(e.rule), e.message),
            )
        })?;
    // Kernel ports spread packets by the kernel's hash, not the modelled
    // NIC's the NAT's port choice relies on.
    nat.software_steering = workers > 1
        && compiled.ports.iter().any(|p| {
            matches!(
                p.backend,
                orbital_control::Backend::AfPacket
                    | orbital_control::Backend::AfXdp
                    | orbital_control::Backend::Tap
            )
        });
    let edge = match previous {
        Some(p) => p.edge.with_firewall(fw),
        None => orbital_firewall::EdgePolicy::new(fw, compiled.conntrack, workers),
    };
    Ok(orbital_nat::RouterPolicy { edge, nat })
}
