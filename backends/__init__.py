"""The Rust backend: configuration, the printer of allocated and named kernels, and the crate
writer. ``backends.rust_module.emit_module`` turns kernels into one Rust module; ``backends.crate``
writes it as a Cargo project."""
