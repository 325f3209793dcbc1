from __future__ import annotations

import datetime
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from stomper import configdoc
from stomper.config import StomperSettings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def every_key(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The dotted path of every setting, found independently of configdoc."""
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from every_key(field.annotation, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("relative", [configdoc.DOC_PATH, configdoc.EXAMPLE_PATH], ids=str)
def test_generated_file_is_current(relative: Path) -> None:
    expected = configdoc.generated()[relative]
    path = ROOT / relative
    actual = path.read_text(encoding="utf-8") if path.exists() else "(missing)"
    assert actual == expected, (
        f"{relative} does not match the settings in src/stomper/config.py; "
        f"regenerate it with `{configdoc.REGENERATE}` and commit the result"
    )


def test_every_key_is_documented_with_its_environment_variable() -> None:
    markdown = configdoc.render_markdown()
    for path in every_key(StomperSettings):
        name = ".".join(path)
        assert f"### `{name}`" in markdown
        assert f"`STOMPER_{'__'.join(path).upper()}`" in markdown
    assert "`STOMPER_AGENT__COMMAND`" in markdown


def test_example_uncommented_sets_every_key_and_loads_at_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STOMPER_SANDBOX")  # the tests' own default (conftest.py)
    text = configdoc.uncomment((ROOT / configdoc.EXAMPLE_PATH).read_text(encoding="utf-8"))
    document = tomllib.loads(text)
    for path in every_key(StomperSettings):
        node: Any = document
        for part in path:
            assert part in node, f"{'.'.join(path)} is missing from stomper.toml.example"
            node = node[part]

    (tmp_path / "stomper.toml").write_text(text, encoding="utf-8")
    loaded = load_settings(tmp_path).model_dump()
    defaults = StomperSettings().model_dump()
    for path in every_key(StomperSettings):
        got, default = loaded, defaults
        for part in path:
            got, default = got[part], default[part]
        if default is not None:
            assert got == default, ".".join(path)
        else:
            assert got is not None, ".".join(path)


def test_a_new_key_and_table_are_picked_up() -> None:
    class Extra(BaseModel):
        """Settings of something new."""

        model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

        depth: int = Field(2, ge=1)
        """How deep to go."""

    class Grown(StomperSettings):
        new_key: list[str] = Field(default_factory=lambda: ["a b"])
        """A key added after the docs were written."""

        budget: float | None = Field(default=None, gt=0, examples=[2.5])
        """Dollars, if any."""

        extra: Extra = Extra()

    markdown = configdoc.render_markdown(Grown)
    assert '| `new_key` | list of string | `["a b"]` | `STOMPER_NEW_KEY` |' in markdown
    assert "| `budget` | number (> 0), or not set | not set | `STOMPER_BUDGET` |" in markdown
    assert "## `[extra]`\n\nSettings of something new." in markdown
    assert "### `extra.depth`\n\nHow deep to go.\n\n- Type: integer (>= 1)\n- Default: `2`\n" in markdown
    assert "`STOMPER_EXTRA__DEPTH`" in markdown

    example = configdoc.render_example(Grown)
    assert '# A key added after the docs were written.\n#new_key = ["a b"]\n' in example
    assert "# Dollars, if any.\n# Not set by default; for example:\n#budget = 2.5\n" in example
    assert example.index("#[extra]") > example.index("#budget")
    document = tomllib.loads(configdoc.uncomment(example))
    assert document["extra"] == {"depth": 2}
    assert Grown.model_validate(document).budget == 2.5


def test_a_key_without_a_possible_example_is_an_error_naming_it() -> None:
    class Dated(StomperSettings):
        since: datetime.date | None = None
        """Only files changed since this day."""

    with pytest.raises(configdoc.ConfigDocError, match=r"no example value for since: give its Field examples"):
        configdoc.render_example(Dated)


def test_toml_values_round_trip() -> None:
    value = {"plain": 1, "needs quotes": ['x"y', "back\\slash", "é\n"], "f": 0.5, "b": True, "empty": {}}
    assert tomllib.loads(f"v = {configdoc.toml_value(value)}")["v"] == value


def test_command_writes_then_checks(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    command = [sys.executable, "-m", "stomper.configdoc", "--root", str(tmp_path)]

    stale = subprocess.run([*command, "--check"], capture_output=True, text=True)
    assert stale.returncode == 1
    assert "docs/configuration.md is out of date; run `python -m stomper.configdoc`" in stale.stderr

    wrote = subprocess.run(command, capture_output=True, text=True, check=True)
    assert wrote.stdout.splitlines() == ["wrote docs/configuration.md", "wrote stomper.toml.example"]
    assert (tmp_path / "stomper.toml.example").read_text() == configdoc.render_example()

    current = subprocess.run([*command, "--check"], capture_output=True, text=True)
    assert (current.returncode, current.stderr) == (0, "")


def test_command_refuses_a_directory_that_is_not_a_checkout(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stomper.configdoc", "--root", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "is not a stomper checkout" in done.stderr
    assert not (tmp_path / "docs").exists()
