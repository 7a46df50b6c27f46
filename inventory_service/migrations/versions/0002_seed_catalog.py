"""Seed a small catalog so that a fresh stack can take orders at once.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATALOG = [
    {"sku": "SKU-RED-MUG", "name": "Red mug", "price_cents": 1200, "available": 100},
    {"sku": "SKU-BLUE-MUG", "name": "Blue mug", "price_cents": 1200, "available": 100},
    {"sku": "SKU-TEAPOT", "name": "Cast-iron teapot", "price_cents": 4500, "available": 25},
    {"sku": "SKU-COFFEE-1KG", "name": "Coffee beans, 1 kg", "price_cents": 2400, "available": 60},
    {"sku": "SKU-TEA-TOWEL", "name": "Linen tea towel", "price_cents": 900, "available": 200},
]


def upgrade() -> None:
    # ON CONFLICT: an operator may already have PUT one of these SKUs by hand.
    op.get_bind().execute(
        sa.text(
            "INSERT INTO products (sku, name, price_cents, available) "
            "VALUES (:sku, :name, :price_cents, :available) ON CONFLICT (sku) DO NOTHING"
        ),
        CATALOG,
    )


def downgrade() -> None:
    # Only products no reservation ever named: their lines reference them.
    op.get_bind().execute(
        sa.text(
            "DELETE FROM products WHERE sku = ANY(:skus) "
            "AND NOT EXISTS (SELECT 1 FROM reservation_lines WHERE reservation_lines.sku = products.sku)"
        ),
        {"skus": [product["sku"] for product in CATALOG]},
    )
