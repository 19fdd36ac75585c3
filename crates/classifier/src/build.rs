//! Compiling a rule list into a [`Classifier`]: partition, then one cut tree
//! per partition.

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::classifier::{Classifier, LANES, LEAF, SIGN, TERM, Tree, node_ref};
use crate::field::FieldSpec;
use crate::rule::{Rule, Set};
use crate::{BuildError, validate};

/// Knobs of [`Classifier::build_with`]. The defaults are what the ClassBench
/// measurements in the crate docs chose.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildConfig {
    /// Most bytes of lookup memory the classifier may take (table, leaves,
    /// rule values). A tree that would grow past it is rebuilt with larger
    /// leaves (less memory, slower lookups) until it fits; a rule set that
    /// does not fit even as plain lists is refused. The build's own scratch
    /// (rule lists along the path being built, de-duplication maps) stays
    /// within a small multiple of this. Default 256 MiB.
    pub max_memory_bytes: usize,
    /// Rules a leaf may hold before the tree cuts it further. Default 8.
    pub leaf_rules: usize,
    /// Widest cut, in bits (a node has up to `2^max_cut_bits` children).
    /// At most 16. Default 8.
    pub max_cut_bits: u8,
    /// A cut is widened while its children hold at most `space_factor` times
    /// the node's rules in all (HiCuts' space measure: how much replication
    /// a node may cause). Default 4.
    pub space_factor: usize,
    /// Most trees the rules are partitioned into. Default 4.
    pub max_trees: usize,
    /// A node is cut only if the cut leaves a key at most this share of the
    /// node's rules to check (counting each child as often as it has rules);
    /// otherwise it becomes a leaf. Default 0.8.
    pub cut_gain: f64,
}

impl Default for BuildConfig {
    fn default() -> Self {
        Self {
            max_memory_bytes: 256 << 20,
            leaf_rules: 8,
            max_cut_bits: 8,
            space_factor: 4,
            max_trees: 4,
            cut_gain: 0.8,
        }
    }
}

/// What a build produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildStats {
    /// Rules compiled.
    pub rules: usize,
    /// Trees (partitions) searched per key.
    pub trees: usize,
    /// Rules per tree, in search order.
    pub tree_rules: Vec<usize>,
    /// Depth of each tree, in search order.
    pub tree_depths: Vec<u32>,
    /// Distinct interior nodes.
    pub nodes: usize,
    /// Distinct leaves that need rule checks.
    pub leaves: usize,
    /// Distinct terminals settled without a check (one rule covers the region).
    pub decided: usize,
    /// Longest walk from a root to a terminal, over all trees.
    pub max_depth: u32,
    /// Interior nodes cutting each field (index = field): zero for a field
    /// no rule narrows, which lookups then never read.
    pub field_cuts: Vec<usize>,
    /// Checks of each field in the leaves.
    pub field_checks: Vec<usize>,
    /// Rules in the longest leaf.
    pub max_leaf_rules: usize,
    /// Bytes of the node table.
    pub table_bytes: usize,
    /// Bytes of the leaves.
    pub leaf_bytes: usize,
    /// Times the build started over with larger leaves to fit the memory limit.
    pub retries: u32,
    /// Rules visited over all nodes of the last attempt (the build's work;
    /// bounded by `max(512 × rules, 2^20)` per attempt).
    pub work: usize,
    /// Wall-clock time of the build.
    pub build_time: Duration,
}

impl Classifier {
    /// Compile `rules` (in priority order: the first match wins) for keys
    /// laid out as `spec`, with the default [`BuildConfig`].
    ///
    /// # Errors
    /// A rule with the wrong field count or a bad match, too many rules, or a
    /// rule set that does not fit [`BuildConfig::max_memory_bytes`].
    pub fn build(spec: &FieldSpec, rules: &[Rule]) -> Result<Self, BuildError> {
        Self::build_with(spec, rules, &BuildConfig::default())
    }

