"""Hard-coded reference data for the demo generator (cities, names, banks, products).

Everything here is plain tuples/lists so that iteration order is fixed and the generator stays
deterministic. Only characters representable in cp1252 are used.
"""

from __future__ import annotations

import datetime as dt

PERIOD_START = dt.date(2024, 11, 1)
PERIOD_END = dt.date(2026, 10, 31)  # Stichtag / last day of data
N_DAYS = (PERIOD_END - PERIOD_START).days + 1  # 730

REGIONS = ("North", "South", "East", "West")

# (city, postcodes, country, region, area code (national, without leading 0 / trunk), weight)
# Postcodes are real (main) postcodes of the respective town.
CITIES: tuple[tuple[str, tuple[str, ...], str, str, str, float], ...] = (
    # Regensburg and surroundings (home market)
    ("Regensburg", ("93047", "93049", "93051", "93053", "93055", "93057", "93059"), "DE", "East", "941", 14.0),
    ("Neutraubling", ("93073",), "DE", "East", "9401", 2.0),
    ("Regenstauf", ("93128",), "DE", "East", "9402", 1.5),
    ("Lappersdorf", ("93138",), "DE", "East", "941", 1.2),
    ("Kelheim", ("93309",), "DE", "East", "9441", 1.5),
    ("Abensberg", ("93326",), "DE", "East", "9443", 1.0),
    ("Burglengenfeld", ("93133",), "DE", "North", "9471", 1.0),
    # Niederbayern / Ostbayern
    ("Straubing", ("94315",), "DE", "East", "9421", 2.5),
    ("Deggendorf", ("94469",), "DE", "East", "991", 2.0),
    ("Passau", ("94032", "94034", "94036"), "DE", "East", "851", 2.5),
    ("Landshut", ("84028", "84030", "84034"), "DE", "East", "871", 2.5),
    ("Dingolfing", ("84130",), "DE", "East", "8731", 1.5),
    ("Landau an der Isar", ("94405",), "DE", "East", "9951", 0.8),
    ("Vilshofen an der Donau", ("94474",), "DE", "East", "8541", 0.8),
    ("Cham", ("93413",), "DE", "East", "9971", 1.2),
    # Oberpfalz
    ("Schwandorf", ("92421",), "DE", "North", "9431", 1.5),
    ("Amberg", ("92224",), "DE", "North", "9621", 2.0),
    ("Weiden in der Oberpfalz", ("92637",), "DE", "North", "961", 1.8),
    ("Neumarkt in der Oberpfalz", ("92318",), "DE", "North", "9181", 1.5),
    ("Sulzbach-Rosenberg", ("92237",), "DE", "North", "9661", 1.0),
    ("Nabburg", ("92507",), "DE", "North", "9433", 0.6),
    ("Tirschenreuth", ("95643",), "DE", "North", "9631", 0.6),
    # Franken
    ("Nürnberg", ("90402", "90403", "90429", "90441", "90451"), "DE", "North", "911", 4.0),
    ("Fürth", ("90762",), "DE", "North", "911", 1.2),
    ("Erlangen", ("91052",), "DE", "North", "9131", 1.2),
    ("Bamberg", ("96047",), "DE", "North", "951", 1.0),
    ("Bayreuth", ("95444",), "DE", "North", "921", 1.0),
    ("Hof", ("95028",), "DE", "North", "9281", 0.6),
    ("Würzburg", ("97070",), "DE", "West", "931", 1.2),
    ("Schweinfurt", ("97421",), "DE", "West", "9721", 1.0),
    ("Aschaffenburg", ("63739",), "DE", "West", "6021", 0.6),
    # Oberbayern / Schwaben
    ("Ingolstadt", ("85049", "85051", "85053"), "DE", "South", "841", 2.0),
    ("Eichstätt", ("85072",), "DE", "South", "8421", 0.6),
    ("Pfaffenhofen an der Ilm", ("85276",), "DE", "South", "8441", 0.8),
    ("Freising", ("85354",), "DE", "South", "8161", 1.0),
    ("Erding", ("85435",), "DE", "South", "8122", 0.8),
    ("München", ("80331", "80335", "80339", "81369", "81829"), "DE", "South", "89", 5.0),
    ("Dachau", ("85221",), "DE", "South", "8131", 0.8),
    ("Augsburg", ("86150", "86153", "86167"), "DE", "South", "821", 2.0),
    ("Rosenheim", ("83022",), "DE", "South", "8031", 1.2),
    ("Traunstein", ("83278",), "DE", "South", "861", 0.6),
    ("Mühldorf am Inn", ("84453",), "DE", "South", "8631", 0.7),
    ("Altötting", ("84503",), "DE", "South", "8671", 0.6),
    ("Landsberg am Lech", ("86899",), "DE", "South", "8191", 0.5),
    ("Kempten (Allgäu)", ("87435",), "DE", "South", "831", 0.8),
    ("Memmingen", ("87700",), "DE", "South", "8331", 0.6),
    ("Neu-Ulm", ("89231",), "DE", "South", "731", 0.5),
    # rest of Germany
    ("Stuttgart", ("70173", "70176"), "DE", "West", "711", 1.0),
    ("Ulm", ("89073",), "DE", "West", "731", 0.6),
    ("Mannheim", ("68159",), "DE", "West", "621", 0.5),
    ("Karlsruhe", ("76133",), "DE", "West", "721", 0.5),
    ("Frankfurt am Main", ("60311", "60313"), "DE", "West", "69", 0.8),
    ("Köln", ("50667",), "DE", "West", "221", 0.6),
    ("Düsseldorf", ("40213",), "DE", "West", "211", 0.5),
    ("Dortmund", ("44135",), "DE", "West", "231", 0.4),
    ("Kassel", ("34117",), "DE", "West", "561", 0.3),
    ("Hamburg", ("20095",), "DE", "North", "40", 0.5),
    ("Hannover", ("30159",), "DE", "North", "511", 0.4),
    ("Berlin", ("10115", "10117"), "DE", "East", "30", 0.6),
    ("Leipzig", ("04109",), "DE", "East", "341", 0.5),
    ("Dresden", ("01067",), "DE", "East", "351", 0.5),
    ("Chemnitz", ("09111",), "DE", "East", "371", 0.4),
    ("Plauen", ("08523",), "DE", "East", "3741", 0.3),
    ("Erfurt", ("99084",), "DE", "North", "361", 0.3),
    # Austria
    ("Wien", ("1010", "1100", "1230"), "AT", "East", "1", 0.8),
    ("Linz", ("4020",), "AT", "East", "732", 0.8),
    ("Wels", ("4600",), "AT", "East", "7242", 0.4),
    ("Steyr", ("4400",), "AT", "East", "7252", 0.3),
    ("Schärding", ("4780",), "AT", "East", "7712", 0.3),
    ("Braunau am Inn", ("5280",), "AT", "South", "7722", 0.3),
    ("Salzburg", ("5020",), "AT", "South", "662", 0.6),
    ("Innsbruck", ("6020",), "AT", "South", "512", 0.4),
    ("Graz", ("8010",), "AT", "South", "316", 0.4),
    # Switzerland
    ("Zürich", ("8001", "8005"), "CH", "South", "44", 0.5),
    ("Winterthur", ("8400",), "CH", "South", "52", 0.2),
    ("St. Gallen", ("9000",), "CH", "South", "71", 0.3),
    ("Basel", ("4051",), "CH", "West", "61", 0.3),
    ("Bern", ("3011",), "CH", "West", "31", 0.2),
    ("Luzern", ("6003",), "CH", "South", "41", 0.2),
)

