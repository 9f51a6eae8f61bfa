"""A workflow book: per kind of order, its nodes in order. Loaded from ``workflows.toml`` and
returned as it is by ``GET /api/servicedesk/workflows``."""

from __future__ import annotations

from datetime import time
from typing import Annotated

import msgspec
from msgspec import Meta

from backend.auth.models import Role
from backend.servicedesk.workflow.models import DeadlineUnit, DoneBy, OrderKind, TimeoutAction

Key = Annotated[str, Meta(pattern=r"^[a-z][a-z_]{0,31}$")]


class Node(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    key: Key  # stable: stored in every step, used by the PWA to word it (order.node.{key})
    role: Role  # who works it (the owner may always act too)
    deadline: Annotated[int, Meta(ge=1, le=100_000)]
    unit: DeadlineUnit
    on_timeout: TimeoutAction
    done_by: DoneBy = DoneBy.PERSON


class Workflow(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    kind: OrderKind
    nodes: Annotated[list[Node], Meta(min_length=1, max_length=20)]

    def node(self, key: str) -> Node:
        for n in self.nodes:
            if n.key == key:
                return n
        raise KeyError(key)

    def after(self, key: str) -> Node | None:
        keys = [n.key for n in self.nodes]
        i = keys.index(key)
        return self.nodes[i + 1] if i + 1 < len(self.nodes) else None


class WorkflowBook(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    day_start: time  # the working day, local time (settings.timezone)
    day_end: time
    workflows: list[Workflow]

    def of(self, kind: OrderKind) -> Workflow:
        for w in self.workflows:
            if w.kind is kind:
                return w
        raise KeyError(kind)


class WorkflowBookOut(msgspec.Struct, frozen=True, kw_only=True):
    """The book as the API answers it: the working day as ``HH:MM`` local times."""

    day_start: str
    day_end: str
    workflows: list[Workflow]

    @classmethod
    def of(cls, book: WorkflowBook) -> WorkflowBookOut:
        return cls(
            day_start=book.day_start.strftime("%H:%M"),
            day_end=book.day_end.strftime("%H:%M"),
            workflows=book.workflows,
        )
