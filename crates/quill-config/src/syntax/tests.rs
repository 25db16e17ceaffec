use super::*;
use crate::fs::MemFs;
use std::path::Path;

fn parse(fs: &MemFs, main: &str) -> ParsedConfig {
    parse_file(Path::new(main), fs, &ParseOptions::default())
}

fn names(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| match n {
            Node::Directive(d) => {
                let args: Vec<&str> = d.args.iter().map(|a| a.value.as_str()).collect();
                format!("{} {}", d.name, args.join(" "))
                    .trim_end()
                    .to_string()
            }
            Node::Section(s) => format!("<{}>[{}]", s.name, names(&s.children).join("; ")),
        })
        .collect()
}

fn codes(p: &ParsedConfig) -> Vec<&'static str> {
    p.diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn includes_expand_in_sorted_order_relative_to_server_root() {
    let fs = MemFs::new()
        .with(
            "/etc/apache2/apache2.conf",
            "ServerRoot /etc/apache2\nInclude sites/*.conf\nListen 80\n",
        )
        .with("/etc/apache2/sites/b.conf", "ServerName b\n")
        .with("/etc/apache2/sites/a.conf", "ServerName a\n")
        .with("/etc/apache2/sites/.hidden.conf", "ServerName hidden\n")
        .with("/etc/apache2/sites/c.txt", "ServerName c\n");
    let p = parse(&fs, "/etc/apache2/apache2.conf");
    assert_eq!(
        names(&p.nodes),
        [
            "ServerRoot /etc/apache2",
            "ServerName a",
            "ServerName b",
            "Listen 80"
        ]
    );
    assert!(p.diagnostics.is_empty(), "{:?}", codes(&p));
    assert_eq!(p.includes[0].files.len(), 2);
}

#[test]
fn include_of_directory_is_recursive_and_wildcards_work_in_directories() {
    let fs = MemFs::new()
        .with(
            "/r/main.conf",
            "Include conf.d\nInclude vhosts/*/site.conf\n",
        )
        .with("/r/conf.d/z.conf", "Z 1\n")
        .with("/r/conf.d/sub/a.conf", "A 1\n")
        .with("/r/vhosts/two/site.conf", "Two 2\n")
        .with("/r/vhosts/one/site.conf", "One 1\n");
    let p = parse(&fs, "/r/main.conf");
    assert_eq!(names(&p.nodes), ["A 1", "Z 1", "One 1", "Two 2"]);
}

#[test]
fn missing_includes_error_unless_optional() {
    let fs = MemFs::new().with(
        "/r/main.conf",
        "Include nope.conf\nInclude none/*.conf\nInclude empty/*.conf\nIncludeOptional none/*.conf\nIncludeOptional empty/*.conf\nIncludeOptional nope.conf\n",
    ).with("/r/empty/README", "");
    let p = parse(&fs, "/r/main.conf");
    assert_eq!(
        codes(&p),
        [
            "syntax/include-missing",
            "syntax/include-missing",
            "syntax/include-no-match"
        ]
    );
    let apache: Vec<_> = p
        .diagnostics
        .iter()
        .filter_map(|d| d.apache.as_deref())
        .collect();
    assert_eq!(
        apache,
        [
            "Could not open configuration file /r/nope.conf: No such file or directory",
            "Include/IncludeOptional: Could not open directory /r/none: No such file or directory",
            "Include/IncludeOptional: No matches for the wildcard '*.conf' in '/r/empty', failing",
        ]
    );
}

#[test]
fn include_cycles_are_reported_with_the_chain() {
    let fs = MemFs::new()
        .with("/r/main.conf", "Include a.conf\n")
        .with("/r/a.conf", "A 1\nInclude b.conf\n")
        .with("/r/b.conf", "Include a.conf\nB 1\n");
    let p = parse(&fs, "/r/main.conf");
    assert_eq!(names(&p.nodes), ["A 1", "B 1"]);
    let d = p
        .diagnostics
        .iter()
        .find(|d| d.code == "syntax/include-cycle")
        .unwrap();
    assert!(
        d.message.contains("/r/a.conf → /r/b.conf → /r/a.conf"),
        "{}",
        d.message
    );
}

#[test]
fn defines_env_and_ifdefine() {
    let fs = MemFs::new().with(
        "/r/main.conf",
        "Define PORT 8080\nListen ${PORT}\nListen ${HOME_PORT}\nListen ${UNSET}\n\
         <IfDefine SSL>\nSSL on\n</IfDefine>\n<IfDefine !SSL>\nSSL off\n</IfDefine>\n\
         Define SSL\n<IfDefine SSL>\nSSL now\n</IfDefine>\nUnDefine SSL\n<IfDefine SSL>\nSSL gone\n</IfDefine>\n",
    );
    let mut opts = ParseOptions::default();
    opts.env.insert("HOME_PORT".into(), "9090".into());
    let p = parse_file(Path::new("/r/main.conf"), &fs, &opts);
    assert_eq!(
        names(&p.nodes),
        [
            "Define PORT 8080",
            "Listen 8080",
            "Listen 9090",
            "Listen ${UNSET}",
            "SSL off",
            "Define SSL",
            "SSL now",
            "UnDefine SSL"
        ]
    );
    assert_eq!(codes(&p), ["syntax/undefined-variable"]);
    // -D defines are seen by IfDefine.
    let opts = ParseOptions {
        defines: vec!["SSL".into()],
        ..Default::default()
    };
    let p = parse_file(Path::new("/r/main.conf"), &fs, &opts);
    assert!(names(&p.nodes).contains(&"SSL on".to_string()));
}

