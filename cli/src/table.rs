//! Tables for people: laid out by comfy-table to the terminal's width (or
//! `COLUMNS`, or 120 columns in a pipe), each cell made one safe line by
//! the host's sanitizer and cut to fit. `--json` carries the whole text.

use comfy_table::{ContentArrangement, Table, presets};

/// The table of `rows` under `header`, each cell already a [`cell`], one
/// line a row within the terminal's width: past it, the columns named in
/// `cuttable` (the first first) are cut, each down to its floor (and never
/// below its header's width).
pub fn render(header: &[&str], mut rows: Vec<Vec<String>>, cuttable: &[(usize, usize)]) -> String {
    let width = usize::from(width());
    let columns = header.len();
    let mut widths: Vec<usize> = (0..columns)
        .map(|at| {
            let widest = rows.iter().map(|row| row[at].chars().count()).max().unwrap_or(0);
            widest.max(header[at].len())
        })
        .collect();
    // Two spaces between columns, none before the first or after the last.
    let total = |widths: &[usize]| widths.iter().sum::<usize>() + 2 * (columns - 1);
    for &(at, floor) in cuttable {
        let over = total(&widths).saturating_sub(width);
        if over == 0 {
            break;
        }
        let floor = header[at].len().max(floor);
        widths[at] = widths[at].saturating_sub(over).max(floor);
        for row in &mut rows {
            row[at] = cut(&row[at], widths[at]);
        }
    }
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec())
        .add_rows(rows);
    for at in 0..columns {
        if let Some(column) = table.column_mut(at) {
            column.set_padding((0, if at + 1 == columns { 0 } else { 2 }));
        }
    }
    table.trim_fmt()
}

/// `text` (which a plugin or a store may have chosen) as one safe line of
/// at most `max` characters, marked with `…` where cut.
pub fn cell(text: &str, max: usize) -> String {
    cut(&witplug_host::text::sanitize(text, text.len().min(64 << 10)), max)
}

/// `text` cut to `max` characters, marked with `…` where cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
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
