#!/usr/bin/env python3
"""Validates JSON documents against the official SBOM JSON schemas vendored in
testdata/schemas/, with the `jsonschema` package (the reference validator).

usage: validate_schema.py cyclonedx|spdx SCHEMA_DIR FILE...
Prints one line per error and exits 1 when any document is invalid.
"""
import json
import sys
from pathlib import Path

import jsonschema
from referencing import Registry, Resource


def main() -> int:
    kind, schema_dir, files = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    load = lambda name: json.loads((schema_dir / name).read_text())
    if kind == "cyclonedx":
        root = load("bom-1.6.schema.json")
        base = "http://cyclonedx.org/schema/"
        registry = Registry().with_resources(
            [
                (base + "spdx.SNAPSHOT.schema.json", Resource.from_contents(load("spdx-licenses.schema.json"))),
                (base + "jsf-0.82.SNAPSHOT.schema.json", Resource.from_contents(load("jsf-0.82.schema.json"))),
            ]
        )
    elif kind == "spdx":
        root = load("spdx-2.3.schema.json")
        registry = Registry()
    else:
        print(f"unknown kind {kind}", file=sys.stderr)
        return 2
    cls = jsonschema.validators.validator_for(root)
    cls.check_schema(root)
    validator = cls(root, registry=registry, format_checker=cls.FORMAT_CHECKER)
    bad = 0
    for f in files:
        doc = json.loads(Path(f).read_text())
        for err in validator.iter_errors(doc):
            bad += 1
            path = "/".join(str(p) for p in err.absolute_path)
            print(f"{f}: /{path}: {err.message[:300]}")
    print(f"validated {len(files)} {kind} document(s), {bad} error(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
