"""IO31 (indicatiebesluit) <-> FHIR R4, version 1.1: version 1 carrying every element the XSD allows in an IO31.

The same Bundle as version 1 for every IO31 version 1 maps; each element version 1 refuses rides,
whole, in the MessageHeader extension ``iwlz-element`` (``mappings/toolkit/carry.py``).
"""

from mappings.iwlz_io31 import v1
from mappings.toolkit.carry import whole

TO_FHIR, FROM_FHIR = whole(v1.TO_FHIR, v1.FROM_FHIR, "1.1")
