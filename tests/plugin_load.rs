//! Loading plugins: path resolution, the ABI handshake, manifests, and the
//! errors for libraries that are missing or not plugins.

mod plugin_support;

use plugin_support::*;
use simba_run::plugin::{PluginError, PluginHost, resolve_path, resolve_path_in};

#[test]
fn extras_loads_and_lists_what_it_provides() {
    let lib = workspace_plugin("simba-extras");
    let host = PluginHost::load(&decls(&[("extras", &lib)])).unwrap();
    let m = host.manifest("extras").unwrap();
    assert_eq!(m.name, "extras");
    assert_eq!(m.version, "0.1.0");
    assert_eq!(
        m.strategies,
        ["swap_demo", "contrast_rewrite", "shuffle_demos"]
    );
    assert!(m.models.is_empty());
    assert_eq!(host.path("extras").unwrap(), lib.as_path());
    let listing = host.listings();
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].abi, (1, 1));
    assert_eq!(m.metrics, ["rubric"]);
    assert_eq!(m.tools[0].name, "join");
    let text = listing[0].to_string();
    assert!(
        text.contains("  strategies:\n    extras.swap_demo\n      config max_swaps: int - "),
        "{text}"
    );
    assert!(text.contains("    extras.contrast_rewrite\n"), "{text}");
    assert!(text.contains("models: -"), "{text}");
}

#[test]
fn platform_prefix_and_suffix_are_optional() {
    let lib = workspace_plugin("simba-replay");
    let dir = lib.parent().unwrap();
    for written in ["simba_replay", "libsimba_replay", "libsimba_replay.so"] {
        let written = written
            .replace("lib", std::env::consts::DLL_PREFIX)
            .replace(".so", std::env::consts::DLL_SUFFIX);
        assert_eq!(
            resolve_path("replay", &dir.join(&written)).unwrap(),
            lib,
            "{written}"
        );
    }
    let host = PluginHost::load(&decls(&[("rp", &dir.join("simba_replay"))])).unwrap();
    assert_eq!(host.manifest("rp").unwrap().models, ["replay"]);
}

