"""docs/configuration.md lists every setting and transport option with its default, from the code."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

from celery_compat.config import DEFAULTS
from kombu_transport_django.options import TransportOptions

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_setting_and_option_is_documented_with_its_default() -> None:
    text = DOC.read_text()
    generate = _generator()
    missing = [name for name in DEFAULTS if f"| [`{name}`](" not in text]
    assert not missing, f"settings missing from docs/configuration.md: {missing}; run python3 dev.py docs"
    for name, default in DEFAULTS.items():
        assert f"| [`{name}`]({generate.CELERY_DOCS.format(name)}) | {generate.fmt(default)} |" in text, name
    for field in dataclasses.fields(TransportOptions):
        assert f"| `{field.name}` |" in text, f"transport option {field.name} missing; run python3 dev.py docs"


def test_configuration_reference_is_up_to_date() -> None:
    assert DOC.read_text() == _generator().render(), (
        "docs/configuration.md is out of date with celery_compat/config.py or "
        "kombu_transport_django/options.py: run python3 dev.py docs"
    )
