"""syrupy snapshots of the IR and of generated Rust (reviewed diffs only; see tests/snapshot.py)."""
