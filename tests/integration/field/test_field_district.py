"""The district fixture looks like the field: hundreds of meters, three grids, mixed AMI."""

from __future__ import annotations

from tests.integration.field.district import District


async def test_the_district_has_a_few_hundred_meters_in_three_grids(district: District) -> None:
    assert 250 <= len(district.meters) <= 450
    for grid in ("west", "central", "east"):
        assert len(district.in_grid(grid, ami=False)) >= 20
        assert len(district.in_grid(grid, ami=True)) >= 20
    assert len(district.key_customers) == 4
