"""Items and the stock that holds them."""

import os
import sys
from dataclasses import dataclass, field
from typing import Optional, List


@dataclass
class Item:
    sku: str
    name: str
    price_cents: int
    quantity: int = 0


@dataclass
class Stock:
    items: List[Item] = field(default_factory=list)

    def add(self, item: Item) -> None:
        self.items.append(item)

    def find(self, sku: str) -> Optional[Item]:
        for item in self.items:
            if item.sku == sku:
                return item
        return None

    def total_units(self) -> int:
        return sum(item.quantity for item in self.items)
