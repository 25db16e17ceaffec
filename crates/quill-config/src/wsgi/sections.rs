//! Per-directory WSGI settings (`WSGIProcessGroup` inside `<Directory>`,
//! `<Location>`, `<Files>`…) and which of them apply to a mount.
//!
//! Apache merges per-directory configuration in phases — `<Directory>`
//! (shortest path first, then regex forms), `<Files>`, `<Location>` —
//! with the main server's sections before a virtual host's, and a later
//! merge overrides an earlier one. A mount is a URL prefix plus a script
//! (or directory of scripts), so a section either covers every request of
//! the mount ([`Coverage::Full`]), some of them ([`Coverage::Partial`]),
//! or none.

use crate::resolve::Item;
use crate::syntax::Section;

/// What a mount looks like to section matching.
#[derive(Debug, Clone)]
pub(crate) struct MountShape<'m> {
    /// URL prefix (for an AliasMatch: the regex's literal prefix, if any).
    pub url: Option<&'m str>,
    /// The regex of a WSGIScriptAliasMatch.
    pub url_regex: Option<&'m regex::Regex>,
    /// Directory holding the script(s), without trailing `/`.
    pub script_dir: Option<String>,
    /// Script file name when the target is one file.
    pub script_file: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Coverage {
    None,
    Partial,
    Full,
}

/// Merge phase of a section chain (its outermost section).
fn phase(s: &Section) -> u8 {
    if s.is("Directory") {
        if is_regex_form(s) { 1 } else { 0 }
    } else if s.is("DirectoryMatch") {
        1
    } else if s.is("Files") || s.is("FilesMatch") {
        2
    } else {
        3
    }
}

fn is_regex_form(s: &Section) -> bool {
    s.args.first().is_some_and(|a| a.value == "~")
}

/// The pattern argument of a section and whether it is a regex.
fn pattern(s: &Section) -> Option<(&str, bool)> {
    let first = s.args.first()?;
    if first.value == "~" {
        return s.args.get(1).map(|a| (a.value.as_str(), true));
    }
    let regex = s.name.to_ascii_lowercase().ends_with("match");
    Some((first.value.as_str(), regex))
}

