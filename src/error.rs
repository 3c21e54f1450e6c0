//! The crate's top-level error: each stage has its own typed error; this enum carries them to the
//! edge, where [`Error::exit_code`] maps them to the exit codes fixed in SPEC section 3.
