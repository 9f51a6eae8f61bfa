"""One enum, one place: backend/ names a quantity, quality, event kind or channel by the
contract's StrEnum member, never by a string literal of its value (a typo there is a silent
mismatch; a typo in a member name is an AttributeError at import and a mypy error).

The scan is over the Python syntax tree, so SQL text and migrations (which freeze the values as
they were) are not flagged: a whole string constant equal to a member's value is. Channel
values are ordinary words ("readings" is also a table, "commands" an OpenAPI tag), so for them
only the places where a channel is meant are checked: dictionary keys, comparisons and
``.get()`` lookups.
"""

from __future__ import annotations

import ast
from pathlib import Path

from protocols.contract import Channel, EventKind, Quality, Quantity

ROOT = Path(__file__).resolve().parents[2]
VALUES = {
    m.value: f"{type(m).__name__}.{m.name}" for e in (Quantity, Quality, EventKind) for m in e
}
CHANNELS = {m.value: f"Channel.{m.name}" for m in Channel}

# Literals in a file being rewritten elsewhere: (path, "literal" -> member). Empty it when that
# work merges, as the import cycle test's KNOWN_CYCLES_TO_REMOVE.
KNOWN_LITERALS_TO_REMOVE: list[tuple[str, str]] = []


def _channel_places(tree: ast.AST) -> set[int]:
    """ids of the string constants that sit where a channel would be meant."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            out |= {id(k) for k in node.keys if k is not None}
        elif isinstance(node, ast.Compare):
            out |= {id(c) for c in (node.left, *node.comparators)}
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
        ):
            out.add(id(node.args[0]))
    return out


def _other_enum_values(tree: ast.AST) -> set[int]:
    """The member values of the backend's own enums (a payment refusal may be "stale" too):
    a value that defines another enum's member is not a contract value retyped."""
    out: set[int] = set()
    for cls in ast.walk(tree):
        if isinstance(cls, ast.ClassDef) and any(
            isinstance(b, (ast.Name, ast.Attribute))
            and (b.id if isinstance(b, ast.Name) else b.attr).endswith("Enum")
            for b in cls.bases
        ):
            out |= {
                id(stmt.value)
                for stmt in cls.body
                if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
            }
    return out


def _dict_keys(tree: ast.AST) -> set[int]:
    """Keys of dict displays: a row's column named like a contract value (``"online"``,
    ``"relay_state"``) is a column, not the value retyped."""
    return {id(k) for node in ast.walk(tree) if isinstance(node, ast.Dict) for k in node.keys if k}


def literals(source: str) -> list[str]:
    """``"value" -> Enum.MEMBER`` for every contract value written as a string literal, in
    source order."""
    tree = ast.parse(source)
    channel_places = _channel_places(tree)
    other_enums = _other_enum_values(tree)
    keys = _dict_keys(tree)
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in other_enums
        ):
            member = None if id(node) in keys else VALUES.get(node.value)
            if member is None and id(node) in channel_places:
                member = CHANNELS.get(node.value)
            if member is not None:
                found.append((node.lineno, node.col_offset, f'"{node.value}" -> {member}'))
    return [text for _line, _col, text in sorted(found)]


def scan() -> list[tuple[str, str]]:
    out = []
    for path in sorted((ROOT / "backend").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("backend/migrations/"):
            continue
        out += [(rel, f) for f in literals(path.read_text(encoding="utf-8"))]
    return out


def test_backend_names_contract_values_by_their_enum_members() -> None:
    found = [hit for hit in scan() if hit not in KNOWN_LITERALS_TO_REMOVE]
    assert found == []


def test_every_known_literal_is_still_there_so_the_list_only_shrinks() -> None:
    found = scan()
    assert [k for k in KNOWN_LITERALS_TO_REMOVE if k not in found] == []


def test_the_scan_finds_values_but_not_words_that_only_look_like_channels() -> None:
    source = (
        'Q = "energy_import"\n'
        'if quality in ("good", "stale"):\n    pass\n'
        'MARKS = {"readings": 1}\n'
        '__tablename__ = "readings"\n'
        'tags = ("commands",)\n'
        "SQL = \"SELECT 1 FROM meter_events WHERE kind = 'online'\"\n"
    )
    assert literals(source) == [
        '"energy_import" -> Quantity.ENERGY_IMPORT',
        '"good" -> Quality.GOOD',
        '"stale" -> Quality.STALE',
        '"readings" -> Channel.READINGS',
    ]
