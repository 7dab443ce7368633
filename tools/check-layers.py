#!/usr/bin/env python3
"""The library's layering, checked: no import circle among the files of shared/src, and every import
runs down the flow (docs/architecture.md):

    cli, lambda  ->  run  ->  playbooks  ->  safety, probes  ->  report, intake, config, aws, clock

Rules (a file in the left folder may not import from the right one):
  probes/   -> playbooks/, safety/, run, cli, lambda   (evidence never acts)
  safety/   -> playbooks/, run, cli, lambda            (the guard knows no playbook)
  report/   -> playbooks/, safety/, probes/, run, cli  (a report is data)
  playbooks -> run, cli, lambda                        (dispatch sits above the playbooks)

An import is a `use crate::a::b` line or a `crate::a::b` path in code, resolved to the file that
defines module `a::b` (or `a`), plus `super::` and `mod` lines. Test modules (`#[cfg(test)]` to the
end of the file) are not read. Exit 1 on a circle or a broken rule, naming the files.

Usage: tools/check-layers.py [SRC]   (default shared/src)
"""

from __future__ import annotations

import pathlib
import re
import sys

RULES = {
    "probes": {"playbooks", "safety", "run", "cli", "lambda"},
    "safety": {"playbooks", "run", "cli", "lambda"},
    "report": {"playbooks", "safety", "probes", "run", "cli", "lambda"},
    "playbooks": {"run", "cli", "lambda"},
}


def module_of(src: pathlib.Path, path: pathlib.Path) -> tuple[str, ...]:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return tuple(parts)


def strip_tests(text: str) -> str:
    cut = re.search(r"#\[cfg\(test\)\]", text)
    return text[: cut.start()] if cut else text


def imports(text: str, here: tuple[str, ...], is_mod_file: bool) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    code = re.sub(r"//[^\n]*", "", strip_tests(text))
    for m in re.finditer(r"\bcrate((?:::\w+)+)", code):
        out.add(tuple(m.group(1).strip(":").split("::")))
    # `use crate::x::{a, b::c}`: each name inside braces is a path below x.
    for m in re.finditer(r"use crate((?:::\w+)*)::\{([^;]*)\};", code, re.S):
        base = tuple(m.group(1).strip(":").split("::")) if m.group(1) else ()
        for name in re.split(r",\s*", m.group(2)):
            name = re.sub(r"\s+as\s+\w+$", "", name.strip()).split("::{")[0]
            if name and name != "self":
                out.add(base + tuple(name.split("::")))
    parent = here if is_mod_file else here[:-1]
    for m in re.finditer(r"\bsuper((?:::\w+)+)", code):
        out.add(parent[:-1] + tuple(m.group(1).strip(":").split("::")))
    for m in re.finditer(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code, re.M):
        out.add(parent + (m.group(1),))
    return out


def main() -> int:
    src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "shared/src")
    files = {module_of(src, p): p for p in src.rglob("*.rs") if "bin" not in p.parts}
    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for mod, path in files.items():
        targets = set()
        for imp in imports(path.read_text(), mod, path.stem in ("mod", "lib")):
            # The longest prefix that is a file: `crate::safety::guard::Guard` -> safety/guard.rs.
            for n in range(len(imp), 0, -1):
                if imp[:n] in files and imp[:n] != mod:
                    targets.add(imp[:n])
                    break
        graph[mod] = targets
    problems = []
    for mod, targets in graph.items():
        top = mod[0] if mod else "lib"
        for t in targets:
            if t and t[0] in RULES.get(top, set()) and not (mod and len(t) == 1 and t[0] == top):
                problems.append(f"{files[mod]} imports {files[t]} ({top}/ must not import {t[0]})")
    problems += cycles(graph, files)
    n_imports = sum(len(t) for t in graph.values())
    if problems:
        print("check-layers: FAILED", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"check-layers: {len(files)} files, {n_imports} imports between them, no circle, layers respected")
    return 0


def cycles(graph, files) -> list[str]:
    """Tarjan's strongly connected components: every component of more than one file is a circle.
    `mod.rs` files that only declare their children are left out: declaring is not depending."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def edges(v):
        # A parent declaring a child module is structure, not a dependency back up.
        return [w for w in graph[v] if not (len(w) == len(v) + 1 and w[: len(v)] == v)]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append("import circle: " + " -> ".join(str(files[c]) for c in sorted(comp)))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    sys.exit(main())
