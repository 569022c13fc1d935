"""Load YAML and remember the line of every key and list item.

Validation messages name `file:line: field.path`, so the loader keeps a map from each
value's path (a tuple of keys and list indexes) to the 1-based line where it was
written. The admin commands edit the file round-trip (`settings.roundtrip`) and check
the result with this loader.

The loader is PyYAML's safe loader with two YAML 1.1 traps removed, because both
bite exactly this kind of file:
- `NO`, `no`, `on`, `off`, `yes` are *strings* (Norway's country code is `NO`);
  only `true` / `false` are booleans, as in YAML 1.2.
- `8:00` or `17:30` are *strings*, not base-60 integers (YAML 1.1 reads `17:30`
  as 1050), so working hours may be written with or without quotes.
- `2027-02-03` is a *string* too: the schema turns it into a date where a date is
  wanted (`blackout_dates`) and keeps it as text where text is (a team named
  `2027-02-03`). An impossible one (`2027-02-30`) is refused where it is written,
  as `file:line:column: ... not a real date`, instead of PyYAML's bare ValueError.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scheduler.errors import UserError

PathKey = tuple[str | int, ...]

_TIME_LIKE = re.compile(r"^[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?$")
_BOOL_12 = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


#: Deepest `[ ]` / `{ }` nesting read (a person with working hours is three).
MAX_FLOW_DEPTH = 50


class ConfigLoader(yaml.SafeLoader):
    """Safe loader with YAML 1.2 booleans and clock times kept as strings. It notes
    where each alias (`*name`) is used, so their expansion can be bounded."""

    def __init__(self, stream: str) -> None:
        self.alias_marks: list[yaml.Mark] = []
        super().__init__(stream)

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        # PyYAML's scanner is quadratic in flow depth (`[[[[...`: 2.6 s for 1,000);
        # a config needs a handful of levels, so a deep one is refused at once.
        if self.flow_level >= MAX_FLOW_DEPTH:
            raise yaml.scanner.ScannerError(
                None,
                None,
                f"[ ] and {{ }} nested more than {MAX_FLOW_DEPTH} deep",
                self.get_mark(),
            )
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.alias_marks.append(self.peek_event().start_mark)
        return super().compose_node(parent, index)


class NotARealDate(yaml.constructor.ConstructorError):
    """An unquoted scalar shaped like a date that no calendar has (`2027-02-30`)."""


def _timestamp_as_text(loader: ConfigLoader, node: yaml.Node) -> str:
    text = loader.construct_scalar(node)  # type: ignore[arg-type]
    try:
        yaml.SafeLoader.construct_yaml_timestamp(loader, node)  # type: ignore[arg-type]
    except ValueError as exc:
        raise NotARealDate(
            None, None, f"{text} is not a real date ({exc})", node.start_mark
        ) from None
    return str(text)


ConfigLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _install_resolvers() -> None:
    resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = [(tag, rx) for tag, rx in entries if tag != "tag:yaml.org,2002:bool"]
        resolvers[first] = kept
    for first in "0123456789":
        # Checked before the int/float resolvers of the same first character.
        resolvers[first] = [("tag:yaml.org,2002:str", _TIME_LIKE), *resolvers.get(first, [])]
    for first in "tTfF":
        resolvers.setdefault(first, []).insert(0, ("tag:yaml.org,2002:bool", _BOOL_12))
    ConfigLoader.yaml_implicit_resolvers = resolvers


_install_resolvers()


def _fast_loader() -> Any:
    """`ConfigLoader`'s reading through libyaml (about ten times faster: a config of
    10,000 people took 35 s in the pure-Python scanner), or None without libyaml.
    Only for plain files; see `_fast_parse`."""
    if not yaml.__with_libyaml__:
        return None

    class FastConfigLoader(yaml.CSafeLoader):
        pass

    FastConfigLoader.yaml_implicit_resolvers = ConfigLoader.yaml_implicit_resolvers
    # The same constructors too: a date-shaped value stays text, and an impossible
    # date fails (the checked loader then reads the file again and words it).
    FastConfigLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)
    return FastConfigLoader


FastConfigLoader = _fast_loader()

_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _flow_depth_at_most(text: str) -> int:
    """An upper bound of the `[ ]` / `{ }` nesting (brackets inside strings count)."""
    depth = deepest = 0
    for char in _NOT_BRACKET.sub("", text):
        depth = depth + 1 if char in "[{" else max(0, depth - 1)
        deepest = max(deepest, depth)
    return deepest


def _fast_parse(text: str) -> tuple[yaml.Node, Any] | None:
    """Node and data through libyaml when the file is plain: no anchors (so no
    aliases to bound), no control characters, shallow nesting. None: read it with
    `ConfigLoader`, which also words every error exactly (a fast read that fails is
    read again that way)."""
    if (
        FastConfigLoader is None
        or "&" in text
        or yaml.reader.Reader.NON_PRINTABLE.search(text)
        or _flow_depth_at_most(text) > MAX_FLOW_DEPTH
    ):
        return None
    loader = FastConfigLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return node, loader.construct_document(node)
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    finally:
        loader.dispose()


@dataclass(frozen=True)
class LoadedYaml:
    data: Any
    lines: Mapping[PathKey, int]
    duplicate_keys: tuple[tuple[PathKey, int], ...] = field(default=())

    def line_of(self, path: PathKey) -> int | None:
        """Line of `path`, or of its nearest written ancestor (a missing field is
        reported on the line of the mapping that lacks it)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


