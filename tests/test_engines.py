"""Every analysis renders for the engines to come (Athena/Trino, Spark) with its parameters bound, not inlined."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlglot
from sqlglot import exp

from s3logq.catalog import load_catalog
from s3logq.engines import render

VALUES = {"since": datetime(2024, 3, 1, tzinfo=UTC), "until": datetime(2024, 3, 8, tzinfo=UTC), "bucket": "b'; --",
          "key": "reports/Q1 results.pdf", "prefix": "reports/", "requester": "alice", "operation": "GetObject",
          "status": 403, "ip": "192.0.2.1", "request_id": "REQ", "by": "ip"}


@pytest.mark.parametrize("analysis", load_catalog(), ids=lambda a: f"{a.log_type}/{a.name}")
def test_positional_engines_get_question_marks_and_values_in_order(analysis) -> None:
    params = analysis.bind({k: v for k, v in VALUES.items() if k in analysis.parameters})
    text, ordered = render(analysis.sql, params, "trino")
    names_in_order = re.findall(r"\$([a-z_]+)\b(?!\.)", analysis.sql)
    assert ordered == [params[name] for name in names_in_order]
    placeholders = list(sqlglot.parse_one(text, read="trino").find_all(exp.Placeholder))
    assert len(placeholders) == len(names_in_order) and all(p.sql() == "?" for p in placeholders)
    assert "b'; --" not in text  # values are never written into the SQL


@pytest.mark.parametrize("analysis", load_catalog(), ids=lambda a: f"{a.log_type}/{a.name}")
def test_named_engines_keep_named_parameters(analysis) -> None:
    params = analysis.bind({})
    text, named = render(analysis.sql, params, "spark")
    assert set(named) == set(re.findall(r"\$([a-z_]+)", analysis.sql))
    assert all(f":{name}" in text for name in named)
