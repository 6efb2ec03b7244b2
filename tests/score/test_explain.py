import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from crossrec.ranking.explain import explain, explanation_array


def test_graph_contributions_known_answer():
    # W[source i, target j]
    w = sp.csr_matrix(np.array([[0.5, 0.0, 0.1],
                                [0.2, 0.0, 0.9],
                                [0.7, 0.0, 0.0]], dtype=np.float32))
    hist = [np.array([0, 1, 2]), np.array([1]), np.zeros(0, dtype=np.int64)]
    recs = np.array([[0, 2, 1], [2, 0, -1], [0, 1, 2]])
    got = explain(hist, recs, 2, graph=w)
    assert got[0].tolist() == [[2, 0], [1, 0], [-1, -1]]  # item 1 (column 1) has no support
    assert got[1].tolist() == [[1, -1], [1, -1], [-1, -1]]  # padding column -1 stays empty
    assert (got[2] == -1).all()  # no source history, nothing explains


def test_embedding_contributions_keep_only_positive_dot_products():
    src = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
    tgt = np.array([[2.0, 1.0], [-1.0, -1.0]], dtype=np.float32)
    got = explain([np.array([0, 1, 2])], np.array([[0, 1]]), 3,
                  source_vectors=src, target_vectors=tgt)
    # target 0: dots 2, 1, -2 -> items 0 then 1; target 1: dots -1, -1, 1 -> item 2 only
    assert got[0].tolist() == [[0, 1, -1], [2, -1, -1]]


def test_explanation_column_holds_item_ids_and_nulls():
    ids = np.array(["", "s:a", "s:b"], dtype=object)
    arr = explanation_array(np.array([[2, 1], [-1, -1], [1, -1]]), ids)
    assert arr.type == pa.list_(pa.string())
    assert arr.to_pylist() == [["s:b", "s:a"], None, ["s:a"]]


def test_explain_needs_a_source_of_weights():
    with pytest.raises(ValueError, match="graph or both"):
        explain([np.array([0])], np.array([[0]]), 1)
    with pytest.raises(ValueError, match="n >= 1"):
        explain([np.array([0])], np.array([[0]]), 0)
