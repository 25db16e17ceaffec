//! A request that fails in the front end ([`FrontError`]): its status,
//! its error page (httpd's, byte for byte) and the error-log line httpd or
//! mod_wsgi writes for it, made together in one place and logged when the
//! page is rendered ([`FrontError::respond`]).
//!
//! The named constructors are the front end's failures, with their texts;
//! 400 for malformed HTTP and 431 for an oversized request head are
//! hyper's own, before a request reaches the front end (except what
//! `client_io` refuses first: bare LF, a request line over
//! LimitRequestLine, a head that does not come in time).

use std::fmt::Display;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::{GroupEndpoint, Resp, RespBody};
use crate::log::{ErrorLog, Level};
use crate::plan::Mount;

/// httpd's page texts (the `<p>` of the error page).
const NOT_FOUND: &str = "The requested URL was not found on this server.";
const BAD_REQUEST: &str =
    "Your browser sent a request that this server could not understand.<br />\n";
const FORBIDDEN: &str = "You don't have permission to access this resource.";
const UNAVAILABLE: &str = "The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.";
const GATEWAY_TIMEOUT: &str =
    "The gateway did not receive a timely response from the upstream server or application.";
const TOO_LARGE: &str = "The requested resource does not allow request data with this method, or the amount of data provided in the request exceeds the capacity limit.";

const URI_TOO_LONG: &str =
    "The requested URL's length exceeds the capacity\nlimit for this server.<br />\n";
const REQUEST_TIMEOUT: &str = "Server timeout waiting for the HTTP request from the client.";

/// A failed request: what the client gets and what the error log says.
#[derive(Debug)]
pub struct FrontError {
    status: StatusCode,
    /// The error-log line: level, module (`wsgi`, `core`) and message.
    log: Option<(Level, &'static str, String)>,
    /// The error page's paragraph (may be empty).
    detail: &'static str,
    /// The `Allow` header of a 405.
    allow: Option<&'static str>,
    /// The connection closes after it (`Connection: close`).
    close: bool,
}

impl FrontError {
    /// The status the client gets.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error-log line written for it, if any: level, module, message.
    pub fn log_line(&self) -> Option<(Level, &'static str, &str)> {
        self.log.as_ref().map(|(l, m, s)| (*l, *m, s.as_str()))
    }

    /// A failure with an error page and no error-log line.
    fn page(status: StatusCode, detail: &'static str) -> FrontError {
        FrontError {
            status,
            log: None,
            detail,
            allow: None,
            close: false,
        }
    }

    /// The same failure, closing the connection after it (the request's
    /// body was not read to its end).
    fn closing(mut self) -> FrontError {
        self.close = true;
        self
    }

    /// The same failure, with its error-log line.
    fn logged(mut self, level: Level, module: &'static str, message: String) -> FrontError {
        self.log = Some((level, module, message));
        self
    }

    /// mod_wsgi's errors: `[wsgi:error] [client IP:PORT] …`.
    fn wsgi(self, remote: Client, message: impl Display) -> FrontError {
        self.logged(Level::Error, "wsgi", format!("{remote} {message}"))
    }

    /// The request path is not absolute.
    pub(super) fn bad_request() -> FrontError {
        FrontError::page(StatusCode::BAD_REQUEST, "")
    }

    /// More header fields than hyper takes: its 431 (hyper answers it
    /// itself in the server; this is `parse_head`'s stand-in).
    pub(super) fn too_many_fields() -> FrontError {
        FrontError::page(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "")
    }

    /// A target longer than hyper takes: its 414 (as `too_many_fields`).
    pub(super) fn target_too_long() -> FrontError {
        FrontError::page(StatusCode::URI_TOO_LONG, "")
    }

    /// An HTTP/1.1 request without a Host field (or with an empty one):
    /// httpd's 400 (RFC 9112 §3.2).
    pub(super) fn no_host(remote: Client, uri: &str) -> FrontError {
        FrontError::page(StatusCode::BAD_REQUEST, BAD_REQUEST).logged(
            Level::Debug,
            "core",
            format!(
                "{remote} AH00569: client sent HTTP/1.1 request without hostname (see RFC2616 \
                 section 14.23): {uri}"
            ),
        )
    }

    /// Several Host fields (httpd sees them joined with `, `), or one that
    /// is not a host name or address with an optional port.
    pub(super) fn malformed_host(remote: Client, host: &str) -> FrontError {
        FrontError::page(StatusCode::BAD_REQUEST, BAD_REQUEST).logged(
            Level::Debug,
            "core",
            format!("{remote} AH00550: Client sent malformed Host header: {host}"),
        )
    }

