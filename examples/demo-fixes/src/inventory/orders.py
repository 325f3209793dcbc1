"""Orders taken against the stock."""

from inventory.models import Stock


def reserve(stock: Stock, sku: str, units: int) -> bool:
    item = stock.find(sku)
    if item is None or item.quantity < units:
        return False
    item.quantity -= units
    return True
