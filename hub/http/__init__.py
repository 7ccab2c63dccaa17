"""The hub's front door over HTTP: the netwerkpunt's GraphQL, message submit, and the contract documents.

One ASGI application (``hub.http.app.create_app``), served by uvicorn (``zorghub http``, or ``zorghub
serve`` with ``http_port`` set). Every path goes through the same checker, authorisation, idempotency
and audit as AMQP: a submitted message is published into the hub's own inbound exchange and processed
by the same workers.
"""