    /// A request line longer than LimitRequestLine (httpd's AH00565).
    pub(super) fn line_too_long(remote: Client, limit: usize) -> FrontError {
        FrontError::page(StatusCode::URI_TOO_LONG, URI_TOO_LONG).logged(
            Level::Info,
            "core",
            format!(
                "{remote} AH00565: request failed: client's request-line exceeds LimitRequestLine \
                 (longer than {limit})"
            ),
        )
    }

    /// A head line ending in a bare LF under HttpProtocolOptions Strict:
    /// httpd's 400, with AH00566 for the request line and AH00567 for a
    /// header line.
    pub(super) fn bare_lf(remote: Client, in_request_line: bool) -> FrontError {
        let message = if in_request_line {
            format!("{remote} AH00566: request failed: malformed request line")
        } else {
            format!("{remote} AH00567: request failed: error reading the headers")
        };
        FrontError::page(StatusCode::BAD_REQUEST, BAD_REQUEST).logged(Level::Debug, "core", message)
    }

    /// The header fields did not come within RequestReadTimeout's header
    /// stage (or Timeout): 408, after mod_reqtimeout's own line.
    pub(super) fn header_timeout(remote: Client) -> FrontError {
        FrontError::page(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT).logged(
            Level::Debug,
            "core",
            format!("{remote} AH00567: request failed: error reading the headers"),
        )
    }

    /// A path whose `..` segments climb above the root.
    pub(super) fn invalid_path(remote: Client, path: &str) -> FrontError {
        FrontError::page(StatusCode::BAD_REQUEST, BAD_REQUEST).logged(
            Level::Error,
            "core",
            format!("{remote} AH10244: invalid URI path ({path})"),
        )
    }

    /// A `%2F` in the path under `AllowEncodedSlashes Off`, or a `%00`
    /// (httpd's ap_unescape_url refuses both with a 404, and logs AH00026,
    /// which speaks of `%2f` even for a `%00`, only under `Off`).
    pub(super) fn encoded_slash(remote: Client, path: &str, logged: bool) -> FrontError {
        let page = FrontError::page(StatusCode::NOT_FOUND, NOT_FOUND);
        if !logged {
            return page;
        }
        page.logged(
            Level::Info,
            "core",
            format!(
                "{remote} AH00026: found %2f (encoded '/') in URI path ({path}), returning 404"
            ),
        )
    }

    /// A `%` in the path not followed by two hexadecimal digits: httpd's
    /// ap_unescape_url answers 400 (before any `%2F` or `%00` 404).
    pub(super) fn bad_escape() -> FrontError {
        FrontError::page(StatusCode::BAD_REQUEST, BAD_REQUEST)
    }

    /// A status page the client's address is not granted (mod_authz_core,
    /// with the file name httpd maps the URL to).
    pub(super) fn denied(remote: Client, file: &str) -> FrontError {
        FrontError::page(StatusCode::FORBIDDEN, FORBIDDEN).logged(
            Level::Error,
            "authz_core",
            format!("{remote} AH01630: client denied by server configuration: {file}"),
        )
    }

    /// No `Alias`, mount or file for the path.
    pub(super) fn not_found() -> FrontError {
        FrontError::page(StatusCode::NOT_FOUND, NOT_FOUND)
    }

    /// A path leaving its `Alias` directory, or not a file.
    pub(super) fn forbidden() -> FrontError {
        FrontError::page(StatusCode::FORBIDDEN, FORBIDDEN)
    }

    /// A method other than `allow` on a static file.
    pub(super) fn method_not_allowed(allow: &'static str) -> FrontError {
        FrontError {
            allow: Some(allow),
            ..FrontError::page(StatusCode::METHOD_NOT_ALLOWED, "")
        }
    }

    /// A mount whose group is not among the front end's (a plan bug).
    pub(super) fn no_group() -> FrontError {
        FrontError::page(StatusCode::INTERNAL_SERVER_ERROR, "")
    }

    /// A mount whose daemon group the request's server may not use
    /// (mod_wsgi's visibility rule, reference/mod_wsgi.md §3.7), with
    /// mod_wsgi's log line (wsgi_log_script_error: the message, then the
    /// script).
    pub(super) fn group_not_visible(remote: Client, group: &str, mount: &Mount) -> FrontError {
        FrontError::page(StatusCode::INTERNAL_SERVER_ERROR, "").wsgi(
            remote,
            format_args!(
                "Daemon process called '{group}' cannot be accessed by this WSGI application: {}",
                mount.script.display()
            ),
        )
    }

    /// A mount that would run in embedded mode under `WSGIRestrictEmbedded
    /// On`, with mod_wsgi's log line (the message, then the script).
    pub(super) fn embedded_restricted(remote: Client, mount: &Mount) -> FrontError {
        FrontError::page(StatusCode::INTERNAL_SERVER_ERROR, "").wsgi(
            remote,
            format_args!(
                "Embedded mode of mod_wsgi disabled by runtime configuration: {}",
                mount.script.display()
            ),
        )
    }

