//! Copies the Python sample `mdk-analytics` into the profile folder (target/debug), since
//! the engine finds sample programs next to the `microdeck` executable.

use std::path::{Path, PathBuf};

fn main() {
    let script = Path::new("../analytics/mdk-analytics");
    println!("cargo:rerun-if-changed={}", script.display());
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else { return };
    // OUT_DIR is <profile>/build/<crate>-<hash>/out, so three levels up is the profile folder.
    let Some(profile_dir) = out_dir.ancestors().nth(3) else { return };
    let dest = profile_dir.join("mdk-analytics");
    if let Err(e) = install(script, &dest) {
        println!("cargo:warning=could not place mdk-analytics in {}: {e}", profile_dir.display());
    }
}

fn install(src: &Path, dest: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Copy to a temporary name, then rename: a running cluster never sees a half-written script.
    let tmp = dest.with_extension("tmp");
    std::fs::copy(src, &tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, dest)
}
