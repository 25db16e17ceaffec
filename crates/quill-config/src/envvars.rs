//! Debian's `/etc/apache2/envvars`: the shell file `apache2ctl` sources
//! before starting httpd, defining `APACHE_RUN_USER`, `APACHE_LOG_DIR`, …
//! that apache2.conf uses as `${…}`. Only its simple assignments are read
//! (`[export] NAME=value`, quotes, `$VAR`/`${VAR}` of earlier lines); shell
//! logic is skipped.

use std::collections::BTreeMap;

/// Assignments of an envvars file, in addition to `base` (the process
/// environment), which later lines may reference.
pub fn parse_envvars(text: &str, base: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line).trim();
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let value = value.trim();
        let value = if let Some(v) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            v.to_string()
        } else {
            let v = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            expand_shell(v, &vars, base)
        };
        vars.insert(name.to_string(), value);
    }
    vars
}

fn expand_shell(
    v: &str,
    vars: &BTreeMap<String, String>,
    base: &BTreeMap<String, String>,
) -> String {
    let lookup = |n: &str| {
        vars.get(n)
            .or_else(|| base.get(n))
            .cloned()
            .unwrap_or_default()
    };
    let mut out = String::new();
    let mut rest = v;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(inner) = after.strip_prefix('{') {
            if let Some(end) = inner.find('}') {
                let name = &inner[..end];
                // ${VAR:-default} and friends: use the name part.
                let name = name.split([':', '-', '=']).next().unwrap_or(name);
                out.push_str(&lookup(name));
                rest = &inner[end + 1..];
                continue;
            }
        }
        let len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if len == 0 {
            out.push('$');
            rest = after;
        } else {
            out.push_str(&lookup(&after[..len]));
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_debian_style_assignments() {
        let text = "unset HOME\nif [ \"${APACHE_CONFDIR##/etc/apache2-}\" != \"${APACHE_CONFDIR}\" ] ; then\n  SUFFIX=\"-${APACHE_CONFDIR##/etc/apache2-}\"\nelse\n  SUFFIX=\nfi\nexport APACHE_RUN_USER=www-data\nexport APACHE_RUN_DIR=/var/run/apache2$SUFFIX\nexport APACHE_LOG_DIR='/var/log/apache2'\nexport LANG=C\n";
        let v = parse_envvars(text, &BTreeMap::new());
        assert_eq!(v["APACHE_RUN_USER"], "www-data");
        assert_eq!(v["APACHE_RUN_DIR"], "/var/run/apache2");
        assert_eq!(v["APACHE_LOG_DIR"], "/var/log/apache2");
        assert!(!v.contains_key("unset HOME"));
    }
}
