"""What makes an invoice a legal Belgian invoice (VAT Code art. 53, Royal Decree no. 1
art. 5): the parties, the structured communication, and the wording in the customer's
language. Plain data; the PDF (billing.pdf) and the UBL document (billing.domain.ubl) are
both built from a ``LegalInvoice``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from billing.domain.invoice import VAT_RATE, Line, Totals

Language = Literal["nl", "fr", "en"]
LANGUAGES: tuple[Language, ...] = ("nl", "fr", "en")
DEFAULT_LANGUAGE: Language = "nl"

DocumentKind = Literal["invoice", "credit_note"]


def structured_communication(base: int) -> str:
    """The Belgian structured communication ``+++123/4567/89012+++`` for a 10-digit base:
    the base followed by its remainder modulo 97 (97 when the remainder is 0)."""
    if not 0 < base < 10**10:
        raise ValueError("the base of a structured communication has at most 10 digits")
    check = base % 97 or 97
    digits = f"{base:010d}{check:02d}"
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


def is_structured_communication(text: str) -> bool:
    match = re.fullmatch(r"\+\+\+(\d{3})/(\d{4})/(\d{5})\+\+\+", text)
    if not match:
        return False
    digits = "".join(match.groups())
    base, check = int(digits[:10]), int(digits[10:])
    return base > 0 and (base % 97 or 97) == check


def communication_base(year: int, sequence: int) -> int:
    """A 10-digit base unique per invoice: the year's last two digits, then the
    invoice's sequence number in that year (8 digits)."""
    if not 0 < sequence < 10**8:
        raise ValueError("sequence out of range for a structured communication")
    return (year % 100) * 10**8 + sequence


def enterprise_number_valid(number: str) -> bool:
    """KBO/BCE number: 10 digits, the last two = 97 - (first eight mod 97)."""
    return re.fullmatch(r"\d{10}", number) is not None and 97 - int(number[:8]) % 97 == int(
        number[8:]
    )


def vat_number(enterprise_number: str) -> str:
    """The Belgian VAT number of an enterprise: BE + its enterprise number."""
    return f"BE{enterprise_number}"


def format_enterprise_number(number: str) -> str:
    return f"{number[:4]}.{number[4:7]}.{number[7:]}"