# City spellings used by sloppy data entry (variant list per canonical name).
CITY_VARIANTS: dict[str, tuple[str, ...]] = {
    "Regensburg": ("Rgbg.", "Regensbg.", "REGENSBURG"),
    "München": ("Muenchen", "Mchn.", "Munich"),
    "Nürnberg": ("Nuernberg", "Nbg."),
    "Fürth": ("Fuerth", "Fürth/Bay."),
    "Würzburg": ("Wuerzburg",),
    "Weiden in der Oberpfalz": ("Weiden i.d.OPf.", "Weiden", "Weiden i. d. Opf."),
    "Neumarkt in der Oberpfalz": ("Neumarkt i.d.OPf.", "Neumarkt", "Neumarkt/Opf."),
    "Landau an der Isar": ("Landau a.d. Isar", "Landau/Isar"),
    "Vilshofen an der Donau": ("Vilshofen", "Vilshofen a.d. Donau"),
    "Pfaffenhofen an der Ilm": ("Pfaffenhofen a.d.Ilm", "Pfaffenhofen"),
    "Mühldorf am Inn": ("Mühldorf a. Inn", "Muehldorf"),
    "Frankfurt am Main": ("Frankfurt a. M.", "Frankfurt/Main", "Frankfurt"),
    "Kempten (Allgäu)": ("Kempten", "Kempten/Allgäu"),
    "Landsberg am Lech": ("Landsberg", "Landsberg a. Lech"),
    "Sulzbach-Rosenberg": ("Sulzbach-Rosenbg.", "Sulzbach Rosenberg"),
    "Braunau am Inn": ("Braunau",),
    "Zürich": ("Zuerich", "Zurich"),
    "St. Gallen": ("St.Gallen", "Sankt Gallen"),
    "Wien": ("Wien-Innere Stadt",),
    "Köln": ("Koeln", "Cologne"),
    "Düsseldorf": ("Duesseldorf",),
    "Eichstätt": ("Eichstaett",),
    "Altötting": ("Altoetting",),
    "Schärding": ("Schaerding",),
    "Straubing": ("Straubing-Bogen",),
    "Deggendorf": ("Deggendorf/Donau",),
}

