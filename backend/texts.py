"""Text for people is a code with parameters; the PWA words it in zh-CN or English.

Every sentence the API returns for a person to read (an error, a policy reason, a plausibility
flag's detail, a ledger memo, a command's reason or error, a notice) travels as a *code* — a
value of an enum derived from :class:`TextCode` — and its *parameters*. The PWA's catalogues
(``pwa/src/i18n/zh.ts`` and ``en.ts``) hold one template per code; ``tests/unit/test_text_codes.py``
finds every ``TextCode`` enum in the backend and fails when a catalogue lacks one of its codes.

Parameters are plain JSON values, formatted by their name's ending, the same way on the server
(notices) and in the PWA:

* ``…_fen``: money in integer fen → ``¥12.34``
* ``…_wh``: energy in integer Wh → ``12.34 kWh``
* ``…_at``: a UTC instant in epoch ms → the local date and time
* anything else: shown as it is (ids, names, counts, ``HH:MM`` times, ISO dates).

An English sentence may travel beside the code (``detail``, ``message``) for logs and
developers; no screen shows it.
"""

from __future__ import annotations

import enum

import msgspec

# a JSON number is one type: ints are floats to the type checker (and stay ints on the wire),
# so the OpenAPI schema has no two kinds of number a value could match at once
Param = str | float | bool | None
Params = dict[str, Param]


class TextCode(enum.StrEnum):
    """Base of every enum of codes for people. Values are namespaced (``policy.…``,
    ``error.…``) and are the keys of the PWA catalogues."""


class Text(msgspec.Struct, frozen=True):
    """A code and its parameters, as the API returns and the database stores them."""

    code: str
    params: Params = msgspec.field(default_factory=dict)


def all_codes() -> dict[str, type[TextCode]]:
    """Every code of every ``TextCode`` enum imported so far, with the enum it belongs to."""
    found: dict[str, type[TextCode]] = {}
    pending: list[type[TextCode]] = [TextCode]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        for member in cls:
            found[member.value] = cls
    return found
