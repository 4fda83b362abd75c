"""Word lists for the independent company generator: German surnames, trades, places, streets.

Written by hand for this generator (not taken from the demo data): common German surnames with
umlauts and ß (so transliteration matters), trade words that tell sister companies apart, cities
across Germany and Austria with real postcode ranges.
"""
from __future__ import annotations

SURNAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
    "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
    "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Schmitz", "Krause", "Meier",
    "Lehmann", "Schmid", "Schulze", "Maier", "Köhler", "Herrmann", "König", "Walter", "Mayer", "Huber",
    "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller", "Weiß", "Jung", "Hahn", "Schubert",
    "Vogel", "Friedrich", "Keller", "Günther", "Frank", "Berger", "Winkler", "Roth", "Beck", "Lorenz",
    "Baumann", "Franke", "Albrecht", "Schuster", "Simon", "Ludwig", "Böhm", "Winter", "Kraus", "Martin",
    "Schumacher", "Krämer", "Vogt", "Stein", "Jäger", "Otto", "Sommer", "Groß", "Seidel", "Heinrich",
    "Brandt", "Haas", "Schreiber", "Graf", "Schulte", "Dietrich", "Ziegler", "Kuhn", "Kühn", "Pohl",
    "Engel", "Horn", "Busch", "Bergmann", "Thomas", "Voigt", "Sauer", "Arnold", "Wolff", "Pfeiffer",
    "Strauß", "Gößwein", "Stöckl", "Grünwald", "Düring", "Eßer", "Pölzl", "Rößler", "Süß", "Überall",
)
TRADES = (
    "Bau", "Logistik", "Elektrotechnik", "Metallbau", "Holzbau", "Spedition", "Maschinenbau", "Sanitär",
    "Gebäudetechnik", "Druckerei", "Immobilien", "Verwaltung", "Handel", "Software", "Consulting", "Autohaus",
    "Kunststofftechnik", "Landtechnik", "Feinmechanik", "Brauerei", "Bäckerei", "Gärtnerei", "Steuerberatung",
    "Reisen", "Medien", "Textil", "Möbel", "Dachdeckerei", "Fliesenhandel", "Kältetechnik", "Stahlhandel",
    "Verpackungen", "Umzüge", "Gerüstbau", "Malerbetrieb", "Schreinerei", "Anlagenbau", "Werkzeugbau",
    "Glaserei", "Transporte", "Energietechnik", "Orthopädietechnik", "Hausverwaltung", "Getränkehandel",
)
# Adjectives of regions for names like "Fränkische Kunststoffwerke".
REGIONS = ("Fränkische", "Schwäbische", "Hanseatische", "Rheinische", "Sächsische", "Westfälische", "Allgäuer",
           "Märkische", "Thüringer", "Pfälzer", "Badische", "Bergische")
WORKS = ("werke", "werk", "betriebe", "vertrieb", "service", "systeme")
# Invented franchise brands: one brand, many independent franchisees (distinct legal entities).
BRANDS = ("Backstube Goldkorn", "Tierwelt Plus", "Autoglas Blitz", "Fitwerk", "Copyshop Pixel", "Reifen Rapid",
          "Schlüsseldienst Flink", "Optik Klarblick", "Blumen Sonnenschein", "Pizza Presto")