#[test]
fn ifmodule_follows_loadmodule_order_and_both_name_forms() {
    let fs = MemFs::new().with(
        "/r/main.conf",
        "<IfModule mod_ssl.c>\nEarly 1\n</IfModule>\n\
         LoadModule ssl_module modules/mod_ssl.so\nLoadModule mpm_event_module modules/mod_mpm_event.so\n\
         <IfModule mod_ssl.c>\nA 1\n</IfModule>\n<IfModule ssl_module>\nB 1\n</IfModule>\n\
         <IfModule !mpm_prefork_module>\nC 1\n</IfModule>\n<IfModule event.c>\nD 1\n</IfModule>\n\
         <IfModule log_config_module>\nE 1\n</IfModule>\n",
    );
    let p = parse(&fs, "/r/main.conf");
    let n = names(&p.nodes);
    assert_eq!(n[2..], ["A 1", "B 1", "C 1", "D 1", "E 1"]);
    assert_eq!(p.modules.len(), 2);
}

#[test]
fn false_conditionals_skip_nested_sections_without_expanding() {
    let fs = MemFs::new().with(
        "/r/main.conf",
        "<IfModule nothing>\n<VirtualHost *:80>\nServerName ${UNDEFINED}\n</VirtualHost>\n</IfModule>\nAfter 1\n",
    );
    let p = parse(&fs, "/r/main.conf");
    assert_eq!(names(&p.nodes), ["After 1"]);
    assert!(p.diagnostics.is_empty(), "{:?}", codes(&p));
}

#[test]
fn ifversion_and_iffile() {
    let fs = MemFs::new().with("/r/exists.conf", "").with(
        "/r/main.conf",
        "<IfVersion >= 2.4>\nA 1\n</IfVersion>\n<IfVersion < 2.4.10>\nB 1\n</IfVersion>\n\
         <IfVersion 2.4>\nC 1\n</IfVersion>\n<IfVersion ~ ^2\\.4\\.>\nD 1\n</IfVersion>\n\
         <IfVersion !~ ^2\\.2>\nE 1\n</IfVersion>\n<IfFile exists.conf>\nF 1\n</IfFile>\n<IfFile !/r/exists.conf>\nG 1\n</IfFile>\n",
    );
    let p = parse(&fs, "/r/main.conf");
    assert_eq!(names(&p.nodes), ["A 1", "C 1", "D 1", "E 1", "F 1"]);
}

#[test]
fn sections_nest_and_close_case_insensitively() {
    let fs = MemFs::new().with(
        "/r/main.conf",
        "<VirtualHost *:80>\n  ServerName a\n  <Location /x>\n    SetHandler server-status\n  </location>\n</VIRTUALHOST>\n<Macro X>\nY 1\n</Macro>\n",
    );
    let p = parse(&fs, "/r/main.conf");
    assert_eq!(
        names(&p.nodes),
        [
            "<VirtualHost>[ServerName a; <Location>[SetHandler server-status]]",
            "<Macro>[Y 1]"
        ]
    );
    assert!(p.diagnostics.is_empty());
}

#[test]
fn broken_nesting_is_reported_and_recovered() {
    let fs = MemFs::new().with(
        "/r/main.conf",
        "</Directory>\n<VirtualHost *:80>\n<Directory /x>\nA 1\n</VirtualHost>\nB 1\n<Location /\nC 1\n<Files x>\n",
    );
    let p = parse(&fs, "/r/main.conf");
    assert_eq!(
        codes(&p),
        [
            "syntax/unmatched-close",
            "syntax/mismatched-close",
            "syntax/missing-gt",
            "syntax/unclosed-section"
        ]
    );
    assert_eq!(
        names(&p.nodes),
        ["<VirtualHost>[<Directory>[A 1]]", "B 1", "C 1", "<Files>[]"]
    );
}

#[test]
fn spans_point_at_the_original_text() {
    let src = "Listen \\\n    8080\nServerName \"my host\"\n";
    let fs = MemFs::new().with("/r/main.conf", src);
    let p = parse(&fs, "/r/main.conf");
    let Node::Directive(d) = &p.nodes[0] else {
        panic!()
    };
    assert_eq!(p.sources.snippet(d.args[0].span), "8080");
    assert_eq!(p.sources.location(d.args[0].span).line, 2);
    let Node::Directive(d) = &p.nodes[1] else {
        panic!()
    };
    assert_eq!(p.sources.snippet(d.args[0].span), "\"my host\"");
    assert_eq!(d.args[0].value, "my host");
    let loc = p.sources.location(d.args[0].span);
    assert_eq!((loc.line, loc.column), (3, 12));
}

#[test]
fn limits_stop_runaway_inputs() {
    // A diamond of includes doubles the input at every level.
    let mut fs = MemFs::new().with("/r/main.conf", "Include l0.conf\n");
    for i in 0..40 {
        fs.insert(
            format!("/r/l{i}.conf"),
            format!("Include l{n}.conf\nInclude l{n}.conf\n", n = i + 1),
        );
    }
    fs.insert("/r/l40.conf", "X 1\n".repeat(1000));
    let opts = ParseOptions {
        limits: Limits {
            max_total_bytes: 1 << 20,
            ..Limits::default()
        },
        ..Default::default()
    };
    let p = parse_file(Path::new("/r/main.conf"), &fs, &opts);
    assert!(codes(&p).contains(&"syntax/too-much-input"));
    let deep = "<If x>\n".repeat(100);
    let fs = MemFs::new().with("/r/main.conf", deep);
    let p = parse(&fs, "/r/main.conf");
    assert!(codes(&p).contains(&"syntax/too-deep"));
}
