//! mod_setenvif: request environment variables set from what a request
//! says (`SetEnvIf Request_URI "^/health$" dontlog`), for `CustomLog …
//! env=` conditions, `%{NAME}e`, and the WSGI environ (mod_wsgi passes
//! the request's environment to the application).
//!
//! ```text
//!  SetEnvIf ATTRIBUTE REGEX [!]VAR[=VALUE] …
//!    ATTRIBUTE: Remote_Host, Remote_Addr, Server_Addr, Request_Method,
//!               Request_Protocol, Request_URI, a request header, or a
//!               variable an earlier line set
//!  the rules of the main server, then the virtual host's, in order
//! ```
//!
//! Pure: [`evaluate`] takes the request's attributes through
//! [`Attributes`] and returns the variables.

use serde::{Deserialize, Serialize};

/// One `SetEnvIf`, `SetEnvIfNoCase`, `BrowserMatch` or
/// `BrowserMatchNoCase` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetEnvRule {
    /// As written (`Request_URI`, `User-Agent`…).
    pub attribute: String,
    pub pattern: String,
    pub nocase: bool,
    pub actions: Vec<EnvAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvAction {
    /// `VAR` (value `1`) or `VAR=VALUE` (`$1`…`$9` are the match's groups).
    Set { name: String, value: String },
    /// `!VAR`.
    Unset(String),
}

impl SetEnvRule {
    /// Reads one line's words after the directive name (`attribute regex
    /// action…`; BrowserMatch's attribute is `User-Agent`).
    pub fn parse(
        attribute: &str,
        pattern: &str,
        actions: &[&str],
        nocase: bool,
    ) -> Result<SetEnvRule, RuleError> {
        if actions.is_empty() {
            return Err(RuleError::NoVariable);
        }
        let actions = actions
            .iter()
            .map(|a| match a.strip_prefix('!') {
                Some(name) => EnvAction::Unset(name.to_string()),
                None => match a.split_once('=') {
                    Some((n, v)) => EnvAction::Set {
                        name: n.to_string(),
                        value: v.to_string(),
                    },
                    None => EnvAction::Set {
                        name: a.to_string(),
                        value: "1".into(),
                    },
                },
            })
            .collect();
        let rule = SetEnvRule {
            attribute: attribute.to_string(),
            pattern: pattern.to_string(),
            nocase,
            actions,
        };
        rule.regex().map_err(|e| {
            // The regex crate's message ends with its one-line cause.
            let text = e.to_string();
            let cause = text
                .lines()
                .last()
                .unwrap_or("")
                .trim_start_matches("error: ");
            RuleError::Regex(cause.to_string())
        })?;
        Ok(rule)
    }

    /// The rule's regular expression, compiled.
    pub fn regex(&self) -> Result<regex::Regex, regex::Error> {
        regex::RegexBuilder::new(&self.pattern)
            .case_insensitive(self.nocase)
            .build()
    }
}

/// Why a SetEnvIf line is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    /// No variable to set.
    NoVariable,
    /// The regular expression does not compile (its cause).
    Regex(String),
}

impl RuleError {
    /// httpd's message.
    pub fn apache(&self) -> &'static str {
        match self {
            RuleError::NoVariable => "Missing envariable expression for SetEnvIf",
            RuleError::Regex(_) => "Regular expression could not be compiled.",
        }
    }
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleError::NoVariable => f.write_str("no variable to set"),
            RuleError::Regex(cause) => {
                write!(f, "the regular expression does not compile: {cause}")
            }
        }
    }
}

/// What a request offers the rules.
pub trait Attributes {
    /// `Remote_Addr` (the client's, after mod_remoteip).
    fn remote_addr(&self) -> String;
    /// `Server_Addr`.
    fn server_addr(&self) -> String;
    fn method(&self) -> &str;
    /// `Request_Protocol` (`HTTP/1.1`).
    fn protocol(&self) -> &str;
    /// `Request_URI`: the path as requested, without the query string.
    fn uri(&self) -> &str;
    /// A request header, its values joined with `, `.
    fn header(&self, name: &str) -> Option<String>;
}

/// A server's rules with their regular expressions compiled, once.
#[derive(Debug, Clone, Default)]
pub struct Compiled(Vec<(SetEnvRule, regex::Regex)>);

