"""Build (once) a SQLite database with the project's schema and a year of realistic billing.

The schema comes from the application itself (``create_app`` + ``db.create_all()``); rows are
written with plain ``INSERT ... executemany`` on one connection with the secondary indexes
dropped, then the indexes are built again. The file is cached in ``bench/.data/`` under a name
made of the sizes, the seed and a fingerprint of the schema, so a rerun reuses it and a model
change builds a new one.

What is in it, for ``customers`` C and ``payments`` P:

- four plans (three monthly, one weekly); C customers with Korean names, emails, phone digits,
  ``customer_uid`` values and a masked card; created over the year before the data's "now";
- subscriptions (at least one per customer while payments last), each charged every period
  from its start: first attempts succeed 93% of the time, declines are retried daily up to
  three times, a period that never succeeds leaves the subscription past due; some are
  cancelled or paused part-way; active ones have their next charge waiting as a schedule;
- exactly P payments, ids in time order: ``merchant_uid`` ``sub<id>-p<n>-a<attempt>`` (and a
  few ``manual-…`` charges), ``imp_uid`` ``imp_`` + 12 digits, KCP receipt addresses, decline
  reasons, a handful still pending in the last hour; about 1.2% refunded in full and 0.6% in
  part, each with a refund row and a staff audit entry; webhooks for the last three days.

Customers stay once they arrive, so the merchant grows through the year: the last month holds
about twice an average month's payments, which is what month-wide queries have to read.

The data's "now" is fixed (``ANCHOR``): the benchmark gives the app a clock stopped there, so
the overview shows the same day whenever it runs.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / ".data"
GENERATOR_VERSION = 1

ANCHOR = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # Monday 10:00 KST
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench-password-2026"

US = 1_000_000
DAY_US = 86_400 * US
HOUR_US = 3_600 * US
EPOCH = date(1970, 1, 1)
ANCHOR_US = int(ANCHOR.timestamp()) * US

# (code, name, amount, interval unit, interval count)
PLANS = [
    ("basic", "베이직 월간", 9_900, "month", 1),
    ("standard", "스탠다드 월간", 14_900, "month", 1),
    ("premium", "프리미엄 월간", 29_000, "month", 1),
    ("weekly", "주간 배송", 3_900, "day", 7),
]

SURNAMES = [  # (hangul, romanised, weight): roughly how common each family name is
    ("김", "kim", 21), ("이", "lee", 15), ("박", "park", 8), ("최", "choi", 5), ("정", "jung", 4),
    ("강", "kang", 2), ("조", "cho", 2), ("윤", "yoon", 2), ("장", "jang", 2), ("임", "lim", 2),
    ("한", "han", 1), ("오", "oh", 1), ("서", "seo", 1), ("신", "shin", 1), ("권", "kwon", 1),
    ("황", "hwang", 1), ("안", "ahn", 1), ("송", "song", 1), ("류", "ryu", 1), ("홍", "hong", 1),
]
GIVEN_SYLLABLES = [
    ("민", "min"), ("준", "jun"), ("서", "seo"), ("연", "yeon"), ("지", "ji"), ("우", "woo"),
    ("현", "hyun"), ("수", "soo"), ("예", "ye"), ("은", "eun"), ("하", "ha"), ("윤", "yoon"),
    ("도", "do"), ("영", "young"), ("진", "jin"), ("혜", "hye"), ("성", "sung"), ("호", "ho"),
    ("경", "kyung"), ("재", "jae"), ("유", "yu"), ("아", "a"), ("희", "hee"), ("승", "seung"),
]
EMAIL_DOMAINS = [("naver.com", 40), ("gmail.com", 30), ("daum.net", 15), ("kakao.com", 10),
                 ("hanmail.net", 5)]
CARDS = [  # (BIN, card_code, card_name)
    ("557042", "381", "KB국민카드"), ("451842", "366", "신한카드"), ("536181", "365", "삼성카드"),
    ("515594", "367", "현대카드"), ("540447", "368", "롯데카드"), ("532092", "374", "하나카드"),
    ("538920", "041", "우리카드"), ("940915", "361", "BC카드"), ("546112", "371", "NH농협카드"),
]
DECLINES = ["[CC10] 통장 잔액부족", "[CC07] 1회 한도초과", "[CC08] 1일 한도초과",
            "[CC03] 카드사 거절(기타사유)", "[CC04] 분실 혹은 거래불가 카드"]
REFUND_REASONS = ["고객 요청", "중복 결제", "서비스 장애 보상", "해지 후 결제"]
KCP_RECEIPT_URL = ("https://admin8.kcp.co.kr/assist/bill.BillActionNew.do"
                   "?cmd=card_bill&tno={tno}&order_no={imp_uid}&trade_mony={amount}")

PAID, FAILED, PENDING = 0, 1, 2
MANUAL = -1  # subscription index of a manual charge


@dataclass(frozen=True)
class BenchData:
    """A built database: where it is and what is in it."""

    path: Path
    payments: int
    customers: int
    subscriptions: int
    refunds: int
    schedules: int
    anchor: str
    seconds_to_build: float
    size_bytes: int
    # Set when the same rows were loaded into PostgreSQL (``bench.postgres``).
    database_url: str = ""

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.path}"

    @property
    def is_postgres(self) -> bool:
        return bool(self.database_url)


# --- timestamps as the app stores them on SQLite -----------------------------------------

_day_strings: dict[int, str] = {}


def sql_time(us: int | None) -> str | None:
    """Format epoch microseconds the way SQLAlchemy stores a naive UTC DATETIME on SQLite."""
    if us is None:
        return None
    day, rest = divmod(us, DAY_US)
    text = _day_strings.get(day)
    if text is None:
        text = _day_strings[day] = (EPOCH + timedelta(days=day)).isoformat()
    seconds, micro = divmod(rest, US)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{text} {hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}"


def add_months(us: int, months: int) -> int:
    """Return the same day and time ``months`` later (clamped to the month's last day)."""
    moment = datetime.fromtimestamp(us / US, UTC)
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    last = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31,
            30, 31, 31, 30, 31, 30, 31][month - 1]
    shifted = moment.replace(year=year, month=month, day=min(moment.day, last))
    return int(shifted.timestamp()) * US + us % US


