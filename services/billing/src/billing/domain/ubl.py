"""The Peppol BIS Billing 3.0 document of an invoice: a UBL 2.1 Invoice, or a UBL 2.1
CreditNote for a credit note. Both parties are Peppol participants ``0208:<enterprise
number>`` (the Belgian enterprise number's scheme).

Element order follows the UBL 2.1 schemas (xsd:sequence); the tests validate every kind
of document against those schemas and the CEN-EN16931-UBL and PEPPOL-EN16931-UBL rules.

Line amounts: the price of a line is its amount for its whole quantity
(``PriceAmount`` = amount, ``BaseQuantity`` = quantity), so quantity x price / base
quantity is exactly the amount charged, however small the price per second or byte.
"""

from __future__ import annotations

from decimal import Decimal
from xml.etree import ElementTree as ET

from billing.domain.invoice import Line
from billing.domain.legal import Address, LegalInvoice, Party, label

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
ENTERPRISE_SCHEME = "0208"  # Belgian enterprise number (KBO/BCE)

NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

# UN/ECE Recommendation 20 unit codes of our line units.
UNIT_CODES = {"s": "SEC", "bytes": "AD", "month": "MON", "messages": "C62"}

ET.register_namespace("cac", NS_CAC)
ET.register_namespace("cbc", NS_CBC)


class MissingParty(ValueError):
    """A party lacks what a Peppol document needs (enterprise number, address)."""


def participant_id(enterprise_number: str) -> str:
    return f"{ENTERPRISE_SCHEME}:{enterprise_number}"


def _cbc(parent: ET.Element, name: str, text: str, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{NS_CBC}}}{name}", attrs)
    el.text = text
    return el


def _cac(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{NS_CAC}}}{name}")


def _money(parent: ET.Element, name: str, amount: Decimal) -> None:
    _cbc(parent, name, f"{amount:.2f}", currencyID="EUR")


def _percent(rate: Decimal) -> str:
    return format((rate * 100).normalize(), "f")


def _tax_category(parent: ET.Element, name: str, rate: Decimal) -> None:
    cat = _cac(parent, name)
    _cbc(cat, "ID", "S")  # standard rate
    _cbc(cat, "Percent", _percent(rate))
    _cbc(_cac(cat, "TaxScheme"), "ID", "VAT")


def _address(parent: ET.Element, address: Address) -> None:
    el = _cac(parent, "PostalAddress")
    _cbc(el, "StreetName", address.street_line)
    _cbc(el, "CityName", address.city)
    _cbc(el, "PostalZone", address.postal_code)
    _cbc(_cac(el, "Country"), "IdentificationCode", address.country)


