//! The `depends_on` graph: cycles (each named once, in manifest order) and a start order.

use std::collections::{BTreeMap, BTreeSet};

/// Every elementary cycle reachable by depth-first search, each once, starting at its
/// earliest node in `nodes` order: `["a", "b", "a"]` reads a → b → a.
/// Edges to unknown nodes are ignored (validation reports them separately).
pub fn cycles(nodes: &[(&str, Vec<&str>)]) -> Vec<Vec<String>> {
    let index: BTreeMap<&str, usize> = nodes.iter().enumerate().map(|(i, (n, _))| (*n, i)).collect();
    let edges: Vec<Vec<usize>> =
        nodes.iter().map(|(_, deps)| deps.iter().filter_map(|d| index.get(d).copied()).collect()).collect();
    let mut state = vec![0u8; nodes.len()]; // 0 new, 1 on the stack, 2 done
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    for start in 0..nodes.len() {
        if state[start] != 0 {
            continue;
        }
        // Iterative DFS: (node, next edge to try); the path is the stack itself.
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&to) = edges[node].get(*next) {
                *next += 1;
                match state[to] {
                    0 => {
                        state[to] = 1;
                        stack.push((to, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(n, _)| *n == to).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[from..].iter().map(|(n, _)| *n).collect();
                        let min = cycle.iter().enumerate().min_by_key(|(_, n)| **n).map_or(0, |(i, _)| i);
                        cycle.rotate_left(min);
                        if seen.insert(cycle.clone()) {
                            found.push(cycle);
                        }
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
    found.sort();
    found
        .into_iter()
        .map(|c| {
            let mut names: Vec<String> = c.iter().map(|i| nodes[*i].0.to_string()).collect();
            names.push(names[0].clone());
            names
        })
        .collect()
}

/// Names joined as a path: `a → b → a`.
pub fn render(cycle: &[String]) -> String {
    cycle.join(" → ")
}

/// A start order where every service comes after what it depends on (manifest order
/// otherwise); `None` if there is a cycle.
pub fn start_order(nodes: &[(&str, Vec<&str>)]) -> Option<Vec<String>> {
    let known: BTreeSet<&str> = nodes.iter().map(|(n, _)| *n).collect();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < nodes.len() {
        let next = nodes
            .iter()
            .find(|(n, deps)| !done.contains(n) && deps.iter().all(|d| done.contains(d) || !known.contains(d)))?;
        done.insert(next.0);
        order.push(next.0.to_string());
    }
    Some(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g<'a>(spec: &[(&'a str, &[&'a str])]) -> Vec<(&'a str, Vec<&'a str>)> {
        spec.iter().map(|(n, d)| (*n, d.to_vec())).collect()
    }

    #[test]
    fn no_cycle_in_a_tree_or_a_diamond() {
        let d = g(&[("gw", &["a", "b"]), ("a", &["db"]), ("b", &["db"]), ("db", &[])]);
        assert!(cycles(&d).is_empty());
        assert_eq!(start_order(&d), Some(vec!["db".into(), "a".into(), "b".into(), "gw".into()]));
    }

    #[test]
    fn names_a_three_cycle_from_its_first_service() {
        let d = g(&[("x", &[]), ("a", &["b"]), ("b", &["c"]), ("c", &["a"])]);
        let c = cycles(&d);
        assert_eq!(c.len(), 1);
        assert_eq!(render(&c[0]), "a → b → c → a");
        assert_eq!(start_order(&d), None);
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        assert_eq!(cycles(&g(&[("a", &["a"])])), vec![vec!["a".to_string(), "a".to_string()]]);
    }

    #[test]
    fn separate_cycles_are_each_reported_once() {
        let d = g(&[("a", &["b"]), ("b", &["a"]), ("c", &["d", "ghost"]), ("d", &["c"]), ("e", &["a", "c"])]);
        let names: Vec<String> = cycles(&d).iter().map(|c| render(c)).collect();
        assert_eq!(names, ["a → b → a", "c → d → c"]);
    }

    #[test]
    fn a_cycle_entered_from_its_middle_starts_at_its_first_service() {
        let d = g(&[("a", &["b"]), ("b", &["c"]), ("c", &["b"])]);
        assert_eq!(cycles(&d).iter().map(|c| render(c)).collect::<Vec<_>>(), ["b → c → b"]);
    }
}