    /// [`Classifier::build`] with explicit knobs.
    ///
    /// # Errors
    /// As [`Classifier::build`].
    pub fn build_with(
        spec: &FieldSpec,
        rules: &[Rule],
        cfg: &BuildConfig,
    ) -> Result<Self, BuildError> {
        let t0 = Instant::now();
        validate(spec, rules)?;
        let nf = spec.len();
        let mut sets = Vec::with_capacity(rules.len() * nf);
        for r in rules {
            for (&m, &kind) in r.fields.iter().zip(spec.kinds()) {
                sets.push(Set::from_match(m, kind).expect("validated"));
            }
        }
        let max: Vec<u32> = spec.kinds().iter().map(|k| k.max_value()).collect();
        let width: Vec<u8> = spec.kinds().iter().map(|k| k.bits()).collect();
        let groups = partition(&sets, &width, rules.len(), cfg.max_trees.max(1));

        let mut leaf_rules = cfg.leaf_rules.max(1);
        let mut retries = 0;
        loop {
            let mut b = Builder {
                nf,
                max: &max,
                sets: &sets,
                cfg,
                leaf_rules,
                table: Vec::new(),
                leaves: Vec::new(),
                node_memo: FxHashMap::default(),
                leaf_memo: FxHashMap::default(),
                decided_rules: Default::default(),
                limit: cfg.max_memory_bytes.saturating_sub(rules.len() * 4),
                work: 0,
                work_limit: work_limit(rules.len(), cfg),
                counts: Vec::new(),
                marks: Vec::new(),
                stats: BuildStats {
                    field_cuts: vec![0; nf],
                    field_checks: vec![0; nf],
                    ..BuildStats::default()
                },
            };
            match b.trees(&groups, &width) {
                Ok(trees) => {
                    let mut stats = b.stats;
                    stats.rules = rules.len();
                    stats.trees = trees.len();
                    stats.tree_rules = trees.iter().map(|t| t.rules).collect();
                    stats.tree_depths = trees.iter().map(|t| t.depth).collect();
                    stats.table_bytes = b.table.len() * 8;
                    stats.leaf_bytes = b.leaves.len() * 4;
                    stats.retries = retries;
                    stats.work = b.work;
                    stats.max_depth = trees.iter().map(|t| t.depth).max().unwrap_or(0);
                    let mut c = Classifier {
                        fields: nf,
                        table: b.table,
                        leaves: b.leaves,
                        trees,
                        values: rules.iter().map(|r| r.value).collect(),
                        stats,
                    };
                    c.stats.build_time = t0.elapsed();
                    return Ok(c);
                }
                Err(Overflow) if leaf_rules < rules.len() => {
                    // Bigger leaves replicate less: each retry trades lookup
                    // speed for memory, down to one plain list per tree.
                    leaf_rules = leaf_rules.saturating_mul(4).min(rules.len());
                    retries += 1;
                }
                Err(Overflow) => {
                    let needed = b.table.len() * 8 + b.leaves.len() * 4 + rules.len() * 4;
                    return Err(BuildError::TooLarge {
                        needed,
                        limit: cfg.max_memory_bytes,
                    });
                }
            }
        }
    }
}

/// Most rules the build may handle over all nodes of one attempt: it bounds
/// build time the way `max_memory_bytes` bounds memory (a cut heuristic can
/// rebuild the same shared subtree over and over without growing the table).
/// Proportional to the rules, with a floor so small sets may cut deep.
fn work_limit(rules: usize, cfg: &BuildConfig) -> usize {
    rules
        .saturating_mul(512)
        .max(1 << 20)
        .min(cfg.max_memory_bytes.saturating_mul(4).max(1 << 20))
}

/// What a candidate cut does to a node's rules.
struct CutCount {
    /// Child entries plus the rules of the children that need a subtree of
    /// their own (see `Builder::choose_cut`).
    distinct: usize,
    /// Children holding every rule.
    full: usize,
    /// Rules left to a key, children weighted by their rules: sum of squares
    /// over sum.
    expect: f64,
}

/// The build ran past [`BuildConfig::max_memory_bytes`] or its work limit.
#[derive(Debug)]
struct Overflow;

/// A region of one field: the aligned block `base ..= base + 2^free - 1`.
#[derive(Debug, Clone, Copy)]
struct Block {
    base: u32,
    free: u8,
}

impl Block {
    fn hi(self) -> u32 {
        self.base | low_bits(self.free)
    }
}

