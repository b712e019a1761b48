//! Finds the line of a key or list item in block-style YAML text, for messages.
//!
//! The YAML parser reports no positions for values that parsed fine, so this scans the text's
//! indentation instead. It understands block mappings and block sequences (also "compact"
//! sequences whose dashes sit at the key's column); inside flow collections it stops at the
//! enclosing key. A wrong guess only affects the line shown in a message.

use std::ops::Range;

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

pub(super) struct Locator<'t> {
    lines: Vec<&'t str>,
}

/// A non-blank line: its indentation, whether it starts a sequence item, and where its
/// content (after a leading `- `) begins.
struct Shape<'t> {
    indent: usize,
    dash: bool,
    col: usize,
    content: &'t str,
}

fn shape(line: &str) -> Option<Shape<'_>> {
    let body = line.trim_start_matches(' ');
    let indent = line.len() - body.len();
    if body.trim().is_empty() || body.starts_with('#') || line.starts_with("---") || line.starts_with("...") {
        return None;
    }
    if let Some(rest) = body.strip_prefix('-').filter(|r| r.is_empty() || r.starts_with([' ', '\t'])) {
        let content = rest.trim_start();
        return Some(Shape { indent, dash: true, col: line.len() - content.len(), content });
    }
    Some(Shape { indent, dash: false, col: indent, content: body })
}

fn starts_with_key(content: &str, key: &str) -> bool {
    let after = content
        .strip_prefix(key)
        .or_else(|| content.strip_prefix('"').and_then(|c| c.strip_prefix(key)).and_then(|c| c.strip_prefix('"')))
        .or_else(|| content.strip_prefix('\'').and_then(|c| c.strip_prefix(key)).and_then(|c| c.strip_prefix('\'')));
    after.is_some_and(|a| a.trim_start_matches([' ', '\t']).starts_with(':'))
}

impl<'t> Locator<'t> {
    pub(super) fn new(text: &'t str) -> Locator<'t> {
        Locator { lines: text.lines().collect() }
    }

    fn shapes(&self, range: Range<usize>) -> impl Iterator<Item = (usize, Shape<'t>)> + '_ {
        range.filter_map(|i| shape(self.lines.get(i)?).map(|s| (i, s)))
    }

    /// 1-based line of the deepest element of `path` that could be found.
    pub(super) fn line(&self, path: &[Seg]) -> Option<usize> {
        let mut range = 0..self.lines.len();
        // Column of the mapping keys in `range`; the first entry's column when not yet known.
        let mut col: Option<usize> = None;
        let mut found = None;
        for seg in path {
            match seg {
                Seg::Key(key) => {
                    let col_here = match col {
                        Some(c) => c,
                        None => self.shapes(range.clone()).next()?.1.col,
                    };
                    let Some((at, _)) =
                        self.shapes(range.clone()).find(|(_, s)| s.col == col_here && starts_with_key(s.content, key))
                    else {
                        break;
                    };
                    found = Some(at);
                    let end = self
                        .shapes(at + 1..range.end)
                        .find(|(_, s)| s.indent < col_here || (s.indent == col_here && !s.dash))
                        .map_or(range.end, |(i, _)| i);
                    range = at + 1..end;
                    col = None;
                }
                Seg::Index(n) => {
                    let Some((_, first)) = self.shapes(range.clone()).next() else { break };
                    if !first.dash {
                        break;
                    }
                    let items: Vec<(usize, usize)> = self
                        .shapes(range.clone())
                        .filter(|(_, s)| s.dash && s.indent == first.indent)
                        .map(|(i, s)| (i, s.col))
                        .collect();
                    let Some(&(at, item_col)) = items.get(*n) else { break };
                    found = Some(at);
                    let end = items.get(n + 1).map_or(range.end, |&(i, _)| i);
                    range = at..end;
                    col = Some(item_col);
                }
            }
        }
        found.map(|i| i + 1)
    }
}
