"""A target module whose import fails (tests/test_dump.py)."""

raise RuntimeError("this module refuses to load")
