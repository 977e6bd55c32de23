"""Query cleaning, script detection, romanization and the phonetic title key (cinelibre.text)."""

from __future__ import annotations

import pytest

from cinelibre.text import (
    KEY_SEPARATOR,
    book_title_keys,
    clean_query,
    has_words,
    movie_people_keys,
    movie_title_keys,
    people_keys,
    phonetic_key,
    romanize,
    scripts,
    sound_key,
    spoken_key,
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
    # The key both spellings share, then the sound of the one written in Latin letters.
    movie = {"title": "Drishyam", "original_title": "ദൃശ്യം"}
    assert movie_title_keys(movie) == "trisyam / trsm"
    baahubali = {"title": "Baahubali: The Beginning", "original_title": "బాహుబలి: ది బిగినింగ్"}
    assert movie_title_keys(baahubali) == (
        "pahupali te pekinink / pahupali ti pikinink / phpl t psnnk / phpl t pknnk"
    )
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


@pytest.mark.parametrize(
    ("typed", "title"),
    # English titles as a speaker of each language might write them in their own script.
    [
        ("द गॉडफादर", "The Godfather"),
        ("ಸೈಕೋ", "Psycho"),
        ("ஏலியன்", "Alien"),
        ("टाइटैनिक", "Titanic"),
        ("ইন্টারস্টেলার", "Interstellar"),
        ("ద డార్క్ నైట్", "The Dark Knight"),
        ("ജോക്കർ", "Joker"),
    ],
)
def test_an_english_title_typed_in_an_indian_script_sounds_like_its_spelling(typed, title):
    stored = movie_title_keys({"title": title, "original_title": title}).split(KEY_SEPARATOR)
    assert sound_key(typed) in stored, (typed, sound_key(typed), stored)


def test_only_titles_in_latin_letters_are_sounded():
    # An Indian title is matched by its key in every script; Double Metaphone knows English spelling only.
    assert movie_title_keys({"title": "दृश्यम", "original_title": None}) == "trisyam"


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("मणिरत्नम्", "Mani Ratnam"),
        ("മോഹൻലാൽ", "Mohanlal"),
        ("Mamooty", "Mammootty"),
        ("Vetrimaran", "Vetrimaaran"),
        ("ரஜினிகாந்த்", "Rajinikanth"),
        ("Satyajith Ray", "Satyajit Ray"),
        ("Fahad Fazil", "Fahadh Faasil"),
    ],
)
def test_a_name_in_any_script_or_spelling_finds_a_stored_people_key(typed, name):
    stored = movie_people_keys({"director": name, "cast_members": []}).split(KEY_SEPARATOR)
    assert (spoken_key(typed) or phonetic_key(typed)) in stored, (typed, stored)


def test_people_keys_drop_initials_and_keep_each_name_once():
    assert people_keys(["S. S. Rajamouli", "Mohanlal", "Mohanlal", None]) == "rasamouli / mohanlal"
    assert movie_people_keys({"director": None, "cast_members": [{"name": "Kamal Haasan"}, "bad row"]}) == (
        "kamal hasan / kamalhasan"
    )
    assert people_keys([]) is None


def test_the_spoken_key_is_given_only_where_speech_drops_vowels():
    assert spoken_key("मोहनलाल") == phonetic_key("Mohanlal")  # right to left: not "mohnlal"
    assert spoken_key("മോഹൻലാൽ") is None  # Malayalam writes what it says
    assert spoken_key("Mohanlal") is None
