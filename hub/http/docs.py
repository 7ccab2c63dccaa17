"""The contract as documents: OpenAPI 3.1 for the REST part at ``/openapi.json``, and the index of the
GraphQL SDLs (each served as loaded at ``/graphql/<name>/schema.graphql``).

Each part module may add its own paths with ``openapi_paths() -> dict`` (and component schemas with
``openapi_schemas() -> dict``); they are merged here, so the document covers every mounted part.
"""

from __future__ import annotations

import importlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.http.context import HttpContext

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    words = {400: "the request is wrong", 401: "no valid access token", 403: "not allowed",
             404: "not found", 413: "the body is too large", 429: "over the party's rate", 503: "not available"}
    return {str(c): _json(_ERROR, words[c]) for c in codes}


HEADER = {"in": "header", "required": True, "schema": {"type": "string", "minLength": 1}}

PATHS: dict[str, Any] = {
    "/messages": {"post": {
        "summary": "Submit a message (the AMQP contract over HTTP)", "operationId": "submitMessage",
        "security": [{"bearer": []}],
        "parameters": [{**HEADER, "name": "X-Message-Kind", "description": "the message kind (AMQP type)"},
                       {**HEADER, "name": "X-Message-Id", "description": "unique per message of this party",
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:@-]{1,200}$"}},
                       {"in": "header", "name": "X-Routing-Key", "required": False, "schema": {"type": "string"},
                        "description": "an opaque per-client key (never a BSN); equal keys keep their order"},
                       {"in": "header", "name": "X-Correlation-Id", "required": False,
                        "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"*/*": {"schema": {}}}},
        "responses": {"202": _json({"$ref": "#/components/schemas/Accepted"}, "accepted for processing"),
                      **_errors(400, 401, 403, 413, 429, 503)}}},
    "/messages/{message_id}": {"get": {
        "summary": "What became of a message this party submitted", "operationId": "messageStatus",
        "security": [{"bearer": []}],
        "parameters": [{"in": "path", "name": "message_id", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json({"$ref": "#/components/schemas/Status"}, "the message's status"),
                      **_errors(401, 429)}}},
    "/graphql/{name}": {"post": {
        "summary": "A GraphQL endpoint of the netwerkpunt (its own SDL)", "operationId": "graphql",
        "security": [{"bearer": []}],
        "parameters": [{"in": "path", "name": "name", "required": True,
                        "schema": {"enum": ["indicatieregister", "bemiddelingsregister", "netwerkpunt"]}}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/GraphQLRequest"}}}},
        "responses": {"200": _json({"$ref": "#/components/schemas/GraphQLResponse"}, "executed"),
                      "400": _json({"oneOf": [{"$ref": "#/components/schemas/GraphQLResponse"}, _ERROR]},
                                   "not parsed or not valid against the SDL"),
                      **_errors(401, 404, 413, 429, 503)}}},
    "/graphql/{name}/schema.graphql": {"get": {
        "summary": "The SDL as loaded", "operationId": "sdl",
        "parameters": [{"in": "path", "name": "name", "required": True,
                        "schema": {"enum": ["indicatieregister", "bemiddelingsregister", "netwerkpunt"]}}],
        "responses": {"200": {"description": "the SDL", "content": {"application/graphql": {
            "schema": {"type": "string"}}}}, **_errors(404, 503)}}},
    "/healthz": {"get": {"summary": "The process answers", "operationId": "healthz",
                         "responses": {"200": _json({"type": "object", "required": ["status"]}, "alive")}}},
    "/readyz": {"get": {"summary": "Broker, store and registers", "operationId": "readyz",
                        "responses": {"200": _json({"$ref": "#/components/schemas/Ready"}, "ready"),
                                      "503": _json({"$ref": "#/components/schemas/Ready"}, "not ready")}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "operationId": "metrics",
                         "responses": {"200": {"description": "text exposition format",
                                               "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                              "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}}},
}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["status", "reason"],
              "properties": {"status": {"type": "integer"}, "reason": {"type": "string"}}},
    "Accepted": {"type": "object", "required": ["messageId", "status", "statusUrl"],
                 "properties": {"messageId": {"type": "string"}, "status": {"const": "accepted"},
                                "statusUrl": {"type": "string", "format": "uri"}}},
    "Status": {"type": "object", "required": ["messageId", "status", "statusUrl"],
               "properties": {"messageId": {"type": "string"},
                              "status": {"enum": ["pending", "retrying", "processed", "rejected", "dead_lettered"]},
                              "statusUrl": {"type": "string"}, "rule": {"type": "string"},
                              "reason": {"type": "string"}, "delivered": {"type": "array",
                                                                         "items": {"type": "string"}}}},
    "GraphQLRequest": {"type": "object", "required": ["query"],
                       "properties": {"query": {"type": "string"}, "operationName": {"type": ["string", "null"]},
                                      "variables": {"type": ["object", "null"]}}},
    "GraphQLResponse": {"type": "object", "properties": {
        "data": {"type": ["object", "null"]},
        "errors": {"type": "array", "items": {"type": "object", "required": ["message"]}}}},
    "Ready": {"type": "object", "required": ["status", "checks"],
              "properties": {"status": {"enum": ["ready", "not ready"]},
                             "checks": {"type": "object", "additionalProperties": {"type": "string"}}}},
}


def document(parts: list[str]) -> dict[str, Any]:
    paths, schemas = dict(PATHS), dict(SCHEMAS)
    for module_name in parts:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        if hasattr(module, "openapi_paths"):
            paths.update(module.openapi_paths())
        if hasattr(module, "openapi_schemas"):
            schemas.update(module.openapi_schemas())
    return {"openapi": "3.1.0",
            "info": {"title": "zorghub", "version": "1",
                     "description": "The hub's HTTP front door. Every call carries an OAuth2 access token "
                                    "(client credentials, a JWT); its scopes name what the caller may do."},
            "paths": paths,
            "components": {"schemas": schemas, "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}}}


def routes(ctx: HttpContext) -> list[BaseRoute]:
    from hub.http.app import PARTS

    doc = document([m for _, m in PARTS])

    async def openapi(request: Request) -> Response:
        return JSONResponse(doc)

    return [Route("/openapi.json", openapi, methods=["GET"])]