def _party(parent: ET.Element, name: str, party: Party, role: str) -> None:
    if not party.enterprise_number:
        raise MissingParty(f"the {role} has no enterprise number")
    if party.address is None:
        raise MissingParty(f"the {role} has no address")
    el = _cac(_cac(parent, name), "Party")
    _cbc(el, "EndpointID", party.enterprise_number, schemeID=ENTERPRISE_SCHEME)
    _cbc(_cac(el, "PartyName"), "Name", party.name)
    _address(el, party.address)
    tax = _cac(el, "PartyTaxScheme")
    _cbc(tax, "CompanyID", party.vat_number or "")
    _cbc(_cac(tax, "TaxScheme"), "ID", "VAT")
    legal = _cac(el, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", party.name)
    _cbc(legal, "CompanyID", party.enterprise_number, schemeID=ENTERPRISE_SCHEME)


def _quantity(value: int) -> str:
    return str(value)


def _line(parent: ET.Element, name: str, qty_name: str, position: int, line: Line,
          rate: Decimal) -> None:  # fmt: skip
    el = _cac(parent, name)
    _cbc(el, "ID", str(position))
    unit = UNIT_CODES.get(line.unit, "C62")
    _cbc(el, qty_name, _quantity(line.quantity), unitCode=unit)
    _money(el, "LineExtensionAmount", line.amount)
    item = _cac(el, "Item")
    _cbc(item, "Name", line.description[:200] or line.category)
    _tax_category(item, "ClassifiedTaxCategory", rate)
    price = _cac(el, "Price")
    _money(price, "PriceAmount", line.amount)
    # The price is for the whole quantity (see module doc); a zero quantity keeps base 1.
    _cbc(price, "BaseQuantity", _quantity(max(line.quantity, 1)), unitCode=unit)


def build_ubl(doc: LegalInvoice) -> bytes:
    """The UBL 2.1 Invoice (kind "invoice") or CreditNote (kind "credit_note"), UTF-8."""
    credit = doc.kind == "credit_note"
    ns = NS_CREDIT_NOTE if credit else NS_INVOICE
    root = ET.Element(f"{{{ns}}}{'CreditNote' if credit else 'Invoice'}")
    _cbc(root, "CustomizationID", CUSTOMIZATION_ID)
    _cbc(root, "ProfileID", PROFILE_ID)
    _cbc(root, "ID", doc.number)
    _cbc(root, "IssueDate", doc.issue_date.isoformat())
    if not credit:
        _cbc(root, "DueDate", doc.due_date.isoformat())
    _cbc(root, "CreditNoteTypeCode" if credit else "InvoiceTypeCode", "381" if credit else "380")
    for note in doc.notes:
        _cbc(root, "Note", note)
    _cbc(root, "DocumentCurrencyCode", "EUR")
    # Peppol needs a buyer reference or an order reference: the billing account.
    _cbc(root, "BuyerReference", doc.billing_account_name or doc.number)
    period = _cac(root, "InvoicePeriod")
    _cbc(period, "StartDate", doc.period_start.isoformat())
    _cbc(period, "EndDate", doc.period_end.isoformat())
    if credit and doc.corrects_number:
        ref = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(ref, "ID", doc.corrects_number)
        if doc.corrects_issue_date:
            _cbc(ref, "IssueDate", doc.corrects_issue_date.isoformat())
    _party(root, "AccountingSupplierParty", doc.supplier, "supplier")
    _party(root, "AccountingCustomerParty", doc.customer, "customer")
    if not credit:
        means = _cac(root, "PaymentMeans")
        _cbc(means, "PaymentMeansCode", "30")  # credit transfer
        _cbc(means, "PaymentID", doc.payment.communication)
        account = _cac(means, "PayeeFinancialAccount")
        _cbc(account, "ID", doc.payment.iban)
        _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", doc.payment.bic)
        terms = _cac(root, "PaymentTerms")
        _cbc(terms, "Note", f"{label('due_date', doc.language)}: {doc.due_date.isoformat()}")

    tax_total = _cac(root, "TaxTotal")
    _money(tax_total, "TaxAmount", doc.totals.vat)
    sub = _cac(tax_total, "TaxSubtotal")
    _money(sub, "TaxableAmount", doc.totals.total_excl_vat)
    _money(sub, "TaxAmount", doc.totals.vat)
    _tax_category(sub, "TaxCategory", doc.vat_rate)

    money = _cac(root, "LegalMonetaryTotal")
    _money(money, "LineExtensionAmount", doc.totals.total_excl_vat)
    _money(money, "TaxExclusiveAmount", doc.totals.total_excl_vat)
    _money(money, "TaxInclusiveAmount", doc.totals.total_incl_vat)
    _money(money, "PayableAmount", doc.totals.total_incl_vat)

    lines = doc.lines or [
        # A document needs at least one line (BR-16): a period without charges has one
        # line of zero.
        Line("subscription", label("no_charges", doc.language), 0, "month", Decimal("0.00"))
    ]
    line_name, qty_name = (
        ("CreditNoteLine", "CreditedQuantity") if credit else ("InvoiceLine", "InvoicedQuantity")
    )
    for position, line in enumerate(lines, start=1):
        _line(root, line_name, qty_name, position, line, doc.vat_rate)
    # The document's own namespace is the default one (no await in between: safe).
    ET.register_namespace("", ns)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)
