"""One validated CSV row per Struct. Column names may be English or the 营销系统's Chinese."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec

from backend.accounts.models import AccountKind, CustomerCategory
from backend.metering.models import MeterStatus

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.:-]+$")]
Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
CycleDay = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{2}-[0-9]{2}$")]  # MM-DD


class CustomerRow(msgspec.Struct, forbid_unknown_fields=True):
    number: Code  # 户号: the key of the upsert
    name: Name
    category: CustomerCategory
    phone: Annotated[str, msgspec.Meta(max_length=32)] = ""
    address: Annotated[str, msgspec.Meta(max_length=200)] = ""
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    grid_code: Code | None = None  # created when new
    grid_name: Name | None = None
    area_code: Code | None = None  # 台区
    area_name: Name | None = None
    protected: bool = False
    key_account_class: Annotated[int, msgspec.Meta(ge=1, le=6)] | None = None
    account_number: Code | None = None
    account_kind: AccountKind = AccountKind.POSTPAID
    tier_cycle_start: CycleDay | None = None  # 年阶梯 start of the account; empty: left as is


class MeterRow(msgspec.Struct, forbid_unknown_fields=True):
    meter_id: Ident  # the contract's meter id: the key of the upsert
    serial: Annotated[str, msgspec.Meta(max_length=64)] = ""
    protocol: Annotated[str, msgspec.Meta(max_length=16, pattern=r"^(dlt645|modbus|manual|)$")] = ""
    address: Annotated[str, msgspec.Meta(max_length=64)] = ""
    agent_id: Ident | None = None
    customer_number: Code | None = None
    account_number: Code | None = None
    status: MeterStatus = MeterStatus.ACTIVE
    installed_on: date | None = None
    expires_on: date | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    replaces: Ident | None = None  # meter_id of the meter this one replaces (换表)
    relay_control_mode: Annotated[int, msgspec.Meta(ge=0, le=6)] | None = None


# 营销系统 export headers → our column names
HEADER_ALIASES: dict[str, str] = {
    "户号": "number",
    "户名": "name",
    "用电类别": "category",
    "联系电话": "phone",
    "电话": "phone",
    "用电地址": "address",
    "地址": "address",
    "纬度": "latitude",
    "经度": "longitude",
    "网格编码": "grid_code",
    "网格名称": "grid_name",
    "台区编码": "area_code",
    "台区名称": "area_name",
    "保电客户": "protected",
    "重要客户等级": "key_account_class",
    "账户号": "account_number",
    "账户类型": "account_kind",
    "年阶梯起始日": "tier_cycle_start",
    "表计编号": "meter_id",
    "资产编号": "serial",
    "通信规约": "protocol",
    "通信地址": "address",
    "采集终端": "agent_id",
    "安装日期": "installed_on",
    "轮换日期": "expires_on",
    "状态": "status",
    "被换表计": "replaces",
    "变电站编码": "substation_code",
    "变电站名称": "substation_name",
    "馈线编码": "feeder_code",
    "馈线名称": "feeder_name",
    "额定容量": "rated_kva",
    "总表编号": "total_meter_id",
    "CT变比": "ct_ratio",
    "PT变比": "pt_ratio",
    "表箱编码": "box_code",
    "入箱日期": "from_day",
}


class AreaRow(msgspec.Struct, forbid_unknown_fields=True):
    """A transformer area's place in the network and its supply (docs/areas.md)."""

    area_code: Code  # 台区编码: the key of the upsert; the area is created when new
    area_name: Name | None = None
    grid_code: Code | None = None  # for a new area
    substation_code: Code | None = None  # created when new
    substation_name: Name | None = None
    feeder_code: Code | None = None  # created when new, on the row's substation
    feeder_name: Name | None = None
    rated_kva: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 0
    total_meter_id: Ident | None = None  # 台区总表: must exist (import meters first)
    ct_ratio: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1
    pt_ratio: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1


class BoxRow(msgspec.Struct, forbid_unknown_fields=True):
    """A meter box (表箱) of an area, and optionally a meter placed in it from a day on."""

    box_code: Code  # 表箱编码: created when new, in the row's area
    area_code: Code  # 台区编码: must exist (import areas first)
    meter_id: Ident | None = None  # placed in the box from ``from_day``
    from_day: date | None = None


VALUE_ALIASES: dict[str, str] = {
    "居民生活": "residential",
    "非居民照明": "non_residential_lighting",
    "一般工商业": "general_industry",
    "大工业": "large_industry",
    "农业生产": "agricultural",
    "商业": "commercial",
    "预付费": "prepaid",
    "后付费": "postpaid",
    "是": "true",
    "否": "false",
    "运行": "active",
    "待装": "pending",
    "拆除": "removed",
}
