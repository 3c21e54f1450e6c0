#!/usr/bin/env python3
"""Validate a JSON document against a JSON Schema with Python `jsonschema`, in the schema's own
dialect (from `$schema`), formats checked. Schemas that `$ref` other schemas by URL (CycloneDX:
spdx, jsf) are resolved from the schema's own folder, never fetched.

Usage: validate_json_schema.py SCHEMA DOCUMENT [EXTRA_PATH]
EXTRA_PATH goes first on sys.path (where install-test-deps.sh put jsonschema, if it did).
Exit 0 when valid; 1 with every error on stderr."""
import json
import os
import sys

if len(sys.argv) > 3:
    sys.path.insert(0, sys.argv[3])
import jsonschema  # noqa: E402


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


schema = load(sys.argv[1])
doc = load(sys.argv[2])
cls = jsonschema.validators.validator_for(schema)
store = {}
folder = os.path.dirname(os.path.abspath(sys.argv[1]))
for name in sorted(os.listdir(folder)):
    if name.endswith(".json"):
        try:
            s = load(os.path.join(folder, name))
        except (ValueError, OSError):
            continue
        if isinstance(s, dict):
            store[name] = s
            if "$id" in s:
                store[s["$id"]] = s
kwargs = {"format_checker": cls.FORMAT_CHECKER}
try:
    import referencing
    import referencing.jsonschema

    kwargs["registry"] = referencing.Registry().with_resources(
        (k, referencing.Resource.from_contents(v, default_specification=referencing.jsonschema.DRAFT7))
        for k, v in store.items()
    )
except ImportError:  # jsonschema < 4.18
    kwargs["resolver"] = jsonschema.RefResolver.from_schema(schema, store=store)
validator = cls(schema, **kwargs)
errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
for e in errors:
    path = "/".join(str(p) for p in e.absolute_path) or "$"
    print("%s: %s" % (path, e.message), file=sys.stderr)
sys.exit(1 if errors else 0)
