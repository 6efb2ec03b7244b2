"""PNG figures for the evaluation report: metric per method, training curves, discriminator.

Figures are built with ``matplotlib.figure.Figure`` rather than ``pyplot``: a bare Figure
renders to PNG through the Agg canvas, so this module needs no GUI backend, never switches the
process-wide backend for other code, and never registers figures with pyplot (nothing to close,
nothing to leak). Empty input does not raise: it writes a figure that says "no data", so a
report that links the PNG still renders on a night with nothing to show.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

History = Sequence[Mapping[str, float]]

DPI = 100


def _save(fig: Figure, out_path: Path | str) -> Path:
    """Write ``fig`` as PNG (parents created) and return the path."""
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI, bbox_inches="tight")
    return path


def _no_data(ax: Axes, what: str = "no data") -> None:
    """Mark an axis as empty instead of leaving a blank frame."""
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, fontsize=12,
            color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def _no_data_figure(title: str, out_path: Path | str) -> Path:
    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    _no_data(ax)
    ax.set_title(title)
    return _save(fig, out_path)


def _finite(value: object) -> float | None:
    """``value`` as a float, or None when it is missing or not a finite number."""
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _ordered_unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


# --- metric per method ---

def _group_values(rows: Sequence[Mapping], metric: str,
                  role: str | None) -> dict[tuple[str, str], list[float]]:
    """(role, method) -> the metric's finite values, in row order (several seeds = several)."""
    out: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if role is not None and r.get("role") != role:
            continue
        v = _finite(r.get(metric))
        if v is not None:
            out.setdefault((str(r.get("role")), str(r.get("method"))), []).append(v)
    return out


def _role_label(rows: Sequence[Mapping], role: str) -> str:
    """The role name, with its user count when every method agrees on it."""
    users = {r.get("users") for r in rows if r.get("role") == role}
    return f"{role}\n(n={users.pop()})" if len(users) == 1 and None not in users else role


def metric_by_method(rows: Sequence[Mapping], out_path: Path | str, metric: str = "ndcg@10",
                     role: str | None = "cold_val") -> Path:
    """Grouped bar chart of ``metric``: one group per role, one bar per method.

    ``role`` keeps only that role (a single group; the default is the model-selection role);
    ``role=None`` plots every role as its own group. Several rows for one (method, role), e.g.
    one per seed, are drawn as mean with a ±std error bar. Rows that lack the metric, or hold a
    non-finite value (a role with no users), are skipped. Values are printed on the bars.
    """
    title = f"{metric} by method" + (f" ({role})" if role else "")
    groups = _group_values(rows, metric, role)
    if not groups:
        return _no_data_figure(title, out_path)
    roles = _ordered_unique(k[0] for k in groups)
    methods = _ordered_unique(k[1] for k in groups)
    width = 0.8 / len(methods)
    x = np.arange(len(roles))
    fig = Figure(figsize=(max(6.0, 1.2 + 0.9 * len(roles) * len(methods)), 4.5))
    ax = fig.add_subplot()
    for i, method in enumerate(methods):
        vals = [groups.get((r, method), []) for r in roles]
        mean = np.array([np.mean(v) if v else np.nan for v in vals])
        # NaN error = no error bar: a single run has no spread to show
        std = np.array([np.std(v) if len(v) > 1 else np.nan for v in vals])
        spread = not np.isnan(std).all()
        bars = ax.bar(x + (i - (len(methods) - 1) / 2) * width, np.nan_to_num(mean), width,
                      yerr=std if spread else None, capsize=3, label=method)
        labels = ["" if not v else f"{m:.3f}" + (f"±{s:.3f}" if len(v) > 1 else "")
                  for v, m, s in zip(vals, mean, std, strict=True)]
        ax.bar_label(bars, labels=labels, padding=2, fontsize=8)
    ax.set_xticks(x, [_role_label(rows, r) for r in roles])
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.margins(y=0.15)  # headroom for the value labels
    ax.legend(fontsize=8, loc="best")
    return _save(fig, out_path)


# --- training curves ---

