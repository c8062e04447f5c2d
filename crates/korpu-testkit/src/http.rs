//! A minimal HTTP/1.1 server on loopback for the endpoints signing and validation reach out to:
//! RFC 3161 time-stamping (POST), RFC 6960 OCSP (POST) and CRL distribution points (GET). One
//! request per connection, answered and closed; it serves until the test process ends.
//!
//! Not a general HTTP server: no keep-alive, chunked bodies or pipelining, which the clients
//! under test (`korpu-sign`'s fetcher, pyasice, pyHanko, openssl) do not need here.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::SystemTime;

use korpu_pki::ocsp::{CertStatus, Responder};
use korpu_pki::tsa::Authority;

/// One HTTP/1.1 request from `conn`: its request line and its body (Content-Length bytes);
/// None when the body is cut short.
pub fn read_request(conn: &TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut first = String::new();
    let _ = reader.read_line(&mut first);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some((first, body))
}

/// What a handler answers: the content type and body of a 200, or None for a 404.
pub type Answer = Option<(&'static str, Vec<u8>)>;

/// Serves `listener` on a thread of its own: each request's line and body go to `answer`.
pub fn serve_on(
    listener: TcpListener,
    mut answer: impl FnMut(&str, &[u8]) -> Answer + Send + 'static,
) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let Some((first, body)) = read_request(&conn) else {
                continue;
            };
            let resp = match answer(&first, &body) {
                Some((ctype, body)) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = conn.write_all(&resp);
        }
    });
}

/// [`serve_on`] a loopback port the OS picks; returns `http://ADDR`.
pub fn serve(answer: impl FnMut(&str, &[u8]) -> Answer + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    serve_on(listener, answer);
    format!("http://{addr}")
}

/// The path of a request line (`POST /tsa HTTP/1.1` → `/tsa`).
pub fn path(request_line: &str) -> &str {
    request_line.split(' ').nth(1).unwrap_or("")
}

/// POST `…/tsa` answered by `tsa` (RFC 3161; token serial numbers from `first_serial`), any
/// other request by `ocsp` (RFC 6960) with the status `status_of` gives each serial (hex).
pub fn tsa_and_ocsp(
    tsa: Authority,
    first_serial: u64,
    ocsp: Responder,
    status_of: impl Fn(&str) -> CertStatus + Send + 'static,
) -> impl FnMut(&str, &[u8]) -> Answer + Send + 'static {
    let mut serial = first_serial;
    move |first, body| {
        let now = SystemTime::now();
        if first.contains("/tsa") {
            serial += 1;
            let token = tsa.respond(body, now, serial);
            Some(("application/timestamp-reply", token))
        } else {
            let resp = ocsp.respond(body, now, &status_of);
            Some(("application/ocsp-response", resp))
        }
    }
}
