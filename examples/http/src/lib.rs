//! The HTTP/1.1 half of the `http` unikernel, free of I/O so it unit-tests on
//! the host: when a request head is complete, what it asks for, and the bytes
//! of the answer (always `Connection: close`).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

use alloc::format;
use alloc::vec::Vec;

/// Longest request head accepted; a longer one is answered 431 and closed.
pub const MAX_HEAD: usize = 8 << 10;

/// The page at `/`.
pub const PAGE: &str = "<!DOCTYPE html>\n<html><head><title>tender</title></head>\n\
<body><h1>Hello from a unikernel on tender</h1>\n\
<p>Served by a Rust unikernel on guest-rt and smoltcp, booted by tender (Solo5 hvt ABI).</p>\n\
</body></html>\n";

/// What the bytes received so far amount to.
#[derive(Debug, PartialEq, Eq)]
pub enum Head<'a> {
    /// No blank line yet: wait for more.
    Incomplete,
    /// A complete head with this request line.
    Request { method: &'a str, path: &'a str },
    /// Not a request this server understands.
    Bad,
    /// No blank line within `MAX_HEAD` bytes.
    TooLarge,
}

/// Looks at the bytes received so far on a connection.
pub fn parse(buf: &[u8]) -> Head<'_> {
    let Some(end) = head_end(buf) else {
        return if buf.len() >= MAX_HEAD { Head::TooLarge } else { Head::Incomplete };
    };
    let Ok(head) = core::str::from_utf8(&buf[..end]) else {
        return Head::Bad;
    };
    let line = head.lines().next().unwrap_or("");
    let mut words = line.split(' ');
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some(method), Some(target), Some(version), None)
            if !method.is_empty() && target.starts_with('/') && version.starts_with("HTTP/1.") =>
        {
            let path = target.split(['?', '#']).next().unwrap_or(target);
            Head::Request { method, path }
        }
        _ => Head::Bad,
    }
}

/// Where the head ends (after its blank line: CRLF CRLF, or bare LF LF).
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The answer to `head`; `served` counts the requests so far, this one included.
pub fn respond(head: &Head<'_>, served: u64) -> Vec<u8> {
    let (status, reason, kind, body, with_body) = match *head {
        Head::Request { method, path } if method == "GET" || method == "HEAD" => {
            let with_body = method == "GET";
            match path {
                "/" | "/index.html" => (200, "OK", "text/html", PAGE.into(), with_body),
                "/stats" => (200, "OK", "text/plain", format!("served {served} requests\n"), with_body),
                _ => (404, "Not Found", "text/plain", format!("{path}: not found\n"), with_body),
            }
        }
        Head::Request { .. } => (405, "Method Not Allowed", "text/plain", "GET or HEAD only\n".into(), true),
        Head::TooLarge => (431, "Request Header Fields Too Large", "text/plain", "too large\n".into(), true),
        Head::Bad | Head::Incomplete => (400, "Bad Request", "text/plain", "bad request\n".into(), true),
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nServer: tender-http\r\nContent-Type: {kind}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if with_body {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn waits_for_the_blank_line() {
        assert_eq!(parse(b""), Head::Incomplete);
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Head::Incomplete);
        let curl = b"GET / HTTP/1.1\r\nHost: 10.0.0.2\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
        assert_eq!(parse(curl), Head::Request { method: "GET", path: "/" });
        assert_eq!(parse(b"GET /stats?x=1 HTTP/1.0\n\n"), Head::Request { method: "GET", path: "/stats" });
        assert_eq!(parse(&[b'a'; MAX_HEAD]), Head::TooLarge);
    }

    #[test]
    fn rejects_what_is_not_a_request_line() {
        for bad in [&b"GET /\r\n\r\n"[..], b"GET / HTTP/2\r\n\r\n", b"GET x HTTP/1.1\r\n\r\n", b"\r\n\r\n"] {
            assert_eq!(parse(bad), Head::Bad, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse(b"GET /\xff HTTP/1.1\r\n\r\n"), Head::Bad);
    }

    #[test]
    fn answers_the_page_stats_and_errors() {
        let page = text(respond(&Head::Request { method: "GET", path: "/" }, 1));
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains(&format!("Content-Length: {}\r\n", PAGE.len())), "{page}");
        assert!(page.contains("Connection: close\r\n"));
        assert!(page.ends_with(PAGE) && PAGE.contains("tender"));
        let stats = text(respond(&Head::Request { method: "GET", path: "/stats" }, 42));
        assert!(stats.ends_with("\r\n\r\nserved 42 requests\n"), "{stats}");
        let missing = text(respond(&Head::Request { method: "GET", path: "/missing" }, 2));
        assert!(missing.starts_with("HTTP/1.1 404 Not Found\r\n"), "{missing}");
        let head = text(respond(&Head::Request { method: "HEAD", path: "/" }, 3));
        assert!(head.ends_with("\r\n\r\n") && head.contains(&format!("Content-Length: {}", PAGE.len())));
        assert!(text(respond(&Head::Request { method: "POST", path: "/" }, 4)).starts_with("HTTP/1.1 405 "));
        assert!(text(respond(&Head::Bad, 5)).starts_with("HTTP/1.1 400 "));
        assert!(text(respond(&Head::TooLarge, 6)).starts_with("HTTP/1.1 431 "));
    }
}
