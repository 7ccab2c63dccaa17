"""The netwerkpunt's GraphQL endpoints, schema-first from the published SDL files.

Each SDL has its own ``Query`` root and scalars, so each is an endpoint of its own:
``/graphql/indicatieregister`` (``Indicatieregister.graphql``), ``/graphql/bemiddelingsregister``
(``Bemiddelingregister.graphql``) and ``/graphql/netwerkpunt`` (``generiek-netwerkpunt.graphql``, the
mutations). The files are read from the standards directory (``schema_dir``/iwlz-netwerkmodel) and
served as loaded at ``/graphql/<name>/schema.graphql``; graphql-core parses, validates (the input
types, ``NotificatieInput`` among them) and executes against them.

A query is answered by the network flow's query service under the same policy as ``network.bevragen``:
the ``where`` filter picks the template (by id when it names one; else the caller's own list), every
record decision is audited, and each record keeps only the attributes the deciding rule allows. A
field the policy withholds is ``null``, or an error naming it when the SDL makes it non-null.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    build_schema,
    default_field_resolver,
    execute,
    is_non_null_type,
    parse,
    validate,
)
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from hub.formats import bsn as bsnlib
from hub.http.auth import Principal
from hub.http.context import HttpContext, context_of
from hub.http.pep import caller, decide, trace_of

SDL_FOLDER = "iwlz-netwerkmodel"
#: endpoint name -> the SDL file it serves
ENDPOINTS = {"indicatieregister": "Indicatieregister.graphql",
             "bemiddelingsregister": "Bemiddelingregister.graphql",
             "netwerkpunt": "generiek-netwerkpunt.graphql"}
#: query field -> (register subject, its id field, the template that finds one by id, that template's parameter)
ROOTS: dict[str, dict[str, tuple[str, str, str, str]]] = {
    "indicatieregister": {"wlzIndicatie": ("WlzIndicatie", "wlzindicatieID", "wlzIndicatie", "wlzindicatieID")},
    "bemiddelingsregister": {
        "bemiddeling": ("Bemiddeling", "bemiddelingID", "bemiddeling", "bemiddelingID"),
        "bemiddelingspecificatie": ("Bemiddelingspecificatie", "bemiddelingspecificatieID",
                                    "bemiddelingspecificatie", "bemiddelingspecificatieID"),
        "overdracht": ("Overdracht", "overdrachtID", "record", "recordID"),
        "regiehouder": ("Regiehouder", "regiehouderID", "record", "recordID"),
    },
}
#: mutation -> (pipeline kind, its input argument, the id the hub assigns, scope resource type and id)
MUTATIONS = {"zendNotificatie": ("netwerkpunt.notificatie", "notificatieInput", "notificatieID",
                                 "notificaties", "notificatie"),
             "zendMelding": ("netwerkpunt.melding", "meldingInput", "meldingID", "meldingen", "melding")}
#: ids the hub assigns are derived from the sender and the input, so a repeat gets the same id
ID_NAMESPACE = uuid.UUID("6f0c1c52-2b0e-4c55-9a53-5b1f4e3d7a10")
#: how many query texts an endpoint keeps parsed and validated
CHECKED_QUERIES = 256


@dataclass
class Endpoint:
    name: str
    path: Path
    sdl: str
    schema: GraphQLSchema
    #: a query text's document, or the errors that refuse it. A client sends the same few queries (with
    #: other variables) again and again, and parsing and validating one costs more than executing it
    checked: Callable[[str], DocumentNode | list[GraphQLError]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.checked = functools.lru_cache(maxsize=CHECKED_QUERIES)(self._check)

    def _check(self, query: str) -> DocumentNode | list[GraphQLError]:
        try:
            document = parse(query)
        except GraphQLError as exc:
            return [exc]
        return validate(self.schema, document) or document


@dataclass
class Call:
    """What one request's resolvers share: who asks, the trace, and a stand-in envelope for the audit."""

    ctx: HttpContext
    who: Principal
    trace: str
    endpoint: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: every decision of the request, appended in one transaction when it is answered
    records: list[Any] = field(default_factory=list)

    @property
    def env(self) -> Any:
        return SimpleNamespace(kind=f"graphql.{self.endpoint}", message_id=self.request_id, correlation_id="",
                               headers={"traceparent": self.trace} if self.trace else {})

    def allow(self, action: str, resource_type: str, resource_id: str) -> None:
        denied = decide(self.ctx, self.who, action, resource_type, resource_id, self.trace, self.records)
        if denied is not None:
            raise GraphQLError(denied, extensions={"code": "FORBIDDEN"})


