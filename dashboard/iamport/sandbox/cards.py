"""Card data rules of the sandbox: validation, masking, issuer lookup and KCP decline reasons.

The sandbox never stores a card number. At issuance it keeps only what iamport returns to a
merchant (masked number, issuer name and code, card type) and whether charges on the card are
approved. Numbers must pass the Luhn check, as iamport checks them. Test cards:

- ``5570-4200-0007-7221`` (KB국민카드) and any other valid number: approved;
- ``4518-4200-0005-0002`` (신한카드), or any valid number ending in ``0002``: declined on every
  charge with ``[CC10] 통장 잔액부족``;
- ``1234-1234-1234-1234``: fails the Luhn check, refused at issue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

KST = timezone(timedelta(hours=9))

# 금융결제원 card company codes, as iamport reports them in ``card_code``.
ISSUERS = {
    "361": "BC카드",
    "364": "광주카드",
    "365": "삼성카드",
    "366": "신한카드",
    "367": "현대카드",
    "368": "롯데카드",
    "369": "수협카드",
    "370": "씨티카드",
    "371": "NH농협카드",
    "372": "전북카드",
    "373": "제주카드",
    "374": "하나카드",
    "381": "KB국민카드",
    "041": "우리카드",
    "071": "우체국카드",
}

CREDIT, CHECK = 0, 1

# A small table of Korean BINs (first six digits) -> (card_code, card_type).
BINS = {
    "557042": ("381", CREDIT),
    "457973": ("381", CHECK),
    "451842": ("366", CREDIT),
    "540926": ("366", CHECK),
    "536181": ("365", CREDIT),
    "515594": ("367", CREDIT),
    "540447": ("368", CREDIT),
    "532092": ("374", CREDIT),
    "538920": ("041", CREDIT),
    "940915": ("361", CREDIT),
    "546112": ("371", CREDIT),
    "524353": ("371", CHECK),
}

# Issuers used for BINs outside the table, so that any well-formed test number issues a key.
FALLBACK_ISSUERS = ("381", "366", "365", "367", "368", "374", "041", "361", "371")

# NHN KCP card result codes (KCP 결과코드, 신용카드).
KCP_CARD_RESULTS = {
    "CC01": "카드사로 문의",
    "CC03": "카드사 거절(기타사유)",
    "CC04": "분실 혹은 거래불가 카드",
    "CC07": "1회 한도초과",
    "CC08": "1일 한도초과",
    "CC10": "통장 잔액부족",
    "CC14": "카드번호 오류",
    "CC16": "할부개월수 오류",
    "CC35": "KEY-IN불가가맹점",
    "CC43": "도난카드",
    "CC44": "연체카드",
    "CC45": "정지카드",
    "CC54": "카드유효기간만료 또는 불일치",
    "CC55": "유효기간 오류",
    "CC61": "거래금액 한도초과",
    "CC63": "비밀번호 오류",
    "CC66": "주민번호 오류",
    "CC72": "카드사 TIMEOUT",
    "CC98": "카드사 시스템 장애",
    "CC99": "KCP 시스템 장애",
}

DEFAULT_DECLINE_CODE = "CC10"
DECLINED_CARD_SUFFIX = "0002"
INVALID_CARD_NUMBER = "유효하지않은 카드번호를 입력하셨습니다."


def kcp_reason(code: str) -> str:
    """Format a KCP result code the way the sandbox reports it: ``[CC10] 통장 잔액부족``.

    This is the one place that decides the format of ``fail_reason`` and card error texts.
    """
    return f"[{code}] {KCP_CARD_RESULTS[code]}"


DEFAULT_DECLINE_REASON = kcp_reason(DEFAULT_DECLINE_CODE)


class CardRejected(Exception):
    """The card data was refused while issuing a billing key."""

    def __init__(self, kcp_code: str):
        super().__init__(kcp_code)
        self.kcp_code = kcp_code

    def issue_message(self) -> str:
        """Return the message of a refused ``POST /subscribe/customers/{customer_uid}``."""
        if self.kcp_code == "CC14":
            return INVALID_CARD_NUMBER
        return f"카드정보 인증 및 빌키 발급에 실패하였습니다. {kcp_reason(self.kcp_code)}"

    def onetime_message(self) -> str:
        """Return the message of a refused ``POST /subscribe/payments/onetime``."""
        if self.kcp_code == "CC14":
            return INVALID_CARD_NUMBER
        return f"카드정보 인증에 실패하였습니다. {kcp_reason(self.kcp_code)}"

    def schedule_message(self) -> str:
        """Return the message of a schedule request whose new card was refused."""
        return f"카드정보 확인에 실패하였습니다. {kcp_reason(self.kcp_code)}"


@dataclass(frozen=True)
class CardProfile:
    """What the sandbox keeps of a card: nothing that could charge it again."""

    masked_number: str
    card_code: str
    card_name: str
    card_type: int
    declines: bool


def passes_luhn(digits: str) -> bool:
    """Tell whether a card number's check digit is right (the Luhn check)."""
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _digits(card_number: str) -> str:
    compact = re.sub(r"[\s-]", "", card_number or "")
    if not compact.isdigit() or not 14 <= len(compact) <= 16 or not passes_luhn(compact):
        raise CardRejected("CC14")
    return compact


def mask(digits: str) -> str:
    """Mask all but the first six and last four digits, e.g. ``557042******7221``."""
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def issuer_for(digits: str) -> tuple[str, int]:
    """Return (card_code, card_type) for a card number by its BIN."""
    known = BINS.get(digits[:6])
    if known:
        return known
    return FALLBACK_ISSUERS[sum(map(int, digits[:6])) % len(FALLBACK_ISSUERS)], CREDIT


def _check_expiry(expiry: str, now: int) -> None:
    match = re.fullmatch(r"(\d{4})-?(\d{2})", (expiry or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise CardRejected("CC55")
    today = datetime.fromtimestamp(now, KST)
    if (int(match.group(1)), int(match.group(2))) < (today.year, today.month):
        raise CardRejected("CC54")


def _check_birth(birth: str | None) -> None:
    # Optional in the API, but NHN KCP refuses a key-in card without it.
    birth = (birth or "").strip()
    if len(birth) == 10 and birth.isdigit():  # business registration number (corporate card)
        return
    try:
        datetime.strptime(birth, "%y%m%d")
    except ValueError:
        raise CardRejected("CC66") from None


def _check_pwd_2digit(pwd_2digit: str | None) -> None:
    if pwd_2digit is not None and not re.fullmatch(r"\d{2}", str(pwd_2digit)):
        raise CardRejected("CC63")


def inspect_card(
    card_number: str, expiry: str, birth: str | None, pwd_2digit: str | None, *, now: int
) -> CardProfile:
    """Validate key-in card data and return what may be kept of it; raise CardRejected."""
    digits = _digits(card_number)
    _check_expiry(expiry, now)
    _check_birth(birth)
    _check_pwd_2digit(pwd_2digit)
    code, card_type = issuer_for(digits)
    return CardProfile(
        masked_number=mask(digits),
        card_code=code,
        card_name=ISSUERS[code],
        card_type=card_type,
        declines=digits.endswith(DECLINED_CARD_SUFFIX),
    )
