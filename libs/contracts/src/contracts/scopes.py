"""What each service's own (client-credentials) token may do: scopes and audiences.

A service token is not a master key. It names, in its ``scope`` claim, the few internal
reads its service needs from a peer, and in its ``aud`` claim only those peers. Every
other route refuses service tokens (403); a peer outside the audience refuses the token
outright (401). The list follows where ``servicekit.http.ServiceClient`` and the
delegation client are used; docs/security.md names each route that admits a scope.

A scope is ``<peer>:<what>``: the peer is the audience that serves it.
"""

from __future__ import annotations

from enum import StrEnum


class ServiceScope(StrEnum):
    # delegation's check API: /v1/check, /v1/check/batch, /v1/subjects/{id}/resources
    RIGHTS_CHECK = "delegation:rights.check"
    # delegation's assignment list of a customer: identity reads the current profile
    ASSIGNMENTS_READ = "delegation:assignments.read"
    # billing's facts of one billing account (GET /v1/billing-accounts/{id})
    BILLING_ACCOUNT_READ = "billing:billing_account.read"
    # billing's invoice PDF (GET /v1/invoices/{id}/pdf), to attach it to the invoice mail
    INVOICE_PDF_READ = "billing:invoice_pdf.read"
    # billing's UBL document of an invoice (GET /v1/invoices/{id}/ubl), sent over Peppol
    INVOICE_UBL_READ = "billing:invoice_ubl.read"
    # fleet's facts of one SIM (GET /v1/sims/{id})
    SIM_READ = "fleet:sim.read"

    @property
    def audience(self) -> str:
        return self.value.split(":", 1)[0]


# Client id (the service's name) -> what its token may do.
SERVICE_SCOPES: dict[str, frozenset[ServiceScope]] = {
    # identity asks delegation whether the actor may act on the target user, and which
    # profile a user holds now (/v1/me)
    "identity": frozenset({ServiceScope.RIGHTS_CHECK, ServiceScope.ASSIGNMENTS_READ}),
    # delegation checks that scope ids of a grant belong to the grant's customer
    "delegation": frozenset({ServiceScope.BILLING_ACCOUNT_READ, ServiceScope.SIM_READ}),
    "billing": frozenset({ServiceScope.RIGHTS_CHECK}),
    "fleet": frozenset({ServiceScope.RIGHTS_CHECK}),
    # einvoice learns an account's customer and kind from billing, and sends the invoice's
    # UBL document over Peppol
    "einvoice": frozenset(
        {
            ServiceScope.RIGHTS_CHECK,
            ServiceScope.BILLING_ACCOUNT_READ,
            ServiceScope.INVOICE_UBL_READ,
        }
    ),
    # the notifier attaches the invoice PDF to the invoice mail
    "notifier": frozenset({ServiceScope.RIGHTS_CHECK, ServiceScope.INVOICE_PDF_READ}),
}


def scopes_of(client_id: str) -> frozenset[ServiceScope]:
    """The scopes of a service's token; none for a client the catalogue does not know."""
    return SERVICE_SCOPES.get(client_id, frozenset())


def audiences_of(scopes: frozenset[ServiceScope]) -> list[str]:
    """The peers a token with ``scopes`` may be presented to."""
    return sorted({s.audience for s in scopes})


def scope_claim(scopes: frozenset[ServiceScope]) -> str:
    """OAuth's space-separated ``scope`` claim."""
    return " ".join(sorted(s.value for s in scopes))