STREETS: tuple[str, ...] = (
    "Hauptstraße", "Bahnhofstraße", "Am Gewerbepark", "Industriestraße", "Gewerbering",
    "Dieselstraße", "Max-Planck-Straße", "Robert-Bosch-Straße", "Siemensstraße", "Lindenstraße",
    "Kirchplatz", "Marktplatz", "Ludwigstraße", "Donaustraße", "Regensburger Straße",
    "Landshuter Straße", "Äußere Wiener Straße", "Im Gewerbegebiet", "Gutenbergstraße",
    "Friedenstraße", "Schulstraße", "Gartenstraße", "Birkenweg", "Am Anger", "Mühlweg",
    "Werner-von-Siemens-Straße", "Carl-Benz-Straße", "Rudolf-Diesel-Straße", "Raiffeisenstraße",
    "Ziegeleistraße", "Lerchenfeldstraße", "Straubinger Straße", "Nürnberger Straße",
    "Münchner Straße", "Innstraße", "Isarstraße", "Bergstraße", "Waldstraße", "Feldweg",
    "Am Hafen", "Hafenstraße", "Gewerbestraße", "Handwerkerstraße", "Otto-Hahn-Straße",
    "Daimlerstraße", "Junkersstraße", "Boschstraße", "Kreuzweg", "Sonnenstraße", "Rosenweg",
    "Schmiedgasse", "Mühlenstraße", "Obere Bachgasse", "Untere Dorfstraße", "Kapellenweg",
    "Im Gries", "An der Schleuse", "Alte Landstraße", "Ringstraße", "Zeppelinstraße",
    "Maximilianstraße", "Königsberger Straße", "Gewerbepark Süd", "Auf der Platte", "Osttangente",
)

