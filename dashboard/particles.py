"""Korean particles that agree with the word before them: 을/를, 이/가, 은/는, 과/와, (으)로.

Korean sentences put names and amounts before a particle whose form depends on how the word
ends. Translations write the pair (``%(name)s을(를)``) and ``attach`` picks the right form once
the values are in, so a customer named 김민수 reads "김민수를" and ₩9,900 reads "₩9,900을".
"""
from __future__ import annotations

import re

# How each digit is read (일, 이, 삼, ...): does the reading end in a consonant, and is it ㄹ?
DIGIT_ENDINGS = {"0": "ㅇ", "1": "ㄹ", "2": "", "3": "ㅁ", "4": "", "5": "", "6": "ㄱ",
                 "7": "ㄹ", "8": "ㄹ", "9": ""}
# Latin letters read with a final consonant (엘, 엠, 엔; 알 for r).
LETTER_ENDINGS = {"l": "ㄹ", "m": "ㅁ", "n": "ㄴ", "r": "ㄹ"}
RIEUL = 8  # the index of ㄹ among final consonants

PAIRS = {"을(를)": ("을", "를"), "이(가)": ("이", "가"), "은(는)": ("은", "는"),
         "과(와)": ("과", "와"), "와(과)": ("과", "와")}
MARKER = re.compile(r"(을\(를\)|이\(가\)|은\(는\)|과\(와\)|와\(과\)|\(으\)로)")
SKIPPED = set(")]}\"'”’」』 ")


def final_consonant(word: str) -> str | None:
    """Return how ``word`` ends: a final consonant ("ㄹ", "ㅁ", ...), "" for a vowel, or None."""
    for char in reversed(word):
        if char in SKIPPED:
            continue
        if "가" <= char <= "힣":
            index = (ord(char) - 0xAC00) % 28
            return "" if index == 0 else ("ㄹ" if index == RIEUL else "ㅁ")
        if char in DIGIT_ENDINGS:
            return DIGIT_ENDINGS[char]
        if char.isascii() and char.isalpha():
            return LETTER_ENDINGS.get(char.lower(), "")
        return None
    return None


def attach(text: str) -> str:
    """Resolve every particle pair in ``text`` against the word just before it."""
    if "(" not in str(text):
        return text

    def choose(match: re.Match) -> str:
        marker = match.group(1)
        ending = final_consonant(match.string[:match.start()])
        if ending is None:
            return marker
        if marker == "(으)로":
            return "로" if ending in ("", "ㄹ") else "으로"
        with_consonant, with_vowel = PAIRS[marker]
        return with_consonant if ending else with_vowel

    return MARKER.sub(choose, str(text))
