import pytest
from pydantic import ValidationError

from identity.schemas import InviteIn, RegistrationIn
from identity.settings import IdentitySettings


def form(**over):
    body = {
        "enterprise_number": "BE 0403.170.701",
        "company_name": "Acme NV",
        "address": {
            "street": "Koning Albert II-laan",
            "number": "27",
            "postal_code": "1030",
            "city": "Brussel",
        },
        "contact_email": "admin@acme.example",
        "affiliates": ["0202.239.951", "0202239951"],
        "registrant": {
            "email": "Ann.Peeters@Acme.Example",
            "first_name": "Ann",
            "last_name": "Peeters",
            "locale": "nl",
            "password": "correct horse 42 battery",
        },
    }
    body.update(over)
    return body


def errors_of(exc: ValidationError) -> dict[str, str]:
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in exc.errors()}


def test_registration_normalizes_numbers_emails_and_defaults():
    reg = RegistrationIn.model_validate(form())
    assert reg.enterprise_number == "0403170701"
    assert reg.affiliates == ["0202239951"]  # normalized and de-duplicated
    assert reg.registrant.email == "ann.peeters@acme.example"
    assert reg.wants_access_owner is True
    assert reg.address.country == "BE"


def test_unknown_fields_are_refused_at_every_level():
    with pytest.raises(ValidationError) as exc:
        RegistrationIn.model_validate(form(wants_acces_owner=False))
    assert "wants_acces_owner" in errors_of(exc.value)
    body = form()
    body["registrant"]["role"] = "admin"
    with pytest.raises(ValidationError) as exc:
        RegistrationIn.model_validate(body)
    assert "registrant.role" in errors_of(exc.value)


def test_weak_password_is_reported_on_its_field_without_echoing_it():
    body = form()
    body["registrant"]["password"] = "password"
    with pytest.raises(ValidationError) as exc:
        RegistrationIn.model_validate(body)
    errors = errors_of(exc.value)
    assert "at least 12" in errors["registrant.password"]
    assert 'password"' not in str(errors)


def test_password_equal_to_the_email_is_refused():
    body = form()
    body["registrant"]["password"] = "ann.peeters1@acme.example"
    body["registrant"]["email"] = "ann.peeters1@acme.example"
    with pytest.raises(ValidationError) as exc:
        RegistrationIn.model_validate(body)
    assert "e-mail" in errors_of(exc.value)["registrant.password"]


def test_invalid_affiliate_and_self_affiliation():
    with pytest.raises(ValidationError) as exc:
        RegistrationIn.model_validate(form(affiliates=["0403170702"]))
    assert "affiliates.0" in errors_of(exc.value)
    with pytest.raises(ValidationError) as exc:
        RegistrationIn.model_validate(form(affiliates=["0403170701"]))
    assert "affiliates" in errors_of(exc.value)


def test_belgian_postal_code_has_four_digits():
    body = form(address={"street": "x", "postal_code": "10300", "city": "Brussel"})
    with pytest.raises(ValidationError) as exc:
        RegistrationIn.model_validate(body)
    assert "address.postal_code" in errors_of(exc.value)
    foreign = form(
        address={"street": "Rue", "postal_code": "75001", "city": "Paris", "country": "FR"}
    )
    assert RegistrationIn.model_validate(foreign).address.postal_code == "75001"


def test_invite_defaults_and_mobile_normalization():
    invite = InviteIn.model_validate(
        {
            "email": "Bob@x.example",
            "first_name": "Bob",
            "last_name": "B",
            "mobile": "+32 470 12 34 56",
        }
    )
    assert invite.profile == "portal_user" and invite.contract.kind == "employee"
    assert invite.mobile == "+32470123456" and invite.email == "bob@x.example"


def test_production_refuses_development_secrets():
    with pytest.raises(ValidationError, match="development"):
        IdentitySettings(
            environment="production",
            kafka_sasl_password="k4fka-s3cret",
            key_passphrase="a" * 32,
            operator_password="a-real-operator-password",
            client_secret="x",
            service_clients={"billing": "dev-secret"},
        )
    with pytest.raises(ValidationError, match="placeholder"):
        IdentitySettings(
            environment="production",
            kafka_sasl_password="k4fka-s3cret",
            key_passphrase="a" * 32,
            operator_password="operator-dev-password",
            client_secret="x",
            service_clients={"billing": "s3cret-s3cret"},
        )
    with pytest.raises(ValidationError, match="placeholder"):
        IdentitySettings(
            environment="production",
            kafka_sasl_password="k4fka-s3cret",
            operator_password="a-real-operator-password",
            client_secret="x",
            service_clients={"billing": "s3cret-s3cret"},
        )
    ok = IdentitySettings(
        environment="production",
        kafka_sasl_password="k4fka-s3cret",
        key_passphrase="a" * 32,
        operator_password="a-real-operator-password",
        client_secret="x",
        service_clients={"billing": "s3cret-s3cret"},
    )
    assert ok.service_clients == {"billing": "s3cret-s3cret"}


def test_service_clients_and_operator_from_environment(monkeypatch):
    monkeypatch.setenv("IDENTITY_SERVICE_CLIENTS", '{"billing": "b-secret"}')
    monkeypatch.setenv("IDENTITY_OPERATOR_EMAIL", "ops@portal.example")
    monkeypatch.setenv("IDENTITY_OPERATOR_PASSWORD", "ops-password-123")
    s = IdentitySettings()
    assert s.service_clients == {"billing": "b-secret"}
    assert s.operator_email == "ops@portal.example"
    assert s.operator_password == "ops-password-123"


def test_development_default_clients_cover_every_service():
    assert set(IdentitySettings().service_clients) == {
        "identity",
        "delegation",
        "billing",
        "fleet",
        "einvoice",
        "notifier",
    }