def load(settings_schema_dir: str) -> dict[str, Endpoint]:
    """The endpoints whose SDL is in the standards directory, each built once."""
    folder = Path(settings_schema_dir) / SDL_FOLDER
    found: dict[str, Endpoint] = {}
    for name, filename in ENDPOINTS.items():
        path = folder / filename
        if not path.is_file():
            continue
        sdl = path.read_text(encoding="utf-8")
        schema = build_schema(sdl)
        _bind(name, schema)
        found[name] = Endpoint(name, path, sdl, schema)
    return found


def _bind(name: str, schema: GraphQLSchema) -> None:
    """Attach the hub's resolvers to the schema's roots (graphql-core's schema-first way)."""
    assert schema.query_type is not None
    for field_name, spec in ROOTS.get(name, {}).items():
        schema.query_type.fields[field_name].resolve = _query(*spec)
    for field_name in schema.query_type.fields:
        if field_name not in ROOTS.get(name, {}) and not field_name.startswith("_"):
            schema.query_type.fields[field_name].resolve = _not_held(field_name)
    if name == "netwerkpunt" and schema.mutation_type is not None:
        for field_name, mutation in MUTATIONS.items():
            if field_name in schema.mutation_type.fields:
                schema.mutation_type.fields[field_name].resolve = _mutation(*mutation)


def _query(subject: str, id_field: str, by_id: str, param: str) -> Any:
    def resolve(_root: Any, info: Any, where: dict[str, Any] | None = None, **_: Any) -> list[dict[str, Any]]:
        from hub.http.filters import matches

        call: Call = info.context
        net = call.ctx.network
        party = call.ctx.hub.parties.get(call.who.party)
        wanted = ((where or {}).get(id_field) or {}).get("eq")
        if wanted:
            template, params = by_id, {param: str(wanted), **({"subject": subject} if by_id == "record" else {})}
        elif subject == "WlzIndicatie" and party.has_role("zorgkantoor"):
            template, params = "wlzIndicatiesZorgkantoor", {}
        elif party.has_role("client"):
            template, params = "clientOverzicht", {}
        else:
            raise GraphQLError(f"this party asks {info.field_name} by id: give where.{id_field}.eq",
                               extensions={"code": "BAD_USER_INPUT"})
        call.allow("read", "bevragen", template)
        if call.who.patient and party.has_role("client"):
            params.setdefault("bsn", call.who.patient)
        answer = net.query.run(party, template, params, call.env, call.records)
        if answer.get("status") == "denied":
            raise GraphQLError(f"denied by rule {answer.get('rule')}", extensions={"code": "FORBIDDEN",
                                                                                     "rule": answer.get("rule")})
        if answer.get("status") == "error":
            raise GraphQLError(str(answer.get("reason")), extensions={"code": "BAD_USER_INPUT",
                                                                      "rule": answer.get("rule")})
        return [r["data"] for r in answer["results"] if r["subject"] == subject and matches(r["data"], where)]
    return resolve


def _not_held(field_name: str) -> Any:
    def resolve(_root: Any, info: Any, **_: Any) -> Any:
        raise GraphQLError(f"this hub's registers hold no {field_name} records of their own; ask for them "
                           f"through the records that name them", extensions={"code": "NOT_HELD"})
    return resolve