impl Compiled {
    /// Compiles `rules` (checked when the configuration was read: a rule
    /// whose expression does not compile is left out).
    pub fn new(rules: &[SetEnvRule]) -> Compiled {
        Compiled(
            rules
                .iter()
                .filter_map(|r| Some((r.clone(), r.regex().ok()?)))
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The variables the rules set for a request, in the order they were
    /// first set.
    pub fn evaluate(&self, req: &impl Attributes) -> Vec<(String, String)> {
        evaluate(&self.0, req)
    }
}

fn evaluate(rules: &[(SetEnvRule, regex::Regex)], req: &impl Attributes) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for (rule, re) in rules {
        let special = match rule.attribute.to_ascii_lowercase().as_str() {
            "remote_host" | "remote_addr" => Some(req.remote_addr()),
            "server_addr" => Some(req.server_addr()),
            "request_method" => Some(req.method().to_string()),
            "request_protocol" => Some(req.protocol().to_string()),
            "request_uri" => Some(req.uri().to_string()),
            _ => None,
        };
        // A header, else a variable an earlier rule set; neither is the
        // empty text (so `^$` matches a missing header, as in httpd).
        let value = special.or_else(|| req.header(&rule.attribute)).or_else(|| {
            env.iter()
                .find(|(k, _)| *k == rule.attribute)
                .map(|(_, v)| v.clone())
        });
        let value = value.unwrap_or_default();
        let Some(caps) = re.captures(&value) else {
            continue;
        };
        for action in &rule.actions {
            match action {
                EnvAction::Unset(name) => env.retain(|(k, _)| k != name),
                EnvAction::Set { name, value } => {
                    let mut v = String::new();
                    caps.expand(&dollar_groups(value), &mut v);
                    match env.iter_mut().find(|(k, _)| k == name) {
                        Some(slot) => slot.1 = v,
                        None => env.push((name.clone(), v)),
                    }
                }
            }
        }
    }
    env
}

/// httpd's `$1`…`$9` as the regex crate's `${1}`…, and other `$` kept.
fn dollar_groups(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('$', Some(d)) if d.is_ascii_digit() => {
                out.push_str(&format!("${{{d}}}"));
                chars.next();
            }
            ('$', _) => out.push_str("$$"),
            (c, _) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Req {
        uri: &'static str,
        agent: Option<&'static str>,
    }

    impl Attributes for Req {
        fn remote_addr(&self) -> String {
            "203.0.113.7".into()
        }
        fn server_addr(&self) -> String {
            "127.0.0.1".into()
        }
        fn method(&self) -> &str {
            "GET"
        }
        fn protocol(&self) -> &str {
            "HTTP/1.1"
        }
        fn uri(&self) -> &str {
            self.uri
        }
        fn header(&self, name: &str) -> Option<String> {
            name.eq_ignore_ascii_case("user-agent")
                .then_some(self.agent)
                .flatten()
                .map(str::to_string)
        }
    }

    fn rules(lines: &[(&str, &str, &[&str], bool)]) -> Compiled {
        let rules: Vec<SetEnvRule> = lines
            .iter()
            .map(|(a, p, acts, nocase)| SetEnvRule::parse(a, p, acts, *nocase).expect("a rule"))
            .collect();
        Compiled::new(&rules)
    }

    #[test]
    fn variables_from_the_uri_headers_and_earlier_variables() {
        let rules = rules(&[
            ("Request_URI", "^/health$", &["dontlog"], false),
            ("User-Agent", "^curl/(\\d+)", &["tool=curl$1", "cli"], true),
            ("tool", "^curl", &["!cli", "seen=$0x"], false),
            ("Remote_Addr", "^203\\.", &["outside"], false),
            ("User-Agent", "^$", &["noagent"], false),
        ]);
        let env = rules.evaluate(&Req {
            uri: "/health",
            agent: Some("CURL/8.1"),
        });
        assert_eq!(
            env,
            vec![
                ("dontlog".to_string(), "1".to_string()),
                ("tool".into(), "curl8".into()),
                ("seen".into(), "curlx".into()),
                ("outside".into(), "1".into()),
            ]
        );
        let env = rules.evaluate(&Req {
            uri: "/app",
            agent: None,
        });
        assert_eq!(
            env,
            vec![
                ("outside".to_string(), "1".to_string()),
                ("noagent".into(), "1".into())
            ]
        );
    }

    #[test]
    fn bad_lines_get_httpds_message() {
        let e = SetEnvRule::parse("Request_URI", "(", &["x"], false).unwrap_err();
        assert_eq!(e.apache(), "Regular expression could not be compiled.");
        assert_eq!(
            e.to_string(),
            "the regular expression does not compile: unclosed group"
        );
        let e = SetEnvRule::parse("Request_URI", "x", &[], false).unwrap_err();
        assert_eq!(e.apache(), "Missing envariable expression for SetEnvIf");
    }
}
