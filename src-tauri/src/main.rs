//! `microdeck-desktop`: the Tauri app. Everything lives in the library so tests can reach it.

fn main() -> std::process::ExitCode {
    // When no `microdeck` sits beside this executable, replicas run under this one as their shim.
    if let Some(code) = microdeck::shim::run_if_shim() {
        return code;
    }
    microdeck_desktop::run()
}
