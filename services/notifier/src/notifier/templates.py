"""The notifier's message templates: a catalogue of what exists and jinja2 files per
template and language under ``templates/``:

    <template>.<locale>.subject   e-mail subject (one line)
    <template>.<locale>.txt       e-mail plain-text part
    <template>.<locale>.html      e-mail HTML part (autoescaped; extends _layout.html)
    <template>.<locale>.sms       SMS text

Rendering is strict: a required parameter that is missing is an error, not an empty
string, so a broken request fails visibly instead of sending a mail without its link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from notifier.domain import Channel

TEMPLATES_DIR = Path(__file__).parent / "templates"
LOCALES = ("nl", "fr", "en")


@dataclass(frozen=True)
class TemplateSpec:
    channel: Channel
    required: frozenset[str]
    optional: dict[str, str] = field(default_factory=dict)


def _spec(channel: Channel, required: tuple[str, ...], *optional: str) -> TemplateSpec:
    return TemplateSpec(channel, frozenset(required), dict.fromkeys(optional, ""))


CATALOGUE: dict[str, TemplateSpec] = {
    "user_confirmation": _spec("email", ("confirm_url",), "first_name", "company_name"),
    "email_change_confirmation": _spec("email", ("confirm_url",), "first_name"),
    "einvoice_email_confirmation": _spec("email", ("confirm_url",), "billing_account_name"),
    "invoice_available": _spec(
        "email",
        ("invoice_number", "period", "total_incl_vat", "due_date"),
        "company",
        "billing_account_name",
    ),
    "invoice_objection": _spec("email", ("step", "invoice_number"), "reason", "credit_note_number"),
    "invoice_available_sms": _spec("sms", ("invoice_number", "total_incl_vat", "due_date")),
    "sim_change_confirmation": _spec("email", ("msisdn", "change", "tariff_plan"), "first_name"),
    "account_deactivated": _spec("email", (), "first_name", "company_name", "reason"),
    "account_deactivation_notice": _spec("email", ("user_count",), "company_name"),
    "application_deactivation_notice": _spec("email", ("application",), "company_name"),
    "affiliate_linked": _spec("email", ("parent_company",), "first_name", "company_name"),
}


class TemplateProblem(Exception):
    """The request cannot be rendered (unknown template, wrong channel, missing params)."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


MONTHS = {
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "en": "January February March April May June July August September October November December",
}

CHANGES = {
    "tariff_plan_changed": {
        "nl": "tariefplan gewijzigd",
        "fr": "plan tarifaire modifié",
        "en": "tariff plan changed",
    },
    "option_added": {"nl": "optie toegevoegd", "fr": "option ajoutée", "en": "option added"},
    "option_removed": {"nl": "optie verwijderd", "fr": "option retirée", "en": "option removed"},
}


@pass_context
def _money(ctx: Context, value: Any) -> str:
    """Belgian notation: '€ 1.234,50' in Dutch, '1 234,50 €' in French, '€1,234.50' in English."""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return str(value)
    plain = f"{amount:,.2f}"  # 1,234.50
    locale = ctx.get("locale", "en")
    if locale == "nl":
        return "€ " + plain.replace(",", " ").replace(".", ",").replace(" ", ".")
    if locale == "fr":
        return plain.replace(",", "\u202f").replace(".", ",") + " €"
    return "€" + plain


@pass_context
def _date(ctx: Context, value: Any) -> str:
    try:
        day = date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    month = MONTHS[ctx.get("locale", "en")].split()[day.month - 1]
    return f"{day.day} {month} {day.year}"


@pass_context
def _period(ctx: Context, value: Any) -> str:
    try:
        year, month = str(value).split("-")
        name = MONTHS[ctx.get("locale", "en")].split()[int(month) - 1]
    except (ValueError, IndexError):
        return str(value)
    return f"{name} {year}"


@pass_context
def _change(ctx: Context, value: Any) -> str:
    labels = CHANGES.get(str(value))
    return labels[ctx.get("locale", "en")] if labels else str(value)


class Templates:
    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        self.env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
            auto_reload=False,
        )
        self.env.filters.update(money=_money, date=_date, period=_period, change=_change)

    def check(self, template: str, channel: Channel, params: dict[str, str]) -> None:
        """Raise TemplateProblem when a request for ``template`` can never be rendered."""
        spec = CATALOGUE.get(template)
        if spec is None:
            raise TemplateProblem(f"unknown template {template!r}")
        if spec.channel != channel:
            raise TemplateProblem(f"template {template!r} is not a {channel} template")
        missing = sorted(spec.required - params.keys())
        if missing:
            raise TemplateProblem(
                f"template {template!r} is missing parameter(s): {', '.join(missing)}"
            )
        for name, value in params.items():
            # Links become hrefs: only web links, never javascript: or data: URLs.
            if name.endswith("_url") and not value.startswith(("https://", "http://")):
                raise TemplateProblem(f"parameter {name} is not an http(s) URL")

    def render_email(self, template: str, locale: str, params: dict[str, str]) -> RenderedEmail:
        self.check(template, "email", params)
        context = self._context(template, locale, params)
        subject = self._render(f"{template}.{locale}.subject", context)
        return RenderedEmail(
            subject=" ".join(subject.split()),  # a header: one line, never injected ones
            text=self._render(f"{template}.{locale}.txt", context).strip() + "\n",
            html=self._render(f"{template}.{locale}.html", context),
        )

    def render_sms(self, template: str, locale: str, params: dict[str, str]) -> str:
        self.check(template, "sms", params)
        text = self._render(f"{template}.{locale}.sms", self._context(template, locale, params))
        return " ".join(text.split())

    def _context(self, template: str, locale: str, params: dict[str, str]) -> dict[str, Any]:
        if locale not in LOCALES:
            locale = "nl"
        return {**CATALOGUE[template].optional, **params, "locale": locale}

    def _render(self, name: str, context: dict[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(context)
        except TemplateNotFound as exc:
            raise TemplateProblem(f"template file {exc.name} does not exist") from None
        except TemplateError as exc:
            raise TemplateProblem(f"template {name} cannot be rendered: {exc}") from None
