"""The flows: one folder each, found through the ``zorghub.flows`` entry points (``hub.plugins.registry``).

``base.py`` is the contract every flow declares (``FLOW``), ``support.py`` what the shipped flows
share. ``docs/flows.md`` shows the folder shape and how to add one.
"""
