"""Trace context: B3 (``X-B3-TraceId``/``X-B3-SpanId``, RFC0022a) and W3C ``traceparent`` accepted on the
way in; a server span per request with ids from OpenTelemetry; and the W3C form carried on into the
AMQP headers, where the worker keeps it in each audit record's ``trace_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.propagate import set_global_textmap
from opentelemetry.propagators.b3 import B3MultiFormat
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

PROPAGATOR = CompositePropagator([TraceContextTextMapPropagator(), B3MultiFormat()])
_provider = TracerProvider()  # ids only; a deployment adds an exporter through the SDK's own settings
tracer = _provider.get_tracer("zorghub.http")


def install_global() -> None:
    """Make the same propagators the process default (for libraries that propagate themselves)."""
    set_global_textmap(PROPAGATOR)


def start_span(headers: Mapping[str, str], name: str) -> Any:
    """A server span, the child of the caller's trace when the headers carry one (B3 or W3C)."""
    parent = PROPAGATOR.extract(carrier=dict(headers))
    return tracer.start_span(name, context=parent, kind=trace.SpanKind.SERVER)


def carrier(span: Any) -> dict[str, str]:
    """The span's context as headers: ``traceparent`` and the B3 pair, for AMQP and for the answer."""
    out: dict[str, str] = {}
    PROPAGATOR.inject(out, context=trace.set_span_in_context(span))
    return out


def ids(span: Any) -> tuple[str, str]:
    sc = span.get_span_context()
    return trace.format_trace_id(sc.trace_id), trace.format_span_id(sc.span_id)
