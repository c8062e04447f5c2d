//! Fetching revocation data over plain HTTP (RFC 5280 §4.2.1.13 CRL distribution points and
//! RFC 6960 Appendix A OCSP, both `http://` by convention): the one piece of this crate that
//! touches the network, used only when a caller puts an [`HttpFetcher`] into
//! [`crate::ValidationOptions`] (`korpu doc verify --fetch-revocation`).
//!
//! Deliberately small: HTTP/1.0 requests (so the answer is the body up to the end of the
//! connection, never chunked), a connect and read timeout, a size limit; redirects are not
//! followed (CAs publish CRLs at stable URLs). `https://` and other schemes
//! are refused: revocation data is signed, so TLS adds nothing, and a validator that cannot be
//! made to reach arbitrary services is easier to run next to other systems.
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::lt::RevocationFetcher;

/// A [`RevocationFetcher`] over HTTP/1.0.
#[derive(Clone, Debug)]
pub struct HttpFetcher {
    /// Connect and per-read timeout.
    pub timeout: Duration,
    /// Largest body accepted (bounded by [`korpu_pki::crl::MAX_CRL_BYTES`] in practice).
    pub max_bytes: usize,
}

impl Default for HttpFetcher {
    fn default() -> Self {
        HttpFetcher {
            timeout: Duration::from_secs(15),
            max_bytes: korpu_pki::crl::MAX_CRL_BYTES,
        }
    }
}

impl HttpFetcher {
    fn request(
        &self,
        url: &str,
        method: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are fetched"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') || path.contains(['\r', '\n', ' ']) {
            return Err(format!("{url}: not a plain http URL"));
        }
        let with_port = if authority
            .rsplit(':')
            .next()
            .is_some_and(|p| p.parse::<u16>().is_ok())
            && !authority.ends_with(']')
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addrs: Vec<_> = with_port
            .to_socket_addrs()
            .map_err(|e| format!("{url}: {e}"))?
            .collect();
        let mut stream = None;
        let mut last = String::from("no address");
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        let mut stream = stream.ok_or_else(|| format!("{url}: cannot connect: {last}"))?;
        stream
            .set_read_timeout(Some(self.timeout))
            .and_then(|()| stream.set_write_timeout(Some(self.timeout)))
            .map_err(|e| format!("{url}: {e}"))?;
        let mut head = format!(
            "{method} {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\
             User-Agent: korpu\r\n"
        );
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        if method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body))
            .map_err(|e| format!("{url}: {e}"))?;
        // Headers are small; the body is bounded by max_bytes.
        let limit = self.max_bytes.saturating_add(16 * 1024);
        let mut raw = Vec::new();
        stream
            .take(limit as u64 + 1)
            .read_to_end(&mut raw)
            .map_err(|e| format!("{url}: {e}"))?;
        if raw.len() > limit {
            return Err(format!("{url}: more than {} bytes", self.max_bytes));
        }
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| format!("{url}: no HTTP header end"))?;
        let header = String::from_utf8_lossy(&raw[..end]);
        let mut lines = header.split("\r\n");
        let status = lines.next().unwrap_or_default();
        let code = status.split(' ').nth(1).unwrap_or_default();
        if code != "200" {
            return Err(format!("{url} answered \"{status}\""));
        }
        let mut body = raw[end + 4..].to_vec();
        for l in lines {
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("transfer-encoding") {
                return Err(format!(
                    "{url}: {} encoding in an HTTP/1.0 answer",
                    v.trim()
                ));
            }
            if k.trim().eq_ignore_ascii_case("content-length") {
                let n: usize = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{url}: bad Content-Length"))?;
                if body.len() < n {
                    return Err(format!("{url}: the answer was cut short"));
                }
                body.truncate(n);
            }
        }
        if body.len() > self.max_bytes {
            return Err(format!("{url}: more than {} bytes", self.max_bytes));
        }
        Ok(body)
    }
}

impl RevocationFetcher for HttpFetcher {
    fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        self.request(url, "GET", None, &[])
    }

    fn post(&self, url: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, String> {
        self.request(url, "POST", Some(content_type), body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Answers one connection on 127.0.0.1 with `answer` (after reading the request head),
    /// or never answers when `answer` is `None`; returns the URL.
    fn one_shot(answer: Option<Vec<u8>>) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x.crl", l.local_addr().unwrap());
        std::thread::spawn(move || {
            let Ok((mut c, _)) = l.accept() else { return };
            let mut head = Vec::new();
            let mut b = [0u8; 512];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut b) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&b[..n]),
                }
            }
            match answer {
                Some(a) => {
                    let _ = c.write_all(&a);
                }
                None => std::thread::sleep(Duration::from_secs(2)),
            }
        });
        url
    }

    fn fetcher() -> HttpFetcher {
        HttpFetcher {
            timeout: Duration::from_millis(300),
            max_bytes: 64,
        }
    }

    #[test]
    fn a_plain_answer_is_its_body() {
        let url = one_shot(Some(
            b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabcdef".to_vec(),
        ));
        assert_eq!(fetcher().get(&url).unwrap(), b"abc");
        let url = one_shot(Some(b"HTTP/1.1 200 OK\r\n\r\nall of it".to_vec()));
        assert_eq!(fetcher().get(&url).unwrap(), b"all of it");
    }

    #[test]
    fn errors_statuses_oversize_chunking_and_silence_are_refused() {
        let f = fetcher();
        let url = one_shot(Some(b"HTTP/1.0 404 Not Found\r\n\r\n".to_vec()));
        assert!(f.get(&url).unwrap_err().contains("404"));
        let mut big = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', 1000));
        let url = one_shot(Some(big));
        assert!(f.get(&url).unwrap_err().contains("more than"));
        let url = one_shot(Some(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_vec(),
        ));
        assert!(f.get(&url).unwrap_err().contains("chunked"));
        let url = one_shot(Some(
            b"HTTP/1.0 200 OK\r\nContent-Length: 50\r\n\r\nshort".to_vec(),
        ));
        assert!(f.get(&url).unwrap_err().contains("cut short"));
        // A server that never answers costs the timeout, not forever.
        let url = one_shot(None);
        let start = std::time::Instant::now();
        assert!(f.get(&url).is_err());
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn only_plain_http_is_fetched() {
        let f = HttpFetcher::default();
        for url in [
            "https://crl.example.test/ca.crl",
            "ldap://ldap.example.test/cn=CA",
            "file:///etc/passwd",
            "http://user@host/x",
            "http:///x",
        ] {
            assert!(f.get(url).is_err(), "{url}");
        }
    }
}
