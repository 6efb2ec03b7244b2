"""The one-way dependency rule of docs/architecture.md, checked on every import statement
(module level and inside functions) of crossrec/ and flows/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

RANKS: dict[str, int] = {
    # 0: the foundation: errors, atomic files, locks, schemas, the data-folder layout
    **dict.fromkeys(["crossrec", "crossrec.errors", "crossrec.strict", "crossrec.storage",
                     "crossrec.integrity", "crossrec.lock", "crossrec.schemas",
                     "crossrec.sqlvars", "crossrec.progress", "crossrec.layout",
                     "crossrec.collect.sources"], 0),
    # 1: the settings, composed from each component's config
    "crossrec.config": 1,
    # 2: the floor and the data pipeline
    **dict.fromkeys(["crossrec.data", "crossrec.ranking", "crossrec.metrics",
                     "crossrec.collect", "crossrec.features", "crossrec.validate",
                     "crossrec.clicks"], 2),
    "crossrec.models": 3,
    "crossrec.train": 4,
    "crossrec.bundle": 5,
    **dict.fromkeys(["crossrec.evaluate", "crossrec.score"], 6),
    # 7: the champion/challenger policy and the services around the pipeline
    **dict.fromkeys(["crossrec.gate", "crossrec.registry", "crossrec.backfill",
                     "crossrec.status", "crossrec.deploy", "crossrec.server",
                     "crossrec.runners"], 7),
    **dict.fromkeys(["crossrec.cli", "flows"], 8),
}
"""A module may import modules of its own rank or below, never above."""


def rank(module: str) -> int:
    """The rank of the longest listed prefix of ``module``."""
    if module == "crossrec":  # the package itself (its version string)
        return 0
    parts = module.split(".")
    for n in range(len(parts), 1 if parts[0] == "crossrec" else 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in RANKS:
            return RANKS[prefix]
    raise KeyError(f"{module} has no rank in tests/test_architecture.py: give it one")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every crossrec/flows import in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out += [(node.lineno, n) for n in names if n.split(".")[0] in ("crossrec", "flows")]
    return out


def sources() -> list[Path]:
    return sorted([*ROOT.glob("crossrec/**/*.py"), *ROOT.glob("flows/*.py")])


def violations(files: list[Path], root: Path = ROOT) -> list[str]:
    bad = []
    for path in files:
        me = module_name(path, root)
        for line, target in imports(path):
            if rank(target) > rank(me):
                bad.append(f"{path.relative_to(root)}:{line}: {me} (rank {rank(me)}) imports "
                           f"{target} (rank {rank(target)})")
    return bad


def cycles(files: list[Path]) -> list[list[str]]:
    """Import cycles between modules (a package's __init__ counts as its own module)."""
    return _cycles(files, ROOT)


def _cycles(files: list[Path], root: Path) -> list[list[str]]:
    known = {module_name(p, root) for p in files}
    graph = {module_name(p, root): {t for _, t in imports(p) if t in known} for p in files}
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_every_module_has_a_rank():
    for path in sources():
        rank(module_name(path))  # raises for a new top-level module nobody placed


def test_imports_only_run_downwards():
    assert violations(sources()) == []


def test_no_import_cycles():
    assert cycles(sources()) == []


def test_the_check_catches_an_upward_import(tmp_path):
    # a model module importing the scorer: the rule must see it, in a function body too
    fake = tmp_path / "crossrec" / "models" / "_probe_upward.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("import numpy\n\n\ndef f():\n"
                    "    from crossrec.score.publish import check_staging\n")
    found = violations([fake], tmp_path)
    assert len(found) == 1 and "crossrec.models._probe_upward (rank 3)" in found[0]
    assert "crossrec.score.publish (rank 6)" in found[0]


def test_the_check_catches_a_cycle(tmp_path):
    for name, other in (("a", "b"), ("b", "a")):
        path = tmp_path / "crossrec" / f"{name}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"from crossrec.{other} import x\n")
    files = sorted((tmp_path / "crossrec").glob("*.py"))
    assert _cycles(files, tmp_path) == [["crossrec.a", "crossrec.b", "crossrec.a"]]


def test_an_unplaced_package_is_an_error():
    with pytest.raises(KeyError, match="give it one"):
        rank("crossrec.newthing.module")