def scramble(n: int, modulus: int, salt: int) -> int:
    """Map 1..modulus-1 to distinct-looking numbers below ``modulus`` (a bijection)."""
    return (n * 7_919_007_919 + salt) % modulus


# --- the cache ---------------------------------------------------------------------------


def schema_fingerprint() -> str:
    """Return a short hash of the project's SQLite DDL, so a model change builds a new file."""
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    from dashboard import models  # noqa: F401  (registers the tables)
    from dashboard.extensions import db

    dialect = sqlite.dialect()
    parts = []
    for table in db.metadata.sorted_tables:
        parts.append(str(CreateTable(table).compile(dialect=dialect)))
        parts.extend(str(CreateIndex(index).compile(dialect=dialect))
                     for index in sorted(table.indexes, key=lambda index: index.name))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:10]


def database_path(payments: int, customers: int, seed: int) -> Path:
    return DATA_DIR / (f"bench-p{payments}-c{customers}-s{seed}"
                       f"-v{GENERATOR_VERSION}-{schema_fingerprint()}.sqlite")


def ensure_database(payments: int, customers: int, *, seed: int = 2026, rebuild: bool = False,
                    echo=print) -> BenchData:
    """Return the cached database for these sizes, building it first if needed."""
    path = database_path(payments, customers, seed)
    meta_path = path.with_suffix(".json")
    if not rebuild and path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        meta["path"] = path
        echo(f"Using the cached database {path.name} ({meta['size_bytes'] / 2**20:.0f} MiB).")
        return BenchData(**meta)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for stale in (path, meta_path):
        stale.unlink(missing_ok=True)
    partial = path.with_suffix(".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    started = time.perf_counter()
    counts = build_database(partial, payments=payments, customers=customers, seed=seed,
                            echo=echo)
    os.replace(partial, path)
    data = BenchData(path=path, anchor=ANCHOR.isoformat(),
                     seconds_to_build=round(time.perf_counter() - started, 1),
                     size_bytes=path.stat().st_size, **counts)
    meta = asdict(data)
    meta.pop("path")
    meta.pop("database_url")
    meta_path.write_text(json.dumps(meta, indent=2))
    echo(f"Built {path.name} in {data.seconds_to_build:.0f} s "
         f"({data.size_bytes / 2**20:.0f} MiB).")
    return data


# --- building ----------------------------------------------------------------------------


def create_schema(path: Path) -> None:
    """Create the project's tables, the plans and a staff admin through the application."""
    from dashboard import create_app, staff
    from dashboard.extensions import db
    from dashboard.models import Plan

    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "bench-" + "x" * 32,
                      "CLOCK": lambda: ANCHOR - timedelta(days=400)})
    with app.app_context():
        db.create_all()
        for code, name, amount, unit, count in PLANS:
            db.session.add(Plan(code=code, name=name, amount=amount, interval_unit=unit,
                                interval_count=count, active=True))
        db.session.commit()
        staff.create_admin(ADMIN_EMAIL, ADMIN_PASSWORD, role="admin", name="벤치 관리자")
        db.session.remove()
        db.engine.dispose()


