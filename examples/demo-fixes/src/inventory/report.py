"""Plain-text stock reports."""

from inventory.models import Stock


def low_stock(stock: Stock, threshold: int = 3) -> list[str]:
    """SKUs of the items with fewer than `threshold` units."""
    return [item.sku for item in stock.items if item.quantity < threshold]


def summary(stock: Stock) -> str:
    lines = []
    for item in stock.items:
        lines.append(f"{item.name}: {item.quantity}")
    if lines == []:
        return "empty"
    return "\n".join(lines)
