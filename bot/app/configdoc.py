"""The configuration reference, written from the pydantic models themselves so it cannot
drift from what the bot accepts: every key, its type, default, allowed range and the
comment beside it in the code. `derivbot config reference` prints it; docs/configuration.md
is its output (a test holds the two equal)."""

from __future__ import annotations

import inspect
import re
import typing

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from bot.config import ENV_PREFIX, Config

COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+)$")
BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))  # pydantic's bound markers


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """The `# comment` on each field's line (or the line after, for a wrapped one)."""
    found = {}
    for klass in reversed(model.__mro__):
        if klass in (BaseModel, object) or not issubclass(klass, BaseModel):
            continue
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        for line in lines:
            if m := COMMENT.match(line):
                found[m.group(1)] = m.group(2).strip()
    return found


def _type(annotation) -> str:
    text = str(annotation).replace("typing.", "")
    if typing.get_origin(annotation) is typing.Literal:
        return " \\| ".join(f'"{a}"' if isinstance(a, str) else str(a)
                            for a in typing.get_args(annotation))
    if isinstance(annotation, type):
        return annotation.__name__
    return text.replace("|", "\\|")


def _allowed(info: FieldInfo) -> str:
    return ", ".join(f"{sign} {getattr(m, attr)}" for m in info.metadata
                     for attr, sign in BOUNDS if type(m).__name__.lower() == attr)


def _default(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return str(list(value)).replace("'", '"').replace("(", "[").replace(")", "]")
    return str(value)


def _nested(info: FieldInfo) -> type[BaseModel] | None:
    ann = info.annotation
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _section(path: str, model: type[BaseModel], out: list[str]) -> None:
    comments = _comments(model)
    rows, subs = [], []
    for name, info in model.model_fields.items():
        if (sub := _nested(info)) is not None:
            subs.append((f"{path}.{name}" if path else name, sub))
            continue
        key = f"{path}.{name}" if path else name
        env = ENV_PREFIX + key.replace(".", "__").upper()
        rows.append(f"| `{name}` | {_type(info.annotation)} | `{_default(info.default)}` | "
                    f"{_allowed(info)} | {comments.get(name, '').replace('|', '/')} | `{env}` |")
    if rows:
        doc = inspect.cleandoc(model.__dict__.get("__doc__") or "").split("\n\n")[0]
        out.append(f"### `[{path}]`" if path else "### top level")
        if doc:
            out.append("\n" + doc.replace("\n", " "))
        out += ["", "| key | type | default | allowed | meaning | environment |",
                "|---|---|---|---|---|---|", *rows, ""]
    for sub_path, sub in subs:
        _section(sub_path, sub, out)


def reference() -> str:
    out = ["# Configuration reference", "",
           "Generated from the code by `derivbot config reference` — do not edit by hand.",
           "Every key is checked at start: a typo or a value out of range is an error naming",
           "the key, and the bot does not start. Each key can also be set from the",
           f"environment (last column), which wins over the file: `{ENV_PREFIX}` + the key's",
           "path in capitals, `__` between levels; lists as JSON.", ""]
    _section("", Config, out)
    return "\n".join(out).rstrip() + "\n"
