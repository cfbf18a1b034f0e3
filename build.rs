//! Gives the C library a versioned SONAME on Linux, so that a program
//! linked with `-lsimplep2p` records `libsimplep2p.so.0` and keeps working
//! across compatible updates, and `make install` can put the library
//! beside its symlinks as shared libraries are installed everywhere.

/// The C ABI's major version (`bindings/c/simplep2p.h`): raised only when a
/// change breaks programs built against the previous header. It is not the
/// crate's version: the header's layouts are frozen and new settings arrive
/// as new functions, so crate releases keep it. `make install` reads it
/// back from the built library.
const ABI_MAJOR: u32 = 0;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Only the cdylib gets it; the rlib, the CLI and the tests are untouched.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsimplep2p.so.{ABI_MAJOR}");
    }
}
