#!/usr/bin/env python3
"""Builds the static files nginx serves itself into a directory (used by make static):
openapi.json from docs/openapi.yaml, checked to be a valid OpenAPI 3.1 document first."""
import json
import pathlib
import sys

import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: build-static.py docs/openapi.yaml OUTPUT_DIR", file=sys.stderr)
        return 64
    source, output = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    document, _ = read_from_filename(str(source))
    try:
        validate(document)
    except Exception as error:  # the validator's errors name the path in the document
        print(f"{source} is not a valid OpenAPI document: {error}", file=sys.stderr)
        return 1
    output.mkdir(parents=True, exist_ok=True)
    target = output / "openapi.json"
    temporary = target.with_suffix(".json.tmp")
    with open(source, encoding="utf-8") as handle:
        ordered = yaml.safe_load(handle)   # keeps the document's key order
    temporary.write_text(json.dumps(ordered, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    temporary.replace(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