def _mutation(kind: str, argument: str, id_field: str, scope_type: str, scope_id: str) -> Any:
    def resolve(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
        from hub.flows.netwerkpunt import names, party_of

        call: Call = info.context
        ctx = call.ctx
        call.allow("create", scope_type, scope_id)
        data = {k: v for k, v in dict(args[argument]).items() if v is not None}
        data["subjectList"] = [dict(s) for s in data["subjectList"]]
        sender = ctx.hub.parties.get(call.who.party)
        if not names(sender, data["afzenderIDType"], data["afzenderID"]):
            raise GraphQLError("the afzender is not the token's party", extensions={"code": "FORBIDDEN"})
        receiver = party_of(ctx.hub.parties, data["ontvangerIDType"], data["ontvangerID"])
        if receiver is None:
            raise GraphQLError("the ontvanger is not a party of this hub", extensions={"code": "BAD_USER_INPUT"})
        canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()
        assigned = str(uuid.uuid5(ID_NAMESPACE, f"{sender.name}\n{kind}\n{canonical}"))
        body = {id_field: assigned, **data}
        ctx.submit(sender.name, kind=kind, message_id=assigned, content_type="application/json",
                   body=orjson.dumps(body), routing_key=receiver.name,
                   headers={"traceparent": call.trace} if call.trace else {})
        return body
    return resolve


def field_resolver(source: Any, info: Any, **args: Any) -> Any:
    """Register data are dicts: a withheld attribute is absent, and named when the SDL needs it."""
    if isinstance(source, dict):
        if info.field_name in source:
            return source[info.field_name]
        if is_non_null_type(info.return_type):
            raise GraphQLError(f"{info.parent_type.name}.{info.field_name} is withheld by the policy or not held",
                               extensions={"code": "WITHHELD"})
        return None
    return default_field_resolver(source, info, **args)


def _formatted(errors: Any) -> list[dict[str, Any]]:
    """The errors as GraphQL formats them, every BSN masked (an error may echo the variables)."""
    out = []
    for e in errors:
        item = dict(e.formatted)
        item["message"] = bsnlib.redact(str(item.get("message", "")))
        out.append(item)
    return out


def run(ctx: HttpContext, endpoint: Endpoint, who: Principal, trace: str, body: dict[str, Any]) -> tuple[int, Any]:
    """Parse, validate and execute one GraphQL request; (status, answer) as GraphQL over HTTP says."""
    query = body.get("query")
    variables = body.get("variables")
    if not isinstance(query, str) or not query.strip():
        return 400, {"errors": [{"message": "the request has no query"}]}
    if variables is not None and not isinstance(variables, dict):
        return 400, {"errors": [{"message": "variables must be an object"}]}
    document = endpoint.checked(query)
    if isinstance(document, list):
        return 400, {"errors": _formatted(document)}
    op_name = body.get("operationName")
    if op_name is not None and not isinstance(op_name, str):
        return 400, {"errors": [{"message": "operationName must be a string"}]}
    call = Call(ctx, who, trace, endpoint.name)
    try:
        result = execute(endpoint.schema, document, context_value=call, variable_values=variables,
                         operation_name=op_name, field_resolver=field_resolver)
    finally:
        ctx.audit(call.records)
    if hasattr(result, "__await__"):  # no resolver here is async
        raise RuntimeError("an async resolver in a synchronous schema")
    answer: dict[str, Any] = {"data": result.data}  # type: ignore[union-attr]
    if result.errors:  # type: ignore[union-attr]
        answer["errors"] = _formatted(result.errors)  # type: ignore[union-attr]
        if result.data is None and all(e.path is None for e in result.errors):  # type: ignore[union-attr]
            return 400, {"errors": answer["errors"]}  # a request error (the variables): nothing ran
    return 200, answer


def routes(ctx: HttpContext) -> list[BaseRoute]:
    endpoints = load(ctx.settings.schema_dir)
    ctx.extensions["graphql"] = endpoints

    def endpoint_of(request: Request) -> Endpoint:
        name = request.path_params["name"]
        if name not in ENDPOINTS:
            raise HTTPException(404, f"no GraphQL endpoint {name!r}; there are: {', '.join(ENDPOINTS)}")
        found = endpoints.get(name)
        if found is None:
            raise HTTPException(503, f"the SDL {ENDPOINTS[name]} is not in the standards directory (schema_dir)")
        return found

    async def graphql(request: Request) -> Response:
        endpoint = endpoint_of(request)
        who = await caller(request)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise HTTPException(400, "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "the request body must be a JSON object")
        c = context_of(request)
        status, answer = await c.run(run, c, endpoint, who, trace_of(request), body)
        return JSONResponse(answer, status_code=status)

    async def sdl(request: Request) -> Response:
        return PlainTextResponse(endpoint_of(request).sdl, media_type="application/graphql")

    return [Route("/{name}", graphql, methods=["POST"]), Route("/{name}/schema.graphql", sdl, methods=["GET"])]
