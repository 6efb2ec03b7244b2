import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossrec.collect.disencdr import pair_files, read_pair
from crossrec.collect.rows import QuarantineLog, RowLog
from crossrec.errors import InputDataError
from tests.conftest import RUN_DATE


def make_pair(root, src_lines, tgt_lines):
    for name, lines in (("sport_cloth", src_lines), ("cloth_sport", tgt_lines)):
        (root / name).mkdir(parents=True)
        (root / name / "train.txt").write_text("".join(lines))


def test_reads_both_domains_and_quarantines_bad_lines(tmp_path):
    make_pair(tmp_path, ["1\t10\t1\n", "2\t11\t1\n", "garbage\n", "\t12\t1\n"],
              ["1\t10\t1\n", "3\t\t1\n"])
    qlog = QuarantineLog(tmp_path / "q.parquet")
    log = RowLog(qlog)
    files = pair_files(tmp_path, "sport", "cloth")
    rows = pa.Table.from_batches(list(read_pair(files, RUN_DATE, log, 100)))
    qlog.close()
    assert rows.num_rows == 3
    assert set(rows["item_id"].to_pylist()) == {"sport:10", "sport:11", "cloth:10"}
    bad = pq.read_table(qlog.path)
    lines = sorted(zip(bad["file"].to_pylist(), bad["line"].to_pylist(),
                       bad["column"].to_pylist(), strict=True))
    assert lines == sorted([(str(tmp_path / "sport_cloth" / "train.txt"), 3, "item"),
                            (str(tmp_path / "sport_cloth" / "train.txt"), 4, "user"),
                            (str(tmp_path / "cloth_sport" / "train.txt"), 2, "item")])
    assert sum(t.read for t in log.files.values()) == 6


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputDataError, match="sport_cloth"):
        pair_files(tmp_path, "sport", "cloth")
