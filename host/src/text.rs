//! Plugin text made safe: the one function every string a plugin controls
//! passes before it reaches a log line, an event, an error, a terminal or
//! a NATS header.
//!
//! A plugin chooses its tool names, topics, `info` fields, log lines, the
//! stderr a trap quotes and the names of its imports and exports. Printed
//! as they are, a newline forges another log line, an escape sequence
//! drives the operator's terminal, a bidirectional override makes a name
//! read as another, and a megabyte of text floods whatever shows it.
//!
//! Front ends use it too: the CLI passes every plugin- or store-controlled
//! text it prints (key-value keys, tool names and descriptions, tables)
//! through [`sanitize`].

/// The most bytes of a name the host quotes (a capability, a topic, a tool,
/// an export): longer than any real one.
pub const NAME: usize = 256;

/// The most bytes of a plugin's `info` description.
pub const DESCRIPTION: usize = 1024;

/// The most bytes of a plugin's `info` name or version.
pub const LABEL: usize = 128;

/// `text` on one line and at most `limit` bytes (marked when cut): control
/// characters (newlines and escapes among them) become spaces, and the
/// format characters that reorder or hide text (bidirectional overrides,
/// zero-width joiners) are removed.
pub fn sanitize(text: &str, limit: usize) -> String {
    let mut line = String::with_capacity(text.len().min(limit.saturating_add(16)));
    for c in text.chars() {
        if line.len() + c.len_utf8() > limit {
            line.push_str(" [truncated]");
            return line;
        }
        if c.is_control() {
            line.push(' ');
        } else if !hides(c) {
            line.push(c);
        }
    }
    line
}

/// Whether `text` would pass [`sanitize`] unchanged within `limit` bytes.
pub(crate) fn is_safe(text: &str, limit: usize) -> bool {
    text.len() <= limit && !text.chars().any(|c| c.is_control() || hides(c))
}

/// The invisible characters that change how the text around them reads.
fn hides(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// Writes a size in the largest binary unit that keeps it readable.
pub fn format_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_overrides_never_pass() {
        assert_eq!(sanitize("a\nb\rc", 100), "a b c");
        assert_eq!(sanitize("\u{1b}[31mred\u{1b}[0m", 100), " [31mred [0m");
        assert_eq!(sanitize("abc\u{202e}fed", 100), "abcfed");
        assert_eq!(sanitize("x\u{200b}y", 100), "xy");
        assert_eq!(sanitize("a\u{2028}b\u{e0041}c\u{ad}", 100), "abc");
        assert!(is_safe("orders.created", NAME));
        assert!(!is_safe("a\nWARN forged", NAME));
        assert!(!is_safe(&"x".repeat(NAME + 1), NAME));
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(sanitize("héllo", 2), "h [truncated]");
        let long = sanitize(&"é".repeat(10_000), 101);
        assert!(long.len() <= 101 + " [truncated]".len());
        assert!(long.ends_with(" [truncated]"));
    }
}
