"""Golden tests: access-log lines -> typed rows, for every edge case of the format."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from s3logq.formats.access_log import parse_access_log, parse_access_logs

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
HOST_ID = "s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234="

# The example line of the AWS S3 user guide (26 fields).
AWS_EXAMPLE = (
    f"{OWNER} awsexamplebucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 {OWNER} 3E57427F3EXAMPLE "
    'REST.GET.VERSIONING - "GET /awsexamplebucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - '
    f"{HOST_ID} SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com "
    "TLSV1.2 arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP Yes"
)


def parse(text: str, name: str = "/logs/2019-02-06-00-00-00-EXAMPLE") -> tuple[list[dict], list]:
    raw, rejects = parse_access_log(text.encode(), name)
    rows = sorted(raw.to_pylist(), key=lambda r: r["log_line"])
    return rows, rejects


def one(text: str) -> dict:
    rows, rejects = parse(text)
    assert rejects == [] and len(rows) == 1
    return rows[0]


def test_aws_documentation_example_is_typed_field_by_field() -> None:
    assert one(AWS_EXAMPLE) == {
        "bucketowner": OWNER, "bucket_name": "awsexamplebucket1",
        "request_time": datetime(2019, 2, 6, 0, 0, 38, tzinfo=UTC), "remoteip": "192.0.2.3",
        "requester": OWNER, "requestid": "3E57427F3EXAMPLE", "operation": "REST.GET.VERSIONING", "key": None,
        "request_uri": "GET /awsexamplebucket1?versioning HTTP/1.1", "httpstatus": 200, "errorcode": None,
        "bytessent": 113, "objectsize": None, "totaltime": 7, "turnaroundtime": None, "referrer": None,
        "useragent": "S3Console/0.4", "versionid": None, "hostid": HOST_ID, "sigv": "SigV4",
        "ciphersuite": "ECDHE-RSA-AES128-GCM-SHA256", "authtype": "AuthHeader",
        "endpoint": "awsexamplebucket1.s3.us-west-1.amazonaws.com", "tlsversion": "TLSV1.2",
        "accesspointarn": "arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP", "aclrequired": "Yes",
        "source_region": None, "http_method": "GET", "log_file": "/logs/2019-02-06-00-00-00-EXAMPLE", "log_line": 1,
    }  # fmt: skip


def line(key: str = "photos/a.jpg", ua: str = '"aws-cli/2.15.0"', uri: str | None = None, extra: str = "",
         fields: int = 26, requester: str = "arn:aws:iam::123456789012:user/alice", ip: str = "192.0.2.3",
         status: str = "200", operation: str = "REST.GET.OBJECT") -> str:
    uri = uri if uri is not None else f'"GET /b/{key} HTTP/1.1"'
    parts = [OWNER, "b", "[01/Mar/2024:23:59:59", "+0000]", ip, requester, "REQ1", operation, key, uri, status,
             "-", "2048", "4096", "15", "9", '"-"', ua, "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", "HOST", "SigV4",
             "TLS_AES_128_GCM_SHA256", "AuthHeader", "b.s3.us-east-1.amazonaws.com", "TLSv1.3", "-", "-"]
    tokens = parts[: fields + 1]  # +1: the time is two tokens
    return " ".join(tokens) + (" " + extra if extra else "")


@pytest.mark.parametrize("fields", [18, 19, 22, 24, 25, 26])
def test_older_lines_with_fewer_fields_read_with_nulls_after_their_end(fields: int) -> None:
    row = one(line(fields=fields))
    assert row["versionid"] == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    assert row["hostid"] == ("HOST" if fields >= 19 else None)
    assert row["authtype"] == ("AuthHeader" if fields >= 22 else None)
    assert row["tlsversion"] == ("TLSv1.3" if fields >= 24 else None)
    assert (row["objectsize"], row["totaltime"], row["turnaroundtime"]) == (4096, 15, 9)


def test_newest_lines_carry_source_region_and_unknown_trailing_fields_are_ignored() -> None:
    assert one(line(extra="us-east-1"))["source_region"] == "us-east-1"
    row = one(line(extra="us-east-1 future-field another"))
    assert (row["source_region"], row["aclrequired"], row["hostid"]) == ("us-east-1", None, "HOST")


def test_escaped_quotes_in_user_agent_are_unescaped() -> None:
    row = one(line(ua=r'"aws-cli/2.15 md/\"quoted\" path\\dir"'))
    assert row["useragent"] == 'aws-cli/2.15 md/"quoted" path\\dir'
    assert row["versionid"] == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"  # nothing after it shifted


def test_url_encoded_keys_are_decoded_with_spaces_plus_and_non_ascii() -> None:
    row = one(line(key="reports/Q1%20results%2B%C3%A9t%C3%A9%20%E6%97%A5%E6%9C%AC.pdf"))
    assert row["key"] == "reports/Q1 results+été 日本.pdf"
    assert row["request_uri"] == "GET /b/reports/Q1%20results%2B%C3%A9t%C3%A9%20%E6%97%A5%E6%9C%AC.pdf HTTP/1.1"


def test_ipv6_remote_ip_and_anonymous_requester() -> None:
    row = one(line(ip="2001:db8:85a3::8a2e:370:7334", requester="-"))
    assert (row["remoteip"], row["requester"]) == ("2001:db8:85a3::8a2e:370:7334", None)


def test_batch_delete_line_with_bare_dashes() -> None:
    text = (f"{OWNER} b [01/Mar/2024:10:00:00 +0000] 192.0.2.3 arn:aws:iam::1:user/bob REQ2 BATCH.DELETE.OBJECT "
            "logs/old%20file.txt - 204 - - - - - - - - -")
    row = one(text)
    assert (row["operation"], row["key"], row["httpstatus"], row["request_uri"], row["useragent"]) == (
        "BATCH.DELETE.OBJECT", "logs/old file.txt", 204, None, None)
    assert (row["bytessent"], row["http_method"], row["versionid"]) == (None, None, None)


def test_lifecycle_expiration_row() -> None:
    text = (f"{OWNER} b [02/Mar/2024:04:12:00 +0000] - AmazonS3 REQ3 S3.EXPIRE.OBJECT tmp/x.csv - - - - 1024 - - "
            '"-" "-" 3sL4kq - - - - - - - -')
    row = one(text)
    assert (row["requester"], row["remoteip"], row["httpstatus"], row["objectsize"], row["versionid"]) == (
        "AmazonS3", None, None, 1024, "3sL4kq")


def test_raw_unescaped_quotes_inside_quoted_fields_do_not_shift_fields() -> None:
    rows, rejects = parse("\n".join([
        line(uri='"GET /b/a"b HTTP/1.1"'),
        line(ua='"Mozilla/5.0 "scanner" x"'),
        line(ua='"-"'),
    ]) + "\n")
    assert rejects == []
    assert [r["request_uri"] for r in rows] == ['GET /b/a"b HTTP/1.1', "GET /b/photos/a.jpg HTTP/1.1",
                                                 "GET /b/photos/a.jpg HTTP/1.1"]
    assert [r["useragent"] for r in rows] == ["aws-cli/2.15.0", 'Mozilla/5.0 "scanner" x', None]
    assert all(r["httpstatus"] == 200 and r["objectsize"] == 4096 and r["hostid"] == "HOST" for r in rows)


def test_bad_lines_are_rejected_with_line_numbers_and_the_rest_is_kept() -> None:
    good = line()
    text = "\n".join([good, "garbage here", "", good[:60], good, line(status="2OO"), line(fields=18)]) + "\n"
    rows, rejects = parse(text)
    assert [r["log_line"] for r in rows] == [1, 5, 7]
    assert [(r.log_line, r.raw_line) for r in rejects] == [(2, "garbage here"), (4, good[:60]),
                                                           (6, line(status="2OO"))]
    assert all(r.log_file == "/logs/2019-02-06-00-00-00-EXAMPLE" and r.reason for r in rejects)


def test_crlf_line_endings_and_no_final_newline() -> None:
    rows, rejects = parse(line() + "\r\n" + line(key="x") + "\r\n" + line(key="y"))
    assert rejects == [] and [r["key"] for r in rows] == ["photos/a.jpg", "x", "y"]


def test_mixed_line_lengths_in_one_file_keep_their_line_numbers() -> None:
    rows, rejects = parse("\n".join([line(fields=18), line(), line(extra="eu-west-1"), line(fields=22)]))
    assert rejects == []
    assert [(r["log_line"], r["hostid"], r["source_region"]) for r in rows] == [
        (1, None, None), (2, "HOST", None), (3, "HOST", "eu-west-1"), (4, "HOST", None)]


def test_a_line_cut_inside_a_quoted_field_is_rejected_without_merging_or_shifting_lines() -> None:
    cut = line()[:200]  # ends inside the quoted request-URI
    assert cut.count('"') == 1
    rows, rejects = parse("\n".join([line(key="a"), cut, line(key="b"), "GARBAGE ### not a log line",
                                     line(key="c")]) + "\n")
    assert [(r["log_line"], r["key"]) for r in rows] == [(1, "a"), (3, "b"), (5, "c")]
    assert [(r.log_line, r.raw_line) for r in rejects] == [(2, cut), (4, "GARBAGE ### not a log line")]


def test_a_time_that_does_not_exist_is_rejected_not_stored_as_null() -> None:
    rows, rejects = parse(line().replace("01/Mar/2024", "01/Foo/2024") + "\n" + line(key="ok") + "\n")
    assert [r["key"] for r in rows] == ["ok"]
    assert [(r.log_line, r.reason) for r in rejects] == [(1, "request time is not a date")]


def test_a_zone_other_than_utc_is_converted_to_utc() -> None:
    row = one(line().replace("+0000]", "-0500]"))
    assert row["request_time"] == datetime(2024, 3, 2, 4, 59, 59, tzinfo=UTC)


def test_identical_lines_of_another_length_keep_their_own_line_numbers() -> None:
    short = line(fields=18)
    rows, rejects = parse("\n".join([line(key="a"), short, short, line(key="b"), short]) + "\n")
    assert rejects == []
    assert [(r["log_line"], r["key"], r["hostid"]) for r in rows] == [
        (1, "a", "HOST"), (2, "photos/a.jpg", None), (3, "photos/a.jpg", None), (4, "b", "HOST"),
        (5, "photos/a.jpg", None)]


# --- nothing merged, nothing lost (issue 11) ---------------------------------------------------------------

BATCH_DELETE = (f"{OWNER} b [01/Mar/2024:10:00:00 +0000] 192.0.2.3 arn:aws:iam::1:user/bob REQ2 BATCH.DELETE.OBJECT "
                "logs/old%20file.txt - 204 - - - - - - - - -")


@pytest.mark.parametrize("joined", [
    line(key="first") + line(key="second"),  # a lost newline between two whole records
    line(fields=18) + line(key="second"),  # an old short record, then a new one
    BATCH_DELETE + BATCH_DELETE,  # no quotes anywhere: the fast path used to keep the first, drop the second
    line(key="first")[:-120] + line(key="second"),  # a record cut inside its user agent, then a whole one
], ids=["whole+whole", "short+whole", "unquoted+unquoted", "cut+whole"])
def test_two_records_on_one_line_are_one_reject_with_the_raw_line_never_one_row(joined: str) -> None:
    rows, rejects = parse("\n".join([line(key="before"), joined, line(key="after")]) + "\n")
    assert [(r["log_line"], r["key"]) for r in rows] == [(1, "before"), (3, "after")]
    assert [(r.log_line, r.reason, r.raw_line) for r in rejects] == [
        (2, "two records on one line (a line end is missing)", joined)]


def test_files_joined_by_cat_where_one_lacks_its_final_newline() -> None:
    first_file = line(key="a") + "\n" + line(key="b")  # no final newline
    second_file = line(key="c") + "\n" + line(key="d") + "\n"
    rows, rejects = parse(first_file + second_file)
    assert [(r["log_line"], r["key"]) for r in rows] == [(1, "a"), (3, "d")]
    assert [(r.log_line, r.raw_line) for r in rejects] == [(2, line(key="b") + line(key="c"))]


def test_lf_crlf_and_lone_cr_all_end_lines_and_number_them() -> None:
    other_zone = line(key="z").replace("+0000]", "-0500]")  # read by the careful parser, by its own line number
    text = line(key="a") + "\r" + line(key="b") + "\r\n" + line(key="c") + "\n" + "\r\r" + other_zone + "\r"
    rows, rejects = parse(text)
    assert rejects == []
    # a (CR), b (CRLF), c (LF), two blank lines (CR, CR), z (CR)
    assert [(r["log_line"], r["key"]) for r in rows] == [(1, "a"), (2, "b"), (3, "c"), (6, "z")]
    assert rows[-1]["request_time"] == datetime(2024, 3, 2, 4, 59, 59, tzinfo=UTC)
    assert all(r["aclrequired"] is None and r["hostid"] == "HOST" for r in rows)  # no CR left in the last field


def test_a_file_with_lone_cr_line_ends_gives_one_row_per_line() -> None:
    rows, rejects = parse("\r".join(line(key=k) for k in "abcd") + "\r")
    assert rejects == []
    assert [(r["log_line"], r["key"]) for r in rows] == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]


def test_a_utf8_byte_order_mark_is_not_data() -> None:
    other_zone = line(key="z").replace("+0000]", "+0100]")
    for text in ("\ufeff" + line(key="a") + "\n" + line(key="b") + "\n", "\ufeff" + other_zone + "\n"):
        rows, rejects = parse(text)
        assert rejects == []
        assert [r["bucketowner"] for r in rows] == [OWNER] * len(rows)
        assert rows[0]["log_line"] == 1


def test_a_line_of_only_a_byte_order_mark_is_blank() -> None:
    rows, rejects = parse("\ufeff\n" + line(key="a") + "\n")
    assert rejects == [] and [(r["log_line"], r["key"]) for r in rows] == [(2, "a")]


def _times(day_time_zone: str) -> str:
    return line().replace("[01/Mar/2024:23:59:59 +0000]", day_time_zone)


@pytest.mark.parametrize(("bad", "reason"), [
    (_times("[01/Mar/2300:10:00:00 +0000]"), "request time 01/Mar/2300:10:00:00 +0000 out of range (years 1970 to 2199)"),
    (_times("[31/Dec/9999:23:30:00 -0100]"), "request time 31/Dec/9999:23:30:00 -0100 out of range (years 1970 to 2199)"),
    (_times("[01/Jan/0001:00:30:00 +0100]"), "request time 01/Jan/0001:00:30:00 +0100 out of range (years 1970 to 2199)"),
    (_times("[01/Jan/2200:00:00:00 +0000]"), "request time 01/Jan/2200:00:00:00 +0000 out of range (years 1970 to 2199)"),
    (_times("[31/Dec/2199:23:00:00 -0100]"), "request time 31/Dec/2199:23:00:00 -0100 out of range (years 1970 to 2199)"),
    (_times("[31/Dec/1969:23:59:59 +0000]"), "request time 31/Dec/1969:23:59:59 +0000 out of range (years 1970 to 2199)"),
    (_times("[01/Jan/1970:00:59:59 +0100]"), "request time 01/Jan/1970:00:59:59 +0100 out of range (years 1970 to 2199)"),
    (line().replace(" 2048 ", " 9223372036854775808 "), "bytessent 9223372036854775808 does not fit a 64-bit integer"),
    (line().replace(" 4096 ", " 99999999999999999999999 "), "objectsize 99999999999999999999999 does not fit a 64-bit integer"),
    (line().replace(" 15 ", " " + "9" * 5000 + " "), f"totaltime {'9' * 5000} does not fit a 64-bit integer"),
], ids=["2300", "9999-0100", "0001+0100", "2200", "2199T23-0100", "1969", "1970T00:59:59+0100", "2^63", "objectsize",
         "5000-digits"])
def test_one_out_of_range_value_rejects_its_own_line_and_nothing_else(bad: str, reason: str) -> None:
    files = [((line(key="a") + "\n" + bad + "\n" + line(key="b") + "\n").encode(), "f1"),
             ((line(key="c") + "\n").encode(), "f2")]
    table, rejects = parse_access_logs(files)
    assert sorted((r["log_file"], r["log_line"], r["key"]) for r in table.to_pylist()) == [
        ("f1", 1, "a"), ("f1", 3, "b"), ("f2", 1, "c")]
    assert [(r.log_file, r.log_line, r.reason, r.raw_line) for r in rejects] == [("f1", 2, reason, bad)]


@pytest.mark.parametrize(("value", "moment"), [
    (_times("[31/Dec/2199:23:59:59 +0000]"), datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)),
    (_times("[01/Jan/2200:00:59:59 +0100]"), datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)),
    (_times("[01/Jan/1970:00:00:00 +0000]"), datetime(1970, 1, 1, tzinfo=UTC)),
    (_times("[31/Dec/1969:23:00:00 -0100]"), datetime(1970, 1, 1, tzinfo=UTC)),  # the careful parser's edge
])
def test_times_at_the_edges_of_the_range_are_read(value: str, moment: datetime) -> None:
    assert one(value)["request_time"] == moment


def test_the_largest_64_bit_number_is_read() -> None:
    row = one(line().replace(" 2048 ", " 9223372036854775807 ").replace(" 4096 ", " 0000000000000000000000004096 "))
    assert (row["bytessent"], row["objectsize"]) == (2**63 - 1, 4096)
