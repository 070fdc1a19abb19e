//! The snapshot as plain text: aligned columns, no escape codes, for pipes and cron.

use std::io::Write;
use std::path::Path;

use super::snapshot::{Snapshot, Table};

pub fn write(snapshot: &Snapshot, db: &Path, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "pulse watch  {}  history {}",
        super::taken_at(snapshot.taken_at_ms),
        db.display()
    )?;
    for table in [&snapshot.targets, &snapshot.alerts, &snapshot.processes] {
        writeln!(out)?;
        write_table(table, out)?;
    }
    Ok(())
}

fn write_table(table: &Table, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{}", table.title)?;
    let mut widths: Vec<usize> = table.header.iter().map(|h| h.chars().count()).collect();
    for row in &table.rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, width))| {
                if i == last {
                    (*cell).to_owned()
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(table.header.clone()))?;
    if table.rows.is_empty() {
        writeln!(out, "(none)")?;
    }
    for row in &table.rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_empty_tables_say_so() {
        let table = Table {
            title: "Targets",
            header: vec!["TARGET", "CPU"],
            rows: vec![
                vec!["a".into(), "1.0%".into()],
                vec!["longer-name".into(), "99.5%".into()],
            ],
        };
        let empty = Table {
            title: "Active alerts",
            header: vec!["SEVERITY", "NAME"],
            rows: Vec::new(),
        };
        let mut out = Vec::new();
        write_table(&table, &mut out).unwrap();
        write_table(&empty, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Targets\nTARGET       CPU\na            1.0%\nlonger-name  99.5%\n\
             Active alerts\nSEVERITY  NAME\n(none)\n"
        );
    }
}
