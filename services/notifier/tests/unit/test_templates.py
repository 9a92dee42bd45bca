import html

import pytest

from notifier.templates import CATALOGUE, LOCALES, TEMPLATES_DIR, TemplateProblem, Templates

templates = Templates()

URL = "https://portal.example/v1/users/confirm?token=abc_DEF-123&next=%2Fhome&x=<y>"

SAMPLE_PARAMS = {
    "confirm_url": URL,
    "first_name": "Anne",
    "company_name": "Acme BV",
    "parent_company": "Acme Group NV",
    "billing_account_name": "Mobile fleet",
    "invoice_number": "F2026-000123",
    "period": "2026-10",
    "total_incl_vat": "1234.50",
    "due_date": "2026-11-30",
    "msisdn": "+32470123456",
    "change": "tariff_plan_changed",
    "tariff_plan": "PRO-50",
    "user_count": "3",
    "application": "fleet-manager",
    "step": "accepted",
    "reason": "Roaming charged twice",
    "credit_note_number": "CN-2026-000001",
}


def params_for(name: str) -> dict[str, str]:
    spec = CATALOGUE[name]
    return {k: SAMPLE_PARAMS[k] for k in spec.required | set(spec.optional) if k in SAMPLE_PARAMS}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
@pytest.mark.parametrize("locale", LOCALES)
def test_every_template_has_every_language(name: str, locale: str) -> None:
    spec = CATALOGUE[name]
    suffixes = ("subject", "txt", "html") if spec.channel == "email" else ("sms",)
    for suffix in suffixes:
        assert (TEMPLATES_DIR / f"{name}.{locale}.{suffix}").is_file()
    if spec.channel == "email":
        out = templates.render_email(name, locale, params_for(name))
        assert out.subject and "\n" not in out.subject
        assert out.text.strip() and out.html.startswith("<!doctype html>")
        assert f'lang="{locale}"' in out.html
    else:
        assert templates.render_sms(name, locale, params_for(name))


@pytest.mark.parametrize(
    "name", ["user_confirmation", "einvoice_email_confirmation", "email_change_confirmation"]
)
@pytest.mark.parametrize("locale", LOCALES)
def test_confirm_url_verbatim_in_text_and_escaped_in_html(name: str, locale: str) -> None:
    out = templates.render_email(name, locale, params_for(name))
    assert URL in out.text  # the one-time link must work when copied from the text part
    assert html.escape(URL) in out.html
    assert f'href="{html.escape(URL)}"' in out.html
    assert "<y>" not in out.html


def test_languages_differ() -> None:
    subjects = {
        loc: templates.render_email(
            "user_confirmation", loc, params_for("user_confirmation")
        ).subject
        for loc in LOCALES
    }
    assert subjects == {
        "nl": "Bevestig je MyPortal-account",
        "fr": "Confirmez votre compte MyPortal",
        "en": "Confirm your MyPortal account",
    }


def test_params_are_escaped_in_html_but_not_in_text() -> None:
    params = {"confirm_url": URL, "first_name": "<script>alert(1)</script>", "company_name": "A&B"}
    out = templates.render_email("user_confirmation", "en", params)
    assert "<script>" not in out.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html
    assert "A&amp;B" in out.html
    assert "<script>alert(1)</script>" in out.text


def test_optional_params_may_be_missing() -> None:
    out = templates.render_email("user_confirmation", "nl", {"confirm_url": URL})
    assert out.text.startswith("Beste,")


def test_subject_cannot_inject_headers() -> None:
    out = templates.render_email(
        "invoice_available",
        "en",
        {**params_for("invoice_available"), "invoice_number": "F1\r\nBcc: evil@example.com"},
    )
    assert "\n" not in out.subject and "\r" not in out.subject


@pytest.mark.parametrize(
    ("locale", "money", "due"),
    [
        ("nl", "€ 1.234,50", "30 november 2026"),
        ("fr", "1\u202f234,50 €", "30 novembre 2026"),
        ("en", "€1,234.50", "30 November 2026"),
    ],
)
def test_invoice_amounts_and_dates_in_local_notation(locale: str, money: str, due: str) -> None:
    out = templates.render_email("invoice_available", locale, params_for("invoice_available"))
    assert money in out.text and due in out.text
    sms = templates.render_sms("invoice_available_sms", locale, params_for("invoice_available_sms"))
    # SMS collapse unicode spaces to plain ones (GSM-7 has no narrow no-break space).
    assert money.replace("\u202f", " ") in sms and "F2026-000123" in sms
    assert len(sms) <= 160 * 2  # at most two SMS segments


def test_unknown_template() -> None:
    with pytest.raises(TemplateProblem, match="unknown template"):
        templates.check("no_such_template", "email", {})


def test_template_of_the_other_channel() -> None:
    with pytest.raises(TemplateProblem, match="not a sms template"):
        templates.check("user_confirmation", "sms", {"confirm_url": URL})
    with pytest.raises(TemplateProblem, match="not a email template"):
        templates.render_email("invoice_available_sms", "nl", params_for("invoice_available_sms"))


def test_missing_required_param() -> None:
    with pytest.raises(TemplateProblem, match="confirm_url"):
        templates.render_email("user_confirmation", "en", {"first_name": "A"})


def test_links_must_be_web_links() -> None:
    with pytest.raises(TemplateProblem, match="http"):
        templates.check("user_confirmation", "email", {"confirm_url": "javascript:alert(1)"})


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("step", ["received", "accepted", "rejected"])
def test_objection_mail_says_each_step_in_the_recipients_language(locale: str, step: str) -> None:
    params = {"step": step, "invoice_number": "INV-2026-000042", "reason": "Already paid",
              "credit_note_number": "CN-2026-000007"}  # fmt: skip
    out = templates.render_email("invoice_objection", locale, params)
    assert "INV-2026-000042" in out.subject and "INV-2026-000042" in out.text
    assert ("CN-2026-000007" in out.text) == (step == "accepted")
    assert ("Already paid" in out.text) == (step == "rejected")
