"""The one kind of error a domain verb raises when it will not do what was asked."""
from __future__ import annotations


class Refused(ValueError):
    """The request, as things stand, cannot be done; the message says why, for the person asking.

    Every `*Refused` of the services derives from it, so the pages flash it and the API answers it
    (422) in one place each, whatever the domain.
    """
