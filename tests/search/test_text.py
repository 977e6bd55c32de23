"""Query cleaning, script detection, romanization and the phonetic title key (cinelibre.text)."""

from __future__ import annotations

import pytest

from cinelibre.text import (
    KEY_SEPARATOR,
    book_title_keys,
    clean_query,
    has_words,
    movie_title_keys,
    phonetic_key,
    romanize,
    scripts,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Drishyam", {"latin"}),
        ("दृश्यम", {"devanagari"}),
        ("ದೃಶ್ಯ", {"kannada"}),
        ("బాహుబలి 2", {"telugu"}),
        ("நாயகன்", {"tamil"}),
        ("ദൃശ്യം", {"malayalam"}),
        ("পথের পাঁচালী", {"bengali"}),
        ("Baahubali బాహుబలి", {"latin", "telugu"}),
        ("Amélie", {"latin"}),
        ("1917", set()),
    ],
)
def test_scripts_are_told_apart(text, expected):
    assert scripts(text) == expected


def test_romanize_uses_the_transliteration_library_for_every_indian_script():
    assert romanize("दृश्यम") == "drishyam"  # Hindi drops the final inherent vowel in speech
    assert romanize("ദൃശ്യം") == "drishyam"
    assert romanize("ചെമ്മീൻ") == "cemmin"  # a chillu letter is its consonant with a virama
    assert romanize("Amélie") == "amelie"


@pytest.mark.parametrize(
    "spellings",
    # The catalog's title and original title first, then what people type.
    [
        ("Drishyam", "ദൃശ്യം", "दृश्यम"),
        ("Baahubali", "బాహుబలి", "Bahubali", "बाहुबली"),
        ("Sholay", "शोले", "ஷோலே"),
        ("Kantara", "ಕಾಂತಾರ", "कांतारा", "காந்தாரா"),
        ("Kireedam", "കിരീടം", "Kireedom", "किरीटम"),  # -am/-om, ee/i
        ("Zindagi Na Milegi Dobara", "ज़िंदगी ना मिलेगी दोबारा", "Jindagi Na Milegi Dobara"),  # z/j
        ("Manichitrathazhu", "മണിച്ചിത്രത്താഴ്", "Manichithrathazhu"),  # zh/l, doubled consonants
        ("Chemmeen", "ചെമ്മീൻ", "Chemmin", "चेम्मीन"),
        ("Jalsaghar", "জলসাঘর", "जलसाघर"),  # the schwa Hindi and Bengali do not say
        ("राग दरबारी", None, "Raag Darbari"),
        ("Magadheera", "మగధీర", "मगधीरा", "ಮಗಧೀರ"),
        ("Sairat", "सैराट", "సైరాట్"),
        ("Sankarabharanam", "శంకరాభరణం", "Shankarabharanam"),  # sh/s
        ("Pyaasa", "प्यासा", "Pyasa"),  # aa/a
        ("Thoovanathumbikal", "തൂവാനത്തുമ്പികൾ", "Thuvanathumbikal"),  # oo/u
        ("Nayakan", "நாயகன்", "నాయకన్", "नायकन"),
    ],
)
def test_every_spelling_of_a_title_finds_one_of_its_stored_keys(spellings):
    stored = movie_title_keys({"title": spellings[0], "original_title": spellings[1]}).split(KEY_SEPARATOR)
    for spelling in filter(None, spellings):
        assert phonetic_key(spelling) in stored, (spelling, phonetic_key(spelling), stored)


@pytest.mark.parametrize(("one", "other"), [("Drishyam", "Premam"), ("Sholay", "Lagaan"), ("Roja", "Raja Rani")])
def test_different_titles_keep_different_keys(one, other):
    assert phonetic_key(one) != phonetic_key(other)


def test_item_keys_hold_every_title_once():
    movie = {"title": "Drishyam", "original_title": "ദൃശ്യം"}
    assert movie_title_keys(movie) == "trisyam"
    baahubali = {"title": "Baahubali: The Beginning", "original_title": "బాహుబలి: ది బిగినింగ్"}
    assert movie_title_keys(baahubali).count(KEY_SEPARATOR) == 1
    assert book_title_keys({"title": "गोदान", "subtitle": None}) == phonetic_key("Godaan")
    assert movie_title_keys({"title": "", "original_title": None}) is None


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("  Drishyam\u0000 ", "Drishyam"),  # NUL
        ("ദൃശ്യം\u200d", "ദൃശ്യം"),  # zero-width joiner
        ("കന്\u200cനട", "കന് നട"),  # zero-width non-joiner splits, never fails
        ("\u202eDrishyam\u202c", "Drishyam"),  # right-to-left override
        ("love 😀💔", "love"),  # emoji
        ("\u0301\u0301love", "love"),  # combining marks with no letter
        ("Ame\u0301lie", "Amélie"),  # a mark on a letter composes
        ("\u200b\u200d😀", ""),
    ],
)
def test_clean_query_drops_what_cannot_be_searched(raw, cleaned):
    assert clean_query(raw) == cleaned


def test_a_query_of_symbols_only_has_no_words():
    assert not has_words(clean_query("😀 ‼ …"))
    assert has_words(clean_query("سلام"))  # right-to-left letters are words
