//! `quill check`: every rule firing and not firing on its fixture
//! (tests/data/lint/RULE/{fires,fixed}.conf), the corpus of realistic
//! configurations, the three output formats, exit codes, `--explain`,
//! docs/rules.md, and the promise that applying every suggested edit
//! removes the findings that suggested it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{Run, quill, repo};

fn check(args: &[&str]) -> Run {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    quill(&all)
}

fn fixture(rule: &str, which: &str) -> String {
    format!("tests/data/lint/{rule}/{which}.conf")
}

fn json_of(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", r.stdout))
}

fn rules_in(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["rule"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Human output on `fires.conf` (snapshot) names the rule; on `fixed.conf`
/// (snapshot) it does not.
fn fires_and_not(rule: &str) {
    let fires = check(&[&fixture(rule, "fires")]);
    assert!(
        fires.stdout.contains(&format!("[{rule}]")) || rule.starts_with("config-"),
        "{rule} does not fire:\n{}",
        fires.stdout
    );
    let j = json_of(&check(&[&fixture(rule, "fires"), "--format", "json"]));
    assert!(rules_in(&j).iter().any(|r| r == rule), "{rule} not in JSON");
    insta::assert_snapshot!(format!("{rule}__fires"), fires.transcript());
    let fixed = check(&[&fixture(rule, "fixed")]);
    let j = json_of(&check(&[&fixture(rule, "fixed"), "--format", "json"]));
    assert!(
        !rules_in(&j).iter().any(|r| r == rule),
        "{rule} fires on fixed.conf:\n{}",
        fixed.stdout
    );
    insta::assert_snapshot!(format!("{rule}__fixed"), fixed.transcript());
}

macro_rules! rule_tests {
    ($($name:ident => $rule:literal,)*) => {$(
        #[test]
        fn $name() {
            fires_and_not($rule);
        }
    )*};
}

rule_tests! {
    rule_config_error => "config-error",
    rule_config_warning => "config-warning",
    rule_config_note => "config-note",
    rule_unknown_directives => "unknown-directives",
    rule_startup_adjustment => "startup-adjustment",
    rule_spare_not_multiple => "spare-not-multiple",
    rule_startup_kill_off => "startup-kill-off",
    rule_startup_burst => "startup-burst",
    rule_spare_band_churn => "spare-band-churn",
    rule_unreachable_capacity => "unreachable-capacity",
    rule_oversized_server_limit => "oversized-server-limit",
    rule_keepalive_pinning => "keepalive-pinning",
    rule_wsgi_duplicate_https_group => "wsgi-duplicate-https-group",
    rule_wsgi_group_not_visible => "wsgi-group-not-visible",
    rule_wsgi_group_defined_later => "wsgi-group-defined-later",
    rule_wsgi_redundant_import => "wsgi-redundant-import",
    rule_wsgi_options_on_alias => "wsgi-options-on-alias",
    rule_wsgi_sub_interpreter => "wsgi-sub-interpreter",
    rule_wsgi_unused_daemon => "wsgi-unused-daemon",
    rule_tier_capacity => "tier-capacity",
    rule_remoteip_trusts_everyone => "remoteip-trusts-everyone",
}

#[test]
fn every_rule_has_a_fixture_test() {
    // A rule added without fixtures fails here (memory-estimate and
    // daemon-tiers are reports, not findings to fix; the corpus tests and
    // quill-lint's unit tests cover them).
    let listed = check(&["--list-rules"]);
    for line in listed.stdout.lines() {
        let id = line.split_whitespace().next().unwrap_or_default();
        if matches!(id, "memory-estimate" | "daemon-tiers") {
            continue;
        }
        assert!(
            repo().join(fixture(id, "fires")).is_file(),
            "no tests/data/lint/{id}/fires.conf"
        );
        let src = std::fs::read_to_string(repo().join("crates/quill/tests/cli/check.rs"))
            .unwrap_or_default();
        assert!(
            src.contains(&format!("=> \"{id}\"")),
            "no rule test for {id}"
        );
    }
}

// ---------------------------------------------------------------------------
// The seed: the thread's configuration (docs/reference/the-thread.md).

const THREAD_FIRST: &str = "examples/configs/the-thread/httpd.conf";
const THREAD_CORRECTED: &str = "examples/configs/the-thread-corrected/httpd.conf";

/// `quill check` on the user's configuration says what the expert said,
/// point by point (the-thread.md, "What the expert pointed out").
#[test]
fn the_threads_first_configuration_gets_every_finding_of_the_expert() {
    let r = check(&[THREAD_FIRST, "--cores", "2"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let v = json_of(&check(&[THREAD_FIRST, "--cores", "2", "--format", "json"]));
    let finding = |rule: &str| -> Value {
        v["findings"]
            .as_array()
            .and_then(|a| a.iter().find(|f| f["rule"] == rule).cloned())
            .unwrap_or_else(|| panic!("no {rule} finding:\n{}", r.stdout))
    };
    // 1. Start-up kill-off: 10 × 25 idle threads above MaxSpareThreads 75,
    //    one child killed a second until 3 remain.
    let k = finding("startup-kill-off");
    assert_eq!(k["data"]["children_at_start"], 10);
    assert_eq!(k["data"]["killed"], 7);
    assert_eq!(
        (
            k["data"]["first_kill_s"].clone(),
            k["data"]["last_kill_s"].clone()
        ),
        (1.into(), 7.into())
    );
    assert_eq!(k["data"]["settled_children"], 3);
    // 2. Daemon mode: the front end's 400 threads only proxy to 200 + 40
    //    daemon threads, which WSGIDaemonProcess sizes; 6. measure their
    //    utilisation to size them.
    let t = finding("daemon-tiers");
    assert_eq!(t["data"]["front_threads"], 400);
    assert_eq!(t["data"]["daemon_threads"], 240);
    assert!(
        t["message"]
            .as_str()
            .is_some_and(|m| m.contains("200 + 40 daemon threads"))
    );
    assert!(
        t["notes"].to_string().contains("utilisation"),
        "{}",
        t["notes"]
    );
    // 3. One daemon group for HTTP and HTTPS.
    let d = finding("wsgi-duplicate-https-group");
    assert_eq!(d["data"]["removed_group"], "app1-ssl");
    assert_eq!(d["data"]["kept_group"], "app1");
    // 4. Options on the alias, in both virtual hosts, as the expert wrote
    //    them.
    let aliases: Vec<String> = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["rule"] == "wsgi-options-on-alias")
        .map(|f| f["data"]["alias"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        aliases,
        ["WSGIScriptAlias / /path/to/django.wsgi process-group=app1 application-group=%{GLOBAL}";
            2]
    );
    // 5. %{GLOBAL}.
    assert_eq!(
        finding("wsgi-sub-interpreter")["data"]["interpreter"],
        "app1"
    );
    insta::assert_snapshot!("the_thread__first", r.transcript());
}

/// The expert's corrected form: no kill-off, one group, options on the
/// alias, the main interpreter; what is left is the front end against the
/// single group (tier-capacity) and the notes.
#[test]
fn the_threads_corrected_configuration() {
    let r = check(&[THREAD_CORRECTED, "--cores", "2"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let v = json_of(&check(&[
        THREAD_CORRECTED,
        "--cores",
        "2",
        "--format",
        "json",
    ]));
    let rules = rules_in(&v);
    for gone in [
        "startup-kill-off",
        "wsgi-duplicate-https-group",
        "wsgi-options-on-alias",
        "wsgi-redundant-import",
        "wsgi-sub-interpreter",
    ] {
        assert!(!rules.iter().any(|r| r == gone), "{gone}: {rules:?}");
    }
    insta::assert_snapshot!("the_thread__corrected", r.transcript());
}

// ---------------------------------------------------------------------------
// The corpus.

const CORPUS: &[(&str, &str)] = &[
    ("debian", "apache2.conf"),
    ("rhel", "httpd.conf"),
    ("express", "httpd.conf"),
    ("django", "httpd.conf"),
    ("multi-group", "httpd.conf"),
];

fn corpus_args(name: &str, main: &str) -> (String, String) {
    (
        format!("examples/configs/{name}/{main}"),
        format!("examples/configs/{name}"),
    )
}

fn corpus_run(name: &str, main: &str, extra: &[&str]) -> Run {
    let (conf, root) = corpus_args(name, main);
    let mut args = vec![
        conf.as_str(),
        "--server-root",
        root.as_str(),
        "--cores",
        "2",
    ];
    args.extend_from_slice(extra);
    check(&args)
}

#[test]
fn corpus_human_output() {
    for (name, main) in CORPUS {
        let r = corpus_run(name, main, &[]);
        assert_eq!(r.code, 0, "{name}: no errors expected:\n{}", r.stdout);
        assert!(r.stdout.contains("memory-estimate"), "{name}");
        insta::assert_snapshot!(format!("corpus__{name}"), r.transcript());
    }
}

#[test]
fn corpus_json_output_follows_the_documented_schema() {
    for (name, main) in CORPUS {
        let v = json_of(&corpus_run(name, main, &["--format", "json"]));
        assert_eq!(v["schema_version"], 1, "{name}");
        assert_eq!(v["tool"]["name"], "quill");
        assert!(v["config"].as_str().is_some_and(|c| c.ends_with(main)));
        assert!(["prefork", "worker", "event"].contains(&v["mpm"].as_str().unwrap_or("")));
        let findings = v["findings"].as_array().expect("findings");
        let mut counted = BTreeMap::new();
        for f in findings {
            for key in [
                "rule",
                "code",
                "severity",
                "message",
                "location",
                "label",
                "secondary",
                "apache",
                "notes",
                "help",
                "edits",
                "data",
            ] {
                assert!(f.get(key).is_some(), "{name}: finding without `{key}`: {f}");
            }
            *counted
                .entry(f["severity"].as_str().unwrap_or("").to_string())
                .or_insert(0) += 1;
            if let Some(loc) = f["location"].as_object() {
                for key in ["file", "line", "column", "end_line", "end_column"] {
                    assert!(loc.contains_key(key), "{name}: location without {key}");
                }
            }
            for e in f["edits"].as_array().into_iter().flatten() {
                assert!(
                    e["location"]["file"].is_string(),
                    "{name}: edit without file"
                );
                assert!(e["start_byte"].as_u64() <= e["end_byte"].as_u64());
                assert!(e["replacement"].is_string());
            }
        }
        let summary = &v["summary"];
        for (sev, key) in [
            ("error", "errors"),
            ("warning", "warnings"),
            ("note", "notes"),
        ] {
            assert_eq!(
                summary[key].as_u64().unwrap_or(99),
                counted.get(sev).copied().unwrap_or(0),
                "{name}: summary.{key}"
            );
        }
    }
    let v = json_of(&corpus_run("django", "httpd.conf", &["--format", "json"]));
    insta::assert_snapshot!(
        "corpus__django_json",
        serde_json::to_string_pretty(&v).unwrap_or_default()
    );
}

/// SARIF 2.1.0, checked structurally: version, the rule table, results
/// pointing into it with locations, fixes with artifact changes.
fn assert_sarif(v: &Value, name: &str) {
    assert_eq!(v["version"], "2.1.0", "{name}");
    assert!(
        v["$schema"]
            .as_str()
            .is_some_and(|s| s.contains("sarif-2.1.0"))
    );
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "quill");
    let rules = driver["rules"].as_array().expect("rules");
    let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    assert!(ids.len() >= 19, "{ids:?}");
    for r in rules {
        assert!(r["shortDescription"]["text"].is_string());
        assert!(
            ["error", "warning", "note"]
                .contains(&r["defaultConfiguration"]["level"].as_str().unwrap_or(""))
        );
    }
    let results = runs[0]["results"].as_array().expect("results");
    assert!(!results.is_empty(), "{name}: no results");
    for res in results {
        let id = res["ruleId"].as_str().expect("ruleId");
        let index = res["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(ids.get(index), Some(&id), "{name}: ruleIndex of {id}");
        assert!(["error", "warning", "note"].contains(&res["level"].as_str().unwrap_or("")));
        assert!(res["message"]["text"].is_string());
        for loc in res["locations"].as_array().expect("locations") {
            let phys = &loc["physicalLocation"];
            assert!(
                phys["artifactLocation"]["uri"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("file://"))
            );
            assert!(phys["region"]["startLine"].as_u64().is_some_and(|l| l >= 1));
            assert!(
                phys["region"]["startColumn"]
                    .as_u64()
                    .is_some_and(|c| c >= 1)
            );
        }
        for fix in res["fixes"].as_array().into_iter().flatten() {
            for change in fix["artifactChanges"].as_array().expect("artifactChanges") {
                assert!(change["artifactLocation"]["uri"].is_string());
                for rep in change["replacements"].as_array().expect("replacements") {
                    assert!(rep["deletedRegion"]["startLine"].is_u64());
                    assert!(rep["insertedContent"]["text"].is_string());
                }
            }
        }
    }
}

#[test]
fn sarif_is_structurally_valid_over_the_corpus_and_the_fixtures() {
    for (name, main) in CORPUS {
        let r = corpus_run(name, main, &["--format", "sarif"]);
        assert_sarif(&json_of(&r), name);
    }
    let r = check(&[
        &fixture("wsgi-group-not-visible", "fires"),
        "--format",
        "sarif",
    ]);
    assert_eq!(r.code, 1);
    let v = json_of(&r);
    assert_sarif(&v, "wsgi-group-not-visible");
    let result = v["runs"][0]["results"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["ruleId"] == "wsgi-group-not-visible"))
        .expect("the finding");
    assert_eq!(result["level"], "error");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        24
    );
}

// ---------------------------------------------------------------------------
// Applying every suggested edit.

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_tree(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).expect("copy");
        }
    }
}

/// Apply the edits of a `--format json` report to the files on disk (as a
/// code-review bot would); returns how many findings carried edits.
fn apply_json_edits(report: &Value) -> BTreeSet<String> {
    let mut by_file: BTreeMap<PathBuf, Vec<(u64, u64, String)>> = BTreeMap::new();
    let mut fixable = BTreeSet::new();
    for f in report["findings"].as_array().into_iter().flatten() {
        let edits = f["edits"].as_array().cloned().unwrap_or_default();
        if !edits.is_empty() {
            fixable.insert(f["rule"].as_str().unwrap_or("").to_string());
        }
        for e in edits {
            let file = PathBuf::from(e["location"]["file"].as_str().expect("file"));
            let edit = (
                e["start_byte"].as_u64().expect("start"),
                e["end_byte"].as_u64().expect("end"),
                e["replacement"].as_str().unwrap_or("").to_string(),
            );
            let list = by_file.entry(file).or_default();
            if !list.contains(&edit) {
                list.push(edit);
            }
        }
    }
    for (file, mut edits) in by_file {
        edits.sort_by_key(|(s, e, _)| (*s, *e));
        for w in edits.windows(2) {
            assert!(
                w[1].0 >= w[0].1,
                "{}: overlapping edits {:?}",
                file.display(),
                w
            );
        }
        let text = std::fs::read_to_string(&file).expect("read");
        let mut out = String::new();
        let mut pos = 0usize;
        for (s, e, rep) in edits {
            out.push_str(&text[pos..s as usize]);
            out.push_str(&rep);
            pos = e as usize;
        }
        out.push_str(&text[pos..]);
        std::fs::write(&file, out).expect("write");
    }
    fixable
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quill-check-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Copy `dir`, check `main`, apply every edit, check again: every rule that
/// had an edit is gone and no rule appears that was not there before.
fn edits_remove_findings(dir: &Path, main: &str, label: &str) -> Vec<String> {
    let copy = scratch(label);
    copy_tree(dir, &copy);
    let conf = copy.join(main);
    let root = copy.display().to_string();
    let conf_s = conf.display().to_string();
    let args = [
        conf_s.as_str(),
        "--server-root",
        root.as_str(),
        "--cores",
        "2",
        "--format",
        "json",
    ];
    let before = json_of(&check(&args));
    let fixable = apply_json_edits(&before);
    let after = json_of(&check(&args));
    let before_rules: BTreeSet<String> = rules_in(&before).into_iter().collect();
    let after_rules = rules_in(&after);
    for f in after["findings"].as_array().into_iter().flatten() {
        let rule = f["rule"].as_str().unwrap_or("");
        assert!(
            !fixable.contains(rule),
            "{label}: {rule} still fires after its edits: {}",
            f["message"]
        );
        assert!(
            before_rules.contains(rule),
            "{label}: the edits introduced {rule}: {}",
            f["message"]
        );
    }
    let _ = std::fs::remove_dir_all(&copy);
    after_rules
}

#[test]
fn applying_every_suggested_edit_to_the_corpus_removes_those_findings() {
    let mut left = Vec::new();
    for (name, main) in CORPUS {
        let after = edits_remove_findings(&repo().join("examples/configs").join(name), main, name);
        left.push(format!("{name}: {}", after.join(", ")));
    }
    // What is left has no edit: Apache's own notes and warnings, the
    // unknown-directive list, the memory report.
    insta::assert_snapshot!(left.join("\n"));
}

#[test]
fn applying_every_suggested_edit_to_each_fixture_removes_its_findings() {
    let dir = repo().join("tests/data/lint");
    let mut rules: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    rules.sort();
    assert!(rules.len() >= 19);
    for rule in rules {
        let copy = scratch(&format!("fixture-{rule}"));
        std::fs::create_dir_all(&copy).expect("mkdir");
        std::fs::copy(dir.join(&rule).join("fires.conf"), copy.join("httpd.conf")).expect("copy");
        edits_remove_findings(&copy, "httpd.conf", &rule);
        let _ = std::fs::remove_dir_all(&copy);
    }
}

// ---------------------------------------------------------------------------
// Exit codes, options, --explain, docs.

#[test]
fn exit_status_is_1_for_errors_0_for_warnings_and_2_when_unreadable() {
    assert_eq!(check(&[&fixture("config-error", "fires")]).code, 1);
    let warnings = check(&[&fixture("startup-kill-off", "fires")]);
    assert_eq!(warnings.code, 0, "{}", warnings.stdout);
    assert!(warnings.stdout.contains("1 warning"));
    let denied = check(&[&fixture("startup-kill-off", "fires"), "--deny", "warnings"]);
    assert_eq!(denied.code, 1);
    let clean = check(&[&fixture("startup-kill-off", "fixed"), "--deny", "warnings"]);
    assert_eq!(clean.code, 0, "{}", clean.stdout);
    let missing = check(&["tests/data/lint/no-such.conf"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("does not exist"),
        "{}",
        missing.stderr
    );
    assert_eq!(check(&[]).code, 2);
}

#[test]
fn colours_only_when_asked_or_on_a_terminal() {
    let plain = check(&[&fixture("startup-kill-off", "fires")]);
    assert!(!plain.stdout.contains('\u{1b}'));
    let coloured = check(&[&fixture("startup-kill-off", "fires"), "--color", "always"]);
    assert!(coloured.stdout.contains("\u{1b}["), "{}", coloured.stdout);
    assert!(coloured.stdout.contains("startup-kill-off"));
}

#[test]
fn memory_sizes_come_from_the_options() {
    let v = json_of(&check(&[
        &fixture("tier-capacity", "fires"),
        "--format",
        "json",
        "--process-rss",
        "10",
        "--daemon-rss",
        "50",
    ]));
    let m = v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["rule"] == "memory-estimate"))
        .expect("memory-estimate");
    assert_eq!(m["data"]["front_children"], serde_json::json!([4, 4, 8]));
    assert_eq!(m["data"]["start_mb"], 240.0);
    assert_eq!(m["data"]["max_mb"], 280.0);
    let bad = check(&[&fixture("tier-capacity", "fires"), "--daemon-rss", "-5"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn unknown_directives_are_one_note() {
    let r = corpus_run("express", "httpd.conf", &["--format", "json"]);
    let v = json_of(&r);
    let notes: Vec<&Value> = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["rule"] == "unknown-directives")
        .collect();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["severity"], "note");
    assert!(
        notes[0]["data"]["directives"]
            .as_array()
            .is_some_and(|d| d.len() > 5)
    );
}

#[test]
fn explain_prints_a_rule_and_accepts_resolver_codes() {
    let r = check(&["--explain", "startup-kill-off"]);
    assert_eq!(r.code, 0);
    insta::assert_snapshot!("explain_startup_kill_off", r.stdout);
    let by_code = check(&["--explain", "mpm/mrw-not-multiple"]);
    assert_eq!(by_code.code, 0);
    assert!(
        by_code
            .stdout
            .starts_with("`mpm/mrw-not-multiple` is reported by the rule startup-adjustment.")
    );
    let unknown = check(&["--explain", "no-such-rule"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("startup-kill-off"));
}

#[test]
fn check_help() {
    let r = check(&["--help"]);
    assert_eq!(r.code, 0);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn rule_reference_is_current() {
    let generated = check(&["--rules-markdown"]).stdout;
    let committed = std::fs::read_to_string(repo().join("docs/rules.md")).unwrap_or_default();
    assert!(
        generated == committed,
        "docs/rules.md is stale; regenerate with:\n  cargo run -q -p quill -- check --rules-markdown > docs/rules.md"
    );
}

/// Debian's own trees, recorded with the real apache2
/// (tests/data/httpd/debian), pass `--deny warnings`: nothing in a stock
/// tree is a mistake. `django` is a site of ours, not a stock tree.
#[test]
fn debian_stock_trees_pass_deny_warnings() {
    for v in ["stock", "worker", "prefork", "ssl-wsgi"] {
        let conf = format!("tests/data/httpd/debian/{v}/tree/apache2.conf");
        let r = quill(&["check", &conf, "--deny", "warnings", "--cores", "2"]);
        assert_eq!(r.code, 0, "{v}:\n{}\n{}", r.stdout, r.stderr);
    }
}
