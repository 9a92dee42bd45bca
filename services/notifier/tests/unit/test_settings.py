import pytest

from notifier.settings import NotifierSettings


def test_launcher_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_SMTP_HOST", "smtp.example")
    monkeypatch.setenv("NOTIFIER_SMTP_PORT", "2525")
    monkeypatch.setenv("NOTIFIER_SMTP_USERNAME", "user")
    monkeypatch.setenv("NOTIFIER_SMTP_PASSWORD", "secret-pw")
    monkeypatch.setenv("NOTIFIER_SMTP_STARTTLS", "true")
    monkeypatch.setenv("NOTIFIER_MAIL_FROM", "Portal <portal@example.com>")
    monkeypatch.setenv("NOTIFIER_SMS_URL", "http://sms.example/send")
    monkeypatch.setenv("BILLING_URL", "http://billing.example:8003")
    s = NotifierSettings()
    assert (s.smtp_host, s.smtp_port, s.smtp_username, s.smtp_password) == (
        "smtp.example",
        2525,
        "user",
        "secret-pw",
    )
    assert s.smtp_starttls is True
    assert s.mail_from == "Portal <portal@example.com>"
    assert s.sms_url == "http://sms.example/send"
    assert s.billing_url == "http://billing.example:8003"
    assert (s.service_name, s.port, s.client_id) == ("notifier", 8006, "notifier")


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOTIFIER_SMTP_HOST", "NOTIFIER_SMTP_PORT", "BILLING_URL", "NOTIFIER_SMS_URL"):
        monkeypatch.delenv(name, raising=False)
    s = NotifierSettings()
    assert (s.smtp_host, s.smtp_port, s.smtp_starttls) == ("127.0.0.1", 1025, None)
    assert s.mail_from == "MyPortal <no-reply@portal.local>"
    assert s.sms_url == "http://127.0.0.1:8025/api/sms"
    assert s.billing_url == "http://127.0.0.1:8003"


def test_placeholder_secrets_refused_in_production() -> None:
    with pytest.raises(ValueError, match="client_secret"):
        NotifierSettings(environment="production", client_secret="dev-secret")
