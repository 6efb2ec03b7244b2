import torch

from crossrec.models.discriminator import DomainDiscriminator
from crossrec.models.grl import GradientReversal, grad_reverse
from crossrec.models.two_tower import TwoTower, TwoTowerConfig
from crossrec.train.schedules import grl_lambda


def test_forward_identity_backward_reversed_and_scaled():
    x = torch.randn(4, 3, requires_grad=True)
    y = GradientReversal()(x, 0.5)
    assert torch.equal(y, x)
    y.sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, -0.5))


def test_zero_lambda_blocks_gradient():
    x = torch.randn(2, requires_grad=True)
    (grad_reverse(x, 0.0) * 3).sum().backward()
    assert torch.equal(x.grad, torch.zeros(2))


def test_lambda_schedule_endpoints_and_monotone():
    assert grl_lambda(0.0) == 0.0 and abs(grl_lambda(1.0) - 1) < 1e-4
    vals = [grl_lambda(p / 10) for p in range(11)]
    assert vals == sorted(vals)


def test_discriminator_and_towers_shapes_and_empty_history():
    cfg = TwoTowerConfig(n_items=6, domains=["a", "b"], domain_ranges=[(1, 4), (4, 7)], dim=8)
    model = TwoTower(cfg)
    hist = torch.tensor([[1, 2, 0], [0, 0, 0]])
    u = model.encode_users(hist)
    assert u.shape == (2, 8) and torch.isfinite(u).all()
    assert model.logits(u, "b").shape == (2, 3)
    assert DomainDiscriminator(8, 16)(u).shape == (2,)