#: Values aliases may add on top of those written in the file: 10,000, or ten times
#: what is written for a large file (anchored working hours shared by thousands of
#: sellers). Expansion stays linear in the file's size; an alias bomb (`&a [*b, *b,
#: ...]` nested nine deep) would reach 9**9 and is refused before anything expands.
ALIAS_BUDGET = 10_000
ALIAS_FACTOR = 10


def parse_yaml(text: str, source: Path) -> LoadedYaml:
    """Parse `text` (read from `source`, named in errors). Raises `UserError` for a
    syntax error or a forbidden character (as `file:line:column`), an alias that
    expands too far, or an empty document."""
    fast = _fast_parse(text)
    if fast is not None:
        return _located(*fast)
    loader: ConfigLoader | None = None
    try:
        # The reader checks every character when it is built: inside the `try`.
        loader = ConfigLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise UserError(f"{source}: the file is empty; see config/coachpass.example.yaml")
        _check_aliases(node, loader.alias_marks, source)
        data = loader.construct_document(node)
    except NotARealDate as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(source)
        raise UserError(
            f"{where}: {exc.problem}: write a date that exists, or quote it if it is text"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(source)
        problem = exc.problem or exc.context or "invalid YAML"
        raise UserError(f"{where}: YAML syntax error: {problem}") from None
    except yaml.reader.ReaderError as exc:
        line, column = _line_column(text, exc.position)
        raise UserError(
            f"{source}:{line}:{column}: character U+{exc.character:04X} is not allowed in "
            "YAML (a control character): remove it"
        ) from None
    except yaml.YAMLError as exc:
        raise UserError(f"{source}: YAML syntax error: {exc}") from None
    except RecursionError:
        raise UserError(
            f"{source}: YAML nested too deeply to read; a config needs only a few levels"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return _located(node, data)


def _located(node: yaml.Node, data: Any) -> LoadedYaml:
    lines: dict[PathKey, int] = {(): node.start_mark.line + 1}
    duplicates: list[tuple[PathKey, int]] = []
    _walk(node, (), lines, duplicates, set())
    return LoadedYaml(data, lines, tuple(duplicates))


def _line_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of character `position` of `text`."""
    before = text[:position]
    line_start = before.rfind("\n") + 1
    return before.count("\n") + 1, position - line_start + 1


def _check_aliases(root: yaml.Node, alias_marks: list[yaml.Mark], source: Path) -> None:
    """Refuse a document whose aliases expand to far more than is written, counting
    each node's expanded size once (linear in the file, whatever the aliases)."""
    if not alias_marks:
        return
    sizes: dict[int, int] = {}
    written: set[int] = set()
    first = alias_marks[0]
    where = f"{source}:{first.line + 1}:{first.column + 1}"

    def size(node: yaml.Node, open_nodes: frozenset[int]) -> int:
        key = id(node)
        if key in open_nodes:
            raise UserError(f"{where}: YAML alias refers to a value that contains it")
        known = sizes.get(key)
        if known is not None:
            return known
        written.add(key)
        total = 1
        inner = open_nodes | {key}
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k, inner) + size(v, inner) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item, inner) for item in node.value)
        sizes[key] = total
        return total

    expanded = size(root, frozenset())
    budget = max(ALIAS_BUDGET, ALIAS_FACTOR * len(written))
    if expanded > len(written) + budget:
        raise UserError(
            f"{where}: YAML aliases (*name) expand this file to {expanded:,} values from "
            f"{len(written):,} written (at most {budget:,} more are allowed); write "
            "the values out instead"
        )


