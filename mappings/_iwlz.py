"""Old name of ``mappings.toolkit.iwlz``, kept only while ``mappings/retour.py`` imports it."""

from mappings.toolkit.iwlz import BASE_NS, ns, to_xml_bytes

__all__ = ["BASE_NS", "ns", "to_xml_bytes"]
