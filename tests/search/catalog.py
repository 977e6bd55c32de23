"""A small real-text catalog for search tests: well-known films and books with synopses written for these
tests, embedded once per session with the real model through the project's own text recipes."""

from __future__ import annotations

MOVIES = [
    # (tmdb_id, title, original_title, language, release_date, genres, director, overview)
    (
        256040,
        "Baahubali: The Beginning",
        "బాహుబలి: ది బిగినింగ్",
        "te",
        "2015-07-10",
        ["Action", "Drama"],
        "S. S. Rajamouli",
        "A young man raised by villagers below a giant waterfall climbs it and discovers he is the heir of "
        "an "
        "ancient kingdom ruled by a cruel usurper who keeps the rightful queen in chains.",
    ),
    (
        350312,
        "Baahubali 2: The Conclusion",
        "బాహుబలి 2: ది కన్‌క్లూజన్",
        "te",
        "2017-04-28",
        ["Action", "Drama"],
        "S. S. Rajamouli",
        "The story of why a loyal slave warrior killed the beloved prince unfolds, as palace intrigue and "
        "betrayal split a royal family and a son rises to reclaim his father's throne.",
    ),
    (
        242345,
        "Drishyam",
        "ദൃശ്യം",
        "ml",
        "2013-12-19",
        ["Thriller", "Drama"],
        "Jeethu Joseph",
        "A cable television operator who loves films uses everything he learned from cinema to shield his "
        "wife "
        "and daughters after a young man dies in their house, outwitting a determined police inspector.",
    ),
    (
        768744,
        "Drishyam 2",
        "ദൃശ്യം 2",
        "ml",
        "2021-02-19",
        ["Thriller", "Crime"],
        "Jeethu Joseph",
        "Years after the case was closed, the police quietly reopen the investigation and the family's "
        "carefully kept secret is threatened once again.",
    ),
    (
        20453,
        "3 Idiots",
        "3 Idiots",
        "hi",
        "2009-12-25",
        ["Comedy", "Drama"],
        "Rajkumar Hirani",
        "Two friends search for their missing college roommate, remembering how he defied a rigid "
        "engineering "
        "school and taught them to chase excellence instead of grades.",
    ),
    (
        360814,
        "Dangal",
        "दंगल",
        "hi",
        "2016-12-23",
        ["Drama", "Sport"],
        "Nitesh Tiwari",
        "A former wrestler in a Haryana village trains his two daughters against everyone's disapproval "
        "until "
        "they become champions in international wrestling.",
    ),
    (
        19666,
        "Lagaan",
        "लगान",
        "hi",
        "2001-06-15",
        ["Drama", "Sport"],
        "Ashutosh Gowariker",
        "In a drought-struck village under colonial rule, farmers accept a wager to play cricket against "
        "British officers to escape a crushing land tax.",
    ),
    (
        157336,
        "Interstellar",
        "Interstellar",
        "en",
        "2014-11-05",
        ["Science Fiction", "Drama"],
        "Christopher Nolan",
        "As crops fail on a dying Earth, a former pilot leads astronauts through a wormhole near Saturn to "
        "find "
        "a new home for humanity, while time slips away from the daughter he left behind.",
    ),
    (
        286217,
        "The Martian",
        "The Martian",
        "en",
        "2015-09-30",
        ["Science Fiction", "Drama"],
        "Ridley Scott",
        "Left behind on Mars after a storm, a botanist grows potatoes in his habitat and improvises with "
        "science to survive until a rescue mission can reach him.",
    ),
    (
        27205,
        "Inception",
        "Inception",
        "en",
        "2010-07-16",
        ["Science Fiction", "Action"],
        "Christopher Nolan",
        "A thief who steals secrets from people's dreams is offered a chance at redemption if he can plant "
        "an "
        "idea in a businessman's mind through layers of shared dreaming.",
    ),
    (
        578,
        "Jaws",
        "Jaws",
        "en",
        "1975-06-20",
        ["Thriller", "Horror"],
        "Steven Spielberg",
        "A great white shark terrorises a seaside resort town, and the police chief, a marine biologist "
        "and a "
        "grizzled fisherman set out to hunt it down.",
    ),
    (
        12,
        "Finding Nemo",
        "Finding Nemo",
        "en",
        "2003-05-30",
        ["Animation", "Family"],
        "Andrew Stanton",
        "A timid clownfish father crosses the ocean with a forgetful blue tang to find his son, who was "
        "taken "
        "by a diver and put in a dentist's aquarium.",
    ),
    (
        5801,
        "Pather Panchali",
        "পথের পাঁচালী",
        "bn",
        "1955-08-26",
        ["Drama"],
        "Satyajit Ray",
        "In a poor Bengali village, a young boy and his elder sister discover the wonders and hardships of "
        "childhood while their father seeks work far away.",
    ),
    (
        579974,
        "RRR",
        "RRR",
        "te",
        "2022-03-25",
        ["Action", "Drama"],
        "S. S. Rajamouli",
        "Two revolutionaries in 1920s India, one a tribal protector and one a police officer, forge a fierce "
        "friendship while on opposite sides of a fight against colonial rulers.",
    ),
]

