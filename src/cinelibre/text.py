"""Text preparation for search in the catalog's languages: cleaning a query, telling its script, romanizing
Indian scripts, and the phonetic key that lets spellings of one title meet.

A title is known by several spellings: its own script (దృశ్యం is not Devanagari दृश्यम, though both say
"drishyam"), an official romanization ("Drishyam") and the ones people type ("Drushyam", "Dhrishyam").
Every spelling is first romanized (Indian scripts through indic-transliteration, MIT licence, to ISO 15919,
then folded to ASCII), then reduced to a key that drops what romanizations disagree on: vowel length,
aspiration, voicing, doubled consonants, the inherent final "a", -am/-om. Stored titles carry their keys
(`title_keys`, indexed by trigrams); a query is keyed the same way, so a title typed in any script or
spelling is matched by trigram similarity of keys.

indic-transliteration is imported only when a text holds an Indian script, so a Latin query never pays for it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Any

# Unicode blocks of the catalog's Indian scripts, by indic-transliteration's scheme name.
INDIC_SCRIPTS: dict[str, tuple[int, int]] = {
    "devanagari": (0x0900, 0x097F),
    "bengali": (0x0980, 0x09FF),
    "gurmukhi": (0x0A00, 0x0A7F),
    "gujarati": (0x0A80, 0x0AFF),
    "oriya": (0x0B00, 0x0B7F),
    "tamil": (0x0B80, 0x0BFF),
    "telugu": (0x0C00, 0x0C7F),
    "kannada": (0x0C80, 0x0CFF),
    "malayalam": (0x0D00, 0x0D7F),
}
KEY_SEPARATOR = " / "
# The version of the stored search keys (title_keys, people_keys) this module makes. Raise it with any change
# that alters a stored key (romanization, phonetic folding, sounds, people keys); deployed rows are then
# brought up to date by `cinelibre search-keys --backfill` (docs/operations.md), not only when re-ingested.
# 1 would be session 1's title keys; 2 adds the sounds of Latin titles, people keys and right-to-left schwa
# deletion (session 2).
SEARCH_KEYS_VERSION = 2


def script_of(char: str) -> str:
    """"latin", one of INDIC_SCRIPTS, or "other" (digits and punctuation count as "common")."""
    point = ord(char)
    for name, (low, high) in INDIC_SCRIPTS.items():
        if low <= point <= high:
            return name
    if char.isascii():
        return "latin" if char.isalpha() else "common"
    if unicodedata.category(char).startswith("L") and "LATIN" in unicodedata.name(char, ""):
        return "latin"
    return "common" if not char.isalpha() else "other"


def scripts(text: str) -> set[str]:
    """The scripts a text is written in (letters only)."""
    return {script for script in map(script_of, text) if script != "common"}


def clean_query(text: str) -> str:
    """A query as search uses it: NFC, without control and format characters (NUL, zero-width joiners,
    bidirectional marks), symbols (emoji) and stray combining marks, with whitespace collapsed. Marks that
    belong to a letter (Indian vowel signs, accents) stay."""
    kept: list[str] = []
    for char in unicodedata.normalize("NFC", text):
        category = unicodedata.category(char)
        if category[0] == "C" or category[0] == "S":
            kept.append(" ")
        elif category[0] == "M" and (not kept or not kept[-1].strip()):
            continue  # a mark with no letter to sit on
        else:
            kept.append(char)
    return " ".join("".join(kept).split())


def has_words(text: str) -> bool:
    return any(char.isalnum() for char in text)


@cache
def _sanscript() -> Any:
    from indic_transliteration import sanscript

    return sanscript


# ISO 15919 letters that ASCII folding would get wrong, before folding.
_ISO_TO_ASCII = str.maketrans(
    {"ṛ": "ri", "ṝ": "ri", "ḷ": "l", "ś": "sh", "ṣ": "sh", "ṅ": "n", "ñ": "n", "ṇ": "n", "ṁ": "m", "ṃ": "m"}
)
# Malayalam chillu letters are a consonant with an explicit virama (Unicode's own decomposition of the older
# encoding); indic-transliteration knows only that spelling.
_CHILLU = str.maketrans({"\u0d7a": "ണ്", "\u0d7b": "ന്", "\u0d7c": "ര്", "\u0d7d": "ല്", "\u0d7e": "ള്", "\u0d7f": "ക്"})
# Hindi, Marathi and Bengali drop the inherent vowel between a vowel-consonant and a consonant-vowel
# ("jalasāghara" is said "jalsāghar"); the romanizations people type follow speech.
_SCHWA_DELETING = {"devanagari", "bengali", "gurmukhi", "gujarati"}
_VOWELS = "aāiīuūeēoō"
_MEDIAL_SCHWA = re.compile(f"(?<=[{_VOWELS}][^{_VOWELS}\\s])a(?=[^{_VOWELS}\\sh]h?[{_VOWELS}])")
_FINAL_SCHWA = re.compile(f"(?<=[^{_VOWELS}\\s])a\\b")
_INDIC_RUN = re.compile("|".join(f"[{chr(low)}-{chr(high)}]+" for low, high in INDIC_SCRIPTS.values()))


def _drop_medial_schwas(iso: str) -> str:
    """Right to left, as Hindi drops them: a dropped vowel leaves a cluster, which keeps the vowel before it
    ("mohanalāl" -> "mohanlāl", not "mohnlāl")."""
    for match in reversed(list(_MEDIAL_SCHWA.finditer(iso))):
        if _MEDIAL_SCHWA.match(iso, match.start()):
            iso = iso[: match.start()] + iso[match.end() :]
    return iso


def romanize(text: str, *, speech: bool = False) -> str:
    """Latin letters for every Indian-script run of `text` (ISO 15919 folded to ASCII), lower case; other
    text is folded to ASCII as it is. The final inherent vowel Hindi, Marathi and Bengali do not say is
    dropped; with `speech`, so are the medial ones ("jalasāghara" -> "jalsaghar"), which only a reading in
    those languages drops ("नायकन", a Tamil title typed in Devanagari, keeps them)."""

    def latin(match: re.Match[str]) -> str:
        run = match.group(0)
        script = script_of(run[0])
        sanscript = _sanscript()
        iso = sanscript.transliterate(run.translate(_CHILLU), script, sanscript.ISO).replace("r̥", "ri")
        if script in _SCHWA_DELETING:
            iso = _FINAL_SCHWA.sub("", iso)
            if speech:
                iso = _drop_medial_schwas(iso)
        return iso

    romanized = _INDIC_RUN.sub(latin, unicodedata.normalize("NFC", text)) if _INDIC_RUN.search(text) else text
    romanized = unicodedata.normalize("NFC", romanized.casefold()).translate(_ISO_TO_ASCII)
    folded = unicodedata.normalize("NFKD", romanized)
    return "".join(char for char in folded if not unicodedata.combining(char))


# Applied in order to romanized, lower-case ASCII. Each rule removes a difference between romanizations.
_KEY_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"[^a-z0-9]+", " "),
        (r"zh", "l"),  # Tamil/Malayalam ழ: "Manichitrathazhu", ISO "ḻ"
        (r"x", "ks"),
        (r"q", "k"),
        (r"([bcdfgjklmnpqrstvwyz])h", r"\1"),  # aspiration: bh/dh/th/kh/gh/ch/jh/sh/ph
        (r"iy(?=a)", "i"),  # "Lucia"/"lūsiyā"
        (r"ee|ii|ie", "i"),
        (r"oo|uu", "u"),
        (r"[gq]", "k"),
        (r"d", "t"),
        (r"[bvwf]", "p"),
        (r"[cjz]", "s"),  # ச/ஜ are one letter in Tamil; ज़/ज; "Jindagi"/"Zindagi"
        (r"(.)\1+", r"\1"),  # doubled letters: "Kannathil"/"Kanathil", "aa"
        (r"om\b", "am"),
        (r"m(?=[kstpnlry])", "n"),  # anusvara before a consonant: "kamtara"/"kantara"
        (r"\b(\w\w+?)a\b", r"\1"),  # the inherent final a: "sairata"/"sairat", "magadira"/"magadir"
        (r"(ay|ai|ey)\b", "e"),  # "Sholay"/"shole"
        (r"y\b", "i"),  # "Fandry"/"phĕṁḍrī"
        (r"\b(\w\w+?[^aeiou ])u\b", r"\1"),  # the final u of Telugu, Kannada and Malayalam: "Devadasu"/"Devdas"
    )
)


def spoken_key(text: str) -> str | None:
    """The key of a query as said where that differs from the key as written: a name typed in Devanagari or
    Bengali ("मोहनलाल") drops vowels its Latin spelling ("Mohanlal") never had. None otherwise."""
    if not scripts(text) & _SCHWA_DELETING:
        return None
    spoken = phonetic_key(text, speech=True)
    return spoken if spoken != phonetic_key(text) else None


@lru_cache(maxsize=4096)
def phonetic_key(text: str, *, speech: bool = False) -> str:
    """The romanization-independent key of a title or query: "Drishyam", "दृश्यम" and "ദൃശ്യം" share one.
    `speech` as for romanize."""
    key = romanize(text, speech=speech)
    for pattern, replacement in _KEY_RULES:
        key = pattern.sub(replacement, key)
    return " ".join(key.split())


@cache
def _double_metaphone() -> Any:
    from doublemetaphone import doublemetaphone

    return doublemetaphone


# Double Metaphone's codes folded where an Indian-script spelling of an English word cannot tell them
# apart: "th" (0) is written t/d, "sh"/"ch" (X) s/ch, and "z" ज, the letter of "j" (J).
_SOUND_FOLD = str.maketrans({"0": "t", "x": "s", "j": "s"})


def _sound_of_words(text: str, code: int) -> str:
    metaphone = _double_metaphone()
    sounds = []
    for word in text.split():
        codes = metaphone(word)
        sounds.append((codes[code] or codes[0]).lower().translate(_SOUND_FOLD))
    return " ".join(sound for sound in sounds if sound)


@lru_cache(maxsize=4096)
def sound_key(text: str) -> str:
    """How a text sounds, by the Double Metaphone codes of its words (English spelling rules): the key that
    lets an English title typed phonetically in an Indian script ("द गॉडफादर", "ಸೈಕೋ") meet its English
    spelling ("The Godfather", "Psycho"). A query is sounded as written and romanized."""
    return _sound_of_words(" ".join(romanize(text).replace("-", " ").split()), 0)


def sound_keys(title: str) -> list[str]:
    """The sounds of a title written in Latin letters: Double Metaphone's primary and, where it differs,
    its alternative reading ("Psycho": "sk" beside "ss")."""
    words = " ".join(romanize(title).replace("-", " ").split())
    keys = [_sound_of_words(words, 0), _sound_of_words(words, 1)]
    return [key for index, key in enumerate(keys) if key and key not in keys[:index]]


def title_keys(titles: Iterable[str | None]) -> str | None:
    """Every distinct key of an item's titles, as written and as said, joined for one trigram-indexed
    column, and the sound of each title written in Latin letters (an English title typed phonetically in an
    Indian script is matched by its sound, sound_key). A query is keyed as written: it meets the title
    either way."""
    keys: list[str] = []
    sounds: list[str] = []
    for title in titles:
        for key in (phonetic_key(title), phonetic_key(title, speech=True)) if title else ():
            if key and key not in keys:
                keys.append(key)
        if title and "latin" in scripts(title) and not scripts(title) - {"latin"}:
            sounds.extend(sound for sound in sound_keys(title) if sound not in sounds)
    keys.extend(sound for sound in sounds if sound not in keys)
    return KEY_SEPARATOR.join(keys) or None


def movie_title_keys(movie: dict[str, Any]) -> str | None:
    return title_keys((movie.get("title"), movie.get("original_title")))


def book_title_keys(book: dict[str, Any]) -> str | None:
    title = book.get("title")
    subtitle = book.get("subtitle")
    return title_keys((title, f"{title} {subtitle}" if title and subtitle else None))


# Initials ("S. S. Rajamouli") say nothing a query could match by sound.
_INITIAL = re.compile(r"\b\w\b")


def people_keys(names: Iterable[str | None]) -> str | None:
    """The phonetic keys of the people of an item (director and cast, or authors), each also without its
    spaces, so that "Mani Ratnam", "मणिरत्नम्" and "Maniratnam" meet: a name typed in any script or
    romanization is matched as a title is (issue 12)."""
    keys: list[str] = []
    for name in names:
        key = " ".join(_INITIAL.sub(" ", phonetic_key(name)).split()) if name else ""
        for variant in (key, key.replace(" ", "")):
            if variant and variant not in keys:
                keys.append(variant)
    return KEY_SEPARATOR.join(keys) or None


def movie_people_keys(movie: dict[str, Any]) -> str | None:
    cast = movie.get("cast_members") or []
    return people_keys([movie.get("director"), *(member.get("name") for member in cast if isinstance(member, dict))])


def book_people_keys(book: dict[str, Any]) -> str | None:
    return people_keys(book.get("authors") or [])
