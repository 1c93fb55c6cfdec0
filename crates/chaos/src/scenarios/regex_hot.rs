//! `regex-hot`: a `Regex` built for every match instead of once. In a CPU flamegraph:
//! `compile_and_match` dominated by `regex::Regex::new` (`regex_automata`/`regex_syntax`
//! compilation: `Translator`, `Compiler`, NFA/DFA builders), with the search itself a sliver.

/// A pattern with `alternatives` symbol names, and a text of orders to search.
pub fn inputs(alternatives: usize) -> (String, String) {
    let names: Vec<String> = (0..alternatives)
        .map(|i| format!("SYM{i:04}-USD"))
        .collect();
    let pattern = format!(r"(?i)\b(?:{})\b\s+(\d+)\.(\d+)", names.join("|"));
    let text: String = (0..200)
        .map(|i| {
            format!(
                "SYM{:04}-USD {}.{} ",
                i % alternatives.max(1),
                100 + i,
                i % 10
            )
        })
        .collect();
    (pattern, text)
}

/// Compiles `pattern` (the mistake) and counts its matches in `text`.
#[inline(never)]
pub fn compile_and_match(pattern: &str, text: &str) -> usize {
    match regex::Regex::new(pattern) {
        Ok(re) => re.find_iter(text).count() + 1,
        Err(_) => 1,
    }
}