/// `2^bits - 1` for `bits` in 0..=32.
fn low_bits(bits: u8) -> u32 {
    u32::MAX.checked_shr(32 - u32::from(bits)).unwrap_or(0)
}

/// Split the rules into at most `max_trees` groups, each cut by its own tree.
///
/// A rule that is wide in the field a tree cuts is copied into every child
/// the cut makes: a firewall set where half the rules leave the source
/// address open would put that half into every source-address leaf. So rules
/// are grouped by a field they are narrow in (covering at most the square
/// root of its values: a /16 or longer address, 256 ports or fewer), the
/// field narrow in most rules first; the last group takes what is left.
/// A field only counts if its narrow rules are spread over many values: the
/// protocol is narrow in nearly every rule but takes a handful of values, so
/// cutting on it separates nothing. Groups keep rule order, and a key
/// searches every group (skipping a group whose first rule comes after the
/// best match so far), so first-match semantics hold across them.
fn partition(sets: &[Set], width: &[u8], n: usize, max_trees: usize) -> Vec<Vec<u32>> {
    let nf = width.len();
    let narrow = |r: u32, f: usize| -> Option<u32> {
        let (lo, size_log2) = match sets[r as usize * nf + f] {
            Set::Range { lo, hi } => (lo, 64 - u64::from(hi - lo).leading_zeros()),
            Set::Masked { value, mask } => (
                value,
                u32::from(width[f]) - (mask & low_bits(width[f])).count_ones(),
            ),
        };
        (size_log2 <= u32::from(width[f]) / 2).then_some(lo)
    };
    // Groups smaller than this are not worth a tree of their own.
    let min_group = (n / 64).max(16);
    let mut left: Vec<u32> = (0..n as u32).collect();
    let mut groups = Vec::new();
    while groups.len() + 1 < max_trees && left.len() >= min_group {
        let mut best: Option<(usize, usize)> = None;
        for f in 0..nf {
            let mut starts: Vec<u32> = left.iter().filter_map(|&r| narrow(r, f)).collect();
            let count = starts.len();
            starts.sort_unstable();
            starts.dedup();
            let spread = starts.len() >= (count / 64).max(16);
            if spread && count >= min_group && best.is_none_or(|(_, c)| count > c) {
                best = Some((f, count));
            }
        }
        let Some((f, count)) = best else { break };
        if count == left.len() {
            break;
        }
        let (take, keep): (Vec<u32>, Vec<u32>) =
            left.iter().partition(|&&r| narrow(r, f).is_some());
        groups.push(take);
        left = keep;
    }
    if !left.is_empty() {
        groups.push(left);
    }
    groups
}

struct Builder<'a> {
    nf: usize,
    max: &'a [u32],
    sets: &'a [Set],
    cfg: &'a BuildConfig,
    leaf_rules: usize,
    table: Vec<u64>,
    leaves: Vec<u32>,
    /// Child arrays already in the table, so identical nodes are stored once.
    node_memo: FxHashMap<Box<[u64]>, u32>,
    /// Leaves already stored, by content.
    leaf_memo: FxHashMap<Box<[u32]>, u64>,
    /// Rules that settle some region alone (for the stats).
    decided_rules: rustc_hash::FxHashSet<u32>,
    /// Bytes the table and leaves may take.
    limit: usize,
    /// Rules handled so far, over every node built: the build's time.
    work: usize,
    /// Most `work` allowed before the attempt is abandoned.
    work_limit: usize,
    /// Scratch for counting rules per child (a difference array).
    counts: Vec<i64>,
    /// Scratch: children that may differ from their left neighbour.
    marks: Vec<bool>,
    stats: BuildStats,
}

