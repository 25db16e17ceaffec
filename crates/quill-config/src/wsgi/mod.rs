//! mod_wsgi directives (reference/mod_wsgi.md §2–3): daemon process groups,
//! delegation, application groups, script aliases.
//!
//! (Being written: the table and resolution land in this module.)

use serde::Serialize;

use crate::diag::Diagnostics;
use crate::directives::DirectiveDef;
use crate::model::{ServerConfig, VirtualHost};
use crate::resolve::Collected;
use crate::source::SourceMap;

/// mod_wsgi's directives.
pub static DIRECTIVES: &[DirectiveDef] = &[];

/// Everything mod_wsgi-related, server-wide.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WsgiConfig {}

/// A WSGI application mounted at a URL in one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WsgiMount {
    pub url: String,
}

pub(crate) fn resolve(
    _c: &Collected<'_>,
    _sources: &SourceMap,
    _main: &mut ServerConfig,
    _vhosts: &mut [VirtualHost],
    _diags: &mut Diagnostics,
) -> WsgiConfig {
    WsgiConfig::default()
}
