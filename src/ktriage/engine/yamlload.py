"""Parsing YAML with PyYAML, for ``yamlsource`` (imported only when a pack is read from its
YAML, not when it comes from the compiled-pack cache: PyYAML costs start-up time)."""

from __future__ import annotations

from typing import Any

import yaml

from .errors import RulePackError
from .yamlsource import LineDict, LineList


# libyaml's parser when it is there (about 8x faster on the shipped pack; start-up of
# every command pays for it), PyYAML's own otherwise. Both give node marks.
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise RulePackError(
                f"keys must be text, got {key!r}",
                file=loader.name,
                line=key_node.start_mark.line + 1,
            )
        if key in out:
            raise RulePackError(
                f"key {key!r} appears twice in the same mapping",
                file=loader.name,
                line=key_node.start_mark.line + 1,
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _refuse_aliases(root: yaml.Node, filename: str) -> None:
    """Raise when a node is reached twice: an alias (``*name``) or a merge (``<<``).

    An alias makes a tree into a graph: a 1.5 KB file can stand for billions of
    conditions (the "billion laughs"), and every later stage would expand it. A rule pack
    has no need for them, so they are refused before anything is built.
    """
    seen: set[int] = set()
    todo: list[tuple[yaml.Node, int]] = [(root, root.start_mark.line + 1)]
    while todo:  # depth first, in document order, so the first alias is the one named
        node, line = todo.pop()
        if id(node) in seen:
            raise RulePackError(
                "YAML aliases (*name) and merges (<<) are not allowed in a rule pack;"
                " write the value out",
                file=filename,
                line=line,
            )
        seen.add(id(node))
        children: list[tuple[yaml.Node, int]] = []
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                at = key.start_mark.line + 1
                children += [(key, at), (value, at)]
        elif isinstance(node, yaml.SequenceNode):
            children = [(child, node.start_mark.line + 1) for child in node.value]
        todo.extend(reversed(children))


def load_yaml(text: str, filename: str) -> Any:
    """Parse one YAML document safely; a syntax error names the file and line."""
    loader = _Loader(text)
    loader.name = filename
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_aliases(node, filename)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        line, message = _yaml_error(exc)
        raise RulePackError(message, file=filename, line=line) from None
    except yaml.YAMLError as exc:
        raise RulePackError(f"malformed YAML: {exc}", file=filename) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        raise RulePackError(f"unreadable YAML value: {exc}", file=filename) from None
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    """The line of the mistake and what it is, where the parser can tell: a bracket or
    quote opened on one line and never closed is reported where it was opened, not where
    the parser gave up (the next line, or the end of the file)."""
    problem = exc.problem or exc.context or "invalid YAML"
    context, mark = exc.context_mark, exc.problem_mark
    opened = (exc.context or "").startswith(("while parsing a flow", "while scanning a quoted"))
    if opened and context is not None and mark is not None and context.line < mark.line:
        what = "a quoted text" if "quoted" in (exc.context or "") else "a [ ] or { }"
        return (
            context.line + 1,
            f"malformed YAML: {what} opened here is not closed ({problem}, line {mark.line + 1})",
        )
    mark = mark or context
    return (mark.line + 1 if mark else None), f"malformed YAML: {problem}"
