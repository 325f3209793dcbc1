"""The configuration reference, generated from the settings model.

`docs/configuration.md` and `stomper.toml.example` are rendered from
`StomperSettings`: every field, nested tables included, with its type,
default, environment variable and docstring. A key added to the model
shows up in both on the next run of

    python -m stomper.configdoc           # rewrite both files
    python -m stomper.configdoc --check   # exit 1 if either is out of date

and the test suite fails until that is done.
"""

from __future__ import annotations

import argparse
import enum
import json
import re
import sys
import textwrap
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from stomper.config import StomperSettings

ENV_PREFIX = "STOMPER_"
ENV_DELIMITER = "__"
REGENERATE = "python -m stomper.configdoc"
DOC_PATH = Path("docs") / "configuration.md"
EXAMPLE_PATH = Path("stomper.toml.example")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_EG = re.compile(r"\be\.g\.,? (\S+)")


class ConfigDocError(Exception):
    """The settings model has a field the reference cannot be generated for.

    A bug for whoever added the field, caught by the test suite, never
    something a user of stomper sees.
    """


@dataclass(frozen=True)
class Key:
    """One setting: a field of `StomperSettings` or of a table nested in it."""

    path: tuple[str, ...]
    field: FieldInfo
    owner: type[BaseModel]

    @property
    def name(self) -> str:
        return ".".join(self.path)

    @property
    def env(self) -> str:
        return ENV_PREFIX + ENV_DELIMITER.join(self.path).upper()

    @property
    def doc(self) -> str:
        return _one_line(self.field.description)

    @property
    def has_default(self) -> bool:
        return self.field.default is not PydanticUndefined or self.field.default_factory is not None

    @property
    def default(self) -> Any:
        return self.field.get_default(call_default_factory=True)


@dataclass(frozen=True)
class Table:
    """A settings table: the top level (path `()`), or a field whose type is a model."""

    path: tuple[str, ...]
    model: type[BaseModel]
    keys: tuple[Key, ...]
    doc: str

    @property
    def name(self) -> str:
        return ".".join(self.path)


def tables(model: type[BaseModel] = StomperSettings, path: tuple[str, ...] = (), doc: str = "") -> Iterator[Table]:
    """Every table of `model`, itself first, each followed by the tables nested in it."""
    keys = []
    nested = []
    for name, field in model.model_fields.items():
        sub = _model_type(field.annotation)
        if sub is not None:
            nested.append((name, field, sub))
        else:
            keys.append(Key((*path, name), field, model))
    yield Table(path, model, tuple(keys), doc)
    for name, field, sub in nested:
        yield from tables(sub, (*path, name), _one_line(sub.__doc__) or _one_line(field.description))


# ---------------------------------------------------------------- stomper.toml.example


def render_example(model: type[BaseModel] = StomperSettings) -> str:
    """`stomper.toml.example`: every key, commented out, at its default."""
    header = [
        "# Every setting stomper reads, at its default. Generated from src/stomper/config.py",
        f"# by `{REGENERATE}`; do not edit by hand.",
        "#",
        "# Copy what you need into stomper.toml, or into pyproject.toml under [tool.stomper]",
        "# (tables then become [tool.stomper.agent] and so on), and remove the '#' before",
        "# the key. Lines with '# ' are explanations; '#key = value' and '#[table]' are",
        "# settings. Each key is also an environment variable, see docs/configuration.md.",
    ]
    return "\n".join([*header, *settings_lines(model)]) + "\n"


def settings_lines(
    model: type[BaseModel] = StomperSettings,
    *,
    prefix: tuple[str, ...] = (),
    values: Mapping[str, tuple[Any, str]] | None = None,
) -> list[str]:
    """Every key of `model` as commented-out TOML at its default, under tables
    starting with `prefix` (`("tool", "stomper")` for pyproject.toml).

    `values` maps dotted keys to a value and a note: those keys are written
    switched on, with the note under their explanation.
    """
    values = values or {}
    out: list[str] = []
    for table in tables(model):
        on = any(key.name in values for key in table.keys)
        if table.path or prefix:
            out += ["", f"{'' if on else '#'}[{_toml_key_path((*prefix, *table.path))}]"]
            out.extend(_comment(table.doc))
        for key in table.keys:
            out.append("")
            out.extend(_comment(key.doc))
            if key.name in values:
                value, note = values[key.name]
                out.extend(_comment(note))
                out.append(f"{_toml_key(key.path[-1])} = {toml_value(value)}")
                continue
            if key.has_default and key.default is not None:
                value = key.default
            else:
                value = example_value(key)
                out.append("# Not set by default; for example:")
            out.append(f"#{_toml_key(key.path[-1])} = {toml_value(value)}")
    return out


