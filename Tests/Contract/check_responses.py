#!/usr/bin/env python3
"""Checks every response the end-to-end tests recorded (Tests/TestSupport/ResponseRecorder.swift)
against the OpenAPI document: the status must be documented for the operation, the content type
must be one it lists, and the body must match its schema. Responses of paths the document does
not have must be JSON errors (but the console's static files under /console/). Every documented operation must have been seen at least once.

Exit status: 0 when everything conforms, 1 with one line per violation otherwise, 64 for a
usage error."""
import json
import pathlib
import re
import sys
import urllib.parse

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "urn:pxe-catalog:openapi"


class Contract:
    def __init__(self, document):
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(BASE, resource)
        self.validators = {}
        # Literal paths before templated ones, so /pxe/boot.ipxe never matches /pxe/{id}/...
        self.templates = sorted(
            ((template, re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"))
             for template in document["paths"]),
            key=lambda item: item[0].count("{"))

    def resolve(self, value):
        while isinstance(value, dict) and "$ref" in value:
            pointer = value["$ref"].lstrip("#/").split("/")
            value = self.document
            for part in pointer:
                value = value[part.replace("~1", "/").replace("~0", "~")]
        return value

    def validator(self, pointer):
        if pointer not in self.validators:
            self.validators[pointer] = Draft202012Validator(
                {"$ref": BASE + "#" + pointer}, registry=self.registry, format_checker=FormatChecker())
        return self.validators[pointer]

    def match(self, path):
        for template, pattern in self.templates:
            if pattern.match(path):
                return template
        return None


def pointer_of(*parts):
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def check(contract, record, seen):
    method, path, status = record["method"], record["path"], record["status"]
    headers = record["headers"]
    content_type = headers.get("content-type", "").split(";")[0].strip()
    target = path + ("?" + record["query"] if record["query"] else "")
    where = f"{method} {target[:120]}{'...' if len(target) > 120 else ''} -> {status}"
    template = contract.match(nginx_uri(path))
    if template is None and (path == "/console" or path.startswith("/console/")):
        return []   # the console's static files, which nginx serves itself (README, "Console")
    if template is None:
        # Not an API path: it may only be refused, with the API's JSON error.
        if status < 400:
            return [f"{where}: a path the document does not have answered {status}"]
        return check_error_body(record, where)
    item = contract.document["paths"][template]
    operation_method = method.lower()
    if operation_method == "head" and "head" not in item:
        operation_method = "get"   # HEAD of a GET: its headers, no body
    if operation_method not in item:
        if status != 405 or "allow" not in headers:
            return [f"{where}: {method} is not an operation of {template}; expected 405 with Allow"]
        return check_error_body(record, where)
    seen.add((template, method.lower() if method != "HEAD" or "head" in item else "get"))
    responses = item[operation_method]["responses"]
    # `default` stands for refusals (the JSON error), never for an undocumented success.
    key = str(status) if str(status) in responses else "default" if "default" in responses and status >= 400 else None
    if key is None:
        return [f"{where}: status {status} is not documented for {method} {template} (documented: {', '.join(responses)})"]
    response_pointer = pointer_of("paths", template, operation_method, "responses", key)
    response = responses[key]
    if "$ref" in response:
        response_pointer = response["$ref"].lstrip("#")
        response = contract.resolve(response)
    problems = []
    for name, raw_spec in response.get("headers", {}).items():
        value = headers.get(name.lower())
        spec = contract.resolve(raw_spec)
        if value is None:
            if spec.get("required"):
                problems.append(f"{where}: required header {name} is missing")
            continue
        schema = contract.resolve(spec.get("schema", {}))
        candidate = int(value) if schema.get("type") == "integer" and value.isdigit() else value
        header_pointer = (response_pointer + pointer_of("headers", name, "schema")) if "$ref" not in raw_spec \
            else raw_spec["$ref"].lstrip("#") + "/schema"
        for error in contract.validator(header_pointer).iter_errors(candidate):
            problems.append(f"{where}: header {name}: {error.message}")
    content = response.get("content")
    if method == "HEAD" or status == 304:
        return problems
    if not content:
        if record.get("body") or record.get("body_length"):
            problems.append(f"{where}: the document lists no body, but one came")
        return problems
    if content_type not in content:
        return problems + [f"{where}: content type {content_type or '(none)'} is not one of {', '.join(content)}"]
    if "body" not in record:
        return problems   # binary: the type is what can be checked
    schema_pointer = response_pointer + pointer_of("content", content_type, "schema")
    if content_type == "application/json":
        try:
            body = json.loads(record["body"])
        except ValueError as error:
            return problems + [f"{where}: the body is not JSON: {error}"]
    else:
        body = record["body"]
    for error in sorted(contract.validator(schema_pointer).iter_errors(body), key=lambda e: list(e.absolute_path)):
        location = "/".join(str(part) for part in error.absolute_path) or "(body)"
        problems.append(f"{where}: {location}: {error.message[:300]}")
    return problems


def nginx_uri(path):
    """The URI nginx matches locations against (and passes as DOCUMENT_URI): percent-decoded,
    slashes merged, `.` and `..` segments resolved."""
    decoded = urllib.parse.unquote(path, errors="surrogateescape")
    segments = []
    for segment in decoded.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return "/" + "/".join(segments) + ("/" if decoded.endswith("/") and segments else "")


def check_error_body(record, where):
    if record["method"] == "HEAD":
        return []
    if not record["headers"].get("content-type", "").startswith("application/json"):
        return [f"{where}: the error is {record['headers'].get('content-type', 'untyped')}, not the API's JSON error"]
    try:
        body = json.loads(record.get("body", ""))
    except ValueError:
        return [f"{where}: the error body is not JSON"]
    if not (isinstance(body, dict) and list(body) == ["error"] and isinstance(body["error"], str) and body["error"]):
        return [f"{where}: the error body is not {{\"error\": \"<sentence>\"}}: {record.get('body', '')[:200]}"]
    return []


def main():
    if len(sys.argv) != 3:
        print("usage: check_responses.py OPENAPI_JSON RESPONSES_DIR", file=sys.stderr)
        return 64
    document = json.loads(pathlib.Path(sys.argv[1]).read_text(encoding="utf-8"))
    contract = Contract(document)
    records = []
    for file in sorted(pathlib.Path(sys.argv[2]).glob("*.jsonl")):
        records += [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line]
    if not records:
        print(f"no recorded responses in {sys.argv[2]}: the end-to-end tests did not run with E2E_RESPONSES_DIR", file=sys.stderr)
        return 1
    seen = set()
    problems = []
    for record in records:
        problems += check(contract, record, seen)
    operations = {(template, method) for template, item in document["paths"].items()
                  for method in item if method in ("get", "head", "post", "put", "delete", "patch")}
    for template, method in sorted(operations - seen):
        problems.append(f"{method.upper()} {template}: documented, but no end-to-end test received an answer from it")
    unique = list(dict.fromkeys(problems))
    for problem in unique[:200]:
        print(problem)
    if len(unique) > 200:
        print(f"... and {len(unique) - 200} more")
    print(f"contract: {len(records)} responses, {len(seen)}/{len(operations)} operations seen, {len(unique)} problems",
          file=sys.stderr)
    return 1 if unique else 0


if __name__ == "__main__":
    sys.exit(main())
