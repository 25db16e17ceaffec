//! Which module defines which directive: every module that ships with
//! httpd 2.4 plus mod_wsgi, mod_php and mod_security2, as data recorded from
//! the real `apache2 -L` (`scripts/record-httpd-directives` regenerates
//! `known.rs`).
//!
//! httpd refuses to start on a directive no loaded module defines
//! ("Invalid command …"); [`Availability`] tells the resolver which case a
//! name is in, and for a module that is known but not loaded, which one to
//! load.

mod known;

use std::collections::{BTreeMap, BTreeSet};

pub use known::KNOWN_MODULES;

/// A module and the directives (and `<Sections>`, written with their `<`)
/// it defines, each with httpd's description of it (the text httpd appends
/// to an argument-count error: "StartServers takes one argument, Number of
/// child processes launched at server startup").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModule {
    /// The source file httpd names it by (`mod_ssl.c`, `core.c`, `event.c`).
    pub source: &'static str,
    /// The symbol `LoadModule` names (`ssl_module`).
    pub symbol: &'static str,
    /// Its name for Debian's `a2enmod` (`None` for modules compiled in).
    pub debian: Option<&'static str>,
    pub directives: &'static [(&'static str, &'static str)],
}

impl KnownModule {
    /// The MPM modules: their directives are checked against the chosen
    /// MPM (which `--mpm` may change) by the MPM resolver instead.
    pub fn is_mpm(&self) -> bool {
        self.symbol.starts_with("mpm_")
    }

    /// How to load it, for help text.
    pub fn how_to_load(&self) -> String {
        let so = format!("mod_{}.so", self.symbol.trim_end_matches("_module"));
        match self.debian {
            Some(d) => format!(
                "load {}: `a2enmod {d}` on Debian, or `LoadModule {} modules/{so}`",
                self.source, self.symbol
            ),
            None => format!(
                "load {} (`LoadModule {} modules/{so}`)",
                self.source, self.symbol
            ),
        }
    }
}

/// httpd's description of a directive (`cmd->errmsg`), by exact name.
pub fn description(name: &str) -> Option<&'static str> {
    KNOWN_MODULES
        .iter()
        .flat_map(|m| m.directives.iter())
        .find(|(d, _)| *d == name)
        .map(|(_, text)| *text)
        .filter(|t| !t.is_empty())
}

/// The module with this `LoadModule` symbol.
pub fn by_symbol(symbol: &str) -> Option<&'static KnownModule> {
    KNOWN_MODULES.iter().find(|m| m.symbol == symbol)
}

/// What a directive name is, given the modules loaded so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// A loaded module defines it.
    Loaded,
    /// Only MPM modules define it: the MPM resolver decides.
    Mpm,
    /// Known modules define it, none of them loaded (the first is the one
    /// to suggest).
    NotLoaded(Vec<&'static KnownModule>),
    /// No known module defines it, and a module Quill does not know is
    /// loaded: it may be that module's.
    MaybeThirdParty,
    /// No loaded module can define it: httpd's "Invalid command".
    Unknown,
}

/// Directive names → defining modules, with the modules loaded so far.
#[derive(Debug, Clone)]
pub struct ModuleIndex {
    defining: BTreeMap<String, Vec<&'static KnownModule>>,
    loaded: BTreeSet<String>,
    /// Loaded modules Quill does not know (symbols).
    third_party: BTreeSet<String>,
}

