//! The river network as reaches: each line cut where a tributary joins it and where it crosses an
//! international border, so that every reach has one reach downstream of it (or none) and every
//! border crossing is the end of a reach. The downstream load of the risk layers is computed over
//! this graph in one pass, upstream to downstream ([`ReachGraph::order`]).
//!
//! A walk downstream ([`super::network::RiverNetwork::walk`]) passes the same reaches in the same
//! order, with one difference: where the network has a loop (rare: a line drawn back into one
//! upstream of it), the walk stops where it would enter a line it has passed, while the graph cuts
//! the loop once, at the edge into the loop's lowest-numbered reach, for every walk alike.

use super::network::{Crossing, RiverNetwork};
use crate::model::Iso3;

/// Split positions closer than this (metres along a line) are one.
const SAME_POSITION_M: f64 = 1e-6;

/// One reach: a stretch of one river line, in that line's along-metres.
#[derive(Debug, Clone, PartialEq)]
pub struct Reach {
    /// The river line (index in the river layer).
    pub line: usize,
    pub from_m: f64,
    /// May run past the line's last vertex, along the edge into the line it joins.
    pub to_m: f64,
    /// The reach downstream, if any.
    pub next: Option<usize>,
    /// `[lon, lat]` vertices, upstream first.
    pub coords: Vec<[f64; 2]>,
    /// The border crossing at the reach's downstream end, if it ends at one.
    pub crossing: Option<ReachCrossing>,
}

impl Reach {
    /// Along-river length, metres.
    pub fn length_m(&self) -> f64 {
        self.to_m - self.from_m
    }
}

/// Where a river line crosses an international border line, oriented as the walks downstream orient
/// theirs ([`super::network::orient`]: grazings merged, the country the water is in decides the
/// side it leaves).
#[derive(Debug, Clone, PartialEq)]
pub struct ReachCrossing {
    /// The border line's id, where the crossing is of one.
    pub border_id: Option<String>,
    pub point: [f64; 2],
    pub from: Option<Iso3>,
    pub to: Option<Iso3>,
}

impl ReachCrossing {
    /// Whether the water passes from one known country into another here (not a grazing of the
    /// line, nor a crossing whose sides cannot be told).
    pub fn passes(&self) -> bool {
        matches!((&self.from, &self.to), (Some(a), Some(b)) if a != b)
    }
}

/// Every reach of the network, and an order in which each comes after all the reaches upstream of it.
#[derive(Debug, Clone, Default)]
pub struct ReachGraph {
    pub reaches: Vec<Reach>,
    /// Reach indexes, upstream before downstream.
    pub order: Vec<usize>,
    /// Per line, the `(from_m, reach)` of its reaches, in order.
    by_line: Vec<Vec<(f64, usize)>>,
    /// How many loops were cut.
    pub loops_cut: usize,
}

/// The vertices of line `l` between along-metres `a` and `b` (both ends interpolated).
fn stretch(net: &RiverNetwork, l: usize, a: f64, b: f64) -> Vec<[f64; 2]> {
    let line = &net.lines[l];
    let mut out = vec![net.point_on_line(l, a)];
    for (c, &m) in line.coords.iter().zip(&line.cum_m) {
        if m > a && m < b {
            out.push(*c);
        }
    }
    let end = net.point_on_line(l, b);
    if out.last() != Some(&end) {
        out.push(end);
    }
    if out.len() == 1 {
        out.push(end);
    }
    out
}

impl ReachGraph {
    /// Cuts the lines of `net` into reaches; `crossings` gives each line's oriented border crossings
    /// (along-metres of the line, its join edge included).
    pub fn new(net: &RiverNetwork, crossings: impl Fn(usize) -> Vec<Crossing>) -> Self {
        let n_lines = net.lines.len();
        // Where each line is cut: its start, the vertices other lines join, its crossings.
        let mut cuts: Vec<Vec<f64>> = vec![vec![0.0]; n_lines];
        for line in &net.lines {
            if let Some((n, v)) = line.next
                && v > 0
            {
                cuts[n].push(net.lines[n].cum_m[v]);
            }
        }
        let ends: Vec<f64> = net
            .lines
            .iter()
            .map(|l| l.cum_m.last().copied().unwrap_or(0.0) + l.join_m)
            .collect();
        let line_crossings: Vec<Vec<Crossing>> = (0..n_lines).map(&crossings).collect();
        for l in 0..n_lines {
            for c in &line_crossings[l] {
                if c.along_m > 0.0 && c.along_m < ends[l] {
                    cuts[l].push(c.along_m);
                }
            }
            cuts[l].sort_by(f64::total_cmp);
            cuts[l].dedup_by(|a, b| (*a - *b).abs() < SAME_POSITION_M);
        }
        let mut reaches = Vec::new();
        let mut by_line: Vec<Vec<(f64, usize)>> = vec![Vec::new(); n_lines];
        for (l, line) in net.lines.iter().enumerate() {
            if line.coords.len() < 2 {
                continue;
            }
            let c = &cuts[l];
            for (k, &from_m) in c.iter().enumerate() {
                let to_m = c.get(k + 1).copied().unwrap_or(ends[l]);
                if to_m - from_m < SAME_POSITION_M {
                    continue;
                }
                let crossing = line_crossings[l]
                    .iter()
                    .find(|x| (x.along_m - to_m).abs() < SAME_POSITION_M)
                    .map(|x| ReachCrossing {
                        border_id: x.border_id.clone(),
                        point: x.point,
                        from: x.from.clone(),
                        to: x.to.clone(),
                    });
                by_line[l].push((from_m, reaches.len()));
                reaches.push(Reach {
                    line: l,
                    from_m,
                    to_m,
                    next: None,
                    coords: stretch(net, l, from_m, to_m),
                    crossing,
                });
            }
        }
        let mut graph = ReachGraph {
            reaches,
            order: Vec::new(),
            by_line,
            loops_cut: 0,
        };
        // Link: within a line to the next stretch, at its end to the reach the join lands on.
        for r in 0..graph.reaches.len() {
            let (l, to_m) = (graph.reaches[r].line, graph.reaches[r].to_m);
            let next = if to_m < ends[l] - SAME_POSITION_M {
                graph.locate(l, to_m).map(|(n, _)| n)
            } else {
                net.lines[l]
                    .next
                    .and_then(|(n, v)| graph.locate(n, net.lines[n].cum_m[v]))
                    .map(|(n, _)| n)
            };
            graph.reaches[r].next = next.filter(|&n| n != r);
        }
        graph.sort();
        graph
    }

