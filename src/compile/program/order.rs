//! The order steps run in: a topological order of the step DAG, or the cycle
//! that prevents one.

use super::super::Ctx;
use super::bind::Bound;
use super::step::StepInfo;
use crate::syntax::diagnostic::Diagnostic;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Reports the cycle in a step graph that has no topological order.
pub(super) fn report_cycle(ctx: &mut Ctx, pname: &str, steps: &[StepInfo], bound: &Bound) {
    let cycle = find_cycle(&bound.deps);
    let names: Vec<&str> = cycle.iter().map(|&i| steps[i].name()).collect();
    let first = cycle[0];
    let next = cycle[1 % cycle.len()];
    let span = bound
        .dep_span
        .get(&(first, next))
        .copied()
        .unwrap_or(steps[first].decl.span);
    ctx.d.push(
        Diagnostic::error(
            span,
            format!(
                "the steps of program `{pname}` form a cycle: {} -> {}",
                names.join(" -> "),
                names[0]
            ),
        )
        .label("this binding closes the cycle")
        .help(
            "a step can only read program inputs and the outputs of steps that do not depend on it",
        ),
    );
}

/// Kahn's algorithm, always taking the lowest declaration index that is
/// ready (a heap of ready steps, so a program of many steps stays fast).
/// `deps[i]` lists each step `i` reads once.
pub(super) fn topo_order(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    let n = deps.len();
    let readers = readers(deps);
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| waiting[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(next)) = ready.pop() {
        order.push(next);
        for &r in &readers[next] {
            waiting[r] -= 1;
            if waiting[r] == 0 {
                ready.push(Reverse(r));
            }
        }
    }
    (order.len() == n).then_some(order)
}

/// The reverse edges: for each step, the steps that read it.
fn readers(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut readers = vec![Vec::new(); deps.len()];
    for (i, ds) in deps.iter().enumerate() {
        for &j in ds {
            readers[j].push(i);
        }
    }
    readers
}

/// A cycle in a graph known to have one, as a list of nodes (each reads the next).
fn find_cycle(deps: &[Vec<usize>]) -> Vec<usize> {
    // Walk dependency edges from a node on a cycle until a node repeats.
    let n = deps.len();
    let mut alive = vec![true; n];
    // Peel nodes that cannot be on a cycle (no live deps), as a worklist:
    // a node dies when the last of its deps does.
    let readers = readers(deps);
    let mut live_deps: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dying: Vec<usize> = (0..n).filter(|&i| live_deps[i] == 0).collect();
    while let Some(i) = dying.pop() {
        alive[i] = false;
        for &r in &readers[i] {
            live_deps[r] -= 1;
            if live_deps[r] == 0 {
                dying.push(r);
            }
        }
    }
    let start = (0..n).find(|&i| alive[i]).unwrap_or(0);
    let mut path = vec![start];
    // Where each node sits on `path`, to spot the repeat without a scan.
    let mut at = vec![None; n];
    at[start] = Some(0);
    let mut cur = start;
    loop {
        let Some(&next) = deps[cur].iter().filter(|&&j| alive[j]).min() else {
            return path;
        };
        if let Some(p) = at[next] {
            return path[p..].to_vec();
        }
        at[next] = Some(path.len());
        path.push(next);
        cur = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain quadratic algorithms, as the reference.
    fn naive_order(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
        let n = deps.len();
        let mut done = vec![false; n];
        let mut order = Vec::new();
        while order.len() < n {
            let next = (0..n).find(|&i| !done[i] && deps[i].iter().all(|&j| done[j]))?;
            done[next] = true;
            order.push(next);
        }
        Some(order)
    }

    /// Small graphs from a fixed xorshift sequence: some acyclic, some not.
    fn graphs() -> Vec<Vec<Vec<usize>>> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % m) as usize
        };
        (0..300)
            .map(|g| {
                let n = 1 + g % 9;
                (0..n)
                    .map(|_| {
                        let mut ds: Vec<usize> = Vec::new();
                        for _ in 0..next(3) {
                            let j = next(n as u64);
                            if !ds.contains(&j) {
                                ds.push(j);
                            }
                        }
                        ds
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn order_matches_the_lowest_ready_index_rule() {
        for deps in graphs() {
            assert_eq!(topo_order(&deps), naive_order(&deps), "{deps:?}");
        }
        assert_eq!(topo_order(&[vec![2], vec![], vec![1]]), Some(vec![1, 2, 0]));
    }

    #[test]
    fn a_found_cycle_is_a_cycle() {
        let mut cyclic = 0;
        for deps in graphs() {
            if topo_order(&deps).is_some() {
                continue;
            }
            cyclic += 1;
            let cycle = find_cycle(&deps);
            for (k, &i) in cycle.iter().enumerate() {
                let reads = cycle[(k + 1) % cycle.len()];
                assert!(deps[i].contains(&reads), "{deps:?}: {cycle:?}");
            }
        }
        assert!(cyclic > 20, "the sample has cycles to find ({cyclic})");
        assert_eq!(find_cycle(&[vec![], vec![2], vec![1]]), vec![1, 2]);
    }
}
