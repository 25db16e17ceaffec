//! The line splitter, the word splitter and `${}` expansion on arbitrary
//! text: no panic, and the offsets they report are exact.
//!
//! * `logical_lines`: one offset per text byte plus the end; offsets
//!   strictly increase, lie inside the file and point at the very byte
//!   they stand for; lines do not overlap and come in file order; comment
//!   events lie inside the file.
//! * `words`: words are non-empty, in order, do not overlap, start and end
//!   on character boundaries, and their file spans lie inside the line.
//! * `expand_vars`: one offset per byte plus the end, never decreasing,
//!   all inside the line.

#![no_main]

use libfuzzer_sys::fuzz_target;
use quill_config::FileId;
use quill_config::syntax::lexer::{LineEvent, LogicalLine, expand_vars, logical_lines, words};

fn lookup(name: &str) -> Option<String> {
    match name {
        "A" => Some("x y".to_string()),
        "E" => Some(String::new()),
        "U" => Some("é€𝄞".to_string()),
        "Q" => Some("\"q'".to_string()),
        _ => None,
    }
}

fn check_words(line: &LogicalLine, file_len: usize) {
    let text = &line.text;
    let file = FileId(0);
    let mut prev_end = 0;
    for w in words(text, 0) {
        assert!(w.start < w.end, "empty word {w:?} in {text:?}");
        assert!(w.end <= text.len(), "word {w:?} past the end of {text:?}");
        assert!(
            w.start >= prev_end,
            "word {w:?} overlaps the previous one in {text:?}"
        );
        assert!(
            text.get(w.start..w.end).is_some(),
            "word {w:?} not on char boundaries in {text:?}"
        );
        assert!(
            text[prev_end..w.start]
                .bytes()
                .all(|b| b.is_ascii_whitespace()),
            "non-blank text skipped before {w:?} in {text:?}"
        );
        if !w.quoted {
            assert!(!w.value.bytes().any(|b| b.is_ascii_whitespace()), "{w:?}");
        }
        let span = line.sub_span(file, w.start, w.end);
        assert!(
            line.start <= span.start && span.start <= span.end && span.end <= line.end,
            "word span {span:?} outside line {}..{}",
            line.start,
            line.end
        );
        assert!(span.end as usize <= file_len);
        prev_end = w.end;
    }
}

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    let bytes = src.as_bytes();
    let (lines, events) = logical_lines(&src);
    let mut prev_end = 0u32;
    for l in &lines {
        assert!(!l.text.is_empty());
        assert_eq!(l.offsets.len(), l.text.len() + 1, "{l:?}");
        assert_eq!(l.offsets.first().copied(), Some(l.start));
        assert_eq!(l.offsets.last().copied(), Some(l.end));
        assert!(l.start >= prev_end, "lines overlap or go backwards: {l:?}");
        assert!(l.end as usize <= bytes.len());
        assert!(src.get(l.start as usize..l.end as usize).is_some(), "{l:?}");
        for w in l.offsets.windows(2) {
            assert!(w[0] < w[1], "offsets not increasing: {l:?}");
        }
        for (i, &b) in l.text.as_bytes().iter().enumerate() {
            assert_eq!(bytes[l.offsets[i] as usize], b, "offset {i} of {l:?}");
        }
        prev_end = l.end;
        check_words(l, bytes.len());

        let e = expand_vars(l, &lookup);
        let x = &e.line;
        assert_eq!(x.offsets.len(), x.text.len() + 1, "{x:?}");
        assert_eq!(x.offsets.last().copied(), Some(l.end));
        for w in x.offsets.windows(2) {
            assert!(w[0] <= w[1], "expanded offsets go backwards: {x:?}");
        }
        assert!(
            x.offsets.iter().all(|&o| l.start <= o && o <= l.end),
            "{x:?}"
        );
        for (name, a, b) in &e.undefined {
            assert!(a < b && *b <= l.text.len());
            assert_eq!(&l.text[*a..*b], format!("${{{name}}}"));
        }
        check_words(x, bytes.len());
    }
    for LineEvent::CommentSwallowedLine { start, end } in events {
        assert!(start <= end && end as usize <= bytes.len());
    }
});
