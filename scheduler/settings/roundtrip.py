"""Round-trip YAML for the admin edits: what a person wrote stays as they wrote it.

PyYAML (used to *check* the config, with line numbers) drops comments, quotes and
layout; an admin edit must not. ruamel.yaml's round-trip mode keeps comments, key
order, quoting and flow/block style, so an edit changes only the lines it means to.

Two things ruamel cannot guess and this module does: the file's list indentation
(`teams:` followed by `- id:` or by `  - id:`), read from the text itself, and the
style of a new list item, which copies its siblings' (a seller added next to sellers
written as `- {id: ..., name: ...}` is written on one line too).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken

from scheduler.errors import UserError
from scheduler.settings.yaml_lines import parse_yaml

_ITEM_UNDER_KEY = re.compile(r"^(?P<key> *)[^\s#-][^:#]*:\s*(?:#.*)?\n(?P<dash> *)- ", re.M)


def _sequence_offset(text: str) -> int:
    """How far `- ` is indented under its parent key in this file (0 or 2, usually)."""
    match = _ITEM_UNDER_KEY.search(text)
    if match is None:
        return 2  # the example config's layout
    return max(0, len(match.group("dash")) - len(match.group("key")))


def _yaml(text: str) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long flow mapping (a person) onto two lines
    offset = _sequence_offset(text)
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    return yaml


def load(text: str, source: Path) -> tuple[Any, YAML]:
    """The document as ruamel's commented containers, and the dumper set up for it."""
    yaml = _yaml(text)
    try:
        return yaml.load(text), yaml
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else str(source)
        raise UserError(f"{where}: YAML syntax error: {getattr(exc, 'problem', exc)}") from None
    except ValueError:
        # ruamel builds dates as it reads and fails bare on an impossible one
        # (`2027-02-30`) without a position; the checking loader names the place.
        parse_yaml(text, source)
        raise


def dump(data: Any, yaml: YAML) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def like_siblings(items: list[Any], value: Mapping[str, Any]) -> Any:
    """`value` as a new item of `items`, in the style of the items already there."""
    node = CommentedMap(value)
    first = next((i for i in items if isinstance(i, CommentedMap)), None)
    if first is not None and first.fa.flow_style():
        node.fa.set_flow_style()
    for key, inner in list(node.items()):
        if isinstance(inner, Mapping):
            child = CommentedMap(inner)
            child.fa.set_flow_style()  # working hours and the like: one line
            node[key] = child
    return node


def new_list() -> CommentedSeq:
    return CommentedSeq()


def _last_chain(node: Any) -> list[Any]:
    """`node`, its last item, that item's last item, ... (containers only)."""
    chain: list[Any] = []
    while isinstance(node, CommentedMap | CommentedSeq) and len(node):
        chain.append(node)
        node = node[next(reversed(node))] if isinstance(node, CommentedMap) else node[-1]
    if isinstance(node, CommentedMap | CommentedSeq):
        chain.append(node)
    return chain


def _take_tail_comment(node: Any) -> list[Any]:
    """ruamel hangs the comment lines after a block (the blank line and comment that
    introduce the next section) on the innermost last container; an item added or
    removed at the end would carry them away. Detach them to re-hang them."""
    taken: list[Any] = []
    for container in _last_chain(node):
        if container.ca.end:
            taken.extend(container.ca.end)
            container.ca.end = []
        if isinstance(container, CommentedMap) and len(container):
            # Lines after the last value of a mapping (an end-of-line comment on it
            # stays: only a token that starts on the next line is a trailing block).
            last = next(reversed(container))
            slot = container.ca.items.get(last)
            token = slot[2] if slot and len(slot) > 2 else None
            if token is not None and str(token.value).startswith("\n"):
                slot[2] = None
                taken.append(CommentToken(str(token.value)[1:], CommentMark(0), None))
    return taken


def _hang_tail_comment(node: Any, tail: list[Any]) -> None:
    """Put detached comment lines back where ruamel prints them: on the innermost
    block container at the end of `node` (ruamel drops the end comment of a list
    that is not innermost, and a flow item or an empty `[]` cannot hold one)."""
    if not tail:
        return
    blocks = [c for c in _last_chain(node) if len(c) and not c.fa.flow_style()]
    if not blocks:
        return
    holder = blocks[-1]
    if isinstance(holder, CommentedMap):
        value = holder[next(reversed(holder))]
        seqs = [c for c in blocks if isinstance(c, CommentedSeq)]
        if isinstance(value, CommentedMap | CommentedSeq | list | dict) and seqs:
            # The map ends in an empty or flow collection (`sellers: []`), after
            # which ruamel prints no comment: it reads such a tail into the end of
            # the enclosing list, so put it there (found by a new-user trial).
            holder = seqs[-1]
    if isinstance(holder, CommentedSeq):
        if holder.ca.comment is None:
            # ruamel's representer drops `end` of a list without a comment slot.
            holder.ca.comment = [None, None]
        holder.ca.end = tail
        return
    text = "\n" + "".join(str(t.value) for t in tail)  # the first line ends the value's
    last = next(reversed(holder))
    holder.ca.items[last] = [None, None, CommentToken(text, CommentMark(0), None), None]


def append(items: Any, value: Any) -> None:
    """Append to a list, keeping the comment that followed the list after it."""
    tail = _take_tail_comment(items) if isinstance(items, CommentedSeq) else []
    items.append(value)
    _hang_tail_comment(items, tail)


def remove_at(items: Any, index: int) -> None:
    """Delete one list item, keeping the comment that followed the list after it."""
    tail = _take_tail_comment(items) if isinstance(items, CommentedSeq) else []
    del items[index]
    _hang_tail_comment(items, tail)


def detach_section_tails(root: Any) -> dict[Any, list[Any]]:
    """The comment lines that end each top-level section (and introduce the next),
    taken off so that an edit deep inside a section (a seller added to a team that
    had none) cannot carry them away; `reattach_section_tails` puts them back."""
    if not isinstance(root, CommentedMap):
        return {}
    return {key: _take_tail_comment(value) for key, value in root.items()}


def reattach_section_tails(root: Any, tails: dict[Any, list[Any]]) -> None:
    for key, tail in tails.items():
        if key in root:
            _hang_tail_comment(root[key], tail)


__all__ = [
    "CommentedMap",
    "append",
    "detach_section_tails",
    "dump",
    "like_siblings",
    "load",
    "new_list",
    "reattach_section_tails",
    "remove_at",
]
