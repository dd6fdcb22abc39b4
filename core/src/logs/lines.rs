//! Splitting a byte stream into lines: chunk boundaries, CRLF, over-long lines, bad UTF-8.

/// Longest line kept whole; longer ones are cut into pieces of at most this many bytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Turns chunks of bytes into lines, the same lines however the bytes are chunked.
/// Holds at most `max + 1` bytes of an unfinished line.
#[derive(Debug)]
pub struct LineSplitter {
    partial: Vec<u8>,
    max: usize,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new(MAX_LINE_BYTES)
    }
}

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        Self {
            partial: Vec::new(),
            max: max.max(4),
        }
    }

    /// Feeds one chunk; `emit` gets every line it completes (without `\n` or `\r\n`),
    /// borrowed: invalid UTF-8 is replaced, and only then is a line copied.
    pub fn feed(&mut self, mut chunk: &[u8], emit: &mut impl FnMut(&str)) {
        while let Some(nl) = memchr::memchr(b'\n', chunk) {
            let (line, rest) = (&chunk[..nl], &chunk[nl + 1..]);
            if self.partial.is_empty() {
                self.emit_long(line, emit);
            } else {
                self.partial.extend_from_slice(line);
                let whole = std::mem::take(&mut self.partial);
                self.emit_long(&whole, emit);
                self.partial = whole;
                self.partial.clear();
            }
            chunk = rest;
        }
        self.partial.extend_from_slice(chunk);
        // An unfinished line holds at most `max` bytes plus one, which may be the `\r`
        // of a CRLF whose `\n` is still to come; cuts fall where they would in the whole line.
        while self.partial.len() > self.max + 1 {
            let cut = char_boundary(&self.partial, self.max);
            emit(&String::from_utf8_lossy(&self.partial[..cut]));
            self.partial.drain(..cut);
        }
    }

    /// Bytes held of an unfinished line.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Flushes a last line that had no newline (at EOF).
    pub fn finish(&mut self, emit: &mut impl FnMut(&str)) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.emit_long(&rest, emit);
        }
    }

    fn emit_long(&self, mut line: &[u8], emit: &mut impl FnMut(&str)) {
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        if line.is_empty() {
            emit("");
            return;
        }
        while !line.is_empty() {
            let cut = if line.len() > self.max {
                char_boundary(line, self.max)
            } else {
                line.len()
            };
            emit(&String::from_utf8_lossy(&line[..cut]));
            line = &line[cut..];
        }
    }
}

/// The largest cut at or below `max` that does not split a UTF-8 sequence (if valid).
fn char_boundary(bytes: &[u8], max: usize) -> usize {
    let mut cut = max.min(bytes.len());
    // Continuation bytes are 0b10xxxxxx; step back over at most three of them.
    for _ in 0..3 {
        if cut > 0 && cut < bytes.len() && (bytes[cut] & 0b1100_0000) == 0b1000_0000 {
            cut -= 1;
        } else {
            break;
        }
    }
    if cut == 0 {
        max.min(bytes.len())
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize) -> Vec<String> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, &mut |l| out.push(l.to_string()));
        }
        s.finish(&mut |l| out.push(l.to_string()));
        out
    }

    #[test]
    fn lines_across_chunk_boundaries() {
        let got = split(&[b"al", b"pha\nbe", b"ta\n", b"\ngam", b"ma\n"], 64);
        assert_eq!(got, ["alpha", "beta", "", "gamma"]);
    }

    #[test]
    fn crlf_is_stripped_even_when_split() {
        let got = split(&[b"one\r\ntwo\r", b"\nthree\r\n"], 64);
        assert_eq!(got, ["one", "two", "three"]);
    }

    #[test]
    fn final_line_without_newline_is_flushed() {
        assert_eq!(split(&[b"a\nlast words"], 64), ["a", "last words"]);
        assert_eq!(split(&[b"a\n"], 64), ["a"]);
        assert!(split(&[b""], 64).is_empty());
    }

    #[test]
    fn long_lines_are_cut_and_nothing_is_lost() {
        let long = "x".repeat(25);
        let input = format!("{long}\nshort\n");
        let got = split(&[input.as_bytes()], 10);
        assert_eq!(
            got,
            [
                "x".repeat(10),
                "x".repeat(10),
                "x".repeat(5),
                "short".into()
            ]
        );
        // The same when the long line arrives a byte at a time.
        let bytes: Vec<&[u8]> = input.as_bytes().chunks(1).collect();
        let got2 = split(&bytes, 10);
        assert_eq!(got2.concat(), got.concat());
        assert!(got2.iter().all(|l| l.len() <= 10));
    }

    #[test]
    fn long_lines_are_not_cut_inside_a_character() {
        let input = "ééééééé\n"; // 14 bytes of two-byte characters
        let got = split(&[input.as_bytes()], 5);
        assert_eq!(got.concat(), "ééééééé");
        assert!(got.iter().all(|l| !l.contains('\u{FFFD}')), "{got:?}");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let got = split(&[b"ok \xff\xfe bytes\n", b"caf\xc3", b"\xa9\n"], 64);
        assert_eq!(got, ["ok \u{FFFD}\u{FFFD} bytes", "café"]);
    }

    #[test]
    fn a_line_of_exactly_max_bytes_fed_in_pieces_is_one_line() {
        assert_eq!(split(&[b"0123456789", b"\n"], 10), ["0123456789"]);
        assert_eq!(split(&[b"0123456789\r", b"\n"], 10), ["0123456789"]);
    }

    proptest::proptest! {
        #[test]
        fn chunking_never_changes_the_lines(
            input in proptest::collection::vec(proptest::sample::select(vec![b'a', b'\n', b'\r', 0xC3, 0xA9, 0xFF]), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..20),
        ) {
            let whole = split(&[&input], 8);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut from = 0;
            for cut in cuts {
                chunks.push(&input[from..cut]);
                from = cut;
            }
            chunks.push(&input[from..]);
            proptest::prop_assert_eq!(split(&chunks, 8), whole);
        }
    }

    #[test]
    fn memory_stays_bounded_without_newlines() {
        let mut s = LineSplitter::new(1024);
        let mut n = 0usize;
        for _ in 0..1000 {
            s.feed(&[b'y'; 999], &mut |l| n += l.len());
            assert!(s.partial.len() <= 1025);
        }
        s.finish(&mut |l| n += l.len());
        assert_eq!(n, 999_000);
    }
}
