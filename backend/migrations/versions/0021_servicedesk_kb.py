"""The operators' knowledge base: articles, searched by trigrams; a photo on a work order.

PostgreSQL: the pg_trgm extension and a GIN trigram index on ``search_text`` (serves
``ILIKE '%…%'``); where the extension is not available, a plain index of the same name and the
search still works by ``ILIKE`` scanning. SQLite: an FTS5 table with the trigram tokenizer,
``kb_articles_fts`` (rowid = article id), kept by the service.

Revision ID: 0021_servicedesk_kb
Revises: 0020_customer_language
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_servicedesk_kb"
down_revision: str | None = "0020_customer_language"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["updated_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    # a customer's report can carry a photo (stored as the field photos are)
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('photo_sha256', sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_work_orders_photo_sha256_field_photos'), 'field_photos',
            ['photo_sha256'], ['sha256'],
        )  # fmt: skip
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        available = bind.execute(
            sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        ).first()
        if available:
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            op.create_index(
                'ix_kb_articles_search_trgm', 'kb_articles', ['search_text'],
                postgresql_using='gin', postgresql_ops={'search_text': 'gin_trgm_ops'},
            )  # fmt: skip
        else:
            op.create_index("ix_kb_articles_search_trgm", "kb_articles", ["search_text"])
    else:
        op.create_index("ix_kb_articles_search_trgm", "kb_articles", ["search_text"])
        op.execute(
            "CREATE VIRTUAL TABLE kb_articles_fts USING fts5(title, tags, body, "
            "tokenize = 'trigram')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS kb_articles_fts")
    op.drop_index("ix_kb_articles_search_trgm", table_name="kb_articles")
    op.drop_table("kb_articles")
