"""The district fixture looks like the field: hundreds of meters, three grids, mixed AMI."""

from __future__ import annotations

from pathlib import Path

from tests.integration.field.district import District


def test_the_district_has_a_few_hundred_meters_in_three_grids(
    field_district_sqlite: tuple[Path, District],
) -> None:
    district = field_district_sqlite[1]
    assert 250 <= len(district.meters) <= 450
    for grid in ("west", "central", "east"):
        assert len(district.in_grid(grid, ami=False)) >= 20
        assert len(district.in_grid(grid, ami=True)) >= 20
    assert len(district.key_customers) == 4
    boxes = {(m.lat, m.lon) for m in district.meters if m.kind == "flat"}
    assert len(boxes) * 12 == len([m for m in district.meters if m.kind == "flat"])
