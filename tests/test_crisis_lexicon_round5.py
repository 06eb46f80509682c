"""Crisis lexicon, round 5 (lexicon version 3): French self-harm recall and violence precision.

Covers every pattern family added or changed in version 3 (see the header of content/crisis_lexicon.yml)
with positive and negative cases written by hand for this file (none is copied from data/nlu), and checks
the round-5 NLU file: its look-alikes never raise a crisis and its crisis examples are never vetoed.

Run: .venv/bin/python -m pytest tests/test_crisis_lexicon_round5.py -q
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Iterator, Tuple

import pytest
import yaml

from components import textnorm
from components.crisis_lexicon import Assessment, CrisisLexicon

ROOT = Path(__file__).resolve().parent.parent
NLU_DIR = ROOT / "data" / "nlu"
ROUND5_NLU = NLU_DIR / "crisis_round5.yml"

V3_PATTERN_IDS = {
    "sh-fr-023", "sh-fr-024", "sh-fr-025", "sh-fr-026", "sh-fr-027", "sh-fr-028", "sh-fr-029", "sh-fr-030",
    "sh-fr-031", "sh-en-031",
}
V3_FIGURATIVE_IDS = {"sh-fr-fig-005", "sh-fr-fig-006", "sh-en-fig-010", "vi-fr-fig-010", "vi-en-fig-011"}


def _category(assessment: Assessment) -> str:
    return assessment.hit.category if assessment.hit else "none"


def nlu_examples(path: Path) -> Iterator[Tuple[str, str]]:
    """(intent, text) pairs of a Rasa 3 NLU YAML file."""
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    for item in data.get("nlu") or []:
        if isinstance(item, dict) and "intent" in item and isinstance(item.get("examples"), str):
            for line in item["examples"].splitlines():
                line = line.strip()
                if line.startswith("- "):
                    yield item["intent"], line[2:].strip()


# ----------------------------------------------------------------------------- version and ids
def test_version_3_and_new_ids_are_loaded(lexicon: CrisisLexicon) -> None:
    assert lexicon.version >= 3  # version 4 (round 6) keeps every version-3 id
    assert (V3_PATTERN_IDS | V3_FIGURATIVE_IDS) <= set(lexicon.pattern_ids)


def test_header_notes_version_3_pending_review() -> None:
    header = (ROOT / "content" / "crisis_lexicon.yml").read_text(encoding="utf-8").split("\nversion:")[0]
    assert "Version 3 (2026-11-28, round 5)" in header
    assert "Pending safety-team review" in header.split("Version 3")[1]


# ----------------------------------------------------------------------------- French self-harm: positives
ROUND5_POSITIVES = [
    # sh-fr-023: the veiled announcement "je vais faire une connerie", "faire une TS"
    ("je crois que je vais faire une connerie cette nuit", "self_harm", "sh-fr-023"),
    ("retiens moi, j'ai peur de faire une bêtise", "self_harm", "sh-fr-023"),
    ("jsuis à bout je vais finir par faire une grosse connerie", "self_harm", "sh-fr-023"),
    ("g refait une TS le mois dernier", "self_harm", "sh-fr-023"),
    # sh-fr-024: never waking up, not seeing the morning, enough pills not to wake up
    ("je prie chaque soir pour ne pas me réveiller", "self_harm", "sh-fr-024"),
    ("j'espère que je me réveillerai pas demain", "self_harm", "sh-fr-024"),
    ("jveux m'endormir et pu jamais me réveiller", "self_harm", "sh-fr-024"),
    ("j'ai assez de somnifères pour ne plus me réveiller", "self_harm", "sh-fr-024"),
    ("je voudrais m'endormir sans réveil", "self_harm", "sh-fr-024"),
    ("j'espère pas passer la nuit", "self_harm", "sh-fr-024"),
    # sh-fr-025: no longer being here, no place on this earth, heaven, farewell framing
    ("je pense de plus en plus à ne plus être là", "self_harm", "sh-fr-025"),
    ("une partie de moi veut juste mourir", "self_harm", "sh-fr-025"),
    ("je suis de trop dans ce monde", "self_harm", "sh-fr-025"),
    ("j'ai pas ma place sur cette terre", "self_harm", "sh-fr-025"),
    ("quand vous lirez ce message je serai plus là", "self_harm", "sh-fr-025"),
    ("je veux retrouver ma mère au paradis", "self_harm", "sh-fr-025"),
    ("mon existence se termine cette nuit", "self_harm", "sh-fr-025"),
    ("tkt pas pour moi c'est bientôt fini", "self_harm", "sh-fr-025"),
    ("vous en faites pas pour moi c fini", "self_harm", "sh-fr-025"),
    ("c'est la dernière fois que vous avez de mes nouvelles", "self_harm", "sh-fr-025"),
    ("j'ai pu le goût de vivre", "self_harm", "sh-fr-025"),
    # sh-fr-026: a whole pack swallowed, pills set aside
    ("j'ai gobé toute la plaquette de xanax", "self_harm", "sh-fr-026"),
    ("j'ai pris la moitié de mes somnifères d'un coup", "self_harm", "sh-fr-026"),
    ("je viens d'avaler tout le tube", "self_harm", "sh-fr-026"),
    ("j'ai mis de côté mes antidépresseurs depuis un mois", "self_harm", "sh-fr-026"),
    # sh-fr-027: self-injury
    ("je me brûle avec une cigarette quand ça va pas", "self_harm", "sh-fr-027"),
    ("je me coupe avec des lames de rasoir", "self_harm", "sh-fr-027"),
    ("je me frappe la tête contre le mur jusqu'au sang", "self_harm", "sh-fr-027"),
    ("mes scarifs se voient en sport", "self_harm", "sh-fr-027"),
    ("je me fais mal exprès pour me punir", "self_harm", "sh-fr-027"),
    ("j'ai envie de m'ouvrir les poignets", "self_harm", "sh-fr-027"),
    ("les cicatrices sur mon bras c'est moi qui les ai faites", "self_harm", "sh-fr-027"),
    ("je me suis planté un compas dans la cuisse", "self_harm", "sh-fr-027"),
    # sh-fr-028: floors, towers, the void, rivers, rails, trees, wished-for accidents
    ("j'ai envie de sauter du 10e étage", "self_harm", "sh-fr-028"),
    ("je vais sauter du haut du clocher", "self_harm", "sh-fr-028"),
    ("j'ai envie de me jeter dans le vide", "self_harm", "sh-fr-028"),
    ("je vais me laisser couler dans la rivière", "self_harm", "sh-fr-028"),
    ("je vais m'allonger sur les rails ce soir", "self_harm", "sh-fr-028"),
    ("j'ai envie de foncer contre un platane", "self_harm", "sh-fr-028"),
    ("j'espère qu'un bus me renverse demain", "self_harm", "sh-fr-028"),
    ("j'aimerais avoir un accident mortel", "self_harm", "sh-fr-028"),
    # sh-fr-029: burden and relief, slang for dying, thinking only of ending it
    ("je suis qu'un fardeau pour ma famille", "self_harm", "sh-fr-029"),
    ("mes parents seront enfin libérés de moi", "self_harm", "sh-fr-029"),
    ("j'ai envie de clamser", "self_harm", "sh-fr-029"),
    ("je pense qu'à en finir", "self_harm", "sh-fr-029"),
    # sh-fr-030: how long it takes to die, what a fall or a hanging feels like
    ("combien de temps il faut pour se noyer", "self_harm", "sh-fr-030"),
    ("ça fait mal de se pendre ?", "self_harm", "sh-fr-030"),
    ("qu'est-ce qu'on ressent quand on saute d'un pont", "self_harm", "sh-fr-030"),
    ("combien de temps on met à mourir de froid dehors", "self_harm", "sh-fr-030"),
    # sh-fr-031 / sh-en-031: a weapon for oneself, a bullet in my head, stabbing or burning oneself
    ("je cherche une corde pour en finir", "self_harm", "sh-fr-031"),
    ("où acheter une arme pour en finir", "self_harm", "sh-fr-031"),
    ("je vais tirer une balle dans ma tête", "self_harm", "sh-fr-031"),
    ("je vais me poignarder", "self_harm", "sh-fr-031"),
    ("je veux m'immoler devant la mairie", "self_harm", "sh-fr-031"),
    ("where can I buy a gun to end it", "self_harm", "sh-en-031"),
    ("i'm going to blow my brains out", "self_harm", "sh-en-031"),
    ("i want to put a bullet in my head", "self_harm", "sh-en-031"),
]


def test_every_v3_pattern_has_a_positive() -> None:
    assert V3_PATTERN_IDS <= {pid for _, _, pid in ROUND5_POSITIVES}


@pytest.mark.parametrize("text,category,pattern_id", ROUND5_POSITIVES)
def test_round5_positives(lexicon: CrisisLexicon, text: str, category: str, pattern_id: str) -> None:
    result = lexicon.assess(text)
    assert _category(result) == category, (text, result.hits)
    assert pattern_id in {h.pattern_id for h in result.hits}, (text, result.hits)
    assert not result.figurative, text  # a figurative flag would also veto the model


# ----------------------------------------------------------------------------- look-alikes of the new families
ROUND5_NON_CRISIS = [
    # sh-fr-023
    "j'ai peur de faire une connerie à l'exam",
    "je vais faire une bêtise et commander une pizza",
    "j'ai fait une connerie au boulot, mon chef est furieux",
    # sh-fr-024
    "pourvu que je me réveille pas en retard demain",
    "j'espère ne pas passer la nuit au boulot",
    "j'espère ne pas voir demain mon ex à la soirée",
    "je veux plus jamais me réveiller en retard",
    # sh-fr-025
    "je pense à ne plus être là le lundi, je change d'horaires",
    "ma place est sur cette terre et je me bats",
    "je vais rejoindre mes potes là-haut au chalet",
    "tkt pas pour moi, c'est fini les cours",
    "c'est la dernière fois que je vous écris sur ce groupe",
    "mon corps veut plus continuer à courir",
    # sh-fr-026 (and sh-fr-011 through sh-fr-fig-005)
    "j'ai avalé toute la boîte de chocolats",
    "j'ai pris toute la boîte de mouchoirs",
    "j'ai mis de côté les médicaments périmés pour la pharmacie",
    # sh-fr-027
    "je me brûle toujours avec le briquet en allumant le barbecue",
    "je me coupe souvent avec le cutter au boulot",
    "je me coupe avec mon rasoir en me rasant",
    "je me gratte jusqu'au sang à cause de l'eczéma",
    "je t'ouvre les bras",
    "il m'ouvre les bras",
    # sh-fr-028
    "je vais sauter dans le vide à l'élastique samedi",
    "j'ai eu un accident de voiture hier",
    "je vais foncer dans le mur avec ce projet",
    "je me mets devant le métro pour t'attendre",
    # sh-fr-029
    "je suis un boulet au foot",
    "je vais clamser de fatigue",
    "je pense qu'à mourir de rire devant ce film",
    # sh-fr-030
    "combien de temps il faut pour cuire des pâtes",
    "ça fait quoi quand on saute en parachute",
    # sh-fr-031
    "il va me poignarder si je parle",
    "j'ai acheté un couteau pour en finir avec ce poulet",
    # the new figurative families
    "c'est mon dernier jour de stage, trop triste de quitter l'équipe",
    "ce sketch m'a tué de rire",
    "ma daronne va m'assassiner si elle voit ma note",
    "je vais te défoncer au ping-pong",
    "i'm going to destroy you at mario kart",
    "finally killed the final boss",
    "my mum will murder me if she sees this",
    # third-party reports (worried_about_someone)
    "un élève a écrit qu'il allait tuer des gens à la cantine",
    "my coworker said he's bringing a gun to the office",
]


@pytest.mark.parametrize("text", ROUND5_NON_CRISIS)
def test_round5_look_alikes_are_not_a_crisis(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.hit is None, (text, result.hits)


@pytest.mark.parametrize(
    "text",
    [
        "c'est ma dernière semaine de vacances",
        "mon dernier jour au bureau avant la retraite",
        "j'ai avalé toute la boîte de chocolats",
        "ce sketch m'a tué de rire",
        "j'ai explosé de rire en plein cours",
        "je vais me faire tuer par le coach si j'arrive en retard",
        "ma daronne va m'assassiner si elle voit ma note",
        "je vais te défoncer au ping-pong",
        "on va leur mettre une raclée au babyfoot",
        "i'm going to destroy you at mario kart",
        "we bodied them at fifa",
        "finally killed the final boss",
        "my mum will murder me if she sees this",
        "un élève a écrit qu'il allait tuer des gens à la cantine",
        "my coworker said he's bringing a gun to the office",
    ],
)
def test_round5_figurative_families_are_flagged(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.hit is None and result.figurative, (text, result)


@pytest.mark.parametrize(
    "text",
    [
        "j'ai pas envie de faire une connerie",  # sh-fr-023
        "j'ai jamais avalé toute la plaquette de doliprane",  # sh-fr-026
        "je me brûle pas avec mon briquet",  # sh-fr-027
        "je n'ai pas envie de sauter dans le vide",  # sh-fr-028
        "j'ai pas envie de clamser",  # sh-fr-029
        "je vais pas me poignarder",  # sh-fr-031
    ],
)
def test_round5_negated_forms_are_not_a_crisis(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.hit is None, (text, result.hits)
    assert result.negated, text


# ----------------------------------------------------------------------------- figurative never hides a crisis
@pytest.mark.parametrize(
    "text,category",
    [
        # a real crisis next to a new figurative idiom is still caught
        ("mon dernier jour de stage et après je me tue", "self_harm"),
        ("ce sketch m'a tué de rire mais en vrai je veux mourir", "self_harm"),
        ("je vais te défoncer au ping-pong puis je vais me foutre en l'air", "self_harm"),
        ("ma daronne va m'assassiner si elle voit ma note, de toute façon je veux en finir", "self_harm"),
        ("i'm going to destroy you at mario kart and then kill myself", "self_harm"),
        ("c'est ma dernière nuit de vacances et ma dernière nuit tout court, j'ai écrit mes lettres d'adieu", "self_harm"),
        ("j'ai mangé toute la boîte de chocolats et avalé toute la boîte de doliprane", "self_harm"),
        # tightened figuratives (version 3) no longer cancel these
        ("combien de temps on met à mourir de faim", "self_harm"),
        ("j'ai le fusil de chasse de mon oncle, demain au lycée ils vont tous payer", "violence_intent"),
        ("je vais les tuer au lycée demain", "violence_intent"),
    ],
)
def test_real_crises_next_to_look_alikes_are_caught(lexicon: CrisisLexicon, text: str, category: str) -> None:
    assert _category(lexicon.assess(text)) == category, (text, lexicon.assess(text).hits)


@pytest.mark.parametrize(
    "text",
    [
        # No lexicon hit here: the model must decide, so nothing may flag these figurative (that vetoes it).
        "je pars rejoindre le groupe en Somalie",
        "a brother in somalia says they need guys like me",
        "un frère en Syrie dit qu'ils ont besoin de gars comme moi",
        "i'm going to kill the boss tomorrow with my dad's gun",
        "je vais tuer le boss demain avec le fusil de mon père",
        "je vais le défoncer au ping-pong avec mon couteau",
        "i'll destroy him at chess then stab him with my knife",
        "mon père va m'assassiner quand il rentre il a pris le couteau",
        "my dad is going to murder me if i tell he has a knife",
        "j'ai le fusil de chasse de mon oncle, demain au lycée ils vont tous payer",
        "combien de temps on met à mourir de froid dehors",
    ],
)
def test_tight_figuratives_do_not_veto_real_risk(lexicon: CrisisLexicon, text: str) -> None:
    assert not lexicon.assess(text).figurative, text


@pytest.mark.parametrize("text", ["je vais rejoindre le groupe", "où acheter des munitions pour la chasse"])
def test_tightened_figuratives_still_cover_their_look_alikes(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.hit is None and result.figurative, text


# ----------------------------------------------------------------------------- violence precision
@pytest.mark.parametrize(
    "text",
    [
        "où acheter une arme pour en finir avec ma vie",
        "comment trouver un flingue pour me suicider",
        "je cherche un flingue pour en finir",
        "je prendrai le fusil de mon père ce soir pour me tuer",
        "je vais tirer une balle dans ma tête",
        "where can i buy a gun to kill myself",
        "i need a gun asap to end my life",
        "how do i get a pistol to shoot myself",
    ],
)
def test_a_weapon_for_oneself_is_self_harm_not_violence(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.hit is not None and result.categories == ("self_harm",), (text, result.hits)


@pytest.mark.parametrize(
    "text",
    [
        "où acheter une arme pour en finir avec eux",
        "je cherche un flingue pour vendredi, ils vont payer",
        "je vais tirer une balle dans sa tête",
        "where can i buy a gun to end it with them",
        "where can i buy a gun",
        "need a glock asap who sells",
        # homicide then suicide: the violence is kept (it has priority)
        "où acheter une arme, je vais les tuer tous puis me tuer",
    ],
)
def test_weapons_against_others_stay_violence(lexicon: CrisisLexicon, text: str) -> None:
    assert _category(lexicon.assess(text)) == "violence_intent", (text, lexicon.assess(text).hits)


# ----------------------------------------------------------------------------- the round-5 NLU file
def test_round5_nlu_counts_and_no_duplicates() -> None:
    rows = list(nlu_examples(ROUND5_NLU))
    counts = Counter(intent for intent, _ in rows)
    assert counts == {
        "crisis_self_harm": 80,
        "crisis_violence_intent": 60,
        "crisis_travel_intent": 40,
        "out_of_scope": 100,
        "insult": 30,
        "worried_about_someone": 20,
    }
    mine = [textnorm.normalize(t) for _, t in rows]
    assert len(mine) == len(set(mine)), "duplicate examples in crisis_round5.yml"
    others = set()
    for path in NLU_DIR.glob("*.yml"):
        if path != ROUND5_NLU:
            others |= {textnorm.normalize(re.sub(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})", r"\1", t))
                       for _, t in nlu_examples(path)}
    assert not [t for t in mine if t in others]


def test_round5_look_alikes_never_raise_a_crisis(lexicon: CrisisLexicon) -> None:
    alarms = [(i, t, lexicon.assess(t).hit.pattern_id) for i, t in nlu_examples(ROUND5_NLU)
              if not i.startswith("crisis_") and lexicon.assess(t).hit]
    assert alarms == []


def test_round5_crisis_examples_are_never_vetoed(lexicon: CrisisLexicon) -> None:
    """A crisis example flagged negated or figurative would veto the model: none may be; hits are right."""
    vetoed, wrong = [], []
    for intent, text in nlu_examples(ROUND5_NLU):
        if not intent.startswith("crisis_"):
            continue
        result = lexicon.assess(text)
        if result.negated or result.figurative:
            vetoed.append(text)
        if result.hit is not None and result.hit.category != intent[len("crisis_"):]:
            wrong.append((text, result.hit.pattern_id))
    assert vetoed == [] and wrong == []
