"""User tower pooling: padding anywhere is ignored; the GRU reads items in order."""

import pytest
import torch

from crossrec.data.vocab import PAD
from crossrec.models.two_tower import UserTower


@pytest.mark.parametrize("pooling", ["attention", "mean", "gru"])
def test_padding_position_does_not_change_the_vector(pooling):
    torch.manual_seed(0)
    tower = UserTower(n_items=20, dim=8, pooling=pooling).eval()
    plain = torch.tensor([[3, 5, 7]])
    holes = torch.tensor([[PAD, 3, PAD, 5, 7, PAD]])
    with torch.no_grad():
        assert torch.allclose(tower(plain), tower(holes), atol=1e-6)
        empty = tower(torch.tensor([[PAD, PAD]]))
    assert torch.isfinite(empty).all()


def test_gru_depends_on_order_and_mean_does_not():
    torch.manual_seed(0)
    gru, mean = UserTower(20, 8, "gru").eval(), UserTower(20, 8, "mean").eval()
    a, b = torch.tensor([[3, 5, 7]]), torch.tensor([[7, 5, 3]])
    with torch.no_grad():
        assert not torch.allclose(gru(a), gru(b), atol=1e-4)
        assert torch.allclose(mean(a), mean(b), atol=1e-6)


def test_gru_checkpoint_only_when_chosen():
    assert not any("gru" in k for k in UserTower(20, 8, "attention").state_dict())
    assert any("gru" in k for k in UserTower(20, 8, "gru").state_dict())
