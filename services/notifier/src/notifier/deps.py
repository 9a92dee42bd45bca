"""What the notifier's use cases need, built once in ``main.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends

from notifier.delivery import Mailer, PdfSource, SmsGateway
from notifier.settings import NotifierSettings
from notifier.templates import Templates
from servicekit.app import deps_dependency
from servicekit.db import utcnow
from servicekit.delegation_client import Delegation
from servicekit.outbox import Outbox


@dataclass(frozen=True)
class Deps:
    settings: NotifierSettings
    outbox: Outbox
    # Unused by the operator-only routes today; kept so every service's Deps reads alike.
    delegation: Delegation
    templates: Templates
    mailer: Mailer
    sms: SmsGateway
    pdfs: PdfSource
    now: Callable[[], datetime] = utcnow


DepsDep = Annotated[Deps, Depends(deps_dependency(Deps))]
