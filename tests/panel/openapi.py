"""Check real API answers against the published OpenAPI document."""
from __future__ import annotations

from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from panel.blueprints.api import openapi_document

_ROOT = "urn:wadah:openapi"


def conforms(response: Any, path: str, method: str = "get") -> Any:
    """Assert `response` is one the document declares for `method path`; return its JSON body."""
    document = openapi_document()
    pointer = ["paths", path, method.lower(), "responses", str(response.status_code)]
    declared = _at(document, pointer)
    assert declared is not None, (
        f"{method.upper()} {path} answered {response.status_code}, which the document does not declare: "
        f"{response.get_data(as_text=True)[:500]}")
    if "$ref" in declared:
        pointer = declared["$ref"].removeprefix("#/").split("/")
        declared = _at(document, pointer)
    if "application/json" not in declared.get("content", {}):
        return None
    body = response.get_json()
    # Validate against the schema where it sits, so its "#/components/..." references resolve.
    location = "/".join(part.replace("~", "~0").replace("/", "~1")
                        for part in [*pointer, "content", "application/json", "schema"])
    registry = Registry().with_resource(_ROOT, Resource(contents=document, specification=DRAFT202012))
    validator = jsonschema.Draft202012Validator({"$ref": f"{_ROOT}#/{location}"}, registry=registry)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{method.upper()} {path} {response.status_code}: " + "; ".join(
        f"{list(e.path)}: {e.message}" for e in errors[:5])
    return body


def _at(document: dict[str, Any], pointer: list[str]) -> Any:
    node: Any = document
    for part in pointer:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
