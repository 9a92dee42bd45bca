from contracts.events.notification import TEMPLATES
from notifier.templates import CATALOGUE


def test_every_template_named_in_the_contract_can_be_rendered_here() -> None:
    assert set(TEMPLATES) <= set(CATALOGUE), sorted(set(TEMPLATES) - set(CATALOGUE))


def test_every_template_here_is_announced_in_the_contract() -> None:
    assert set(CATALOGUE) <= set(TEMPLATES), sorted(set(CATALOGUE) - set(TEMPLATES))
