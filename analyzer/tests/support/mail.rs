//! A real SMTP server for delivery tests: Debian's `python3-aiosmtpd`, writing each mail
//! into a Maildir.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{ChildGuard, free_port, wait_for};

pub fn python_with_aiosmtpd() -> &'static str {
    let python = "/usr/bin/python3";
    let ok = Command::new(python)
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "needs Debian's python3-aiosmtpd (tests/run.sh installs it)"
    );
    python
}

/// A real SMTP server writing each mail into a Maildir.
pub struct Smtp {
    pub _child: ChildGuard,
    pub port: u16,
    pub maildir: PathBuf,
}

pub fn smtp(dir: &Path) -> Smtp {
    let port = free_port();
    let maildir = dir.join("mail");
    let child = Command::new(python_with_aiosmtpd())
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the SMTP server", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    Smtp {
        _child: ChildGuard(child),
        port,
        maildir,
    }
}
