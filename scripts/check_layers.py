"""Prints each module's project imports and fails on an upward or circular one.

The project's layers, lowest first (a module may import its own layer and lower ones):

    foundation     mtl_tf (package), config, choices, io_utils, tf_startup, tasks, user_data,
                   preferences
    data           mtl_tf.data
    models         mtl_tf.models
    weighting      mtl_tf.weighting, mtl_tf.methods (methods are encoder x weighting)
    training       mtl_tf.training (fit one model: trainer, distribution, checkpoints)
    evaluation     mtl_tf.evaluation (metrics, attacks, reports)
    run directory  mtl_tf.run_dir, mtl_tf.export
    orchestration  mtl_tf.orchestration (runs, grid search, experiments, eval-only)
    CLI            main, flags, mtl_tf.cli, mtl_tf.__main__

Every import counts, also one inside a function (a lazy import hides a cycle, it does
not remove it). Usage:

    python scripts/check_layers.py            # listing + verdict, exit 1 on a violation
    python scripts/check_layers.py --quiet    # verdict only
"""

from __future__ import annotations

import argparse
import ast
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (layer name, module-name prefixes); the longest matching prefix wins.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("mtl_tf", "mtl_tf.config", "mtl_tf.choices", "mtl_tf.io_utils",
                    "mtl_tf.tf_startup", "mtl_tf.tasks", "mtl_tf.user_data",
                    "mtl_tf.preferences")),
    ("data", ("mtl_tf.data",)),
    ("models", ("mtl_tf.models",)),
    ("weighting", ("mtl_tf.weighting", "mtl_tf.methods")),
    ("training", ("mtl_tf.training",)),
    ("evaluation", ("mtl_tf.evaluation",)),
    ("run directory", ("mtl_tf.run_dir", "mtl_tf.export")),
    ("orchestration", ("mtl_tf.orchestration", "mtl_tf.synthetic")),
    ("CLI", ("main", "flags", "mtl_tf.cli", "mtl_tf.__main__")),
)
_PROJECT_ROOTS = ("mtl_tf", "flags", "main")


def layer_of(module: str) -> tuple[int, str]:
    """(index, name) of the layer of `module` (longest matching prefix)."""
    best, best_len = None, -1
    for index, (name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = (index, name), len(prefix)
    if best is None:
        raise ValueError(f"module {module} belongs to no layer: add it to LAYERS")
    return best


def _module_name(path: str) -> str:
    rel = os.path.relpath(path, ROOT)[: -len(".py")].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def project_modules() -> dict[str, str]:
    """Module name -> path, for mtl_tf/, flags/ and main.py."""
    found = {"main": os.path.join(ROOT, "main.py")}
    for top in ("mtl_tf", "flags"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    found[_module_name(path)] = path
    return found


def imports_of(module: str, path: str, modules: dict[str, str]) -> set[str]:
    """The project modules `module` imports (any import statement, anywhere in it)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            # `from pkg import mod` imports pkg.mod when that is a module.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                     for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] not in _PROJECT_ROOTS:
                continue
            # The longest project module that `name` is or lies in.
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Elementary cycles found by depth-first search (one per back edge)."""
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def check(quiet: bool = False) -> int:
    """Prints the listing (unless quiet) and the violations; returns their count."""
    modules = project_modules()
    graph = {m: imports_of(m, p, modules) for m, p in sorted(modules.items())}
    problems = []
    for module, deps in graph.items():
        index, name = layer_of(module)
        if not quiet:
            shown = ", ".join(sorted(deps)) or "-"
            print(f"{module:<36} [{name}] <- {shown}")
        for dep in sorted(deps):
            dep_index, dep_name = layer_of(dep)
            if dep_index > index:
                problems.append(f"upward import: {module} [{name}] imports {dep} [{dep_name}]")
    # Package __init__ files re-export their modules: an edge package -> its own module
    # is not a dependency between concerns, so leave those out of the cycle search.
    acyclic = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in graph.items()}
    problems += [f"import cycle: {' -> '.join(c)}" for c in _cycles(acyclic)]
    for problem in problems:
        print(problem)
    print(f"{len(modules)} modules, {sum(len(d) for d in graph.values())} project imports, "
          f"{len(problems)} violation(s)")
    return len(problems)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="print only the verdict")
    return 1 if check(parser.parse_args().quiet) else 0


if __name__ == "__main__":
    sys.exit(main())
