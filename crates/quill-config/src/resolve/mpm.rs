//! MPM directives as httpd reads them: C `atoi` for the numbers.
//!
//! The defaults, start-up checks and silent adjustments of
//! reference/apache-mpm.md §2–3 are the pool controller's: [`adjust`] (from
//! `quill-mpm`, re-exported here) turns the values read by
//! the resolver (`core::resolve_mpm`) into the controller's `PoolConfig` plus one
//! [`Adjustment`] per change, which the resolver reports as a diagnostic.

pub use quill_mpm::{AdjustedMpm, Adjustment, Knob, MpmDirectives, adjust};

/// C `atoi`: optional blanks and sign, then digits; anything else stops
/// it; no digits → 0. Saturates instead of overflowing.
pub fn atoi(s: &str) -> i64 {
    // glibc's atoi is `(int) strtol(s, NULL, 10)`: strtol saturates at
    // the 64-bit long's range, and the cast to int keeps the low 32 bits
    // (`ThreadsPerChild 4294967321` is 25 to httpd).
    i64::from(crate::text::atoi64(s) as i32)
}

/// Whether `atoi` read all of `s` (so no warning is needed).
pub fn is_clean_int(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && t.len() <= 10
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;
    use crate::fs::RealFs;
    use crate::model::{MpmKind, MpmSettings, MpmSource};
    use crate::syntax::{ParseOptions, parse_file};
    use crate::{ResolveOptions, resolve};

    #[test]
    fn atoi_is_c_atoi() {
        assert_eq!(atoi("42"), 42);
        assert_eq!(atoi("  -7x"), -7);
        assert_eq!(atoi("ten"), 0);
        assert_eq!(atoi("99999999999"), 1_215_752_191, "the low 32 bits");
        assert_eq!(atoi("4294967321"), 25);
        assert_eq!(atoi("99999999999999999999"), -1, "LONG_MAX as int");
        assert!(is_clean_int("25") && !is_clean_int("25k") && !is_clean_int(""));
    }

    /// `MpmSettings` → `PoolConfig` loses nothing: turned back into settings
    /// it gives the same settings.
    fn assert_round_trip(settings: &MpmSettings) {
        let again = MpmSettings::from_adjusted(
            settings.selected_by,
            &AdjustedMpm {
                pool: settings.pool_config(),
                listen_backlog: settings.listen_backlog,
                listen_cores_buckets_ratio: settings.listen_cores_buckets_ratio,
                async_request_worker_factor: settings.async_request_worker_factor,
                adjustments: Vec::new(),
            },
        );
        assert_eq!(&again, settings);
    }

    #[test]
    fn example_configs_give_valid_pool_configs() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/configs");
        let mut dirs: Vec<_> = std::fs::read_dir(&root)
            .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        dirs.sort();
        let mut checked = 0;
        for dir in dirs {
            let Some(main) = ["httpd.conf", "apache2.conf"]
                .iter()
                .map(|name| dir.join(name))
                .find(|path| path.is_file())
            else {
                continue;
            };
            // Like `quill config`: an envvars file beside apache2.conf is read.
            let env = std::fs::read_to_string(dir.join("envvars"))
                .map(|text| crate::envvars::parse_envvars(&text, &BTreeMap::new()))
                .unwrap_or_default();
            let parse_options = ParseOptions {
                server_root: Some(dir.clone()),
                env,
                ..ParseOptions::default()
            };
            let parsed = parse_file(&main, &RealFs, &parse_options);
            let overrides = [
                None,
                Some(MpmKind::Prefork),
                Some(MpmKind::Worker),
                Some(MpmKind::Event),
            ];
            for online_cores in [1, 2, 8, 64] {
                for mpm_override in overrides {
                    let resolved = resolve(
                        &parsed,
                        &ResolveOptions {
                            mpm_override,
                            online_cores,
                            ..ResolveOptions::default()
                        },
                    );
                    let settings = &resolved.config.mpm;
                    let pool = settings.pool_config();
                    assert_eq!(
                        pool.validate(),
                        Ok(()),
                        "{} ({online_cores} cores, --mpm {mpm_override:?}): {pool:?}",
                        main.display()
                    );
                    assert_round_trip(settings);
                    checked += 1;
                }
            }
        }
        assert!(checked >= 5 * 16, "only {checked} example resolutions");
    }

    fn directive() -> impl Strategy<Value = Option<i64>> {
        prop_oneof![
            Just(None),
            (-3i64..300).prop_map(Some),
            (i64::from(i32::MIN)..=i64::from(i32::MAX)).prop_map(Some),
        ]
    }

    proptest! {
        #[test]
        fn pool_config_is_what_adjust_computed(
            mpm in prop::sample::select(vec![MpmKind::Prefork, MpmKind::Worker, MpmKind::Event]),
            counts in prop::collection::vec(directive(), 13),
            ratio in prop::option::of(0i64..8),
            online_cores in 1u32..=64,
        ) {
            let directives = MpmDirectives {
                start_servers: counts[0],
                min_spare_servers: counts[1],
                max_spare_servers: counts[2],
                min_spare_threads: counts[3],
                max_spare_threads: counts[4],
                threads_per_child: counts[5],
                thread_limit: counts[6],
                server_limit: counts[7],
                max_request_workers: counts[8],
                max_connections_per_child: counts[9],
                graceful_shutdown_timeout: counts[10],
                listen_backlog: counts[11].map(|v| v.max(1)),
                async_factor16: counts[12].map(|v| v.max(1)),
                listen_cores_buckets_ratio: ratio,
                online_cores,
            };
            let adjusted = adjust(mpm, &directives);
            let settings = MpmSettings::from_adjusted(MpmSource::LoadModule, &adjusted);
            prop_assert_eq!(settings.pool_config(), adjusted.pool);
            assert_round_trip(&settings);
        }
    }
}
