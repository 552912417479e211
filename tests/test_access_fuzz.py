"""Fuzz: mutated access-log files (bytes flipped, lines cut, joined, repeated, CR/CRLF/BOM, out-of-range values,
bytes that are not UTF-8) never raise, never lose or merge a line, and read the same whole or in slices.

S3LOGQ_FUZZ_EXAMPLES=5000 runs it long (the default keeps the suite quick).
"""

from __future__ import annotations

import os
import re

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import (
    DAMAGE,
    assert_fast_path_agrees_with_careful_parser,
    is_blank,
    records,
    split_lines,
)

from s3logq.demo import format_access_line
from s3logq.formats.access_log import UNREADABLE, line_slices, parse_access_logs

EXAMPLES = int(os.environ.get("S3LOGQ_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BOM = b"\xef\xbb\xbf"
LINE_END = re.compile(rb"\r\n|\r|\n")
RECORD_TIME = re.compile(rb"\[[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\]")
# Times at and past the edges of what can be stored, in zones that move them across the edge.
EDGE_TIMES = [b"[31/Dec/9999:23:30:00 -0100]", b"[01/Jan/0001:00:30:00 +0100]", b"[01/Mar/2300:10:00:00 +0000]",
              b"[31/Dec/2199:23:59:59 +0000]", b"[31/Dec/2199:23:30:00 -0100]", b"[01/Jan/1970:00:00:00 +0000]",
              b"[31/Dec/1969:23:59:59 +0000]", b"[29/Feb/2023:00:00:00 +0000]", b"[00/Jan/2024:24:60:60 +9999]"]
HUGE_NUMBERS = [b"9223372036854775807", b"9223372036854775808", b"18446744073709551616", b"0" * 30 + b"1",
                b"9" * 5000, b"-1", b"1e9", b"\xd9\xa2\xd9\xa0\xd9\xa0"]  # the last: Arabic-Indic "200"
NOT_UTF8 = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\x00"]


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """A few valid lines, damaged in the ways files are damaged, with mixed line ends."""
    lines = [format_access_line(record).encode() for record in draw(st.lists(records(), min_size=1, max_size=8))]
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(lines) - 1))
        target = lines[at]
        position = draw(st.integers(0, len(target)))
        kind = draw(st.sampled_from(["flip", "cut", "join", "repeat", "time", "number", "not_utf8", "damage",
                                     "line_end", "bom"]))
        if kind == "flip" and target:
            position = min(position, len(target) - 1)
            flipped = target[position] ^ draw(st.integers(1, 255))
            lines[at] = target[:position] + bytes([flipped]) + target[position + 1:]
        elif kind == "cut":
            lines[at] = target[:position]
        elif kind == "join" and at + 1 < len(lines):
            lines[at:at + 2] = [target + lines[at + 1]]
        elif kind == "repeat":
            lines.insert(at, target)
        elif kind == "time":
            edge = draw(st.sampled_from(EDGE_TIMES))
            lines[at] = edge.join(RECORD_TIME.split(target, maxsplit=1))
        elif kind == "number":
            tokens = target.split(b" ")
            column = draw(st.sampled_from([11, 13, 14, 15, 16]))  # status and the four numbers (time is 2 tokens)
            if column < len(tokens):
                tokens[column] = draw(st.sampled_from(HUGE_NUMBERS))
                lines[at] = b" ".join(tokens)
        elif kind == "not_utf8":
            lines[at] = target[:position] + draw(st.sampled_from(NOT_UTF8)) + target[position:]
        elif kind == "damage":
            lines[at] = target[:position] + draw(st.sampled_from(DAMAGE)).encode("utf-8", "surrogateescape") + target[position:]
        elif kind == "line_end":
            lines[at] = target[:position] + draw(st.sampled_from([b"\r", b"\n", b"\r\n"])) + target[position:]
        elif kind == "bom":
            lines[at] = BOM + target
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=len(lines), max_size=len(lines)))
    data = b"".join(line + end for line, end in zip(lines, ends, strict=True))
    if draw(st.booleans()):
        data = data.removesuffix(ends[-1])  # no final line end
    return (BOM if draw(st.integers(0, 4)) == 0 else b"") + data


