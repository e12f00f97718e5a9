//! How deep a CQL2 text filter can nest, read from its characters before it is parsed. The parser
//! (pest, through `cql2`) recurses once or more per level of parentheses, per `NOT` and per
//! arithmetic operator, and a filter of a few kilobytes of `NOT (` or `1+1+…` would overflow a
//! thread's stack and take the process with it. So every one of those counts as a level, whether
//! it nests or not: a bound that errs on the safe side, far above what a real filter needs.

/// The most levels accepted. A 1 MB stack parses twice as many of any kind (measured); the
/// service's threads have 2 MB.
pub const MAX_NESTING: usize = 64;

/// The words that open a geometry literal.
const GEOMETRY_WORDS: [&str; 9] = [
    "POINT",
    "LINESTRING",
    "POLYGON",
    "MULTIPOINT",
    "MULTILINESTRING",
    "MULTIPOLYGON",
    "GEOMETRYCOLLECTION",
    "BBOX",
    "ENVELOPE",
];

/// The levels of `src`: its deepest parenthesis plus its `NOT`s and arithmetic operators plus its
/// longest run of comparisons not separated by `AND`, `OR`, a comma or a parenthesis, outside
/// string literals and quoted names. A sign that belongs to a number (`-71.5` after `(`, `,` or a
/// comparison, an exponent's `1e-5`, any inside a geometry literal) is not an operator.
pub fn nesting(src: &str) -> usize {
    let chars: Vec<char> = src.chars().collect();
    let (mut depth, mut deepest, mut operators) = (0usize, 0usize, 0usize);
    // Comparisons (`=`, `<`, `LIKE`…) bind to the right: `1=1=1=…` recurses once each. A run of
    // them between two `AND`/`OR`s, commas or parentheses is what nests; the longest run counts.
    let (mut run, mut longest_run) = (0usize, 0usize);
    // Inside a geometry literal (`POLYGON((-1 -1, …))`) from this depth on: a sign there is a
    // coordinate's.
    let mut geometry_at: Option<usize> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            // 'it''s' and "a name": skipped whole (a doubled quote stays inside).
            '\'' | '"' => {
                i += 1;
                while i < chars.len() {
                    if chars[i] == c {
                        if chars.get(i + 1) == Some(&c) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    i += 1;
                }
            }
            '(' | '[' => {
                depth += 1;
                deepest = deepest.max(depth);
                run = 0;
            }
            ',' => run = 0,
            // `<=`, `<>`, `>=`, `!=` are one comparison.
            '=' | '<' | '>' | '!' if !matches!(chars.get(i + 1), Some('=' | '>')) => {
                run += 1;
                longest_run = longest_run.max(run);
            }
            ')' | ']' => {
                run = 0;
                depth = depth.saturating_sub(1);
                if geometry_at.is_some_and(|at| depth <= at) {
                    geometry_at = None;
                }
            }
            '*' | '/' | '%' | '^' => operators += 1,
            '+' | '-' if geometry_at.is_none() && !is_sign_of_number(&chars, i) => operators += 1,
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    i += 1;
                }
                let word: String = chars[start..=i].iter().collect();
                let is = |w: &str| word.eq_ignore_ascii_case(w);
                if is("not") || is("div") {
                    operators += 1;
                } else if is("and") || is("or") {
                    run = 0;
                } else if is("like") || is("in") || is("between") || is("is") {
                    run += 1;
                    longest_run = longest_run.max(run);
                } else if geometry_at.is_none()
                    && GEOMETRY_WORDS.iter().any(|g| is(g))
                    // A geometry literal only where the word opens one: `point = 1` is a name.
                    && chars[i + 1..].iter().find(|c| !c.is_whitespace()) == Some(&'(')
                {
                    geometry_at = Some(depth);
                }
            }
            _ => {}
        }
        i += 1;
    }
    deepest + operators + longest_run
}

/// Whether the `+` or `-` at `i` is the sign of a number: a digit or `.` follows, and before it
/// (spaces skipped) comes nothing, `(`, `,`, a comparison, or it is an exponent's (`1e-5`).
fn is_sign_of_number(chars: &[char], i: usize) -> bool {
    if !chars
        .get(i + 1)
        .is_some_and(|c| c.is_ascii_digit() || *c == '.')
    {
        return false;
    }
    if i >= 2 && matches!(chars[i - 1], 'e' | 'E') && chars[i - 2].is_ascii_digit() {
        // An exponent only if those digits start a number, not end a name (`a1e-1`).
        let mut j = i - 2;
        while j > 0 && (chars[j - 1].is_ascii_digit() || chars[j - 1] == '.') {
            j -= 1;
        }
        if j == 0 || !(chars[j - 1].is_ascii_alphanumeric() || chars[j - 1] == '_') {
            return true;
        }
    }
    let before = chars[..i].iter().rev().find(|c| !c.is_whitespace());
    matches!(before, None | Some('(' | ',' | '<' | '>' | '=' | '['))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_counted_outside_literals_and_signs_are_not_operators() {
        assert_eq!(nesting("country = 'KGZ'"), 1);
        assert_eq!(nesting("NOT (a = 1)"), 3);
        assert_eq!(nesting("a = 1 AND (b = 2 OR (c = 3))"), 3);
        assert_eq!(nesting("d < 1 + 2 * 3"), 3);
        assert_eq!(nesting("d < -5 AND e >= 1e-5"), 1);
        assert_eq!(
            nesting("S_INTERSECTS(geometry, POLYGON((-1 -1, 2 -1, 2 2, -1 -1)))"),
            3
        );
        // Quoted text and names are not read: 'not (' inside a string is text.
        assert_eq!(nesting("name = 'not ((( -- it''s + text'"), 1);
        assert_eq!(nesting("\"NOT (x\" = 1"), 1);
        assert_eq!(nesting("a - - - 1"), 3);
        // Outside a geometry, `1 -1 -1` is arithmetic.
        assert_eq!(nesting("d < 1 -1 -1"), 3);
        assert_eq!(
            nesting("S_INTERSECTS(geometry, POINT(-1 -1)) AND d < 1 -1"),
            4
        );
        assert_eq!(nesting("NOTE = 1 AND notes = 2"), 1);
        let deep = format!("{}a = 1{}", "NOT (".repeat(40), ")".repeat(40));
        assert_eq!(nesting(&deep), 81);
        // Comparisons chained without AND/OR nest; with them they do not.
        assert_eq!(nesting("1=1=1=1"), 3);
        assert_eq!(nesting("'a' LIKE 'b' LIKE 'c'"), 2);
        assert_eq!(nesting(&vec!["a = 1"; 500].join(" AND ")), 1);
        // A geometry word used as a name opens no literal: the signs after it count.
        assert_eq!(nesting("point = 1 AND x = ---1"), 4);
        // Digits that end a name are not a number's exponent.
        assert_eq!(nesting("a1e-1"), 1);
    }
}