/// `<Location /app>`, for messages.
pub(crate) fn describe(dirs: &[&Section]) -> String {
    dirs.iter()
        .map(|s| {
            let args: Vec<&str> = s.args.iter().map(|a| a.value.as_str()).collect();
            if args.is_empty() {
                format!("<{}>", s.name)
            } else {
                format!("<{} {}>", s.name, args.join(" "))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How much of the mount a chain of sections covers.
pub(crate) fn coverage(dirs: &[&Section], m: &MountShape<'_>) -> Coverage {
    dirs.iter()
        .map(|s| section_coverage(s, m))
        .min()
        .unwrap_or(Coverage::Full)
}

fn has_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

fn trim_slash(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    if t.is_empty() { "/" } else { t }
}

/// `prefix` is `path` or a parent of it, at a `/` boundary.
fn is_path_prefix(prefix: &str, path: &str) -> bool {
    let prefix = trim_slash(prefix);
    if prefix == "/" {
        return path.starts_with('/');
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn glob_components_match(pattern: &str, path: &str) -> bool {
    let pc: Vec<&str> = trim_slash(pattern).split('/').collect();
    let tc: Vec<&str> = path.split('/').collect();
    if pc.len() > tc.len() {
        return false;
    }
    pc.iter()
        .zip(&tc)
        .all(|(p, t)| glob::Pattern::new(p).map_or(p == t, |g| g.matches(t)))
}

/// The literal text a regex must start with (after `^`), if anchored.
pub(crate) fn literal_prefix(re: &str) -> Option<String> {
    let rest = re.strip_prefix('^')?;
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) if n.is_ascii_punctuation() => out.push(n),
                _ => break,
            },
            '.' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '$' | '^' => {
                // A quantifier makes the previous character optional.
                if matches!(c, '*' | '?' | '{') {
                    out.pop();
                }
                break;
            }
            c => out.push(c),
        }
    }
    Some(out)
}

fn section_coverage(s: &Section, m: &MountShape<'_>) -> Coverage {
    let lname = s.name.to_ascii_lowercase();
    match lname.as_str() {
        "directory" | "directorymatch" => {
            let (Some((pat, regex)), Some(dir)) = (pattern(s), m.script_dir.as_deref()) else {
                return Coverage::None;
            };
            let hit = if regex {
                regex::Regex::new(pat)
                    .is_ok_and(|r| r.is_match(dir) || r.is_match(&format!("{dir}/")))
            } else if has_glob(pat) {
                glob_components_match(pat, dir)
            } else {
                is_path_prefix(pat, dir)
            };
            if hit { Coverage::Full } else { Coverage::None }
        }
        "files" | "filesmatch" => {
            let Some((pat, regex)) = pattern(s) else {
                return Coverage::None;
            };
            match &m.script_file {
                Some(f) => {
                    let hit = if regex {
                        regex::Regex::new(pat).is_ok_and(|r| r.is_match(f))
                    } else {
                        glob::Pattern::new(pat).map_or(pat == f, |g| g.matches(f))
                    };
                    if hit { Coverage::Full } else { Coverage::None }
                }
                // A directory of scripts: the pattern may match some of them.
                None => Coverage::Partial,
            }
        }
        "location" | "locationmatch" => {
            let Some((pat, regex)) = pattern(s) else {
                return Coverage::None;
            };
            location_coverage(pat, regex, m)
        }
        // Decided per request (method, expression): some requests only.
        "if" | "elseif" | "else" | "limit" | "limitexcept" => Coverage::Partial,
        // Authorization containers inside a section: transparent.
        "requireall" | "requireany" | "requirenone" => Coverage::Full,
        _ => Coverage::None,
    }
}

fn location_coverage(pat: &str, regex: bool, m: &MountShape<'_>) -> Coverage {
    let Some(url) = m.url else {
        return Coverage::None;
    };
    if regex {
        let Ok(r) = regex::Regex::new(pat) else {
            return Coverage::None;
        };
        if m.url_regex.is_none() && r.is_match(url) {
            return Coverage::Full;
        }
        return match literal_prefix(pat) {
            Some(p) if is_path_prefix(url, &p) || p.starts_with(url) => Coverage::Partial,
            _ => Coverage::None,
        };
    }
    if m.url_regex.is_some() {
        // The mount's URLs are only known by their literal prefix.
        return if is_path_prefix(pat, url) && !url.is_empty() {
            Coverage::Full
        } else if is_path_prefix(url, pat) {
            Coverage::Partial
        } else {
            Coverage::None
        };
    }
    if has_glob(pat) {
        if glob_components_match(pat, url) {
            return Coverage::Full;
        }
        let lit = &pat[..pat.find(['*', '?', '[']).unwrap_or(pat.len())];
        return if is_path_prefix(url, lit.trim_end_matches('/')) {
            Coverage::Partial
        } else {
            Coverage::None
        };
    }
    if pat.len() > 1 && pat.ends_with('/') {
        // `<Location /app/>` covers /app/… but not /app itself.
        let base = trim_slash(pat);
        return if is_path_prefix(base, url) && base != trim_slash(url) {
            Coverage::Full
        } else if is_path_prefix(url, base) {
            Coverage::Partial
        } else {
            Coverage::None
        };
    }
    if is_path_prefix(pat, url) {
        Coverage::Full
    } else if is_path_prefix(url, pat) {
        Coverage::Partial
    } else {
        Coverage::None
    }
}

/// A per-directory directive that applies to (part of) a mount.
#[derive(Debug, Clone)]
pub(crate) struct Applicable<'i, 'a> {
    pub item: &'i Item<'a>,
    pub coverage: Coverage,
}

/// The `name` directives inside sections of `scopes` (main server first,
/// then the virtual host) that apply to the mount, in Apache's merge order
/// (later wins).
pub(crate) fn applicable<'i, 'a>(
    name: &str,
    scopes: &[&'i [Item<'a>]],
    m: &MountShape<'_>,
) -> Vec<Applicable<'i, 'a>> {
    let mut found: Vec<(u8, usize, usize, Applicable<'i, 'a>)> = Vec::new();
    let mut seq = 0;
    for items in scopes {
        for item in items.iter() {
            if !item.in_dir() || !item.def.name.eq_ignore_ascii_case(name) {
                continue;
            }
            seq += 1;
            let cov = coverage(&item.dirs, m);
            if cov == Coverage::None {
                continue;
            }
            let outer = item.dirs[0];
            let ph = phase(outer);
            // <Directory> sections merge shortest path first.
            let depth = if ph == 0 {
                pattern(outer).map_or(0, |(p, _)| trim_slash(p).matches('/').count())
            } else {
                0
            };
            found.push((
                ph,
                depth,
                seq,
                Applicable {
                    item,
                    coverage: cov,
                },
            ));
        }
    }
    found.sort_by_key(|(ph, depth, seq, _)| (*ph, *depth, *seq));
    found.into_iter().map(|(_, _, _, a)| a).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes() {
        assert_eq!(literal_prefix("^/app/admin"), Some("/app/admin".into()));
        assert_eq!(literal_prefix("^/app(/.*)?$"), Some("/app".into()));
        assert_eq!(literal_prefix("^/ap?p"), Some("/a".into()));
        assert_eq!(literal_prefix("/app"), None);
        assert_eq!(literal_prefix(r"^/a\.b"), Some("/a.b".into()));
    }

    #[test]
    fn path_prefixes_stop_at_segments() {
        assert!(is_path_prefix("/app", "/app"));
        assert!(is_path_prefix("/app", "/app/x"));
        assert!(!is_path_prefix("/app", "/apple"));
        assert!(is_path_prefix("/", "/anything"));
        assert!(is_path_prefix("/srv/www/", "/srv/www/app"));
    }

    #[test]
    fn glob_directories() {
        assert!(glob_components_match("/srv/*/wsgi", "/srv/site/wsgi"));
        assert!(glob_components_match("/srv/*", "/srv/site/wsgi"));
        assert!(!glob_components_match("/srv/*/wsgi", "/srv/site"));
    }
}
