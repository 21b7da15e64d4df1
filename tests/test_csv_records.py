"""The CSV scanner: the same records as Python's csv module, at exact lines, in any block size."""

from __future__ import annotations

import csv
import io
import random
import re

import pytest

from flywheel_pipeline.sources.files.csv_records import CsvReader
from flywheel_pipeline.sources.files.parsed import FileRejected


def _read(data: bytes, block_bytes: int = 1 << 20) -> tuple[list, list]:
    """(line, record) per row and (line, reason) per problem."""
    reader = CsvReader(io.BytesIO(data), "f.csv", block_bytes=block_bytes)
    rows, problems = [], []
    for chunk in reader.chunks():
        problems += [(p.line, p.reason) for p in chunk.problems]
        values = zip(*(column.to_pylist() for column in chunk.rows.columns), strict=True)
        rows += list(zip(chunk.lines.tolist(), map(list, values), strict=True))
    return rows, problems


def _reference(text: str) -> list[tuple[int, list[str]]]:
    """Python's csv module, lines split at LF only, as (first line, record), header dropped."""
    lines = [line for line in re.split(r"(?<=\n)", text) if line]
    reader = csv.reader(iter(lines))
    records, previous = [], 0
    for record in reader:
        records.append((previous + 1, record))
        previous = reader.line_num
    return [(line, [v.removesuffix("\r") for v in r]) for line, r in records[1:] if r]


_VALUES = ["a", "b c", "x,y", 'say "hi"', "multi\nline", "", "55'", "é", "two\r\nlines"]


@pytest.mark.parametrize("seed", range(2))
def test_well_formed_files_read_as_the_csv_module_reads_them(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(60):
        columns = rnd.randint(1, 4)
        out = io.StringIO()
        writer = csv.writer(
            out,
            lineterminator=rnd.choice(["\n", "\r\n"]),
            quoting=rnd.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
        )
        writer.writerow([f"c{i}" for i in range(columns)])
        writer.writerows(
            [rnd.choice(_VALUES) for _ in range(columns)] for _ in range(rnd.randint(0, 30))
        )
        text = out.getvalue()
        if rnd.random() < 0.3:
            text = text.rstrip("\r\n")  # no newline at the end of the file
        rows, problems = _read(text.encode(), block_bytes=rnd.randint(1, 64))
        assert problems == []
        assert rows == _reference(text), text


@pytest.mark.parametrize("seed", range(2))
def test_malformed_files_agree_with_the_csv_module_up_to_the_first_problem(seed: int) -> None:
    rnd = random.Random(seed)
    pieces = ["a", "b c", ",", '"', '""', "\n", "\r\n", "é", " "]
    for _ in range(300):
        columns = rnd.randint(1, 3)
        body = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 50)))
        text = ",".join(f"c{i}" for i in range(columns)) + "\n" + body
        lines = [line for line in re.split(r"(?<=\n)", text) if line]
        try:
            list(csv.reader(iter(lines), strict=True))
            strict = True
        except csv.Error:
            strict = False
        reference = _reference(text)
        rows, problems = _read(text.encode(), block_bytes=rnd.randint(1, 32))
        if strict and all(len(r) == columns for _, r in reference):
            assert problems == [], text  # a file Python reads strictly has no problems
        first_problem = min((line for line, _ in problems), default=float("inf"))
        before = [(n, r) for n, r in reference if n < first_problem]
        assert [row for row in rows if row[0] < first_problem] == before, text


def test_quoted_newlines_keep_later_rows_on_their_physical_lines() -> None:
    data = b'id,note\n1,"two\nlines"\n2,plain\n\n3,"x ""quoted"" ,\n\nthree"\n4,last'
    for block in (1, 7, 1 << 20):
        rows, problems = _read(data, block)
        assert rows == [
            (2, ["1", "two\nlines"]),
            (4, ["2", "plain"]),
            (6, ["3", 'x "quoted" ,\n\nthree']),
            (9, ["4", "last"]),
        ]
        assert problems == []


def test_an_unbalanced_quote_costs_one_line_and_reading_resumes() -> None:
    never_closed = b'id,note\n1,ok\n2,"never closed\n3,fine\n4,also fine\n'
    closed_lines_later = b'id,note\n1,ok\n2,"closed later\n3,fine\n4,"x",y\n5,end\n'
    for data, ids, bad_lines in [
        (never_closed, ["1", "3", "4"], [3]),
        (closed_lines_later, ["1", "3", "5"], [3, 5]),
    ]:
        rows, problems = _read(data)
        assert [row[1][0] for row in rows] == ids
        assert [line for line, _ in problems] == bad_lines
        assert problems[0][1].startswith("line: unbalanced quote")


def test_rows_with_the_wrong_number_of_fields_are_reported_by_line() -> None:
    rows, problems = _read(b"a,b\n1,2\n3\n4,5,6\n\n7,8\n")
    assert rows == [(2, ["1", "2"]), (6, ["7", "8"])]
    assert problems == [
        (3, "line: expected 2 fields, found 1"),
        (4, "line: expected 2 fields, found 3"),
    ]


def test_a_stray_quote_inside_a_field_is_text() -> None:
    rows, problems = _read(b'sku,name\n1,TV 55" wide\n2,"Say ""hi"""\n')
    assert rows == [(2, ["1", 'TV 55" wide']), (3, ["2", 'Say "hi"'])]
    assert problems == []


def test_byte_order_mark_and_crlf_are_read_through() -> None:
    rows, problems = _read(b"\xef\xbb\xbfid,name\r\n1,Ann\r\n\r\n2,Bo\r\n")
    assert rows == [(2, ["1", "Ann"]), (4, ["2", "Bo"])]
    assert problems == []


def test_a_lone_carriage_return_is_data_not_a_line_end() -> None:
    rows, problems = _read(b"id,name\n1,A\rB\n2,C\n")
    assert rows == [(2, ["1", "A\rB"]), (3, ["2", "C"])]
    assert problems == []


def test_duplicate_column_names_reject_the_file() -> None:
    with pytest.raises(FileRejected, match=r"f\.csv, line 1: duplicate column 'ID'"):
        CsvReader(io.BytesIO(b"id,ID\n1,2\n"), "f.csv")
