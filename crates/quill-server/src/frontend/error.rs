//! A request that fails in the front end: its status, its error page (as
//! httpd's) and its error-log line.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::{Resp, RespBody};

pub(super) fn error_page(status: StatusCode, detail: &str) -> Resp {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = format!(
        "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>{code} {reason}</title>\n</head><body>\n<h1>{reason}</h1>\n<p>{detail}</p>\n</body></html>\n",
        code = status.as_u16()
    );
    let mut r = Response::new(RespBody::full(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=iso-8859-1"),
    );
    r
}

/// `[client IP:PORT]` in error-log lines, formatted only when logged.
pub(super) struct Client(pub(super) SocketAddr);

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[client {}:{}]", self.0.ip(), self.0.port())
    }
}