SURNAMES: tuple[str, ...] = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt",
    "Werner", "Krause", "Meier", "Lehmann", "Schmid", "Maier", "Köhler", "Herrmann", "König",
    "Walter", "Mayer", "Huber", "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller", "Weiß",
    "Jung", "Hahn", "Schubert", "Vogel", "Friedrich", "Keller", "Günther", "Frank", "Berger",
    "Winkler", "Roth", "Beck", "Lorenz", "Baumann", "Franke", "Albrecht", "Schuster", "Simon",
    "Ludwig", "Böhm", "Winter", "Kraus", "Schumacher", "Krämer", "Vogt", "Stein", "Jäger",
    "Sommer", "Groß", "Seidel", "Heinrich", "Brandt", "Haas", "Schreiber", "Graf", "Dietrich",
    "Ziegler", "Kuhn", "Kühn", "Pohl", "Engel", "Horn", "Busch", "Bergmann", "Voigt", "Sauer",
    "Arnold", "Pfeiffer", "Hofbauer", "Brunner", "Gruber", "Wimmer", "Eder", "Aigner", "Moser",
    "Reisinger", "Stadler", "Lechner", "Obermeier", "Hierl", "Spitzer", "Sedlmeier", "Pongratz",
    "Dietl", "Kellner", "Fischl", "Ebner", "Schmalzl", "Zankl", "Rötzer", "Weinzierl", "Pöschl",
    "Reindl", "Kiendl", "Biebl", "Wittmann", "Forster", "Rauscher", "Seitz", "Heigl", "Prögler",
    "Stöckl", "Kölbl", "Dürr", "Höcherl", "Schießl", "Scheuerer", "Hüttner", "Grötsch", "Bäumler",
    "Wild", "Brückl", "Schindler", "Attenberger", "Eichinger", "Feldmeier", "Gschwendtner",
    "Hirschberger", "Kammermeier", "Lindner", "Mühlbauer", "Niedermeier", "Pfeilschifter",
    "Rackl", "Schönberger", "Thaler", "Vilsmeier", "Wallner", "Zitzelsberger",
)

FIRST_NAMES_M: tuple[str, ...] = (
    "Josef", "Franz", "Johann", "Michael", "Thomas", "Andreas", "Stefan", "Markus", "Christian",
    "Alexander", "Florian", "Tobias", "Matthias", "Martin", "Peter", "Wolfgang", "Georg", "Anton",
    "Sebastian", "Maximilian", "Lukas", "Jürgen", "Günter", "Klaus", "Bernd", "Manfred", "Ludwig",
    "Korbinian", "Xaver", "Alois", "Daniel", "Jan", "Felix", "Jonas", "Rainer", "Helmut",
)
FIRST_NAMES_F: tuple[str, ...] = (
    "Maria", "Anna", "Elisabeth", "Sabine", "Petra", "Claudia", "Andrea", "Monika", "Stefanie",
    "Julia", "Katharina", "Christina", "Sandra", "Nicole", "Birgit", "Martina", "Barbara",
    "Theresa", "Franziska", "Veronika", "Sophie", "Laura", "Lena", "Jessica", "Ursula", "Gabriele",
    "Renate", "Karin", "Simone", "Melanie", "Jana", "Kerstin", "Bärbel", "Jutta",
)

POSITIONS: tuple[str, ...] = (
    "Geschäftsführer", "Inhaber", "Einkauf", "Leitung Einkauf", "Buchhaltung", "Technik",
    "Werkstattleiter", "Instandhaltung", "Assistenz der Geschäftsleitung", "Disposition",
    "Betriebsleiter", "Vertrieb",
)

