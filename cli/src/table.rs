//! Tables for people: laid out by comfy-table to the terminal's width (or
//! `COLUMNS`, or 120 columns in a pipe), each cell made one safe line by
//! the host's sanitizer and cut to fit. `--json` carries the whole text.

use comfy_table::{ContentArrangement, Table, presets};

/// A table with `header`, to be filled with [`cell`]s.
pub fn new(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width())
        .set_header(header.to_vec());
    table
}

/// `text` (which a plugin or a store may have chosen) as one safe line of
/// at most `max` characters, marked with `…` where cut.
pub fn cell(text: &str, max: usize) -> String {
    let safe = witplug_host::text::sanitize(text, text.len().min(64 << 10));
    if safe.chars().count() <= max {
        return safe;
    }
    let mut cut: String = safe.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The columns a table may take.
pub fn width() -> u16 {
    let columns = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<u16>().ok());
    columns.filter(|&c| c >= 20).or_else(terminal_width).unwrap_or(120)
}

#[cfg(unix)]
fn terminal_width() -> Option<u16> {
    let stdout = std::io::stdout();
    if !std::io::IsTerminal::is_terminal(&stdout) {
        return None;
    }
    rustix::termios::tcgetwinsize(&stdout).ok().map(|size| size.ws_col).filter(|&c| c >= 20)
}

#[cfg(not(unix))]
fn terminal_width() -> Option<u16> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_one_safe_line_cut_to_its_width() {
        assert_eq!(cell("a\u{1b}]0;x\u{7}b\nc", 40), "a ]0;x b c");
        assert_eq!(cell(&"x".repeat(50), 10), format!("{}…", "x".repeat(9)));
    }
}
