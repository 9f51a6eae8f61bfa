"""How each customer category uses electricity, pays and is metered: the seeder's assumptions.

Numbers are illustrative of an eastern-Chinese distribution utility (a household uses about
2,400 kWh a year, more in summer for air conditioning and in winter for heating); they are data,
not rules, and every one is used by ``backend.seed.service`` only.
"""

from __future__ import annotations

from backend.accounts.models import CustomerCategory as Cat

# share of customers per category (用电类别), summing to 1
CATEGORY_MIX: tuple[tuple[Cat, float], ...] = (
    (Cat.RESIDENTIAL, 0.86),
    (Cat.COMMERCIAL, 0.06),
    (Cat.GENERAL_INDUSTRY, 0.03),
    (Cat.NON_RESIDENTIAL_LIGHTING, 0.02),
    (Cat.AGRICULTURAL, 0.02),
    (Cat.LARGE_INDUSTRY, 0.01),
)

# median kWh a day of one customer; each customer gets a lognormal scale around it
DAILY_KWH: dict[Cat, float] = {
    Cat.RESIDENTIAL: 6.5,
    Cat.COMMERCIAL: 45.0,
    Cat.GENERAL_INDUSTRY: 280.0,
    Cat.NON_RESIDENTIAL_LIGHTING: 18.0,
    Cat.AGRICULTURAL: 25.0,
    Cat.LARGE_INDUSTRY: 4200.0,
}

# January..December: air conditioning in summer, heating in winter; irrigation in summer
SEASON: dict[Cat, tuple[float, ...]] = {
    Cat.RESIDENTIAL: (1.30, 1.25, 0.95, 0.80, 0.85, 1.10, 1.50, 1.55, 1.10, 0.85, 0.90, 1.20),
    Cat.COMMERCIAL: (1.10, 0.90, 0.95, 0.90, 1.00, 1.15, 1.35, 1.35, 1.10, 0.95, 0.95, 1.05),
    Cat.GENERAL_INDUSTRY: (1.00, 0.75, 1.00, 1.00, 1.00, 1.05, 1.10, 1.10, 1.00, 1.00, 1.00, 1.00),
    Cat.NON_RESIDENTIAL_LIGHTING: (1.2, 1.15, 1.0, 0.9, 0.85, 0.8, 0.8, 0.85, 0.9, 1.0, 1.1, 1.2),
    Cat.AGRICULTURAL: (0.50, 0.50, 0.80, 1.10, 1.40, 1.60, 1.80, 1.70, 1.20, 0.80, 0.55, 0.50),
    Cat.LARGE_INDUSTRY: (1.00, 0.85, 1.00, 1.00, 1.00, 1.00, 1.05, 1.05, 1.00, 1.00, 1.00, 1.00),
}

# Saturday/Sunday factor: homes busier, shops a little, offices and factories quieter
WEEKEND: dict[Cat, float] = {
    Cat.RESIDENTIAL: 1.15,
    Cat.COMMERCIAL: 1.05,
    Cat.GENERAL_INDUSTRY: 0.60,
    Cat.NON_RESIDENTIAL_LIGHTING: 0.90,
    Cat.AGRICULTURAL: 1.00,
    Cat.LARGE_INDUSTRY: 0.95,
}

# share of the day's energy in each local hour 0..23 (each row sums to about 1; normalised)
_RES = (
    2,
    1.6,
    1.4,
    1.3,
    1.3,
    1.6,
    3,
    5,
    4.5,
    3.2,
    3,
    3.4,
    4,
    3.4,
    3,
    3,
    3.6,
    5.2,
    7.5,
    9,
    9.2,
    8,
    6,
    3.8,
)  # fmt: skip  - evening peak (晚高峰)
_COM = (
    1,
    1,
    1,
    1,
    1,
    1,
    1.5,
    3,
    5.5,
    7,
    7.5,
    7.5,
    7,
    7.5,
    7.5,
    7.5,
    7.5,
    7,
    6,
    4.5,
    3,
    2,
    1.5,
    1.2,
)  # fmt: skip  - daytime
_FLAT = (1,) * 24  # industry runs round the clock
HOURLY: dict[Cat, tuple[float, ...]] = {
    Cat.RESIDENTIAL: _RES,
    Cat.COMMERCIAL: _COM,
    Cat.NON_RESIDENTIAL_LIGHTING: _COM,
    Cat.GENERAL_INDUSTRY: _FLAT,
    Cat.LARGE_INDUSTRY: _FLAT,
    Cat.AGRICULTURAL: _COM,
}

# meter protocol by category: (dlt645, modbus, manual) shares. Manual meters are not networked
# and are read by inspectors (抄表册); industry has Modbus load-control terminals.
PROTOCOLS: dict[Cat, tuple[float, float, float]] = {
    Cat.RESIDENTIAL: (0.95, 0.0, 0.05),
    Cat.COMMERCIAL: (0.85, 0.10, 0.05),
    Cat.GENERAL_INDUSTRY: (0.30, 0.65, 0.05),
    Cat.NON_RESIDENTIAL_LIGHTING: (0.90, 0.05, 0.05),
    Cat.AGRICULTURAL: (0.75, 0.05, 0.20),
    Cat.LARGE_INDUSTRY: (0.10, 0.90, 0.0),
}

# share of accounts that are prepaid (费控); large industry settles monthly
PREPAID: dict[Cat, float] = {
    Cat.RESIDENTIAL: 0.97,
    Cat.COMMERCIAL: 0.85,
    Cat.GENERAL_INDUSTRY: 0.50,
    Cat.NON_RESIDENTIAL_LIGHTING: 0.85,
    Cat.AGRICULTURAL: 0.80,
    Cat.LARGE_INDUSTRY: 0.0,
}

ARREARS_SHARE = 0.10  # of all accounts (issue 21: 20,000 of 200,000), all of them prepaid
OFFLINE_SHARE = 0.015  # networked meters silent for days (concentrator or meter fault)
PROTECTED_SHARE = 0.005  # medical or critical loads: never disconnected automatically
CUSTOMERS_PER_AREA = 150  # a 台区 feeds 100-300 households
CUSTOMERS_PER_GRID = 10_000  # one customer manager (客户经理) per grid: ~500 manual meters
OFFLINE_DAYS = (3, 20)  # how long an offline meter has been silent
TOPUP_DAYS = (20, 60)  # a prepaid top-up buys this many days of the customer's usual spend
LOW_BALANCE_DAYS = 4  # customers top up when the balance lasts fewer days than this
ARREARS_WINDOW_DAYS = 60  # an account in arrears stopped paying within this many days of the end
POSTPAID_PAY_DAY = 10  # postpaid accounts pay last month's bill by the 10th (bank collection)
