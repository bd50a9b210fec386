"""Word lists and weights the demo generator draws from.

Weights are rough shares of a mid-sized European contemporary gallery; they only
need to look believable in charts, not be statistics.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Ada", "Aiko", "Alba", "Amara", "Ana", "Anton", "Astrid", "Bea", "Bruno", "Carla",
    "Chen", "Clara", "Dario", "Elif", "Elena", "Emil", "Esme", "Farah", "Felix", "Frida",
    "Greta", "Hana", "Hugo", "Ines", "Ivan", "Jonas", "Kai", "Kenji", "Lars", "Lea",
    "Leon", "Lina", "Luca", "Maja", "Marek", "Mateo", "Mila", "Nadia", "Nico", "Noor",
    "Olga", "Omar", "Oskar", "Paula", "Pablo", "Quinn", "Rosa", "Ravi", "Sara", "Sofia",
    "Tariq", "Theo", "Ulla", "Vera", "Viktor", "Wen", "Yara", "Yusuf", "Zoe", "Zofia",
)

LAST_NAMES = (
    "Abara", "Andersen", "Bauer", "Becker", "Bianchi", "Castro", "Chowdhury", "Costa",
    "Dubois", "Eriksson", "Fischer", "Fontaine", "Garcia", "Haddad", "Hansen", "Horvath",
    "Ito", "Jansen", "Kaur", "Keller", "Kowalski", "Lambert", "Larsen", "Lindqvist",
    "Lopez", "Marino", "Meyer", "Moreau", "Nakamura", "Novak", "Okafor", "Olsen",
    "Park", "Petrov", "Popescu", "Quispe", "Rossi", "Santos", "Schmidt", "Silva",
    "Sorensen", "Tanaka", "Varga", "Vogel", "Wagner", "Weber", "Wright", "Yilmaz",
    "Zhang", "Zimmermann",
)

NATIONALITIES = (
    ("German", 0.16), ("French", 0.12), ("Italian", 0.09), ("British", 0.09),
    ("American", 0.10), ("Spanish", 0.06), ("Dutch", 0.05), ("Japanese", 0.05),
    ("Polish", 0.04), ("Swedish", 0.03), ("Danish", 0.03), ("Nigerian", 0.03),
    ("Brazilian", 0.03), ("Chinese", 0.03), ("Indian", 0.02), ("Mexican", 0.02),
    ("Turkish", 0.02), ("South Korean", 0.02), ("Austrian", 0.01),
)

GENDERS = (("female", 0.44), ("male", 0.48), ("non-binary", 0.05), (None, 0.03))

# medium, share of artworks, median list price in EUR, median long side in cm
MEDIUMS = (
    ("Oil on canvas", 0.22, 6_500, 90),
    ("Acrylic on canvas", 0.16, 3_800, 80),
    ("Watercolour on paper", 0.10, 1_200, 40),
    ("Photography", 0.13, 1_800, 60),
    ("Print", 0.11, 700, 50),
    ("Bronze sculpture", 0.05, 12_000, 45),
    ("Mixed media", 0.09, 2_500, 70),
    ("Charcoal drawing", 0.06, 900, 45),
    ("Ceramic", 0.04, 1_500, 30),
    ("Textile", 0.02, 2_200, 110),
    ("Digital", 0.02, 1_000, 60),
)

# Mediums made in editions, which therefore sell more than once.
EDITION_MEDIUMS = ("Photography", "Print", "Digital")

STATUSES = (("available", 0.56), ("sold", 0.30), ("reserved", 0.05), ("on_loan", 0.09))

CURRENCIES = (("EUR", 0.85), ("USD", 0.10), ("GBP", 0.05))
# Fixed demo conversion from EUR, so prices in other currencies stay believable.
EUR_TO = {"EUR": 1.0, "USD": 1.08, "GBP": 0.86}

BUYER_COUNTRIES = (
    ("DE", 0.24), ("FR", 0.12), ("GB", 0.11), ("US", 0.14), ("CH", 0.06), ("NL", 0.06),
    ("IT", 0.06), ("ES", 0.04), ("AT", 0.04), ("SE", 0.03), ("JP", 0.03), ("CN", 0.03),
    ("BE", 0.04),
)

TITLE_ADJECTIVES = (
    "Quiet", "Blue", "Broken", "Golden", "Silent", "Distant", "Burning", "Hidden",
    "Pale", "Restless", "Northern", "Fading", "Crimson", "Open", "Still", "Wild",
    "Hollow", "Bright", "Late", "Small",
)
TITLE_NOUNS = (
    "Harbour", "Garden", "Window", "Figure", "Landscape", "River", "Portrait", "Study",
    "Horizon", "Forest", "Interior", "Field", "Shore", "City", "Mountain", "Room",
    "Bridge", "Orchard", "Mirror", "Storm",
)

EXHIBITION_THEMES = (
    "Light and Shadow", "New Horizons", "The Body Politic", "After Nature", "Quiet Rooms",
    "Paper Worlds", "Material Matters", "Cities at Night", "Northern Lights", "Common Ground",
    "Traces", "Echoes", "Surface Tension", "In Between", "Small Histories", "The Long Now",
)

VENUES = (
    ("Main Hall", "Berlin"), ("Project Space", "Berlin"), ("Riverside Gallery", "London"),
    ("Rue de Seine Annex", "Paris"), ("Kunsthalle Annex", "Vienna"), ("Canal House", "Amsterdam"),
    ("Via Tortona Space", "Milan"), ("Harbour Pavilion", "Copenhagen"),
    ("Chelsea Rooms", "New York"), ("Roppongi Space", "Tokyo"),
)

# Relative visitors by weekday, Monday first: galleries are busiest at weekends.
WEEKDAY_FACTORS = (0.45, 0.8, 0.9, 1.0, 1.15, 1.7, 1.5)

# Relative sales by month, January first: spring and autumn art-fair seasons, a summer lull.
MONTH_FACTORS = (0.6, 0.8, 1.2, 1.25, 1.15, 1.0, 0.75, 0.5, 1.1, 1.35, 1.3, 1.0)