def fill_rollups(url: str) -> None:
    """Count the overview's rollups from the rows just written around the ORM."""
    from dashboard import attention, create_app, rollups
    from dashboard.extensions import db

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-" + "x" * 32,
                      "CLOCK": lambda: ANCHOR})
    with app.app_context():
        rollups.rebuild()
        attention.repair()
        db.session.remove()
        db.engine.dispose()


def build_database(path: Path, *, payments: int, customers: int, seed: int,
                   echo=print) -> dict:
    """Write the schema and every row into ``path``; return the row counts."""
    create_schema(path)
    rng = random.Random(seed)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=OFF")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-1000000")  # up to ~1 GB of pages while building
    connection.execute("PRAGMA temp_store=MEMORY")
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    for name, _sql in indexes:
        connection.execute(f"DROP INDEX {name}")
    plan_ids = dict(connection.execute("SELECT code, id FROM plan"))
    admin_id = connection.execute("SELECT id FROM admin_user").fetchone()[0]
    connection.execute("BEGIN")

    started = time.perf_counter()
    people = make_customers(customers, rng)
    connection.executemany(
        "INSERT INTO customer (id, customer_uid, name, email, phone, phone_tail, card_name,"
        " card_code, card_number, card_type, pg_provider, billing_key_status,"
        " billing_key_synced_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (person.row() for person in people),
    )
    echo(f"  {customers:,} customers in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    plans = [(plan_ids[code], name, amount, unit, count)
             for code, name, amount, unit, count in PLANS]
    subscriptions, charges = make_subscriptions(people, plans, payments, rng)
    charges.sort()
    # Subscription ids follow creation time, like rows written by the app.
    for number, sub in enumerate(sorted(subscriptions, key=lambda s: s.start_us), start=1):
        sub.id = number
    echo(f"  {len(subscriptions):,} subscriptions and {len(charges):,} charges planned in "
         f"{time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    connection.executemany(
        "INSERT INTO subscription (id, customer_id, plan_id, status, current_period,"
        " current_period_start, current_period_end, next_charge_at, next_attempt_at,"
        " failed_attempts, cancel_at_period_end, cancel_reason, cancelled_at, paused_at,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,0,?,?,?,?,?)",
        (sub.row() for sub in subscriptions),
    )
    schedule_rows = [sub.live_schedule_row(number)
                     for number, sub in enumerate(s for s in subscriptions if s.status == "active")]
    connection.executemany(
        "INSERT INTO schedule (id, merchant_uid, customer_id, subscription_id, period, attempt,"
        " schedule_at, amount, name, schedule_status, registered_at, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,'scheduled',?,?,?)",
        schedule_rows,
    )
    writer = PaymentWriter(connection, people, subscriptions, plans, admin_id, rng)
    writer.write(charges)
    connection.execute("COMMIT")
    echo(f"  {len(charges):,} payments, {writer.refunds:,} refunds and "
         f"{writer.webhooks:,} webhooks written in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    for _name, sql in indexes:
        connection.execute(sql)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.close()
    echo(f"  indexes built in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    fill_rollups(f"sqlite:///{path}")
    echo(f"  rollups counted in {time.perf_counter() - started:.1f} s")
    return {"payments": len(charges), "customers": customers,
            "subscriptions": len(subscriptions), "refunds": writer.refunds,
            "schedules": len(schedule_rows)}


@dataclass
class Person:
    id: int
    uid: str
    name: str
    email: str
    phone: str
    card: tuple[str, str, str]
    card_number: str
    created_us: int
    key_deleted: bool
    declines: bool

    def row(self):
        _bin, code, card_name = self.card
        created = sql_time(self.created_us)
        return (self.id, self.uid, self.name, self.email, self.phone, self.phone[-4:],
                card_name, code,
                self.card_number, 0, "kcp", "deleted" if self.key_deleted else "active",
                created, created, created)


def make_customers(count: int, rng: random.Random) -> list[Person]:
    """Return ``count`` customers created over the year before the anchor, oldest first."""
    surnames, weights = [s[:2] for s in SURNAMES], [s[2] for s in SURNAMES]
    domains, domain_weights = zip(*EMAIL_DOMAINS, strict=True)
    year_ago = ANCHOR_US - 365 * DAY_US
    created = sorted(rng.randrange(year_ago, ANCHOR_US - HOUR_US) for _ in range(count))
    people = []
    for number in range(1, count + 1):
        (family, family_roman), = rng.choices(surnames, weights)
        first, second = rng.choice(GIVEN_SYLLABLES), rng.choice(GIVEN_SYLLABLES)
        card = rng.choice(CARDS)
        phone = f"010{scramble(number, 10**8, 20_261_102):08d}"
        people.append(Person(
            id=number,
            uid=f"cust_{scramble(number, 16**10, 0x5EED):010x}",
            name=family + first[0] + second[0],
            email=(f"{first[1]}{second[1]}.{family_roman}{number}"
                   f"@{rng.choices(domains, domain_weights)[0]}"),
            phone=phone,
            card=card,
            card_number=f"{card[0]}******{rng.randrange(10_000):04d}",
            created_us=created[number - 1],
            key_deleted=rng.random() < 0.03,
            declines=rng.random() < 0.02,
        ))
    return people


@dataclass
class Sub:
    index: int
    customer: Person
    plan: tuple
    start_us: int
    status: str = "active"
    current_period: int = 0
    period_start_us: int | None = None
    period_end_us: int | None = None
    next_charge_us: int | None = None
    next_attempt_us: int | None = None
    failed_attempts: int = 0
    cancelled_us: int | None = None
    paused_us: int | None = None
    id: int = 0

    def interval_after(self, us: int, periods: int = 1) -> int:
        _plan_id, _name, _amount, unit, count = self.plan
        if unit == "month":
            return add_months(us, count * periods)
        return us + count * periods * DAY_US

    def row(self):
        return (self.id, self.customer.id, self.plan[0], self.status, self.current_period,
                sql_time(self.period_start_us), sql_time(self.period_end_us),
                sql_time(self.next_charge_us), sql_time(self.next_attempt_us),
                self.failed_attempts,
                "고객 요청" if self.status == "cancelled" else None,
                sql_time(self.cancelled_us), sql_time(self.paused_us),
                sql_time(self.start_us - 5 * 60 * US),
                sql_time(self.cancelled_us or self.paused_us or self.period_start_us
                         or self.start_us))

    def live_schedule_row(self, number: int):
        period = self.current_period + 1
        registered = sql_time(self.period_start_us or self.start_us)
        return (number + 1, f"sub{self.id}-p{period}-a1", self.customer.id, self.id, period, 1,
                sql_time(self.next_charge_us), self.plan[2], self.plan[1], registered,
                registered, registered)


def make_subscriptions(people: list[Person], plans: list[tuple], payments: int,
                       rng: random.Random) -> tuple[list[Sub], list[tuple]]:
    """Plan subscriptions and their charges until exactly ``payments`` charges exist.

    A charge is ``(time_us, subscription index, period, attempt, outcome)``; manual charges
    have the subscription index ``MANUAL`` and the customer id in place of the period.
    """
    monthly, weekly = plans[:3], plans[3]
    # Choose the weekly share so that customers hold about 1.3 subscriptions on average.
    wanted_per_sub = payments / max(1.3 * len(people), 1)
    weekly_share = min(max((wanted_per_sub - 5) / 15, 0.05), 0.95)
    charges: list[tuple] = []
    subscriptions: list[Sub] = []
    manual_every = 300  # about one manual charge per 300 automatic ones
    while len(charges) < payments and people:
        index = len(subscriptions)
        customer = people[index] if index < len(people) else rng.choice(people)
        plan = weekly if rng.random() < weekly_share else rng.choices(monthly, (45, 25, 10))[0]
        if index < len(people):
            start = customer.created_us + rng.randrange(0, 3 * DAY_US)
        else:
            start = rng.randrange(customer.created_us, ANCHOR_US)
        if start >= ANCHOR_US:
            start = ANCHOR_US - rng.randrange(HOUR_US, DAY_US)
        sub = Sub(index, customer, plan, start)
        subscriptions.append(sub)
        stop_us = ANCHOR_US
        fate = rng.random()
        if fate < 0.13:
            stop_us = rng.randrange(start, ANCHOR_US)
            sub.status, sub.cancelled_us = "cancelled", stop_us
        elif fate < 0.16:
            stop_us = rng.randrange(start, ANCHOR_US)
            sub.status, sub.paused_us = "paused", stop_us
        budget = payments - len(charges)
        emitted = charge_periods(sub, stop_us, budget, rng, charges)
        while len(charges) < payments and rng.randrange(manual_every) < emitted:
            emitted -= manual_every
            charges.append((rng.randrange(start, ANCHOR_US), MANUAL, customer.id, 1, PAID))
    return subscriptions, charges


def charge_periods(sub: Sub, stop_us: int, budget: int, rng: random.Random,
                   charges: list[tuple]) -> int:
    """Append the subscription's charges up to ``stop_us`` (at most ``budget``); set its state."""
    emitted = 0
    period = 1
    due = sub.start_us
    jitter = rng.randrange(0, 600 * US)
    while due < stop_us:
        for attempt in range(1, 5):
            at = due + (attempt - 1) * DAY_US + jitter
            if at >= stop_us:
                if sub.status == "active":
                    sub.next_charge_us, sub.next_attempt_us = due, at
                    sub.failed_attempts = attempt - 1
                return emitted
            if emitted == budget:
                sub.status, sub.cancelled_us = "cancelled", at
                return emitted
            if ANCHOR_US - at < HOUR_US and rng.random() < 0.1:
                charges.append((at, sub.index, period, attempt, PENDING))
                emitted += 1
                sub.next_charge_us, sub.next_attempt_us = due, None
                sub.failed_attempts = attempt - 1
                return emitted
            chance = 0.93 if attempt == 1 else 0.5
            if sub.customer.declines:
                chance = 0.0
            paid = rng.random() < chance
            charges.append((at, sub.index, period, attempt, PAID if paid else FAILED))
            emitted += 1
            if paid:
                break
        else:
            sub.status = "past_due"
            sub.failed_attempts = 4
            sub.next_charge_us, sub.next_attempt_us = due, None
            return emitted
        sub.current_period = period
        sub.period_start_us = due
        due = sub.interval_after(sub.start_us, period)
        sub.period_end_us = due
        sub.failed_attempts = 0
        period += 1
    if sub.status == "active":
        sub.next_charge_us = sub.next_attempt_us = due
    return emitted


class PaymentWriter:
    """Turn planned charges (in time order) into payment, refund, audit and webhook rows."""

    BATCH = 50_000

    def __init__(self, connection, people, subscriptions, plans, admin_id, rng):
        self.connection = connection
        self.people = people
        self.plans = plans
        self.admin_id = admin_id
        self.rng = rng
        self.refunds = 0
        self.webhooks = 0
        self.subscriptions = subscriptions

    def write(self, charges: list[tuple]) -> None:
        payments, refunds, audits, webhooks = [], [], [], []
        webhook_since = ANCHOR_US - 3 * DAY_US
        for payment_id, charge in enumerate(charges, start=1):
            payment, refund = self.payment_row(payment_id, charge)
            payments.append(payment)
            if refund is not None:
                refunds.append(refund)
                audits.append(self.audit_row(payment, refund))
            if charge[0] >= webhook_since and payment[1] is not None:
                webhooks.append(self.webhook_row(payment))
            if len(payments) >= self.BATCH:
                self.flush(payments, refunds, audits, webhooks)
                payments, refunds, audits, webhooks = [], [], [], []
        self.flush(payments, refunds, audits, webhooks)

    def flush(self, payments, refunds, audits, webhooks) -> None:
        execute = self.connection.executemany
        execute(
            "INSERT INTO payment (id, imp_uid, merchant_uid, customer_id, subscription_id,"
            " period, attempt, origin, name, amount, cancel_amount, status, card_name,"
            " card_number, pg_tid, apply_num, receipt_url, fail_reason, reason,"
            " requested_by_id, paid_at, failed_at, cancelled_at, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            payments,
        )
        execute(
            "INSERT INTO refund (id, payment_id, amount, reason, status, checksum,"
            " cancellation_id, pg_tid, receipt_url, cancelled_at, requested_by_id, created_at,"
            " updated_at) VALUES (?,?,?,?,'succeeded',?,?,?,?,?,?,?,?)",
            refunds,
        )
        execute(
            "INSERT INTO audit_entry (created_at, actor_id, actor_label, action, target_type,"
            " target_id, customer_id, reason, details, outcome)"
            " VALUES (?,?,?,'payment.refund','payment',?,?,?,?,'ok')",
            audits,
        )
        execute(
            "INSERT INTO webhook_event (received_at, remote_addr, content_type, raw_body,"
            " imp_uid, merchant_uid, status, state, attempts, processed_at)"
            " VALUES (?,'52.78.100.19','application/json',?,?,?,?,'processed',1,?)",
            webhooks,
        )
        self.webhooks += len(webhooks)

    def payment_row(self, payment_id: int, charge: tuple):
        at, sub_index, period, attempt, outcome = charge
        rng = self.rng
        if sub_index == MANUAL:
            customer = self.people[period - 1]
            plan_name, amount = "추가 결제", rng.choice((5_000, 9_900, 20_000, 50_000))
            merchant_uid = f"manual-{sql_time(at)[:10].replace('-', '')}-{payment_id:012x}"
            subscription_id, period, origin = None, None, "manual"
            reason, requested_by = "고객 요청 추가 결제", self.admin_id
        else:
            sub = self.subscriptions[sub_index]
            customer = sub.customer
            _plan_id, plan_name, amount, _unit, _count = sub.plan
            merchant_uid = f"sub{sub.id}-p{period}-a{attempt}"
            subscription_id, origin, reason, requested_by = sub.id, "schedule", None, None
        imp_uid = None if outcome == PENDING else f"imp_{scramble(payment_id, 10**12, 31):012d}"
        status = ("paid", "failed", "pending")[outcome]
        answered = at + rng.randrange(1, 4) * US
        paid_at = failed_at = cancelled_at = pg_tid = apply_num = receipt = fail_reason = None
        cancel_amount = 0
        refund = None
        if outcome == PAID:
            paid_at = answered
            pg_tid = f"{26_000_000_000_000 + scramble(payment_id, 10**13, 7):014d}"
            apply_num = f"{scramble(payment_id, 10**8, 3):08d}"
            receipt = KCP_RECEIPT_URL.format(tno=pg_tid, imp_uid=imp_uid, amount=amount)
            roll = rng.random()
            refund_at = answered + rng.randrange(HOUR_US, 20 * DAY_US)
            if roll < 0.018 and refund_at < ANCHOR_US:
                refund_amount = amount if roll < 0.012 else amount // 200 * 100
                cancelled_at = refund_at
                cancel_amount = refund_amount
                if refund_amount == amount:
                    status = "cancelled"
                self.refunds += 1
                refund = (self.refunds, payment_id, refund_amount,
                          rng.choice(REFUND_REASONS), amount,
                          f"cancel_{scramble(payment_id, 16**12, 99):012x}", pg_tid,
                          receipt, sql_time(cancelled_at), self.admin_id,
                          sql_time(cancelled_at - 2 * US), sql_time(cancelled_at))
        elif outcome == FAILED:
            failed_at = answered
            fail_reason = rng.choice(DECLINES)
        updated = cancelled_at or (answered if outcome != PENDING else at)
        row = (payment_id, imp_uid, merchant_uid, customer.id, subscription_id, period, attempt,
               origin, plan_name, amount, cancel_amount, status, customer.card[2],
               customer.card_number, pg_tid, apply_num, receipt, fail_reason, reason,
               requested_by, sql_time(paid_at), sql_time(failed_at), sql_time(cancelled_at),
               sql_time(at), sql_time(updated))
        return row, refund

    def audit_row(self, payment: tuple, refund: tuple):
        details = json.dumps({"amount": refund[2], "checksum": refund[4]})
        cancelled_at, merchant_uid, customer_id, reason = (
            refund[8], payment[2], payment[3], refund[3])
        # Staff refunds are audited against the payment's merchant_uid, as the app does.
        return (cancelled_at, self.admin_id, ADMIN_EMAIL, merchant_uid, customer_id, reason,
                details)

    def webhook_row(self, payment: tuple):
        body = json.dumps({"imp_uid": payment[1], "merchant_uid": payment[2],
                           "status": payment[11]}).encode()
        received = payment[24]
        return (received, body, payment[1], payment[2], payment[11], received)