impl ModuleIndex {
    /// An index with `present` (compiled-in) modules loaded.
    pub fn new<'s>(present: impl IntoIterator<Item = &'s str>) -> Self {
        let mut defining: BTreeMap<String, Vec<&'static KnownModule>> = BTreeMap::new();
        for m in KNOWN_MODULES {
            for (d, _) in m.directives {
                defining.entry(d.to_ascii_lowercase()).or_default().push(m);
            }
        }
        let mut idx = ModuleIndex {
            defining,
            loaded: BTreeSet::new(),
            third_party: BTreeSet::new(),
        };
        for p in present {
            idx.load(p);
        }
        idx
    }

    /// `LoadModule symbol …` (or a compiled-in module).
    pub fn load(&mut self, symbol: &str) {
        if by_symbol(symbol).is_none() {
            self.third_party.insert(symbol.to_string());
        }
        self.loaded.insert(symbol.to_string());
    }

    /// Whether the module with this symbol is loaded (or compiled in).
    pub fn is_loaded(&self, symbol: &str) -> bool {
        self.loaded.contains(symbol)
    }

    /// Loaded modules Quill does not know.
    pub fn third_party(&self) -> impl Iterator<Item = &str> {
        self.third_party.iter().map(String::as_str)
    }

    /// `name` is a directive, or a section written `<Name`.
    pub fn availability(&self, name: &str) -> Availability {
        let Some(defs) = self.defining.get(&name.to_ascii_lowercase()) else {
            return if self.third_party.is_empty() {
                Availability::Unknown
            } else {
                Availability::MaybeThirdParty
            };
        };
        if defs.iter().any(|m| self.loaded.contains(m.symbol)) {
            Availability::Loaded
        } else if defs.iter().all(|m| m.is_mpm()) {
            Availability::Mpm
        } else {
            Availability::NotLoaded(defs.clone())
        }
    }

    /// The closest directive of a loaded module (or of any MPM), for "did
    /// you mean": at most a fifth of its length off (1 to 3 edits).
    pub fn suggest(&self, name: &str) -> Option<&'static str> {
        let loaded = KNOWN_MODULES
            .iter()
            .filter(|m| self.loaded.contains(m.symbol) || m.is_mpm())
            .flat_map(|m| m.directives.iter().map(|(d, _)| *d))
            .filter(|d| d.starts_with('<') == name.starts_with('<'));
        crate::text::closest_within(name, loaded, |len| (len / 5).clamp(1, 3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian() -> ModuleIndex {
        ModuleIndex::new(
            crate::syntax::parser::DEBIAN_STATIC_MODULES
                .iter()
                .map(|(sym, _)| *sym),
        )
    }

    #[test]
    fn every_modelled_directive_is_defined_by_a_known_module() {
        for (_, table) in crate::directives::tables() {
            for def in table {
                let idx = debian();
                assert_ne!(
                    idx.availability(def.name),
                    Availability::Unknown,
                    "{} is in Quill's table but no known module defines it",
                    def.name
                );
            }
        }
    }

    #[test]
    fn a_directive_of_an_unloaded_module_names_it() {
        let mut idx = debian();
        match idx.availability("SSLEngine") {
            Availability::NotLoaded(m) => {
                assert_eq!(m[0].symbol, "ssl_module");
                assert_eq!(
                    m[0].how_to_load(),
                    "load mod_ssl.c: `a2enmod ssl` on Debian, or `LoadModule ssl_module modules/mod_ssl.so`"
                );
            }
            other => panic!("{other:?}"),
        }
        idx.load("ssl_module");
        assert_eq!(idx.availability("sslengine"), Availability::Loaded);
    }

    #[test]
    fn typos_are_unknown_unless_a_third_party_module_is_loaded() {
        let mut idx = debian();
        assert_eq!(idx.availability("Timout"), Availability::Unknown);
        assert_eq!(idx.suggest("Timout"), Some("Timeout"));
        assert_eq!(idx.availability("MaxSpareServers"), Availability::Mpm);
        idx.load("wsgi_module");
        assert_eq!(idx.suggest("WSGIScriptAlais"), Some("WSGIScriptAlias"));
        idx.load("pagespeed_module");
        assert_eq!(
            idx.availability("ModPagespeed"),
            Availability::MaybeThirdParty
        );
        // A typo stays a typo: the resolver warns when a suggestion exists.
        assert_eq!(idx.availability("Timout"), Availability::MaybeThirdParty);
        assert_eq!(idx.suggest("Timout"), Some("Timeout"));
        assert_eq!(idx.suggest("ModPagespeed"), None);
    }

    #[test]
    fn core_sections_are_known() {
        let idx = debian();
        assert_eq!(idx.availability("<VirtualHost"), Availability::Loaded);
        assert!(matches!(
            idx.availability("<Proxy"),
            Availability::NotLoaded(_)
        ));
        assert_eq!(idx.availability("<Nonsense"), Availability::Unknown);
    }
}
