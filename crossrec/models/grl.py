"""Gradient reversal (Ganin & Lempitsky, 2015): identity forward, ``-lambda * grad`` backward."""

from __future__ import annotations

import torch


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.lambd * grad, None


def grad_reverse(x: torch.Tensor, lambd: float) -> torch.Tensor:
    """Pass ``x`` through unchanged; scale its gradient by ``-lambd`` on the way back."""
    return _ReverseGrad.apply(x, lambd)


class GradientReversal(torch.nn.Module):
    """Module form; ``lambd`` is passed per call because it follows a schedule."""

    def forward(self, x: torch.Tensor, lambd: float) -> torch.Tensor:
        return grad_reverse(x, lambd)
