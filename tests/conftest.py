from __future__ import annotations

import shutil

import pytest

from tests.snapshot import IRSnapshot, RustSnapshot, TextSnapshot


@pytest.fixture
def ir_snapshot(snapshot):
    return snapshot.use_extension(IRSnapshot)


@pytest.fixture
def rust_snapshot(snapshot):
    return snapshot.use_extension(RustSnapshot)


@pytest.fixture
def text_snapshot(snapshot):
    return snapshot.use_extension(TextSnapshot)


@pytest.fixture(scope="session")
def cargo_available() -> None:
    if shutil.which("cargo") is None:
        pytest.fail("cargo is not installed; the test suite needs the Rust toolchain")
