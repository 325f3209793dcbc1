from inventory.models import Item, Stock
from inventory.report import low_stock, summary


def test_low_stock_is_strictly_below_threshold() -> None:
    stock = Stock(
        [Item("a", "Apple", 50, quantity=3), Item("b", "Bread", 200, quantity=1)]
    )
    assert low_stock(stock, threshold=3) == ["b"]


def test_summary_of_empty_stock() -> None:
    assert summary(Stock()) == "empty"
