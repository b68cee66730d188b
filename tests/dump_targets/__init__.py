"""Small target modules for the ``gradgen-dump`` tests (tests/test_dump.py)."""