    /// Embedded mode: the request thread answered with a failure before
    /// any response head (the application's error is logged already).
    pub(super) fn embedded_failed(status: u16) -> FrontError {
        FrontError::page(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "",
        )
    }

    /// Embedded mode: the request thread's answer ended before a whole
    /// response head.
    pub(super) fn embedded_truncated(remote: Client, mount: &Mount) -> FrontError {
        FrontError::page(StatusCode::INTERNAL_SERVER_ERROR, "").wsgi(
            remote,
            format_args!(
                "Truncated or oversized response headers received from the application: {}",
                mount.script.display()
            ),
        )
    }

    /// A `Transfer-Encoding` other than chunked.
    pub(super) fn transfer_encoding() -> FrontError {
        FrontError::page(
            StatusCode::NOT_IMPLEMENTED,
            "Transfer-Encoding is not supported.",
        )
    }

    /// A chunked body for a mount with `WSGIChunkedRequest Off`.
    pub(super) fn chunked_refused(remote: Client) -> FrontError {
        FrontError::page(
            StatusCode::LENGTH_REQUIRED,
            "A request with the method requires a valid Content-length.",
        )
        .wsgi(
            remote,
            "Unable to process a chunked request body: WSGIChunkedRequest is Off.",
        )
    }

    /// A Content-Length over `LimitRequestBody` (httpd's core says so).
    pub(super) fn body_too_large(remote: Client, length: u64, limit: u64) -> FrontError {
        FrontError::page(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE).logged(
            Level::Error,
            "core",
            format!(
                "{remote} Requested content-length of {length} is larger than the configured limit of {limit}"
            ),
        )
    }

    /// The request body did not come in time (its line is the pump's).
    pub(super) fn body_timeout() -> FrontError {
        FrontError::page(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT).closing()
    }

    /// A chunked request body that is not valid chunked coding (its line
    /// is the pump's).
    pub(super) fn malformed_body() -> FrontError {
        FrontError::page(StatusCode::BAD_REQUEST, BAD_REQUEST).closing()
    }

    /// A chunked request body over LimitRequestBody (its line is the
    /// pump's).
    pub(super) fn chunked_too_large() -> FrontError {
        FrontError::page(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE).closing()
    }

    /// No response head within socket-timeout (the wait for admission
    /// included).
    pub(super) fn head_timeout(remote: Client, group: &GroupEndpoint, mount: &Mount) -> FrontError {
        FrontError::page(StatusCode::GATEWAY_TIMEOUT, GATEWAY_TIMEOUT).wsgi(
            remote,
            format_args!(
                "Timeout when reading response headers from daemon process '{}': {}",
                group.name,
                mount.script.display()
            ),
        )
    }

    /// The group's threads are all busy and its queue is full.
    pub(super) fn queue_full(remote: Client, group: &GroupEndpoint) -> FrontError {
        FrontError::page(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE).wsgi(
            remote,
            format_args!(
                "Unable to connect to WSGI daemon process '{}' on '{}' after multiple attempts as listener backlog limit was exceeded or the socket does not exist: the group's {} threads are busy and {} requests wait",
                group.name,
                group.socket_path.display(),
                group.admission.capacity,
                group.admission.queue_limit
            ),
        )
    }

    /// Connections kept failing before the daemon read the request.
    pub(super) fn restart_connects(remote: Client, max_attempts: u32) -> FrontError {
        FrontError::page(StatusCode::SERVICE_UNAVAILABLE, "").wsgi(
            remote,
            format_args!(
                "Maximum number of WSGI daemon process restart connects reached {max_attempts}."
            ),
        )
    }

    /// Refused or backlog-full connects until connect-timeout.
    pub(super) fn connect_exhausted(
        remote: Client,
        group: &GroupEndpoint,
        e: &std::io::Error,
    ) -> FrontError {
        FrontError::page(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE).wsgi(
            remote,
            format_args!(
                "Unable to connect to WSGI daemon process '{}' on '{}' after multiple attempts as listener backlog limit was exceeded or the socket does not exist: {e}",
                group.name,
                group.socket_path.display()
            ),
        )
    }

    /// A connect that failed otherwise.
    pub(super) fn connect_failed(
        remote: Client,
        group: &GroupEndpoint,
        e: &std::io::Error,
    ) -> FrontError {
        FrontError::page(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE).wsgi(
            remote,
            format_args!(
                "Unable to connect to WSGI daemon process '{}' on '{}': {e}",
                group.name,
                group.socket_path.display()
            ),
        )
    }

