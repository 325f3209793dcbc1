from inventory.models import Item
from inventory.pricing import discounted, with_tax


def cents(euros: float) -> int:
    return round(euros * 100)


def test_discount() -> None:
    item = Item("a", "Apple", cents(2.00))
    assert discounted(item, 25) == cents(1.50)


def test_tax_rounds_to_the_nearest_cent() -> None:
    assert with_tax(cents(0.99)) == 119