def _scalar_key(node: yaml.Node) -> str | int:
    value = node.value if isinstance(node, yaml.ScalarNode) else str(node.value)
    # Keys are matched against field names and loc entries, which are strings;
    # list indexes are the only ints in a path.
    return str(value)


def _walk(
    node: yaml.Node,
    path: PathKey,
    lines: dict[PathKey, int],
    duplicates: list[tuple[PathKey, int]],
    seen_nodes: set[int],
) -> None:
    if id(node) in seen_nodes:
        # An alias: its lines are those of its anchor, mapped already. Not walking it
        # again keeps this linear (an alias bomb would otherwise expand here); a
        # problem inside it is reported on the line where the alias is used.
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str | int] = set()
        for key_node, value_node in node.value:
            key = _scalar_key(key_node)
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if key in seen:
                duplicates.append((child, line))
            seen.add(key)
            lines[child] = line
            _walk(value_node, child, lines, duplicates, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _walk(item, child, lines, duplicates, seen_nodes)


def load_yaml_file(path: Path) -> LoadedYaml:
    """Read and parse a config file; a missing or unreadable file is a `UserError`."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(
            f"{path}: no such config file (run `coachpass init` to write one that works "
            "at once, or pass --config / set COACHPASS_CONFIG)"
        ) from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a config file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_yaml(utf8_text(raw, str(path)), path)


def utf8_text(raw: bytes, where: str) -> str:
    """`raw` as UTF-8 text without a byte-order mark; a byte that is not UTF-8 is a
    `UserError` at `where:line:column` (column counted in bytes), never echoing it."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UserError(
            f"{where}:{line}:{column}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the "
            "file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None


_LINE_BREAKS = "\x85\u2028\u2029"


class _FlowMap(dict[Any, Any]):
    """A mapping written on one line: a person, working hours."""


class _ConfigDumper(yaml.SafeDumper):
    """Writes sections as blocks and small leaf mappings (people, hours) on one line,
    which is how the example config is written by hand; clock times are quoted so
    that every YAML reader sees a string."""

    def represent_str(self, data: str) -> yaml.ScalarNode:
        if _TIME_LIKE.match(data):
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="'")
        if any(c in data for c in _LINE_BREAKS):
            # With allow_unicode these would be written raw and read back as a
            # line break; double quotes escape them.
            return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')
        return super().represent_str(data)

    def represent_flow_map(self, data: _FlowMap) -> yaml.MappingNode:
        node = self.represent_mapping("tag:yaml.org,2002:map", data.items())
        node.flow_style = True
        return node

    def represent_scalar_list(self, data: list[Any]) -> yaml.SequenceNode:
        node = self.represent_sequence("tag:yaml.org,2002:seq", data)
        node.flow_style = all(_is_scalar(item) for item in data)
        return node


_ConfigDumper.add_representer(str, _ConfigDumper.represent_str)
_ConfigDumper.add_representer(_FlowMap, _ConfigDumper.represent_flow_map)
_ConfigDumper.add_representer(list, _ConfigDumper.represent_scalar_list)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, Mapping | list)


def _shape(value: Any, depth: int) -> Any:
    if isinstance(value, Mapping):
        items = {k: _shape(v, depth + 1) for k, v in value.items()}
        leafy = all(
            _is_scalar(v)
            or isinstance(v, _FlowMap)
            or (isinstance(v, list) and all(_is_scalar(i) for i in v))
            for v in items.values()
        )
        small = len(items) <= 12
        # Top-level sections stay blocks so they read like the example config.
        return _FlowMap(items) if depth >= 2 and leafy and small else dict(items)
    if isinstance(value, list):
        return [_shape(v, depth + 1) for v in value]
    return value


def dump_yaml(data: Any) -> str:
    """Serialise `data` for writing back; key order is kept, sections are blocks and
    people or hours sit on one line each (`- {id: erik, name: Erik Lund, ...}`).
    Comments are not kept (PyYAML drops them), which the editing commands say."""
    return yaml.dump(
        _shape(data, 0),
        Dumper=_ConfigDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=4096,
    )


def format_path(path: PathKey) -> str:
    """`("teams", 0, "sellers", 3, "timezone")` -> `teams[0].sellers[3].timezone`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
