#!/usr/bin/env python3
"""Write the part of the official iamport V1 schema this project uses to tests/contract/.

Source: the V1 OpenAPI (Swagger 2.0) schema that PortOne publishes inside the PyPI package
``portone-mcp-server``, pinned to version 0.12.1, file
``portone_mcp_server/resources/docs/schema/v1.openapi.json``. Fetch it with::

    d=$(mktemp -d) && pip download --no-deps --only-binary=:all: --python-version 3.12 \\
        -d "$d" portone-mcp-server==0.12.1 && unzip -q -o "$d"/*.whl -d "$d/x"
    python scripts/make_schema_subset.py \\
        "$d/x/portone_mcp_server/resources/docs/schema/v1.openapi.json"

(``--python-version 3.12`` only because the package declares Python 3.12; we use its data.)
Without an argument the script runs that download itself.

What the subset keeps: the paths and methods in ``USED`` and every definition they reference,
transitively. What it removes: ``description``, ``summary``, ``example``/``examples``, ``tags``
and every ``x-portone-*`` key (prose, not contract). What it normalises, so that the result is
valid draft-4 JSON Schema: numeric keywords written as strings (``"maxLength": "80"``) become
numbers, and ``default`` values that contradict their parameter's type (an integer written as
a string is converted; prose defaults on arrays are dropped). Output: sorted keys, indent 1.
"""

from __future__ import annotations

import argparse
import glob
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "portone-mcp-server"
VERSION = "0.12.1"
SCHEMA_IN_WHEEL = "portone_mcp_server/resources/docs/schema/v1.openapi.json"
OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "contract" / "iamport-v1.subset.json"

USED = {
    "/users/getToken": ["post"],
    "/subscribe/customers": ["get"],
    "/subscribe/customers/{customer_uid}": ["get", "post", "delete"],
    "/subscribe/customers/{customer_uid}/payments": ["get"],
    "/subscribe/customers/{customer_uid}/schedules": ["get"],
    "/subscribe/payments/again": ["post"],
    "/subscribe/payments/onetime": ["post"],
    "/subscribe/payments/schedule": ["get", "post"],
    "/subscribe/payments/unschedule": ["post"],
    "/subscribe/payments/schedule/customers/{customer_uid}": ["get"],
    "/subscribe/payments/schedule/{merchant_uid}": ["get", "put"],
    "/subscribe/payments/schedule/{merchant_uid}/reschedule": ["post"],
    "/subscribe/payments/schedule/{merchant_uid}/retry": ["post"],
    "/payments": ["get"],
    "/payments/cancel": ["post"],
    "/payments/prepare": ["post"],
    "/payments/prepare/{merchant_uid}": ["get"],
    "/payments/find/{merchant_uid}/{payment_status}": ["get"],
    "/payments/findAll/{merchant_uid}/{payment_status}": ["get"],
    "/payments/status/{payment_status}": ["get"],
    "/payments/{imp_uid}": ["get"],
}

PROSE_KEYS = {"description", "summary", "example", "examples", "tags"}
NUMERIC_KEYS = {"maxLength", "minLength", "maximum", "minimum", "maxItems", "minItems"}


def _number(value):
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return float(value)
    return value


def _fix_default(node: dict) -> None:
    if "default" not in node:
        return
    kind, default = node.get("type"), node["default"]
    if kind in ("integer", "number") and isinstance(default, str):
        try:
            node["default"] = _number(default)
        except ValueError:
            del node["default"]
    elif kind in ("array", "object") and not isinstance(default, (list, dict)):
        del node["default"]


def strip(node):
    """Remove prose keys and normalise numeric keywords, recursively."""
    if isinstance(node, list):
        return [strip(item) for item in node]
    if not isinstance(node, dict):
        return node
    cleaned = {}
    for key, value in node.items():
        if key in PROSE_KEYS or key.startswith("x-portone-"):
            continue
        if key == "properties" and isinstance(value, dict):
            # keys of "properties" are property names, never keywords: keep every one
            cleaned[key] = {name: strip(schema) for name, schema in value.items()}
        elif key in NUMERIC_KEYS:
            cleaned[key] = _number(value)
        else:
            cleaned[key] = strip(value)
    _fix_default(cleaned)
    return cleaned


def _references(node, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            found.add(ref.removeprefix("#/definitions/"))
        for value in node.values():
            _references(value, found)
    elif isinstance(node, list):
        for value in node:
            _references(value, found)


def subset(schema: dict, used: dict[str, list[str]] = USED) -> dict:
    """Return the used paths of a Swagger 2.0 schema with the definitions they need."""
    paths = {}
    for path, methods in used.items():
        operations = schema["paths"][path]
        paths[path] = {method: strip(operations[method]) for method in methods}
    needed: set[str] = set()
    _references(paths, needed)
    pending = list(needed)
    while pending:
        name = pending.pop()
        inner: set[str] = set()
        _references(schema["definitions"][name], inner)
        for ref in inner - needed:
            needed.add(ref)
            pending.append(ref)
    return {
        "swagger": schema["swagger"],
        "info": {"title": schema["info"].get("title"), "version": schema["info"].get("version")},
        "host": schema.get("host"),
        "basePath": schema.get("basePath"),
        "schemes": schema.get("schemes"),
        "x-source": {"package": f"{PACKAGE}=={VERSION}", "file": SCHEMA_IN_WHEEL},
        "paths": paths,
        "definitions": {name: strip(schema["definitions"][name]) for name in sorted(needed)},
    }


def download() -> Path:
    """Download the pinned package and return the schema file inside it."""
    directory = Path(tempfile.mkdtemp(prefix="portone-"))
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--python-version", "3.12", "-d", str(directory), f"{PACKAGE}=={VERSION}"],
        check=True,
    )
    wheel = glob.glob(str(directory / "*.whl"))[0]
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(SCHEMA_IN_WHEEL, directory / "x")
    return directory / "x" / SCHEMA_IN_WHEEL


def main(argv: list[str] | None = None) -> int:
    """Read the full schema, write the subset, and say what was written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("schema", nargs="?", type=Path,
                        help="path to v1.openapi.json (downloaded when omitted)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    source = args.schema or download()
    result = subset(json.loads(source.read_text(encoding="utf-8")))
    args.output.write_text(json.dumps(result, ensure_ascii=False, indent=1, sort_keys=True)
                           + "\n", encoding="utf-8")
    print(f"wrote {args.output}: {len(result['paths'])} paths, "
          f"{len(result['definitions'])} definitions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
