"""The FER2013 CSV codec: round trip and every malformed-row case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fer_tables import random_table

from ferflow.data.fer_csv import HEADER, read_fer2013_csv, write_fer2013_csv
from ferflow.errors import FerflowError


def test_round_trip_is_exact(tmp_path: Path) -> None:
    table = random_table(30, seed=3)
    path = tmp_path / "fer2013.csv"
    write_fer2013_csv(path, table)
    back = read_fer2013_csv(path)
    assert np.array_equal(back.images, table.images)
    assert np.array_equal(back.labels, table.labels)
    assert list(back.usages) == list(table.usages)
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    assert len(lines[1].split(",")[1].split(" ")) == 2304


def test_reads_crlf_and_no_trailing_newline(tmp_path: Path) -> None:
    table = random_table(5)
    path = tmp_path / "a.csv"
    write_fer2013_csv(path, table)
    path.write_bytes(path.read_bytes().rstrip(b"\n").replace(b"\n", b"\r\n"))
    assert np.array_equal(read_fer2013_csv(path).images, table.images)


def _corrupt(path: Path, line_no: int, edit) -> None:
    lines = path.read_text().split("\n")
    emotion, pixels, usage = lines[line_no - 1].split(",")
    lines[line_no - 1] = edit(emotion, pixels.split(" "), usage)
    path.write_text("\n".join(lines))


MALFORMED = {
    "too few pixels": (lambda e, p, u: f"{e},{' '.join(p[:-1])},{u}", "2303 values"),
    "too many pixels": (lambda e, p, u: f"{e},{' '.join(p + ['7'])},{u}", "2305 values"),
    "non-numeric pixel": (lambda e, p, u: f"{e},{' '.join(['12a'] + p[1:])},{u}", "'12a'"),
    "pixel above 255": (lambda e, p, u: f"{e},{' '.join(p[:5] + ['256'] + p[6:])},{u}", "256"),
    "negative pixel": (lambda e, p, u: f"{e},{' '.join(['-3'] + p[1:])},{u}", "'-3'"),
    "unknown label": (lambda e, p, u: f"7,{' '.join(p)},{u}", "emotion '7'"),
    "non-numeric label": (lambda e, p, u: f"happy,{' '.join(p)},{u}", "emotion 'happy'"),
    "unknown usage": (lambda e, p, u: f"{e},{' '.join(p)},Validation", "Usage 'Validation'"),
    "missing field": (lambda e, p, u: f"{e},{' '.join(p)}", "2 comma-separated fields"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_row_names_line_and_fault(write_csv, case: str) -> None:
    path = write_csv(rows=20)
    edit, expected = MALFORMED[case]
    _corrupt(path, 9, edit)  # file line 9 = data row 7
    with pytest.raises(FerflowError) as info:
        read_fer2013_csv(path)
    message = str(info.value)
    assert "line 9 (row 7)" in message
    assert expected in message
    assert "1 malformed row" in message


def test_every_bad_row_is_listed(write_csv) -> None:
    path = write_csv(rows=20)
    _corrupt(path, 3, MALFORMED["unknown label"][0])
    _corrupt(path, 15, MALFORMED["too few pixels"][0])
    message = str(pytest.raises(FerflowError, read_fer2013_csv, path).value)
    assert "2 malformed row" in message
    assert message.index("line 3 ") < message.index("line 15 ")


def test_wrong_header_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("label,image\n1,2\n")
    assert "expected the FER2013 header" in str(pytest.raises(FerflowError, read_fer2013_csv,
                                                              path).value)
    assert "file not found" in str(pytest.raises(FerflowError, read_fer2013_csv,
                                                 tmp_path / "nope.csv").value)
