import pyarrow.compute as pc
import pytest

from crossrec.collect.disencdr import read_pair
from crossrec.errors import InputDataError
from tests.conftest import RUN_DATE, require_shared_data


def make_pair(root, src_lines, tgt_lines):
    for name, lines in (("sport_cloth", src_lines), ("cloth_sport", tgt_lines)):
        (root / name).mkdir(parents=True)
        (root / name / "train.txt").write_text("".join(lines))


def test_reads_both_domains_and_quarantines_bad_lines(tmp_path):
    make_pair(tmp_path, ["1\t10\t1\n", "2\t11\t1\n", "garbage\n", "\t12\t1\n"],
              ["1\t10\t1\n", "3\t\t1\n"])
    rows, bad = read_pair(tmp_path, "sport", "cloth", RUN_DATE)
    assert rows.num_rows == 3
    assert set(rows["item_id"].to_pylist()) == {"sport:10", "sport:11", "cloth:10"}
    assert bad.num_rows == 3
    lines = sorted(zip(bad["file"].to_pylist(), bad["line"].to_pylist(),
                       bad["column"].to_pylist(), strict=True))
    assert (str(tmp_path / "sport_cloth" / "train.txt"), 3, "item") in lines
    assert (str(tmp_path / "sport_cloth" / "train.txt"), 4, "user") in lines
    assert (str(tmp_path / "cloth_sport" / "train.txt"), 2, "item") in lines


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputDataError, match="sport_cloth"):
        read_pair(tmp_path, "sport", "cloth", RUN_DATE)


def test_real_sport_cloth_pair():
    root = require_shared_data()
    rows, bad = read_pair(root, "sport", "cloth", RUN_DATE)
    assert bad.num_rows == 0
    sport = rows.filter(pc.equal(rows["domain"], "sport"))
    # README: 92,612 sport train rows, plus one test_original row per shared user (9,928)
    assert sport.num_rows == 92_612 + 9_928
    assert pc.count_distinct(rows["user_id"]).as_py() == 9_928
