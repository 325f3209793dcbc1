from inventory.models import Item, Stock


def test_find_returns_the_item() -> None:
    stock = Stock()
    stock.add(Item("a", "Apple", 50, quantity=3))
    found = stock.find("a")
    assert found is not None
    assert found.name == "Apple"


def test_total_units() -> None:
    stock = Stock([Item("a", "Apple", 50, 3), Item("b", "Bread", 200, 2)])
    assert stock.total_units() == 5
