#!/usr/bin/env python3
"""Builds the static files nginx serves itself into a directory (used by make static):
openapi.json from docs/openapi.yaml. With --check (make static-check, part of make test) the
document is first checked to be a valid OpenAPI 3.1 document (openapi-spec-validator, from the
test tools); building alone needs only PyYAML (Debian's python3-yaml)."""
import json
import pathlib
import sys

import yaml


def main() -> int:
    arguments = sys.argv[1:]
    check = "--check" in arguments
    arguments = [argument for argument in arguments if argument != "--check"]
    if len(arguments) != 2:
        print("usage: build-static.py [--check] docs/openapi.yaml OUTPUT_DIR", file=sys.stderr)
        return 64
    source, output = pathlib.Path(arguments[0]), pathlib.Path(arguments[1])
    if check:
        from openapi_spec_validator import validate
        from openapi_spec_validator.readers import read_from_filename
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
