"""Generate the demo dataset shipped in src/polyhead/demo_data/ (made by this project).

Template sentences for six assistant intents with BIO slot tags, written as generic JSONL
(`tokens`, `tags`, `label`). Deterministic: the same seed always gives the same files.
Run: python scripts/make_demo_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SLOTS = {
    "time": ["seven am", "six thirty", "noon", "9 pm", "half past eight", "midnight", "10 am"],
    "date": ["tomorrow", "today", "on friday", "next monday", "this weekend", "on the 5th"],
    "city": ["paris", "london", "new york", "tokyo", "berlin", "san francisco", "rome", "oslo"],
    "artist": ["taylor swift", "miles davis", "the beatles", "adele", "daft punk", "bach"],
    "genre": ["jazz", "rock", "classical music", "hip hop", "lofi beats", "country"],
    "person": ["alice", "my mom", "bob", "john smith", "the team", "sarah"],
    "cuisine": ["italian", "sushi", "thai", "mexican", "indian", "vegan"],
    "number": ["two", "four", "six", "three", "eight"],
}

TEMPLATES = {
    "set_alarm": [
        "wake me up at {time} {date}",
        "set an alarm for {time}",
        "alarm at {time} please",
        "please set an alarm {date} at {time}",
        "i need an alarm for {time} {date}",
    ],
    "weather_query": [
        "what is the weather in {city} {date}",
        "will it rain in {city}",
        "how cold is it in {city} {date}",
        "weather forecast for {city}",
        "is it sunny in {city} {date}",
    ],
    "play_music": [
        "play some {genre}",
        "play {artist}",
        "put on {genre} by {artist}",
        "i want to hear {artist}",
        "start a {genre} playlist",
    ],
    "book_restaurant": [
        "book a table for {number} at an {cuisine} place {date}",
        "find me a {cuisine} restaurant in {city}",
        "reserve {cuisine} for {number} at {time}",
        "i want {cuisine} food {date}",
        "table for {number} {date} at {time}",
    ],
    "send_message": [
        "text {person} that i am late",
        "send a message to {person}",
        "tell {person} i will call at {time}",
        "message {person} about dinner {date}",
        "remind {person} about the meeting {date}",
    ],
    "set_reminder": [
        "remind me to call {person} {date}",
        "set a reminder for {time} {date}",
        "remind me at {time} to buy milk",
        "create a reminder {date} to pay rent",
    ],
}


def render(template: str, rng: random.Random) -> tuple[list[str], list[str]]:
    tokens, tags = [], []
    for piece in template.split():
        if piece.startswith("{") and piece.endswith("}"):
            slot = piece[1:-1]
            words = rng.choice(SLOTS[slot]).split()
            tokens += words
            tags += [f"B-{slot}"] + [f"I-{slot}"] * (len(words) - 1)
        else:
            tokens.append(piece)
            tags.append("O")
    return tokens, tags


def make(n: int, rng: random.Random) -> list[dict]:
    out = []
    intents = sorted(TEMPLATES)
    for i in range(n):
        intent = intents[i % len(intents)]
        tokens, tags = render(rng.choice(TEMPLATES[intent]), rng)
        out.append({"tokens": tokens, "tags": tags, "label": intent})
    rng.shuffle(out)
    return out


def main() -> None:
    rng = random.Random(13)
    folder = Path(__file__).resolve().parents[1] / "src" / "polyhead" / "demo_data"
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 360), ("dev", 90), ("test", 90)):
        lines = [json.dumps(r) for r in make(n, rng)]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    print(f"wrote demo data to {folder}")


if __name__ == "__main__":
    main()
