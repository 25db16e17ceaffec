//! Records the Python version the daemon binary links (`libpython3.X`),
//! as pyo3 resolved it for this build, so that the supervisor can check a
//! group's interpreter against it without linking libpython itself.

fn main() {
    let v = &pyo3_build_config::get().version;
    println!(
        "cargo:rustc-env=QUILL_LIBPYTHON_VERSION={}.{}",
        v.major, v.minor
    );
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-env-changed=PYO3_CONFIG_FILE");
}
