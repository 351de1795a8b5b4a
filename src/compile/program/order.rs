//! The order steps run in: a topological order of the step DAG, or the cycle
//! that prevents one.

use super::super::Ctx;
use super::bind::Bound;
use super::step::StepInfo;
use crate::syntax::diagnostic::Diagnostic;

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

/// Kahn's algorithm, always taking the lowest declaration index that is ready.
pub(super) fn topo_order(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    let n = deps.len();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let next = (0..n).find(|&i| !done[i] && deps[i].iter().all(|&j| done[j]))?;
        done[next] = true;
        order.push(next);
    }
    Some(order)
}

/// A cycle in a graph known to have one, as a list of nodes (each reads the next).
fn find_cycle(deps: &[Vec<usize>]) -> Vec<usize> {
    // Walk dependency edges from a node on a cycle until a node repeats.
    let n = deps.len();
    let mut alive = vec![true; n];
    // Peel nodes that cannot be on a cycle (no live deps), repeatedly.
    loop {
        let mut changed = false;
        for i in 0..n {
            if alive[i] && !deps[i].iter().any(|&j| alive[j]) {
                alive[i] = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let start = (0..n).find(|&i| alive[i]).unwrap_or(0);
    let mut path = vec![start];
    let mut cur = start;
    loop {
        let Some(&next) = deps[cur].iter().filter(|&&j| alive[j]).min() else {
            return path;
        };
        if let Some(p) = path.iter().position(|&x| x == next) {
            return path[p..].to_vec();
        }
        path.push(next);
        cur = next;
    }
}