def _stage_epochs(history: History, offset: float) -> tuple[np.ndarray, float]:
    """Global x of each epoch of a stage placed after ``offset``, and the stage's end."""
    local = [_finite(h.get("epoch")) for h in history]
    # an entry without an epoch counts as the next one
    x = np.array([e if e is not None else i + 1 for i, e in enumerate(local)], dtype=float)
    return offset + x, offset + (x.max() if len(x) else 0.0)


def _series(history: History, x: np.ndarray, key: str) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) points of ``key`` where the stage logged a finite value for it."""
    ys = [_finite(h.get(key)) for h in history]
    keep = np.array([y is not None for y in ys], dtype=bool)
    return x[keep], np.array([y for y in ys if y is not None], dtype=float)


def training_curves(histories: Mapping[str, History], out_path: Path | str,
                    keys: Sequence[str] = ("rec_loss", "val_ndcg@10")) -> Path:
    """One panel per key, stages laid end to end on a shared global epoch axis.

    ``histories`` maps stage name (in run order) to its per-epoch logs. A stage starts where
    the previous one ended; boundaries are dotted lines labelled with the stage name. A key
    missing from a stage (pretrain has no ``val_ndcg@10``) just leaves that stage out of the
    panel; a panel with no value at all says "no data".
    """
    stages = {name: h for name, h in histories.items() if h}
    if not stages:
        return _no_data_figure("training curves", out_path)
    fig = Figure(figsize=(8, 2.6 * len(keys) + 0.6))
    axes = fig.subplots(len(keys), 1, sharex=True, squeeze=False)[:, 0]
    offset, starts = 0.0, []
    for i, (name, history) in enumerate(stages.items()):
        x, end = _stage_epochs(history, offset)
        starts.append((name, offset))
        for ax, key in zip(axes, keys, strict=True):
            xs, ys = _series(history, x, key)
            if len(xs):
                ax.plot(xs, ys, marker="o", markersize=3, color=f"C{i}", label=name)
        offset = end
    for ax, key in zip(axes, keys, strict=True):
        if not ax.lines:
            _no_data(ax, f"no {key}")
        else:
            ax.legend(fontsize=8, loc="best")
        for _, start in starts[1:]:
            ax.axvline(start, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel(key)
    # stage names along the top, one per span
    for name, start in starts:
        axes[0].annotate(name, (start, 1.0), xycoords=("data", "axes fraction"),
                         xytext=(3, 3), textcoords="offset points", fontsize=8, color="grey")
    axes[-1].set_xlabel("global epoch (stages end to end)")
    axes[-1].set_xlim(0, max(offset, 1.0) + 0.5)
    fig.suptitle("training curves")
    return _save(fig, out_path)


# --- discriminator ---

def discriminator_accuracy(history: History, out_path: Path | str) -> Path:
    """The adapt stage's domain classifier per epoch, in three stacked panels.

    Top: ``disc_acc`` (and ``probe_acc`` when logged) against a dashed 0.5 line: a
    discriminator at chance means source- and target-history encodings are aligned. Middle:
    the gradient-reversal weight ``lambda``. Bottom: ``domain_loss``. Missing keys leave their
    panel saying so.
    """
    if not history:
        return _no_data_figure("domain discriminator", out_path)
    x, _ = _stage_epochs(history, 0.0)
    fig = Figure(figsize=(7, 7))
    acc, lam, loss = fig.subplots(3, 1, sharex=True)
    for key in ("disc_acc", "probe_acc"):
        xs, ys = _series(history, x, key)
        if len(xs):
            acc.plot(xs, ys, marker="o", markersize=3, label=key)
    if acc.lines:
        acc.axhline(0.5, color="black", linestyle="--", linewidth=1, label="aligned (0.5)")
        acc.set_ylim(0, 1.05)
        acc.legend(fontsize=8, loc="best")
    else:
        _no_data(acc, "no disc_acc")
    acc.set_ylabel("accuracy")
    for ax, key in ((lam, "lambda"), (loss, "domain_loss")):
        xs, ys = _series(history, x, key)
        if len(xs):
            ax.plot(xs, ys, marker="o", markersize=3, color="C2" if key == "lambda" else "C3")
        else:
            _no_data(ax, f"no {key}")
        ax.set_ylabel(key)
    loss.set_xlabel("adapt epoch")
    fig.suptitle("domain discriminator")
    return _save(fig, out_path)
