from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from identity.domain import (
    GENESIS_HASH,
    ChainEntry,
    LinkState,
    NoticeRefusal,
    RefreshOutcome,
    RefreshTokenState,
    add_months,
    chain_hash,
    confirmation_state,
    contract_ended,
    local_date,
    normalize_enterprise_number,
    notice_refusal,
    password_problems,
    refresh_outcome,
    registrant_profile,
    secret_hash,
    termination_due,
    termination_effective_on,
    verify_chain,
    withdrawal_refusal,
)

# -- enterprise numbers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["0403170701", "0403.170.701", "BE0403170701", "be 0403 170 701", "BE0403.170.701"],
)
def test_valid_enterprise_numbers_normalize_to_ten_digits(raw):
    assert normalize_enterprise_number(raw) == "0403170701"


def test_old_nine_digit_form_gets_its_leading_zero():
    assert normalize_enterprise_number("403170701") == "0403170701"


@pytest.mark.parametrize(
    "raw",
    [
        "0403170702",  # checksum off by one
        "1403170701",  # checksum does not match the first eight digits
        "2403170701",  # must start with 0 or 1
        "04031707",  # too short
        "BE04031707011",  # too long
        "NL0403170701",  # another country's prefix
        "abcdefghij",
        "",
    ],
)
def test_invalid_enterprise_numbers_are_refused(raw):
    with pytest.raises(ValueError, match="enterprise number"):
        normalize_enterprise_number(raw)


def test_checksum_is_97_minus_first_eight_mod_97():
    first_eight = 4031707
    assert 97 - first_eight % 97 == 1  # "...01": the number above is built by the rule


# -- passwords -------------------------------------------------------------------------


def test_good_password_passes():
    assert password_problems("correct horse 42 battery", "ann@example.com") == []


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("short1a", "at least 12"),
        ("abcdefghijklmnop", "letters and digits"),
        ("123456789012345", "letters and digits"),
        ("!!!!!!!!!!!!!!!!", "letters and digits"),
    ],
)
def test_weak_passwords_are_refused(password, expected):
    problems = password_problems(password, "ann@example.com")
    assert any(expected in p for p in problems)


def test_password_equal_to_email_is_refused_case_insensitively():
    problems = password_problems("Ann.Peeters1@Example.com", "ann.peeters1@example.com")
    assert "must not be the e-mail address" in problems


def test_exactly_twelve_characters_is_enough():
    assert password_problems("abcdefghijk1") == []


# -- profiles and contracts ------------------------------------------------------------


def test_registrant_is_owner_unless_no_owner_wanted():
    assert registrant_profile(True) == "access_owner"
    assert registrant_profile(False) == "access_manager"


def test_contract_end_date():
    today = date(2026, 11, 26)
    assert contract_ended(date(2026, 11, 25), today)
    assert not contract_ended(today, today)  # the last day still counts
    assert not contract_ended(None, today)


# -- confirmation links ----------------------------------------------------------------


def test_confirmation_link_states():
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    later = now + timedelta(days=1)
    assert confirmation_state(found=False, used_at=None, expires_at=None, now=now) is (
        LinkState.UNKNOWN
    )
    assert confirmation_state(found=True, used_at=now, expires_at=later, now=now) is (
        LinkState.USED
    )
    assert confirmation_state(found=True, used_at=None, expires_at=now, now=now) is (
        LinkState.EXPIRED
    )
    assert confirmation_state(found=True, used_at=None, expires_at=later, now=now) is (
        LinkState.VALID
    )
    in_brussels = later.astimezone(timezone(timedelta(hours=1)))  # the instant counts
    assert confirmation_state(found=True, used_at=None, expires_at=in_brussels, now=now) is (
        LinkState.VALID
    )


def test_secret_hash_is_sha256_hex():
    assert secret_hash("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


# -- refresh rotation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        (RefreshTokenState(found=False), RefreshOutcome.REJECT),
        (RefreshTokenState(found=True), RefreshOutcome.ROTATE),
        (RefreshTokenState(found=True, used=True), RefreshOutcome.REVOKE_FAMILY),
        # reuse is reuse even after expiry: still revoke (and record) the family
        (RefreshTokenState(found=True, used=True, expired=True), RefreshOutcome.REVOKE_FAMILY),
        (RefreshTokenState(found=True, used=True, family_revoked=True), RefreshOutcome.REJECT),
        (RefreshTokenState(found=True, family_revoked=True), RefreshOutcome.REJECT),
        (RefreshTokenState(found=True, expired=True), RefreshOutcome.REJECT),
        (RefreshTokenState(found=True, user_active=False), RefreshOutcome.REVOKE_FAMILY),
    ],
)
def test_refresh_rule(state, outcome):
    assert refresh_outcome(state) is outcome


# -- audit chain -----------------------------------------------------------------------


def _chain(n: int) -> list[ChainEntry]:
    entries = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        content = {
            "seq": seq,
            "id": f"id-{seq}",
            "occurred_at": datetime(2026, 11, 26, 12, 0, seq, tzinfo=UTC),
            "action": "login.succeeded",
            "actor": "u1",
            "subject": None,
            "customer_id": "c1",
            "details": {"ip": "10.0.0.1"},
        }
        digest = chain_hash(prev, content)
        entries.append(ChainEntry(seq, prev, digest, content))
        prev = digest
    return entries


def test_an_untouched_chain_verifies():
    check = verify_chain(_chain(5))
    assert check.ok and check.checked == 5


def test_empty_chain_verifies():
    assert verify_chain([]).ok


