//! The browser console's messages (`log.entryAdded` events) as text.

use serde_json::Value;

/// One `LEVEL text` line per entry, a line repeated at once shown once with a count (every
/// worker logs the same start-up warnings).
pub fn format_entries(entries: &[Value]) -> String {
    collapse_repeats(entries.iter().map(|e| {
        format!(
            "{} {}",
            e["level"].as_str().unwrap_or("?").to_uppercase(),
            e["text"].as_str().unwrap_or("")
        )
    }))
}

/// Lines, with each run of identical lines shown once as `line (×n)`.
pub fn collapse_repeats(lines: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    let mut last: Option<(String, usize)> = None;
    let flush = |out: &mut String, l: &(String, usize)| match l.1 {
        1 => out.push_str(&format!("{}\n", l.0)),
        n => out.push_str(&format!("{} (×{n})\n", l.0)),
    };
    for line in lines {
        match &mut last {
            Some((l, n)) if *l == line => *n += 1,
            _ => {
                if let Some(l) = last.take() {
                    flush(&mut out, &l);
                }
                last = Some((line, 1));
            }
        }
    }
    if let Some(l) = last {
        flush(&mut out, &l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_lines_are_counted() {
        let lines = ["a", "b", "b", "b", "a"].map(String::from);
        assert_eq!(collapse_repeats(lines), "a\nb (×3)\na\n");
        assert_eq!(collapse_repeats(Vec::<String>::new()), "");
    }

    #[test]
    fn entries_show_level_and_text() {
        let e = [
            json!({"level": "warn", "text": "w"}),
            json!({"level": "warn", "text": "w"}),
        ];
        assert_eq!(format_entries(&e), "WARN w (×2)\n");
    }
}