    /// The daemon answered `Fail` (its status, 500 if not one).
    pub(super) fn daemon_failed(
        remote: Client,
        group: &GroupEndpoint,
        status: u16,
        message: &str,
    ) -> FrontError {
        FrontError::page(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "",
        )
        .wsgi(
            remote,
            format_args!(
                "Daemon process '{}' failed the request: {message}",
                group.name
            ),
        )
    }

    /// A response header that is not valid HTTP.
    pub(super) fn malformed_header(remote: Client, group: &GroupEndpoint) -> FrontError {
        FrontError::page(StatusCode::INTERNAL_SERVER_ERROR, "").wsgi(
            remote,
            format_args!("Malformed header from daemon process '{}'.", group.name),
        )
    }

    /// The daemon closed, or sent something else, before a response head.
    pub(super) fn truncated_head(
        remote: Client,
        group: &GroupEndpoint,
        mount: &Mount,
    ) -> FrontError {
        FrontError::page(StatusCode::INTERNAL_SERVER_ERROR, "").wsgi(
            remote,
            format_args!(
                "Truncated or oversized response headers received from daemon process '{}': {}",
                group.name,
                mount.script.display()
            ),
        )
    }

    /// Writes the error-log line, if any, and renders the error page.
    pub(super) fn respond(self, log: &ErrorLog) -> Resp {
        if let Some((level, module, message)) = &self.log {
            log.log(*level, module, message);
        }
        let mut r = error_page(self.status, self.detail);
        if self.close {
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(allow) = self.allow {
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        r
    }
}

/// httpd's error page for `status`, with `detail` as its paragraph (as
/// Debian 12's apache2 2.4.67 writes it: earlier 2.4 releases had an HTML
/// 2.0 doctype).
fn error_page(status: StatusCode, detail: &str) -> Resp {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n<html><head>\n<title>{code} {reason}</title>\n</head><body>\n<h1>{reason}</h1>\n<p>{detail}</p>\n</body></html>\n",
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
#[derive(Debug, Clone, Copy)]
pub(super) struct Client(pub(super) SocketAddr);

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[client {}:{}]", self.0.ip(), self.0.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Body;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// An error log whose lines can be read back.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn respond(e: FrontError) -> (Resp, String, String) {
        let lines = Lines::default();
        let log = ErrorLog::new(Level::Info, Box::new(lines.clone()));
        let mut r = e.respond(&log);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut page = Vec::new();
        while let std::task::Poll::Ready(Some(f)) =
            std::pin::Pin::new(r.body_mut()).poll_frame(&mut cx)
        {
            page.extend_from_slice(f.unwrap().data_ref().unwrap());
        }
        let logged = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        (r, String::from_utf8(page).unwrap(), logged)
    }

    fn client() -> Client {
        Client("127.0.0.1:5000".parse().unwrap())
    }

    #[test]
    fn a_page_is_httpds_and_logs_nothing() {
        let (r, page, logged) = respond(FrontError::not_found());
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/html; charset=iso-8859-1"
        );
        assert_eq!(
            page,
            "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n<html><head>\n<title>404 Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>\n</body></html>\n"
        );
        assert_eq!(logged, "");
    }

    #[test]
    fn method_not_allowed_says_what_is() {
        let (r, page, _) = respond(FrontError::method_not_allowed("GET, HEAD"));
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
        assert!(page.contains("<p></p>"), "{page}");
    }

    #[test]
    fn a_logged_failure_writes_its_line_with_its_module() {
        let (r, page, logged) = respond(FrontError::body_too_large(client(), 10, 5));
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(page.contains("exceeds the capacity limit."), "{page}");
        assert!(logged.contains("[core:error]"), "{logged}");
        assert!(
            logged.ends_with(
                "[client 127.0.0.1:5000] Requested content-length of 10 is larger than the configured limit of 5\n"
            ),
            "{logged}"
        );
        let (r, _, logged) = respond(FrontError::daemon_failed(client(), &group(), 599, "boom"));
        assert_eq!(r.status().as_u16(), 599);
        assert!(
            logged.contains("[wsgi:error] [pid ")
                && logged.ends_with(
                    "[client 127.0.0.1:5000] Daemon process 'g' failed the request: boom\n"
                ),
            "{logged}"
        );
    }

    fn group() -> GroupEndpoint {
        GroupEndpoint {
            name: "g".into(),
            socket_path: "/tmp/g.sock".into(),
            processes: 1,
            connect_timeout: std::time::Duration::from_secs(1),
            socket_timeout: std::time::Duration::from_secs(1),
            pool: crate::pool::Pool::new(1, None),
            admission: Arc::new(crate::pool::Admission::new(1, 1)),
        }
    }
}
