"""What happened in the domain, for whoever must react: services send, subscribers receive.

A service announces a fact (a step opened) without knowing who listens, so the workflow does not
import the jobs that mail people, and they do not import it back. Subscribers connect in their
`init_app`; a signal with no subscriber does nothing.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# sender: the RequestStep just opened (flushed, so it has an id; not yet committed)
step_opened = _signals.signal("step-opened")

# sender: the HostingRequest that just ended rejected, withdrawn or closed (flushed, not yet committed)
request_ended = _signals.signal("request-ended")