BOOKS = [
    # (google_id, title, authors, language, published_date, categories, description)
    (
        "B1-dune",
        "Dune",
        ["Frank Herbert"],
        "en",
        "1965",
        ["Fiction", "Science Fiction"],
        "On a desert planet that holds the most precious substance in the universe, the son of a noble house "
        "survives betrayal and leads the desert people in a holy war.",
    ),
    (
        "B2-hobbit",
        "The Hobbit",
        ["J. R. R. Tolkien"],
        "en",
        "1937",
        ["Fiction", "Fantasy"],
        "A home-loving hobbit is swept into a quest with thirteen dwarves to win back their mountain home "
        "and "
        "its treasure from a dragon.",
    ),
    (
        "B3-pride",
        "Pride and Prejudice",
        ["Jane Austen"],
        "en",
        "1813",
        ["Fiction", "Romance"],
        "A witty young woman and a proud wealthy gentleman misjudge each other at country balls and slowly "
        "learn to see past first impressions.",
    ),
    (
        "B4-small",
        "The God of Small Things",
        ["Arundhati Roy"],
        "en",
        "1997",
        ["Fiction"],
        "Twins in a Kerala town live through a childhood shattered by forbidden love and family tragedy, "
        "told "
        "across two timelines decades apart.",
    ),
    (
        "B5-foundation",
        "Foundation",
        ["Isaac Asimov"],
        "en",
        "1951",
        ["Fiction", "Science Fiction"],
        "A mathematician predicts the fall of a galactic empire and founds a colony of scholars to shorten "
        "the "
        "dark age that will follow.",
    ),
    (
        "B6-tiger",
        "The White Tiger",
        ["Aravind Adiga"],
        "en",
        "2008",
        ["Fiction"],
        "A driver from a poor village writes letters describing how he escaped servitude to his rich masters "
        "in Delhi through a crime.",
    ),
    (
        "B7-martian",
        "The Martian",
        ["Andy Weir"],
        "en",
        "2011",
        ["Fiction", "Science Fiction"],
        "An astronaut stranded alone on Mars keeps a sardonic log of how he survives with engineering, "
        "chemistry and stubborn humour.",
    ),
    (
        "B8-gora",
        "Gora",
        ["Rabindranath Tagore"],
        "bn",
        "1910",
        ["Fiction"],
        "A fervent young man in Calcutta defends orthodox tradition until a revelation about his own birth "
        "overturns everything he believed about identity.",
    ),
]


def movie_rows() -> list[dict]:
    return [
        {
            "tmdb_id": tmdb_id,
            "title": title,
            "original_title": original,
            "overview": overview,
            "release_date": release,
            "original_language": language,
            "genres": genres,
            "director": director,
            "cast_members": [{"name": "Lead Actor", "character": "Hero"}],
            "crew": [{"name": director, "job": "Director"}],
            "runtime": 150,
            "popularity": 50.0 - index,
            "vote_average": 7.5,
            "vote_count": 1000 + index,
            "poster_url": f"https://image.tmdb.org/t/p/w500/{tmdb_id}.jpg",
        }
        for index, (tmdb_id, title, original, language, release, genres, director, overview) in enumerate(
            MOVIES
        )
    ]


def book_rows() -> list[dict]:
    return [
        {
            "google_id": google_id,
            "title": title,
            "subtitle": None,
            "authors": authors,
            "description": description,
            "categories": categories,
            "published_date": published,
            "language": language,
            "page_count": 300,
            "isbn_10": None,
            "isbn_13": None,
            "thumbnail_url": f"https://books.google.com/{google_id}.jpg",
            "publisher": None,
            "average_rating": 4.2,
            "ratings_count": 100 - index,
        }
        for index, (google_id, title, authors, language, published, categories, description) in enumerate(
            BOOKS
        )
    ]


def embedded(rows: list[dict], texts: list[str], embedder) -> list[dict]:
    from cinelibre.embedding import content_hash

    vectors = list(embedder.embed_passages(texts))
    return [
        row | {"embedding": vector, "content_hash": content_hash(text)}
        for row, text, vector in zip(rows, texts, vectors, strict=True)
    ]


def load(db, movies: list[dict], books: list[dict]) -> dict[tuple[str, str], int]:
    """Insert the embedded rows; {(item_type, title): item id}."""
    db.upsert_movies(movies=movies)
    db.upsert_books(books=books)
    movie_page, _ = db.list_movies(
        language=None, genre=None, year_from=None, year_to=None, limit=100, offset=0
    )
    book_page, _ = db.list_books(
        language=None, category=None, year_from=None, year_to=None, limit=100, offset=0
    )
    return {("movie", r["title"]): r["id"] for r in movie_page} | {
        ("book", r["title"]): r["id"] for r in book_page
    }
