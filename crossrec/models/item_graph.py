"""The item-to-item part of the model: a random walk over the joint user-item graph.

A cold-start user has only source items; the strongest evidence for which target items they
want is which target items *other* users bought together with those same source items. The
two-tower model compresses that into d-dimensional vectors, which loses most of it on sparse
catalogues (items with a handful of buyers). This graph keeps it item by item:

    W[i, j] = sum over users v of P(i -> v)^alpha * P(v -> j)^alpha / popularity(j)^beta

(three steps item -> user -> item, as in RP3beta: Paudel et al., 2017). ``alpha`` < 1 flattens
the transition probabilities (heavy users and rare items count less extremely) and ``beta`` > 0
discounts popular targets; ``beta`` < 0 (outside RP3beta's range) favours them instead, which
pays on sparse pairs where a cold user's few co-occurrences are weak evidence. A user's graph
score for target item j sums W over their history.

:func:`cosine_weights` is the other kind of graph the bundle may choose: plain cosine between
item columns (the co-occurrence kNN baseline's), kept to each item's nearest neighbours. Where
few users are in both domains it ranks cold users better than the walk (measured by the
bundle's cross-validation, ``crossrec/bundle/crossval.py``).
Built from *training* rows only, with scipy sparse products (no loop over users or items).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from crossrec.data.domain import DomainData
from crossrec.data.sparse import cross_cosine, interaction_matrix, within_domain_cosine


def _row_normalised(m: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    degree = np.asarray(m.sum(axis=1)).ravel()
    out = (sp.diags(1.0 / np.maximum(degree, 1.0)) @ m).tocsr()
    out.data **= alpha
    return out


def walk_weights(xs: sp.csr_matrix, xt: sp.csr_matrix, alpha: float,
                 beta: float) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """RP3beta weights (source -> target, target -> target) of users' binary rows ``xs``
    (source items) and ``xt`` (target items), rows aligned."""
    ns = xs.shape[1]
    joint = sp.hstack([xs, xt]).tocsr()
    user_to_item = _row_normalised(joint, alpha)
    item_to_user = _row_normalised(joint.T.tocsr(), alpha)
    popularity = np.asarray(xt.sum(axis=0)).ravel()
    discount = sp.diags(1.0 / np.maximum(popularity, 1.0) ** beta)
    to_target = (user_to_item[:, ns:] @ discount).tocsr()
    st = (item_to_user[:ns] @ to_target).tocsr()
    tt = (item_to_user[ns:] @ to_target).tocsr()
    tt.setdiag(0.0)  # an item is not evidence for itself
    tt.eliminate_zeros()
    return st.astype(np.float32), tt.astype(np.float32)


def cosine_weights(xs: sp.csr_matrix, xt: sp.csr_matrix, neighbours: int | None,
                   shrink: float) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Cosine weights (source -> target over the users in both domains, target -> target
    without self-similarity) of binary rows ``xs`` and ``xt``, the ``neighbours`` largest per
    item (None keeps all); ``shrink`` damps pairs few users support."""
    return (cross_cosine(xs, xt, neighbours, shrink),
            within_domain_cosine(xt, neighbours, shrink))


@dataclass(frozen=True)
class ItemGraph:
    """Item -> target item weights: from source items (cold users) and from target items."""

    source_to_target: sp.csr_matrix
    """(n_source_items x n_target_items), catalogue-local indices."""
    target_to_target: sp.csr_matrix
    """(n_target_items x n_target_items), zero diagonal."""

    @classmethod
    def build(cls, data: DomainData, alpha: float = 0.5, beta: float = 0.3) -> ItemGraph:
        (s0, s1), (t0, t1) = data.vocab.domain_ranges
        xs = interaction_matrix(data.train_hist[data.source], s0, s1 - s0)
        xt = interaction_matrix(data.train_hist[data.target], t0, t1 - t0)
        st, tt = walk_weights(xs, xt, alpha, beta)
        return cls(st, tt)

    def scores(self, source_rows: sp.csr_matrix, target_rows: sp.csr_matrix) -> np.ndarray:
        """Dense (users x n_target_items) scores from users' binary history rows."""
        return (source_rows @ self.source_to_target + target_rows @ self.target_to_target
                ).toarray()
