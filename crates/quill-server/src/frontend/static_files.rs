//! Files served for `Alias`: GET and HEAD only, no path outside the
//! aliased directory, a content type by extension and `Last-Modified`.

use std::path::{Component, Path};
use std::time::SystemTime;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response};
use hyper::body::Incoming;

use super::error::FrontError;
use super::{Resp, RespBody};
use crate::plan::StaticAlias;

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("html" | "htm") => "text/html",
        Some("css") => "text/css",
        Some("js" | "mjs") => "text/javascript",
        Some("json") => "application/json",
        Some("txt") => "text/plain",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// The file `rest` names under `alias`'s directory.
pub(super) async fn static_file(
    req: &Request<Incoming>,
    alias: &StaticAlias,
    rest: &[u8],
) -> Result<Resp, FrontError> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(FrontError::method_not_allowed("GET, HEAD"));
    }
    let rest = String::from_utf8_lossy(rest).into_owned();
    let mut path = alias.path.clone();
    for c in Path::new(rest.trim_start_matches('/')).components() {
        match c {
            Component::Normal(p) => path.push(p),
            Component::CurDir => {}
            _ => {
                return Err(FrontError::forbidden());
            }
        }
    }
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(_) => {
            return Err(FrontError::not_found());
        }
    };
    let meta = match file.metadata().await {
        Ok(m) if m.is_file() => m,
        Ok(_) => {
            return Err(FrontError::forbidden());
        }
        Err(_) => {
            return Err(FrontError::not_found());
        }
    };
    let len = meta.len();
    let mut r = if req.method() == Method::HEAD {
        Response::new(RespBody::empty())
    } else {
        Response::new(RespBody::file(file, len))
    };
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(m) = meta.modified() {
        if let Ok(v) = HeaderValue::from_str(&httpdate(m)) {
            h.insert(header::LAST_MODIFIED, v);
        }
    }
    Ok(r)
}

fn httpdate(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    dt.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}