def uncomment(example: str) -> str:
    """The example with every setting switched on, as a user would do it."""
    return "".join(line[1:] if re.match(r"#[^ #\n]", line) else line for line in example.splitlines(True))


def example_value(key: Key) -> Any:
    """A valid value for a key with no default: from the field's `examples`,
    an "e.g." in its docstring, or the simplest value its type and bounds allow.
    """
    candidates: list[Any] = list(key.field.examples or [])
    candidates += [word.rstrip(".;,)").strip("\"'`") for word in _EG.findall(key.doc)]
    candidates += _simplest(key.field)
    for candidate in candidates:
        try:
            validated = key.owner.model_validate({key.path[-1]: candidate})
        except ValidationError as exc:
            if any(error["loc"][:1] == (key.path[-1],) for error in exc.errors()):
                continue
            return candidate
        value = getattr(validated, key.path[-1])
        if value is not None:
            return value
    raise ConfigDocError(f"no example value for {key.name}: give its Field examples=[...]")


def _simplest(field: FieldInfo) -> list[Any]:
    low: Any = None
    for meta in field.metadata:
        if isinstance(meta, annotated_types.Ge):
            low = meta.ge
        elif isinstance(meta, annotated_types.Gt) and low is None:
            low = meta.gt + 1  # type: ignore[operator]
    found: list[Any] = []
    for arg in _union_args(field.annotation):
        origin = get_origin(arg)
        if arg is bool:
            found.append(False)
        elif arg in (int, float):
            found.append(arg(low if low is not None else 1))
        elif arg is str:
            found.append("")
        elif origin is Literal:
            found.extend(get_args(arg))
        elif origin is list or arg is list:
            found.append([])
        elif origin is dict or arg is dict:
            found.append({})
    return found


def _comment(text: str) -> list[str]:
    return ["# " + line for line in textwrap.wrap(text, 86, break_on_hyphens=False)] if text else []


# ---------------------------------------------------------------- docs/configuration.md


def render_markdown(model: type[BaseModel] = StomperSettings) -> str:
    """`docs/configuration.md`: a table of every key, then one section per key."""
    all_tables = list(tables(model))
    out = [
        "# Configuration reference",
        "",
        f"<!-- Generated from src/stomper/config.py by `{REGENERATE}`: edit the field",
        "     docstrings there, then regenerate; do not edit this file by hand. -->",
        "",
        "Stomper reads its settings from, highest first: command-line options, `STOMPER_*`",
        "environment variables, `stomper.toml`, `[tool.stomper]` in `pyproject.toml`, and the",
        "defaults below. `stomper init` writes a starting `stomper.toml`;",
        "[`stomper.toml.example`](../stomper.toml.example) lists every key at its default.",
        "",
        "Environment variables are `STOMPER_` and the key in capitals, a nested key's parts",
        "joined by `__` (`agent.timeout` is `STOMPER_AGENT__TIMEOUT`). Lists and tables are",
        'written as JSON: `STOMPER_TOOLS=\'["ruff", "mypy"]\'`.',
        "",
        "| key | type | default | environment variable |",
        "|---|---|---|---|",
    ]
    for table in all_tables:
        for key in table.keys:
            cells = [f"`{key.name}`", type_text(key.field), _default_text(key), f"`{key.env}`"]
            out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    for table in all_tables:
        out += ["", f"## `[{table.name}]`" if table.path else "## Top-level keys"]
        if table.doc:
            out += ["", table.doc]
        for key in table.keys:
            out += [
                "",
                f"### `{key.name}`",
                "",
                key.doc or "(undocumented)",
                "",
                f"- Type: {type_text(key.field)}",
                f"- Default: {_default_text(key)}",
                f"- Environment variable: `{key.env}`",
            ]
            out += _entry_lines(key)
    return "\n".join(out) + "\n"


