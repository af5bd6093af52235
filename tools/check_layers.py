#!/usr/bin/env python3
"""Checks that every include points down the layer table of docs/architecture.md.

Usage: check_layers.py SOURCE_DIR

The table's rows are `| layer | folder | what lives there | may include |`; "may include" lists the
layers (by name, comma-separated; "—" for none) whose headers the layer's files may include. For every
file below src/<layer>/ and include/prospect/<layer>/, each `#include "prospect/<x>/..."` must name the
layer itself or one it may include, and no include may climb out of its folder ("../"). Every folder of
src/ must have a row. The DEPS of each prospect_layer(...) in CMakeLists.txt must be the row's list, so
the build (which compiles each layer against exactly those headers) and this table cannot drift.
Prints every violation as FILE:LINE: what; exits 1 if there is any.
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
LAYER_CALL = re.compile(r"^prospect_layer\((\w+)([^)]*)\)", re.M)


def read_table(doc):
    """{layer: set of layers it may include} from the first table of docs/architecture.md."""
    allowed, order = {}, []
    for line in doc.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("layer", "") or set(cells[0]) <= set("-: "):
            continue
        layer, folder, _, may = cells
        if folder != f"`src/{layer}/`":
            sys.exit(f"{doc}: layer '{layer}': folder {folder}, expected `src/{layer}/`")
        names = [] if may in ("—", "-", "") else [n.strip() for n in may.split(",")]
        allowed[layer] = set(names)
        order.append(layer)
    for layer in order:
        for n in allowed[layer]:
            if n not in allowed:
                sys.exit(f"{doc}: layer '{layer}' may include '{n}', which is not a layer of the table")
    return allowed


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    doc = root / "docs" / "architecture.md"
    allowed = read_table(doc)
    problems = []

    for folder in sorted(p for p in (root / "src").iterdir() if p.is_dir()):
        if folder.name not in allowed:
            problems.append(f"src/{folder.name}/: a folder with no row in {doc.relative_to(root)}")

    for layer, may in allowed.items():
        roots = [root / "src" / layer, root / "include" / "prospect" / layer]
        for base in roots:
            if not base.is_dir():
                continue
            for f in sorted(base.rglob("*")):
                if f.suffix not in (".h", ".cpp", ".hpp", ".cc"):
                    continue
                rel = f.relative_to(root)
                for no, text in enumerate(f.read_text(errors="replace").splitlines(), 1):
                    m = INCLUDE.match(text)
                    if not m:
                        continue
                    inc = m.group(1)
                    if inc.startswith("../") or "/../" in inc:
                        problems.append(f"{rel}:{no}: \"{inc}\" climbs out of its folder")
                        continue
                    parts = inc.split("/")
                    if len(parts) < 3 or parts[0] != "prospect":
                        continue  # a header of the same folder, or not ours
                    target = parts[1]
                    if target != layer and target not in may:
                        allowed_text = ", ".join(sorted(may)) or "nothing of ours"
                        problems.append(f"{rel}:{no}: {layer} includes {target} (\"{inc}\"); "
                                        f"docs/architecture.md lets {layer} include: {allowed_text}")

    cmake = (root / "CMakeLists.txt").read_text()
    declared = {}
    for m in LAYER_CALL.finditer(cmake):
        layer, args = m.group(1), m.group(2).split()
        deps, key = [], None
        for a in args:
            if a in ("DEPS", "LIBS", "EXCLUDE"):
                key = a
            elif key == "DEPS":
                deps.append(a)
        declared[layer] = set(deps)
    for layer, may in allowed.items():
        if layer == "apps":
            continue  # the programs link the umbrella target `prospect`
        if layer not in declared:
            problems.append(f"CMakeLists.txt: no prospect_layer({layer} ...) for the table's layer '{layer}'")
        elif declared[layer] != may:
            problems.append(f"CMakeLists.txt: prospect_layer({layer}) DEPS {sorted(declared[layer])} "
                            f"differ from docs/architecture.md: {sorted(may)}")
    for layer in declared:
        if layer not in allowed:
            problems.append(f"CMakeLists.txt: prospect_layer({layer}) has no row in docs/architecture.md")

    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} include(s) or declaration(s) against the layer table")
        return 1
    print(f"layers: {len(allowed)} layers, every include points down the table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