# (city as written officially, postcode range, spellings other systems use, country)
CITIES = (
    ("Hamburg", (20095, 22769), ["HAMBURG", "Hamburg-Altona"], "DE"),
    ("Bremen", (28195, 28779), [], "DE"),
    ("Hannover", (30159, 30669), ["Hannover-Linden"], "DE"),
    ("Köln", (50667, 51149), ["Koeln", "Köln-Deutz"], "DE"),
    ("Düsseldorf", (40210, 40629), ["Duesseldorf"], "DE"),
    ("Frankfurt am Main", (60306, 60599), ["Frankfurt/Main", "Frankfurt a. M.", "Frankfurt"], "DE"),
    ("Stuttgart", (70173, 70619), [], "DE"),
    ("München", (80331, 81929), ["Muenchen", "München-Pasing"], "DE"),
    ("Nürnberg", (90402, 90491), ["Nuernberg"], "DE"),
    ("Leipzig", (4103, 4357), [], "DE"),
    ("Dresden", (1067, 1328), [], "DE"),
    ("Freiburg im Breisgau", (79098, 79117), ["Freiburg", "Freiburg i. Br."], "DE"),
    ("Würzburg", (97070, 97084), ["Wuerzburg"], "DE"),
    ("Mönchengladbach", (41061, 41239), ["Moenchengladbach", "M'gladbach"], "DE"),
    ("Göttingen", (37073, 37085), ["Goettingen"], "DE"),
    ("Lüneburg", (21335, 21339), ["Lueneburg"], "DE"),
    ("Saarbrücken", (66111, 66133), ["Saarbruecken"], "DE"),
    ("Osnabrück", (49074, 49090), ["Osnabrueck"], "DE"),
    ("Fürth", (90762, 90768), ["Fuerth", "Fürth/Bay."], "DE"),
    ("Böblingen", (71032, 71034), ["Boeblingen"], "DE"),
    ("Wien", (1010, 1230), ["WIEN", "Vienna"], "AT"),
    ("Graz", (8010, 8055), [], "AT"),
    ("Linz", (4020, 4040), ["Linz/Donau"], "AT"),
)
STREETS = (
    "Hauptstraße", "Industriestraße", "Bahnhofstraße", "Gewerbepark", "Am Hafen", "Lindenallee", "Schillerstraße",
    "Goethestraße", "Mühlenweg", "Königsallee", "Äußere Sulzbacher Straße", "Großer Burstah", "Löwenstraße",
    "Kölner Straße", "Max-Planck-Straße", "Robert-Bosch-Straße", "Gutenbergstraße", "Im Gewerbegebiet",
    "Carl-Zeiss-Ring", "Werkstraße", "Fährweg", "Brückenstraße", "Schützenstraße", "Lerchenfeldgasse",
    "Mariahilfer Straße", "Siemensstraße", "An der Weißen Mühle", "Rudolf-Diesel-Straße", "Hafenstraße",
    "Bürgermeister-Schmid-Straße", "Sonnenstraße", "Kanalweg", "Friedenstraße", "Ringstraße",
)
# Legal forms and the spellings systems use for them.
LEGAL_FORMS = {
    "GmbH": ["GmbH", "GmbH", "GmbH", "G.m.b.H.", "Gesellschaft mit beschränkter Haftung", "mbH"],
    "GmbH & Co. KG": ["GmbH & Co. KG", "GmbH & Co. KG", "GmbH & Co KG", "GmbH u. Co. KG", "GmbH + Co. KG"],
    "AG": ["AG", "AG", "Aktiengesellschaft"],
    "KG": ["KG", "KG", "Kommanditgesellschaft"],
    "OHG": ["OHG", "oHG"],
    "e.K.": ["e.K.", "e. K.", "e.Kfm."],
    "UG": ["UG (haftungsbeschränkt)", "UG (haftungsbeschr.)", "UG"],
}
LEGAL_FORM_WEIGHTS = {"GmbH": 50, "GmbH & Co. KG": 15, "AG": 5, "KG": 8, "OHG": 4, "e.K.": 12, "UG": 6}
# Word abbreviations clerks type (this generator's own list).
ABBREVIATIONS = {
    "Gebrüder": "Gebr.", "Handel": "Hdl.", "Technik": "Techn.", "technik": "techn.", "Verwaltung": "Verw.",
    "Maschinenbau": "Maschinenb.", "Metallbau": "Metallb.", "Gesellschaft": "Ges.", "Logistik": "Log.",
    "Spedition": "Sped.", "Elektrotechnik": "E-Technik", "Kunststofftechnik": "Kunststofftechn.",
    "Straße": "Str.", "straße": "str.", "und": "&", "Immobilien": "Immob.", "Transporte": "Transp.",
    "Consulting": "Cons.", "Hausverwaltung": "Hausverw.", "Steuerberatung": "Stb.",
}
FREEMAIL = ("gmx.de", "web.de", "t-online.de", "gmail.com")
AREA_CODES = {"Hamburg": "40", "Bremen": "421", "Hannover": "511", "Köln": "221", "Düsseldorf": "211",
              "Frankfurt am Main": "69", "Stuttgart": "711", "München": "89", "Nürnberg": "911", "Leipzig": "341",
              "Dresden": "351", "Freiburg im Breisgau": "761", "Würzburg": "931", "Mönchengladbach": "2161",
              "Göttingen": "551", "Lüneburg": "4131", "Saarbrücken": "681", "Osnabrück": "541", "Fürth": "911",
              "Böblingen": "7031", "Wien": "1", "Graz": "316", "Linz": "732"}
BANK_CODES = {"DE": ["37040044", "50010517", "10020890", "70150000", "76050101", "20050550", "60050101"],
              "AT": ["12000", "20111", "32000", "14000"]}