# Customer branches: (word, industry). "suffix" words follow a surname ("Müller Maschinenbau"),
# "prefix" words precede it ("Schreinerei Huber").
CUSTOMER_SUFFIX_BRANCHES: tuple[tuple[str, str], ...] = (
    ("Maschinenbau", "Maschinenbau"), ("Metallbau", "Metallverarbeitung"),
    ("Stahlbau", "Metallverarbeitung"), ("Landtechnik", "Landwirtschaft"),
    ("Fördertechnik", "Maschinenbau"), ("Anlagenbau", "Maschinenbau"),
    ("Werkzeugbau", "Metallverarbeitung"), ("Kunststofftechnik", "Kunststoff"),
    ("Elektrotechnik", "Elektro"), ("Haustechnik", "Handwerk"), ("Bau", "Bau"),
    ("Holzbau", "Bau"), ("Transporte", "Logistik"), ("Logistik", "Logistik"),
    ("Agrarhandel", "Landwirtschaft"), ("Landmaschinen", "Landwirtschaft"),
    ("Baumaschinen", "Bau"), ("Automation", "Maschinenbau"), ("Industrieservice", "Dienstleistung"),
    ("Zerspanungstechnik", "Metallverarbeitung"), ("Drehteile", "Metallverarbeitung"),
    ("Blechbearbeitung", "Metallverarbeitung"), ("Schweißtechnik", "Metallverarbeitung"),
    ("Kältetechnik", "Handwerk"), ("Sondermaschinenbau", "Maschinenbau"),
    ("Umwelttechnik", "Dienstleistung"), ("Recycling", "Entsorgung"), ("Baustoffe", "Handel"),
    ("Fahrzeugbau", "Automotive"), ("Mühlenbau", "Maschinenbau"), ("Brauereitechnik", "Lebensmittel"),
    ("Handel", "Handel"), ("Technik", "Maschinenbau"), ("Metallwaren", "Metallverarbeitung"),
    ("Verpackungstechnik", "Maschinenbau"),
)
CUSTOMER_PREFIX_BRANCHES: tuple[tuple[str, str], ...] = (
    ("Schreinerei", "Handwerk"), ("Bäckerei", "Lebensmittel"), ("Autohaus", "Automotive"),
    ("Metzgerei", "Lebensmittel"), ("Zimmerei", "Handwerk"), ("Schlosserei", "Metallverarbeitung"),
    ("Elektro", "Elektro"), ("Sanitär", "Handwerk"), ("Kfz-Werkstatt", "Automotive"),
    ("Landmaschinen", "Landwirtschaft"), ("Brauerei", "Lebensmittel"), ("Gärtnerei", "Landwirtschaft"),
    ("Spedition", "Logistik"), ("Malerbetrieb", "Handwerk"), ("Dachdeckerei", "Handwerk"),
    ("Mühle", "Lebensmittel"), ("Sägewerk", "Holz"), ("Heizungsbau", "Handwerk"),
    ("Baggerbetrieb", "Bau"), ("Kfz-Technik", "Automotive"), ("Molkerei", "Lebensmittel"),
    ("Steinmetz", "Handwerk"), ("Druckerei", "Dienstleistung"), ("Tischlerei", "Handwerk"),
    ("Metallbau", "Metallverarbeitung"), ("Landtechnik", "Landwirtschaft"),
)
PLACE_ADJECTIVES: tuple[str, ...] = (
    "Regensburger", "Straubinger", "Passauer", "Landshuter", "Amberger", "Weidener", "Chamer",
    "Kelheimer", "Deggendorfer", "Schwandorfer", "Ingolstädter", "Münchner", "Nürnberger",
    "Augsburger", "Oberpfälzer", "Niederbayerische", "Donau", "Bayerwald", "Isar", "Vils", "Naab",
    "Altmühl", "Laber", "Jura", "Bavaria", "Ostbayerische", "Süddeutsche", "Fränkische",
)
PLACE_BRANCHES: tuple[tuple[str, str], ...] = (
    ("Stahlhandel", "Handel"), ("Maschinenbau", "Maschinenbau"), ("Landtechnik", "Landwirtschaft"),
    ("Metallwerke", "Metallverarbeitung"), ("Kunststofftechnik", "Kunststoff"),
    ("Fördertechnik", "Maschinenbau"), ("Werkzeughandel", "Handel"), ("Industriebedarf", "Handel"),
    ("Baumaschinen", "Bau"), ("Blechtechnik", "Metallverarbeitung"),
    ("Präzisionsteile", "Metallverarbeitung"), ("Antriebstechnik", "Maschinenbau"),
    ("Hydraulik", "Maschinenbau"), ("Agrarservice", "Landwirtschaft"), ("Kieswerke", "Bau"),
    ("Holzindustrie", "Holz"), ("Verzinkerei", "Metallverarbeitung"), ("Brauerei", "Lebensmittel"),
)

