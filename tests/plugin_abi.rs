//! The C header matches the Rust ABI exactly: every size, field offset and
//! constant, as the system C compiler sees them.

mod plugin_support;

use std::mem::{offset_of, size_of};
use std::process::Command;

use plugin_support::{repo, target_dir};
use simba_plugin_sdk::abi::*;

const PROBE: &str = r#"
#include <stddef.h>
#include <stdio.h>
#include "simba_plugin.h"
#define F(T, f) printf(#T "." #f " %zu\n", offsetof(T, f))
int main(void) {
    printf("SimbaBuffer %zu\n", sizeof(SimbaBuffer));
    F(SimbaBuffer, ptr); F(SimbaBuffer, len);
    printf("SimbaHost %zu\n", sizeof(SimbaHost));
    F(SimbaHost, size); F(SimbaHost, ctx); F(SimbaHost, call_lm);
    F(SimbaHost, free_buffer); F(SimbaHost, next_u64); F(SimbaHost, log);
    printf("SimbaPluginTable %zu\n", sizeof(SimbaPluginTable));
    F(SimbaPluginTable, size); F(SimbaPluginTable, abi_major); F(SimbaPluginTable, abi_minor);
    F(SimbaPluginTable, manifest); F(SimbaPluginTable, create); F(SimbaPluginTable, call);
    F(SimbaPluginTable, destroy); F(SimbaPluginTable, free_buffer);
    printf("ABI %d.%d\n", SIMBA_ABI_MAJOR, SIMBA_ABI_MINOR);
    printf("STATUS %d %d\n", SIMBA_STATUS_OK, SIMBA_STATUS_ERROR);
    printf("KIND %d %d\n", SIMBA_KIND_STRATEGY, SIMBA_KIND_MODEL);
    printf("LOG %d %d %d %d\n", SIMBA_LOG_ERROR, SIMBA_LOG_WARN, SIMBA_LOG_INFO, SIMBA_LOG_DEBUG);
    return 0;
}
"#;

#[test]
fn the_c_header_matches_the_rust_layout_and_constants() {
    let dir = target_dir().join("plugin-c");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("abi_probe.c");
    let exe = dir.join("abi_probe");
    std::fs::write(&src, PROBE).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(cc)
        .args(["-std=c99", "-Wall", "-Werror", "-I"])
        .arg(repo().join("plugins/sdk/include"))
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new(&exe).output().unwrap();
    let c = String::from_utf8(out.stdout).unwrap();

    let expected = [
        format!("SimbaBuffer {}", size_of::<SimbaBuffer>()),
        format!("SimbaBuffer.ptr {}", offset_of!(SimbaBuffer, ptr)),
        format!("SimbaBuffer.len {}", offset_of!(SimbaBuffer, len)),
        format!("SimbaHost {}", size_of::<SimbaHost>()),
        format!("SimbaHost.size {}", offset_of!(SimbaHost, size)),
        format!("SimbaHost.ctx {}", offset_of!(SimbaHost, ctx)),
        format!("SimbaHost.call_lm {}", offset_of!(SimbaHost, call_lm)),
        format!(
            "SimbaHost.free_buffer {}",
            offset_of!(SimbaHost, free_buffer)
        ),
        format!("SimbaHost.next_u64 {}", offset_of!(SimbaHost, next_u64)),
        format!("SimbaHost.log {}", offset_of!(SimbaHost, log)),
        format!("SimbaPluginTable {}", size_of::<SimbaPluginTable>()),
        format!(
            "SimbaPluginTable.size {}",
            offset_of!(SimbaPluginTable, size)
        ),
        format!(
            "SimbaPluginTable.abi_major {}",
            offset_of!(SimbaPluginTable, abi_major)
        ),
        format!(
            "SimbaPluginTable.abi_minor {}",
            offset_of!(SimbaPluginTable, abi_minor)
        ),
        format!(
            "SimbaPluginTable.manifest {}",
            offset_of!(SimbaPluginTable, manifest)
        ),
        format!(
            "SimbaPluginTable.create {}",
            offset_of!(SimbaPluginTable, create)
        ),
        format!(
            "SimbaPluginTable.call {}",
            offset_of!(SimbaPluginTable, call)
        ),
        format!(
            "SimbaPluginTable.destroy {}",
            offset_of!(SimbaPluginTable, destroy)
        ),
        format!(
            "SimbaPluginTable.free_buffer {}",
            offset_of!(SimbaPluginTable, free_buffer)
        ),
        format!("ABI {ABI_MAJOR}.{ABI_MINOR}"),
        format!("STATUS {STATUS_OK} {STATUS_ERROR}"),
        format!("KIND {KIND_STRATEGY} {KIND_MODEL}"),
        format!("LOG {LOG_ERROR} {LOG_WARN} {LOG_INFO} {LOG_DEBUG}"),
    ];
    let c_lines: Vec<&str> = c.lines().collect();
    assert_eq!(
        c_lines,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
}
