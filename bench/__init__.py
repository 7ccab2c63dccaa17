"""The performance benchmark: the hub held against the broker's own ceiling.

``python -m bench.run`` (``make bench``) measures every scenario against a
baseline taken in the same run, on a fresh RabbitMQ vhost, and writes
``bench/results/latest.json``, ``latest.md`` and ``latest.png``.
"""