def _entry_lines(key: Key) -> list[str]:
    """For a table of tables (e.g. prices by model), the keys of each entry."""
    origin, args = get_origin(key.field.annotation), get_args(key.field.annotation)
    entry = _model_type(args[1]) if origin is dict and len(args) == 2 else None
    if entry is None:
        return []
    lines = ["- Each entry is a table with:"]
    for name, field in entry.model_fields.items():
        default = "required" if field.is_required() else f"default {_default_text_of(field)}"
        lines.append(f"  - `{name}` ({type_text(field)}, {default}): {_one_line(field.description)}")
    return lines


def type_text(field: FieldInfo) -> str:
    """The type of a field in TOML's words, with its bounds: `integer (>= 1, <= 32)`."""
    bounds = []
    for meta in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if isinstance(getattr(meta, attr, None), int | float):
                bounds.append(f"{sign} {getattr(meta, attr)}")
    args = _union_args(field.annotation)
    text = " | ".join(_type_name(a) for a in args if a is not type(None))
    text = f"{text} ({', '.join(bounds)})" if bounds else text
    return f"{text}, or not set" if type(None) in args else text


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is type(None):
        return "none"
    if origin is Literal:
        return " | ".join(json.dumps(a.value if isinstance(a, enum.Enum) else a) for a in args)
    if origin in (Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " | ".join(names) + (" | none" if type(None) in args else "")
    if origin is list or origin is tuple or origin is set:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        if len(args) == 2 and _model_type(args[1]) is not None:
            return "table of tables"
        return f"table of {_type_name(args[1])}" if len(args) == 2 else "table"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    simple = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path (string)"}
    if annotation in simple:
        return simple[annotation]
    return getattr(annotation, "__name__", str(annotation))


def _default_text(key: Key) -> str:
    return _default_text_of(key.field)


def _default_text_of(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    return "not set" if value is None else f"`{toml_value(value)}`"


# ---------------------------------------------------------------- TOML values


def toml_value(value: Any) -> str:
    """`value` as a TOML value (inline tables for mappings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return toml_value(value.value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(repr(value), repr(value))
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, BaseModel):
        return toml_value(value.model_dump(mode="json", exclude_none=True))
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = (f"{_toml_key(str(k))} = {toml_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + ", ".join(items) + " }"
    raise ConfigDocError(f"cannot write {value!r} as TOML")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _toml_key_path(path: Sequence[str]) -> str:
    return ".".join(_toml_key(part) for part in path)


# ---------------------------------------------------------------- helpers


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _union_args(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _model_type(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, for a field that is itself a table."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


# ---------------------------------------------------------------- the command


def generated() -> dict[Path, str]:
    """Each generated file, relative to the repository root, and its content."""
    return {DOC_PATH: render_markdown(), EXAMPLE_PATH: render_example()}


def stale(root: Path) -> list[Path]:
    """The generated files under `root` that differ from what the model gives now."""
    found = []
    for relative, text in generated().items():
        path = root / relative
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            found.append(relative)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m stomper.configdoc [--check] [--root DIR]`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m stomper.configdoc", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="The stomper checkout to write into (default: the one this module is in).",
    )
    parser.add_argument("--check", action="store_true", help="Change nothing; exit 1 if a file is out of date.")
    args = parser.parse_args(argv)
    root: Path = args.root
    if not (root / "pyproject.toml").is_file():
        parser.error(f"{root} is not a stomper checkout (no pyproject.toml); give --root")
    outdated = stale(root)
    if args.check:
        for relative in outdated:
            print(f"{relative} is out of date; run `{REGENERATE}`", file=sys.stderr)
        return 1 if outdated else 0
    for relative, text in generated().items():
        if relative in outdated:
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(text, encoding="utf-8")
            print(f"wrote {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