impl Builder<'_> {
    fn trees(&mut self, groups: &[Vec<u32>], width: &[u8]) -> Result<Vec<Tree>, Overflow> {
        let mut trees = Vec::with_capacity(groups.len());
        for g in groups {
            let mut region: Vec<Block> =
                width.iter().map(|&w| Block { base: 0, free: w }).collect();
            let mut depth = 0;
            let root = self.node(g, &mut region, 0, &mut depth)?;
            trees.push(Tree {
                root,
                depth,
                min_rule: g[0],
                rules: g.len(),
            });
        }
        trees.sort_by_key(|t| t.min_rule);
        Ok(trees)
    }

    fn set(&self, r: u32, f: usize) -> Set {
        self.sets[r as usize * self.nf + f]
    }

    fn covers(&self, r: u32, region: &[Block]) -> bool {
        region
            .iter()
            .enumerate()
            .all(|(f, b)| self.set(r, f).covers(b.base, b.hi()))
    }

    fn used(&self) -> usize {
        self.table.len() * 8 + self.leaves.len() * 4
    }

    /// The terminal of a rule that settles its region alone.
    fn decided(&mut self, rule: u32) -> Result<u64, Overflow> {
        if self.decided_rules.insert(rule) {
            self.stats.decided += 1;
        }
        Ok(TERM | u64::from(rule))
    }

    fn no_match(&mut self) -> Result<u64, Overflow> {
        Ok(TERM | u64::from(crate::NO_MATCH))
    }

    /// The entry for `rules` (in priority order, each meeting `region`).
    fn node(
        &mut self,
        rules: &[u32],
        region: &mut [Block],
        depth: u32,
        max_depth: &mut u32,
    ) -> Result<u64, Overflow> {
        *max_depth = (*max_depth).max(depth);
        self.work += rules.len();
        if self.work > self.work_limit {
            return Err(Overflow);
        }
        // Rules after one that covers the whole region can never win in it.
        let end = rules
            .iter()
            .position(|&r| self.covers(r, region))
            .map_or(rules.len(), |i| i + 1);
        let rules = &rules[..end];
        match rules {
            [] => return self.no_match(),
            [r] if self.covers(*r, region) => return self.decided(*r),
            _ => {}
        }
        if rules.len() <= self.leaf_rules {
            return self.leaf(rules, region);
        }
        let Some((f, bits)) = self.choose_cut(rules, region) else {
            return self.leaf(rules, region);
        };
        let Block { base, free } = region[f];
        let shift = free - bits;
        let children = 1usize << bits;
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); children];
        // A child every one of whose rules spans its whole block in `f`
        // does not depend on where in `f` it is: children like that with the
        // same rules share one subtree (wide rules make many of them).
        let mut uniform = vec![true; children];
        for &r in rules {
            let s = self.set(r, f);
            match s {
                Set::Range { lo, hi } => {
                    let (lo, hi) = (lo.max(base), hi.min(region[f].hi()));
                    let (c0, c1) = (
                        ((lo - base) >> shift) as usize,
                        ((hi - base) >> shift) as usize,
                    );
                    for l in &mut lists[c0..=c1] {
                        l.push(r);
                    }
                    for c in [c0, c1] {
                        let clo = base + ((c as u32) << shift);
                        if !s.covers(clo, clo | low_bits(shift)) {
                            uniform[c] = false;
                        }
                    }
                }
                Set::Masked { .. } => {
                    for (c, (l, u)) in lists.iter_mut().zip(&mut uniform).enumerate() {
                        let clo = base + ((c as u32) << shift);
                        let chi = clo | low_bits(shift);
                        if s.intersects(clo, chi) {
                            l.push(r);
                            *u &= s.covers(clo, chi);
                        }
                    }
                }
            }
        }
        let mut refs = Vec::with_capacity(children);
        let mut shared: FxHashMap<&[u32], u64> = FxHashMap::default();
        for (c, l) in lists.iter().enumerate() {
            if uniform[c] {
                if let Some(&e) = shared.get(l.as_slice()) {
                    refs.push(e);
                    continue;
                }
            }
            region[f] = Block {
                base: base + ((c as u32) << shift),
                free: shift,
            };
            let e = self.node(l, region, depth + 1, max_depth)?;
            if uniform[c] {
                shared.insert(l, e);
            }
            refs.push(e);
        }
        region[f] = Block { base, free };
        let off = match self.node_memo.get(refs.as_slice()) {
            Some(&off) => off,
            None => {
                let off = u32::try_from(self.table.len()).map_err(|_| Overflow)?;
                self.table.extend_from_slice(&refs);
                if self.used() > self.limit {
                    return Err(Overflow);
                }
                self.node_memo.insert(refs.into_boxed_slice(), off);
                self.stats.nodes += 1;
                self.stats.field_cuts[f] += 1;
                off
            }
        };
        Ok(node_ref(off, f, shift, bits))
    }

    /// Pick the field and width of the cut at a node, or `None` to make it a
    /// leaf.
    ///
    /// The figure of merit is the rules a key still faces after the cut,
    /// counting a child's rules as often as it has rules (keys come from
    /// rules: a child with more rules sees more of them). Per field, the cut
    /// (of any width up to `max_cut_bits` within the space budget) with the
    /// fewest rules left, the narrowest of equals; then the field with the
    /// fewest rules left. (Taking the narrowest cut within 10 % of the best
    /// instead saved memory — 4.9 against 7.0 MB on acl1_10k — but cost a
    /// level and a rule check here and there: 155 against 150 estimated
    /// cycles per header on acl1_10k, 229 against 193 on ipc1_10k.) A cut that does not bring that below
    /// [`BuildConfig::cut_gain`] of the node's rules costs a level and buys little: peeling one exact port
    /// off eight port-wildcard rules a bit at a time made chains 16 deep.
    ///
    /// The space budget counts what the cut stores: a child that only rules
    /// spanning its whole block reach, with the same rules as its neighbour,
    /// shares its neighbour's subtree, so only distinct children count (with
    /// their rules), plus the child entries themselves. HiCuts' measure
    /// (all children's rules) charged a port range cut 256 ways 256 times and
    /// forced 2-bit port cuts, 12 levels deep on acl1.
    fn choose_cut(&mut self, rules: &[u32], region: &[Block]) -> Option<(usize, u8)> {
        let n = rules.len();
        let budget = self.cfg.space_factor.max(1) * n;
        let max_bits = self.cfg.max_cut_bits.clamp(1, 16);
        let mut best: Option<(f64, usize, u8)> = None;
        let mut options: Vec<(f64, u8)> = Vec::with_capacity(16);
        for (f, blk) in region.iter().enumerate() {
            if blk.free == 0
                || rules
                    .iter()
                    .all(|&r| self.set(r, f).covers(blk.base, blk.hi()))
            {
                continue;
            }
            options.clear();
            for bits in 1..=blk.free.min(max_bits) {
                let c = self.count(rules, f, *blk, bits);
                if bits > 1 && c.distinct > budget + (1 << max_bits) {
                    break;
                }
                // A cut that leaves every rule in more than one child can
                // repeat itself level after level and grow the tree
                // exponentially.
                if c.full <= 1 {
                    options.push((c.expect, bits));
                }
            }
            // The fewest rules left; of equals, the narrowest cut.
            let Some(&(e, bits)) = options.iter().reduce(|a, b| if b.0 < a.0 { b } else { a })
            else {
                continue;
            };
            if best.is_none_or(|(b, _, _)| e < b) {
                best = Some((e, f, bits));
            }
        }
        best.filter(|&(e, _, _)| e <= self.cfg.cut_gain * n as f64)
            .map(|(_, f, bits)| (f, bits))
    }

    /// What cutting `rules` on `bits` top bits of `blk` in field `f` gives.
    fn count(&mut self, rules: &[u32], f: usize, blk: Block, bits: u8) -> CutCount {
        let shift = blk.free - bits;
        let children = 1usize << bits;
        let (counts, marks) = (&mut self.counts, &mut self.marks);
        counts.clear();
        counts.resize(children + 1, 0);
        marks.clear();
        marks.resize(children + 1, false);
        marks[0] = true;
        for &r in rules {
            let s = self.sets[r as usize * self.nf + f];
            match s {
                Set::Range { lo, hi } => {
                    let (lo, hi) = (lo.max(blk.base), hi.min(blk.hi()));
                    let (c0, c1) = (
                        ((lo - blk.base) >> shift) as usize,
                        ((hi - blk.base) >> shift) as usize,
                    );
                    counts[c0] += 1;
                    counts[c1 + 1] -= 1;
                    // Where a rule starts or stops, and the children it only
                    // partly covers, a child may differ from its neighbour.
                    marks[c0] = true;
                    marks[c1 + 1] = true;
                    for c in [c0, c1] {
                        let clo = blk.base + ((c as u32) << shift);
                        if !s.covers(clo, clo | low_bits(shift)) {
                            marks[c] = true;
                            marks[c + 1] = true;
                        }
                    }
                }
                Set::Masked { .. } => {
                    for c in 0..children {
                        let clo = blk.base + ((c as u32) << shift);
                        if s.intersects(clo, clo | low_bits(shift)) {
                            counts[c] += 1;
                            counts[c + 1] -= 1;
                            marks[c] = true;
                            marks[c + 1] = true;
                        }
                    }
                }
            }
        }
        let (mut run, mut sum, mut squares, mut full, mut distinct) =
            (0i64, 0usize, 0f64, 0usize, children);
        for (&d, &m) in counts[..children].iter().zip(&marks[..children]) {
            run += d;
            sum += run as usize;
            squares += (run * run) as f64;
            full += usize::from(run as usize == rules.len());
            if m {
                distinct += run as usize;
            }
        }
        CutCount {
            full,
            distinct,
            expect: squares / sum.max(1) as f64,
        }
    }

    /// A leaf: the rules that can still win in `region`, each with the checks
    /// the region has not settled.
    fn leaf(&mut self, rules: &[u32], region: &[Block]) -> Result<u64, Overflow> {
        // Drop rules that an earlier kept rule contains inside the region
        // (bounded: a leaf the tree could not split may be long).
        let mut kept: Vec<u32> = Vec::with_capacity(rules.len());
        for &r in rules {
            let shadowed = kept.len() <= 64
                && kept.iter().any(|&q| {
                    region.iter().enumerate().all(|(f, b)| {
                        self.set(q, f)
                            .contains_within(self.set(r, f), b.base, b.hi())
                    })
                });
            if !shadowed {
                kept.push(r);
            }
        }
        // The fields some kept rule still has to check, in blocks of four
        // lanes (see `classifier`'s leaf layout).
        let fields: Vec<usize> = (0..self.nf)
            .filter(|&f| {
                let b = region[f];
                kept.iter().any(|&r| !self.set(r, f).covers(b.base, b.hi()))
            })
            .collect();
        let blocks = fields.len().div_ceil(LANES).max(1);
        if kept.len() > 0xffff {
            // The leaf header holds the rule count in 16 bits; a longer
            // list than that is what the tree exists to avoid.
            return Err(Overflow);
        }
        let mut words =
            Vec::with_capacity(1 + blocks * LANES + kept.len() * (1 + blocks * 3 * LANES));
        words.push(kept.len() as u32 | (blocks as u32) << 16);
        for lane in 0..blocks * LANES {
            // Padding lanes read field 0 and check nothing.
            words.push(fields.get(lane).map_or(0, |&f| f as u32));
        }
        for &r in &kept {
            words.push(r);
            for block in fields
                .chunks(LANES)
                .chain(std::iter::repeat_n(&[][..], usize::from(fields.is_empty())))
            {
                let mut lanes = [(0u32, 0u32, u32::MAX); LANES];
                for (lane, &f) in lanes.iter_mut().zip(block) {
                    let b = region[f];
                    let s = self.set(r, f);
                    if !s.covers(b.base, b.hi()) {
                        *lane = s.check(self.max[f]);
                        self.stats.field_checks[f] += 1;
                    }
                }
                words.extend(lanes.iter().map(|l| l.0));
                words.extend(lanes.iter().map(|l| l.1));
                words.extend(lanes.iter().map(|l| l.2 ^ SIGN));
            }
        }
        if let Some(&e) = self.leaf_memo.get(words.as_slice()) {
            return Ok(e);
        }
        let off = u32::try_from(self.leaves.len()).map_err(|_| Overflow)?;
        self.leaves.extend_from_slice(&words);
        if self.used() > self.limit {
            return Err(Overflow);
        }
        let e = TERM | LEAF | u64::from(off);
        self.leaf_memo.insert(words.into_boxed_slice(), e);
        self.stats.leaves += 1;
        self.stats.max_leaf_rules = self.stats.max_leaf_rules.max(kept.len());
        Ok(e)
    }
}
