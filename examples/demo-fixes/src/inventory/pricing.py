"""Prices, discounts and taxes."""

from inventory.models import Item


def discounted(item: Item, percent: int) -> int:
    """The item's price in cents after a discount of `percent`."""
    return item.price_cents * (100 - percent) // 100


def with_tax(cents: int, rate: float = 0.2) -> int:
    return round(cents * (1 + rate))


def describe(item: Item) -> str:
    label = "price"
    return label + ": " + str(with_tax(item.price_cents))
