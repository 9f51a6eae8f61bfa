"""The vocabulary of a workflow. Workflows are data (``workflows.toml``), not tables: changing a
deadline or adding a node is an edit of that file, reviewed like code."""

from __future__ import annotations

import enum


class OrderKind(enum.StrEnum):
    """Kinds of work order (工单类型) the service centre takes."""

    FAULT = "fault"  # 故障报修
    COMPLAINT = "complaint"  # 投诉
    INQUIRY = "inquiry"  # 咨询
    OPINION = "opinion"  # 意见建议
    TIP_OFF = "tip_off"  # 举报
    BUSINESS = "business"  # 业务办理
    APPOINTMENT = "appointment"  # 预约服务
    CATEGORY_CHANGE = "category_change"  # 改类 (backend/expansion/changes)
    CLOSURE = "closure"  # 销户 (backend/expansion/changes)
    OWNERSHIP = "ownership"  # 过户 (backend/expansion/changes)
    NAME_CHANGE = "name_change"  # 更名 (backend/expansion/changes)
    CAPACITY = "capacity"  # 增容/减容 (backend/expansion/changes)
    SUSPENSION = "suspension"  # 暂停/恢复 (backend/expansion/changes)
    MOVE = "move"  # 迁出/迁入 (backend/expansion/changes)
    TEMPORARY = "temporary"  # 临时用电 (backend/expansion/changes)


class OrderChannel(enum.StrEnum):
    """Where the customer reached us (R59, R63: every channel handles every kind)."""

    PHONE = "phone"  # 95598 hotline
    PWA = "pwa"  # the app
    WECHAT = "wechat"
    COUNTER = "counter"  # business hall 营业厅
    FIELD = "field"  # an inspector / customer manager on site (R106, R111)
    METERS = "meters"  # opened by the system for an outage found from the meters


class TimeoutAction(enum.StrEnum):
    """What happens when a node's deadline passes without action."""

    ADVANCE = "advance"  # treated as approved and pushed on, recorded (R64–R65)
    ESCALATE = "escalate"  # flagged to the supervisors


class DoneBy(enum.StrEnum):
    """What completes a node."""

    PERSON = "person"  # someone of the node's role (or the owner) marks it done
    DISPATCH = "dispatch"  # a fault order dispatched to a crew
    ARRIVAL = "arrival"  # the crew's PDA repair report attaches to the order
    REPAIR = "repair"  # the crew finishes the repair job
    CLOSE = "close"  # the owner closes the order with a result


class DeadlineUnit(enum.StrEnum):
    MINUTES = "minutes"  # clock minutes, day and night (fault repair runs 24/7)
    WORKING_HOURS = "working_hours"  # inside the working day, on working days only
    WORKING_DAYS = "working_days"  # whole working days of working hours
