"""YAML for user files: safe types only, and aliases that cannot expand without bound.

PyYAML's safe loader shares the object an alias names, so a few lines of nested aliases ("a
billion laughs") load quickly but describe a structure with billions of elements, which the
first walk over it (validation, JSON, a message quoting it) then tries to visit. The loaded value
is therefore walked once, with a budget of visited elements, before anything else sees it.
"""

from __future__ import annotations

from typing import Any

import yaml

#: Elements (scalars, keys, list items) a loaded document may expand to, aliases counted each time.
MAX_ELEMENTS = 100_000
#: Characters of YAML text accepted at all (a run spec is a few hundred).
MAX_CHARACTERS = 1_000_000


class YAMLTooLarge(ValueError):
    """The document (or what its aliases expand to) is beyond the limits."""


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, refused (:class:`YAMLTooLarge`) past the limits above.

    Raises
    ------
    yaml.YAMLError
        For malformed YAML.
    YAMLTooLarge
        For a text longer than :data:`MAX_CHARACTERS` or one whose aliases expand past
        :data:`MAX_ELEMENTS` elements (including a recursive alias).
    """
    if len(text) > MAX_CHARACTERS:
        raise YAMLTooLarge(f"the YAML text has {len(text):,} characters (at most {MAX_CHARACTERS:,} are read)")
    value = yaml.safe_load(text)
    _check_expanded_size(value)
    return value


def _check_expanded_size(value: Any) -> None:
    visited = 0
    stack = [value]
    while stack:
        item = stack.pop()
        visited += 1
        if visited > MAX_ELEMENTS:
            raise YAMLTooLarge(
                f"the YAML expands to more than {MAX_ELEMENTS:,} elements through its aliases (&anchor/*alias); "
                "write the values out instead"
            )
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