def test_edited_entry_is_detected():
    entries = _chain(5)
    tampered = dict(entries[2].entry, details={"ip": "6.6.6.6"})
    entries[2] = ChainEntry(3, entries[2].prev_hash, entries[2].hash, tampered)
    check = verify_chain(entries)
    assert not check.ok and check.first_bad_seq == 3 and check.problem == "entry content altered"


def test_edited_entry_with_recomputed_hash_breaks_the_next_link():
    entries = _chain(5)
    tampered = dict(entries[2].entry, action="login.failed")
    entries[2] = ChainEntry(
        3, entries[2].prev_hash, chain_hash(entries[2].prev_hash, tampered), tampered
    )
    check = verify_chain(entries)
    assert not check.ok and check.first_bad_seq == 4


def test_deleted_entry_is_detected():
    entries = _chain(5)
    del entries[1]
    check = verify_chain(entries)
    assert not check.ok and check.first_bad_seq == 3


def test_deleted_first_entry_is_detected():
    check = verify_chain(_chain(3)[1:])
    assert not check.ok and check.first_bad_seq == 2


def test_the_same_instant_hashes_alike_in_any_offset():
    """The hash is of the UTC instant, not of the offset a time happens to carry."""
    utc = {"occurred_at": datetime(2026, 1, 1, 8, 30, tzinfo=UTC)}
    plus_two = {"occurred_at": datetime(2026, 1, 1, 10, 30, tzinfo=timezone(timedelta(hours=2)))}
    assert chain_hash(GENESIS_HASH, utc) == chain_hash(GENESIS_HASH, plus_two)


def test_a_naive_time_is_refused_in_the_hash():
    """Its instant is unknown (the database gives aware UTC times)."""
    with pytest.raises(ValueError, match="naive"):
        chain_hash(GENESIS_HASH, {"occurred_at": datetime(2026, 1, 1, 8, 30)})


# -- termination [2.2.2] ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested_on", "effective_on"),
    [
        (date(2026, 3, 10), date(2026, 3, 25)),
        (date(2026, 12, 20), date(2027, 1, 4)),  # across the year end
        (date(2028, 2, 20), date(2028, 3, 6)),  # leap year: 29 February counts
        (date(2027, 2, 20), date(2027, 3, 7)),
    ],
)
def test_customer_notice_is_fifteen_calendar_days(requested_on, effective_on):
    assert termination_effective_on("customer", requested_on) == effective_on


@pytest.mark.parametrize(
    ("requested_on", "effective_on"),
    [
        (date(2026, 3, 10), date(2026, 6, 10)),  # same day of the month
        (date(2026, 1, 31), date(2026, 4, 30)),  # April has 30 days
        (date(2026, 11, 30), date(2027, 2, 28)),
        (date(2027, 11, 30), date(2028, 2, 29)),  # leap year
        (date(2027, 11, 29), date(2028, 2, 29)),
        (date(2026, 10, 31), date(2027, 1, 31)),  # across the year end, no clamping
        (date(2026, 12, 31), date(2027, 3, 31)),
        (date(2026, 5, 31), date(2026, 8, 31)),
        (date(2026, 3, 31), date(2026, 6, 30)),
    ],
)
def test_operator_notice_is_three_months_clamped_to_month_end(requested_on, effective_on):
    assert termination_effective_on("operator", requested_on) == effective_on


def test_unknown_notice_giver_is_refused():
    with pytest.raises(ValueError):
        termination_effective_on("someone", date(2026, 1, 1))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 1, 15), 12, date(2027, 1, 15)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 1, 15), 0, date(2026, 1, 15)),
    ],
)
def test_add_months(day, months, expected):
    assert add_months(day, months) == expected


def test_the_request_date_is_the_brussels_calendar_day():
    # 23:30 UTC on 31 December is already 1 January in Brussels (UTC+1 in winter)...
    assert local_date(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == date(2027, 1, 1)
    # ...and 22:30 UTC on 30 June is 1 July (UTC+2 in summer).
    assert local_date(datetime(2026, 6, 30, 22, 30, tzinfo=UTC)) == date(2026, 7, 1)
    assert local_date(datetime(2026, 6, 30, 21, 59, tzinfo=UTC)) == date(2026, 6, 30)
    late = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert termination_effective_on("customer", local_date(late)) == date(2027, 1, 16)


def test_a_termination_takes_effect_on_its_effective_day():
    effective_on = date(2026, 4, 30)
    assert not termination_due(effective_on, date(2026, 4, 29))
    assert termination_due(effective_on, effective_on)
    assert termination_due(effective_on, date(2026, 5, 1))


@pytest.mark.parametrize(
    ("by", "kind", "profile", "refusal"),
    [
        ("customer", "user", "access_owner", None),
        ("customer", "user", "access_manager", NoticeRefusal.ACCESS_OWNER_ONLY),
        ("customer", "user", "portal_user", NoticeRefusal.ACCESS_OWNER_ONLY),
        ("customer", "user", "service_user", NoticeRefusal.ACCESS_OWNER_ONLY),
        ("customer", "user", None, NoticeRefusal.ACCESS_OWNER_ONLY),  # not its user
        ("customer", "operator", None, None),  # staff acting for the customer
        ("operator", "operator", None, None),
        ("operator", "user", "access_owner", NoticeRefusal.OPERATOR_ONLY),
        ("customer", "service", None, NoticeRefusal.NOT_FOR_SERVICES),
        ("operator", "service", None, NoticeRefusal.NOT_FOR_SERVICES),
    ],
)
def test_who_may_give_or_withdraw_notice(by, kind, profile, refusal):
    assert notice_refusal(by, actor_kind=kind, actor_profile=profile) is refusal
    assert withdrawal_refusal(by, actor_kind=kind, actor_profile=profile) is refusal