# Product groups (code, name, weight in sales, supplier branch words, units)
PRODUCT_GROUPS: tuple[tuple[str, str, float], ...] = (
    ("PG-A", "Hydraulik", 0.17),
    ("PG-B", "Pneumatik", 0.13),
    ("PG-C", "Antriebstechnik", 0.15),
    ("PG-D", "Wälzlager", 0.16),
    ("PG-E", "Dichtungstechnik", 0.10),
    ("PG-F", "Befestigungstechnik", 0.12),
    ("PG-G", "Lineartechnik", 0.08),
    ("PG-H", "Schmierstoffe", 0.09),
)

SUPPLIER_BRANCHES: tuple[tuple[str, ...], ...] = (
    ("Hydraulik", "Hydrauliktechnik", "Fluidtechnik", "Hydraulikzylinderbau"),
    ("Pneumatik", "Drucklufttechnik", "Ventiltechnik"),
    ("Antriebstechnik", "Getriebebau", "Elektromotorenwerk", "Kettenfabrik"),
    ("Wälzlager", "Kugellagerwerk", "Lagertechnik"),
    ("Dichtungstechnik", "Dichtungen", "Gummiwerk", "Elastomertechnik"),
    ("Schraubenwerk", "Befestigungstechnik", "Normteile", "Schraubenhandel"),
    ("Lineartechnik", "Präzisionsmechanik", "Führungstechnik"),
    ("Mineralölwerk", "Schmierstoffe", "Schmiertechnik", "Öl-Vertrieb"),
)

# ERP name2 suffixes for branches / departments
NAME2_SUFFIXES: tuple[str, ...] = (
    "Niederlassung {city}", "Werk {n}", "Zweigniederlassung {city}", "Abt. Einkauf",
    "z. Hd. Buchhaltung", "Filiale {city}", "Betriebsstätte {city}", "Lager {city}",
)

# Real bank codes (schwifty registry) used to build IBANs.
BANKS_DE: tuple[str, ...] = (
    "75050000", "75090000", "75060150", "75069014", "75020073", "75250000", "75350000",
    "74250000", "74050000", "74350000", "74220075", "74320073", "70050000", "70020270",
    "70070010", "70080000", "70150000", "76050101", "76020070", "72050000", "43060967",
    "50010517", "12030000", "10010010", "37040044",
)
BANK_WEIGHTS_DE: tuple[float, ...] = (
    10, 8, 4, 3, 3, 3, 3, 3, 3, 3, 2, 2, 1, 3, 3, 2, 3, 3, 2, 2, 1, 2, 2, 2, 2,
)
BANKS_AT: tuple[str, ...] = ("20111", "12000", "34000", "14000", "20404", "15000", "32000")
BANKS_CH: tuple[str, ...] = ("00700", "00230", "80808", "09000")

# Legal forms: canonical short form -> textual variants seen in the wild (first = canonical).
LEGAL_FORMS: tuple[str, ...] = ("GmbH", "GmbH & Co. KG", "e.K.", "AG", "KG", "OHG", "UG", "GbR")
LEGAL_FORM_TEXT: dict[str, str] = {
    "GmbH": "GmbH",
    "GmbH & Co. KG": "GmbH & Co. KG",
    "e.K.": "e.K.",
    "AG": "AG",
    "KG": "KG",
    "OHG": "OHG",
    "UG": "UG (haftungsbeschränkt)",
    "GbR": "GbR",
}
LEGAL_FORM_VARIANTS: dict[str, tuple[str, ...]] = {
    "GmbH": ("Gesellschaft mit beschränkter Haftung", "G.m.b.H.", "Gmbh", "GMBH", "mbH"),
    "GmbH & Co. KG": ("GmbH & Co KG", "GmbH u. Co. KG", "GmbH + Co. KG", "GmbH&Co.KG", "GmbH & Co.KG"),
    "e.K.": ("e. K.", "eK", "e.Kfm.", "eingetragener Kaufmann", "e.Kfr."),
    "AG": ("Aktiengesellschaft", "A.G."),
    "KG": ("Kommanditgesellschaft", "K.G."),
    "OHG": ("oHG", "offene Handelsgesellschaft", "o.H.G."),
    "UG": ("UG (haftungsbeschr.)", "UG haftungsbeschränkt", "UG", "UG (hb)"),
    "GbR": ("Gesellschaft bürgerlichen Rechts", "G.b.R."),
}

