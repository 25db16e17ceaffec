//! The httpd build whose compiled-in defaults apply.
//!
//! A directive that is never written takes the value compiled into the
//! httpd binary (and into mod_wsgi), and distributions build differently:
//! Debian's `apache2` serves `/var/www/html` and puts mod_wsgi's sockets
//! under `/var/run/apache2`, an upstream build `/usr/local/apache2/htdocs`
//! and `logs/`. Quill reports the defaults of one build and says which.

use std::path::Path;

use serde::Serialize;

/// An httpd build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Build {
    /// Debian's (and Ubuntu's) `apache2` and `libapache2-mod-wsgi-py3`.
    /// Recorded from the binaries (`apache2 -l`, `-D DUMP_RUN_CFG`, and
    /// the strings compiled into `mod_wsgi.so`).
    Debian,
    /// RHEL's (and Fedora's) `httpd` and `python3-mod_wsgi`. Not recorded:
    /// no RHEL build was available; the values follow its packaging, and
    /// `tests/httpd_trees.rs` checks them against RHEL 9's `config.layout`
    /// and `httpd.spec` (tests/data/httpd/rhel/pristine/rhel9/specs).
    Rhel,
    /// httpd built from source with its default layout (`/usr/local/apache2`)
    /// and modules shared, mod_wsgi built against it.
    Upstream,
}

/// How the build was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildSource {
    /// `--build`.
    CommandLine,
    /// From where the main file lives and how it is called.
    Guessed,
}

impl Build {
    pub fn name(self) -> &'static str {
        match self {
            Build::Debian => "debian",
            Build::Rhel => "rhel",
            Build::Upstream => "upstream",
        }
    }

    /// In words, for `quill config`.
    pub fn describe(self) -> &'static str {
        match self {
            Build::Debian => "Debian's apache2",
            Build::Rhel => "RHEL's httpd (defaults not recorded from a real build)",
            Build::Upstream => "upstream httpd, default layout",
        }
    }

    /// The main server's DocumentRoot when none is written
    /// (`DOCUMENT_LOCATION`).
    pub fn document_root(self) -> &'static str {
        match self {
            Build::Debian | Build::Rhel => "/var/www/html",
            Build::Upstream => "/usr/local/apache2/htdocs",
        }
    }

    /// mod_wsgi's socket prefix when `WSGISocketPrefix` is absent:
    /// `DEFAULT_REL_RUNTIMEDIR "/wsgi"`, relative to ServerRoot unless
    /// absolute.
    pub fn wsgi_socket_prefix(self) -> &'static str {
        match self {
            Build::Debian => "/var/run/apache2/wsgi",
            Build::Rhel => "run/wsgi",
            Build::Upstream => "logs/wsgi",
        }
    }

    /// Modules compiled into the binary (`httpd -l`): present without
    /// LoadModule, as (symbol, source file).
    pub fn static_modules(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Build::Debian => crate::syntax::parser::DEBIAN_STATIC_MODULES,
            Build::Rhel | Build::Upstream => &[
                ("core_module", "core.c"),
                ("so_module", "mod_so.c"),
                ("http_module", "http_core.c"),
            ],
        }
    }

    /// The build a main file most likely belongs to: `apache2.conf` is
    /// Debian's name; a file under `/etc/httpd/` is RHEL's; one under
    /// `/usr/local/apache2/` an upstream install's. Anything else: Debian,
    /// the build Quill's defaults were recorded from.
    pub fn guess(main_file: &Path) -> Build {
        if main_file.file_name().is_some_and(|n| n == "apache2.conf") {
            Build::Debian
        } else if main_file.starts_with("/etc/httpd") {
            Build::Rhel
        } else if main_file.starts_with("/usr/local/apache2") {
            Build::Upstream
        } else {
            Build::Debian
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_from_the_main_file() {
        assert_eq!(
            Build::guess(Path::new("/etc/apache2/apache2.conf")),
            Build::Debian
        );
        assert_eq!(
            Build::guess(Path::new("/etc/httpd/conf/httpd.conf")),
            Build::Rhel
        );
        assert_eq!(
            Build::guess(Path::new("/usr/local/apache2/conf/httpd.conf")),
            Build::Upstream
        );
        assert_eq!(
            Build::guess(Path::new("/srv/site/httpd.conf")),
            Build::Debian
        );
    }
}
