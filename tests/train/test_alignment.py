"""Known answers for the domain probe: separable encodings score ~1, identical ones ~0.5."""

import torch

from crossrec.train.alignment import probe_accuracy


def _gaussians(n: int, dim: int, shift: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    xs = torch.randn(n, dim, generator=gen)
    xt = torch.randn(n, dim, generator=gen)
    xt[:, 0] += shift
    return xs, xt


def test_shifted_domains_are_separable():
    xs, xt = _gaussians(1000, 16, shift=6.0, seed=0)
    assert probe_accuracy(xs, xt) > 0.98


def test_identically_distributed_domains_are_not():
    xs, xt = _gaussians(1000, 16, shift=0.0, seed=1)
    assert abs(probe_accuracy(xs, xt) - 0.5) < 0.05


def test_accuracy_falls_as_the_domains_move_together():
    accs = [probe_accuracy(*_gaussians(1000, 16, shift=s, seed=2)) for s in (4.0, 1.0, 0.0)]
    assert accs[0] > accs[1] > accs[2]
