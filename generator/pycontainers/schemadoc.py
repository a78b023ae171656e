"""Markdown reference of a file format, rendered from its JSON schema (docs/*-format.md)."""

from __future__ import annotations

from .model import schema


def _type(s: dict, defs: dict) -> str:
    if "$ref" in s:
        name = s["$ref"].split("/")[-1]
        return {"size": "size", "duration": "duration", "name": "name", "container": "container"}.get(name, name)
    if "enum" in s:
        return " \\| ".join(f"`{v}`" if v is not None else "`null`" for v in s["enum"])
    if "const" in s:
        return f"`{s['const']}`"
    t = s.get("type", "")
    if t == "array":
        return f"list of {_type(s.get('items', {}), defs)}"
    return " or ".join(t) if isinstance(t, list) else t


def _rows(s: dict, defs: dict, prefix: str, out: list) -> None:
    required = set(s.get("required", []))
    for key, sub in s.get("properties", {}).items():
        path = f"{prefix}{key}"
        resolved = defs.get(sub["$ref"].split("/")[-1], sub) if "$ref" in sub else sub
        desc = sub.get("description") or resolved.get("description", "")
        default = sub.get("default", resolved.get("default"))
        out.append(f"| `{path}` | {_type(sub, defs)} | {'yes' if key in required else ''} | "
                   f"{'' if default is None else f'`{default}`'} | {desc} |")
        if resolved.get("type") == "object" and "properties" in resolved:
            _rows(resolved, defs, f"{path}.", out)
        items = resolved.get("items", {})
        if resolved.get("type") == "array" and items:
            item = defs.get(items["$ref"].split("/")[-1], items) if "$ref" in items else items
            if "properties" in item:
                _rows(item, defs, f"{path}[].", out)


def markdown(kind: str) -> str:
    s = schema(kind)
    defs = s.get("$defs", {})
    out = [f"# {s['title']}", "", s["description"], "",
           f"Generated from the schema by `pycontainers schema {'--board ' if kind == 'board' else ''}--markdown`;"
           " do not edit.", "",
           "| key | type | required | default | meaning |", "|---|---|---|---|---|"]
    _rows(s, defs, "", out)
    for name in ("size", "duration"):
        if name in defs:
            out += ["", f"**{name}**: {defs[name]['description']}"]
    return "\n".join(out) + "\n"
