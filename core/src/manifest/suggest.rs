//! "Did you mean …?": the closest known word to a misspelt one, by edit distance.

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase().replace('_', "-");
    candidates
        .into_iter()
        .map(|c| {
            // Case and `_`/`-` mix-ups are the commonest slips: they count as one edit.
            let same_shape = c.to_lowercase().replace('_', "-") == lower;
            let d = if c == word { 0 } else if same_shape { 1 } else { strsim::damerau_levenshtein(word, c) };
            (d, c)
        })
        .filter(|(d, c)| *d <= (c.chars().count().max(word.chars().count()) / 3).max(1) && *d > 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `did you mean `x`?` for the closest candidate, if any.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_and_ignores_strangers() {
        let keys = ["command", "depends_on", "replicas", "restart"];
        assert_eq!(closest("depend_on", keys), Some("depends_on"));
        assert_eq!(closest("dependson", keys), Some("depends_on"));
        assert_eq!(closest("replica", keys), Some("replicas"));
        assert_eq!(closest("comand", keys), Some("command"));
        assert_eq!(closest("wibble", keys), None);
        assert_eq!(closest("on_failure", ["always", "on-failure", "never"]), Some("on-failure"));
        assert_eq!(closest("get", ["GET", "POST"]), Some("GET"));
        assert_eq!(closest("command", keys), None, "an exact match is not a typo");
    }
}
