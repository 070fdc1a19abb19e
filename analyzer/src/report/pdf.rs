//! PDF form of a report: the HTML form printed by headless Chromium (Debian `chromium`), so the
//! PDF has the same charts as the HTML rather than a second, diverging layout engine.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Report, ReportError, html};

/// Chromium normally prints a report in 1-3 s; a hung browser must not hang a cron job.
const TIMEOUT: Duration = Duration::from_secs(120);

fn failed(message: String) -> ReportError {
    ReportError::Pdf { message }
}

/// Renders `report` to PDF with the `chromium` binary and writes the PDF bytes to `out`.
pub fn write(
    report: &Report,
    chromium: &Path,
    out: &mut (impl Write + ?Sized),
) -> Result<(), ReportError> {
    let dir = tempfile::tempdir()?;
    let page = dir.path().join("report.html");
    let pdf = dir.path().join("report.pdf");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&page)?);
    html::write(report, &mut file)?;
    file.flush()?;
    drop(file);

    let mut command = Command::new(chromium);
    command
        .arg("--headless")
        .arg("--disable-gpu")
        .arg("--no-pdf-header-footer")
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--print-to-pdf={}", pdf.display()));
    // Chromium refuses to start its sandbox as root (containers, cron as root); the page is
    // our own HTML without scripts, so running unsandboxed there is acceptable.
    if rustix::process::geteuid().is_root() {
        command.arg("--no-sandbox");
    }
    let mut child = command
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("starting {}: {e}", chromium.display())))?;
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed(format!(
                "{} did not finish within {}s",
                chromium.display(),
                TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let bytes = std::fs::read(&pdf).unwrap_or_default();
    if !status.success() || !bytes.starts_with(b"%PDF") {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(failed(format!(
            "{} exited with {status} without writing a PDF: {}",
            chromium.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        )));
    }
    out.write_all(&bytes)?;
    Ok(())
}