    /// The reach holding along-metres `along_m` of line `line`, and how far into it that is, metres.
    pub fn locate(&self, line: usize, along_m: f64) -> Option<(usize, f64)> {
        let list = self.by_line.get(line)?;
        let k = list
            .partition_point(|&(from, _)| from <= along_m + SAME_POSITION_M)
            .checked_sub(1)?;
        let (from, r) = list[k];
        let reach = &self.reaches[r];
        Some((r, (along_m - from).clamp(0.0, reach.length_m())))
    }

    /// Orders the reaches upstream first (Kahn's algorithm); a loop left over is cut at the edge into
    /// its lowest-numbered reach, and the ordering goes on.
    fn sort(&mut self) {
        let n = self.reaches.len();
        let mut indegree = vec![0usize; n];
        for r in &self.reaches {
            if let Some(m) = r.next {
                indegree[m] += 1;
            }
        }
        let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
        ready.reverse();
        let mut order = Vec::with_capacity(n);
        let mut placed = vec![false; n];
        loop {
            while let Some(i) = ready.pop() {
                placed[i] = true;
                order.push(i);
                if let Some(m) = self.reaches[i].next {
                    indegree[m] -= 1;
                    if indegree[m] == 0 {
                        ready.push(m);
                    }
                }
            }
            // What is left lies on loops (out-degree one: nothing leaves a loop).
            let Some(lowest) = (0..n).find(|&i| !placed[i]) else {
                break;
            };
            let into = (0..n)
                .find(|&i| !placed[i] && self.reaches[i].next == Some(lowest))
                .expect("a reach left over lies on a loop");
            self.reaches[into].next = None;
            self.loops_cut += 1;
            indegree[lowest] -= 1;
            if indegree[lowest] == 0 {
                ready.push(lowest);
            }
        }
        self.order = order;
    }

    /// The reaches downstream of reach `r`, `r` first, with the along-river distance from the start
    /// of `r` to the start of each, metres.
    pub fn downstream_of(&self, r: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let mut at = Some((r, 0.0));
        std::iter::from_fn(move || {
            let (i, d) = at?;
            at = self.reaches[i]
                .next
                .map(|n| (n, d + self.reaches[i].length_m()));
            Some((i, d))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::analysis::tests_support::seed_analyzer;

    #[test]
    fn reaches_cover_every_line_and_chain_downstream() {
        let a = seed_analyzer();
        let g = a.reaches();
        assert!(!g.reaches.is_empty());
        // Every reach once in the order, after every reach upstream of it.
        let mut pos = vec![usize::MAX; g.reaches.len()];
        for (k, &r) in g.order.iter().enumerate() {
            assert_eq!(pos[r], usize::MAX, "reach {r} twice");
            pos[r] = k;
        }
        for (r, reach) in g.reaches.iter().enumerate() {
            assert!(reach.length_m() > 0.0);
            assert!(reach.coords.len() >= 2);
            if let Some(n) = reach.next {
                assert!(pos[r] < pos[n], "reach {r} after its downstream {n}");
            }
            // Each reach's position maps back to itself.
            let mid = (reach.from_m + reach.to_m) / 2.0;
            assert_eq!(g.locate(reach.line, mid).map(|x| x.0), Some(r));
        }
        // Every stretch of a line is one reach: lengths add up to the line's.
        let crossings = g.reaches.iter().filter(|r| r.crossing.is_some()).count();
        assert!(crossings > 0, "the Syr Darya crosses borders");
        assert!(
            g.reaches
                .iter()
                .filter_map(|r| r.crossing.as_ref())
                .any(|c| c.passes())
        );
    }

    #[test]
    fn a_walk_passes_the_reaches_the_graph_chains() {
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let a = seed_analyzer();
        let g = a.reaches();
        let mut rng = StdRng::seed_from_u64(12);
        let mut checked = 0;
        for _ in 0..300 {
            let p = [rng.random_range(66.0..76.0), rng.random_range(39.5..44.5)];
            let (prox, walk) = a.proximity_with_path(p[0], p[1], None);
            let (Some(d), Some(walk)) = (prox.downstream, walk) else {
                continue;
            };
            let (r, offset) = g.locate(d.start.line, d.start.along_m).expect("on a reach");
            // The graph's path length (where no loop was cut on it) is the walk's.
            let graph_m: f64 = g
                .downstream_of(r)
                .map(|(i, _)| g.reaches[i].length_m())
                .sum::<f64>()
                - offset;
            let walk_m = walk.along_m.last().copied().unwrap_or(0.0);
            if g.loops_cut == 0 {
                assert!(
                    (graph_m - walk_m).abs() < 1.0 + walk_m * 1e-9,
                    "{p:?}: graph {graph_m} m, walk {walk_m} m"
                );
            }
            checked += 1;
        }
        assert!(checked > 100, "only {checked} points snapped");
    }
}
