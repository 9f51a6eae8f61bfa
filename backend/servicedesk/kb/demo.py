"""Demo answers for the knowledge base, written through the service as a supervisor would.
Idempotent: an article whose title is there already is not written again."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.guards import load_caller
from backend.auth.models import User
from backend.servicedesk.kb import service
from backend.servicedesk.kb.models import KbArticle
from backend.servicedesk.kb.schemas import ArticleWrite
from backend.servicedesk.workflow.models import OrderKind as K
from backend.types import to_epoch_ms, utcnow

ARTICLES: list[tuple[str, str, list[str], list[K]]] = [
    (
        "停电后多久恢复供电",
        "故障停电：抢修人员 45 分钟内到达现场，一般 4 小时内恢复供电。计划停电：以停电公告的"
        "时间为准，客户可在 App「服务」页查看本台区的停电公告。",
        ["停电", "抢修", "恢复供电"],
        [K.FAULT, K.INQUIRY],
    ),
    (
        "预付费电表欠费停电后如何复电",
        "客户缴清欠费（App、微信或营业厅）后，系统自动下发复电命令，一般 10 分钟内恢复供电；"
        "超过 30 分钟仍未恢复的，请受理故障报修工单。",
        ["复电", "欠费", "预付费"],
        [K.FAULT, K.INQUIRY, K.BUSINESS],
    ),
    (
        "如何办理居民峰谷分时电价",
        "居民客户可携带身份证到营业厅，或在 App「业务办理」中申请峰谷分时电价，次月抄表日起"
        "生效；峰时段 08:00–22:00，谷时段 22:00–次日 08:00。",
        ["电价", "峰谷", "分时"],
        [K.BUSINESS, K.INQUIRY],
    ),
    (
        "电费账单有疑问怎么办",
        "核对账单上的起止示数与电表显示是否一致；示数无误的，说明阶梯电价的计算方法；示数有"
        "疑问的，受理业务办理工单安排现场核查表计。",
        ["电费", "账单", "阶梯电价"],
        [K.INQUIRY, K.COMPLAINT, K.BUSINESS],
    ),
    (
        "客户投诉的处理时限",
        "投诉工单须在 1 个工作小时内由班长审核，3 个工作日内处理完毕并回复客户；处理结果须"
        "回访客户满意度。",
        ["投诉", "时限", "回访"],
        [K.COMPLAINT],
    ),
    (
        "电表屏幕显示 Err-04",
        "Err-04 表示电表内置继电器已断开（欠费或远程拉闸）。余额大于零后可申请远程合闸；"
        "余额充足仍显示的，派员现场检查。",
        ["电表", "继电器", "Err-04"],
        [K.FAULT, K.INQUIRY],
    ),
]


async def seed_articles(factory: async_sessionmaker[AsyncSession], supervisor: str) -> int:
    """The demo answers, written as ``supervisor``; returns how many were new."""
    made = 0
    async with factory() as s:
        user_id = await s.scalar(select(User.id).where(User.username == supervisor))
        assert user_id is not None, supervisor
        caller = await load_caller(s, user_id)
        assert caller is not None
        have = set(await s.scalars(select(KbArticle.title)))
        for title, body, tags, kinds in ARTICLES:
            if title in have:
                continue
            data = ArticleWrite(title=title, body=body, tags=tags, kinds=kinds)
            await service.create(s, caller, data, to_epoch_ms(utcnow()))
            made += 1
    return made
