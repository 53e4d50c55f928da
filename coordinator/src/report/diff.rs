//! A side-by-side line diff (longest common subsequence) of two texts — the baseline and the
//! final harness TOML — and its HTML table. Pure: text in, rows or HTML out.

use super::esc;
use std::fmt::Write;

/// One row of a side-by-side diff: each side a 1-based line number and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Same(usize, usize, String),
    /// A line only on the left.
    Removed(usize, String),
    /// A line only on the right.
    Added(usize, String),
    /// A left line replaced by a right line.
    Changed((usize, String), (usize, String)),
}

/// Larger inputs are shown as one replaced block rather than paying the quadratic LCS.
const MAX_CELLS: usize = 4_000_000;

/// The rows that turn `a` into `b`, in order. Removed and added lines between two common lines
/// are paired up as changed rows.
pub fn side_by_side(a: &str, b: &str) -> Vec<Row> {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let ops = if (a.len() + 1) * (b.len() + 1) <= MAX_CELLS {
        lcs_ops(&a, &b)
    } else {
        let mut ops = vec![Op::Del; a.len()];
        ops.extend(vec![Op::Add; b.len()]);
        ops
    };
    let (mut i, mut j) = (0, 0);
    let (mut dels, mut adds): (Vec<usize>, Vec<usize>) = (vec![], vec![]);
    let mut rows = Vec::new();
    let flush = |rows: &mut Vec<Row>, dels: &mut Vec<usize>, adds: &mut Vec<usize>| {
        let n = dels.len().max(adds.len());
        for k in 0..n {
            rows.push(match (dels.get(k), adds.get(k)) {
                (Some(&x), Some(&y)) => Row::Changed((x + 1, a[x].into()), (y + 1, b[y].into())),
                (Some(&x), None) => Row::Removed(x + 1, a[x].into()),
                (None, Some(&y)) => Row::Added(y + 1, b[y].into()),
                (None, None) => unreachable!("k < max of both lengths"),
            });
        }
        dels.clear();
        adds.clear();
    };
    for op in ops {
        match op {
            Op::Same => {
                flush(&mut rows, &mut dels, &mut adds);
                rows.push(Row::Same(i + 1, j + 1, a[i].into()));
                i += 1;
                j += 1;
            }
            Op::Del => {
                dels.push(i);
                i += 1;
            }
            Op::Add => {
                adds.push(j);
                j += 1;
            }
        }
    }
    flush(&mut rows, &mut dels, &mut adds);
    rows
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Same,
    Del,
    Add,
}

fn lcs_ops(a: &[&str], b: &[&str]) -> Vec<Op> {
    let (n, m) = (a.len(), b.len());
    // len[i][j] = LCS length of a[i..] and b[j..].
    let mut len = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            len[i][j] = if a[i] == b[j] {
                len[i + 1][j + 1] + 1
            } else {
                len[i + 1][j].max(len[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut ops) = (0, 0, Vec::with_capacity(n + m));
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push(Op::Same);
            (i, j) = (i + 1, j + 1);
        } else if j < m && (i == n || len[i][j + 1] >= len[i + 1][j]) {
            ops.push(Op::Add);
            j += 1;
        } else {
            ops.push(Op::Del);
            i += 1;
        }
    }
    ops
}

/// The diff as an HTML table with `id` (escaped), titles `left` and `right`.
pub fn html_table(id: &str, left: &str, right: &str, rows: &[Row]) -> String {
    let mut h = format!(
        "<table class=\"diff\" id=\"{}\"><colgroup><col class=\"ln\"><col><col class=\"ln\"><col></colgroup><thead><tr><th colspan=\"2\">{}</th><th colspan=\"2\">{}</th></tr></thead><tbody>\n",
        esc(id),
        esc(left),
        esc(right)
    );
    let cell = |n: Option<usize>, text: &str, class: &str| {
        format!(
            "<td class=\"ln\">{}</td><td class=\"{class}\"><code>{}</code></td>",
            n.map(|n| n.to_string()).unwrap_or_default(),
            esc(text)
        )
    };
    for r in rows {
        let (class, l, r) = match r {
            Row::Same(x, y, t) => ("same", cell(Some(*x), t, "same"), cell(Some(*y), t, "same")),
            Row::Removed(x, t) => ("removed", cell(Some(*x), t, "del"), cell(None, "", "empty")),
            Row::Added(y, t) => ("added", cell(None, "", "empty"), cell(Some(*y), t, "add")),
            Row::Changed((x, t), (y, u)) => (
                "changed",
                cell(Some(*x), t, "del"),
                cell(Some(*y), u, "add"),
            ),
        };
        let _ = writeln!(h, "<tr class=\"{class}\">{l}{r}</tr>");
    }
    h.push_str("</tbody></table>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_changed_line_is_paired_and_the_rest_kept() {
        let rows = side_by_side("a\nb\nc\n", "a\nB\nc\nd\n");
        assert_eq!(
            rows,
            vec![
                Row::Same(1, 1, "a".into()),
                Row::Changed((2, "b".into()), (2, "B".into())),
                Row::Same(3, 3, "c".into()),
                Row::Added(4, "d".into()),
            ]
        );
    }

    #[test]
    fn identical_texts_are_all_same_rows() {
        let rows = side_by_side("x\ny", "x\ny");
        assert!(rows.iter().all(|r| matches!(r, Row::Same(..))));
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn the_table_escapes_its_lines() {
        let rows = side_by_side("<a>", "<b & c>");
        let h = html_table("diff-table", "base", "final", &rows);
        assert!(h.contains("&lt;a&gt;") && h.contains("&lt;b &amp; c&gt;"));
        assert!(!h.contains("<a>") && !h.contains("<b "));
        assert!(h.contains("class=\"changed\""));
    }

    /// The left column replays `a` and the right column replays `b`, line for line.
    fn sides(rows: &[Row]) -> (Vec<String>, Vec<String>) {
        let (mut l, mut r) = (vec![], vec![]);
        for row in rows {
            match row {
                Row::Same(_, _, t) => {
                    l.push(t.clone());
                    r.push(t.clone());
                }
                Row::Removed(_, t) => l.push(t.clone()),
                Row::Added(_, t) => r.push(t.clone()),
                Row::Changed((_, t), (_, u)) => {
                    l.push(t.clone());
                    r.push(u.clone());
                }
            }
        }
        (l, r)
    }

    proptest! {
        #[test]
        fn both_sides_are_reconstructed(a in proptest::collection::vec("[abc]", 0..12),
                                        b in proptest::collection::vec("[abc]", 0..12)) {
            let rows = side_by_side(&a.join("\n"), &b.join("\n"));
            let (l, r) = sides(&rows);
            prop_assert_eq!(l, a.clone());
            prop_assert_eq!(r, b.clone());
            // An LCS diff keeps at least as many common lines as the common prefix.
            let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            let same = rows.iter().filter(|r| matches!(r, Row::Same(..))).count();
            prop_assert!(same >= prefix);
        }
    }
}