# Name word abbreviations (applied word-wise)
WORD_ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "Maschinenbau": ("Masch.bau", "Maschinenb.", "Masch.-Bau"),
    "Sondermaschinenbau": ("Sondermasch.bau", "Sondermaschinenb."),
    "Metallbau": ("Metallb.",),
    "Stahlbau": ("Stahlb.",),
    "Landtechnik": ("Landtechn.",),
    "Kunststofftechnik": ("Kunststofftechn.", "Kunstst.-Technik"),
    "Elektrotechnik": ("Elektrotechn.", "E-Technik"),
    "Fördertechnik": ("Fördertechn.", "Foerdertechnik"),
    "Antriebstechnik": ("Antriebstechn.",),
    "Zerspanungstechnik": ("Zerspanungstechn.",),
    "Schweißtechnik": ("Schweißtechn.", "Schweisstechnik"),
    "Anlagenbau": ("Anlagenb.", "Anl.-Bau"),
    "Werkzeugbau": ("Werkzeugb.", "Wkz.-Bau"),
    "Gebrüder": ("Gebr.",),
    "Söhne": ("Soehne", "Sohn"),
    "Handel": ("Hdl.",),
    "Stahlhandel": ("Stahlhdl.",),
    "Transporte": ("Transp.",),
    "Industrieservice": ("Ind.-Service", "Industrie-Service"),
    "Industriebedarf": ("Ind.-Bedarf", "Industrie-Bedarf"),
    "Regensburger": ("Rgbg.",),
    "Oberpfälzer": ("Opf.",),
    "Niederbayerische": ("Ndb.",),
    "Autohaus": ("Autoh.",),
    "Landmaschinen": ("Landmasch.",),
    "Baumaschinen": ("Baumasch.",),
    "Blechbearbeitung": ("Blechbearb.",),
    "Präzisionsteile": ("Präz.-Teile",),
    "&": ("und", "+", "u."),
    "Kfz-Werkstatt": ("KFZ-Werkstatt", "Kfz Werkstatt"),
    "Spedition": ("Sped.",),
}

# QWERTZ neighbours for replacement typos
KEY_NEIGHBOURS: dict[str, str] = {
    "q": "wa", "w": "qes", "e": "wrd", "r": "etf", "t": "rzg", "z": "tuh", "u": "zij", "i": "uok",
    "o": "ipl", "p": "oü", "a": "qsy", "s": "adw", "d": "sfe", "f": "dgr", "g": "fht", "h": "gjz",
    "j": "hku", "k": "jli", "l": "kö", "y": "xa", "x": "yc", "c": "xv", "v": "cb", "b": "vn",
    "n": "bm", "m": "n", "ü": "pä", "ö": "lä", "ä": "öü", "ß": "s",
}

ITEM_UNITS: dict[str, tuple[str, ...]] = {
    "PG-A": ("Stk", "Stk", "Stk", "m", "l"),
    "PG-B": ("Stk", "Stk", "Stk", "m"),
    "PG-C": ("Stk", "Stk", "Satz"),
    "PG-D": ("Stk", "Stk", "Paar"),
    "PG-E": ("Stk", "Satz", "Pkg"),
    "PG-F": ("Pkg", "Pkg", "Stk"),
    "PG-G": ("Stk", "m"),
    "PG-H": ("l", "kg", "Stk"),
}