@dataclass(frozen=True)
class Address:
    street: str
    number: str | None
    postal_code: str
    city: str
    country: str = "BE"

    @property
    def street_line(self) -> str:
        return f"{self.street} {self.number}" if self.number else self.street

    @property
    def city_line(self) -> str:
        return f"{self.postal_code} {self.city}"

    def to_json(self) -> dict[str, Any]:
        return {
            "street": self.street,
            "number": self.number,
            "postal_code": self.postal_code,
            "city": self.city,
            "country": self.country,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Address:
        return cls(
            street=data["street"],
            number=data.get("number"),
            postal_code=data["postal_code"],
            city=data["city"],
            country=data.get("country") or "BE",
        )


@dataclass(frozen=True)
class Party:
    """Supplier or customer as printed: name, address, enterprise number (VAT = BE + it)."""

    name: str
    address: Address | None
    enterprise_number: str | None

    @property
    def vat_number(self) -> str | None:
        return vat_number(self.enterprise_number) if self.enterprise_number else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address.to_json() if self.address else None,
            "enterprise_number": self.enterprise_number,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Party:
        address = data.get("address")
        return cls(
            name=data["name"],
            address=Address.from_json(address) if address else None,
            enterprise_number=data.get("enterprise_number"),
        )


@dataclass(frozen=True)
class Payment:
    iban: str
    bic: str
    communication: str  # +++123/4567/89012+++


@dataclass(frozen=True)
class LegalInvoice:
    """Everything a legal invoice (or credit note) shows."""

    kind: DocumentKind
    number: str
    issue_date: date
    period_start: date
    period_end: date  # last day of the supply period, inclusive
    due_date: date
    supplier: Party
    customer: Party
    payment: Payment
    language: Language
    lines: list[Line]
    totals: Totals
    billing_account_name: str = ""
    objection_deadline: date | None = None
    # A credit note names the invoice it corrects.
    corrects_number: str | None = None
    corrects_issue_date: date | None = None
    vat_rate: Decimal = VAT_RATE
    notes: list[str] = field(default_factory=list)


def unit_price(line: Line) -> Decimal:
    """Price of one unit excl. VAT: the amount over the quantity (the amount itself for
    a quantity of 0 or 1), to 6 decimals; the amount excl. VAT is what is charged."""
    if line.quantity <= 1:
        return line.amount
    return (line.amount / Decimal(line.quantity)).quantize(Decimal("0.000001"))


LABELS: dict[str, dict[Language, str]] = {
    "invoice": {"nl": "Factuur", "fr": "Facture", "en": "Invoice"},
    "credit_note": {"nl": "Creditnota", "fr": "Note de crédit", "en": "Credit note"},
    "number": {"nl": "Factuurnummer", "fr": "Numéro de facture", "en": "Invoice number"},
    "credit_note_number": {
        "nl": "Nummer creditnota",
        "fr": "Numéro de la note de crédit",
        "en": "Credit note number",
    },
    "corrects": {"nl": "Verbetert factuur", "fr": "Corrige la facture", "en": "Corrects invoice"},
    "issue_date": {"nl": "Factuurdatum", "fr": "Date de facture", "en": "Issue date"},
    "period": {"nl": "Leveringsperiode", "fr": "Période de fourniture", "en": "Supply period"},
    "due_date": {"nl": "Vervaldag", "fr": "Date d'échéance", "en": "Due date"},
    "billing_account": {
        "nl": "Facturatieaccount",
        "fr": "Compte de facturation",
        "en": "Billing account",
    },
    "supplier": {"nl": "Leverancier", "fr": "Fournisseur", "en": "Supplier"},
    "customer": {"nl": "Klant", "fr": "Client", "en": "Customer"},
    "vat_number": {"nl": "Btw-nummer", "fr": "N° TVA", "en": "VAT number"},
    "enterprise_number": {
        "nl": "Ondernemingsnummer",
        "fr": "N° d'entreprise",
        "en": "Enterprise number",
    },
    "description": {"nl": "Omschrijving", "fr": "Description", "en": "Description"},
    "quantity": {"nl": "Hoeveelheid", "fr": "Quantité", "en": "Quantity"},
    "unit_price": {"nl": "Eenheidsprijs", "fr": "Prix unitaire", "en": "Unit price"},
    "vat_rate": {"nl": "Btw", "fr": "TVA", "en": "VAT"},
    "amount_excl_vat": {
        "nl": "Bedrag excl. btw",
        "fr": "Montant hors TVA",
        "en": "Amount excl. VAT",
    },
    "total_excl_vat": {
        "nl": "Totaal excl. btw",
        "fr": "Total hors TVA",
        "en": "Total excl. VAT",
    },
    "vat_on": {"nl": "Btw {rate} op", "fr": "TVA {rate} sur", "en": "VAT {rate} on"},
    "total_incl_vat": {
        "nl": "Totaal incl. btw",
        "fr": "Total TVA comprise",
        "en": "Total incl. VAT",
    },
    "payment": {"nl": "Betaling", "fr": "Paiement", "en": "Payment"},
    "iban": {"nl": "IBAN", "fr": "IBAN", "en": "IBAN"},
    "bic": {"nl": "BIC", "fr": "BIC", "en": "BIC"},
    "communication": {
        "nl": "Gestructureerde mededeling",
        "fr": "Communication structurée",
        "en": "Structured communication",
    },
    "no_charges": {
        "nl": "Geen kosten in deze periode.",
        "fr": "Aucun frais pour cette période.",
        "en": "No charges in this period.",
    },
    "unknown_customer": {
        "nl": "(klantgegevens nog niet ontvangen)",
        "fr": "(données du client pas encore reçues)",
        "en": "(customer details not received yet)",
    },
    "footer": {
        "nl": "Bedragen in euro. Oproepen naar gratis en noodnummers worden niet getoond of "
        "aangerekend. U kunt schriftelijk bezwaar maken tegen deze factuur tot {deadline} "
        "(5 Belgische werkdagen na de beschikbaarstelling); daarna is ze aanvaard.",
        "fr": "Montants en euro. Les appels vers les numéros gratuits et d'urgence ne sont ni "
        "affichés ni facturés. Vous pouvez contester cette facture par écrit jusqu'au "
        "{deadline} (5 jours ouvrables belges après sa mise à disposition) ; ensuite elle est "
        "acceptée.",
        "en": "Amounts in euro. Calls to free and emergency numbers are not shown or charged. "
        "You may object to this invoice in writing until {deadline} (5 Belgian working days "
        "after it was made available); after that it is accepted.",
    },
    "credit_footer": {
        "nl": "Bedragen in euro. Dit bedrag wordt verrekend met of terugbetaald op uw rekening.",
        "fr": "Montants en euro. Ce montant est déduit de votre compte ou vous est remboursé.",
        "en": "Amounts in euro. This amount is set off against or refunded to your account.",
    },
}


def label(key: str, language: Language) -> str:
    return LABELS[key][language]


def language_of(value: str | None) -> Language:
    for lang in LANGUAGES:
        if value == lang:
            return lang
    return DEFAULT_LANGUAGE


# The lines' descriptions are written in English when the invoice is made
# (billing.domain.invoice); the documents say their leading words in the customer's language.
_DESCRIPTION_WORDS: dict[str, dict[Language, str]] = {
    "Subscription": {"nl": "Abonnement", "fr": "Abonnement", "en": "Subscription"},
    "Voice calls": {"nl": "Gesprekken", "fr": "Appels vocaux", "en": "Voice calls"},
    "Text messages (SMS)": {"nl": "Sms-berichten", "fr": "SMS", "en": "Text messages (SMS)"},
    "Mobile data": {"nl": "Mobiele data", "fr": "Données mobiles", "en": "Mobile data"},
}
_RECORDS = {"nl": "records", "fr": "enregistrements", "en": "records"}


def localized_description(line: Line, language: Language) -> str:
    text = line.description
    for english, words in _DESCRIPTION_WORDS.items():
        if text.startswith(english):
            text = words[language] + text[len(english) :]
            break
    return re.sub(r"\((\d+) records\)", lambda m: f"({m[1]} {_RECORDS[language]})", text)
