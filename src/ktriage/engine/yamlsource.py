"""Safe YAML loading that remembers where each mapping, list and key came from.

Load errors must point at the line a clinician has to edit, so every mapping and list
loaded here records its own line and the line of each key.
"""

from __future__ import annotations

from typing import Any


class LineDict(dict[str, Any]):
    line: int = 0
    key_lines: dict[str, int]


class LineList(list[Any]):
    line: int = 0
    item_lines: list[int]


def load_yaml(text: str, filename: str) -> Any:
    """Parse one YAML document safely; a syntax error names the file and line."""
    from .yamlload import load_yaml as load

    return load(text, filename)


def line_of(node: Any, *path: str | int) -> int | None:
    """The line of ``path`` under ``node``, or the nearest enclosing line known."""
    best = getattr(node, "line", None)
    for part in path:
        if isinstance(node, LineDict) and isinstance(part, str) and part in node:
            best = node.key_lines.get(part, best)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.item_lines[part]
            node = node[part]
        else:
            break
    return best
