"""Property-based: every valid access-log line the format allows parses back to the record it came from."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from s3logq.demo import AccessRecord, format_access_line
from s3logq.formats.access_log import parse_access_log, type_access_rows

token = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"\\'), min_size=2, max_size=12)
free_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=40).filter(
    lambda s: s != "-")
key_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    lambda s: s != "-")
number = st.one_of(st.none(), st.integers(min_value=1, max_value=10**12))


@st.composite
def records(draw: st.DrawFn) -> AccessRecord:
    return AccessRecord(
        bucketowner=draw(token), bucket_name=draw(token),
        request_time=draw(st.datetimes(min_value=datetime(2006, 1, 1), max_value=datetime(2035, 1, 1),
                                       timezones=st.just(UTC))).replace(microsecond=0),
        remoteip=draw(st.one_of(st.ip_addresses().map(str), st.just("-"))).replace("-", "192.0.2.1"),
        requester=draw(token), requestid=draw(token), operation=draw(token), key=draw(st.one_of(st.none(), key_text)),
        request_uri=draw(st.one_of(st.none(), free_text)), httpstatus=draw(st.integers(100, 599)),
        errorcode=draw(st.one_of(st.none(), token)), bytessent=draw(number), objectsize=draw(number),
        totaltime=draw(number), turnaroundtime=draw(number), referrer=draw(st.one_of(st.none(), free_text)),
        useragent=draw(st.one_of(st.none(), free_text)), versionid=draw(st.one_of(st.none(), token)),
        hostid=draw(token), sigv=draw(st.sampled_from(["SigV2", "SigV4", None])), ciphersuite=draw(token),
        authtype=draw(st.sampled_from(["AuthHeader", "QueryString", None])), endpoint=draw(token),
        tlsversion=draw(st.sampled_from(["TLSv1.2", "TLSv1.3", None])), accesspointarn=None,
        aclrequired=draw(st.sampled_from(["Yes", None])), source_region=draw(st.sampled_from(["us-east-1", None])),
        n_fields=draw(st.sampled_from([18, 19, 22, 24, 25, 26, 27])),
    )  # fmt: skip


FIELD_ORDER = ["bucketowner", "bucket_name", "request_time", "remoteip", "requester", "requestid", "operation",
               "key", "request_uri", "httpstatus", "errorcode", "bytessent", "objectsize", "totaltime",
               "turnaroundtime", "referrer", "useragent", "versionid", "hostid", "sigv", "ciphersuite", "authtype",
               "endpoint", "tlsversion", "accesspointarn", "aclrequired", "source_region"]


def expected_row(record: AccessRecord) -> dict:
    values = {name: getattr(record, name) for name in FIELD_ORDER}
    for name in FIELD_ORDER[record.n_fields:]:
        values[name] = None  # an older line ends before these fields
    return values


@settings(max_examples=150, deadline=None)
@given(st.lists(records(), min_size=1, max_size=6))
def test_generated_valid_lines_always_parse_back_to_their_record(batch: list[AccessRecord]) -> None:
    text = "\n".join(format_access_line(record) for record in batch) + "\n"
    raw, rejects = parse_access_log(text.encode(), "f")
    assert rejects == []
    rows = sorted(type_access_rows(raw).to_pylist(), key=lambda r: r["log_line"])
    assert [r["log_line"] for r in rows] == list(range(1, len(batch) + 1))
    for row, record in zip(rows, batch, strict=True):
        assert {name: row[name] for name in FIELD_ORDER} == expected_row(record)
