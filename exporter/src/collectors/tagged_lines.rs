//! Kernel statistics files written as one line per counter group, a tag and then its numbers
//! (`net 18628 0 18628 6` in `/proc/net/rpc/nfs`, `extent_alloc 92447 97589 …` in XFS's
//! `stats`), shared by the `nfs`, `nfsd` and `xfs` collectors. Sun RPC's per-procedure lines
//! start with how many numbers follow (`proc3 22 1 4084749 …`).
//!
//! Which lines exist depends on the kernel (no `proc2` where NFSv2 is off, no `ra` since
//! nfsd's read-ahead cache went). A missing line reads as zeros, as node_exporter reports it,
//! so a series never disappears with a kernel upgrade; a line that is there but malformed is
//! an error naming it.

use std::collections::HashMap;
use std::path::Path;

use super::CollectorError;

/// The lines of one stats file by tag, each with its 1-based line number.
pub struct TaggedLines<'a> {
    path: &'a Path,
    lines: HashMap<&'a str, (usize, Vec<&'a str>)>,
}

impl<'a> TaggedLines<'a> {
    pub fn parse(path: &'a Path, text: &'a str) -> Self {
        let lines = text
            .lines()
            .enumerate()
            .filter_map(|(index, line)| {
                let mut fields = line.split_whitespace();
                let tag = fields.next()?;
                Some((tag, (index + 1, fields.collect())))
            })
            .collect();
        Self { path, lines }
    }

    /// The `index`th number after `tag`; 0 when the kernel does not write that line.
    pub fn value(&self, tag: &str, index: usize) -> Result<u64, CollectorError> {
        let Some((number, fields)) = self.lines.get(tag) else {
            return Ok(0);
        };
        let field = fields.get(index).ok_or_else(|| {
            CollectorError::parse(
                self.path,
                format!("line {number} ({tag}): no field {}", index + 1),
            )
        })?;
        self.number(*number, tag, field)
    }

    /// The numbers of a counted line (Sun RPC's `proc3 22 …`), checked against the count the
    /// line starts with, padded with zeros or cut to `len`; all zeros when the line is absent.
    /// A line shorter than `required` is an error.
    pub fn procedures(
        &self,
        tag: &str,
        len: usize,
        required: usize,
    ) -> Result<Vec<u64>, CollectorError> {
        let Some((number, fields)) = self.lines.get(tag) else {
            return Ok(vec![0; len]);
        };
        let error = |message: String| {
            CollectorError::parse(self.path, format!("line {number} ({tag}): {message}"))
        };
        let (count, values) = fields
            .split_first()
            .ok_or_else(|| error("no procedure count".into()))?;
        if count.parse::<usize>().ok() != Some(values.len()) {
            return Err(error(format!(
                "says {count} procedures but has {}",
                values.len()
            )));
        }
        if values.len() < required {
            return Err(error(format!(
                "{} procedures, expected at least {required}",
                values.len()
            )));
        }
        let mut numbers = values
            .iter()
            .take(len)
            .map(|field| self.number(*number, tag, field))
            .collect::<Result<Vec<_>, _>>()?;
        numbers.resize(len, 0);
        Ok(numbers)
    }

    fn number(&self, line: usize, tag: &str, field: &str) -> Result<u64, CollectorError> {
        field.parse().map_err(|_| {
            CollectorError::parse(
                self.path,
                format!("line {line} ({tag}): not a count: {field:?}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_lines_are_zeros_and_malformed_ones_are_named() {
        let path = Path::new("nfs");
        let stats = TaggedLines::parse(path, "net 1 2 3 4\nproc3 3 5 6 7\nproc4 2 1\nrpc x\n");
        assert_eq!(stats.value("net", 3).unwrap(), 4);
        assert_eq!(stats.value("ra", 11).unwrap(), 0);
        assert_eq!(stats.procedures("proc3", 2, 0).unwrap(), [5, 6]);
        assert_eq!(stats.procedures("proc3", 4, 0).unwrap(), [5, 6, 7, 0]);
        assert_eq!(stats.procedures("proc2", 2, 2).unwrap(), [0, 0]);

        let error = stats.procedures("proc3", 3, 4).unwrap_err().to_string();
        assert!(
            error.contains("line 2 (proc3): 3 procedures, expected at least 4"),
            "{error}"
        );
        let error = stats.procedures("proc4", 3, 0).unwrap_err().to_string();
        assert!(
            error.contains("line 3 (proc4): says 2 procedures but has 1"),
            "{error}"
        );
        let error = stats.value("rpc", 0).unwrap_err().to_string();
        assert!(
            error.contains("line 4 (rpc): not a count: \"x\""),
            "{error}"
        );
        let error = stats.value("net", 4).unwrap_err().to_string();
        assert!(error.contains("line 1 (net): no field 5"), "{error}");
    }
}
