"""Rule files (YAML or JSON) -> validated RuleSet. Errors name the rule and field at fault."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Final

import msgspec
import yaml

from maintenance.errors import Invalid
from maintenance.rules.model import RuleSet

SHIPPED_SOURCE: Final = "shipped:maintenance/rules/default_rules.yaml"


def parse(text: str) -> RuleSet:
    return validate(read_document(text))


def read_document(text: str) -> object:
    """YAML (or JSON, which is YAML) text -> plain document, not yet validated."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Invalid(f"rule file is not YAML: {exc}") from exc


def validate(document: object) -> RuleSet:
    """The one validation path for every rule document (shipped file, admin upload, stored row)."""
    try:
        ruleset = msgspec.convert(document, RuleSet)
    except msgspec.ValidationError as exc:
        raise Invalid(f"rule file rejected: {exc}{_rule_named(document, str(exc))}") from exc
    keys = [r.key for r in ruleset.rules]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise Invalid(f"rule keys used more than once: {', '.join(duplicates)}")
    return ruleset


def _rule_named(document: object, message: str) -> str:
    """ " (rule <key>)" when the error is located in a rule that has a key; msgspec names only the
    position (`$.rules[3].hold_s`), and an admin knows rules by key."""
    found = re.search(r"\$\.rules\[(\d+)\]", message)
    if found is None or not isinstance(document, dict):
        return ""
    rules = document.get("rules")
    index = int(found.group(1))
    if not isinstance(rules, list) or index >= len(rules) or not isinstance(rules[index], dict):
        return ""
    key = rules[index].get("key")
    if not isinstance(key, str) or f"rule {key}:" in message:
        return ""  # a rule's own check (__post_init__) names its key already
    return f" (rule {key})"


def load_file(path: Path) -> RuleSet:
    return parse(path.read_text())


def shipped_text() -> str:
    return resources.files("maintenance.rules").joinpath("default_rules.yaml").read_text()


def default_rules() -> RuleSet:
    """The shipped rule set. Processes use the active one from the database instead
    (maintenance.rules.store.active_rules), which starts as this."""
    return parse(shipped_text())
