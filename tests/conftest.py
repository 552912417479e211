"""Every test gets its own config file path (empty until written), so `athena setup` never writes, and
`--engine athena` never reads, the config of whoever runs the suite."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3LOGQ_CONFIG", str(tmp_path_factory.mktemp("config") / "config.toml"))
