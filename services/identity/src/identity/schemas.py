"""Request and response bodies of identity's HTTP API.

Request bodies forbid unknown fields: a misspelt field must not be silently dropped
(e.g. ``wants_acces_owner`` would otherwise register an access owner).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from identity.domain import (
    PASSWORD_MAX_LENGTH,
    normalize_email,
    normalize_enterprise_number,
    password_problems,
)

Locale = Literal["nl", "fr", "en"]
Profile = Literal["access_owner", "access_manager", "portal_user", "service_user"]
ContractKind = Literal["employee", "civil_servant", "management", "third_party"]

EnterpriseNumber = Annotated[
    str,
    Field(
        max_length=20,
        description="Belgian enterprise number (KBO/BCE); '0403.170.701', 'BE0403170701' "
        "and '0403170701' are accepted. Answered normalized to 10 digits.",
        examples=["0403.170.701"],
    ),
    AfterValidator(normalize_enterprise_number),
]
LoginEmail = Annotated[EmailStr, AfterValidator(normalize_email)]
Name = Annotated[str, Field(min_length=1, max_length=100)]


def _strip_spaces(value: Any) -> Any:
    return re.sub(r"[\s.()/-]", "", value) if isinstance(value, str) else value


Mobile = Annotated[
    str,
    BeforeValidator(_strip_spaces),
    Field(pattern=r"^\+[1-9]\d{6,14}$", description="E.164, e.g. +32470123456."),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _check_password(password: SecretStr, info: ValidationInfo) -> SecretStr:
    problems = password_problems(password.get_secret_value(), info.data.get("email"))
    if problems:
        raise ValueError("password " + "; ".join(problems))
    return password


# -- registration ----------------------------------------------------------------------


class AddressIn(Strict):
    """A postal address; ``country`` is ISO 3166-1 alpha-2 (default BE)."""

    country: str = Field(default="BE", pattern=r"^[A-Z]{2}$")
    street: str = Field(min_length=1, max_length=200)
    number: str | None = Field(default=None, max_length=20)
    postal_code: str = Field(min_length=1, max_length=20)
    city: str = Field(min_length=1, max_length=100)

    @field_validator("postal_code")
    @classmethod
    def _belgian_postal_code(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("country") == "BE" and not re.fullmatch(r"[1-9]\d{3}", value):
            raise ValueError("a Belgian postal code has 4 digits")
        return value


class RegistrantIn(Strict):
    email: LoginEmail
    first_name: Name
    last_name: Name
    locale: Locale
    password: SecretStr = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)

    _password = field_validator("password")(_check_password)


class RegistrationIn(Strict):
    enterprise_number: EnterpriseNumber
    company_name: str = Field(min_length=1, max_length=200)
    address: AddressIn
    contact_email: EmailStr
    wants_access_owner: bool = True
    affiliates: list[EnterpriseNumber] = Field(default_factory=list, max_length=200)
    registrant: RegistrantIn

    @field_validator("affiliates")
    @classmethod
    def _distinct_affiliates(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("enterprise_number") in value:
            raise ValueError("a company cannot be its own affiliate")
        return list(dict.fromkeys(value))


class RegistrationCreated(BaseModel):
    registration_id: UUID
    customer_id: UUID
    status: str


class RegistrantOut(BaseModel):
    email: str
    first_name: str
    last_name: str
    locale: str


class AddressOut(BaseModel):
    country: str
    street: str
    number: str | None
    postal_code: str
    city: str


class RegistrationOut(BaseModel):
    registration_id: UUID
    customer_id: UUID
    status: str
    enterprise_number: str
    company_name: str
    address: AddressOut
    contact_email: str
    wants_access_owner: bool
    affiliates: list[str]
    registrant: RegistrantOut
    created_at: datetime
    decided_at: datetime | None


class AcceptIn(Strict):
    """Optional body of the accept route [9.1]: the listed affiliates operator staff
    confirm. A listed affiliate not confirmed here gets no link, now or later."""

    confirmed_affiliates: list[EnterpriseNumber] = Field(default_factory=list, max_length=200)

    @field_validator("confirmed_affiliates")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class AffiliateOut(BaseModel):
    enterprise_number: str
    # The affiliate's customer, when it is one (active) at acceptance.
    customer_id: UUID | None
    confirmed: bool
    # The affiliate already has an access owner of its own (told by mail of the link).
    has_access_owner: bool


class Accepted(BaseModel):
    customer_id: UUID
    status: str
    affiliates: list[AffiliateOut] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


# -- confirmation ----------------------------------------------------------------------


class ConfirmIn(Strict):
    token: str = Field(min_length=1, max_length=200)
    password: SecretStr | None = Field(default=None, max_length=PASSWORD_MAX_LENGTH)


class Confirmed(BaseModel):
    user_id: UUID
    status: str


class LinkStatus(BaseModel):
    status: Literal["valid"]
    password_required: bool
    expires_at: datetime


# -- tokens ----------------------------------------------------------------------------


class PasswordGrant(BaseModel):
    # OAuth2 clients send extra parameters (scope, client_id): tolerated, ignored.
    model_config = ConfigDict(extra="ignore")
    grant_type: Literal["password"]
    username: str = Field(min_length=1, max_length=254)
    password: SecretStr = Field(min_length=1, max_length=1024)


class RefreshGrant(BaseModel):
    model_config = ConfigDict(extra="ignore")
    grant_type: Literal["refresh_token"]
    refresh_token: str = Field(min_length=1, max_length=200)


class ClientCredentialsGrant(BaseModel):
    model_config = ConfigDict(extra="ignore")
    grant_type: Literal["client_credentials"]
    client_id: str = Field(min_length=1, max_length=100)
    client_secret: SecretStr = Field(min_length=1, max_length=1024)


TokenRequest = Annotated[
    PasswordGrant | RefreshGrant | ClientCredentialsGrant, Field(discriminator="grant_type")
]


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str | None = Field(
        default=None, description="Absent for client credentials (services)."
    )
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class LogoutIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=200)


# -- users -----------------------------------------------------------------------------


class ContractIn(Strict):
    kind: ContractKind = "employee"
    ends_on: date | None = None


class InviteIn(Strict):
    email: LoginEmail
    first_name: Name
    last_name: Name
    locale: Locale = "en"
    mobile: Mobile | None = None
    contract: ContractIn = Field(default_factory=ContractIn)
    profile: Profile = "portal_user"
    subprofiles: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,49}$")]] = Field(
        default_factory=list, max_length=20
    )

    @field_validator("subprofiles")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class Invited(BaseModel):
    user_id: UUID
    status: str


class ContractOut(BaseModel):
    kind: str | None
    ends_on: date | None


class UserOut(BaseModel):
    user_id: UUID
    customer_id: UUID | None
    email: str
    first_name: str
    last_name: str
    locale: str
    mobile: str | None
    status: str
    profile: str | None
    subprofiles: list[str]
    contract: ContractOut | None
    created_at: datetime


class Me(BaseModel):
    user_id: UUID
    kind: str
    customer_id: UUID | None
    email: str
    first_name: str
    last_name: str
    locale: str
    status: str
    profile: str | None
    subprofiles: list[str]


class Jwk(BaseModel):
    """A public signing key (RFC 7517): EC P-256, for ES256 signatures."""

    model_config = ConfigDict(extra="allow")
    kty: str = Field(examples=["EC"])
    crv: str = Field(examples=["P-256"])
    x: str
    y: str
    kid: str
    use: str = Field(examples=["sig"])
    alg: str = Field(examples=["ES256"])


class Jwks(BaseModel):
    keys: list[Jwk]


class KeyRotated(BaseModel):
    kid: str


# -- termination -----------------------------------------------------------------------


class TerminationIn(Strict):
    by: Literal["customer", "operator"] = Field(
        description="Who gives notice: the customer (15 calendar days; an access owner, or "
        "operator staff acting for the customer) or the operator (3 months; operator staff)."
    )


class TerminationOut(BaseModel):
    termination_id: UUID
    customer_id: UUID
    by: Literal["customer", "operator"]
    status: Literal["terminating", "terminated"] = Field(
        description="terminating until the effective day, then terminated."
    )
    requested_at: datetime
    effective_on: date = Field(
        description="The day the agreement ends (Brussels calendar day): from then on the "
        "customer's accounts are deactivated and its data is no longer available."
    )
    terminated_at: datetime | None = Field(
        default=None, description="When the termination took effect; null before."
    )


class AuditActorOut(BaseModel):
    kind: Literal["user", "operator", "service", "system"]
    id: str | None = Field(description="User id (user, operator) or client id (service).")


class AuditEventOut(BaseModel):
    """One link of a customer's audit trail: ``hash`` = sha256(``prev_hash`` + canonical
    JSON of {seq, audit_id, customer_id, at, source, actor, action, target, details})."""

    seq: int
    audit_id: UUID
    at: datetime
    source: str
    actor: AuditActorOut
    action: str
    target: dict[str, str]
    details: dict[str, Any]
    hash: str
    prev_hash: str
