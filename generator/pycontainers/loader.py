"""YAML loading that remembers where every key and list item came from.

PyYAML composes nodes with start marks; this loader keeps them on the constructed containers so
that a schema error at `containers[1].restart` can be reported as `demo.yml:23`. Duplicate keys,
which PyYAML would silently overwrite, are reported as problems.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import Problem, UserError, ValidationError


class LineDict(dict):
    """A mapping with the line of each key (`lines`) and of the mapping itself (`line`)."""

    line: int = 0
    lines: dict


class LineList(list):
    """A sequence with the line of each item (`lines`) and of the sequence itself (`line`)."""

    line: int = 0
    lines: list


class _Loader(yaml.SafeLoader):
    def __init__(self, stream, filename: str):
        super().__init__(stream)
        self.filename = filename
        self.problems: list[Problem] = []


# YAML 1.1's base-60 numbers are gone (as in YAML 1.2): `user: 1000:50` is the string it looks
# like, not the integer 60050.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if not (tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and ":" in rx.pattern)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)"
                                                      r"|[-+]?0x[0-9a-fA-F_]+)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?"
                                                        r"|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
                                                        r"|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line, out.lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            key = str(key)
        if key in out:
            loader.problems.append(Problem(loader.filename, line, key,
                                           f"duplicate key (first given on line {out.lines[key]})"))
            continue
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = line
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line, out.lines = node.start_mark.line + 1, [c.start_mark.line + 1 for c in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path, display: str | None = None) -> LineDict:
    """Load one YAML document whose top level must be a mapping."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{name}: cannot read: {e}") from None
    loader = _Loader(text, name)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        raise ValidationError([Problem(name, line, "", f"invalid YAML: {e.problem or e}")]) from None
    except yaml.YAMLError as e:
        raise ValidationError([Problem(name, 0, "", f"invalid YAML: {e}")]) from None
    finally:
        loader.dispose()
    if loader.problems:
        raise ValidationError(loader.problems)
    if not isinstance(data, LineDict):
        raise ValidationError([Problem(name, 1, "", "the file must be a YAML mapping")])
    return data


def line_of(data: Any, path: list) -> int:
    """The line of the deepest element of `path` that exists in `data`."""
    line = getattr(data, "line", 0)
    for part in path:
        if isinstance(data, LineDict) and part in data:
            line, data = data.lines[part], data[part]
        elif isinstance(data, LineList) and isinstance(part, int) and 0 <= part < len(data):
            line, data = data.lines[part], data[part]
        else:
            break
    return line


def path_str(path: list) -> str:
    """['containers', 1, 'restart'] -> 'containers[1].restart'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
