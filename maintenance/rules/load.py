"""Rule files (YAML or JSON) -> validated RuleSet. Errors name the rule and field at fault."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import msgspec
import yaml

from maintenance.errors import Invalid
from maintenance.rules.model import RuleSet


def parse(text: str) -> RuleSet:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Invalid(f"rule file is not YAML: {exc}") from exc
    try:
        ruleset = msgspec.convert(document, RuleSet)
    except msgspec.ValidationError as exc:
        raise Invalid(f"rule file rejected: {exc}") from exc
    keys = [r.key for r in ruleset.rules]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise Invalid(f"rule keys used more than once: {', '.join(duplicates)}")
    return ruleset


def load_file(path: Path) -> RuleSet:
    return parse(path.read_text())


def default_rules() -> RuleSet:
    return parse(resources.files("maintenance.rules").joinpath("default_rules.yaml").read_text())
