//! One versioned snapshot of everything the fast path reads (spec §7.1–7.2):
//! the forwarding tables, the features' compiled policy (firewall, NAT, QoS:
//! whatever the graph's [`crate::Features::Policy`] holds) and the settings a
//! reload may change without a restart. Published with one atomic swap;
//! never edited in place.
//!
//! A worker loads the current snapshot once per poll and uses it for every
//! burst of that poll, so a burst sees exactly one version of tables and
//! policy together. The [`Publisher`] is the control side's single owner of
//! the table builder: the API, a reload and the slow path's neighbour
//! learning all publish through it, so versions only grow. Its lock is held
//! only to apply a batch and swap; expensive compiles (a configuration, a
//! classifier) happen before, outside it, and the slow path never waits for
//! it ([`Publisher::try_update`]).

use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::{ArcSwap, Guard};
use orbital_fib::{Tables, TablesBuilder};

/// Settings a reload applies without a restart (the rest of `[engine]`
/// needs one: worker count, CPUs, buffers, the API socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Punts per second per worker (spec §3.2).
    pub punt_rate: u64,
    /// Punt burst per worker.
    pub punt_burst: u64,
    /// ICMP errors per second (RFC 1812 §4.3.2.8).
    pub icmp_rate: u64,
    /// ICMP error burst.
    pub icmp_burst: u64,
    /// How long a worker busy-polls empty ports before it sleeps, µs.
    pub idle_us: u64,
    /// Forward IPv4 packets with a loose or strict source route option
    /// (LSRR/SSRR). Off by default, as Linux's `accept_source_route = 0`:
    /// they are dropped (`ipv4-source-route`), whoever they are for. On,
    /// they are routed on their destination address like any other packet
    /// and the option is passed on unprocessed (the RFC 1812 §5.2.4.1 hop
    /// processing — taking the next address from the route — is not done,
    /// so one addressed to the router is delivered to it).
    pub accept_source_route: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            punt_rate: 10_000,
            punt_burst: 512,
            icmp_rate: 1000,
            icmp_burst: 100,
            idle_us: 200,
            accept_source_route: false,
        }
    }
}

/// Everything the fast path reads, one version.
#[derive(Debug)]
pub struct Snapshot<P> {
    /// Version: one more than the snapshot it replaced.
    pub version: u64,
    /// Forwarding tables (LPM, next hops, neighbours, ports).
    pub fib: Arc<Tables>,
    /// The features' compiled policy.
    pub policy: Arc<P>,
    /// Live settings.
    pub settings: Settings,
}

impl<P> Clone for Snapshot<P> {
    fn clone(&self) -> Self {
        Snapshot {
            version: self.version,
            fib: self.fib.clone(),
            policy: self.policy.clone(),
            settings: self.settings,
        }
    }
}

/// The published snapshot, shared by every worker, the slow path and readers.
#[derive(Debug)]
pub struct SharedSnapshot<P> {
    current: ArcSwap<Snapshot<P>>,
}

impl<P> SharedSnapshot<P> {
    /// Share `s` as the first version.
    pub fn new(s: Snapshot<P>) -> SharedSnapshot<P> {
        SharedSnapshot {
            current: ArcSwap::from_pointee(s),
        }
    }

    /// The current version, for the length of a poll. Lock-free and
    /// wait-free for readers.
    #[inline]
    pub fn load(&self) -> Guard<Arc<Snapshot<P>>> {
        self.current.load()
    }

    /// The current version as an owned `Arc`.
    pub fn load_full(&self) -> Arc<Snapshot<P>> {
        self.current.load_full()
    }

    fn store(&self, s: Snapshot<P>) {
        self.current.store(Arc::new(s));
    }
}

/// What the publisher owns: the builder the tables come from, the policy
/// and settings in force.
#[derive(Debug)]
pub struct Published<P> {
    /// The control side's editable copy of the forwarding tables.
    pub builder: TablesBuilder,
    /// The policy in force.
    pub policy: Arc<P>,
    /// The settings in force.
    pub settings: Settings,
    version: u64,
}

impl<P> Published<P> {
    /// Version of the snapshot last published.
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// The single writer of the snapshot (see the module docs).
#[derive(Debug)]
pub struct Publisher<P> {
    state: Mutex<Published<P>>,
    shared: Arc<SharedSnapshot<P>>,
}

impl<P> Publisher<P> {
    /// Publish version 1 from `builder`, `policy` and `settings`.
    pub fn new(builder: TablesBuilder, policy: P, settings: Settings) -> Publisher<P> {
        let policy = Arc::new(policy);
        let shared = Arc::new(SharedSnapshot::new(Snapshot {
            version: 1,
            fib: builder.current(),
            policy: policy.clone(),
            settings,
        }));
        Publisher {
            state: Mutex::new(Published {
                builder,
                policy,
                settings,
                version: 1,
            }),
            shared,
        }
    }

    /// What the data side reads.
    pub fn shared(&self) -> &Arc<SharedSnapshot<P>> {
        &self.shared
    }

    fn lock(&self) -> MutexGuard<'_, Published<P>> {
        // A panic while holding the lock cannot leave a half-applied batch
        // (the builder undoes a refused batch before returning), so the
        // state behind a poisoned lock is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, st: &mut Published<P>) -> u64 {
        st.version += 1;
        self.shared.store(Snapshot {
            version: st.version,
            fib: st.builder.current(),
            policy: st.policy.clone(),
            settings: st.settings,
        });
        st.version
    }

    /// Run `f` on the published state; if it succeeds, publish the result as
    /// the next version and return it with `f`'s value. On error nothing is
    /// published (`f` must leave the state as it found it: the builder's
    /// batches are all or nothing).
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub fn update<R, E>(
        &self,
        f: impl FnOnce(&mut Published<P>) -> Result<R, E>,
    ) -> Result<(u64, R), E> {
        let mut st = self.lock();
        let r = f(&mut st)?;
        let v = self.publish(&mut st);
        Ok((v, r))
    }

    /// As [`Publisher::update`], but only if no one else is publishing right
    /// now: `None` when busy (the slow path retries on its next poll rather
    /// than wait behind a reload).
    pub fn try_update<R, E>(
        &self,
        f: impl FnOnce(&mut Published<P>) -> Result<R, E>,
    ) -> Option<Result<(u64, R), E>> {
        let mut st = match self.state.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(f(&mut st).map(|r| (self.publish(&mut st), r)))
    }

    /// Read the published state (route and neighbour listings).
    pub fn read<R>(&self, f: impl FnOnce(&Published<P>) -> R) -> R {
        f(&self.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_grow_and_a_refused_update_publishes_nothing() {
        let p = Publisher::new(TablesBuilder::new(), 7u32, Settings::default());
        assert_eq!(p.shared().load().version, 1);
        let (v, ()) = p
            .update(|st| {
                st.policy = Arc::new(8);
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(v, 2);
        let s = p.shared().load_full();
        assert_eq!((*s.policy, s.version), (8, 2));
        assert!(p.update(|_| Err::<(), _>("no")).is_err());
        assert_eq!(p.shared().load().version, 2);
        let held = p.lock();
        assert!(p.try_update(|_| Ok::<_, ()>(())).is_none(), "busy");
        drop(held);
        assert_eq!(p.try_update(|_| Ok::<_, ()>(())).unwrap().unwrap().0, 3);
    }
}
