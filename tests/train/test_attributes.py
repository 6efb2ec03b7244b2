"""Item attributes: known codes per vocabulary index, and models that carry them."""

import numpy as np
import polars as pl
import torch

from crossrec.data.vocab import Vocabulary
from crossrec.models.two_tower import TwoTower, TwoTowerConfig
from crossrec.train.attributes import PRICE_BUCKETS, item_attributes, price_bucket
from crossrec.train.checkpoint import load_model, save_model
from tests.conftest import RUN_DATE

ITEMS = pl.DataFrame({"item_id": ["sport:a", "sport:b", "cloth:a", "cloth:b"],
                      "domain": ["sport", "sport", "cloth", "cloth"]})


def test_price_buckets_are_half_octaves_with_unknown_as_zero():
    got = price_bucket(np.array([0.0, 1.0, 3.0, 100.0, 1e9, np.nan, -5.0]))
    # 1 + floor(2 * log2(1 + p)): 0 -> 1, 1 -> 3, 3 -> 5, 100 -> 14, huge -> capped
    assert got.tolist() == [1, 3, 5, 14, PRICE_BUCKETS, 0, 0]


def test_codes_follow_the_vocabulary_and_skip_uninformative_fields():
    vocab = Vocabulary.from_items(ITEMS, ["sport", "cloth"])
    features = pl.DataFrame({
        "item_id": ["cloth:b", "sport:a", "sport:b", "cloth:a"],
        "category": ["shirts", "balls", "shirts", None],
        "brand": ["acme", "acme", "acme", "acme"],  # one value: tells nothing apart
        "price": [10.0, None, 3.0, 3.0],
    })
    attrs = item_attributes(features, vocab)
    assert list(attrs.cardinality) == ["category", "price"]
    assert attrs.cardinality["category"] == 3  # unknown + balls + shirts
    by_item = {vocab.item_ids[i]: attrs.codes[i].tolist() for i in range(1, 5)}
    assert by_item == {"sport:a": [1, 0], "sport:b": [2, 5], "cloth:a": [0, 5],
                       "cloth:b": [2, 7]}
    assert attrs.codes[0].tolist() == [0, 0]  # padding


def test_no_attributes_at_all_gives_none():
    vocab = Vocabulary.from_items(ITEMS, ["sport", "cloth"])
    empty = pl.DataFrame({"item_id": ["sport:a"], "category": [None], "brand": [None],
                          "price": [None]}, schema={"item_id": pl.String, "category": pl.String,
                                                    "brand": pl.String, "price": pl.Float64})
    assert item_attributes(empty, vocab) is None


def test_shared_attributes_link_items_and_survive_a_checkpoint(tmp_path):
    vocab = Vocabulary.from_items(ITEMS, ["sport", "cloth"])
    codes = torch.tensor([[0], [1], [2], [1], [2]])  # sport:a ~ cloth:a, sport:b ~ cloth:b
    cfg = TwoTowerConfig(n_items=4, domains=vocab.domains, domain_ranges=vocab.domain_ranges,
                         dim=8, attributes={"category": 3})
    torch.manual_seed(0)
    model = TwoTower(cfg, codes)
    with torch.no_grad():  # ids say nothing: only the attribute embedding differs
        model.item_tower.embedding.weight.zero_()
    vecs, _ = model.catalogue("cloth")
    items = model.item_vectors(torch.tensor([1, 3]))  # sport:a, cloth:a share category 1
    assert torch.equal(items[0], items[1]) and torch.equal(vecs[0], items[1])
    folder = save_model(tmp_path, model, vocab, RUN_DATE, {}, {})
    again, _ = load_model(folder)  # rebuilt from config; the codes come back with the weights
    assert torch.equal(again.attributes.codes, codes)
    history = torch.tensor([[1, 2], [3, 0]])
    assert torch.equal(again.encode_users(history), model.encode_users(history))
