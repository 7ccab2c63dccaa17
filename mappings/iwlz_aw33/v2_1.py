"""AW33 (toewijzing) <-> FHIR R4, version 2.1: version 2 (way back: version 1) carrying every element.

The same Bundle as version 2 for every AW33 version 2 maps; each element versions 1 and 2 refuse
(BurgerlijkeStaat, Relaties, ToegewezenFuncties...) rides, whole, in the MessageHeader extension
``iwlz-element`` (``mappings/toolkit/carry.py``). ``fhir-to-iwlz-aw33`` 2.1 is version 1's way
back plus those elements.
"""

from mappings.iwlz_aw33 import v1, v2
from mappings.toolkit.carry import whole

TO_FHIR, FROM_FHIR = whole(v2.TO_FHIR, v1.FROM_FHIR, "2.1")