#[test]
fn missing_file_names_the_plugin_and_the_paths_tried() {
    let path = std::path::Path::new("/nonexistent/dir/libnothing");
    let err = PluginHost::load(&decls(&[("ghost", path)])).unwrap_err();
    assert!(matches!(err, PluginError::NotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("plugin `ghost`: no library at /nonexistent/dir/libnothing"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("libnothing{}", std::env::consts::DLL_SUFFIX)),
        "{msg}"
    );
}

#[test]
fn a_library_without_the_entry_symbol_is_refused() {
    let lib = c_fixture("no_entry", &["NO_ENTRY"]);
    let err = PluginHost::load(&decls(&[("noentry", &lib)])).unwrap_err();
    assert!(matches!(err, PluginError::NoEntry { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("plugin `noentry`"), "{msg}");
    assert!(msg.contains(&lib.display().to_string()), "{msg}");
    assert!(msg.contains("simba_plugin_entry"), "{msg}");
}

#[test]
fn a_manifest_declaring_config_keys_twice_or_of_an_unknown_type_is_refused() {
    // Refused at load, naming the item and the key: a use of the item would
    // otherwise meet half a declaration, or blame the spec's key for the
    // plugin's type.
    for (defines, expected) in [
        (
            "DUPLICATE_CONFIG",
            "the config keys of model `echo` are declared twice",
        ),
        (
            "UNKNOWN_CONFIG_TYPE",
            "model `echo` declares the config key `n` with an unknown type `integer`",
        ),
    ] {
        let lib = c_fixture(&defines.to_lowercase(), &[defines]);
        let err = PluginHost::load(&decls(&[("cfg", &lib)])).unwrap_err();
        assert!(matches!(err, PluginError::BadManifest { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("plugin `cfg`"), "{msg}");
        assert!(msg.contains(expected), "{msg}");
    }
    // The same fixture without either switch declares nothing and loads.
    let plain = c_fixture("declares_nothing", &[]);
    assert!(PluginHost::load(&decls(&[("cfg", &plain)])).is_ok());
}

#[test]
fn a_different_major_is_refused_naming_both_versions_and_the_path() {
    let lib = c_fixture("major2", &["TABLE_MAJOR=2", "TABLE_MINOR=3"]);
    let err = PluginHost::load(&decls(&[("future", &lib)])).unwrap_err();
    match &err {
        PluginError::AbiMismatch {
            plugin_major,
            plugin_minor,
            host_major,
            ..
        } => assert_eq!((*plugin_major, *plugin_minor, *host_major), (2, 3, 1)),
        other => panic!("expected AbiMismatch, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("plugin `future`"), "{msg}");
    assert!(msg.contains(&lib.display().to_string()), "{msg}");
    assert!(msg.contains("built for plugin ABI 2.3"), "{msg}");
    assert!(msg.contains("speaks ABI 1.1"), "{msg}");
    // An older major is refused the same way.
    let old = c_fixture("major0", &["TABLE_MAJOR=0"]);
    let err = PluginHost::load(&decls(&[("old", &old)])).unwrap_err();
    assert!(
        err.to_string().contains("built for plugin ABI 0.1"),
        "{err}"
    );
}

#[test]
fn a_newer_minor_with_a_larger_table_is_accepted() {
    let lib = c_fixture("minor9", &["TABLE_MINOR=9", "TABLE_EXTRA"]);
    let host = PluginHost::load(&decls(&[("newer", &lib)])).unwrap();
    assert_eq!(host.listings()[0].abi, (1, 9));
    assert_eq!(host.manifest("newer").unwrap().models, ["echo"]);
}

#[test]
fn a_truncated_table_is_refused() {
    let lib = c_fixture("truncated", &["TABLE_TRUNCATED"]);
    let err = PluginHost::load(&decls(&[("short", &lib)])).unwrap_err();
    assert!(matches!(err, PluginError::BadTable { .. }), "{err:?}");
    assert!(
        err.to_string().contains("is smaller than ABI 1.0's"),
        "{err}"
    );
}

#[test]
fn load_each_keeps_the_good_plugins_and_reports_every_bad_one() {
    let good = workspace_plugin("simba-extras");
    let bad = c_fixture("major2", &["TABLE_MAJOR=2", "TABLE_MINOR=3"]);
    let missing = std::path::Path::new("/nonexistent/x");
    let (host, errors) = PluginHost::load_each(&decls(&[
        ("bad", &bad),
        ("extras", &good),
        ("gone", missing),
    ]));
    assert_eq!(errors.len(), 2);
    assert!(matches!(errors[0], PluginError::AbiMismatch { .. }));
    assert!(matches!(errors[1], PluginError::NotFound { .. }));
    assert!(host.manifest("extras").is_some());
    assert!(host.manifest("bad").is_none());
}

#[test]
fn unknown_items_and_plugins_are_named() {
    let lib = workspace_plugin("simba-extras");
    let host = PluginHost::load(&decls(&[("extras", &lib)])).unwrap();
    let err = host.check_strategy("extras", "swap_demos").unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `extras` provides no strategy `swap_demos` (it provides: swap_demo, contrast_rewrite, shuffle_demos)"
    );
    let err = host.check_model("extras", "replay").unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `extras` provides no model `replay` (it provides: none)"
    );
    let err = host
        .strategy("nope", "x", &serde_json::json!({}))
        .unwrap_err();
    assert_eq!(err.to_string(), "no plugin named `nope` is declared");
    host.check_strategy("extras", "swap_demo").unwrap();
}

#[test]
fn a_config_the_plugin_rejects_is_a_create_error() {
    let lib = fixture_crate("faulty");
    let host = PluginHost::load(&decls(&[("faulty", &lib)])).unwrap();
    let err = host
        .strategy("faulty", "refuses", &serde_json::json!({}))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `faulty`: cannot create `refuses`: config needs `ok = true`"
    );
    host.strategy("faulty", "refuses", &serde_json::json!({"ok": true}))
        .unwrap();
}

#[test]
fn the_search_path_is_tried_after_the_path_as_written() {
    let lib = workspace_plugin("simba-replay");
    let dir = lib.parent().unwrap().to_path_buf();
    let written = std::path::Path::new("/spec/dir/simba_replay");
    let elsewhere = std::path::PathBuf::from("/nonexistent/plugins");
    let found = resolve_path_in("rp", written, &[elsewhere.clone(), dir.clone()]).unwrap();
    assert_eq!(found, lib);
    let host = PluginHost::load_in(&decls(&[("rp", written)]), &[dir]).unwrap();
    assert_eq!(host.path("rp").unwrap(), lib.as_path());
    // Without it the library is not found, and the error lists the search path too.
    let err = resolve_path_in("rp", written, &[elsewhere]).unwrap_err();
    assert!(
        err.to_string()
            .contains("/nonexistent/plugins/simba_replay"),
        "{err}"
    );
    assert!(PluginHost::load(&decls(&[("rp", written)])).is_err());
}
