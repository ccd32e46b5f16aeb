"""YAML files read into plain dicts, with one-line errors (``UserError``).

The one place that reads YAML for the app's ``config.yaml`` (``app.config``) and the trainer's
training and ablation configs (``trainer.train``, ``trainer.ablate``); each side checks the dict
against its own dataclasses. ``--set KEY=VALUE`` overrides go through ``parse_override`` and
``set_dotted``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from engine.errors import UserError


def read_yaml(path: str | Path, what: str = "config file", error=UserError) -> dict:
    """The mapping in a YAML file (``{}`` for an empty file). A missing, unreadable, non-UTF-8 or
    malformed file, or one that holds something other than a mapping, raises ``error`` (a
    ``UserError`` class) with one line naming the file; ``what`` says what the file is."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{p}: {what} not found") from None
    except OSError as e:
        raise error(f"{p}: cannot read {what} ({e.strerror})") from None
    except UnicodeDecodeError as e:
        line = e.object[:e.start].count(b"\n") + 1
        raise error(f"{p}: not UTF-8 text (byte 0x{e.object[e.start]:02x} on line {line}); "
                    "save the file as UTF-8") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise error(f"{p.name}: not valid YAML{at}") from None
    if not isinstance(data, dict):
        raise error(f"{p.name}: the file must be a mapping of keys, got {type_word(data)}")
    return data


def type_word(value: Any) -> str:
    """What a YAML value is, in words: ``"a number"``, ``"a list"``, ..."""
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a mapping", type(None): "empty"}.get(type(value), type(value).__name__)


def parse_override(text: str, error=UserError) -> tuple[str, Any]:
    """``"vmc.port=9000"`` -> ``("vmc.port", 9000)`` (the value read as YAML; text that is not YAML
    stays text)."""
    if "=" not in text:
        raise error(f"--set {text!r}: expected KEY=VALUE, e.g. --set vmc.port=39540")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def set_dotted(data: dict, dotted: str, value: Any, src: str = "--set", error=UserError) -> None:
    """``data["a"]["b"] = value`` for ``dotted = "a.b"``, making missing sections."""
    keys = dotted.split(".")
    node = data
    for k in keys[:-1]:
        nxt = node.setdefault(k, {})
        if not isinstance(nxt, dict):
            raise error(f"{src}: '{dotted}' goes below '{k}', which is not a section")
        node = nxt
    node[keys[-1]] = value
