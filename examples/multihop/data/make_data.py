"""Writes the multihop example's data: a corpus of short passages about
made-up people, places, companies, bands, operas and bridges, and two-hop
questions over it (train and dev). Made-up names keep the answers out of any
model's memory: a question is answered only by finding the passage about the
entity it names, then the passage about the person or place that passage
names. Deterministic: run it again and the files come out byte for byte.

    python3 examples/multihop/data/make_data.py
"""

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent
rng = random.Random(15)

FIRST = ["Edda", "Tomas", "Ilse", "Bram", "Nora", "Oskar", "Lena", "Pavel", "Mira", "Anselm",
         "Greta", "Ivo", "Rosa", "Kasimir", "Talia", "Emil", "Vera", "Jorund", "Alma", "Benedikt",
         "Sigrun", "Milo", "Hedda", "Lorenz", "Petra", "Aurel", "Ida", "Casper", "Wilma", "Feodor"]
SYL = ["var", "mol", "ken", "dra", "sel", "bur", "tis", "lan", "rok", "mer", "vin", "hal", "gor",
       "pel", "sto", "quin", "dar", "nel", "fen", "wik", "ost", "brel", "cas", "tor", "ium", "ady"]
TOWN_END = ["mere", "ford", "holm", "wick", "stead", "by", "dale", "haven", "moor", "gate"]
COUNTRY = ["Valdoria", "Kestrania", "Ostmark", "Lurenia", "Pellavia", "Sundria", "Carvonia", "Meridel"]
INDUSTRY = ["textile", "shipbuilding", "clockmaking", "brewing", "printing", "glassworks", "tanning", "rope"]
COMPANY_END = ["Mills", "Works", "Company", "Foundry", "Brothers", "Guild"]
PROFESSION = ["engineer", "merchant", "chemist", "weaver", "surveyor", "banker", "printer", "sailor"]
GENRE = ["folk", "jazz", "rock", "choral", "brass", "punk", "blues", "electronic"]
INSTRUMENT = ["cello", "oboe", "harp", "viola", "bassoon", "organ", "lute", "clarinet", "flute", "trumpet"]
UNIVERSITY = ["Aldermoor College", "the Kestrel Institute", "Varnholm University", "the Brightwater Academy",
              "Sellwick Polytechnic", "the Ostmark School of Design", "Quinford University", "the Halmere Lyceum"]
OPERA_WORD = ["Lantern", "Harvest", "Tide", "Mirror", "Falcon", "Orchard", "Winter", "Ember", "Crown", "Meadow"]
OPERA_END = ["Queen", "Ferryman", "Exile", "Twins", "Wedding", "Storm", "Bell", "Pilgrim"]
BAND_WORD = ["Copper", "Velvet", "Paper", "Silver", "Hollow", "Northern", "Glass", "Quiet", "Iron", "Amber"]
BAND_END = ["Foxes", "Lanterns", "Owls", "Engines", "Tides", "Ravens", "Kites", "Bells"]

used = set()


def unique(make):
    for _ in range(1000):
        name = make()
        if name not in used:
            used.add(name)
            return name
    raise RuntimeError("ran out of names")


def word(n):
    return "".join(rng.choice(SYL) for _ in range(n)).capitalize()


def person():
    return unique(lambda: f"{rng.choice(FIRST)} {word(2)}")


def town():
    return unique(lambda: word(rng.choice([1, 2])) + rng.choice(TOWN_END))


def city():
    return unique(lambda: word(2) + rng.choice(["a", "on", "is", "or"]))


passages = []  # (title, text)
rows = []  # question rows


def add(title, text):
    passages.append((title, text))


def founder_question():
    company = unique(lambda: f"{word(2)} {rng.choice(COMPANY_END)}")
    founder, birthplace = person(), town()
    add(company, f"{company} is a {rng.choice(INDUSTRY)} company founded in {rng.randint(1820, 1910)} by {founder}.")
    add(founder, f"{founder} was a {rng.choice(PROFESSION)} born in {birthplace} in {rng.randint(1780, 1880)}.")
    return f"In which town was the founder of {company} born?", birthplace, "birthplace"


def band_question():
    band = unique(lambda: f"The {rng.choice(BAND_WORD)} {rng.choice(BAND_END)}")
    home = city()
    country = rng.choice(COUNTRY)
    add(band, f"{band} are a {rng.choice(GENRE)} band formed in {home} in {rng.randint(1960, 2015)}.")
    add(home, f"{home} is a river port in {country}, known for its {rng.choice(INDUSTRY)} trade.")
    return f"In which country was the band {band} formed?", country, "country"


def opera_question():
    opera = unique(lambda: f"The {rng.choice(OPERA_WORD)} {rng.choice(OPERA_END)}")
    composer = person()
    instrument = rng.choice(INSTRUMENT)
    add(opera, f"{opera} is an opera in three acts by the composer {composer}, first staged in {rng.randint(1790, 1930)}.")
    add(composer, f"{composer} was a composer who played the {instrument} in the court orchestra of {town()}.")
    return f"Which instrument did the composer of {opera} play?", instrument, "instrument"


def bridge_question():
    bridge = unique(lambda: f"the {word(2)} Bridge")
    architect = person()
    school = rng.choice(UNIVERSITY)
    title = bridge[0].upper() + bridge[1:]
    add(title, f"{title} is a stone bridge designed by {architect} and opened in {rng.randint(1850, 1950)}.")
    add(architect, f"{architect} was an architect who studied at {school} before working abroad.")
    return f"Which school did the architect of {bridge} attend?", school, "school"


def distractors(n):
    """Passages no question asks about, in the same shapes."""
    for _ in range(n):
        kind = rng.randrange(4)
        p = person()
        if kind == 0:
            add(p, f"{p} was a {rng.choice(PROFESSION)} born in {town()} in {rng.randint(1780, 1880)}.")
        elif kind == 1:
            add(p, f"{p} was a composer who played the {rng.choice(INSTRUMENT)} in the court orchestra of {town()}.")
        elif kind == 2:
            add(p, f"{p} was an architect who studied at {rng.choice(UNIVERSITY)} before working abroad.")
        else:
            c = city()
            add(c, f"{c} is a river port in {rng.choice(COUNTRY)}, known for its {rng.choice(INDUSTRY)} trade.")


makers = [founder_question, band_question, opera_question, bridge_question]
for i in range(100):
    q, a, topic = makers[i % 4]()
    rows.append({"question": q, "answer": a, "topic": topic})
distractors(220)

order = list(range(len(passages)))
rng.shuffle(order)
with open(OUT / "wiki.jsonl", "w") as f:
    for i in order:
        title, text = passages[i]
        f.write(json.dumps({"title": title, "text": text}) + "\n")
rng.shuffle(rows)
for name, part in [("train", rows[:60]), ("dev", rows[60:])]:
    with open(OUT / f"{name}.jsonl", "w") as f:
        for r in part:
            f.write(json.dumps(r) + "\n")
print(f"{len(passages)} passages, {len(rows)} questions")