def non_blank_line_numbers(data: bytes) -> list[int]:
    return [number for number, line in enumerate(split_lines(data), start=1) if not is_blank(line)]


def sorted_result(table, rejects) -> tuple[list, list]:  # noqa: ANN001
    rows = sorted(table.to_pylist(), key=lambda row: (row["log_file"], row["log_line"]))
    return rows, sorted(rejects, key=lambda reject: (reject.log_file, reject.log_line))


@FUZZ
@given(st.lists(mutated_files(), min_size=1, max_size=3))
def test_mutated_files_raise_nothing_and_every_non_blank_line_is_a_row_or_a_reject(files: list[bytes]) -> None:
    table, rejects = parse_access_logs([(data, f"f{n}") for n, data in enumerate(files)])
    assert not [r for r in rejects if r.reason.startswith(UNREADABLE)]
    for n, data in enumerate(files):
        read = [row["log_line"] for row in table.to_pylist() if row["log_file"] == f"f{n}"]
        rejected = [r.log_line for r in rejects if r.log_file == f"f{n}"]
        assert sorted(read + rejected) == non_blank_line_numbers(data)
        lines = split_lines(data)
        assert all(len(RECORD_TIME.findall(lines[number - 1])) == 1 for number in read), "a row holds two records"
        of_file = table.filter(pc.equal(table.column("log_file").cast(pa.string()), f"f{n}"))
        assert_fast_path_agrees_with_careful_parser(data, of_file)


@FUZZ
@given(mutated_files(), st.data())
def test_a_file_read_in_slices_cut_at_line_ends_reads_as_the_whole_file(data: bytes, draw: st.DataObject) -> None:
    ends = [match.end() for match in LINE_END.finditer(data)]
    cuts = sorted(set(draw.draw(st.lists(st.sampled_from(ends), max_size=4)) if ends else []))
    bounds = [0, *cuts, len(data)]
    first_lines = [1 + sum(1 for end in ends if end <= start) for start in bounds[:-1]]
    slices = [(data[a:b], "f", first) for a, b, first in zip(bounds, bounds[1:], first_lines, strict=False)]
    table, rejects = parse_access_logs(slices)
    assert sorted_result(table, rejects) == sorted_result(*parse_access_logs([(data, "f")]))
    # one name per file in log_file's dictionary, however many slices it came in (rows are counted per name)
    assert all(chunk.dictionary.to_pylist() == ["f"] for chunk in table.column("log_file").chunks)


@FUZZ
@given(mutated_files(), st.lists(st.integers(1, 300), min_size=1, max_size=20), st.integers(1, 600))
def test_line_slices_of_a_stream_read_as_the_whole_file(data: bytes, piece_sizes: list[int], slice_bytes: int) -> None:
    pieces, at = [], 0
    while at < len(data):
        size = piece_sizes[len(pieces) % len(piece_sizes)]
        pieces.append(data[at:at + size])
        at += size
    slices = [(part, "f", first) for part, first in line_slices(pieces, slice_bytes)]
    assert b"".join(part for part, _, _ in slices) == data
    assert sorted_result(*parse_access_logs(slices)) == sorted_result(*parse_access_logs([(data, "f")]))


@FUZZ
@given(st.lists(st.sampled_from([b"\n", b"\r", b"\r\n", b"a", b" ", b"\x00", b"\xff"]), max_size=300),
       st.integers(0, 70))
def test_native_line_end_count_is_lf_plus_lone_cr(pieces: list[bytes], pad: int) -> None:
    from s3logq.formats._access_tokenizer import count_line_ends

    data = b"x" * pad + b"".join(pieces)  # lengths across the vectorised loop's block sizes
    assert count_line_ends(data) == data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    assert count_line_ends(bytearray(data)) == count_line_ends(memoryview(data)) == count_line_ends(data)
