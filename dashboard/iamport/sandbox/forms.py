"""Request parameters: PHP-style bracket names, and coercion of the strings forms carry.

Form bodies and query strings name nested values the way iamport's PHP backend reads them:
``merchant_uid[]=a&merchant_uid[]=b`` is a list, ``schedules[0][amount]=1000`` is a list of
objects, ``extra[requester]=admin`` is an object. ``nest`` turns such pairs into the structure a
JSON body would have carried, so every endpoint reads one shape. Form values are strings, so the
``as_*`` helpers coerce them and raise BadRequest naming the parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from .errors import BadRequest

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def _split(name: str) -> list[str]:
    head, _, rest = name.partition("[")
    if not rest:
        return [name]
    segments = _SEGMENT.findall("[" + rest)
    return [head, *segments]


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        node = {key: _listify(value) for key, value in node.items()}
        if node and all(isinstance(key, str) and key.isdigit() for key in node):
            return [node[key] for key in sorted(node, key=int)]
    elif isinstance(node, list):
        return [_listify(value) for value in node]
    return node


def nest(pairs: Iterable[tuple[str, str]]) -> dict:
    """Build nested dicts and lists from bracket-named form or query pairs."""
    root: dict = {}
    for name, value in pairs:
        segments = _split(name)
        node: Any = root
        for index, segment in enumerate(segments):
            last = index == len(segments) - 1
            following = None if last else segments[index + 1]
            if segment == "" and isinstance(node, list):
                if last:
                    node.append(value)
                    break
                node.append({})
                node = node[-1]
                continue
            if not isinstance(node, dict):
                break  # malformed mix such as a[]=1&a[x]=2: keep what parsed
            if last:
                node[segment] = value
            else:
                default: Any = [] if following == "" else {}
                current = node.get(segment)
                if not isinstance(current, (dict, list)):
                    node[segment] = default
                node = node[segment]
    return _listify(root)


def parameter_names(params: dict) -> list[str]:
    """List the parameter names in a nested body, e.g. ``schedules`` and ``schedules[].amount``."""
    names: list[str] = []
    for key, value in params.items():
        names.append(key)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                names.extend(f"{key}[].{sub}" if isinstance(value, list) else f"{key}.{sub}"
                             for sub in parameter_names(item))
    return sorted(set(names))


def present(value: Any) -> bool:
    """Tell whether a parameter was actually given (not absent, null or an empty string)."""
    return value is not None and value != ""


def require(params: dict, name: str) -> Any:
    """Return a parameter, or raise BadRequest when it is missing."""
    value = params.get(name)
    if not present(value):
        raise BadRequest(f"{name} 파라메터가 누락되었습니다.")
    return value


def as_text(params: dict, name: str, *, required: bool = False, max_length: int | None = None
            ) -> str | None:
    """Return a string parameter, enforcing the schema's maxLength."""
    value = require(params, name) if required else params.get(name)
    if not present(value):
        return None
    if isinstance(value, (dict, list)):
        raise BadRequest(f"{name} 파라메터는 문자열이어야 합니다.")
    text = str(value)
    if max_length is not None and len(text) > max_length:
        raise BadRequest(f"{name} 파라메터는 최대 {max_length}자까지 입력할 수 있습니다.")
    return text


def as_int(params: dict, name: str, *, required: bool = False, default: int | None = None
           ) -> int | None:
    """Return an integer parameter; accepts numbers and numeric strings."""
    value = require(params, name) if required else params.get(name)
    if not present(value):
        return default
    if isinstance(value, bool):
        raise BadRequest(f"{name} 파라메터는 정수여야 합니다.")
    try:
        number = float(value) if isinstance(value, str) and "." in value else value
        result = int(number)
        if result != float(number):
            raise ValueError
    except (TypeError, ValueError):
        raise BadRequest(f"{name} 파라메터는 정수여야 합니다.") from None
    return result


def as_amount(params: dict, name: str, *, required: bool = False) -> int | None:
    """Return a KRW amount (a non-negative whole number of won)."""
    amount = as_int(params, name, required=required)
    if amount is not None and amount < 0:
        raise BadRequest(f"{name} 파라메터는 0 이상이어야 합니다.")
    return amount


def as_bool(params: dict, name: str, *, default: bool = False) -> bool:
    """Return a boolean parameter; accepts true/false, 1/0, "true"/"false"."""
    value = params.get(name)
    if not present(value):
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "y", "yes"):
        return True
    if text in ("false", "0", "n", "no"):
        return False
    raise BadRequest(f"{name} 파라메터는 true 또는 false여야 합니다.")


def as_list(params: dict, name: str) -> list[str]:
    """Return a parameter that may be a list or a single value as a list of strings."""
    value = params.get(name)
    if not present(value):
        return []
    values = value if isinstance(value, list) else [value]
    return [str(item) for item in values if present(item)]


def as_objects(params: dict, name: str) -> list[dict]:
    """Return a list of objects, also when a form sent it as one JSON-encoded string."""
    value = require(params, name)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BadRequest(f"{name} 파라메터 형식이 올바르지 않습니다.") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise BadRequest(f"{name} 파라메터 형식이 올바르지 않습니다.")
    return value
