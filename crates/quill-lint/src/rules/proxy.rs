//! Behind a proxy: mod_remoteip.

use quill_config::Severity;
use quill_config::resolve::last_in;

use super::ids;
use crate::finding::Finding;
use crate::rule::{Example, Family, Rule};

pub static REMOTEIP_TRUSTS_EVERYONE: Rule = Rule {
    id: ids::REMOTEIP_TRUSTS_EVERYONE,
    severity: Severity::Warning,
    family: Family::Proxy,
    summary: "RemoteIPHeader without RemoteIPTrustedProxy or RemoteIPInternalProxy: every client may choose its address",
    explanation: "\
What: with `RemoteIPHeader` and no `RemoteIPTrustedProxy`, `RemoteIPInternalProxy` \
or their -List forms, mod_remoteip treats every peer as a trusted proxy: any client \
that sends the header (`X-Forwarded-For: 203.0.113.7`) becomes that address in \
REMOTE_ADDR, `%a` and `%h`, and for `Require ip` (only private addresses are refused).

Why it matters: the address your application and your access logs see, and what \
`Require ip` allows, are whatever the client wrote, unless every connection really \
comes through your proxy (and nothing else can reach the server).

Fix: list the proxies whose header you believe: `RemoteIPTrustedProxy ADDRESS` for a \
load balancer, `RemoteIPInternalProxy` for proxies on your own network (these may \
present private addresses).",
    example: Some(Example {
        fires: include_str!("../../../../tests/data/lint/remoteip-trusts-everyone/fires.conf"),
        fixed: include_str!("../../../../tests/data/lint/remoteip-trusts-everyone/fixed.conf"),
    }),
    claims: &[],
    data: &[
        ("server", "the server whose header every client may set"),
        ("header", "its RemoteIPHeader"),
    ],
    check: |ctx, out| {
        let servers = std::iter::once((None, &ctx.config.main_server))
            .chain(ctx.config.vhosts.iter().map(|v| (Some(v.index), &v.server)));
        for (server, cfg) in servers {
            let Some(header) = &cfg.remote_ip.header else {
                continue;
            };
            if !cfg.remote_ip.proxies.is_empty() || !cfg.remote_ip_lists.is_empty() {
                continue;
            }
            // The RemoteIPHeader in force: the server's own, else (a
            // virtual host) the main server's, reported once there.
            let own = server
                .and_then(|v| ctx.items.vhosts.get(v))
                .and_then(|vi| last_in(&vi.items, "RemoteIPHeader"));
            let directive = match (server, own) {
                (_, Some(d)) => d,
                (None, None) => match last_in(&ctx.items.global, "RemoteIPHeader") {
                    Some(d) => d,
                    None => continue,
                },
                // Inherited with the main server's (empty) proxies: the
                // main server's finding covers it.
                (Some(_), None) => continue,
            };
            let name = match (server, &cfg.server_name) {
                (None, Some(n)) => format!("main server ({n})"),
                (None, None) => "main server".to_string(),
                (Some(v), Some(n)) => format!("virtual host #{v} ({n})"),
                (Some(v), None) => format!("virtual host #{v}"),
            };
            out.push(
                Finding::new(
                    &REMOTEIP_TRUSTS_EVERYONE,
                    format!(
                        "{name}: RemoteIPHeader {header} is believed from every client, since no RemoteIPTrustedProxy or RemoteIPInternalProxy is listed"
                    ),
                )
                .at(directive.directive.span, "any client may set this header")
                .note("a client sending `X-Forwarded-For: 203.0.113.7` becomes 203.0.113.7 for REMOTE_ADDR, %a, %h and Require ip")
                .help("list the proxies whose header is believed: `RemoteIPTrustedProxy ADDRESS` (a load balancer) or `RemoteIPInternalProxy NETWORK`")
                .data("server", name)
                .data("header", header.clone()),
            );
        }
    },
};

#[cfg(test)]
mod tests {
    use crate::rules::testing::{fires_and_is_fixed, lint, only, rule_ids};

    #[test]
    fn a_header_without_proxies_is_reported() {
        let f = fires_and_is_fixed("remoteip-trusts-everyone");
        let d = only(&f, "remoteip-trusts-everyone");
        assert_eq!(d.data["header"], "X-Forwarded-For");
    }

    #[test]
    fn a_virtual_host_with_its_own_header_and_no_proxies_is_reported() {
        let text = "LoadModule mpm_event_module modules/mod_mpm_event.so\n\
                    LoadModule remoteip_module modules/mod_remoteip.so\nListen 80\n\
                    ServerName www.example.com\nRemoteIPTrustedProxy 192.0.2.10\n\
                    <VirtualHost *:80>\nServerName a.example\nRemoteIPHeader X-Real-IP\n</VirtualHost>\n";
        let f = lint(text);
        // The host inherits the main server's proxy: nothing to say.
        assert!(!rule_ids(&f).contains(&"remoteip-trusts-everyone"));
        let without = text.replace("RemoteIPTrustedProxy 192.0.2.10\n", "");
        let f = lint(&without);
        let d = only(&f, "remoteip-trusts-everyone");
        assert!(
            d.diagnostic.message.contains("a.example"),
            "{}",
            d.diagnostic.message
        );
    }
}
