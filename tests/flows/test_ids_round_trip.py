"""The user's ids come back as the user's ids: published lists and explanations join the
input catalogue with no string surgery, whatever the ids look like."""

import re

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from crossrec.collect.sources import SyntheticSource
from crossrec.collect.synthetic import SyntheticWorld
from crossrec.layout import Layout
from tests.conftest import RUN_DATE, tiny_settings


def export(path, style):
    """A plain CSV export of a small synthetic world, its item ids in the given style:
    ``colon`` keeps ids that already hold ':' (``cloth:12``), ``bare`` drops the prefix, so
    the same id (``12``) names a sport item and a different cloth item."""
    world = SyntheticWorld(SyntheticSource(n_users=300, n_items=60, seed=3), "sport", "cloth")
    rows = []
    for batch in world.interactions(RUN_DATE, 100_000):
        for user, item, domain in zip(batch["user_id"].to_pylist(), batch["item_id"].to_pylist(),
                                      batch["domain"].to_pylist(), strict=True):
            rows.append((user, item if style == "colon" else item.split(":", 1)[1], domain))
    with path.open("w") as fh:
        fh.write("user_id,item_id,domain,rating\n")
        fh.writelines(f"{u},{i},{d},5\n" for u, i, d in rows)
    return rows


@pytest.mark.parametrize("style", ["colon", "bare"])
def test_published_ids_join_the_input_catalogue_unchanged(tmp_path, prefect_harness, style):
    from flows.nightly import nightly

    rows = export(tmp_path / "export.csv", style)
    settings = tiny_settings(tmp_path / "data", sources=[{
        "kind": "csv", "path": str(tmp_path / "export.csv"),
        "columns": {"user_id": "user_id", "item_id": "item_id", "domain": "domain",
                    "rating": "rating"}}])
    out = nightly(run_date=RUN_DATE, settings=settings)
    assert out["recommendations"]
    published = pq.read_table(Layout(settings.data_dir).recommendations(RUN_DATE, "cloth"))
    assert published.num_rows > 0

    catalogue = {d: {i for _, i, dom in rows if dom == d} for d in ("sport", "cloth")}
    owned = {}
    for u, i, d in rows:
        owned.setdefault((u, d), set()).add(i)
    users = {u for u, _, _ in rows}
    for row in published.to_pylist():
        assert row["user_id"] in users
        assert row["item_id"] in catalogue["cloth"]  # a plain join on the catalogue works
        assert row["item_id"] not in owned.get((row["user_id"], "cloth"), set())
        # the source items behind a row are the user's own, as the user wrote them
        assert set(row["explanation"] or []) <= owned.get((row["user_id"], "sport"), set())
    if style == "colon":  # never a second prefix
        assert all(i.startswith("cloth:") and not i.startswith("cloth:cloth:")
                   for i in published["item_id"].to_pylist())
    else:
        assert all(re.fullmatch(r"\d+", i) for i in published["item_id"].to_pylist())
    # the exported catalogue joins back as it is: every published id is a row of it
    exported = pcsv.read_csv(tmp_path / "export.csv",
                             convert_options=pcsv.ConvertOptions(
                                 column_types={"item_id": "string", "user_id": "string"}))
    cloth = exported.filter(exported["domain"].to_numpy(zero_copy_only=False) == "cloth")
    ids = cloth.select(["item_id"]).group_by("item_id").aggregate([])
    joined = published.select(["user_id", "item_id"]).join(ids, "item_id", join_type="inner")
    assert joined.num_rows == published.num_rows
