"""Every test gets its own config file path (empty until written), so `athena setup` never writes, and
`--engine athena` never reads, the config of whoever runs the suite. Spark modules share one fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3LOGQ_CONFIG", str(tmp_path_factory.mktemp("config") / "config.toml"))


@pytest.fixture(scope="module")
def spark_for_module() -> Iterator[None]:
    """One local Spark session for a test module, stopped at its end (`pytestmark = usefixtures(...)`)."""
    from s3logq.engines.spark import spark_session, stop_spark

    spark_session()
    yield
    stop_spark()
