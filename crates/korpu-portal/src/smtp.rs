//! E-mail notifications: a minimal SMTP client (RFC 5321) for plain-text, UTF-8 messages to a
//! relay the operator runs (on loopback or inside the agency network).
//!
//! It speaks EHLO, MAIL, RCPT, DATA and QUIT; it does not do STARTTLS or authentication (send
//! to a local relay that does), and it does not queue: a failed send is logged by the caller
//! and the notification stays in the portal.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("cannot reach the SMTP server {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("SMTP server {server} refused {step}: {reply}")]
    Refused {
        server: String,
        step: &'static str,
        reply: String,
    },
    #[error("SMTP: {0}")]
    Io(#[from] std::io::Error),
    #[error("SMTP server {0} took too long")]
    Timeout(String),
    #[error("address {0:?} cannot be used in SMTP")]
    BadAddress(String),
}

/// One message.
pub struct Mail<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
}

fn check_addr(a: &str) -> Result<(), SmtpError> {
    // CR, LF, '<' and '>' would let an address inject SMTP commands or headers.
    if a.is_empty()
        || a.len() > 254
        || a.chars().any(|c| c.is_control() || "<> ".contains(c))
        || !a.contains('@')
    {
        return Err(SmtpError::BadAddress(a.to_owned()));
    }
    Ok(())
}

/// RFC 2047 encoded word, so that non-ASCII subjects survive any relay.
fn encode_header(s: &str) -> String {
    if s.is_ascii() && !s.contains(['\r', '\n']) {
        s.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", B64.encode(s.replace(['\r', '\n'], " ")))
    }
}

/// The message text: headers, then the body as base64 (lines of 76), ending with CRLF.
pub fn render(m: &Mail<'_>, message_id: &str, date: &str) -> String {
    let body = B64.encode(m.body.as_bytes());
    let mut wrapped = String::new();
    for chunk in body.as_bytes().chunks(76) {
        wrapped.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        wrapped.push_str("\r\n");
    }
    format!(
        "From: myGov <{}>\r\nTo: <{}>\r\nSubject: {}\r\nDate: {date}\r\nMessage-ID: <{message_id}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{wrapped}",
        m.from,
        m.to,
        encode_header(m.subject)
    )
}

/// Sends one message through `server` (`host:port`).
pub async fn send(server: &str, m: &Mail<'_>, timeout: Duration) -> Result<(), SmtpError> {
    check_addr(m.from)?;
    check_addr(m.to)?;
    tokio::time::timeout(timeout, send_inner(server, m))
        .await
        .map_err(|_| SmtpError::Timeout(server.to_owned()))?
}

async fn send_inner(server: &str, m: &Mail<'_>) -> Result<(), SmtpError> {
    let stream = TcpStream::connect(server)
        .await
        .map_err(|e| SmtpError::Connect(server.to_owned(), e))?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    // Reads a (possibly multi-line) reply; checks its code class.
    async fn reply(
        r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
        server: &str,
        step: &'static str,
        want: u8,
    ) -> Result<(), SmtpError> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await? == 0 {
                return Err(SmtpError::Refused {
                    server: server.into(),
                    step,
                    reply: "connection closed".into(),
                });
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                break;
            }
        }
        if all.as_bytes().first() != Some(&want) {
            return Err(SmtpError::Refused {
                server: server.into(),
                step,
                reply: all.trim().to_owned(),
            });
        }
        Ok(())
    }
    reply(&mut r, server, "the connection", b'2').await?;
    w.write_all(b"EHLO mygov\r\n").await?;
    reply(&mut r, server, "EHLO", b'2').await?;
    w.write_all(format!("MAIL FROM:<{}>\r\n", m.from).as_bytes())
        .await?;
    reply(&mut r, server, "MAIL FROM", b'2').await?;
    w.write_all(format!("RCPT TO:<{}>\r\n", m.to).as_bytes())
        .await?;
    reply(&mut r, server, "RCPT TO", b'2').await?;
    w.write_all(b"DATA\r\n").await?;
    reply(&mut r, server, "DATA", b'3').await?;
    let id = format!("{}@mygov", crate::oidc::random_token(12));
    let date = http_date(std::time::SystemTime::now());
    let text = render(m, &id, &date);
    // Dot-stuffing (RFC 5321 §4.5.2); base64 lines never start with '.', headers might.
    let stuffed = text.replace("\r\n.", "\r\n..");
    w.write_all(stuffed.as_bytes()).await?;
    w.write_all(b".\r\n").await?;
    reply(&mut r, server, "the message", b'2').await?;
    w.write_all(b"QUIT\r\n").await?;
    let _ = reply(&mut r, server, "QUIT", b'2').await;
    Ok(())
}

/// An RFC 5322 date, in UTC.
fn http_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let (y, mo, d) = civil(days);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days.rem_euclid(7)) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(mo - 1) as usize];
    let s = secs % 86_400;
    format!(
        "{wd}, {d:02} {mon} {y} {:02}:{:02}:{:02} +0000",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's civil_from_days).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_cannot_be_injected_and_utf8_is_encoded() {
        assert!(check_addr("a@b.az\r\nRCPT TO:<x@y>").is_err());
        assert!(check_addr("citizen@example.az").is_ok());
        let m = Mail {
            from: "mygov@localhost",
            to: "a@b.az",
            subject: "Müraciət\r\nBcc: x",
            body: "Salam",
        };
        let text = render(&m, "id@x", "Mon, 23 Nov 2026 21:00:00 +0000");
        assert!(text.contains("Subject: =?UTF-8?B?"));
        assert!(!text.contains("Bcc"));
        assert_eq!(
            http_date(std::time::UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 +0000"
        );
        assert_eq!(civil(20_415), (2025, 11, 23));
    }
}
